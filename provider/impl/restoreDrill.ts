/**
 * EtcdRestoreDrill: proves that site B's learner can be restored while
 * production runs, without an outage (issue 12, item 3). Site A's voters are
 * never touched and membership is never changed; the only thing that pauses
 * is the learner, briefly.
 *
 * create, and update when `trigger` changes (or the last drill did not pass):
 * 1. preflight (reads only): the learner is a started learner of the cluster
 *    under its name and peer URL, its container runs, it is caught up; every
 *    voter is healthy; the image is on the host and can open the learner's
 *    data; the TLS files are there and the certificate names the listen
 *    address; the scratch ports are free; the scratch folder's file system has
 *    room for two copies of the db; the scratch container name is free;
 * 2. under the cluster's lock (one etcd-standby writer at a time), leftovers
 *    of an earlier, killed drill are removed (only what carries the drill's
 *    label or lies in a `drill-<stamp>` folder under `scratchDir`);
 * 3. record: the learner's revision and key count (lock keys left out),
 *    serializable, through its client URL with etcdctl inside its container;
 * 4. learner stop: `docker stop` (graceful: its bbolt db is flushed), restart
 *    policy cleared meanwhile; copy of `<dataDir>/member/snap/db` to
 *    `<scratchDir>/drill-<stamp>/db`; the learner is started again with its
 *    restart policy back, and the drill waits until it is caught up (its
 *    absence is measured). This happens in a finally: whatever fails, the
 *    learner is started again;
 * 5. restore: `snapshot restore --skip-hash-check` of the copy (etcdctl up to
 *    3.5, etcdutl from 3.6) in a throwaway container of the image;
 * 6. start: a one-member scratch cluster in `etcd-standby-drill`, on other
 *    ports (12379/12380 by default) of 127.0.0.1, with the learner's TLS files;
 * 7. verify: healthy, one member, revision >= the recorded one, the same key
 *    count at the recorded revision, a probe write accepted;
 * 8. cleanup, always: the scratch container and folder go.
 *
 * Restore, start or verification failing is the drill's finding: the verdict
 * is "fail", recorded in the state with the problems, and the `pulumi up`
 * fails. Anything else (a refused preflight, a learner that does not catch up)
 * is an error naming member, host and the next step. read and delete change
 * nothing.
 */
import { isIP } from "node:net";
import { imageExists, inspectContainer, inspectState, removeContainer, runContainer, runOneShot, setRestartPolicy, startContainer, stopForGood } from "../connection/docker";
import type { ContainerState, RestartPolicy } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { EtcdSession, EtcdStatus, MemberHealth } from "../connection/etcd";
import { fileReadable, fileStat, makeDir, pathState, readPublicFile, removeEmptyDir } from "../connection/hostfs";
import { withSsh } from "../connection/ssh";
import type { SshSession } from "../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { hostOfUrl, NO_LEADER, resolveMember } from "../lib/members";
import type { Member } from "../lib/members";
import { bumpFlags, noBumpWarning, parseBumpLog, validateRevisionBump } from "../lib/revisionBump";
import { validateAbsolutePath, validateContainerName, validateHostAddress, validateImage, validateMemberName, validatePort } from "../lib/validate";
import { dirOf } from "../lib/paths";
import { sleep } from "../lib/time";
import { namesAddress, parseCertificate } from "../lib/x509";
import type { EtcdVersion } from "../lib/versions";
import { LOCK_PREFIX, RUN_ID, RUN_LABEL, withClusterLock } from "./clusterLock";
import { appliedIndexOf, checkCluster, checkHost, checkLearnerRef, clusterOf, entryCount, hasUnknown, hostOf, PartialCreateError, positiveInt, Problems, progress, sameValue, stamp, stored, typedProvider } from "./common";
import type { Props } from "./common";
import { recordedState } from "./fields";
import { imageEtcdVersion } from "./imageVersion";
import { MANAGED_LABEL } from "./learnerConfig";
import { ctlAt } from "./restore/ctl";
import { countPrefixArgs, parseCtlCount, parseCtlStatus, parseJsonExact, STATUS_ARGS } from "./restore/ctlJson";
import type { CtlStatus } from "./restore/ctlJson";
import { learnerVersionProblem, restoreTool } from "./restore/image";
import { diffFromLearner } from "./restore/learnerRef";
import { bumpFor, toolFailureExcerpt } from "./restore/snapshotRestore";
import {
  busyPorts,
  comparedAt,
  DRILL_MANAGED_VALUE,
  DRILL_PROBE_KEY,
  DRILL_TOOL_VALUE,
  drillConflicts,
  drillEtcdContainer,
  drillRestoreContainer,
  drillSettings,
  drillToken,
  drillUrls,
  inheritedFlags,
  isRunDir,
  learnerLag,
  parseDfAvailable,
  parseListeningPorts,
  phaseLine,
  RESTORE_DRILL_FIELDS,
  rtoMs,
  runDirOf,
  scratchPaths,
  spaceNeeded,
  verifyDrill,
  zeroPhases,
} from "./restoreDrillScratch";
import type { DrillPhases, DrillRecord, DrillSettings, RestoreDrillInputs, RestoreDrillOutputs, RestoreDrillResult } from "./restoreDrillScratch";

const WHAT = "EtcdRestoreDrill";

/** Where the drill is: what the host and the cluster look like, and what it needs. */
interface Context {
  s: DrillSettings;
  ssh: SshSession;
  etcd: EtcdSession;
  host: string;
  /** The image the scratch cluster runs (given, or the learner container's). */
  image: string;
  /** The folder of etcdctl inside the learner's container. */
  learnerBinDir: string;
  /** Flags of the learner's command line the scratch member takes over (its quota). */
  inherited: string[];
  learnerPolicy: RestartPolicy;
  learnerId: string;
  voterURLs: string[];
  membersBefore: Member[];
  version: EtcdVersion;
  dbBytes: number;
  /** True when scratchDir did not exist before this drill (it is removed again). */
  madeScratchDir: boolean;
}

/** An error naming the learner, the host and the next step. */
function drillError(code: EtcdStandbyError["code"], s: DrillSettings, host: string, what: string, next: string): EtcdStandbyError {
  return new EtcdStandbyError(code, what, next, { host, member: s.learner.memberName });
}

/** Re-raises `e` with the phase it happened in; an EtcdStandbyError keeps its code and next step. */
function inPhase(phase: string, e: unknown, s: DrillSettings, host: string): EtcdStandbyError {
  if (isEtcdStandbyError(e)) return new EtcdStandbyError(e.code, `restore drill on ${host}, ${phase}: ${e.summary}`, e.nextStep, { host, member: s.learner.memberName });
  return drillError("RemoteCommandFailed", s, host, `restore drill on ${host}, ${phase}: ${describeError(e)}`, "read the message above, fix the cause and run pulumi up again (the drill starts over)");
}

/** etcdctl inside a container, against `endpoint`, with the learner's TLS files (mounted there at the same paths). */
function ctl(ssh: SshSession, container: string, binDir: string, endpoint: string, s: DrillSettings, args: string[], allowFailure = false): ReturnType<typeof ctlAt> {
  return ctlAt(ssh, container, binDir, endpoint, s.learner.tls, args, allowFailure);
}

/**
 * Revision and key count (etcd-standby's lock keys left out) through
 * `endpoint`: at the head, or at `rev`. The lock keys are counted at the same
 * revision as the rest (again, when the head moved between the two reads), so
 * the difference is exact.
 */
async function countKeys(ssh: SshSession, container: string, binDir: string, endpoint: string, s: DrillSettings, rev?: number): Promise<{ revision: number; count: number }> {
  const parse = (stdout: string, what: string): ReturnType<typeof parseCtlCount> => {
    try {
      return parseCtlCount(stdout);
    } catch (e) {
      throw new EtcdStandbyError("RemoteCommandFailed", `could not count ${what} at ${endpoint} via ${container}: ${describeError(e)}`, "check etcdctl in the container", { host: ssh.host });
    }
  };
  const [allOut, locksOut] = await Promise.all([ctl(ssh, container, binDir, endpoint, s, countPrefixArgs("", rev)), ctl(ssh, container, binDir, endpoint, s, countPrefixArgs(LOCK_PREFIX, rev))]);
  const all = parse(allOut.stdout, "the keys");
  let locks = parse(locksOut.stdout, "etcd-standby's lock keys");
  if (rev === undefined && locks.revision !== all.revision) {
    locks = parse((await ctl(ssh, container, binDir, endpoint, s, countPrefixArgs(LOCK_PREFIX, all.revision))).stdout, "etcd-standby's lock keys");
  }
  return { revision: all.revision, count: all.count - locks.count };
}

/** Status of the learner and of every voter at once: its lag behind the highest committed index a voter reports. */
async function lagNow(etcd: EtcdSession, s: DrillSettings, voterURLs: readonly string[]): Promise<{ learner: EtcdStatus; lag: number; votersAnswering: number }> {
  const [mine, ...voters] = await Promise.allSettled([etcd.statusOf(s.learner.clientURL), ...voterURLs.map((u) => etcd.statusOf(u))]);
  if (mine.status === "rejected") throw mine.reason;
  const indexes = voters.filter((v): v is PromiseFulfilledResult<EtcdStatus> => v.status === "fulfilled").map((v) => v.value.raftIndex);
  if (indexes.length === 0) throw new EtcdStandbyError("Unreachable", `no voter (${voterURLs.join(", ")}) answered a status call`, "check site A's voters and the network to them");
  return { learner: mine.value, lag: learnerLag(appliedIndexOf(mine.value), indexes), votersAnswering: indexes.length };
}

function membersSignature(members: readonly Member[]): string {
  return JSON.stringify(members.map((m) => [m.id, m.name, m.isLearner, [...m.peerURLs].sort()]).sort());
}

/** The learner as the cluster lists it: same name and peer URL, a started learner. Throws otherwise. */
function resolveLearner(members: readonly Member[], s: DrillSettings, host: string): Member {
  const byName = resolveMember(members, { name: s.learner.memberName });
  const byUrl = resolveMember(members, { peerURL: s.learner.peerURL });
  if (!byName && !byUrl) {
    throw drillError("NotFound", s, host, `no member named ${s.learner.memberName} or with peer URL ${s.learner.peerURL} is in the cluster; nothing was changed`, "create the learner first (EtcdLearner, topology.mode learner-standby), then run the drill");
  }
  if (!byName || !byUrl || byName.id !== byUrl.id) {
    const seen = [byName, byUrl].filter((m): m is Member => m !== undefined).map((m) => `${m.name || "(unstarted)"} ${m.id} at ${m.peerURLs.join(", ")}`);
    throw drillError("Refused", s, host, `the learner's name ${s.learner.memberName} and peer URL ${s.learner.peerURL} do not designate one member (cluster: ${seen.join("; ")}); nothing was changed`, "fix learner.memberName and learner.peerURL to match etcdctl member list");
  }
  if (!byName.isLearner) {
    throw drillError("Refused", s, host, `member ${s.learner.memberName} (${byName.id}) is a voter, not a learner: stopping it would take a vote away from the cluster; nothing was changed`, "the drill only runs against site B's learner (topology.mode learner-standby)");
  }
  if (!byName.started) throw drillError("Refused", s, host, `learner ${s.learner.memberName} (${byName.id}) has not started; nothing was changed`, "wait for EtcdLearner to finish (pulumi up), then run the drill");
  return byName;
}

/** Reads a file list of a folder on the host (names only); [] when absent. */
async function listDir(ssh: SshSession, dir: string): Promise<string[]> {
  const r = await ssh.run(["sh", "-c", 'if [ -d "$1" ]; then ls -1A -- "$1"; fi', "sh", dir]);
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** Deletes one drill scratch folder, and only that: the path must be `<scratchDir>/drill-<stamp>`. */
async function removeRunDir(ssh: SshSession, s: DrillSettings, dir: string): Promise<void> {
  const problems = validateAbsolutePath(dir, "scratch folder", { allowRoot: false });
  if (problems.length > 0 || !isRunDir(dir, s.scratchDir)) {
    throw new EtcdStandbyError("InvalidInput", `refusing to delete ${dir}: not a drill scratch folder under ${s.scratchDir}`, "report this as a bug; nothing was deleted", { host: ssh.host });
  }
  await ssh.run(["sh", "-c", 'case "$1" in "$2"/drill-*) rm -rf -- "$1" ;; *) echo "not a drill folder: $1" >&2; exit 3 ;; esac', "sh", dir, s.scratchDir], { timeoutMs: 120_000 });
}

/** Free bytes on the file system that will hold `path` (its nearest existing ancestor). */
async function freeBytes(ssh: SshSession, path: string): Promise<number | undefined> {
  const r = await ssh.run(["sh", "-c", 'p="$1"; while [ ! -e "$p" ]; do p=$(dirname -- "$p"); done; df -Pk -- "$p"', "sh", path], { allowFailure: true });
  return r.code === 0 ? parseDfAvailable(r.stdout) : undefined;
}

/** Checks, with the certificate's own SANs, that it names the listen address (the scratch cluster's etcdctl verifies it). */
function certNames(certPem: string | null, address: string): boolean | undefined {
  const cert = certPem === null ? undefined : parseCertificate(certPem);
  return cert === undefined || !isIP(address) ? undefined : namesAddress(cert, address);
}

/** Step 1: everything the drill needs, read at once (at most 8 SSH channels); nothing changes. */
async function preflight(s: DrillSettings, ssh: SshSession, etcd: EtcdSession, host: string): Promise<Context> {
  const db = `${s.learner.dataDir}/member/snap/db`;
  const tools = [`${s.containerName}-restore`, `${s.containerName}-version`];
  // The cluster is read while the host is: member list, the voters' health, the learner's lag.
  const clusterSide = (async (): Promise<{ members: Member[]; health: MemberHealth[]; lag?: Awaited<ReturnType<typeof lagNow>>; lagError?: unknown }> => {
    const members = await etcd.memberList();
    const health = await etcd.memberHealth(members.filter((m) => !m.isLearner));
    try {
      return { members, health, lag: await lagNow(etcd, s, health.filter((h) => h.endpoint).map((h) => h.endpoint as string)) };
    } catch (lagError) {
      return { members, health, lagError };
    }
  })();
  // Judged below, after the learner's container: awaited there.
  clusterSide.catch(() => undefined);
  const [learnerInfo, learnerState, scratch, ports, dbStat, scratchState, certPem] = await Promise.all([
    inspectContainer(ssh, s.learner.containerName),
    inspectState(ssh, s.learner.containerName),
    inspectState(ssh, s.containerName),
    ssh.run(["sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true"]),
    fileStat(ssh, db),
    pathState(ssh, s.scratchDir),
    readPublicFile(ssh, s.learner.tls.certFile),
  ]);
  const image = s.image ?? learnerInfo.image;
  const [readable, free, toolStates, imagePresent] = await Promise.all([
    Promise.all((Object.entries(s.learner.tls) as [string, string][]).map(async ([f, file]): Promise<[string, string, boolean]> => [f, file, await fileReadable(ssh, file)])),
    freeBytes(ssh, s.scratchDir),
    Promise.all(tools.map((t) => inspectState(ssh, t))),
    image === "" ? Promise.resolve(false) : imageExists(ssh, image),
  ]);
  // The learner's container.
  if (!learnerInfo.exists || !learnerState.running) {
    throw drillError("Refused", s, host, `the learner container ${s.learner.containerName} on ${host} is ${learnerInfo.exists ? learnerState.status : "absent"}: the drill only runs against a running, caught-up learner; nothing was changed`, `start it (docker start ${s.learner.containerName}) or repair it with pulumi up --refresh (EtcdLearner), then run the drill`);
  }
  // The cluster: the learner is a started learner; every voter is healthy and a leader is seen.
  const { members, health, lag: seenLag, lagError } = await clusterSide;
  const me = resolveLearner(members, s, host);
  const sick = health.filter((h) => !h.healthy);
  if (sick.length > 0 || !health.some((h) => h.status && h.status.leaderId !== NO_LEADER)) {
    throw drillError(
      "QuorumRisk",
      s,
      host,
      `the cluster is not healthy (${sick.length > 0 ? `voter(s) ${sick.map((h) => `${h.name || h.id} (${(h.error ?? "").slice(0, 160)})`).join(", ")} do not answer` : "no voter reports a leader"}): a drill takes the standby away for a moment, which is no time to do it; nothing was changed`,
      "repair the voters first (etcdctl endpoint status), then run the drill",
    );
  }
  const voterURLs = health.filter((h) => h.endpoint).map((h) => h.endpoint as string);
  const lag = seenLag;
  if (lag === undefined) {
    const e = lagError;
    throw drillError("Unreachable", s, host, `the learner does not answer a status call at ${s.learner.clientURL}: ${isEtcdStandbyError(e) ? e.summary : describeError(e)}; nothing was changed`, `check the learner's log (docker logs ${s.learner.containerName}) and that this machine reaches its client URL`);
  }
  if (lag.learner.memberId !== me.id || !lag.learner.isLearner) {
    throw drillError("Refused", s, host, `the member answering at ${s.learner.clientURL} is ${lag.learner.memberId}${lag.learner.isLearner ? "" : " (a voter)"}, not learner ${s.learner.memberName} (${me.id}); nothing was changed`, "fix learner.clientURL");
  }
  if (lag.lag > s.catchUpThreshold) {
    throw drillError("Refused", s, host, `learner ${s.learner.memberName} is ${lag.lag} entries behind the voters (threshold ${s.catchUpThreshold}): it is not caught up, so the drill would not measure a standby in shape; nothing was changed`, "wait until it catches up (or raise catchUpThreshold), then run pulumi up again");
  }
  // The host: TLS files, certificate, ports, db, room, container names.
  for (const [field, file, ok] of readable) {
    if (!ok) throw drillError("InvalidInput", s, host, `learner.tls.${field} ${file} is missing or unreadable on ${host}; nothing was changed`, "the scratch cluster uses the learner's TLS files: fix learner.tls");
  }
  if (certNames(certPem, s.listenAddress) === false) {
    throw drillError("InvalidInput", s, host, `${s.learner.tls.certFile} on ${host} does not name ${s.listenAddress}, where the scratch cluster would listen; nothing was changed`, `set listenAddress to the learner's address ${hostOfUrl(s.learner.peerURL)}, which its certificate names`);
  }
  const busy = busyPorts([s.clientPort, s.peerPort], parseListeningPorts(ports.stdout));
  if (busy.length > 0) {
    throw drillError("Refused", s, host, `port(s) ${busy.join(", ")} already have a listener on ${host}; nothing was changed`, "choose free ports for the scratch cluster (clientPort, peerPort); `ss -ltnp` on the host shows who listens");
  }
  if (dbStat === null) throw drillError("NotFound", s, host, `the learner's db ${db} is missing on ${host}; nothing was changed`, "check learner.dataDir (RKE and EtcdLearner use /var/lib/etcd)");
  if (free !== undefined && free < spaceNeeded(dbStat.size)) {
    throw drillError(
      "Refused",
      s,
      host,
      `${s.scratchDir} on ${host} has ${Math.floor(free / 1048576)} MiB free, the drill needs about ${Math.ceil(spaceNeeded(dbStat.size) / 1048576)} MiB (the db copy, the restored data dir and its first WAL segment); filling the disk could stop the learner, so nothing was changed`,
      "free space there, or point scratchDir at a file system with room",
    );
  }
  if (scratchState === "file") throw drillError("InvalidInput", s, host, `scratchDir ${s.scratchDir} on ${host} is a file; nothing was changed`, "point scratchDir at a folder");
  if (scratch.exists && scratch.labels[MANAGED_LABEL] !== DRILL_MANAGED_VALUE) {
    throw drillError("Refused", s, host, `a container named ${s.containerName} exists on ${host} and was not made by ${WHAT}; nothing was changed`, "choose another containerName");
  }
  for (const [i, t] of toolStates.entries()) {
    if (t.exists && t.labels[MANAGED_LABEL] !== DRILL_TOOL_VALUE) {
      throw drillError("Refused", s, host, `a container named ${tools[i]} exists on ${host} and was not made by ${WHAT}; nothing was changed`, "choose another containerName");
    }
  }
  // The image: present, and able to open the learner's data.
  if (!imagePresent) {
    throw drillError("NotFound", s, host, `image ${image} is not on ${host}; nothing was changed`, `load it there first (docker load / docker pull ${image})`);
  }
  if (toolStates[1].exists) await removeContainer(ssh, tools[1], { force: true });
  const version = await imageEtcdVersion(ssh, image, s.etcdBinary, { name: tools[1], labels: { [MANAGED_LABEL]: DRILL_TOOL_VALUE, [RUN_LABEL]: RUN_ID } });
  const vp = learnerVersionProblem(lag.learner.version, version);
  if (vp) throw drillError("InvalidInput", s, host, `${vp}; nothing was changed`, "use an image of the learner's etcd version (or the next minor version), the one a real failover would use");
  const argv0 = learnerInfo.argv[0] ?? "";
  return {
    s,
    ssh,
    etcd,
    host,
    image,
    learnerBinDir: argv0.startsWith("/") ? dirOf(argv0) : dirOf(s.etcdBinary),
    inherited: inheritedFlags(learnerInfo.argv),
    learnerPolicy: (learnerState.restartPolicy || "no") as RestartPolicy,
    learnerId: me.id,
    voterURLs,
    membersBefore: members,
    version,
    dbBytes: dbStat.size,
    madeScratchDir: scratchState === "absent",
  };
}

/** Step 2: what a killed earlier drill left (its container, tool containers, scratch folders). Returns what was removed. */
async function removeLeftovers(c: Context): Promise<string[]> {
  const { s, ssh } = c;
  const removed: string[] = [];
  for (const [name, label] of [[s.containerName, DRILL_MANAGED_VALUE], [`${s.containerName}-restore`, DRILL_TOOL_VALUE]] as const) {
    const st = await inspectState(ssh, name);
    if (st.exists && st.labels[MANAGED_LABEL] === label) {
      await removeContainer(ssh, name, { force: true });
      removed.push(`container ${name}`);
    }
  }
  for (const entry of await listDir(ssh, s.scratchDir)) {
    const dir = `${s.scratchDir}/${entry}`;
    if (isRunDir(dir, s.scratchDir)) {
      await removeRunDir(ssh, s, dir);
      removed.push(dir);
    }
  }
  if (removed.length > 0) progress(WHAT, `removed leftovers of an earlier drill on ${c.host}: ${removed.join(", ")}`);
  return removed;
}

/** Step 3: the learner's revision and key count (serializable, through its own client URL). */
async function record(c: Context): Promise<DrillRecord> {
  const { s, ssh } = c;
  const st: CtlStatus = parseCtlStatus((await ctl(ssh, s.learner.containerName, c.learnerBinDir, s.learner.clientURL, s, STATUS_ARGS)).stdout);
  if (!st.isLearner || st.memberId !== c.learnerId) {
    throw drillError("Refused", s, c.host, `the member answering at ${s.learner.clientURL} inside ${s.learner.containerName} is ${st.memberId}${st.isLearner ? "" : " (a voter)"}, not learner ${c.learnerId}; nothing was changed`, "fix learner.clientURL and learner.containerName");
  }
  const n = await countKeys(ssh, s.learner.containerName, c.learnerBinDir, s.learner.clientURL, s);
  progress(WHAT, `recorded learner ${s.learner.memberName} (${st.memberId}, etcd ${st.version}) on ${c.host}: revision ${n.revision}, ${n.count} keys (applied index ${st.raftAppliedIndex})`);
  return { revision: n.revision, keys: n.count, appliedIndex: st.raftAppliedIndex, version: st.version };
}

/** Waits until the learner (same member) answers again and is within the threshold of the voters. Returns its lag. */
async function waitCaughtUp(c: Context, deadline: number): Promise<number> {
  const { s, ssh } = c;
  let last = "";
  let lastReport = Date.now();
  for (;;) {
    try {
      const seen = await lagNow(c.etcd, s, c.voterURLs);
      if (seen.learner.memberId !== c.learnerId) {
        throw drillError("Refused", s, c.host, `the member answering at ${s.learner.clientURL} is now ${seen.learner.memberId}, not learner ${c.learnerId}`, "check who changed the learner (etcdctl member list)");
      }
      if (seen.lag <= s.catchUpThreshold) return seen.lag;
      last = `lag ${seen.lag} entries`;
    } catch (e) {
      if (isEtcdStandbyError(e, "Refused")) throw e;
      last = isEtcdStandbyError(e) ? e.summary.slice(-300) : describeError(e);
    }
    const info: ContainerState = await inspectState(ssh, s.learner.containerName);
    if (!info.running && info.status !== "restarting") {
      throw drillError("Refused", s, c.host, `the learner container ${s.learner.containerName} is ${info.exists ? `${info.status} (exit code ${info.exitCode})` : "gone"} after it was started again`, `read its log (docker logs ${s.learner.containerName}) and start it again (docker start ${s.learner.containerName}); EtcdLearner repairs it on pulumi up --refresh`);
    }
    if (Date.now() > deadline) {
      throw drillError("Timeout", s, c.host, `learner ${s.learner.memberName} did not catch up again within ${s.timeoutMs} ms (last: ${last}); it runs, with its restart policy back`, `watch it (etcdctl endpoint status --endpoints=${s.learner.clientURL}); raise timeoutMs for a large database`);
    }
    if (Date.now() - lastReport > 3000) {
      lastReport = Date.now();
      progress(WHAT, `waiting for learner ${s.learner.memberName} to catch up again (${last})`);
    }
    await sleep(150);
  }
}

/** Learner timings, filled in as the steps happen. */
interface LearnerTimes {
  stoppedAt?: number;
  startedAt?: number;
  caughtUpAt?: number;
  lagAfter?: number;
}

/** Starts the learner again with its restart policy back (step 4's second half, also after a failure). */
async function startLearnerAgain(c: Context, lt: LearnerTimes): Promise<void> {
  const { s, ssh } = c;
  // Both at once (two channels): the policy does not need the container stopped, and the start is what the learner waits for.
  const [, started] = await Promise.all([setRestartPolicy(ssh, s.learner.containerName, c.learnerPolicy), startContainer(ssh, s.learner.containerName)]);
  lt.startedAt = Date.now();
  if (!started) throw drillError("NotFound", s, c.host, `the learner container ${s.learner.containerName} disappeared while it was stopped`, "re-create the learner (pulumi up --refresh; EtcdLearner re-adds it)");
  progress(WHAT, `started ${s.learner.containerName} again on ${c.host} (restart policy ${c.learnerPolicy}), down for ${lt.startedAt - (lt.stoppedAt ?? lt.startedAt)} ms`);
}

/** Step 4's first half: stop the learner gracefully, copy its db. */
async function stopAndCopy(c: Context, runDir: string, lt: LearnerTimes, t: DrillPhases): Promise<void> {
  const { s, ssh } = c;
  let mark = Date.now();
  progress(WHAT, `stopping ${s.learner.containerName} on ${c.host} gracefully (restart policy ${c.learnerPolicy} cleared for the copy)`);
  lt.stoppedAt = Date.now();
  await stopForGood(ssh, s.learner.containerName, 60);
  const st = await inspectState(ssh, s.learner.containerName);
  if (st.running) throw drillError("Refused", s, c.host, `${s.learner.containerName} still runs after docker stop`, "look at the host's docker daemon; the learner is started again either way");
  t.learnerStop = Date.now() - mark;
  mark = Date.now();
  const src = `${s.learner.dataDir}/member/snap/db`;
  const dst = scratchPaths(runDir).db;
  await makeDir(ssh, runDir);
  const r = await ssh.run(["sh", "-c", 'cp --reflink=auto -- "$1" "$2" 2>/dev/null || cp -- "$1" "$2"; stat -c %s -- "$1" "$2"', "sh", src, dst], { timeoutMs: s.timeoutMs });
  const [a, b] = r.stdout.trim().split("\n").map(Number);
  if (!(a > 0) || a !== b) throw drillError("RemoteCommandFailed", s, c.host, `the copy of ${src} to ${dst} is ${b} bytes, the db ${a}`, "check the free space and the file system of scratchDir");
  c.dbBytes = a;
  t.copy = Date.now() - mark;
  progress(WHAT, `copied ${src} (${a} bytes) to ${dst} in ${t.copy} ms`);
}

/** What restore, start and verify found. */
interface Restored {
  tool: string;
  headRevision: number;
  keysAtRecorded: number | undefined;
  /** The bump the restore applied (0: none). */
  bumpApplied: number;
  /** The key count the copy was compared with: the learner's at the copy's revision (bumped), else the record's. */
  comparedKeys: number;
  problems: string[];
}

/** Steps 5 to 7: restore the copy, start the scratch cluster, verify it. Failures become the verdict's problems. */
async function restoreStartVerify(c: Context, rec: DrillRecord, runDir: string, token: string, t: DrillPhases): Promise<Restored> {
  const { s, ssh } = c;
  const si: DrillSettings = { ...s, image: c.image };
  const tool = `${restoreTool(c.version)} ${c.version.text}`;
  const bump = bumpFor(c.version, s.revisionBump);
  const out: Restored = { tool, headRevision: 0, keysAtRecorded: undefined, bumpApplied: bump, comparedKeys: rec.keys, problems: [] };
  let mark = Date.now();
  // 5. restore, with the revision bump a failover would apply
  const spec = drillRestoreContainer(si, c.version, runDir, token, bump);
  if (bump === 0 && s.revisionBump > 0) progress(WHAT, noBumpWarning(c.image, c.version));
  progress(WHAT, `${tool} snapshot restore of the copy into ${scratchPaths(runDir).data} (--skip-hash-check${bump > 0 ? ` ${bumpFlags(bump).join(" ")}` : ""}, in ${c.image})`);
  const r = await runOneShot(ssh, spec, { timeoutMs: s.timeoutMs, allowFailure: true });
  t.restore = Date.now() - mark;
  if (r.code !== 0) {
    out.problems.push(`${tool} snapshot restore of the learner's db exited with status ${String(r.code)}: ${toolFailureExcerpt(`${r.stderr}\n${r.stdout}`.trim())}`);
    return out;
  }
  const seen = bump > 0 ? parseBumpLog(`${r.stderr}\n${r.stdout}`) : undefined;
  if (bump > 0 && seen === undefined) {
    out.problems.push(`${tool} snapshot restore was asked for --bump-revision=${bump} but did not report bumping the revision`);
    return out;
  }
  if ((await fileStat(ssh, `${scratchPaths(runDir).data}/member/snap/db`)) === null) {
    out.problems.push(`${tool} snapshot restore exited 0 but wrote no member/snap/db`);
    return out;
  }
  // 6. start
  mark = Date.now();
  const { clientURL } = drillUrls(s);
  await runContainer(ssh, drillEtcdContainer(si, runDir, token, RUN_ID, RUN_LABEL, c.inherited));
  const binDir = dirOf(s.etcdBinary);
  const deadline = Date.now() + Math.min(s.timeoutMs, 120_000);
  let st: CtlStatus | undefined;
  let last = "";
  for (;;) {
    const r2 = await ctl(ssh, s.containerName, binDir, clientURL, s, STATUS_ARGS, true).catch((e: unknown) => ({ code: -1, stdout: "", stderr: describeError(e) }));
    if (r2.code === 0) {
      try {
        const x = parseCtlStatus(r2.stdout);
        if (x.leaderId !== NO_LEADER && x.leaderId === x.memberId) {
          st = x;
          break;
        }
        last = `leader ${x.leaderId}`;
      } catch (e) {
        last = describeError(e);
      }
    } else {
      last = (r2.stderr || r2.stdout).trim().slice(-300);
      const info = await inspectState(ssh, s.containerName);
      if (!info.running) {
        out.problems.push(`the scratch etcd exited (code ${info.exitCode}) before it became healthy: ${last}`);
        t.start = Date.now() - mark;
        return out;
      }
    }
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  t.start = Date.now() - mark;
  if (st === undefined) {
    out.problems.push(`the scratch etcd did not become its own leader in time (last: ${last})`);
    return out;
  }
  // 7. verify: counted before the probe write, which moves the revision.
  mark = Date.now();
  // The reads at once (up to 5 channels); nothing writes to the scratch cluster until the probe.
  let countError: string | undefined;
  const failedCount = (e: unknown): undefined => {
    countError ??= isEtcdStandbyError(e) ? e.summary.slice(-300) : describeError(e);
    return undefined;
  };
  // Bumped, every revision before the bumped one reads as compacted: the copy is counted at the bumped revision (its
  // keyspace exactly) and the learner, caught up again, at the revision the copy held (its history still has it).
  const compared = comparedAt(rec, seen);
  const [head, atRecorded, learnerAtCopy, ml] = await Promise.all([
    countKeys(ssh, s.containerName, binDir, clientURL, s),
    countKeys(ssh, s.containerName, binDir, clientURL, s, compared.scratchAt).catch(failedCount),
    compared.learnerAt === undefined ? undefined : countKeys(ssh, s.learner.containerName, binDir, s.learner.clientURL, s, compared.learnerAt).catch(failedCount),
    ctl(ssh, s.containerName, binDir, clientURL, s, ["member", "list", "-w", "json"]),
  ]);
  out.headRevision = head.revision - (seen?.amount ?? 0);
  out.keysAtRecorded = atRecorded?.count;
  const expected: DrillRecord = compared.learnerAt === undefined ? rec : { ...rec, revision: compared.learnerAt, keys: learnerAtCopy?.count ?? -1 };
  out.comparedKeys = expected.keys;
  if (seen !== undefined && seen.latest < rec.revision) out.problems.push(`the copy's revision ${seen.latest} is behind the learner's recorded ${rec.revision}`);
  const names = (parseJsonExact<{ members?: { name?: string }[] }>(ml.stdout.trim()).members ?? []).map((m) => m.name ?? "");
  const value = `drill-${token}`;
  const put = await ctl(ssh, s.containerName, binDir, clientURL, s, ["put", DRILL_PROBE_KEY, value], true);
  const [got, afterOut] = await Promise.all([
    put.code === 0 ? ctl(ssh, s.containerName, binDir, clientURL, s, ["get", DRILL_PROBE_KEY, "--print-value-only"], true) : Promise.resolve(undefined),
    ctl(ssh, s.containerName, binDir, clientURL, s, STATUS_ARGS),
  ]);
  const writable = got !== undefined && got.code === 0 && got.stdout.trim() === value;
  const after = parseCtlStatus(afterOut.stdout);
  t.verify = Date.now() - mark;
  const verdict = verifyDrill(
    expected,
    { healthy: after.leaderId === st.memberId && after.errors.length === 0, memberNames: names, headRevision: out.headRevision, keysAtRecorded: out.keysAtRecorded, countError, writable },
    s.memberName,
  );
  out.problems.push(...verdict.problems);
  if (!writable) out.problems.push(`(probe write: ${(put.stderr || got?.stderr || "").trim().slice(-200)})`);
  const bumped = seen ? `, bumped by ${seen.amount} to ${seen.bumped}: the copy's ${String(out.keysAtRecorded)} keys there against the learner's ${String(learnerAtCopy?.count)} at ${seen.latest}` : `, ${String(out.keysAtRecorded)} keys at the recorded revision (recorded ${rec.keys})`;
  progress(WHAT, `verified the scratch cluster on ${c.host}: revision ${out.headRevision} (recorded ${rec.revision})${bumped}, probe write ${writable ? "accepted" : "refused"}`);
  return out;
}

/** Step 8: scratch container and folders go. Returns what could not be removed. */
async function cleanup(c: Context, runDir: string): Promise<string[]> {
  const { s, ssh } = c;
  const left: string[] = [];
  await Promise.all([s.containerName, `${s.containerName}-restore`, `${s.containerName}-version`].map(async (name) => {
    try {
      const st = await inspectState(ssh, name);
      if (st.exists && (st.labels[MANAGED_LABEL] === DRILL_MANAGED_VALUE || st.labels[MANAGED_LABEL] === DRILL_TOOL_VALUE)) await removeContainer(ssh, name, { force: true });
    } catch (e) {
      left.push(`container ${name} (${describeError(e).slice(0, 200)})`);
    }
  }));
  try {
    await removeRunDir(ssh, s, runDir);
  } catch (e) {
    left.push(`${runDir} (${describeError(e).slice(0, 200)})`);
  }
  if (c.madeScratchDir) {
    try {
      if ((await pathState(ssh, s.scratchDir)) === "empty-dir") await removeEmptyDir(ssh, s.scratchDir);
    } catch (e) {
      left.push(`${s.scratchDir} (${describeError(e).slice(0, 200)})`);
    }
  }
  return left;
}

/** Runs one drill; the outputs, with verdict "pass" or "fail". Throws when the drill could not run, or left the learner not caught up. */
async function drill(props: RestoreDrillInputs): Promise<RestoreDrillResult> {
  const s = drillSettings(props);
  const hostArgs = hostOf(props);
  const conn = clusterOf(props);
  const host = hostArgs.host;
  const when = stamp();
  const t0 = Date.now();
  const t = zeroPhases();
  return withSsh(hostArgs, (ssh) =>
    withEtcd(conn, (etcd) =>
      withClusterLock(etcd, `EtcdRestoreDrill of ${s.learner.memberName} on ${host}`, conn.lockWaitMs, async () => {
        let phase = "the preflight";
        let c: Context;
        try {
          c = await preflight(s, ssh, etcd, host);
        } catch (e) {
          throw inPhase(phase, e, s, host);
        }
        t.preflight = Date.now() - t0;
        progress(WHAT, `preflight passed on ${host} in ${t.preflight} ms: learner ${s.learner.memberName} caught up, image ${c.image} (etcd ${c.version.text}), ports ${s.clientPort}/${s.peerPort} free, db ${c.dbBytes} bytes`);
        const runDir = runDirOf(s, when);
        const token = drillToken(when);
        const lt: LearnerTimes = {};
        let leftovers: string[] = [];
        let rec: DrillRecord | undefined;
        let restored: Restored | undefined;
        let failure: EtcdStandbyError | undefined;
        let notRemoved: string[] = [];
        try {
          phase = "removing an earlier drill's leftovers";
          leftovers = await removeLeftovers(c);
          phase = "recording the learner";
          let mark = Date.now();
          rec = await record(c);
          t.record = Date.now() - mark;
          phase = "stopping the learner and copying its db";
          let copyError: EtcdStandbyError | undefined;
          try {
            await stopAndCopy(c, runDir, lt, t);
          } catch (e) {
            copyError = inPhase(phase, e, s, host);
          }
          // The learner is started again whatever happened since its stop.
          if (lt.stoppedAt !== undefined) {
            const also = copyError ? ` (after this earlier failure: ${copyError.summary})` : "";
            mark = Date.now();
            try {
              await startLearnerAgain(c, lt);
            } catch (e) {
              throw inPhase(`starting the learner again${also}`, e, s, host);
            }
            t.learnerRestart = Date.now() - mark;
            mark = Date.now();
            try {
              lt.lagAfter = await waitCaughtUp(c, Date.now() + s.timeoutMs);
            } catch (e) {
              throw inPhase(`waiting for the learner to catch up again${also}`, e, s, host);
            }
            lt.caughtUpAt = Date.now();
            t.learnerCatchUp = lt.caughtUpAt - mark;
            progress(WHAT, `learner ${s.learner.memberName} caught up again (lag ${lt.lagAfter}); absent ${lt.caughtUpAt - lt.stoppedAt} ms`);
          }
          if (copyError) throw copyError;
          phase = "restore, start and verification of the scratch cluster";
          restored = await restoreStartVerify(c, rec, runDir, token, t);
        } catch (e) {
          failure = e instanceof EtcdStandbyError && e.summary.startsWith("restore drill on ") ? e : inPhase(phase, e, s, host);
        } finally {
          const mark = Date.now();
          notRemoved = await cleanup(c, runDir);
          t.cleanup = Date.now() - mark;
        }
        if (failure !== undefined) {
          if (notRemoved.length === 0) throw failure;
          throw new EtcdStandbyError(failure.code, `${failure.summary}; also, the drill could not remove ${notRemoved.join(", ")}`, `${failure.nextStep}; remove those by hand`, { host, member: s.learner.memberName });
        }
        if (notRemoved.length > 0) {
          throw drillError("RemoteCommandFailed", s, host, `the drill ran but could not remove its scratch ${notRemoved.join(", ")}`, "remove those by hand (docker rm -f, rm -rf), then run pulumi up again");
        }
        const r = restored as Restored;
        const rc = rec as DrillRecord;
        const membersAfter = await etcd.memberList();
        const membershipUnchanged = membersSignature(membersAfter) === membersSignature(c.membersBefore);
        if (!membershipUnchanged) r.problems.push("the member list changed during the drill (not by the drill: it never changes membership); check etcdctl member list");
        t.total = Date.now() - t0;
        const outs: RestoreDrillResult = {
          verdict: r.problems.length === 0 ? "pass" : "fail",
          problems: r.problems,
          drilledAt: new Date(t0).toISOString(),
          drilledTrigger: s.trigger,
          phaseMs: t,
          rtoMs: rtoMs(t),
          learnerAbsentMs: (lt.caughtUpAt ?? 0) - (lt.stoppedAt ?? 0),
          learnerDownMs: (lt.startedAt ?? 0) - (lt.stoppedAt ?? 0),
          learnerLagAfter: lt.lagAfter ?? 0,
          recordedRevision: rc.revision,
          recordedKeys: rc.keys,
          recordedAppliedIndex: rc.appliedIndex,
          learnerVersion: rc.version,
          restoredRevision: r.headRevision,
          restoredKeys: r.keysAtRecorded ?? -1,
          bumpApplied: r.bumpApplied,
          comparedKeys: r.comparedKeys,
          dbSizeBytes: c.dbBytes,
          restoreTool: r.tool,
          imageUsed: c.image,
          scratchEndpoint: drillUrls(s).clientURL,
          membershipUnchanged,
          leftoversRemoved: leftovers,
        };
        progress(WHAT, `drill ${outs.verdict} on ${host}: RTO ${rtoMs(t)} ms (restore+start+verify), learner absent ${String(outs.learnerAbsentMs)} ms; phases: ${phaseLine(t)}${r.problems.length ? `; problems: ${r.problems.join("; ")}` : ""}`);
        return outs;
      }),
    ),
  );
}

/** A failed verdict fails the `pulumi up`, with the drill's results kept in the state (the next up drills again). */
function failed(id: string, inputs: RestoreDrillInputs, outs: RestoreDrillResult): PartialCreateError {
  const problems = outs.problems.join("; ");
  return new PartialCreateError(
    `EtcdRestoreDrill: the standby did not pass the drill on ${String(inputs.host?.host)}: ${problems}. The learner runs and is caught up; the scratch cluster was removed. Next: fix the cause and run pulumi up again (a failed drill is drilled again)`,
    id,
    { ...inputs, ...outs },
  );
}

/** True when a new drill is due: a new trigger, or the last drill did not pass. */
function drillDue(olds: Props, news: RestoreDrillInputs): boolean {
  return !sameValue(olds.trigger, news.trigger) || olds.verdict !== "pass";
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<RestoreDrillInputs, RestoreDrillOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkCluster(p, news.cluster);
    checkLearnerRef(p, news.learner, news.host?.host, "to drill", "the drill");
    if (news.image !== undefined) p.add("image", news.image, validateImage(news.image, "image"));
    if (news.etcdBinary !== undefined) p.add("etcdBinary", news.etcdBinary, validateAbsolutePath(news.etcdBinary, "etcdBinary", { allowRoot: false }));
    if (news.scratchDir !== undefined) p.add("scratchDir", news.scratchDir, validateAbsolutePath(news.scratchDir, "scratchDir", { allowRoot: false }));
    if (news.containerName !== undefined) p.add("containerName", news.containerName, validateContainerName(news.containerName, "containerName"));
    if (news.memberName !== undefined) p.add("memberName", news.memberName, validateMemberName(news.memberName, "memberName"));
    if (news.listenAddress !== undefined) p.add("listenAddress", news.listenAddress, validateHostAddress(news.listenAddress, "listenAddress"));
    for (const f of ["clientPort", "peerPort"] as const) {
      if (news[f] !== undefined) p.add(f, news[f], validatePort(news[f], f));
    }
    for (const f of ["heartbeatMs", "electionMs", "timeoutMs"] as const) {
      if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    }
    if (news.catchUpThreshold !== undefined) p.add("catchUpThreshold", news.catchUpThreshold, entryCount(news.catchUpThreshold, "catchUpThreshold"));
    if (news.revisionBump !== undefined && !hasUnknown(news.revisionBump)) p.add("revisionBump", news.revisionBump, validateRevisionBump(news.revisionBump));
    const tr = news.trigger;
    if (tr !== undefined && !hasUnknown(tr) && (typeof tr !== "string" || tr.length > 256 || /[\0-\x1f\x7f]/.test(tr))) {
      p.add("trigger", tr, ["trigger must be a string of at most 256 characters without control characters, e.g. the quarter's date \"2026-04-01\""]);
    }
    // Cross-field checks, once every value involved is known and valid.
    if (p.failures.length === 0 && !hasUnknown(news)) {
      for (const problem of drillConflicts(drillSettings(news))) p.add("scratchDir", news.scratchDir, [problem]);
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    // Another host or learner replaces; a new trigger (or a drill that did not pass) drills again; the rest is recorded.
    return diffFromLearner(RESTORE_DRILL_FIELDS, olds, news, { deleteBeforeReplace: false, pending: olds.verdict !== "pass" });
  },

  async create(inputs) {
    const id = `restore-drill-${String(inputs.host?.host)}`;
    const outs = await drill(inputs);
    if (outs.verdict !== "pass") throw failed(id, inputs, outs);
    return { id, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    // The last drill's results as they are: reading changes nothing and starts no drill.
    return { id, props: stored(state) };
  },

  async update(id, olds, news) {
    if (!drillDue(olds, news)) {
      progress(WHAT, "settings recorded; the next drill (a new trigger) uses them");
      return { outs: recordedState(RESTORE_DRILL_FIELDS, olds, news) };
    }
    const outs = await drill(news);
    if (outs.verdict !== "pass") throw failed(id, news, outs);
    return { outs: { ...news, ...outs } };
  },

  async delete() {
    // The drill leaves nothing behind to delete, and never touches the cluster on delete.
    progress(WHAT, "delete changes nothing: a drill leaves no scratch cluster behind");
  },
});
