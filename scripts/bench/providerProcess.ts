/**
 * One call of a provider implementation in a process of its own, as Pulumi's
 * dynamic-provider process makes it: the benchmarks' paced writer and
 * samplers run in the bench's process, and a create timed there would share
 * their event loop. Started beforehand with the call's JSON on stdin
 * (`{"impl":"standaloneRestore","method":"create","args":[...]}`), it loads
 * the implementation, prints `ready`, and makes the call when it reads `go`;
 * then it prints one JSON line: `{"ok":true,"ms":...,"result":...}` or
 * `{"ok":false,"ms":...,"code":...,"message":...}`. The provider's progress
 * lines go to stderr.
 */
import * as readline from "readline";

interface Call {
  impl: "standaloneRestore" | "learner";
  method: "create";
  args: unknown[];
}

async function main(): Promise<void> {
  const lines = readline.createInterface({ input: process.stdin });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  const call = JSON.parse(String(first.value)) as Call;
  const impl = (require(`../../provider/impl/${call.impl}`) as { provider: Record<string, (...a: unknown[]) => Promise<unknown>> }).provider;
  console.log = (...a: unknown[]): void => void process.stderr.write(`${a.map(String).join(" ")}\n`);
  process.stdout.write("ready\n");
  const go = await it.next();
  if (go.done === true || String(go.value).trim() !== "go") return;
  const t0 = Date.now();
  let out: Record<string, unknown>;
  try {
    out = { ok: true, result: await impl[call.method](...call.args) };
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    out = { ok: false, code: err.code, message: String(err.message ?? e) };
  }
  process.stdout.write(`${JSON.stringify({ ...out, ms: Date.now() - t0 })}\n`);
  lines.close();
}

main().catch((e: unknown) => {
  process.stdout.write(`${JSON.stringify({ ok: false, ms: 0, message: `providerProcess: ${String(e)}` })}\n`);
  process.exit(1);
});
