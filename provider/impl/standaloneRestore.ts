/**
 * EtcdStandaloneRestore: when site A is gone, the site-B learner becomes a new
 * one-member cluster (the seed's restore section, automated).
 *
 * create (after a preflight that changes nothing: no foreign container under
 * `containerName`, the image and the TLS files on the host; its reads run on
 * parallel SSH channels):
 * 1. guard (changes nothing), from the create's first moment, beside the
 *    preflight: refuses while any old site-A voter answers a status call, a
 *    leader is seen, or the learner still receives entries, unless `force`
 *    (then a warning names the split-brain risk). The learner is watched for
 *    about two heartbeats; each voter's status calls end with that window (a
 *    silent, blackholed voter costs the window, not the connection timeout);
 * 2. record, beside the guard once the preflight has passed (reads only,
 *    serializable, through the provider's etcd client at the learner's client
 *    URL, else etcdctl inside its container): applied and committed index,
 *    revision, key count, once its applied index stops moving; aborted when
 *    the guard refuses. The image's etcd version (a throwaway container) is
 *    read beside it too, and checked against the learner's;
 *    nothing below starts before the guard's verdict:
 * 3. cleanup of what a failed earlier attempt left (looked at in the
 *    preflight): its restored container is stopped and renamed
 *    `<name>-failed-<stamp>`, its data and staging dirs are renamed
 *    `.failed-<stamp>`; nothing is deleted, and the learner's own data dir is
 *    never touched. The record is then kept on the host so a retry after the
 *    learner was stopped can reuse it;
 * 4. stop: the learner's restart policy is cleared and it is stopped
 *    gracefully (its bbolt db is flushed); the container and data dir stay;
 * 5. restore: `snapshot restore --skip-hash-check` of `<dataDir>/member/snap/db`
 *    with etcdctl (3.4/3.5) or etcdutl (3.6+), chosen by the image's etcd
 *    version, in a `docker run --rm --network none` of the image with the db's
 *    folder read-only, into a staging dir moved into place when complete (the
 *    stop's record is written beside it, before the start);
 * 6. start: a one-member cluster in a container named `etcd` (restart always,
 *    host network, the same mTLS files, `--initial-cluster-state=new`);
 * 7. verify, through the provider's etcd client from outside the host: it
 *    leads itself (from then on it serves clients: verification does not hold
 *    them back), exactly one member, restored revision >= the learner's, as
 *    many keys as the learner held (counted at the learner's revision, so
 *    clients' first writes do not change it), writable (a probe
 *    put/get/delete). A failure stops the new container and says what is
 *    kept; a new create after fixing the cause converges.
 *
 * The first election of the restored member: etcd fast-forwards a single
 * member's election ticks to one short of the election timeout, and raft's
 * randomised timeout is 1 to 2 election timeouts, so it still waits 1 to
 * electionTicks ticks (0.5 to 5 s with RKE's 500/5000 ms), as the seed's
 * commands do. Its timing stays RKE's: a shorter one would have to be undone
 * by a restart before rebuild mode adds members to it.
 *
 * A verified restore found by create (state lost, or a replacement) is adopted
 * and never redone: it may already hold new writes. read reports health and
 * the cluster ID; delete changes nothing.
 */
import { containerLogsTail, execInContainer, imageExists, inspectState, removeContainer, renameContainer, runContainer, runOneShot, setRestartPolicy, stopContainer, stopForGood } from "../connection/docker";
import type { ContainerState } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { ClusterConnectionArgs, EtcdSession } from "../connection/etcd";
import { archivePath, fileReadable, fileStat, makeDir, pathState, readPublicFile, removeEmptyDir, writeFileAtomic } from "../connection/hostfs";
import { withSsh } from "../connection/ssh";
import type { SshSession } from "../connection/ssh";
import type { PathState } from "../connection/hostfs";
import { refusedExtraFlags } from "../lib/etcdFlags";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import type { EtcdStandbyErrorCode } from "../lib/errors";
import { diagnose, logExcerpt } from "../lib/logs";
import { NO_LEADER, sameUrl } from "../lib/members";
import { sleep } from "../lib/time";
import { validateAbsolutePath, validateClientUrl, validateContainerName, validateEach, validateExtraFlag, validateImage, validateMemberName } from "../lib/validate";
import { checkCluster, checkHost, checkLearnerRef, checkRaftTimings, clusterOf, hasUnknown, hostOf, learnerConnectionChanged, learnerReplaces, positiveInt, Problems, progress, sameValue, stamp } from "./common";
import type { ProviderImpl, Props } from "./common";
import { MANAGED_LABEL } from "./learnerSpec";
import {
  combineProbeAttempts,
  COUNT_ALL_ARGS,
  countPrefixArgs,
  ctlStatusOf,
  decideGuard,
  defaultToken,
  dirOf,
  etcdctlArgs,
  failedBackProblems,
  firstFailure,
  growingPeers,
  guardFirst,
  guardWindowMs,
  isNameConflict,
  learnerVersionProblem,
  parseCtlCount,
  parseCtlStatus,
  parsePeerMembers,
  parsePeerReceivedBytes,
  parseRecord,
  pathConflicts,
  PROBE_KEY,
  probeSchedule,
  recordFile,
  recordUnusable,
  RESTORE_MANAGED_VALUE,
  RESTORE_TOOL_CONTAINER,
  RESTORE_TOOL_VALUE,
  restoredEtcdContainer,
  restoreSettings,
  restoreTool,
  restoreToolContainer,
  settle,
  stagingDir,
  STATUS_ARGS,
  throwIfAborted,
  TOKEN_LABEL,
  toolFailureExcerpt,
  verifyRestore,
} from "./standaloneRestoreSpec";
import { imageEtcdVersion } from "./imageVersion";
import { LOCK_PREFIX } from "./clusterLock";
import type { EtcdVersion } from "../lib/versions";
import type { AbortFlag, CtlStatus, LearnerMotion, PhaseTimings, ProbeAttempt, RestoreRecord, RestoreSettings, VoterProbe } from "./standaloneRestoreSpec";

const WHAT = "EtcdStandaloneRestore";
/** Flags the restored etcd's command line sets itself. */
const MANAGED_FLAGS = [
  "name", "data-dir", "initial-advertise-peer-urls", "listen-peer-urls", "advertise-client-urls", "listen-client-urls",
  "initial-cluster", "initial-cluster-state", "initial-cluster-token", "trusted-ca-file", "cert-file", "key-file",
  "peer-trusted-ca-file", "peer-cert-file", "peer-key-file", "client-cert-auth", "peer-client-cert-auth",
  "heartbeat-interval", "election-timeout", "force-new-cluster",
];

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

/** Deadline of each read of the learner (or the restored member) through the provider's etcd client. */
const MEMBER_READ_MS = 5_000;
/** Deadline of each status call while waiting for the restored member to lead, and of each verification call. */
const VERIFY_CALL_MS = 5_000;
/** How often the restored member is asked whether it leads, and how often its container is inspected meanwhile. */
const HEALTH_POLL_MS = 100;
const CRASH_CHECK_MS = 1_000;
/** The throwaway containers of a restore: `snapshot restore`, and the image's `etcd --version`. */
const TOOL_NAMES = [RESTORE_TOOL_CONTAINER, `${RESTORE_TOOL_CONTAINER}-version`];

/** etcdctl inside a container (the host's TLS files are mounted there at the same paths). */
async function ctl(ssh: SshSession, container: string, s: RestoreSettings, args: string[], allowFailure = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return execInContainer(ssh, container, etcdctlArgs(dirOf(s.etcdBinary), s.learner.clientURL, s.learner.tls, args), {
    env: { ETCDCTL_API: "3" },
    timeoutMs: 30_000,
    allowFailure,
  });
}

async function statusVia(ssh: SshSession, container: string, s: RestoreSettings): Promise<CtlStatus> {
  const r = await ctl(ssh, container, s, STATUS_ARGS);
  try {
    return parseCtlStatus(r.stdout);
  } catch (e) {
    throw new EtcdStandbyError("RemoteCommandFailed", `could not read the status of ${s.learner.clientURL} via ${container}: ${describeError(e)}`, "check etcdctl in the container", { host: ssh.host });
  }
}

/** A key count: the store's current revision, the keys (less etcd-standby's lock keys), the member that answered. */
interface KeyCount {
  revision: number;
  count: number;
  memberId: string;
}

/**
 * The key count, less etcd-standby's lock keys (a lock held at the cut expires
 * with its lease after the restore), at revision `atRevision` when given (the
 * restored keyspace as the learner had it, whatever clients such as the host's
 * own kube-apiserver have written since); `revision` is always the current one.
 * Through etcdctl in the container: the fallback of {@link MemberReads}.
 */
async function countVia(ssh: SshSession, container: string, s: RestoreSettings, atRevision?: number): Promise<KeyCount> {
  const parse = (stdout: string): ReturnType<typeof parseCtlCount> => {
    try {
      return parseCtlCount(stdout);
    } catch (e) {
      throw new EtcdStandbyError("RemoteCommandFailed", `could not count the keys at ${s.learner.clientURL} via ${container}: ${describeError(e)}`, "check etcdctl in the container", { host: ssh.host });
    }
  };
  // At a revision the store has not reached (a stale db) etcd refuses: then the current count stands, and the verdict says "behind".
  const [now, locksNow, atRev, locksAtRev] = await Promise.all([
    ctl(ssh, container, s, COUNT_ALL_ARGS),
    ctl(ssh, container, s, countPrefixArgs(LOCK_PREFIX)),
    atRevision === undefined ? undefined : ctl(ssh, container, s, countPrefixArgs("", atRevision), true),
    atRevision === undefined ? undefined : ctl(ssh, container, s, countPrefixArgs(LOCK_PREFIX, atRevision), true),
  ]);
  const current = parse(now.stdout);
  if (atRev?.code === 0 && locksAtRev?.code === 0) return { ...current, count: parse(atRev.stdout).count - parse(locksAtRev.stdout).count };
  let held = parse(locksNow.stdout).count;
  // Rarely any: then counted again at exactly the total's revision.
  if (held > 0) held = parse((await ctl(ssh, container, s, countPrefixArgs(LOCK_PREFIX, current.revision))).stdout).count;
  return { ...current, count: current.count - held };
}

/** {@link countVia}'s count through the provider's etcd client (serializable reads: a learner serves them). */
async function countWith(e: EtcdSession, atRevision?: number): Promise<KeyCount> {
  const serializable = true;
  const [now, locksNow, atRev, locksAtRev] = await Promise.all([
    e.rangeCount("", { serializable }),
    e.rangeCount(LOCK_PREFIX, { serializable }),
    atRevision === undefined ? undefined : e.rangeCount("", { serializable, revision: atRevision }).catch(() => undefined),
    atRevision === undefined ? undefined : e.rangeCount(LOCK_PREFIX, { serializable, revision: atRevision }).catch(() => undefined),
  ]);
  const current = { revision: now.revision, memberId: now.memberId };
  if (atRev !== undefined && locksAtRev !== undefined) return { ...current, count: atRev.count - locksAtRev.count };
  let held = locksNow.count;
  if (held > 0) held = (await e.rangeCount(LOCK_PREFIX, { serializable, revision: now.revision })).count;
  return { ...current, count: now.count - held };
}

/**
 * Status and key counts of the member serving at the learner's client URL:
 * through the provider's etcd client (one connection, a few ms a read) while
 * it reaches the endpoint; after its first failure, through `docker exec ...
 * etcdctl` in `container` on the host, as before (about 170 ms a read here),
 * but only once `runs` says the container runs, and never after `abort`.
 */
class MemberReads {
  private fellBack = false;

  public constructor(
    private readonly ssh: SshSession,
    private readonly s: RestoreSettings,
    private readonly container: string,
    private readonly etcd: EtcdSession,
    private readonly what: string,
    private readonly runs: Promise<boolean> = Promise.resolve(true),
    private readonly abort: AbortFlag = { aborted: false },
  ) {}

  private async read<T>(client: (e: EtcdSession) => Promise<T>, viaCtl: () => Promise<T>): Promise<T> {
    if (!this.fellBack) {
      try {
        return await client(this.etcd);
      } catch (e) {
        if (this.abort.aborted || !(await this.runs)) throw e;
        if (!this.fellBack) {
          this.fellBack = true;
          const why = isEtcdStandbyError(e) ? e.summary : describeError(e);
          progress(WHAT, `${this.what}: the etcd client could not read ${this.s.learner.clientURL} from here (${why.slice(0, 200)}); reading through etcdctl in ${this.container} on ${this.ssh.host} instead`);
        }
      }
    }
    throwIfAborted(this.abort, this.what);
    return viaCtl();
  }

  public status(): Promise<CtlStatus> {
    return this.read(async (e) => ctlStatusOf(await e.status()), () => statusVia(this.ssh, this.container, this.s));
  }

  public count(atRevision?: number): Promise<KeyCount> {
    return this.read((e) => countWith(e, atRevision), () => countVia(this.ssh, this.container, this.s, atRevision));
  }
}

async function readRecord(ssh: SshSession, s: RestoreSettings): Promise<RestoreRecord | undefined> {
  return parseRecord(await readPublicFile(ssh, recordFile(s)));
}

async function writeRecord(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord, dirExists = false): Promise<void> {
  if (!dirExists) await makeDir(ssh, dirOf(recordFile(s)));
  await writeFileAtomic(ssh, recordFile(s), `${JSON.stringify(rec, null, 2)}\n`);
}

function isOurs(info: ContainerState): boolean {
  return info.exists && info.labels[MANAGED_LABEL] === RESTORE_MANAGED_VALUE;
}

/** Which of `files` are missing or unreadable on the host: one command for all (paths that are not clean absolute ones are checked one by one, which refuses them). */
async function unreadableFiles(ssh: SshSession, files: string[]): Promise<string[]> {
  const clean = files.filter((f) => validateAbsolutePath(f, "file", { allowRoot: false }).length === 0);
  const others = files.filter((f) => !clean.includes(f));
  const [r, one] = await Promise.all([
    clean.length === 0 ? undefined : ssh.run(["sh", "-c", 'for f in "$@"; do test -r "$f" || printf "%s\\n" "$f"; done', "sh", ...clean]),
    Promise.all(others.map(async (f) => ((await fileReadable(ssh, f)) ? undefined : f))),
  ]);
  const bad = new Set([...(r?.stdout.split("\n").filter((l) => l !== "") ?? []), ...one.filter((f): f is string => f !== undefined)]);
  return files.filter((f) => bad.has(f));
}

/**
 * The voters' client URLs as the learner itself last knew them: its peer
 * port's `/members` (the membership it applied, the truth at the moment of
 * the cut), asked on its own host with its own certificate (etcd checks that a
 * peer certificate names the address it connects from, and a learner refuses
 * the MemberList RPC). So a typo in the config's site-A addresses cannot hide
 * a live voter from the guard. Needs curl on the host; without it, says so.
 * curl's own deadline bounds it (the learner is local: it answers in ms).
 */
async function votersPerLearner(ssh: SshSession, s: RestoreSettings, maxTimeS: number): Promise<{ endpoints: string[]; note: string }> {
  const t = s.learner.tls;
  const r = await ssh
    .run(["curl", "-sS", "--http1.1", "--max-time", String(maxTimeS), "--cacert", t.caFile, "--cert", t.certFile, "--key", t.keyFile, `${s.learner.peerURL}/members`], { allowFailure: true, timeoutMs: maxTimeS * 1000 + 5_000 })
    .catch((e: unknown) => ({ code: -1, stdout: "", stderr: describeError(e) }));
  const members = r.code === 0 ? parsePeerMembers(r.stdout) : undefined;
  if (!members) return { endpoints: [], note: `the learner's member list could not be read on ${ssh.host} (${(r.stderr || r.stdout).trim().slice(0, 200)}), so only the config's voters were probed` };
  const voters = members.filter((m) => !m.isLearner);
  return {
    endpoints: voters.flatMap((m) => m.clientURLs).filter((u) => u.startsWith("https://") && validateClientUrl(u).length === 0),
    note: `the learner lists voters ${voters.map((m) => `${m.name || m.id} (${m.clientURLs.join(", ")})`).join(", ") || "none"}`,
  };
}

/** The learner's metrics (its client URL, the provider's own client certificate): peer bytes received so far. */
async function peerBytes(conn: ClusterConnectionArgs, s: RestoreSettings): Promise<Record<string, number> | undefined> {
  try {
    return parsePeerReceivedBytes(await withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: MEMBER_READ_MS }, (e) => e.metricsOf(s.learner.clientURL)));
  } catch {
    return undefined;
  }
}

/**
 * One old voter, probed within the guard's window ({@link probeSchedule}):
 * each status call has its own deadline, so a silent (blackholed) voter costs
 * the window, not the connection's timeoutMs.
 */
async function probeVoter(conn: ClusterConnectionArgs, endpoint: string, windowMs: number): Promise<VoterProbe> {
  let answered = false;
  const attempts = await Promise.all(
    probeSchedule(windowMs).map(async ({ delayMs, deadlineMs }): Promise<ProbeAttempt | undefined> => {
      if (delayMs > 0) await sleep(delayMs);
      if (answered) return undefined;
      try {
        const st = await withEtcd({ ...conn, endpoints: [endpoint], timeoutMs: deadlineMs }, (e) => e.statusOf(endpoint));
        answered = true;
        return { answered: true, leaderId: st.leaderId };
      } catch (e) {
        return { answered: false, error: isEtcdStandbyError(e) ? e.summary : describeError(e), timedOut: isEtcdStandbyError(e, "Timeout") };
      }
    }),
  );
  return combineProbeAttempts(endpoint, attempts.filter((a): a is ProbeAttempt => a !== undefined));
}

/**
 * Phase 1: is the old cluster gone? Reads only. Starts with the create,
 * before the preflight has said whether the learner runs (`learnerRunning`):
 * the old voters are probed and the learner is watched for about two
 * heartbeats ({@link guardWindowMs}), while the voters the learner lists are
 * asked for; a stopped learner's watch and list are then dropped.
 */
async function guard(s: RestoreSettings, conn: ClusterConnectionArgs, ssh: SshSession, reads: MemberReads, learnerRunning: Promise<boolean>, abort: AbortFlag): Promise<string[]> {
  const windowMs = guardWindowMs(s.heartbeatMs);
  // The voters the learner knows are probed with the config's, while the learner is watched for motion: all only read.
  const configProbes = Promise.all(s.oldVoterEndpoints.map((endpoint) => probeVoter(conn, endpoint, windowMs)));
  const listed = votersPerLearner(ssh, s, Math.max(2, Math.ceil(windowMs / 1000)));
  const extraProbes = listed.then(async (perLearner) => {
    if (!(await learnerRunning)) return [];
    const extra = perLearner.endpoints.filter((u) => !sameUrl(u, s.learner.clientURL) && !s.oldVoterEndpoints.some((c) => sameUrl(c, u)));
    if (extra.length > 0 && !abort.aborted) progress(WHAT, `guard: ${perLearner.note}; also probing ${extra.join(", ")}, which the config does not list`);
    return Promise.all(extra.map((endpoint) => probeVoter(conn, endpoint, windowMs)));
  });
  const watching = (async (): Promise<LearnerMotion | undefined> => {
    try {
      const [a, bytesA] = await Promise.all([reads.status(), peerBytes(conn, s)]);
      await sleep(windowMs);
      const [b, bytesB] = await Promise.all([reads.status(), peerBytes(conn, s)]);
      const grown = bytesA && bytesB ? Object.fromEntries(growingPeers(bytesA, bytesB).map((id) => [id, bytesB[id] - (bytesA[id] ?? 0)])) : undefined;
      return { before: { raftIndex: a.raftIndex, raftTerm: a.raftTerm }, after: { raftIndex: b.raftIndex, raftTerm: b.raftTerm }, windowMs, peerBytes: grown };
    } catch {
      // A learner that does not answer cannot be recorded either; the record phase says why.
      return undefined;
    }
  })();
  const [probes, extras, watched, running] = await Promise.all([configProbes, extraProbes, watching, learnerRunning]);
  const all = [...probes, ...extras];
  const motion = running ? watched : undefined;
  const decision = decideGuard(all, motion, s.force);
  const down = all.filter((p) => !p.answered).map((p) => `${p.endpoint} (${(p.error ?? "").slice(0, 200)})`);
  if (!decision.ok) {
    throw new EtcdStandbyError(
      "QuorumRisk",
      `refusing to restore: site A may still be alive: ${decision.risks.join("; ")}. Restoring now would make a second cluster next to a live one (split brain); nothing was changed`,
      "make sure site A is really gone (powered off or fenced) and run pulumi up again; only if you are certain its voters can never serve clients again, set force: true",
      { host: ssh.host, member: s.learner.memberName },
    );
  }
  // Abandoned (the preflight refused, or adopted a verified restore): nothing to say.
  if (abort.aborted) return decision.risks;
  if (decision.warning) progress(WHAT, decision.warning);
  else progress(WHAT, `guard: none of the old voters answers within ${windowMs} ms (${down.join("; ")}); ${running ? "the learner receives nothing" : "the learner is stopped, so only the config's voters were probed"}`);
  return decision.risks;
}

/** What the preflight saw of a failed earlier attempt's leftovers (reads only), before the image check starts its own throwaway container. */
interface Leftovers {
  /** TOOL_NAMES' containers made by a restore. */
  tools: boolean[];
  /** The target container (ours: a foreign one was refused). */
  target: ContainerState;
  /** restoreDataDir and its staging dir. */
  dirs: PathState[];
}

/** Phase 3 (after the guard's verdict): set aside what a failed earlier attempt left. Never deletes, never touches the learner's data dir. */
async function cleanupLeftovers(ssh: SshSession, s: RestoreSettings, when: string, seen: Leftovers): Promise<string[]> {
  const moved: string[] = [];
  const dirs = [s.restoreDataDir, stagingDir(s)];
  for (const [i, tool] of seen.tools.entries()) {
    if (tool) await removeContainer(ssh, TOOL_NAMES[i], { force: true });
  }
  if (seen.target.exists) {
    const to = `${s.containerName}-failed-${when.toLowerCase()}`;
    progress(WHAT, `stopping and renaming ${s.containerName} left by a failed attempt to ${to}`);
    await stopForGood(ssh, s.containerName, 30);
    await renameContainer(ssh, s.containerName, to);
    moved.push(`container ${to}`);
  }
  for (const [i, dir] of dirs.entries()) {
    const st = seen.dirs[i];
    if (st === "non-empty-dir" || st === "file") {
      const { to } = await archivePath(ssh, dir, `${dir}.failed-${when}`);
      progress(WHAT, `moved ${dir} left by a failed attempt to ${to}`);
      moved.push(to);
    } else if (st === "empty-dir") {
      await removeEmptyDir(ssh, dir);
    }
  }
  return moved;
}

/**
 * Phase 2: the learner's applied index, revision and key count, once its
 * applied index stops moving. Reads only, beside the guard; stops at its next
 * step when the guard refuses (`abort`).
 */
async function recordLearner(reads: MemberReads, ssh: SshSession, s: RestoreSettings, learner: ContainerState, token: string, abort: AbortFlag): Promise<RestoreRecord> {
  const what = "recording the learner";
  const deadline = Date.now() + Math.min(s.timeoutMs, 120_000);
  let prev: CtlStatus | undefined;
  let steady = 0;
  for (;;) {
    throwIfAborted(abort, what);
    const st = await reads.status();
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
  progress(WHAT, `recorded learner ${s.learner.memberName} (${after.memberId}, etcd ${after.version}): applied index ${after.raftAppliedIndex} of committed ${after.raftIndex}, revision ${after.revision}, ${count.count} keys`);
  return {
    version: 1,
    learnerContainerId: learner.id,
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

/**
 * Phase 4: stop the learner gracefully (its bbolt db is flushed) so it never
 * comes back: `docker stop` with the restart policy cleared beside it (a
 * stopped container is not restarted by its policy; the update is done again
 * after the stop if it did not take). Returns when the container has stopped;
 * `checked` then confirms it is not running and stats its db for the record
 * (beside the restore, which only reads the db).
 */
async function stopLearner(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord): Promise<{ checked: Promise<RestoreRecord> }> {
  progress(WHAT, `stopping ${s.learner.containerName} gracefully (restart policy cleared; container and data dir kept)`);
  const policy = setRestartPolicy(ssh, s.learner.containerName, "no").then(
    () => true,
    () => false,
  );
  await stopContainer(ssh, s.learner.containerName, 60);
  if (!(await policy)) await setRestartPolicy(ssh, s.learner.containerName, "no");
  const checked = (async (): Promise<RestoreRecord> => {
    const [st, db] = await Promise.all([inspectState(ssh, s.learner.containerName), fileStat(ssh, `${s.learner.dataDir}/member/snap/db`)]);
    if (st.running) throw new EtcdStandbyError("Refused", `${s.learner.containerName} is still running after docker stop`, "stop it by hand and run pulumi up again", { host: ssh.host });
    if (db === null) throw new EtcdStandbyError("NotFound", `the learner's db ${s.learner.dataDir}/member/snap/db is missing`, "check learner.dataDir", { host: ssh.host });
    return { ...rec, stoppedAt: new Date().toISOString(), dbSize: db.size, dbMtime: db.mtime };
  })();
  checked.catch(() => undefined);
  return { checked };
}

/** The etcd version of an image (`etcd --version` in a throwaway container). */
function imageVersion(ssh: SshSession, s: RestoreSettings): Promise<EtcdVersion> {
  return imageEtcdVersion(ssh, s.image, s.etcdBinary, { name: TOOL_NAMES[1], labels: { [MANAGED_LABEL]: RESTORE_TOOL_VALUE } });
}

/** The image's etcd version checked against the learner's (recorded while it ran). */
function checkImageVersion(ssh: SshSession, rec: RestoreRecord, v: EtcdVersion): EtcdVersion {
  const problem = learnerVersionProblem(rec.learnerVersion, v);
  if (problem) throw new EtcdStandbyError("InvalidInput", problem, "use an image of the learner's etcd version (or the next minor version)", { host: ssh.host });
  return v;
}

/** Phase 5: snapshot restore into the staging dir (made, and the db checked, by `prepared`), then move it into place. */
async function restoreDb(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord, v: EtcdVersion, prepared: Promise<void>): Promise<{ tool: string; imageVersion: string }> {
  await prepared;
  const staging = stagingDir(s);
  const spec = restoreToolContainer(s, v, rec.newClusterToken);
  const tool = restoreTool(v);
  progress(WHAT, `${tool} snapshot restore ${s.sourceDb} --name=${s.newMemberName} --initial-cluster=${s.newMemberName}=${s.learner.peerURL} --initial-cluster-token=${rec.newClusterToken} --skip-hash-check (etcd ${v.text}, in ${s.image})`);
  const r = await runOneShot(ssh, spec, { timeoutMs: s.timeoutMs, allowFailure: true });
  if (r.code !== 0) {
    const out = `${r.stderr}\n${r.stdout}`.trim();
    throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore of ${s.sourceDb} exited with status ${String(r.code)}; its output says:\n${toolFailureExcerpt(out)}`, "the db may be damaged or truncated; check it (etcdutl snapshot status) or restore from another copy", { host: ssh.host });
  }
  // One command: the tool wrote a db, and the result is moved into place (never over an existing path).
  const moved = await ssh.run([
    "sh", "-c",
    'if [ ! -f "$1/member/snap/db" ]; then echo no-db; exit 0; fi; if [ -e "$2" ]; then echo "exists: $2" >&2; exit 3; fi; mv -- "$1" "$2" && echo moved',
    "sh", `${staging}/data`, s.restoreDataDir,
  ]);
  if (moved.stdout.trim() === "no-db") throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore exited 0 but wrote no ${staging}/data/member/snap/db`, "read the tool's output on the host", { host: ssh.host });
  return { tool: `${tool} ${v.text}`, imageVersion: v.text };
}

/** What verification measured. */
interface Verified {
  clusterId: string;
  memberId: string;
  restoredRevision: number;
  keysAfter: number;
  version: string;
}

/**
 * Waits for the restored member to lead itself, asking it every 100 ms
 * through the provider's etcd client (a new connection each time, so no
 * reconnect back-off delays the first answer); its container is inspected
 * every second meanwhile, to fail fast on a crash loop. When the client has
 * not reached it for 3 s, etcdctl in the container is asked as well.
 */
async function waitHealthy(ssh: SshSession, s: RestoreSettings, e: EtcdSession, deadline: number): Promise<CtlStatus> {
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
 * Phase 7: healthy (leading itself), then one member, revision and keys
 * (counted at the learner's revision, so the clients that write as soon as it
 * leads do not change the count), then a probe write: all through the
 * provider's etcd client, from outside the host. `onServing` is called when
 * the member first leads (clients can write from then on; verification does
 * not hold them back).
 */
async function verify(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, rec: RestoreRecord, deadline: number, onServing: () => void = () => undefined): Promise<Verified> {
  return withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: VERIFY_CALL_MS }, async (e) => {
    const st = await waitHealthy(ssh, s, e, deadline);
    onServing();
    const reads = new MemberReads(ssh, s, s.containerName, e, "verification");
    // Counted before the probe write (restoredRevision is the revision before it); what was restored does not move on.
    const [count, members, clusterId, status] = await Promise.all([reads.count(rec.learnerRevision), e.memberList(), e.clusterId(), e.status()]);
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
      { learnerRevision: rec.learnerRevision, keysBefore: rec.keysBefore },
      {
        healthy: status.leaderId === st.memberId && status.errors.length === 0,
        writable,
        memberNames: members.map((m) => m.name),
        restoredRevision: count.revision,
        keysAfter: count.count,
      },
      s.newMemberName,
    );
    if (!verdict.ok) {
      throw new EtcdStandbyError(
        "Refused",
        `the restored cluster did not pass verification: ${verdict.problems.join("; ")}${writeError ? ` (probe write: ${writeError})` : ""}. Learner: revision ${rec.learnerRevision}, ${rec.keysBefore} keys; restored: revision ${count.revision}, ${count.count} keys`,
        "see why above",
        { host: ssh.host },
      );
    }
    progress(WHAT, `verified: healthy, writable, one member ${s.newMemberName}, revision ${count.revision} >= ${rec.learnerRevision}, ${count.count} keys = ${rec.keysBefore}`);
    return { clusterId, memberId: st.memberId, restoredRevision: count.revision, keysAfter: count.count, version: st.version };
  });
}

async function stopFailed(ssh: SshSession, s: RestoreSettings): Promise<string> {
  try {
    const log = await containerLogsTail(ssh, s.containerName, 400).catch(() => "");
    await stopForGood(ssh, s.containerName, 30);
    return log;
  } catch {
    return "";
  }
}

function outputsOf(s: RestoreSettings, rec: RestoreRecord, v: Verified, extra: Props): Props {
  return {
    newClusterId: v.clusterId,
    newMemberId: v.memberId,
    newClusterToken: rec.newClusterToken,
    endpoint: s.learner.clientURL,
    restoredRevision: v.restoredRevision,
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
async function adopt(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, rec: RestoreRecord, began: number): Promise<Props> {
  const t0 = Date.now();
  progress(WHAT, `a verified restore already runs in ${s.containerName} (token ${rec.newClusterToken}): adopting it, changing nothing`);
  let v: Verified;
  try {
    v = await withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: VERIFY_CALL_MS }, async (e) => {
      const st = await waitHealthy(ssh, s, e, Date.now() + Math.min(s.timeoutMs, 60_000));
      const [clusterId, count] = await Promise.all([e.clusterId(), new MemberReads(ssh, s, s.containerName, e, "adoption").count()]);
      return { clusterId, memberId: st.memberId, restoredRevision: rec.restoredRevision ?? count.revision, keysAfter: rec.keysAfter ?? count.count, version: st.version };
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

/** What the preflight found: go ahead (with a reusable record when the learner was stopped earlier), or a verified restore adopted. */
type Preflight =
  | { kind: "adopted"; outs: Props }
  | { kind: "go"; learner: ContainerState; reused: RestoreRecord | undefined; leftovers: Omit<Leftovers, "dirs"> };

/** Before anything changes (reads only, on parallel channels): what is there, and what the restored etcd needs. */
async function preflight(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, began: number): Promise<Preflight> {
  const host = ssh.host;
  const [learner, target, old, imagePresent, unreadable, tools] = await Promise.all([
    inspectState(ssh, s.learner.containerName),
    inspectState(ssh, s.containerName),
    readRecord(ssh, s),
    imageExists(ssh, s.image),
    unreadableFiles(ssh, Object.values(s.learner.tls) as string[]),
    // The leftover throwaway containers, looked at before the image check starts its own.
    Promise.all(TOOL_NAMES.map((name) => inspectState(ssh, name))),
  ]);
  if (target.exists && !isOurs(target)) {
    throw new EtcdStandbyError("Refused", `container ${s.containerName} on ${host} exists and was not made by ${WHAT} (it may be RKE's etcd)`, "remove RKE's containers first (RkeContainerCleanup), or choose another containerName", { host });
  }
  if (old?.verified) {
    if (target.exists && target.labels[TOKEN_LABEL] === old.newClusterToken) return { kind: "adopted", outs: await adopt(ssh, s, conn, old, began) };
    throw new EtcdStandbyError(
      "Refused",
      `${recordFile(s)} says a restore was verified (token ${old.newClusterToken}), but its container ${s.containerName} is ${target.exists ? "another one" : "gone"}: that restore may hold writes made since, so it is not redone`,
      `start it again by hand, or, to restore afresh from the learner, move ${s.restoreDataDir} and ${recordFile(s)} away first`,
      { host },
    );
  }
  if (target.exists && target.running) {
    throw new EtcdStandbyError(
      "Refused",
      `a restored etcd made by ${WHAT} is running in ${s.containerName} on ${host}, but ${recordFile(s)} does not say it was verified: it may already serve clients, so it is not replaced automatically`,
      `check it (etcdctl endpoint status, member list); to restore again, stop it (docker update --restart=no ${s.containerName} && docker stop ${s.containerName}) and run pulumi up again: it is then set aside, not deleted`,
      { host },
    );
  }
  if (!learner.exists) {
    throw new EtcdStandbyError("NotFound", `the learner container ${s.learner.containerName} does not exist on ${host}`, "check learner.containerName; the restore starts from a learner", { host, member: s.learner.memberName });
  }
  // What the restored etcd needs, before anything is changed.
  if (!imagePresent) {
    throw new EtcdStandbyError("NotFound", `image ${s.image} is not on ${host}; nothing was changed`, `load it on the host first (docker load / docker pull ${s.image})`, { host });
  }
  for (const [field, file] of Object.entries(s.learner.tls) as [string, string][]) {
    if (unreadable.includes(file)) {
      throw new EtcdStandbyError("InvalidInput", `learner.tls.${field} ${file} is missing or unreadable on ${host}; nothing was changed`, "the restored etcd uses the learner's TLS files: fix learner.tls", { host });
    }
  }
  // A stopped learner is only usable with the record an earlier attempt kept.
  let reused: RestoreRecord | undefined;
  if (!learner.running) {
    const why = recordUnusable(old, learner.id, await fileStat(ssh, `${s.learner.dataDir}/member/snap/db`));
    if (why !== undefined) {
      throw new EtcdStandbyError(
        "Refused",
        `the learner container ${s.learner.containerName} is not running and its state cannot be recorded: ${why}`,
        `start it again (docker start ${s.learner.containerName}; a learner cannot become leader, so this is safe) and run pulumi up again`,
        { host, member: s.learner.memberName },
      );
    }
    reused = old;
    progress(WHAT, `the learner was stopped by an earlier attempt; reusing its record (revision ${old?.learnerRevision}, ${old?.keysBefore} keys, recorded ${old?.recordedAt})`);
  }
  return { kind: "go", learner, reused, leftovers: { tools: tools.map((c) => c.exists && c.labels[MANAGED_LABEL] === RESTORE_TOOL_VALUE), target } };
}

/**
 * The create. Overlapping what does not depend on each other (issue #13):
 * the guard starts at once, beside the preflight; once the preflight has
 * passed, recording the learner (reads) and the image's version check (a
 * throwaway container) run beside the guard. Nothing changes the host before
 * the guard's verdict; a refusal aborts the record and is reported at once.
 * Then the cleanup, the stop, the restore (its staging dir made beside the
 * stop, the stop's record written beside the restore), the start, and the
 * verification, all through the provider's etcd client where it reaches the
 * learner's client URL.
 */
async function restore(props: Props): Promise<Props> {
  const began = Date.now();
  const s = restoreSettings(props);
  const host = hostOf(props);
  const conn = clusterOf(props);
  const when = stamp();
  return withSsh(host, (ssh) => withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: MEMBER_READ_MS }, async (learnerEtcd) => {
    const t: PhaseTimings = { guard: 0, cleanup: 0, record: 0, image: 0, stop: 0, restore: 0, start: 0, verify: 0, serving: 0, total: 0 };
    const abort: AbortFlag = { aborted: false };
    // The guard only reads: it starts at once, beside the preflight, which says whether the learner runs.
    let learnerRunsNow: (running: boolean) => void = () => undefined;
    const learnerRunning = new Promise<boolean>((resolve) => (learnerRunsNow = resolve));
    const reads = new MemberReads(ssh, s, s.learner.containerName, learnerEtcd, "the learner", learnerRunning, abort);
    const guardStart = Date.now();
    const guarding = guard(s, conn, ssh, reads, learnerRunning, abort);
    guarding.catch(() => undefined);
    let pre: Preflight;
    try {
      pre = await preflight(ssh, s, conn, began);
    } catch (e) {
      abort.aborted = true;
      learnerRunsNow(false);
      throw e;
    }
    if (pre.kind === "adopted") {
      abort.aborted = true;
      learnerRunsNow(false);
      return pre.outs;
    }
    const { learner, reused } = pre;
    learnerRunsNow(learner.running);

    // Beside the guard (reads, and the image's version in a throwaway container): nothing that changes the host.
    const token = s.newClusterToken ?? defaultToken(when);
    const recording = settle(reused !== undefined ? Promise.resolve(reused) : recordLearner(reads, ssh, s, learner, token, abort), Date.now());
    // A leftover version container holds the name: then the check runs after the cleanup has removed it.
    const imaging = pre.leftovers.tools[1] ? undefined : settle(imageVersion(ssh, s), Date.now());
    const surveying = Promise.all([s.restoreDataDir, stagingDir(s)].map((dir) => pathState(ssh, dir)));
    const recordDirReady = pathState(ssh, dirOf(recordFile(s))).then((st) => st === "empty-dir" || st === "non-empty-dir", () => false);

    let guardRisks: string[] = [];
    let setAside: string[] = [];
    let tool = "";
    let phase = "the split-brain guard";
    let rec: RestoreRecord | undefined;
    try {
      guardRisks = await guardFirst(guarding, [recording, surveying, recordDirReady, ...(imaging ? [imaging] : [])], abort);
      t.guard = Date.now() - guardStart;
      // The guard has passed: from here on the host may change.
      phase = "cleanup of an earlier attempt";
      const leftovers: Leftovers = { ...pre.leftovers, dirs: await surveying };
      const cleaning = settle(cleanupLeftovers(ssh, s, when, leftovers), Date.now());
      const [cleaned, recorded] = await Promise.all([cleaning, recording]);
      const failed = firstFailure([
        { phase: "cleanup of an earlier attempt", result: cleaned },
        { phase: "recording the learner", result: recorded },
      ]);
      if (failed) {
        phase = failed.phase;
        throw failed.error;
      }
      if (!cleaned.ok || !recorded.ok) throw new Error("unreachable");
      setAside = cleaned.value;
      t.cleanup = cleaned.ms;
      rec = recorded.value;
      phase = "checking the image";
      let imaged = imaging ? await imaging : undefined;
      // Not run yet (a leftover held its name), or failed on a leftover of that name that the cleanup removed: once more.
      if (imaged === undefined || (!imaged.ok && isNameConflict(describeError(imaged.error)))) imaged = await settle(imageVersion(ssh, s), Date.now());
      if (!imaged.ok) throw imaged.error;
      t.image = imaged.ms;
      const version = checkImageVersion(ssh, rec, imaged.value);
      const dirReady = await recordDirReady;
      let recordSaved: Promise<void> = Promise.resolve();
      if (reused === undefined) {
        t.record = recorded.ms;
        rec = { ...rec, recordMs: t.record };
        // Kept on the host beside the stop (what was recorded, should the stop fail); the stop's record follows it.
        recordSaved = writeRecord(ssh, s, rec, dirReady);
        recordSaved.catch(() => undefined);
      } else {
        // Done by the attempt that stopped the learner: report its times.
        t.record = rec.recordMs ?? 0;
      }
      phase = "stopping the learner";
      // What the restore needs that does not wait for the stop: its staging dir, and its db readable.
      const prepared = (async (): Promise<void> => {
        const [readable] = await Promise.all([fileReadable(ssh, s.sourceDb), makeDir(ssh, stagingDir(s))]);
        if (!readable) throw new EtcdStandbyError("NotFound", `the db to restore from, ${s.sourceDb}, is missing or unreadable`, "check learner.dataDir (or sourceDb)", { host: ssh.host });
      })();
      prepared.catch(() => undefined);
      let mark = Date.now();
      let stopped: Promise<RestoreRecord>;
      if (rec.stoppedAt === undefined || learner.running) {
        const from = rec;
        const { checked } = await stopLearner(ssh, s, from);
        const stopMs = Date.now() - mark;
        t.stop = stopMs;
        // The stop's record is written beside the restore (which only reads the db); it is on the host before the restored etcd starts.
        stopped = checked.then(async (r) => {
          const withTime = { ...r, stopMs };
          await recordSaved;
          await writeRecord(ssh, s, withTime, true);
          return withTime;
        });
      } else {
        t.stop = rec.stopMs ?? 0;
        stopped = Promise.resolve(rec);
      }
      stopped.catch(() => undefined);
      mark = Date.now();
      const restoring = restoreDb(ssh, s, rec, version, prepared);
      restoring.catch(() => undefined);
      rec = await stopped;
      phase = "the restore";
      tool = (await restoring).tool;
      t.restore = Date.now() - mark;
      mark = Date.now();
      phase = "starting the restored etcd";
      const spec = restoredEtcdContainer(s, rec.newClusterToken);
      progress(WHAT, `starting ${s.containerName} on ${host.host}: one-member cluster ${s.newMemberName}=${s.learner.peerURL}, --initial-cluster-state=new, token ${rec.newClusterToken}`);
      const tidied = removeEmptyDir(ssh, stagingDir(s)).catch(() => false);
      await runContainer(ssh, spec);
      await tidied;
      t.start = Date.now() - mark;
    } catch (e) {
      abort.aborted = true;
      // The guard changes nothing: its refusal stands as it is, once the image check's throwaway
      // container is gone (a --version run: about a second at most; the record is not waited for).
      if (phase === "the split-brain guard" && isEtcdStandbyError(e, "QuorumRisk")) {
        if (imaging) await imaging;
        throw e;
      }
      throw phaseError(phase, e, s, host.host);
    }
    const recorded: RestoreRecord = rec;
    let v: Verified;
    const mark = Date.now();
    try {
      v = await verify(ssh, s, conn, recorded, Date.now() + s.timeoutMs, () => {
        t.serving = Date.now() - began;
      });
      t.verify = Date.now() - mark;
    } catch (e) {
      const log = await stopFailed(ssh, s);
      const causes = diagnose(log);
      throw phaseError(
        "verification",
        e,
        s,
        host.host,
        (causes.length ? `\nLikely cause: ${causes.join("; or ")}` : "") +
          (log ? `\nFrom the restored etcd's log:\n${logExcerpt(log)}` : "") +
          `\nThe restored container ${s.containerName} was stopped (restart policy cleared) and is kept for inspection with ${s.restoreDataDir}`,
      );
    }
    const done: RestoreRecord = { ...recorded, verified: true, newClusterId: v.clusterId, newMemberId: v.memberId, restoredRevision: v.restoredRevision, keysAfter: v.keysAfter };
    await writeRecord(ssh, s, done, true);
    t.total = Date.now() - began;
    progress(WHAT, `done: cluster ${v.clusterId}, member ${s.newMemberName} (${v.memberId}) at ${s.learner.clientURL}; phases (ms) ${JSON.stringify(t)}`);
    return outputsOf(s, done, v, { adopted: false, reusedRecord: !learner.running, phaseMs: t, restoreTool: tool, guardRisks, setAside });
  }));
}

/** Inputs recorded without touching the running cluster. */
const RECORD_ON = ["cluster", "image", "etcdBinary", "newMemberName", "newClusterToken", "containerName", "restoreDataDir", "sourceDb", "oldVoterEndpoints", "force", "heartbeatMs", "electionMs", "extraFlags", "timeoutMs", "failedBack"];

/** The provider implementation, loaded by the serialised facade. */
export const provider: ProviderImpl = {
  async check(olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkCluster(p, news.cluster);
    const h = (news.host ?? {}) as Props;
    if (news.failedBack !== undefined && !hasUnknown(news.failedBack) && typeof news.failedBack !== "boolean") p.add("failedBack", news.failedBack, ["failedBack must be true or false"]);
    p.add("failedBack", news.failedBack, failedBackProblems(olds, news));
    checkLearnerRef(p, news.learner, h.host, "to restore from", "the restore");
    p.add("image", news.image, validateImage(news.image, "image"));
    if (news.newMemberName !== undefined) p.add("newMemberName", news.newMemberName, validateMemberName(news.newMemberName, "newMemberName"));
    if (news.newClusterToken !== undefined && !hasUnknown(news.newClusterToken) && (typeof news.newClusterToken !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(news.newClusterToken))) {
      p.add("newClusterToken", news.newClusterToken, ["newClusterToken must be 1 to 64 letters, digits, \".\", \"_\" or \"-\""]);
    }
    if (news.containerName !== undefined) p.add("containerName", news.containerName, validateContainerName(news.containerName, "containerName"));
    for (const f of ["restoreDataDir", "sourceDb", "etcdBinary"]) {
      if (news[f] !== undefined) p.add(f, news[f], validateAbsolutePath(news[f], f, { allowRoot: false }));
    }
    if (news.oldVoterEndpoints !== undefined) p.add("oldVoterEndpoints", news.oldVoterEndpoints, validateEach(news.oldVoterEndpoints, "oldVoterEndpoints", validateClientUrl));
    if (news.force !== undefined && !hasUnknown(news.force) && typeof news.force !== "boolean") p.add("force", news.force, ["force must be true or false"]);
    for (const f of ["heartbeatMs", "electionMs", "timeoutMs"]) {
      if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    }
    checkRaftTimings(p, news);
    if (news.extraFlags !== undefined) {
      p.add("extraFlags", news.extraFlags, [...validateEach(news.extraFlags, "extraFlags", validateExtraFlag), ...refusedExtraFlags(news.extraFlags, MANAGED_FLAGS)]);
    }
    // Cross-field checks, once every value involved is known and valid.
    if (p.failures.length === 0 && !hasUnknown(news)) {
      const s = restoreSettings(news);
      for (const problem of pathConflicts(s)) p.add("restoreDataDir", s.restoreDataDir, [problem]);
      if (s.oldVoterEndpoints.some((e) => e === s.learner.clientURL)) {
        p.add("oldVoterEndpoints", s.oldVoterEndpoints, [`oldVoterEndpoints must not list the learner's own client URL ${s.learner.clientURL}`]);
      }
      if (s.oldVoterEndpoints.length === 0 && !s.force) {
        p.add("oldVoterEndpoints", news.oldVoterEndpoints, ["oldVoterEndpoints must list site A's voters (client URLs) so the split-brain guard can check they are gone; or set force: true"]);
      }
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    const replaces = learnerReplaces(olds, news);
    // newClusterToken is also an output (made at create when not given): only a given value counts.
    const updates = RECORD_ON.filter((f) => !sameValue(olds[f], news[f]) && !(f === "newClusterToken" && (news[f] === undefined || news[f] === null)));
    const hostChanged = learnerConnectionChanged(olds, news);
    return { changes: replaces.length + updates.length > 0 || hostChanged, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const outs = await restore(inputs);
    return { id: `standalone-restore-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, props) {
    const s = restoreSettings(props);
    let healthy = false;
    let observedClusterId = "";
    try {
      const seen = await withEtcd({ ...clusterOf(props), endpoints: [s.learner.clientURL] }, async (e) => ({ status: await e.statusOf(s.learner.clientURL), clusterId: await e.clusterId() }));
      healthy = seen.status.leaderId !== NO_LEADER && seen.status.errors.length === 0;
      observedClusterId = seen.clusterId;
    } catch {
      healthy = false;
    }
    return { id, props: { ...props, healthy, observedClusterId } };
  },

  async update(_id, olds, news) {
    progress(WHAT, "settings recorded; the restored cluster is not changed (it is never restored again over live data)");
    return { outs: { ...olds, ...news, newClusterToken: news.newClusterToken ?? olds.newClusterToken } };
  },

  async delete() {
    // Never tears down a production cluster: the restored etcd, its data dir
    // and the stopped learner stay as they are.
    progress(WHAT, "delete leaves the restored cluster, its data dir and the stopped learner as they are");
  },
};
