/**
 * Runs the real Pulumi CLI for tests: the shared module (support/pulumi.ts),
 * and what only tests use: scratch programs and stacks on the sandbox, and the
 * backend's text, where a secret must never appear.
 */
import * as fs from "fs";
import * as path from "path";
import { makeWorkspace, pulumi } from "../../support/pulumi";
import type { Workspace } from "../../support/pulumi";
import { ROOT } from "../../support/sandbox";
import type { SandboxDescription } from "../../support/sandbox";

export * from "../../support/pulumi";
/** The passphrase test stacks use for their secrets provider. */
export { SCRATCH_PASSPHRASE as TEST_PASSPHRASE } from "../../support/pulumi";

/** Every file of the workspace's backend, concatenated: what a secret must never appear in. */
export function backendText(ws: Workspace): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(fs.readFileSync(p, "utf8"));
    }
  };
  walk(ws.backend);
  return out.join("\n");
}

/**
 * A scratch workspace (see makeWorkspace) holding a JavaScript program:
 * project `esb-<name>`, its package.json, `program` as index.js, and with
 * `linkDist` this build's dist/ linked in (where the provider loads its
 * implementation from).
 */
export function programWorkspace(name: string, program: string, opts: { linkDist?: boolean } = {}): Workspace {
  const ws = makeWorkspace(name);
  fs.writeFileSync(path.join(ws.dir, "Pulumi.yaml"), `name: esb-${name}\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n`);
  fs.writeFileSync(path.join(ws.dir, "package.json"), JSON.stringify({ name: `esb-${name}`, private: true }));
  fs.writeFileSync(path.join(ws.dir, "index.js"), program);
  if (opts.linkDist === true) fs.symlinkSync(path.join(ROOT, "dist"), path.join(ws.dir, "dist"), "dir");
  return ws;
}

/**
 * Creates stack `test` in the workspace with the sandbox's etcd client key
 * and SSH key as secrets (`etcdKey`, `sshKey`) and, with `sandboxConfig`
 * (default), the path of its sandbox.json as `sandbox`.
 */
export async function initSandboxStack(ws: Workspace, d: SandboxDescription, opts: { sandboxConfig?: boolean } = {}): Promise<void> {
  await pulumi(ws, ["stack", "init", "test"]);
  if (opts.sandboxConfig !== false) await pulumi(ws, ["config", "set", "sandbox", path.join(d.dir, "sandbox.json")]);
  await pulumi(ws, ["config", "set", "--secret", "etcdKey"], { input: fs.readFileSync(d.etcd.keyFile, "utf8") });
  await pulumi(ws, ["config", "set", "--secret", "sshKey"], { input: fs.readFileSync(d.ssh.privateKeyFile, "utf8") });
}
