/**
 * Verification of the restored member, and adoption of a verified one found
 * by create: it leads itself (from then on it serves clients), exactly one
 * member, revision and keys as the learner's, writable; the verdict's
 * arithmetic is pure. Also what the resource reports of a verified restore.
 */
import { containerLogsTail, inspectState, stopForGood } from "../../connection/docker";
import { withEtcd } from "../../connection/etcd";
import type { ClusterConnectionArgs, EtcdSession } from "../../connection/etcd";
import type { SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../../lib/errors";
import { NO_LEADER } from "../../lib/members";
import { sleep } from "../../lib/time";
import { progress } from "../common";
import { MemberReads, statusVia } from "./ctl";
import { ctlStatusOf } from "./ctlJson";
import type { CtlStatus } from "./ctlJson";
import type { PhaseTimings } from "./phases";
import type { BumpSeen } from "../../lib/revisionBump";
import type { RestoreRecord } from "./record";
import { PROBE_KEY, WHAT } from "./settings";
import type { RestoreSettings, StandaloneRestoreResult } from "./settings";

/** Deadline of each status call while waiting for the restored member to lead, and of each verification call. */
const VERIFY_CALL_MS = 5_000;
/** How often the restored member is asked whether it leads, and how often its container is inspected meanwhile. */
const HEALTH_POLL_MS = 100;
const CRASH_CHECK_MS = 1_000;

/** What the restored cluster showed when verified. */
export interface RestoredObservation {
  healthy: boolean;
  writable: boolean;
  memberNames: string[];
  restoredRevision: number;
  keysAfter: number;
}

/** What was recorded about the learner before it was stopped. */
export interface LearnerRecordValues {
  learnerRevision: number;
  keysBefore: number;
}

/** The verification's verdict. */
export interface Verdict {
  ok: boolean;
  problems: string[];
  /** Revisions the learner had that the restore lacks (0 when restoredRevision >= learnerRevision). */
  dataLossWindow: number;
}

/**
 * Success means: healthy, writable, exactly one member (the new name), the
 * restored revision at least the learner's, and as many keys as the learner
 * held.
 */
export function verifyRestore(rec: LearnerRecordValues, got: RestoredObservation, newMemberName: string): Verdict {
  const problems: string[] = [];
  const dataLossWindow = Math.max(0, rec.learnerRevision - got.restoredRevision);
  if (!got.healthy) problems.push("the restored member is not healthy (no leader, or it reports alarms)");
  if (!got.writable) problems.push("a probe write to the restored cluster failed");
  if (got.memberNames.length !== 1 || got.memberNames[0] !== newMemberName) {
    problems.push(`the restored cluster should have exactly one member ${newMemberName}, it has [${got.memberNames.join(", ")}]`);
  }
  if (got.restoredRevision < rec.learnerRevision) {
    problems.push(`the restored revision ${got.restoredRevision} is behind the learner's ${rec.learnerRevision}: ${dataLossWindow} revisions would be lost`);
  }
  if (got.keysAfter !== rec.keysBefore) {
    problems.push(`the restored cluster has ${got.keysAfter} keys, the learner held ${rec.keysBefore} (${got.keysAfter < rec.keysBefore ? `${rec.keysBefore - got.keysAfter} missing` : `${got.keysAfter - rec.keysBefore} extra`})`);
  }
  return { ok: problems.length === 0, problems, dataLossWindow };
}

/** What verification measured. */
export interface Verified {
  clusterId: string;
  memberId: string;
  restoredRevision: number;
  keysAfter: number;
  version: string;
  /** The bump the restore applied (0: none). */
  bumpApplied: number;
}

/** What the restore did of the revision bump: asked of the tool (0: none), and what the tool said of it. */
export interface BumpDone {
  asked: number;
  seen: BumpSeen | undefined;
}

/** No bump. */
export const NO_BUMP: BumpDone = { asked: 0, seen: undefined };

/**
 * Where the restored keyspace is counted, and the revision restored from the
 * db (before the bump) when known. Without a bump: at the learner's revision.
 * With one: at the bumped revision the tool reported (the compaction point,
 * the restored keyspace exactly), else at the learner's revision plus the
 * bump (where a db at the learner's revision lands). Pure.
 */
export function restoredAt(rec: Pick<RestoreRecord, "learnerRevision">, bump: BumpDone): { countAt: number; restoredRevision: number | undefined } {
  if (bump.asked === 0) return { countAt: rec.learnerRevision, restoredRevision: undefined };
  if (bump.seen) return { countAt: bump.seen.bumped, restoredRevision: bump.seen.latest };
  return { countAt: rec.learnerRevision + bump.asked, restoredRevision: undefined };
}

/**
 * Waits for the restored member to lead itself, asking it every 100 ms
 * through the provider's etcd client (a new connection each time, so no
 * reconnect back-off delays the first answer); its container is inspected
 * every second meanwhile, to fail fast on a crash loop. When the client has
 * not reached it for 3 s, etcdctl in the container is asked as well.
 */
export async function waitHealthy(ssh: SshSession, s: RestoreSettings, e: EtcdSession, deadline: number): Promise<CtlStatus> {
  let last = "";
  // Set by the inspection running beside the polls.
  const container: { crashed?: EtcdStandbyError } = {};
  const throwIfCrashed = (): void => {
    if (container.crashed) throw container.crashed;
  };
  let inspecting: Promise<void> | undefined;
  let nextInspect = 0;
  let failingSince: number | undefined;
  const leads = (st: CtlStatus): boolean => st.leaderId !== NO_LEADER && st.leaderId === st.memberId && st.errors.length === 0;
  try {
    for (;;) {
      if (inspecting === undefined && Date.now() >= nextInspect) {
        nextInspect = Date.now() + CRASH_CHECK_MS;
        inspecting = inspectState(ssh, s.containerName)
          .then((info) => {
            if (!info.exists) container.crashed = new EtcdStandbyError("Refused", `the restored container ${s.containerName} disappeared`, "check who removed it", { host: ssh.host });
            else if (info.restartCount >= 3 || (!info.running && info.status !== "restarting" && info.status !== "created")) {
              container.crashed = new EtcdStandbyError("Refused", `the restored etcd keeps exiting (state ${info.status}, restarted ${info.restartCount} times, last exit code ${info.exitCode})`, "see its log below", { host: ssh.host });
            }
          })
          .catch(() => undefined)
          .finally(() => {
            inspecting = undefined;
          });
      }
      throwIfCrashed();
      try {
        const st = ctlStatusOf(await e.statusOf(s.learner.clientURL));
        failingSince = undefined;
        if (leads(st)) return st;
        last = `leader ${st.leaderId}, errors [${st.errors.join(", ")}]`;
      } catch (err) {
        last = isEtcdStandbyError(err) ? err.summary.slice(-300) : describeError(err);
        failingSince ??= Date.now();
        if (Date.now() - failingSince >= 3_000) {
          const st = await statusVia(ssh, s.containerName, s).catch(() => undefined);
          if (st && leads(st)) return st;
        }
      }
      throwIfCrashed();
      if (Date.now() > deadline) throw new EtcdStandbyError("Timeout", `the restored etcd did not become a healthy leader of itself in time (last: ${last})`, "see its log below", { host: ssh.host });
      await sleep(HEALTH_POLL_MS);
    }
  } finally {
    await inspecting;
  }
}

/**
 * Verification: healthy (leading itself), then one member, revision and keys
 * (counted at the learner's revision, so the clients that write as soon as it
 * leads do not change the count), then a probe write: all through the
 * provider's etcd client, from outside the host. `onServing` is called when
 * the member first leads (clients can write from then on; verification does
 * not hold them back).
 */
export async function verify(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, rec: RestoreRecord, deadline: number, onServing: () => void = () => undefined, bump: BumpDone = NO_BUMP): Promise<Verified> {
  return withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: VERIFY_CALL_MS }, async (e) => {
    const st = await waitHealthy(ssh, s, e, deadline);
    onServing();
    const reads = new MemberReads(ssh, s, s.containerName, e, "verification");
    // Counted at the restored keyspace's own revision (the learner's, or the bumped one, which is the compaction
    // point and so still readable): clients' first writes do not change it.
    const at = restoredAt(rec, bump);
    const [count, members, clusterId, status] = await Promise.all([reads.count(at.countAt), e.memberList(), e.clusterId(), e.status()]);
    const restoredRevision = at.restoredRevision ?? count.revision - bump.asked;
    const value = `restored-${Date.now()}`;
    let writable = false;
    let writeError = "";
    // The probe write, read back and removed, with the provider's own client from outside the host.
    try {
      await e.put(PROBE_KEY, value);
      const got = await e.get(PROBE_KEY);
      await e.delete(PROBE_KEY);
      writable = got === value;
      if (!writable) writeError = `read back ${JSON.stringify((got ?? "(absent)").slice(0, 80))}`;
    } catch (err) {
      writeError = isEtcdStandbyError(err) ? err.summary.slice(-300) : describeError(err);
    }
    const verdict = verifyRestore(
      // Offline, the learner's keys were not counted: the revision is what is compared.
      { learnerRevision: rec.learnerRevision, keysBefore: rec.offline !== undefined ? count.count : rec.keysBefore },
      {
        healthy: status.leaderId === st.memberId && status.errors.length === 0,
        writable,
        memberNames: members.map((m) => m.name),
        restoredRevision,
        keysAfter: count.count,
      },
      s.newMemberName,
    );
    if (!verdict.ok) {
      throw new EtcdStandbyError(
        "Refused",
        `the restored cluster did not pass verification: ${verdict.problems.join("; ")}${writeError ? ` (probe write: ${writeError})` : ""}. Learner: revision ${rec.learnerRevision}, ${rec.keysBefore} keys; restored: revision ${restoredRevision}${bump.asked > 0 ? ` (+${bump.asked} bumped)` : ""}, ${count.count} keys`,
        "see why above",
        { host: ssh.host },
      );
    }
    progress(WHAT, `verified: healthy, writable, one member ${s.newMemberName}, revision ${restoredRevision} >= ${rec.learnerRevision}${bump.asked > 0 ? `, bumped by ${bump.asked} to ${restoredRevision + bump.asked} (every earlier revision reads as compacted: watchers relist)` : ""}, ${count.count} keys = ${rec.keysBefore}`);
    return { clusterId, memberId: st.memberId, restoredRevision, keysAfter: count.count, version: st.version, bumpApplied: bump.asked };
  });
}

/** After a failed verification: the restored etcd's log, and the container stopped for good (kept for inspection). */
export async function stopFailed(ssh: SshSession, s: RestoreSettings): Promise<string> {
  try {
    const log = await containerLogsTail(ssh, s.containerName, 400).catch(() => "");
    await stopForGood(ssh, s.containerName, 30);
    return log;
  } catch {
    return "";
  }
}

/** What the resource reports of a verified restore. */
export function outputsOf(s: RestoreSettings, rec: RestoreRecord, v: Verified, extra: Pick<StandaloneRestoreResult, "adopted" | "reusedRecord" | "phaseMs" | "restoreTool" | "guardRisks" | "setAside">): StandaloneRestoreResult {
  return {
    newClusterId: v.clusterId,
    newMemberId: v.memberId,
    newClusterToken: rec.newClusterToken,
    endpoint: s.learner.clientURL,
    restoredRevision: v.restoredRevision,
    bumpApplied: v.bumpApplied,
    recordedFrom: rec.offline === undefined ? "live" : "offline",
    learnerRevision: rec.learnerRevision,
    learnerAppliedIndex: rec.learnerAppliedIndex,
    learnerCommittedIndex: rec.learnerCommittedIndex,
    learnerVersion: rec.learnerVersion,
    restoredVersion: v.version,
    keysBefore: rec.keysBefore,
    keysAfter: v.keysAfter,
    dataLossWindow: Math.max(0, rec.learnerRevision - v.restoredRevision),
    healthy: true,
    observedClusterId: v.clusterId,
    ...extra,
  };
}

/** A verified restore from an earlier run: report it, change nothing. */
export async function adopt(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, rec: RestoreRecord, began: number): Promise<StandaloneRestoreResult> {
  const t0 = Date.now();
  progress(WHAT, `a verified restore already runs in ${s.containerName} (token ${rec.newClusterToken}): adopting it, changing nothing`);
  let v: Verified;
  try {
    v = await withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: VERIFY_CALL_MS }, async (e) => {
      const st = await waitHealthy(ssh, s, e, Date.now() + Math.min(s.timeoutMs, 60_000));
      const [clusterId, count] = await Promise.all([e.clusterId(), new MemberReads(ssh, s, s.containerName, e, "adoption").count()]);
      return { clusterId, memberId: st.memberId, restoredRevision: rec.restoredRevision ?? count.revision, keysAfter: rec.keysAfter ?? count.count, version: st.version, bumpApplied: rec.bumpApplied ?? 0 };
    });
  } catch (e) {
    throw new EtcdStandbyError(
      "Refused",
      `a verified restore exists (${s.containerName}, ${s.restoreDataDir}) but is not healthy now: ${describeError(e)}`,
      "repair it by hand; it is never restored again automatically because it may hold writes made since",
      { host: ssh.host },
    );
  }
  const phaseMs: PhaseTimings = { guard: 0, cleanup: 0, record: 0, image: 0, stop: 0, restore: 0, start: 0, verify: Date.now() - t0, serving: 0, total: Date.now() - began };
  return outputsOf(s, rec, v, { adopted: true, reusedRecord: true, phaseMs, restoreTool: "", guardRisks: [], setAside: [] });
}
