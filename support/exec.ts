/** Runs local commands (for the tests and the benchmarks), capturing output, with a deadline. */
import { spawn } from "child_process";

/** The outcome of {@link run}. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
  /** Do not throw on a non-zero exit. */
  allowFailure?: boolean;
}

/** Runs `argv` (no shell) and returns its exit code and output; throws on a non-zero exit unless allowed. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      // No input: /dev/null, so a child that exits before reading cannot break a pipe.
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const r = { code: code ?? -1, stdout, stderr };
      if (r.code !== 0 && !opts.allowFailure) {
        reject(new Error(`${argv.join(" ")} exited ${r.code}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      } else {
        resolve(r);
      }
    });
    if (child.stdin) {
      // A child may exit without reading all its input: its exit code tells what happened, not EPIPE.
      child.stdin.on("error", () => undefined);
      child.stdin.end(opts.input);
    }
  });
}
