/** Small helpers every part of the benchmarks uses: logging, timing, quieting the provider, power-off. */
import type { PowerOffKind } from "./report";

/** A progress line on stderr, with the time. */
export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The first line of an error, at most 300 characters: what a figure says when it failed. */
export function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long `f` takes, ms. */
export async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await f();
  return Date.now() - t0;
}

/** Runs `f` with the provider's progress lines (console.log) silenced. */
export async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = (): void => undefined;
  try {
    return await f();
  } finally {
    console.log = original;
  }
}

/** `sandbox.sh power-off A`, of the kind asked. */
export const powerOffArgs = (kind: PowerOffKind): string[] => (kind === "blackhole" ? ["power-off", "A", "--blackhole"] : ["power-off", "A"]);
