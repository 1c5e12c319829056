/** Runs the real Pulumi CLI in scratch workspaces (tests, benchmarks): local file backend, passphrase secrets, never a cloud service. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run, RunResult } from "./exec";
import { ROOT } from "./sandbox";

/** The passphrase scratch stacks use for their secrets provider. */
export const SCRATCH_PASSPHRASE = "etcd-standby-test-passphrase";

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
  // Its own Pulumi home, but the machine's plugin cache: the bootstrap installs the @pulumi/command plugin there.
  fs.mkdirSync(path.join(dir, ".pulumi-home"));
  fs.symlinkSync(path.join(process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi"), "plugins"), path.join(dir, ".pulumi-home", "plugins"), "dir");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: SCRATCH_PASSPHRASE,
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

/** Removes a workspace. */
export function removeWorkspace(ws: Workspace): void {
  fs.rmSync(ws.dir, { recursive: true, force: true });
}

/**
 * A workspace holding this repo's stack program (`dist/` linked) and the
 * sandbox stack's config, with the repo's salt and key file dropped, stack
 * `sandbox` created and the sandbox's etcd client key set as a secret: what a
 * user does with `pulumi stack init` and `pulumi config set --secret`.
 */
export async function sandboxStackWorkspace(prefix: string, etcdKeyFile: string): Promise<Workspace> {
  const ws = makeWorkspace(prefix);
  fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(ws.dir, "Pulumi.yaml"));
  fs.copyFileSync(path.join(ROOT, "package.json"), path.join(ws.dir, "package.json"));
  fs.mkdirSync(path.join(ws.dir, "stacks"));
  const cfg = fs.readFileSync(path.join(ROOT, "stacks", "Pulumi.sandbox.yaml"), "utf8").replace(/\n    keyFile: .*\n/, "\n").replace(/^encryptionsalt: .*\n/m, "");
  fs.writeFileSync(path.join(ws.dir, "stacks", "Pulumi.sandbox.yaml"), cfg);
  fs.symlinkSync(path.join(ROOT, "dist"), path.join(ws.dir, "dist"), "dir");
  await pulumi(ws, ["stack", "init", "sandbox"]);
  await pulumi(ws, ["config", "set", "--secret", "etcdKey", "--stack", "sandbox"], { input: fs.readFileSync(etcdKeyFile, "utf8") });
  return ws;
}
