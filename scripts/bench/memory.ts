/**
 * Peak memory of the processes a `pulumi` command starts, read from procfs:
 * each matching process's VmHWM (its own peak resident set), polled until
 * the command ends. A process that lives shorter than one poll is missed.
 */
import * as fs from "fs";

/** Which processes to watch: a name and a test on the command line. */
export interface Watched {
  name: string;
  matches: (cmdline: string) => boolean;
}

function peakKiB(pid: string): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cmdline(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** Runs `fn` while polling every `intervalMs`; returns its result and each watched name's peak in MiB (0: never seen). */
export async function withPeakMemory<T>(watched: Watched[], fn: () => Promise<T>, intervalMs = 50): Promise<{ result: T; peakMiB: Record<string, number> }> {
  const peak: Record<string, number> = Object.fromEntries(watched.map((w) => [w.name, 0]));
  const poll = (): void => {
    for (const pid of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      const cl = cmdline(pid);
      for (const w of watched) if (w.matches(cl)) peak[w.name] = Math.max(peak[w.name], peakKiB(pid) / 1024);
    }
  };
  const timer = setInterval(poll, intervalMs);
  try {
    const result = await fn();
    return { result, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}
