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

/** Every key and the revision, as etcdctl counts them at `endpoint` (serializable). */
export async function countAll(d: SandboxDescription, endpoint: string): Promise<{ revision: number; count: number }> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "get", "", "--prefix", "--keys-only", "--limit=1", "--consistency=s", "-w", "json"]);
  const parsed = parseEtcdctlJson<{ header: { revision: number }; count?: number }>(r.stdout);
  return { revision: Number(parsed.header.revision), count: Number(parsed.count ?? 0) };
}

/** Waits until the member at `endpoint` has applied all it committed and its applied index stops changing (five looks, 0.5 s apart), and returns its status then. */
export async function appliedSettled(d: SandboxDescription, endpoint: string): Promise<CtlStatus> {
  let last = -1;
  let same = 0;
  return waitFor(async () => {
    const st = await endpointStatus(d, endpoint);
    same = st.raftAppliedIndex === last ? same + 1 : 0;
    last = st.raftAppliedIndex;
    return same >= 4 && st.raftAppliedIndex === st.raftIndex ? st : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500, what: `${endpoint}'s applied index to stop changing` });
}
