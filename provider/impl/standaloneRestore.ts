/**
 * EtcdStandaloneRestore: when site A is gone, the site-B learner becomes a new
 * one-member cluster (the seed's restore section, automated).
 *
 * create, in order (after a preflight that changes nothing: no foreign
 * container under `containerName`, the image and the TLS files on the host):
 * 1. guard (changes nothing): refuses while any old site-A voter answers a
 *    status call, a leader is seen, or the learner still receives entries,
 *    unless `force` (then a warning names the split-brain risk);
 * 2. cleanup of what a failed earlier attempt left: its restored container is
 *    stopped and renamed `<name>-failed-<stamp>`, its data and staging dirs
 *    are renamed `.failed-<stamp>`; nothing is deleted, and the learner's own
 *    data dir is never touched;
 * 3. record, through the learner's client URL (etcdctl inside its container,
 *    serializable): applied and committed index, revision, key count, once its
 *    applied index stops moving; kept on the host so a retry after the learner
 *    was stopped can reuse it;
 *    The image's etcd version is then checked against the learner's (same
 *    minor or the next one) while the learner still runs;
 * 4. stop: the learner's restart policy is cleared and it is stopped
 *    gracefully (its bbolt db is flushed); the container and data dir stay;
 * 5. restore: `snapshot restore --skip-hash-check` of `<dataDir>/member/snap/db`
 *    with etcdctl (3.4/3.5) or etcdutl (3.6+), chosen by the image's etcd
 *    version, in a `docker run --rm --network none` of the image with the db's
 *    folder read-only, into a staging dir moved into place when complete;
 * 6. start: a one-member cluster in a container named `etcd` (restart always,
 *    host network, the same mTLS files, `--initial-cluster-state=new`);
 * 7. verify: healthy, writable (a probe put/get/delete), exactly one member,
 *    restored revision >= the learner's, as many keys as the learner held.
 *    A failure stops the new container and says what is kept; a new create
 *    after fixing the cause converges.
 *
 * A verified restore found by create (state lost, or a replacement) is adopted
 * and never redone: it may already hold new writes. read reports health and
 * the cluster ID; delete changes nothing.
 */
import { containerLogsTail, execInContainer, imageExists, inspectState, removeContainer, renameContainer, runContainer, runOneShot, stopForGood } from "../connection/docker";
import type { ContainerState } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { ClusterConnectionArgs } from "../connection/etcd";
import { archivePath, fileReadable, fileStat, makeDir, pathState, readPublicFile, removeEmptyDir, writeFileAtomic } from "../connection/hostfs";
import { withSsh } from "../connection/ssh";
import type { SshSession } from "../connection/ssh";
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
  failedBackProblems,
  COUNT_ALL_ARGS,
  countPrefixArgs,
  decideGuard,
  growingPeers,
  parsePeerMembers,
  parsePeerReceivedBytes,
  defaultToken,
  dirOf,
  etcdctlArgs,
  learnerVersionProblem,
  looksGone,
  parseCtlCount,
  parseCtlStatus,
  parseRecord,
  pathConflicts,
  PROBE_KEY,
  recordFile,
  recordUnusable,
  RESTORE_MANAGED_VALUE,
  RESTORE_TOOL_CONTAINER,
  RESTORE_TOOL_VALUE,
  restoredEtcdContainer,
  restoreSettings,
  restoreTool,
  restoreToolContainer,
  stagingDir,
  STATUS_ARGS,
  TOKEN_LABEL,
  toolFailureExcerpt,
  verifyRestore,
} from "./standaloneRestoreSpec";
import { imageEtcdVersion } from "./imageVersion";
import { LOCK_PREFIX } from "./clusterLock";
import type { EtcdVersion } from "../lib/versions";
import type { CtlStatus, LearnerMotion, PhaseTimings, RestoreRecord, RestoreSettings, VoterProbe } from "./standaloneRestoreSpec";

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

/**
 * The key count, less etcd-standby's lock keys (a lock held at the cut expires
 * with its lease after the restore), at revision `atRevision` when given (the
 * restored keyspace as the learner had it, whatever clients such as the host's
 * own kube-apiserver have written since); `revision` is always the current one.
 */
async function countVia(ssh: SshSession, container: string, s: RestoreSettings, atRevision?: number): Promise<{ revision: number; count: number; memberId: string }> {
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

async function readRecord(ssh: SshSession, s: RestoreSettings): Promise<RestoreRecord | undefined> {
  return parseRecord(await readPublicFile(ssh, recordFile(s)));
}

async function writeRecord(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord): Promise<void> {
  await makeDir(ssh, dirOf(recordFile(s)));
  await writeFileAtomic(ssh, recordFile(s), `${JSON.stringify(rec, null, 2)}\n`);
}

function isOurs(info: ContainerState): boolean {
  return info.exists && info.labels[MANAGED_LABEL] === RESTORE_MANAGED_VALUE;
}

/**
 * The voters' client URLs as the learner itself last knew them: its peer
 * port's `/members` (the membership it applied, the truth at the moment of
 * the cut), asked on its own host with its own certificate (etcd checks that a
 * peer certificate names the address it connects from, and a learner refuses
 * the MemberList RPC). So a typo in the config's site-A addresses cannot hide
 * a live voter from the guard. Needs curl on the host; without it, says so.
 */
async function votersPerLearner(ssh: SshSession, s: RestoreSettings, learnerRunning: boolean): Promise<{ endpoints: string[]; note: string }> {
  if (!learnerRunning) return { endpoints: [], note: "the learner is stopped, so only the config's voters were probed" };
  const t = s.learner.tls;
  const r = await ssh
    .run(["curl", "-sS", "--http1.1", "--max-time", "3", "--cacert", t.caFile, "--cert", t.certFile, "--key", t.keyFile, `${s.learner.peerURL}/members`], { allowFailure: true, timeoutMs: 10_000 })
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
    return parsePeerReceivedBytes(await withEtcd({ ...conn, endpoints: [s.learner.clientURL] }, (e) => e.metricsOf(s.learner.clientURL)));
  } catch {
    return undefined;
  }
}

/** Phase 1: is the old cluster gone? Reads only. */
async function guard(s: RestoreSettings, conn: ClusterConnectionArgs, ssh: SshSession, learnerRunning: boolean): Promise<string[]> {
  // The voters the learner knows are probed with the config's, while the learner is watched for motion: all only read.
  const probeVoters = (endpoints: string[]): Promise<VoterProbe[]> => Promise.all(
    endpoints.map(async (endpoint): Promise<VoterProbe> => {
      try {
        const st = await withEtcd({ ...conn, endpoints: [endpoint] }, (e) => e.statusOf(endpoint));
        return { endpoint, answered: true, leaderId: st.leaderId };
      } catch (e) {
        const error = isEtcdStandbyError(e) ? e.summary : describeError(e);
        return { endpoint, answered: false, error, reachable: !looksGone(error, isEtcdStandbyError(e, "Timeout")) };
      }
    }),
  );
  const probing = votersPerLearner(ssh, s, learnerRunning).then((perLearner) => {
    const extra = perLearner.endpoints.filter((u) => !sameUrl(u, s.learner.clientURL) && !s.oldVoterEndpoints.some((c) => sameUrl(c, u)));
    if (extra.length > 0) progress(WHAT, `guard: ${perLearner.note}; also probing ${extra.join(", ")}, which the config does not list`);
    return probeVoters([...s.oldVoterEndpoints, ...extra]);
  });
  const watching = (async (): Promise<LearnerMotion | undefined> => {
    if (!learnerRunning) return undefined;
    try {
      const windowMs = Math.max(1000, 2 * s.heartbeatMs);
      const [a, bytesA] = await Promise.all([statusVia(ssh, s.learner.containerName, s), peerBytes(conn, s)]);
      await sleep(windowMs);
      const [b, bytesB] = await Promise.all([statusVia(ssh, s.learner.containerName, s), peerBytes(conn, s)]);
      const grown = bytesA && bytesB ? Object.fromEntries(growingPeers(bytesA, bytesB).map((id) => [id, bytesB[id] - (bytesA[id] ?? 0)])) : undefined;
      return { before: { raftIndex: a.raftIndex, raftTerm: a.raftTerm }, after: { raftIndex: b.raftIndex, raftTerm: b.raftTerm }, windowMs, peerBytes: grown };
    } catch {
      // A learner that does not answer cannot be recorded either; the record phase says why.
      return undefined;
    }
  })();
  const [probes, motion] = await Promise.all([probing, watching]);
  const decision = decideGuard(probes, motion, s.force);
  const down = probes.filter((p) => !p.answered).map((p) => `${p.endpoint} (${(p.error ?? "").slice(0, 200)})`);
  if (!decision.ok) {
    throw new EtcdStandbyError(
      "QuorumRisk",
      `refusing to restore: site A may still be alive: ${decision.risks.join("; ")}. Restoring now would make a second cluster next to a live one (split brain); nothing was changed`,
      "make sure site A is really gone (powered off or fenced) and run pulumi up again; only if you are certain its voters can never serve clients again, set force: true",
      { host: ssh.host, member: s.learner.memberName },
    );
  }
  if (decision.warning) progress(WHAT, decision.warning);
  else progress(WHAT, `guard: none of the old voters answers (${down.join("; ")}); ${learnerRunning ? "the learner receives nothing" : "the learner is stopped"}`);
  return decision.risks;
}

/** Phase 2: set aside what a failed earlier attempt left. Never deletes, never touches the learner's data dir. */
async function cleanupLeftovers(ssh: SshSession, s: RestoreSettings, when: string): Promise<string[]> {
  const moved: string[] = [];
  // Everything is looked at at once (reads only), then set aside in order.
  const toolNames = [RESTORE_TOOL_CONTAINER, `${RESTORE_TOOL_CONTAINER}-version`];
  const dirs = [s.restoreDataDir, stagingDir(s)];
  const [tools, info, dirStates] = await Promise.all([
    Promise.all(toolNames.map((name) => inspectState(ssh, name))),
    inspectState(ssh, s.containerName),
    Promise.all(dirs.map((dir) => pathState(ssh, dir))),
  ]);
  for (const [i, tool] of tools.entries()) {
    if (tool.exists && tool.labels[MANAGED_LABEL] === RESTORE_TOOL_VALUE) await removeContainer(ssh, toolNames[i], { force: true });
  }
  if (info.exists) {
    const to = `${s.containerName}-failed-${when.toLowerCase()}`;
    progress(WHAT, `stopping and renaming ${s.containerName} left by a failed attempt to ${to}`);
    await stopForGood(ssh, s.containerName, 30);
    await renameContainer(ssh, s.containerName, to);
    moved.push(`container ${to}`);
  }
  for (const [i, dir] of dirs.entries()) {
    const st = dirStates[i];
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

/** Phase 3: the learner's applied index, revision and key count, once its applied index stops moving. */
async function recordLearner(ssh: SshSession, s: RestoreSettings, learner: ContainerState, token: string): Promise<RestoreRecord> {
  const deadline = Date.now() + Math.min(s.timeoutMs, 120_000);
  let prev: CtlStatus | undefined;
  let steady = 0;
  for (;;) {
    const st = await statusVia(ssh, s.learner.containerName, s);
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
  const count = await countVia(ssh, s.learner.containerName, s);
  const after = await statusVia(ssh, s.learner.containerName, s);
  if (after.raftAppliedIndex !== prev.raftAppliedIndex || count.revision !== after.revision) {
    throw new EtcdStandbyError("Refused", `the learner moved while it was recorded (applied ${prev.raftAppliedIndex} -> ${after.raftAppliedIndex}, revision ${count.revision} vs ${after.revision})`, "something still writes to it; make sure site A is gone and run pulumi up again", { host: ssh.host, member: s.learner.memberName });
  }
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

/** Phase 4: stop the learner gracefully (its bbolt db is flushed) so it never comes back. */
async function stopLearner(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord): Promise<RestoreRecord> {
  progress(WHAT, `stopping ${s.learner.containerName} gracefully (restart policy cleared; container and data dir kept)`);
  await stopForGood(ssh, s.learner.containerName, 60);
  const st = await inspectState(ssh, s.learner.containerName);
  if (st.running) throw new EtcdStandbyError("Refused", `${s.learner.containerName} is still running after docker stop`, "stop it by hand and run pulumi up again", { host: ssh.host });
  const db = await fileStat(ssh, `${s.learner.dataDir}/member/snap/db`);
  if (db === null) throw new EtcdStandbyError("NotFound", `the learner's db ${s.learner.dataDir}/member/snap/db is missing`, "check learner.dataDir", { host: ssh.host });
  return { ...rec, stoppedAt: new Date().toISOString(), dbSize: db.size, dbMtime: db.mtime };
}

/** The etcd version of an image (`etcd --version` in a throwaway container). */
function imageVersion(ssh: SshSession, s: RestoreSettings): Promise<EtcdVersion> {
  return imageEtcdVersion(ssh, s.image, s.etcdBinary, { name: `${RESTORE_TOOL_CONTAINER}-version`, labels: { [MANAGED_LABEL]: RESTORE_TOOL_VALUE } });
}

/** The image's etcd version, checked against the learner's (before the learner is stopped). */
async function checkImage(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord): Promise<EtcdVersion> {
  const v = await imageVersion(ssh, s);
  const problem = learnerVersionProblem(rec.learnerVersion, v);
  if (problem) throw new EtcdStandbyError("InvalidInput", problem, "use an image of the learner's etcd version (or the next minor version)", { host: ssh.host });
  return v;
}

/** Phase 5: snapshot restore into the staging dir, then move it into place. */
async function restoreDb(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord, v: EtcdVersion): Promise<{ tool: string; imageVersion: string }> {
  if (!(await fileReadable(ssh, s.sourceDb))) throw new EtcdStandbyError("NotFound", `the db to restore from, ${s.sourceDb}, is missing or unreadable`, "check learner.dataDir (or sourceDb)", { host: ssh.host });
  const staging = stagingDir(s);
  await makeDir(ssh, staging);
  const spec = restoreToolContainer(s, v, rec.newClusterToken);
  const tool = restoreTool(v);
  progress(WHAT, `${tool} snapshot restore ${s.sourceDb} --name=${s.newMemberName} --initial-cluster=${s.newMemberName}=${s.learner.peerURL} --initial-cluster-token=${rec.newClusterToken} --skip-hash-check (etcd ${v.text}, in ${s.image})`);
  const r = await runOneShot(ssh, spec, { timeoutMs: s.timeoutMs, allowFailure: true });
  if (r.code !== 0) {
    const out = `${r.stderr}\n${r.stdout}`.trim();
    throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore of ${s.sourceDb} exited with status ${String(r.code)}; its output says:\n${toolFailureExcerpt(out)}`, "the db may be damaged or truncated; check it (etcdutl snapshot status) or restore from another copy", { host: ssh.host });
  }
  const db = await fileStat(ssh, `${staging}/data/member/snap/db`);
  if (db === null) throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore exited 0 but wrote no ${staging}/data/member/snap/db`, "read the tool's output on the host", { host: ssh.host });
  await archivePath(ssh, `${staging}/data`, s.restoreDataDir);
  await removeEmptyDir(ssh, staging);
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

/** Waits for the restored member to lead itself; fails fast on a crash loop. */
async function waitHealthy(ssh: SshSession, s: RestoreSettings, deadline: number): Promise<CtlStatus> {
  let last = "";
  for (;;) {
    const info = await inspectState(ssh, s.containerName);
    if (!info.exists) throw new EtcdStandbyError("Refused", `the restored container ${s.containerName} disappeared`, "check who removed it", { host: ssh.host });
    if (info.restartCount >= 3 || (!info.running && info.status !== "restarting" && info.status !== "created")) {
      throw new EtcdStandbyError("Refused", `the restored etcd keeps exiting (state ${info.status}, restarted ${info.restartCount} times, last exit code ${info.exitCode})`, "see its log below", { host: ssh.host });
    }
    try {
      const st = await statusVia(ssh, s.containerName, s);
      if (st.leaderId !== NO_LEADER && st.leaderId === st.memberId && st.errors.length === 0) return st;
      last = `leader ${st.leaderId}, errors [${st.errors.join(", ")}]`;
    } catch (e) {
      last = isEtcdStandbyError(e) ? e.summary.slice(-300) : describeError(e);
    }
    if (Date.now() > deadline) throw new EtcdStandbyError("Timeout", `the restored etcd did not become a healthy leader of itself in time (last: ${last})`, "see its log below", { host: ssh.host });
    await sleep(200);
  }
}

/** Phase 7: healthy, one member, revision and keys, then a probe write. */
async function verify(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, rec: RestoreRecord, deadline: number): Promise<Verified> {
  const st = await waitHealthy(ssh, s, deadline);
  // The provider's own client as well: the endpoint must serve clients from outside the host.
  // Counted first, on the host, at the learner's revision: the probe write below, and clients that
  // reconnect at once (the host's kube-apiserver), move the keyspace on; what was restored does not.
  const count = await countVia(ssh, s.containerName, s, rec.learnerRevision);
  const value = `restored-${Date.now()}`;
  let writable = false;
  let writeError = "";
  const seen = await withEtcd({ ...conn, endpoints: [s.learner.clientURL] }, async (e) => {
    const found = { members: await e.memberList(), clusterId: await e.clusterId(), status: await e.statusOf(s.learner.clientURL) };
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
    return found;
  });
  const verdict = verifyRestore(
    { learnerRevision: rec.learnerRevision, keysBefore: rec.keysBefore },
    {
      healthy: seen.status.leaderId === st.memberId && seen.status.errors.length === 0,
      writable,
      memberNames: seen.members.map((m) => m.name),
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
  return { clusterId: seen.clusterId, memberId: st.memberId, restoredRevision: count.revision, keysAfter: count.count, version: st.version };
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
async function adopt(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, rec: RestoreRecord): Promise<Props> {
  const t0 = Date.now();
  progress(WHAT, `a verified restore already runs in ${s.containerName} (token ${rec.newClusterToken}): adopting it, changing nothing`);
  let v: Verified;
  try {
    const st = await waitHealthy(ssh, s, Date.now() + Math.min(s.timeoutMs, 60_000));
    const clusterId = await withEtcd({ ...conn, endpoints: [s.learner.clientURL] }, (e) => e.clusterId());
    const count = await countVia(ssh, s.containerName, s);
    v = { clusterId, memberId: st.memberId, restoredRevision: rec.restoredRevision ?? count.revision, keysAfter: rec.keysAfter ?? count.count, version: st.version };
  } catch (e) {
    throw new EtcdStandbyError(
      "Refused",
      `a verified restore exists (${s.containerName}, ${s.restoreDataDir}) but is not healthy now: ${describeError(e)}`,
      "repair it by hand; it is never restored again automatically because it may hold writes made since",
      { host: ssh.host },
    );
  }
  return outputsOf(s, rec, v, { adopted: true, reusedRecord: true, phaseMs: { guard: 0, cleanup: 0, record: 0, stop: 0, restore: 0, start: 0, verify: Date.now() - t0 }, restoreTool: "", guardRisks: [], setAside: [] });
}

async function restore(props: Props): Promise<Props> {
  const s = restoreSettings(props);
  const host = hostOf(props);
  const conn = clusterOf(props);
  const when = stamp();
  return withSsh(host, async (ssh) => {
    const t: PhaseTimings & { cleanup: number } = { guard: 0, cleanup: 0, record: 0, stop: 0, restore: 0, start: 0, verify: 0 };
    let phase = "the preflight";
    let mark = Date.now();
    const lap = (k: keyof typeof t): void => {
      t[k] = Date.now() - mark;
      mark = Date.now();
    };
    // What is there now (reads only).
    const learner = await inspectState(ssh, s.learner.containerName);
    const target = await inspectState(ssh, s.containerName);
    const old = await readRecord(ssh, s);
    if (target.exists && !isOurs(target)) {
      throw new EtcdStandbyError("Refused", `container ${s.containerName} on ${host.host} exists and was not made by ${WHAT} (it may be RKE's etcd)`, "remove RKE's containers first (RkeContainerCleanup), or choose another containerName", { host: host.host });
    }
    if (old?.verified) {
      if (target.exists && target.labels[TOKEN_LABEL] === old.newClusterToken) return adopt(ssh, s, conn, old);
      throw new EtcdStandbyError(
        "Refused",
        `${recordFile(s)} says a restore was verified (token ${old.newClusterToken}), but its container ${s.containerName} is ${target.exists ? "another one" : "gone"}: that restore may hold writes made since, so it is not redone`,
        `start it again by hand, or, to restore afresh from the learner, move ${s.restoreDataDir} and ${recordFile(s)} away first`,
        { host: host.host },
      );
    }
    if (target.exists && target.running) {
      throw new EtcdStandbyError(
        "Refused",
        `a restored etcd made by ${WHAT} is running in ${s.containerName} on ${host.host}, but ${recordFile(s)} does not say it was verified: it may already serve clients, so it is not replaced automatically`,
        `check it (etcdctl endpoint status, member list); to restore again, stop it (docker update --restart=no ${s.containerName} && docker stop ${s.containerName}) and run pulumi up again: it is then set aside, not deleted`,
        { host: host.host },
      );
    }
    if (!learner.exists) {
      throw new EtcdStandbyError("NotFound", `the learner container ${s.learner.containerName} does not exist on ${host.host}`, "check learner.containerName; the restore starts from a learner", { host: host.host, member: s.learner.memberName });
    }
    // What the restored etcd needs, before anything is changed.
    if (!(await imageExists(ssh, s.image))) {
      throw new EtcdStandbyError("NotFound", `image ${s.image} is not on ${host.host}; nothing was changed`, `load it on the host first (docker load / docker pull ${s.image})`, { host: host.host });
    }
    for (const [field, file] of Object.entries(s.learner.tls) as [string, string][]) {
      if (!(await fileReadable(ssh, file))) {
        throw new EtcdStandbyError("InvalidInput", `learner.tls.${field} ${file} is missing or unreadable on ${host.host}; nothing was changed`, "the restored etcd uses the learner's TLS files: fix learner.tls", { host: host.host });
      }
    }
    // A stopped learner is only usable with the record an earlier attempt kept.
    let rec: RestoreRecord | undefined;
    if (!learner.running) {
      const why = recordUnusable(old, learner.id, await fileStat(ssh, `${s.learner.dataDir}/member/snap/db`));
      if (why !== undefined) {
        throw new EtcdStandbyError(
          "Refused",
          `the learner container ${s.learner.containerName} is not running and its state cannot be recorded: ${why}`,
          `start it again (docker start ${s.learner.containerName}; a learner cannot become leader, so this is safe) and run pulumi up again`,
          { host: host.host, member: s.learner.memberName },
        );
      }
      rec = old;
      progress(WHAT, `the learner was stopped by an earlier attempt; reusing its record (revision ${old?.learnerRevision}, ${old?.keysBefore} keys, recorded ${old?.recordedAt})`);
    }
    let guardRisks: string[] = [];
    let setAside: string[] = [];
    let tool = "";
    try {
      phase = "the split-brain guard";
      guardRisks = await guard(s, conn, ssh, learner.running);
      lap("guard");
      phase = "cleanup of an earlier attempt";
      setAside = await cleanupLeftovers(ssh, s, when);
      lap("cleanup");
      phase = "recording the learner";
      if (rec === undefined) {
        rec = await recordLearner(ssh, s, learner, s.newClusterToken ?? defaultToken(when));
        lap("record");
        rec = { ...rec, recordMs: t.record };
        await writeRecord(ssh, s, rec);
      } else {
        // Done by the attempt that stopped the learner: report its times.
        t.record = rec.recordMs ?? 0;
      }
      mark = Date.now();
      phase = "checking the image";
      const version = await checkImage(ssh, s, rec);
      const versionMs = Date.now() - mark;
      mark = Date.now();
      phase = "stopping the learner";
      if (rec.stoppedAt === undefined || learner.running) {
        rec = await stopLearner(ssh, s, rec);
        lap("stop");
        rec = { ...rec, stopMs: t.stop };
        await writeRecord(ssh, s, rec);
      } else {
        t.stop = rec.stopMs ?? 0;
      }
      mark = Date.now();
      phase = "the restore";
      tool = (await restoreDb(ssh, s, rec, version)).tool;
      lap("restore");
      t.restore += versionMs;
      phase = "starting the restored etcd";
      const spec = restoredEtcdContainer(s, rec.newClusterToken);
      progress(WHAT, `starting ${s.containerName} on ${host.host}: one-member cluster ${s.newMemberName}=${s.learner.peerURL}, --initial-cluster-state=new, token ${rec.newClusterToken}`);
      await runContainer(ssh, spec);
      lap("start");
    } catch (e) {
      // The guard changes nothing: its refusal stands as it is.
      if (phase === "the split-brain guard" && isEtcdStandbyError(e, "QuorumRisk")) throw e;
      throw phaseError(phase, e, s, host.host);
    }
    let v: Verified;
    try {
      v = await verify(ssh, s, conn, rec, Date.now() + s.timeoutMs);
      lap("verify");
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
    const done: RestoreRecord = { ...rec, verified: true, newClusterId: v.clusterId, newMemberId: v.memberId, restoredRevision: v.restoredRevision, keysAfter: v.keysAfter };
    await writeRecord(ssh, s, done);
    progress(WHAT, `done: cluster ${v.clusterId}, member ${s.newMemberName} (${v.memberId}) at ${s.learner.clientURL}; phases (ms) ${JSON.stringify(t)}`);
    return outputsOf(s, done, v, { adopted: false, reusedRecord: !learner.running, phaseMs: t, restoreTool: tool, guardRisks, setAside });
  });
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
