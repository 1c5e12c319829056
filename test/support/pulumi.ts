/** Runs the real Pulumi CLI for tests: local file backend, passphrase secrets, never a cloud service. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run, RunResult } from "./exec";
import { ROOT } from "./sandbox";

/** The passphrase test stacks use for their secrets provider. */
export const TEST_PASSPHRASE = "etcd-standby-test-passphrase";

/** A scratch Pulumi workspace: a project folder and its own file:// backend. */
export interface Workspace {
  dir: string;
  backend: string;
  env: NodeJS.ProcessEnv;
}

/** Makes a scratch workspace under the OS temp folder with the repo's node_modules linked in. */
export function makeWorkspace(prefix: string): Workspace {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `esb-${prefix}-`));
  const backend = path.join(dir, ".state");
  fs.mkdirSync(backend);
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "1",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_HOME: path.join(dir, ".pulumi-home"),
  };
  return { dir, backend, env };
}

/** Runs `pulumi ARGS` in a workspace, non-interactively. */
export function pulumi(ws: Workspace, args: string[], opts: { allowFailure?: boolean; timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<RunResult> {
  return run(["pulumi", ...args, "--non-interactive"], {
    cwd: opts.cwd ?? ws.dir,
    env: ws.env,
    allowFailure: opts.allowFailure,
    timeoutMs: opts.timeoutMs ?? 300_000,
    input: opts.input,
  });
}

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

/** Removes a workspace. */
export function removeWorkspace(ws: Workspace): void {
  fs.rmSync(ws.dir, { recursive: true, force: true });
}
