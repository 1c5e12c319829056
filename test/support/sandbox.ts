/** Test access to the local two-site sandbox: the shared module (support/sandbox.ts), and what only the suites use. */
import { describe, etcdctl, memberList, parseEtcdctlJson, sandbox, ssh } from "../../support/sandbox";
import type { SandboxDescription } from "../../support/sandbox";
import { waitFor } from "../../support/wait";

export * from "../../support/sandbox";

/**
 * A suite's fresh sandbox, for its `before` hook: the old one down, a new one
 * up (with `env`, e.g. ETCD_STANDBY_ETCD_DISKS), described once its four
 * voters have started. The suite's `after` takes it down again.
 */
export async function freshSandbox(env: NodeJS.ProcessEnv = {}): Promise<SandboxDescription> {
  await sandbox(["down"]);
  await sandbox(["up"], 300_000, env);
  const d = describe();
  await waitFor(async () => (await memberList(d)).every((m) => m.name !== ""), { timeoutMs: 60_000, what: "four started voters" });
  return d;
}

/** The names of every container on a host (`docker ps -a`), sorted. */
export async function containerNames(d: SandboxDescription, host: string): Promise<string[]> {
  const r = await ssh(d, host, "docker ps -a --format '{{.Names}}'");
  return r.stdout.split("\n").filter(Boolean).sort();
}

/** One member's `etcdctl endpoint status -w json`, as etcdctl prints it (IDs as decimal strings). */
export interface CtlStatus {
  header: { cluster_id: string; member_id: string; revision: number };
  leader: string;
  raftIndex: number;
  raftAppliedIndex: number;
  isLearner?: boolean;
  version: string;
}

/** `etcdctl endpoint status` of one endpoint (it must answer). */
export async function endpointStatus(d: SandboxDescription, endpoint: string): Promise<CtlStatus> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "endpoint", "status", "-w", "json"]);
  return parseEtcdctlJson<Array<{ Status: CtlStatus }>>(r.stdout)[0].Status;
}
