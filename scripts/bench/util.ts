/** Small helpers every part of the benchmarks uses: logging, timing, quieting the provider, power-off. */
import { spawn } from "child_process";
import * as path from "path";
import * as readline from "readline";
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

/** What a call in {@link providerProcess} returned. */
export interface ProcessCallResult {
  ok: boolean;
  /** The call's own time in that process, ms. */
  ms: number;
  result?: { id?: string; outs?: Record<string, unknown> };
  code?: string;
  message?: string;
}

/**
 * A provider call in a process of its own (scripts/bench/providerProcess.ts),
 * started now: resolves once it has loaded the implementation; `go()` makes
 * the call and resolves with its outcome; `stderr` holds its progress lines.
 */
export async function providerProcess(impl: "standaloneRestore" | "learner", method: "create", args: unknown[]): Promise<{ go(): Promise<ProcessCallResult>; stderr(): string; kill(): void }> {
  const child = spawn(process.execPath, [path.join(__dirname, "providerProcess.js")], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  const next = lines[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const r = await next.next();
    if (r.done === true) throw new Error(`the provider process ended early: ${err.trim().slice(-500)}`);
    return String(r.value);
  };
  child.stdin.write(`${JSON.stringify({ impl, method, args })}\n`);
  const ready = await line();
  if (ready.trim() !== "ready") throw new Error(`the provider process said ${ready.slice(0, 200)}`);
  return {
    async go(): Promise<ProcessCallResult> {
      child.stdin.write("go\n");
      const r = JSON.parse(await line()) as ProcessCallResult;
      child.stdin.end();
      return r;
    },
    stderr: () => err,
    kill: () => void child.kill("SIGKILL"),
  };
}
