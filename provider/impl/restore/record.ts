/**
 * What is recorded about the learner before it is stopped, and kept on the
 * host (`<restoreDataDir>.restore-record.json`) between attempts: the record,
 * its file, whether an earlier attempt's record may be reused, and the
 * recording itself (reads only, beside the guard).
 */
import type { ContainerState } from "../../connection/docker";
import { makeDir, writeFileAtomic } from "../../connection/hostfs";
import type { SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../../lib/errors";
import { dirOf } from "../../lib/paths";
import { sleep } from "../../lib/time";
import { progress } from "../common";
import type { MemberReads } from "./ctl";
import type { CtlStatus } from "./ctlJson";
import { throwIfAborted } from "./overlap";
import type { AbortFlag } from "./overlap";
import { recordFile, WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/** What is kept on the host (`<restoreDataDir>.restore-record.json`) between attempts. */
export interface RestoreRecord {
  version: 1;
  /** The learner container whose state was recorded. */
  learnerContainerId: string;
  learnerMemberId: string;
  learnerVersion: string;
  learnerRevision: number;
  learnerAppliedIndex: number;
  /** The learner's committed index (what it knew the leader had committed). */
  learnerCommittedIndex: number;
  keysBefore: number;
  recordedAt: string;
  /** Set once the learner was stopped: when, and its db file's size and mtime then. */
  stoppedAt?: string;
  dbSize?: number;
  dbMtime?: number;
  newClusterToken: string;
  newMemberName: string;
  /** How long recording and stopping the learner took in the attempt that did them, in ms. */
  recordMs?: number;
  stopMs?: number;
  /** True once a restore from this record passed verification. */
  verified: boolean;
  newClusterId?: string;
  newMemberId?: string;
  restoredRevision?: number;
  keysAfter?: number;
  /** The revision bump the verified restore applied. */
  bumpApplied?: number;
  /**
   * Set when the learner did not answer through its client port (restarted
   * without a leader, or hung) and was recorded from its data once stopped:
   * how, and what could not be known that way.
   */
  offline?: OfflineRecord;
}

/** How a learner that did not answer was recorded. */
export interface OfflineRecord {
  /** Why the live reads failed. */
  why: string;
  /** Where each value came from, for the operator. */
  sources: string[];
}

/** Parses a record file; undefined when it is not one. */
export function parseRecord(text: string | null): RestoreRecord | undefined {
  if (text === null || text.trim() === "") return undefined;
  try {
    const r = JSON.parse(text) as Partial<RestoreRecord>;
    if (r.version !== 1 || typeof r.learnerContainerId !== "string" || typeof r.learnerRevision !== "number" || typeof r.keysBefore !== "number" || typeof r.newClusterToken !== "string") {
      return undefined;
    }
    return r as RestoreRecord;
  } catch {
    return undefined;
  }
}

/**
 * Whether a record taken by an earlier attempt still describes the (now
 * stopped) learner: same container, stopped by us, its db file unchanged.
 * Returns the reason it cannot be used, or undefined when it can.
 */
export function recordUnusable(rec: RestoreRecord | undefined, learnerContainerId: string, db: { size: number; mtime: number } | null): string | undefined {
  if (rec === undefined) return "no record of its state was kept by an earlier attempt";
  if (rec.learnerContainerId !== learnerContainerId) return `the record describes container ${rec.learnerContainerId.slice(0, 12)}, not ${learnerContainerId.slice(0, 12)}`;
  if (rec.stoppedAt === undefined || rec.dbSize === undefined || rec.dbMtime === undefined) return "the record was taken but the learner was not stopped by that attempt";
  if (db === null) return "its db file is gone";
  if (db.size !== rec.dbSize || db.mtime !== rec.dbMtime) return `its db file changed since it was stopped (size ${rec.dbSize} -> ${db.size}, mtime ${rec.dbMtime} -> ${db.mtime})`;
  return undefined;
}

/** A record file's text. */
export function recordText(rec: RestoreRecord): string {
  return `${JSON.stringify(rec, null, 2)}\n`;
}

/** Keeps `rec` on the host (written atomically); `dirExists` skips making its folder. */
export async function writeRecord(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord, dirExists = false): Promise<void> {
  if (!dirExists) await makeDir(ssh, dirOf(recordFile(s)));
  await writeFileAtomic(ssh, recordFile(s), recordText(rec));
}

/**
 * The learner did not answer its first status call, through the provider's
 * client nor through etcdctl in its container: restarted without a leader
 * (it serves clients only once it has one), or hung. The record is then
 * taken from its data (`offline.ts`).
 */
export class LearnerSilent extends Error {
  public constructor(public readonly why: string) {
    super(`the learner does not answer: ${why}`);
    this.name = "LearnerSilent";
  }
}

/** The learner's first status: a failure that is not the guard's abort is {@link LearnerSilent}. */
async function firstStatus(reads: MemberReads, abort: AbortFlag, what: string): Promise<CtlStatus> {
  try {
    return await reads.status();
  } catch (e) {
    throwIfAborted(abort, what);
    throw new LearnerSilent((isEtcdStandbyError(e) ? e.summary : describeError(e)).slice(0, 300));
  }
}

/**
 * Recording the learner: its applied index, revision and key count, once
 * its applied index stops moving. Reads only, from the create's start
 * beside the guard and the preflight (`learner`: the container the preflight
 * saw, waited for only at the end, for its ID); stops at its next step when
 * the guard refuses or the preflight ends the run (`abort`).
 */
export async function recordLearner(reads: MemberReads, ssh: SshSession, s: RestoreSettings, learner: Promise<ContainerState | undefined>, token: string, abort: AbortFlag): Promise<RestoreRecord> {
  const what = "recording the learner";
  const deadline = Date.now() + Math.min(s.timeoutMs, 120_000);
  let prev: CtlStatus | undefined;
  let steady = 0;
  for (;;) {
    throwIfAborted(abort, what);
    const st = prev === undefined ? await firstStatus(reads, abort, what) : await reads.status();
    if (!st.isLearner) {
      throw new EtcdStandbyError(
        "Refused",
        `the member answering at ${s.learner.clientURL} (${st.memberId}, etcd ${st.version}) is not a learner`,
        "this resource turns a learner into a new cluster; a voter that lost its quorum is recovered with --force-new-cluster instead",
        { host: ssh.host, member: s.learner.memberName },
      );
    }
    const same = prev !== undefined && prev.raftAppliedIndex === st.raftAppliedIndex && prev.raftIndex === st.raftIndex;
    steady = same ? steady + 1 : 0;
    prev = st;
    if (steady >= 2 && st.raftAppliedIndex >= st.raftIndex) break;
    if (Date.now() > deadline) {
      throw new EtcdStandbyError("Timeout", `the learner's applied index did not settle (applied ${st.raftAppliedIndex} of committed ${st.raftIndex})`, "check that site A is really down and the learner is not still replicating", { host: ssh.host, member: s.learner.memberName });
    }
    await sleep(250);
  }
  throwIfAborted(abort, what);
  const count = await reads.count();
  const after = await reads.status();
  if (after.raftAppliedIndex !== prev.raftAppliedIndex || count.revision !== after.revision) {
    throw new EtcdStandbyError("Refused", `the learner moved while it was recorded (applied ${prev.raftAppliedIndex} -> ${after.raftAppliedIndex}, revision ${count.revision} vs ${after.revision})`, "something still writes to it; make sure site A is gone and run pulumi up again", { host: ssh.host, member: s.learner.memberName });
  }
  throwIfAborted(abort, what);
  const container = await learner;
  if (container === undefined) throw new Error("the preflight did not pass");
  throwIfAborted(abort, what);
  progress(WHAT, `recorded learner ${s.learner.memberName} (${after.memberId}, etcd ${after.version}): applied index ${after.raftAppliedIndex} of committed ${after.raftIndex}, revision ${after.revision}, ${count.count} keys`);
  return {
    version: 1,
    learnerContainerId: container.id,
    learnerMemberId: after.memberId,
    learnerVersion: after.version,
    learnerRevision: after.revision,
    learnerAppliedIndex: after.raftAppliedIndex,
    learnerCommittedIndex: after.raftIndex,
    keysBefore: count.count,
    recordedAt: new Date().toISOString(),
    newClusterToken: token,
    newMemberName: s.newMemberName,
    verified: false,
  };
}
