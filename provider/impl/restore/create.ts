/**
 * EtcdStandaloneRestore's create: when site A is gone, the site-B learner
 * becomes a new one-member cluster (the seed's restore section, automated).
 * Its phases, in the order they start ({@link RESTORE_PHASES}, which the
 * runner follows; what runs side by side is said there):
 *
 * - preflight (changes nothing): no foreign container under `containerName`,
 *   the image and the TLS files on the host; its reads run on parallel SSH
 *   channels. A verified restore found here is adopted and never redone (it
 *   may already hold new writes);
 * - guard (changes nothing), from the create's first moment, beside the
 *   preflight: refuses while any old site-A voter answers a status call, a
 *   leader is seen, or the learner still receives entries, unless `force`
 *   (then a warning names the split-brain risk). The learner is watched for
 *   about two heartbeats; each voter's status calls end with that window (a
 *   silent, blackholed voter costs the window, not the connection timeout);
 * - record, from the create's first moment too, beside the guard and the
 *   preflight (reads only, serializable, through the provider's etcd client
 *   at the learner's client URL, else etcdctl inside its container): applied
 *   and committed index, revision, key count, once its applied index stops
 *   moving; aborted when the guard refuses. The image's etcd version (a
 *   throwaway container of the read's own name) is read from the first
 *   moment too, and checked against the learner's;
 *   nothing below starts before the guard's verdict:
 * - cleanup of what a failed earlier attempt left (looked at in the
 *   preflight): its restored container is stopped and renamed
 *   `<name>-failed-<stamp>`, its data and staging dirs are renamed
 *   `.failed-<stamp>`; nothing is deleted, and the learner's own data dir is
 *   never touched. The record is then kept on the host (beside the stop) so a
 *   retry after the learner was stopped can reuse it;
 * - stop, one remote command, opened on the host once the preflight has
 *   passed and waiting there for its go (`connection/gate.ts`: held, or
 *   its connection gone, it ends having done nothing), so the verdict's go
 *   costs no new SSH session: the learner's restart policy is cleared and it
 *   is stopped gracefully (its bbolt db is flushed); the container and data
 *   dir stay; then its state and its db's size and mtime are read for the
 *   record;
 * - restore and start, one remote command, opened beside the stop and
 *   released with the stop's record: the stop's record kept on the
 *   host; `snapshot restore --skip-hash-check` of `<dataDir>/member/snap/db`
 *   with etcdctl (3.4/3.5) or etcdutl (3.6+), chosen by the image's etcd
 *   version, in a `docker run --rm --network none` of the image with the db's
 *   folder read-only, into a staging dir (made beside the stop) moved into
 *   place when complete (never over an existing path); then a one-member
 *   cluster in a container named `etcd` (restart always, host network, the
 *   same mTLS files, `--initial-cluster-state=new`). From the guard's verdict
 *   to the start, two writes on open channels, each with its answer;
 * - verify, through the provider's etcd client from outside the host: it
 *   leads itself (from then on it serves clients: verification does not hold
 *   them back), exactly one member, restored revision >= the learner's, as
 *   many keys as the learner held (counted at the learner's revision, so
 *   clients' first writes do not change it), writable (a probe
 *   put/get/delete). A failure stops the new container and says what is
 *   kept; a new create after fixing the cause converges.
 *
 * The first election of the restored member: etcd fast-forwards a single
 * member's election ticks to one short of the election timeout, and raft's
 * randomised timeout is 1 to 2 election timeouts, so it still waits 1 to
 * electionTicks ticks: 0.5 to 5 s with RKE's 500/5000 ms, as the seed's
 * commands do. With `fastFirstElection` it starts on 100/500 ms (0.1 to
 * 0.5 s); the update that turns it off restarts it once with the cluster's
 * timing before other members join (`retime.ts`).
 */
import type { ContainerState } from "../../connection/docker";
import { withEtcd } from "../../connection/etcd";
import type { ClusterConnectionArgs } from "../../connection/etcd";
import { withSsh } from "../../connection/ssh";
import type { SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../../lib/errors";
import type { EtcdStandbyErrorCode } from "../../lib/errors";
import { diagnose, logExcerpt } from "../../lib/logs";
import type { EtcdVersion } from "../../lib/versions";
import { clusterOf, hostOf, progress, stamp } from "../common";
import type { Props } from "../common";
import { MEMBER_READ_MS, MemberReads } from "./ctl";
import { guard } from "./guard";
import { checkImageVersion, imageVersion } from "./image";
import { armStop } from "./learnerStop";
import type { ArmedStop } from "./learnerStop";
import type { Stopped } from "./learnerStop";
import { cleanupLeftovers } from "./leftovers";
import { guardFirst, settle, throwIfAborted } from "./overlap";
import type { AbortFlag, Settled } from "./overlap";
import { PhaseFailure, runPhases, zeroTimings } from "./phases";
import type { Phase, PhaseTimings } from "./phases";
import { preflight } from "./preflight";
import type { Preflight } from "./preflight";
import { readDbRevision, recordOffline } from "./offline";
import { LearnerSilent, recordLearner, recordText, writeRecord } from "./record";
import type { RestoreRecord } from "./record";
import { restoredEtcdContainer } from "./restoredEtcd";
import { defaultToken, recordFile, restoreSettings, WHAT } from "./settings";
import type { RestoreSettings, StandaloneRestoreResult } from "./settings";
import { armRestoreAndStart, prepareRestore, StepFailure } from "./snapshotRestore";
import type { ArmedRestore } from "./snapshotRestore";
import { NO_BUMP, outputsOf, stopFailed, verify } from "./verify";
import type { BumpDone, Verified } from "./verify";

/** A failure, annotated with the phase it happened in and what was kept. */
function phaseError(phase: string, e: unknown, s: RestoreSettings, host: string, extra = ""): EtcdStandbyError {
  const code: EtcdStandbyErrorCode = isEtcdStandbyError(e) ? e.code : "Refused";
  const why = isEtcdStandbyError(e) ? e.message : describeError(e);
  return new EtcdStandbyError(
    code,
    `standalone restore on ${host} failed during ${phase}: ${why}${extra}\nKept: the learner's data dir ${s.learner.dataDir} (never changed), the learner container ${s.learner.containerName}, and what was recorded about it in ${recordFile(s)}`,
    "fix the cause above and run pulumi up again: the next attempt moves this attempt's leftovers aside (renamed, not deleted) and starts over from the learner's db",
    { host, member: s.newMemberName },
  );
}

/** One create: what it works with, and what each phase leaves for the phases after it. */
interface RestoreRun {
  readonly s: RestoreSettings;
  readonly ssh: SshSession;
  readonly conn: ClusterConnectionArgs;
  readonly when: string;
  readonly began: number;
  readonly t: PhaseTimings;
  /** Set when the run fails: work beside the guard stops at its next step. */
  readonly abort: AbortFlag;
  /** Reads of the learner (its status, key counts) for the guard and the record. */
  readonly reads: MemberReads;
  /** Whether the learner runs, once the preflight has looked (the guard waits for it before its verdict). */
  readonly learnerRunning: Promise<boolean>;
  readonly learnerRunsNow: (running: boolean) => void;
  /** What the preflight found when it passes; undefined when it refused or adopted (the record waits for it only at its end). */
  readonly preflightSeen: Promise<Extract<Preflight, { kind: "go" }> | undefined>;
  readonly preflightDone: (go: Extract<Preflight, { kind: "go" }> | undefined) => void;
  /** The new cluster's token (given, or made now). */
  readonly token: string;
  adopted?: StandaloneRestoreResult;
  go?: Extract<Preflight, { kind: "go" }>;
  guardRisks: string[];
  /** The image's version, read beside the guard from the create's first moment. */
  firstVersion?: Settled<EtcdVersion>;
  recordDirReady: boolean;
  setAside: string[];
  rec?: RestoreRecord;
  /** How long the image's version read took. */
  imageMs: number;
  version?: EtcdVersion;
  /** The stop's command, opened on the host once the preflight passed; released by the stop phase, held otherwise. */
  armedStop?: ArmedStop;
  /** The restore's command, opened beside the stop; released with the stop's record. */
  armedRestore?: ArmedRestore;
  /** True when an earlier attempt stopped the learner and its record is reused. */
  stopSkipped: boolean;
  stopped?: Stopped;
  tool: string;
  /** The revision bump the restore asked for, and what its tool said of it. */
  bump: BumpDone;
  verified?: Verified;
}

/** What an earlier phase left; it is there, since the runner starts a phase only after those it waits on. */
function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`internal: ${what} is not known yet`);
  return v;
}

type RestorePhaseId = "guard" | "preflight" | "record" | "version" | "cleanup" | "image" | "saveRecord" | "prepare" | "stop" | "restore" | "verify";

/**
 * The create's phases, in the order they start. Each starts as soon as what
 * it waits on (`after`) has succeeded; `awaited` is the step at which its
 * failure is reported (the order the phases ran in before they overlapped;
 * phases of one step settle together). `timedAs` is its key in `phaseMs`.
 * Nothing that changes the host waits on less than the guard's verdict.
 */
export const RESTORE_PHASES: readonly Phase<RestoreRun, RestorePhaseId>[] = [
  // At once: the guard (reads only) beside the preflight; the guard's verdict waits for the preflight's look at the learner.
  { id: "guard", name: "the split-brain guard", timedAs: "guard", after: [], awaited: 1, run: async (c) => {
    try {
      c.guardRisks = await guardFirst(guard(c.s, c.conn, c.ssh, c.reads, c.learnerRunning, c.abort), [], c.abort);
    } catch (e) {
      // A refusal ends the run at once: what runs beside it stops at its next step, and nothing after the guard starts.
      c.abort.aborted = true;
      throw e;
    }
  } },
  { id: "preflight", name: "the preflight", after: [], awaited: 0, ends: (c) => c.adopted !== undefined, run: async (c) => {
    let pre: Preflight;
    try {
      pre = await preflight(c.ssh, c.s, c.conn, c.began);
    } catch (e) {
      c.abort.aborted = true;
      c.learnerRunsNow(false);
      c.preflightDone(undefined);
      throw e;
    }
    if (pre.kind === "adopted") {
      c.abort.aborted = true;
      c.learnerRunsNow(false);
      c.preflightDone(undefined);
      c.adopted = pre.outs;
      return;
    }
    c.go = pre;
    c.recordDirReady = pre.recordDir === "empty-dir" || pre.recordDir === "non-empty-dir";
    // The stop's command is opened now, waiting on the host for its go (after the guard's verdict): none of it runs before.
    if (!c.abort.aborted) c.armedStop = armStop(c.ssh, c.s);
    c.learnerRunsNow(pre.learner.running);
    c.preflightDone(pre);
  } },
  // At once too, beside the guard and the preflight (reads only): the learner's applied index sampled until it
  // settles, its keys counted; the preflight's look at its container is waited for only at the end. A learner
  // stopped by an earlier attempt is not read: that attempt's record is reused.
  { id: "record", name: "recording the learner", timedAs: "record", after: [], awaited: 3, ms: (c, own) => (c.go?.reused !== undefined ? (c.rec?.recordMs ?? 0) : own), run: async (c) => {
    const sampling = recordLearner(c.reads, c.ssh, c.s, c.preflightSeen.then((go) => go?.learner), c.token, c.abort);
    sampling.catch(() => undefined);
    const go = await c.preflightSeen;
    // The preflight refused or adopted: its own outcome is reported (step 0), this one never is.
    if (go === undefined) throw new Error("the preflight did not pass");
    if (go.reused !== undefined) {
      c.rec = go.reused;
      return;
    }
    try {
      c.rec = await sampling;
    } catch (e) {
      // A running learner that does not answer (restarted without a leader, or hung): recorded from its data.
      if (!(e instanceof LearnerSilent) || !go.learner.running) throw e;
      throwIfAborted(c.abort, "recording the learner");
      c.rec = await recordOffline(c.ssh, c.s, go.learner.id, c.token, e.why);
    }
  } },
  // At once, beside the guard: the image's version in a throwaway container of this read's own name (no leftover holds it).
  { id: "version", name: "checking the image", after: [], awaited: 4, run: async (c) => {
    c.firstVersion = await settle(imageVersion(c.ssh, c.s), Date.now());
  } },
  { id: "image", name: "checking the image", timedAs: "image", after: ["version", "record"], awaited: 5, ms: (c) => c.imageMs, run: async (c) => {
    const imaged = need(c.firstVersion, "the image's version");
    if (!imaged.ok) throw imaged.error;
    c.imageMs = imaged.ms;
    c.version = checkImageVersion(c.ssh, need(c.rec, "the record"), imaged.value);
  } },
  // The image has its version (so it is on the host) and the guard has passed: from here on the host may change.
  { id: "cleanup", name: "cleanup of an earlier attempt", timedAs: "cleanup", after: ["guard", "preflight", "image"], awaited: 6, run: async (c) => {
    c.setAside = await cleanupLeftovers(c.ssh, c.s, c.when, need(c.go, "the preflight").leftovers);
  } },
  // The record is kept on the host beside the stop (what was recorded, should the stop fail); the stop's record follows it.
  // Done by the attempt that stopped the learner when its record is reused (its record and stop times are reported).
  { id: "saveRecord", name: "stopping the learner", after: ["image", "cleanup"], awaited: 9, run: async (c) => {
    if (need(c.go, "the preflight").reused !== undefined) return;
    // Before the stop starts (it starts next): the stop's record carries the record's time.
    c.rec = { ...need(c.rec, "the record"), recordMs: c.t.record };
    await writeRecord(c.ssh, c.s, c.rec, c.recordDirReady);
  } },
  // What the restore needs that does not wait for the stop: its staging dir, and its db readable.
  { id: "prepare", name: "the restore", after: ["image", "cleanup"], awaited: 11, run: (c) => prepareRestore(c.ssh, c.s) },
  // One remote command: the stop, then the learner's state and its db's size and mtime.
  { id: "stop", name: "stopping the learner", timedAs: "stop", after: ["image", "cleanup"], awaited: 7, ms: (c, own) => (c.stopSkipped ? (c.rec?.stopMs ?? 0) : own), run: async (c) => {
    const rec = need(c.rec, "the record");
    c.stopSkipped = !(rec.stoppedAt === undefined || need(c.go, "the preflight").learner.running);
    // The restore's command is opened beside the stop, waiting for the stop's record (two channels, one round trip each).
    c.armedRestore = armRestoreAndStart(c.ssh, c.s, rec.newClusterToken, need(c.version, "the image's version"), restoredEtcdContainer(c.s, rec.newClusterToken), !c.stopSkipped);
    const stop = need(c.armedStop, "the stop's command");
    if (c.stopSkipped) stop.hold();
    else c.stopped = await stop.go();
  } },
  // One remote command: the stop's record kept on the host, the restore moved into place, the restored etcd started
  // (`start` is its docker run, from the host's clock; `restore` the rest, the round trip included).
  { id: "restore", name: "the restore", timedAs: "restore", after: ["stop", "prepare", "saveRecord"], awaited: 12, ms: (c, own) => Math.max(0, own - c.t.start), run: async (c) => {
    // The record as saved beside the stop (with the record's time), and the stop's facts and time.
    const recorded = need(c.rec, "the record");
    // A learner recorded offline: its db's revision, now that it is stopped and flushed.
    const revision = !c.stopSkipped && recorded.offline !== undefined ? { learnerRevision: await readDbRevision(c.ssh, c.s, need(c.version, "the image's version")) } : {};
    const stopped: RestoreRecord | undefined = c.stopSkipped ? undefined : { ...recorded, ...revision, ...need(c.stopped, "the stop"), stopMs: c.t.stop };
    const rec = stopped ?? need(c.rec, "the record");
    const done = await need(c.armedRestore, "the restore's command").go(stopped === undefined ? undefined : recordText(stopped));
    c.rec = rec;
    c.tool = done.tool;
    c.bump = { asked: done.bumpAsked, seen: done.bump };
    // Without the host's clock (no `date +%s%N`), the start is not told apart: all of it is the restore's.
    c.t.start = done.startMs ?? 0;
  } },
  // While it serves: `serving` is when it first led itself.
  { id: "verify", name: "verification", timedAs: "verify", after: ["restore"], awaited: 14, run: async (c) => {
    c.verified = await verify(c.ssh, c.s, c.conn, need(c.rec, "the record"), Date.now() + c.s.timeoutMs, () => {
      c.t.serving = Date.now() - c.began;
    }, c.bump);
  } },
];

/**
 * The create: {@link RESTORE_PHASES} run, all through the provider's etcd
 * client where it reaches the learner's client URL. A refusal of the guard
 * stands as it is; any other failure names its phase and what was kept; a
 * failed verification also stops the restored etcd and shows its log.
 */
export async function restore(props: Props): Promise<StandaloneRestoreResult> {
  const began = Date.now();
  const s = restoreSettings(props);
  const host = hostOf(props);
  const conn = clusterOf(props);
  const when = stamp();
  return withSsh(host, (ssh) => withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: MEMBER_READ_MS }, async (learnerEtcd) => {
    const abort: AbortFlag = { aborted: false };
    let learnerRunsNow: (running: boolean) => void = () => undefined;
    const learnerRunning = new Promise<boolean>((resolve) => (learnerRunsNow = resolve));
    let preflightDone: (go: Extract<Preflight, { kind: "go" }> | undefined) => void = () => undefined;
    const preflightSeen = new Promise<Extract<Preflight, { kind: "go" }> | undefined>((resolve) => (preflightDone = resolve));
    const c: RestoreRun = {
      s,
      ssh,
      conn,
      when,
      began,
      t: zeroTimings(),
      abort,
      reads: new MemberReads(ssh, s, s.learner.containerName, learnerEtcd, "the learner", learnerRunning, abort),
      learnerRunning,
      learnerRunsNow,
      preflightSeen,
      preflightDone,
      token: s.newClusterToken ?? defaultToken(when),
      guardRisks: [],
      recordDirReady: false,
      setAside: [],
      imageMs: 0,
      stopSkipped: false,
      tool: "",
      bump: NO_BUMP,
    };
    const run = runPhases(RESTORE_PHASES, c, c.t);
    try {
      if (await run.done) return need(c.adopted, "the adopted restore");
    } catch (e) {
      // Commands still waiting on the host for their go end unreleased: they change nothing.
      c.armedStop?.hold();
      c.armedRestore?.hold();
      if (!(e instanceof PhaseFailure)) throw e;
      const failure = e as PhaseFailure<RestorePhaseId>;
      // A step of a phase that runs several (the restore and the start: one remote command) names its own.
      const phase = failure.error instanceof StepFailure ? { ...failure.phase, name: failure.error.phaseName } : failure.phase;
      const error = failure.error instanceof StepFailure ? failure.error.error : failure.error;
      // The preflight's refusals say themselves that nothing was changed (once the version read's throwaway container is gone).
      if (phase.id === "preflight") {
        await run.settled("version");
        throw error;
      }
      if (phase.id === "verify") {
        const log = await stopFailed(ssh, s);
        const causes = diagnose(log);
        throw phaseError(
          phase.name,
          error,
          s,
          host.host,
          (causes.length ? `\nLikely cause: ${causes.join("; or ")}` : "") +
            (log ? `\nFrom the restored etcd's log:\n${logExcerpt(log)}` : "") +
            `\nThe restored container ${s.containerName} was stopped (restart policy cleared) and is kept for inspection with ${s.restoreDataDir}`,
        );
      }
      abort.aborted = true;
      // The guard changes nothing: its refusal stands as it is, once the image check's throwaway
      // container is gone (a --version run: about a second at most; the record is not waited for).
      if (phase.id === "guard" && isEtcdStandbyError(error, "QuorumRisk")) {
        await run.settled("version");
        throw error;
      }
      throw phaseError(phase.name, error, s, host.host);
    }
    const recorded = need(c.rec, "the record");
    const v = need(c.verified, "the verification");
    // Offline, the learner's keys could not be counted: the restored keyspace's count (at its own revision) stands for them.
    const done: RestoreRecord = { ...recorded, ...(recorded.offline !== undefined ? { keysBefore: v.keysAfter } : {}), verified: true, newClusterId: v.clusterId, newMemberId: v.memberId, restoredRevision: v.restoredRevision, keysAfter: v.keysAfter, bumpApplied: v.bumpApplied };
    await writeRecord(ssh, s, done, true);
    c.t.total = Date.now() - began;
    progress(WHAT, `done: cluster ${v.clusterId}, member ${s.newMemberName} (${v.memberId}) at ${s.learner.clientURL}; phases (ms) ${JSON.stringify(c.t)}`);
    const learner: ContainerState = need(c.go, "the preflight").learner;
    return outputsOf(s, done, v, { adopted: false, reusedRecord: !learner.running, phaseMs: c.t, restoreTool: c.tool, guardRisks: c.guardRisks, setAside: c.setAside });
  }));
}
