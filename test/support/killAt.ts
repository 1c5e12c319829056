/**
 * A provider operation killed at a step: run as a child process
 * (`node dist/test/support/killAt.js MODULE METHOD PATTERN PROPS_FILE`), it
 * loads the provider implementation `MODULE` (a path under dist/provider/impl),
 * and runs `provider[METHOD](props)`; the first progress line matching
 * `PATTERN` SIGKILLs the process inside `console.log`, before the provider
 * takes its next step: a kill at exactly that point, every run (stdout is a
 * pipe, written synchronously on Linux, so the line is out first). Exits 0
 * when the operation ended without the pattern, 1 when it failed.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

interface Runnable {
  provider: Record<string, (props: unknown) => Promise<unknown>>;
}

/** What a run of the child ended with. */
export interface Killed {
  signal: NodeJS.Signals | null;
  code: number | null;
  output: string;
}

/**
 * Runs a provider operation in a child process that SIGKILLs itself at the
 * first progress line matching `pattern` (test/support/killAt.ts). `props`
 * goes through a file readable by root only, removed afterwards (it holds
 * the SSH key). Resolves with how the child ended and what it printed.
 */
export async function runKilledAt(implModule: string, method: string, pattern: RegExp, props: unknown, timeoutMs = 300_000): Promise<Killed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "esb-kill-"));
  const file = path.join(dir, "props.json");
  fs.writeFileSync(file, JSON.stringify(props), { mode: 0o600 });
  try {
    const child = spawn(process.execPath, [path.join(__dirname, "killAt.js"), path.join(__dirname, "..", "..", "provider", "impl", implModule), method, pattern.source, file], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${implModule}.${method} did not end within ${timeoutMs} ms:\n${output.slice(-2000)}`));
      }, timeoutMs);
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        resolve({ signal, code, output });
      });
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [mod, method, pattern, propsFile] = process.argv.slice(2);
  const re = new RegExp(pattern);
  const original = console.log.bind(console);
  console.log = (...args: unknown[]): void => {
    const line = args.map(String).join(" ");
    original(line);
    if (re.test(line)) process.kill(process.pid, "SIGKILL");
  };
  const props: unknown = JSON.parse(fs.readFileSync(propsFile, "utf8"));
  const m = require(mod) as Runnable;
  try {
    await m.provider[method](props);
    process.exit(0);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}

if (require.main === module) void main();
