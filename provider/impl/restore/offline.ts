/**
 * Recording a learner that does not answer. A learner restarted after site
 * A's loss (a reboot in the same power event, a Docker restart) serves
 * clients only once it has a leader, which it never has again; a hung one
 * does not answer either. The seed's procedure still works there, since it
 * needs only the learner's `member/snap/db`, and so does the restore: what
 * the record needs is read from the learner's data and its own account.
 *
 * - before the stop, while its container runs: its etcd version (`etcd
 *   --version` in its container), its member ID and the commit index it
 *   restarted with (its log's "restarting local member" line, read from its
 *   WAL's hard state at start);
 * - after the stop (its db flushed): the db's revision, with the restore
 *   tool's `snapshot status` in a throwaway container (no network, the db's
 *   folder read-only).
 *
 * The live key count cannot be had offline (`snapshot status` counts every
 * bbolt key, history included): the restored keyspace is counted at its own
 * revision instead, and the revision is what verification compares.
 */
import { containerLogsTail, execInContainer, oneShotArgv } from "../../connection/docker";
import type { SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError } from "../../lib/errors";
import { dirOf } from "../../lib/paths";
import { parseEtcdVersion } from "../../lib/versions";
import type { EtcdVersion } from "../../lib/versions";
import { RUN_ID, RUN_LABEL } from "../clusterLock";
import { progress } from "../common";
import { MANAGED_LABEL } from "../learnerConfig";
import { parseJsonExact } from "./ctlJson";
import { restoreTool } from "./image";
import type { OfflineRecord, RestoreRecord } from "./record";
import { RESTORE_TOOL_CONTAINER, RESTORE_TOOL_VALUE, WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/** Deadline of each offline read (a docker command on the host; `snapshot status` reads the whole db). */
const OFFLINE_READ_MS = 120_000;

/** What a learner's log says of its last start: its member ID and the commit index of its WAL. Pure. */
export function parseRestartLog(log: string): { memberId?: string; commitIndex?: number } {
  let out: { memberId?: string; commitIndex?: number } = {};
  for (const line of log.split("\n")) {
    if (!line.includes("restarting local member")) continue;
    const id = /"local-member-id"\s*:\s*"([0-9a-f]+)"/.exec(line);
    const ci = /"commit-index"\s*:\s*(\d+)/.exec(line);
    // The last start counts.
    out = { ...(id ? { memberId: id[1] } : {}), ...(ci ? { commitIndex: Number(ci[1]) } : {}) };
  }
  return out;
}

/** The revision in a `snapshot status -w json` answer (etcdctl 3.4/3.5, etcdutl 3.6+). Pure. */
export function parseSnapshotStatus(stdout: string): { revision: number; totalKey: number; totalSize: number } {
  const line = stdout.split("\n").find((l) => l.trim().startsWith("{"));
  if (line === undefined) throw new Error(`no JSON in the answer: ${stdout.trim().slice(0, 200)}`);
  const j = parseJsonExact<{ revision?: unknown; totalKey?: unknown; totalSize?: unknown }>(line.trim());
  const revision = Number(j.revision);
  if (!Number.isInteger(revision) || revision < 1) throw new Error(`no revision in ${line.trim().slice(0, 200)}`);
  return { revision, totalKey: Number(j.totalKey ?? 0), totalSize: Number(j.totalSize ?? 0) };
}

/**
 * What can be read of a learner that does not answer while its container
 * still runs: its etcd version, member ID and restart commit index. `why`:
 * why the live reads failed. The revision is filled in after the stop
 * ({@link readDbRevision}).
 */
export async function recordOffline(ssh: SshSession, s: RestoreSettings, containerId: string, token: string, why: string): Promise<RestoreRecord> {
  const host = { host: ssh.host, member: s.learner.memberName };
  const [ver, log] = await Promise.all([
    execInContainer(ssh, s.learner.containerName, [s.etcdBinary, "--version"], { timeoutMs: OFFLINE_READ_MS, allowFailure: true }),
    containerLogsTail(ssh, s.learner.containerName, 5_000).catch((e: unknown) => `(its log could not be read: ${describeError(e)})`),
  ]);
  const version = ver.code === 0 ? parseEtcdVersion(ver.stdout) : undefined;
  if (version === undefined) {
    throw new EtcdStandbyError("RemoteCommandFailed", `the learner does not answer (${why}) and its etcd version could not be read in ${s.learner.containerName} (${(ver.stderr || ver.stdout).trim().slice(-300)})`, `check the container on the host (docker ps -a; docker logs ${s.learner.containerName}) and run pulumi up again`, host);
  }
  const restart = parseRestartLog(log);
  const sources = [
    `version ${version.text}: etcd --version in ${s.learner.containerName}`,
    restart.commitIndex !== undefined ? `committed and applied index ${restart.commitIndex}: its log's last "restarting local member" (its WAL's hard state; a restarted member applies what it had committed)` : "committed and applied index: not found in its log (reported as 0)",
    "revision: snapshot status of its db, once stopped",
    "keys: counted on the restored member at the restored revision (a learner that does not answer cannot be counted)",
  ];
  const offline: OfflineRecord = { why, sources };
  progress(WHAT, `the learner ${s.learner.memberName} does not answer at ${s.learner.clientURL} (${why}): a learner restarted after site A's loss never has a leader again, so it is recorded from its data instead once stopped (${sources.join("; ")})`);
  return {
    version: 1,
    learnerContainerId: containerId,
    learnerMemberId: restart.memberId ?? "",
    learnerVersion: version.text,
    learnerRevision: 0,
    learnerAppliedIndex: restart.commitIndex ?? 0,
    learnerCommittedIndex: restart.commitIndex ?? 0,
    keysBefore: 0,
    recordedAt: new Date().toISOString(),
    newClusterToken: token,
    newMemberName: s.newMemberName,
    verified: false,
    offline,
  };
}

let statusReads = 0;

/** The `snapshot status` of the learner's db (stopped), in a throwaway container of the image: no network, the db's folder read-only. */
export async function readDbRevision(ssh: SshSession, s: RestoreSettings, v: EtcdVersion): Promise<number> {
  const tool = restoreTool(v);
  const bin = dirOf(s.etcdBinary);
  const argv = oneShotArgv(ssh, {
    name: `${RESTORE_TOOL_CONTAINER}-status-${RUN_ID}-${++statusReads}`,
    image: s.image,
    pull: "never",
    labels: { [MANAGED_LABEL]: RESTORE_TOOL_VALUE, [RUN_LABEL]: RUN_ID },
    volumes: [{ host: dirOf(s.sourceDb), container: dirOf(s.sourceDb), ro: true }],
    env: tool === "etcdctl" ? { ETCDCTL_API: "3" } : {},
    command: [`${bin === "/" ? "" : bin}/${tool}`, "snapshot", "status", s.sourceDb, "-w", "json"],
  });
  const r = await ssh.run(argv, { timeoutMs: OFFLINE_READ_MS, allowFailure: true });
  try {
    if (r.code !== 0) throw new Error(`exit status ${String(r.code)}: ${r.stderr.trim().slice(-300)}`);
    const st = parseSnapshotStatus(r.stdout);
    progress(WHAT, `${tool} snapshot status ${s.sourceDb}: revision ${st.revision} (${st.totalSize} bytes)`);
    return st.revision;
  } catch (e) {
    throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot status of the stopped learner's db ${s.sourceDb} failed: ${describeError(e)}`, "the db may be damaged; check it (etcdutl snapshot status) and run pulumi up again (the learner stays stopped, its data untouched)", { host: ssh.host, member: s.learner.memberName });
  }
}
