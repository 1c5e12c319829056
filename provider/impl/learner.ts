/**
 * EtcdLearner: a started, caught-up raft learner on a host.
 *
 * create runs a preflight that changes nothing (cluster healthy, a learner
 * slot left, name and peer URL unused, the peer URL's host is the SSH host,
 * empty data dir, TLS files present and naming the host, image present), then
 * `member add --learner`, starts etcd in a container with `--initial-cluster`
 * built from the live member list and `--initial-cluster-state=existing`, and
 * waits until the member is started under its name and caught up with the
 * leader. On failure or timeout it rolls back (container, member, data dir)
 * and names the likely cause with the tail of the learner's log.
 */
import { X509Certificate } from "crypto";
import { containerInfoOf, containerLogsTail, inspectArgv, inspectContainer, removeContainer, renameContainer, runArgv, runContainer, setRestartPolicy, startContainer, stopForGood } from "../connection/docker";
import type { ContainerInfo, RunContainerSpec } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import { armCommand } from "../connection/gate";
import type { ArmedCommand } from "../connection/gate";
import type { AddLearnerResult, EtcdSession, EtcdStatus, MemberHealth } from "../connection/etcd";
import { archivePath, pathState, surveyPaths } from "../connection/hostfs";
import type { PathState } from "../connection/hostfs";
import { connectSsh, withSsh } from "../connection/ssh";
import type { SshSession } from "../connection/ssh";
import { refusedExtraFlags } from "../lib/etcdFlags";
import { diagnose, logExcerpt } from "../lib/logs";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { buildInitialCluster, hostOfUrl, NO_LEADER, resolveMember, sameUrl } from "../lib/members";
import type { Member } from "../lib/members";
import { checkAddLearner, checkRemoval } from "../lib/quorum";
import { sleep } from "../lib/time";
import { bumpSupported, noBumpWarning } from "../lib/revisionBump";
import { checkJoinVersion } from "../lib/versions";
import type { ClusterVersions, EtcdVersion } from "../lib/versions";
import { validateClientUrl, validateEach, validateExtraFlag, validateImage, validateMemberName, validatePeerUrl } from "../lib/validate";
import { namesAddress, validityProblem } from "../lib/x509";
import { RUN_ID, RUN_LABEL, withClusterLock } from "./clusterLock";
import { imageAbsentError, readImageEtcdVersion } from "./imageVersion";
import type { ImageVersionRead } from "./imageVersion";
import { appliedIndexOf, checkCluster, checkHost, checkNamesAndPath, checkRaftTimings, clusterOf, entryCount, hasUnknown, hostOf, positiveInt, Problems, progress, stamp, stored, typedProvider } from "./common";
import { changedFields, diffByTable, recordedState } from "./fields";
import { catchUpPercent, LEARNER_FIELDS, LEARNER_OWNED_FLAGS, learnerContainer, learnerSettings, MANAGED_LABEL, MEMBER_LABEL } from "./learnerConfig";
import type { LearnerInputs, LearnerOutputs, LearnerResult, LearnerSettings } from "./learnerConfig";

const WHAT = "EtcdLearner";

/** What read and create report about the learner (LearnerResult without the cluster ID). */
type LearnerState = Omit<LearnerResult, "clusterId">;

function mine(info: ContainerInfo, s: LearnerSettings): boolean {
  return info.exists && info.labels[MANAGED_LABEL] === "EtcdLearner" && info.labels[MEMBER_LABEL] === s.memberName;
}

/** Status of the current leader, from any healthy voter's view, and every voter's health. */
async function leaderStatus(etcd: EtcdSession, members: readonly Member[]): Promise<{ leader: EtcdStatus; voters: MemberHealth[] }> {
  return leaderAmong(await etcd.memberHealth(members.filter((m) => !m.isLearner)));
}

/** The leader's status among the voters' health already read (see {@link leaderStatus}). */
function leaderAmong(voters: MemberHealth[]): { leader: EtcdStatus; voters: MemberHealth[] } {
  const seen = voters.find((h) => h.status && h.status.leaderId !== NO_LEADER);
  if (!seen?.status) {
    throw new EtcdStandbyError("Refused", "no voter reports a leader: the cluster is not healthy", "restore quorum before adding a learner (etcdctl endpoint status)");
  }
  const leaderHealth = voters.find((h) => h.id === seen.status?.leaderId);
  if (leaderHealth?.status) return { leader: leaderHealth.status, voters };
  throw new EtcdStandbyError("Refused", `the leader ${seen.status.leaderId} does not answer status calls`, "check the leader's health and retry");
}

/** What the cluster-side preflight found. */
interface ClusterPreflight {
  /** A learner left by an interrupted run, to adopt. */
  adopt: Member | undefined;
  /** The cluster version and every answering member's server version. */
  versions: ClusterVersions;
  /** The voters healthy before anything changes: watched while the learner starts. */
  healthyVoters: { id: string; name: string }[];
}

/** The cluster version (`/version` of a healthy voter) and every answering member's server version. */
async function clusterVersions(etcd: EtcdSession, health: readonly MemberHealth[]): Promise<ClusterVersions> {
  const members = health.filter((h) => h.status).map((h) => ({ name: h.name || h.id, version: h.status?.version ?? "" }));
  let cluster: string | undefined;
  for (const h of health.filter((x) => x.healthy && !x.isLearner && x.endpoint)) {
    try {
      cluster = (await etcd.versionOf(h.endpoint as string)).cluster || undefined;
      break;
    } catch {
      // another voter may answer
    }
  }
  return { cluster, members };
}

/** The members and their health, once a majority of the voters is healthy; else QuorumRisk ("restore the cluster's health before `before`"). */
async function healthyMajority(etcd: EtcdSession, before: string): Promise<{ members: Member[]; health: MemberHealth[]; healthy: MemberHealth[] }> {
  const members = await etcd.memberList();
  const health = await etcd.memberHealth(members);
  const voters = members.filter((m) => !m.isLearner);
  const healthy = health.filter((h) => h.healthy && !h.isLearner);
  if (healthy.length * 2 <= voters.length) {
    throw new EtcdStandbyError("QuorumRisk", `only ${healthy.length} of ${voters.length} voters are healthy`, `restore the cluster's health before ${before}`);
  }
  return { members, health, healthy };
}

/** The voters' versions and who is healthy, from {@link healthyMajority}. */
async function voterFacts(etcd: EtcdSession, health: MemberHealth[], healthy: MemberHealth[]): Promise<Omit<ClusterPreflight, "adopt">> {
  return { versions: await clusterVersions(etcd, health), healthyVoters: healthy.map((h) => ({ id: h.id, name: h.name || h.id })) };
}

/** Preflight, on the cluster side: health, versions, name and peer URL, learner slots. Changes nothing. */
async function preflightCluster(etcd: EtcdSession, s: LearnerSettings): Promise<ClusterPreflight> {
  const { members, health, healthy } = await healthyMajority(etcd, "adding a learner");
  // The voters' health just read says who leads: no second round of status calls.
  leaderAmong(health.filter((h) => !h.isLearner));
  const pre = await voterFacts(etcd, health, healthy);
  const byUrl = members.find((m) => m.peerURLs.some((u) => sameUrl(u, s.peerURL)));
  const byName = members.find((m) => m.name === s.memberName);
  // A learner left by an interrupted create (same peer URL, unstarted or same name) is adopted.
  if (byUrl && byUrl.isLearner && (!byUrl.started || byUrl.name === s.memberName) && (!byName || byName.id === byUrl.id)) {
    return { ...pre, adopt: byUrl };
  }
  if (byName) {
    throw new EtcdStandbyError("Refused", `member name ${s.memberName} is already used by member ${byName.id} (${byName.peerURLs.join(", ")})`, "choose another memberName, or remove that member first", { member: s.memberName });
  }
  if (byUrl) {
    throw new EtcdStandbyError("Refused", `peer URL ${s.peerURL} is already used by ${byUrl.isLearner ? "learner" : "voter"} ${byUrl.name || byUrl.id}`, "remove that member first (EtcdMemberRemoval), or use this host's own peer URL", { member: byUrl.name || byUrl.id });
  }
  const slots = checkAddLearner(members, s.maxLearners);
  if (!slots.ok) throw new EtcdStandbyError("Refused", slots.reason, "promote or remove the existing learner first", { member: s.memberName });
  return { ...pre, adopt: undefined };
}

/** Refuses an image whose etcd may not run beside the cluster's members; before anything changes. */
function refuseVersion(image: EtcdVersion, versions: ClusterVersions, s: LearnerSettings, host: string): void {
  const verdict = checkJoinVersion(image, versions);
  if (verdict.ok) return;
  const seen = `cluster version ${versions.cluster ?? "unknown"}; members: ${versions.members.map((m) => `${m.name} ${m.version}`).join(", ")}`;
  throw new EtcdStandbyError(
    "Refused",
    `refusing learner ${s.memberName} on ${host}: image ${s.image} runs etcd ${image.text}, which etcd does not support beside this cluster (${seen}): ${verdict.problems.join("; ")}. Nothing was changed`,
    verdict.safePath,
    { member: s.memberName, host },
  );
}

/**
 * Warns in peacetime when the image's restore tool lacks `--bump-revision`
 * and `--mark-compacted`: a failover from this learner would still work,
 * but without keeping Kubernetes' revisions from going back.
 */
function warnNoRevisionBump(image: EtcdVersion, s: LearnerSettings): void {
  if (!bumpSupported(image)) progress(WHAT, `learner ${s.memberName}: ${noBumpWarning(s.image, image)}`);
}

/** What {@link readImageVersion} found: the image's version or its absence, or why neither could be told. */
type ImageRead = { read: ImageVersionRead } | { error: unknown };

/**
 * The image's etcd version, read on the host (never pulled: an absent image
 * is a fact for {@link judgeHost}, which the host-side preflight needs no
 * `docker image inspect` for); a failure is kept for after the host's own checks.
 */
function readImageVersion(ssh: SshSession, s: LearnerSettings): Promise<ImageRead> {
  return readImageEtcdVersion(ssh, s.image, s.etcdBinary, { name: `${s.containerName}-version-${RUN_ID}`, labels: { [MANAGED_LABEL]: "EtcdLearnerTool", [RUN_LABEL]: RUN_ID } }).then(
    (read) => ({ read }),
    (error: unknown) => ({ error }),
  );
}

/** The image version from {@link readImageVersion}, or its error (or the image's absence) thrown. */
function versionOrThrow(r: ImageRead, image: string, host: string): EtcdVersion {
  if ("error" in r) throw r.error;
  if (!r.read.present) throw imageAbsentError(image, host);
  return r.read.version;
}

/** Checks the certificate names the learner's address, is valid now, and was issued by the host's CA file. */
function checkCertificate(certPem: string, caPem: string, address: string, certFile: string, host: string): void {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    ca = new X509Certificate(caPem);
  } catch (e) {
    throw new EtcdStandbyError("InvalidInput", `cannot parse the TLS files on ${host}: ${describeError(e)}`, "check tls.certFile and tls.caFile point at PEM certificates", { host });
  }
  if (!namesAddress(cert, address)) {
    throw new EtcdStandbyError("InvalidInput", `TLS SAN mismatch: ${certFile} on ${host} does not name ${address} (it is for: ${cert.subjectAltName ?? "no SANs"})`, `use the certificate issued for ${address} (RKE: kube-etcd-${address.replace(/[.:]/g, "-")}.pem)`, { host });
  }
  if (validityProblem(cert) !== undefined) {
    throw new EtcdStandbyError("InvalidInput", `${certFile} on ${host} is not valid now (valid ${cert.validFrom} to ${cert.validTo})`, "renew the certificate", { host });
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new EtcdStandbyError("InvalidInput", `${certFile} on ${host} was not issued by the CA in tls.caFile`, "use the cluster's CA and a certificate it issued", { host });
  }
}

/** What the host-side preflight reads: every read at once, judged afterwards in a fixed order. */
interface HostFacts {
  /** Whether each TLS file (by its field) is readable. */
  readable: [string, string, boolean][];
  certPem: string | null;
  caPem: string | null;
  imagePresent: boolean;
  container: ContainerInfo;
  dataDir: PathState;
}

/**
 * The host-side preflight's reads, in one shell command: the files (TLS
 * files readable, the certificate and the CA read, the data dir's state),
 * then the container's `docker inspect` (read by {@link containerInfoOf}
 * from that command's answer). The image's presence comes from the version
 * read (`imageRead`, its own command: two channels of one SSH connection in
 * all). Changes nothing.
 */
async function readHostFacts(ssh: SshSession, s: LearnerSettings, imageRead: Promise<ImageRead>): Promise<HostFacts> {
  const files = Object.entries(s.tls) as [string, string][];
  const inspect = inspectArgv(ssh, s.containerName);
  const [survey, image] = await Promise.all([
    surveyPaths(ssh, { readable: files.map(([, file]) => file), read: [s.tls.certFile, s.tls.caFile], states: [s.dataDir], then: inspect }),
    imageRead,
  ]);
  const container = containerInfoOf(ssh, s.containerName, survey.then);
  const readable = files.map(([field, file], i): [string, string, boolean] => [field, file, survey.readable[i]]);
  // A version read that failed for another reason says nothing of the image: its error is thrown after the host's checks.
  const imagePresent = "error" in image || image.read.present;
  return { readable, certPem: survey.contents[0], caPem: survey.contents[1], imagePresent, container, dataDir: survey.states[0] };
}

/** Preflight, on the host side: judges what {@link readHostFacts} read, first problem first. Returns what the container's name holds. */
function judgeHost(f: HostFacts, s: LearnerSettings, adopting: boolean, host: string): ContainerInfo {
  for (const [field, file, ok] of f.readable) {
    if (!ok) throw new EtcdStandbyError("InvalidInput", `tls.${field} ${file} is missing or unreadable on ${host}`, "copy the cluster's CA and this host's certificate and key there, or set tls", { host });
  }
  checkCertificate(f.certPem ?? "", f.caPem ?? "", hostOfUrl(s.peerURL), s.tls.certFile, host);
  if (!f.imagePresent) throw imageAbsentError(s.image, host);
  const info = f.container;
  if (info.exists && !mine(info, s)) {
    throw new EtcdStandbyError("Refused", `a container named ${s.containerName} already exists on ${host} and is not this learner's`, "remove it (RkeContainerCleanup) or choose another containerName", { host });
  }
  if (!adopting && !info.exists && f.dataDir !== "absent" && f.dataDir !== "empty-dir") {
    throw new EtcdStandbyError("Refused", `data dir ${s.dataDir} on ${host} is not empty (${f.dataDir}); a learner must start on an empty data dir`, "archive it first (RkeContainerCleanup archives /var/lib/etcd), or choose another dataDir", { host });
  }
  return info;
}

/** Reads the learner's state from the cluster (and its status endpoint when reachable). */
async function observe(etcd: EtcdSession, s: LearnerSettings): Promise<LearnerState> {
  return (await observeWithVoters(etcd, s)).state;
}

/** {@link observe}, with the voters' health seen on the way (empty when not read). */
/**
 * This learner's member: the one with its name at its peer URL, or an
 * unstarted learner at its peer URL (added, never started). Another member
 * at its peer URL (the restored `new-cluster` in rebuild mode, RKE's voter
 * not removed yet) is never this learner's: {@link foreignAtUrl} names it.
 * Throws when the name and the peer URL point at two different members.
 */
function ownMember(members: readonly Member[], s: LearnerSettings): Member | undefined {
  const m = resolveMember(members, { name: s.memberName, peerURL: s.peerURL });
  if (m === undefined || !m.peerURLs.some((u) => sameUrl(u, s.peerURL))) return undefined;
  return m.name === s.memberName || (m.name === "" && m.isLearner) ? m : undefined;
}

/** A member at this learner's peer URL that is not this learner (see {@link ownMember}), if any. */
function foreignAtUrl(members: readonly Member[], s: LearnerSettings): Member | undefined {
  return members.find((m) => m.peerURLs.some((u) => sameUrl(u, s.peerURL)) && m.name !== s.memberName && !(m.name === "" && m.isLearner));
}

/** The refusal to act on another member at this learner's peer URL: EtcdLearner never removes, restarts or replaces a member that is not its own. */
function foreignMemberError(m: Member, s: LearnerSettings, host: string, what: string): EtcdStandbyError {
  return new EtcdStandbyError(
    "Refused",
    `refusing to ${what} learner ${s.memberName} on ${host}: its peer URL ${s.peerURL} is held by ${m.isLearner ? "learner" : "voter"} ${m.name || "(unstarted)"} (${m.id}), which is not this learner; EtcdLearner acts only on the member named ${s.memberName} at that URL, and never on another one; nothing was changed`,
    m.isLearner
      ? `check memberName and peerURL; if ${m.name || m.id} should go, remove it with EtcdMemberRemoval (name and peer URL), then run pulumi up again`
      : `that voter serves the cluster (in rebuild mode it is the restored member): check the topology mode and the host's inputs; if it really must go, remove it with EtcdMemberRemoval (quorum-checked), then run pulumi up again`,
    { member: m.name || m.id, host },
  );
}

async function observeWithVoters(etcd: EtcdSession, s: LearnerSettings): Promise<{ state: LearnerState; voters: MemberHealth[] }> {
  const members = await etcd.memberList();
  const m = ownMember(members, s);
  const base: LearnerState = { memberId: "", present: false, isLearner: false, started: false, lag: -1, appliedIndex: 0, leaderIndex: 0, dbSize: 0, version: "", containerRunning: false };
  if (!m) return { state: base, voters: [] };
  const state: LearnerState = { ...base, memberId: m.id, present: true, isLearner: m.isLearner, started: m.started && m.name === s.memberName };
  // Both are read even when the learner does not answer yet: the voters' health is watched meanwhile.
  const [mineR, seenR] = await Promise.allSettled([etcd.statusOf(s.clientURL), leaderStatus(etcd, members)]);
  const voters = seenR.status === "fulfilled" ? seenR.value.voters : [];
  if (mineR.status === "fulfilled" && seenR.status === "fulfilled") {
    const mine = mineR.value;
    const leader = seenR.value.leader;
    if (mine.memberId === m.id) {
      state.appliedIndex = appliedIndexOf(mine);
      state.leaderIndex = leader.raftIndex;
      state.lag = Math.max(0, leader.raftIndex - state.appliedIndex);
      state.dbSize = mine.dbSize;
      state.version = mine.version;
    }
  }
  // Otherwise not answering yet (starting) or down: lag stays unknown (-1).
  return { state, voters };
}

/** How long a voter healthy before the learner started may stay unanswering before the start is abandoned. */
const VOTER_SILENCE_MS = 3000;

/** How long {@link waitCaughtUp} polls every 100 ms (the cluster's status only) before it polls every 500 ms: a 1 GB catch-up is well inside it. */
const POLL_FAST_FOR_MS = 60_000;

/**
 * How often {@link waitCaughtUp} looks at the learner's container (a docker
 * command over SSH: a login shell and the docker CLI on the host) while it
 * waits, the first time one interval after the start: `docker run -d` has
 * just said it started, and each look takes CPU from the etcd that is
 * receiving its snapshot. A container that exits is seen within two looks.
 */
const INSPECT_EVERY_MS = 2000;

/**
 * Waits until the learner is started under its name and within the threshold
 * of the leader, while watching `voters` (healthy before it started): one that
 * stops answering for {@link VOTER_SILENCE_MS} ends the wait with QuorumRisk,
 * so the caller takes the learner away again.
 */
async function waitCaughtUp(etcd: EtcdSession, ssh: SshSession, s: LearnerSettings, memberId: string, voters: readonly { id: string; name: string }[]): Promise<LearnerState> {
  const deadline = Date.now() + s.timeoutMs;
  let lastReport = 0;
  let last: LearnerState | undefined;
  const started = Date.now();
  const silentSince = new Map<string, number>();
  // The container's state is read beside the polls (every INSPECT_EVERY_MS: a docker command on the host), never
  // holding a poll back; the checks below use the latest answer, and an inspection that failed fails the wait. One
  // still running when the wait ends is not waited for: it only reads, and the session's end closes its channel.
  const container: { info?: ContainerInfo; error?: Error; inspecting?: Promise<void>; next: number } = { next: Date.now() + INSPECT_EVERY_MS };
  // The member list is read at the start of a poll and the learner's status after: the first status it answers (its
  // server serves once it has published its name) comes with a member list from before. That poll is read again at once.
  let rereadOnce = true;
  const inspectBeside = (): void => {
    if (container.inspecting !== undefined || Date.now() < container.next) return;
    container.next = Date.now() + INSPECT_EVERY_MS;
    container.inspecting = inspectContainer(ssh, s.containerName).then(
      (info) => {
        container.info = info;
      },
      (e: unknown) => {
        container.error = e instanceof Error ? e : new Error(describeError(e));
      },
    ).finally(() => {
      container.inspecting = undefined;
    });
  };
  for (;;) {
    inspectBeside();
    const seen = await observeWithVoters(etcd, s);
    if (container.error !== undefined) throw container.error;
    const st = seen.state;
    last = st;
    const health = seen.voters.length > 0 ? seen.voters : await etcd.memberHealth((await etcd.memberList()).filter((m) => voters.some((v) => v.id === m.id))).catch(() => []);
    for (const v of voters) {
      const h = health.find((x) => x.id === v.id);
      if (h?.healthy) silentSince.delete(v.id);
      else if (!silentSince.has(v.id)) silentSince.set(v.id, Date.now());
    }
    const silent = voters.filter((v) => Date.now() - (silentSince.get(v.id) ?? Date.now()) >= VOTER_SILENCE_MS);
    if (silent.length > 0) {
      throw new EtcdStandbyError(
        "QuorumRisk",
        `voter${silent.length > 1 ? "s" : ""} ${silent.map((v) => v.name).join(", ")} stopped answering while learner ${s.memberName} started on ${ssh.host} (healthy before it): the learner is taken away to protect the quorum`,
        "check the voters' logs (docker logs etcd) for a version or TLS problem the learner caused, and fix it before running pulumi up again",
        { member: s.memberName, host: ssh.host },
      );
    }
    if (st.present && st.memberId !== memberId) {
      throw new EtcdStandbyError("Refused", `the member at ${s.peerURL} is now ${st.memberId}, not ${memberId}`, "someone changed the member list concurrently; run pulumi up again", { member: s.memberName });
    }
    if (!st.present) throw new EtcdStandbyError("Refused", `learner ${s.memberName} (${memberId}) disappeared from the member list while starting`, "check who removed it, then run pulumi up again", { member: s.memberName });
    if (st.started && st.lag >= 0 && st.lag <= s.catchUpThreshold) {
      progress(WHAT, `${s.memberName}: caught up, applied ${st.appliedIndex} of ${st.leaderIndex} (lag ${st.lag})`);
      return st;
    }
    // The container as last inspected (none yet: the first inspection has not answered).
    const info = container.info;
    if (info?.exists === true && info.restartCount >= 3 && !st.started) {
      throw new EtcdStandbyError("Refused", `the learner container ${s.containerName} on ${ssh.host} keeps exiting (restarted ${info.restartCount} times)`, "see the log below", { member: s.memberName, host: ssh.host });
    }
    if (info !== undefined && (!info.exists || (!info.running && info.state !== "restarting" && info.state !== "created"))) {
      throw new EtcdStandbyError("Refused", `the learner container ${s.containerName} on ${ssh.host} is ${info.exists ? info.state : "gone"}`, "see the log tail below", { member: s.memberName, host: ssh.host });
    }
    if (Date.now() - lastReport > 3000) {
      lastReport = Date.now();
      progress(WHAT, st.started && st.lag >= 0
        ? `${s.memberName}: applied ${st.appliedIndex} of ${st.leaderIndex} (${catchUpPercent(st.appliedIndex, st.leaderIndex)}%, lag ${st.lag})`
        : `${s.memberName}: waiting for it to start (${info?.state ?? "not inspected yet"})`);
    }
    if (Date.now() > deadline) {
      throw new EtcdStandbyError("Timeout", `learner ${s.memberName} was not ${last.started ? "caught up" : "started"} within ${s.timeoutMs} ms (lag ${last.lag})`, "see the log tail below; raise timeoutMs for a large database", { member: s.memberName, host: ssh.host });
    }
    if (rereadOnce && st.lag >= 0 && !st.started) {
      rereadOnce = false;
      continue;
    }
    // Poll briskly while a small database is likely to finish, then ease off.
    await sleep(Date.now() - started < POLL_FAST_FOR_MS ? 100 : 500);
  }
}

/** What this run created, and so what its rollback may take away (never another run's work). */
interface Created {
  /** The member this run added (`member add --learner`); an adopted one is not. */
  memberId?: string;
  /** This run started the container (it carries this run's ID). */
  container: boolean;
}

/** Undo a failed start: this run's container, this run's member, and the data dir its container wrote. Best effort; returns what it could not undo or kept. */
async function rollback(etcd: EtcdSession, ssh: SshSession, s: LearnerSettings, created: Created, adoptedId: string | undefined): Promise<string[]> {
  const left: string[] = [];
  let containerGone = true;
  let info: ContainerInfo | undefined;
  try {
    info = await inspectContainer(ssh, s.containerName);
  } catch (e) {
    // The host cannot be asked (the SSH connection dropped): the container may be running.
    containerGone = false;
    left.push(`container ${s.containerName}: ${describeError(e)}`);
  }
  const ours = info !== undefined && info.exists && info.labels[RUN_LABEL] === RUN_ID;
  if (info?.exists && !ours) {
    containerGone = false;
    left.push(`container ${s.containerName} kept: ${created.container ? "it is no longer the one this run started" : "this run did not start it"} (run ${info.labels[RUN_LABEL] ?? "unknown"}, not ${RUN_ID})`);
  } else if (ours) {
    try {
      await removeContainer(ssh, s.containerName, { force: true });
    } catch (e) {
      containerGone = false;
      left.push(`container ${s.containerName}: ${describeError(e)}`);
    }
  }
  const memberId = created.memberId;
  if (!memberId) {
    if (adoptedId) left.push(`member ${adoptedId} kept: an earlier run added it (this run only adopted it)`);
  } else if (!containerGone) {
    // The container may be running as this member (a `docker run` whose answer
    // was lost): without its member it would crash-loop on a removed member's
    // data. A learner costs no quorum, so keep it; the next run adopts it.
    left.push(`member ${memberId} kept, because its container may still be running: the next run adopts it (same peer URL)`);
  } else {
    try {
      const members = await etcd.memberList();
      if (members.some((m) => m.id === memberId)) await etcd.memberRemove(memberId);
    } catch (e) {
      left.push(`member ${memberId}: ${describeError(e)}`);
    }
  }
  if (ours && containerGone) {
    try {
      const st = await pathState(ssh, s.dataDir);
      if (st === "non-empty-dir") {
        const r = await archivePath(ssh, s.dataDir, `${s.dataDir}.failed-${stamp()}`);
        if (r.inPlace) left.push(`data dir ${s.dataDir} is a mount point: its contents were moved to ${r.to}`);
      }
    } catch (e) {
      left.push(`data dir ${s.dataDir}: ${describeError(e)}`);
    }
  }
  return left;
}

async function logTail(ssh: SshSession, s: LearnerSettings): Promise<string> {
  try {
    return await containerLogsTail(ssh, s.containerName, 400);
  } catch {
    return "";
  }
}

/**
 * Removes this learner's own container when an interrupted run left it and it
 * cannot serve this run: one whose member is no longer in the cluster (it
 * would crash-loop on a removed member's data; its data dir is archived too,
 * as a new member starts on an empty one), or, when adopting, one that is not
 * running (a `docker run` cut short after creating it).
 */
async function clearLeftover(ssh: SshSession, s: LearnerSettings, adopting: boolean, info: ContainerInfo): Promise<void> {
  if (!info.exists || !mine(info, s)) return;
  if (adopting && (info.state === "running" || info.state === "restarting")) return;
  progress(WHAT, `removing ${s.containerName} on ${ssh.host} (${info.state}), left by an interrupted run${adopting ? "" : " for a member no longer in the cluster"}`);
  await removeContainer(ssh, s.containerName, { force: true });
  if (!adopting && (await pathState(ssh, s.dataDir)) === "non-empty-dir") {
    const r = await archivePath(ssh, s.dataDir, `${s.dataDir}.failed-${stamp()}`);
    progress(WHAT, `archived ${s.dataDir} to ${r.to} on ${ssh.host}`);
  }
}

/**
 * `member add --learner`, retried while etcd refuses it with "unhealthy
 * cluster" (its strict reconfiguration check wants every member connected
 * for a few seconds, e.g. just after a promotion): that refusal is definite,
 * nothing was added, so retrying is safe. Anything else is thrown.
 */
async function addWhenReady(etcd: EtcdSession, s: LearnerSettings): Promise<AddLearnerResult> {
  const deadline = Date.now() + 60_000;
  let delay = 500;
  for (;;) {
    try {
      return await etcd.memberAddLearner([s.peerURL]);
    } catch (e) {
      const transient = isEtcdStandbyError(e, "QuorumRisk") && /unhealthy cluster/i.test(e.message);
      if (!transient || Date.now() + delay > deadline) throw e;
      progress(WHAT, `etcd says the cluster is not ready for a membership change yet (peers recently reconnected); retrying member add in ${delay} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, 4000);
    }
  }
}

/** Stands for `--initial-cluster`'s value in a docker run opened before member add (the value arrives with its go). */
const INITIAL_CLUSTER_LATER = "@@etcd-standby-initial-cluster@@";

/** The learner's container spec, labelled with this run's ID. */
function containerSpec(s: LearnerSettings, initialCluster: string): RunContainerSpec {
  const spec = learnerContainer(s, initialCluster);
  return { ...spec, labels: { ...spec.labels, [RUN_LABEL]: RUN_ID } };
}

/** Starts the learner's container with the live member list and waits for it; rolls back what this run made on failure. */
async function startLearner(props: LearnerInputs): Promise<LearnerResult> {
  const s = learnerSettings(props);
  const host = hostOf(props);
  const conn = clusterOf(props);
  // The host and the cluster are reached at once: once the SSH connection is up, the image's version (a throwaway
  // container of this run's own name, reading nothing another run changes) is read while the cluster's lock is taken.
  const opening = connectSsh(host);
  const imageRead: Promise<ImageRead> = opening.then((o) => readImageVersion(o.session, s), (error: unknown) => ({ error }));
  // The learner's docker run is opened on the host then too, waiting there for the member list member add returns:
  // its go costs no new SSH session. Never released, it runs nothing.
  const armedRun: Promise<ArmedCommand | undefined> = opening.then(
    (o) => armCommand(o.session, runArgv(o.session, containerSpec(s, INITIAL_CLUSTER_LATER)), INITIAL_CLUSTER_LATER),
    () => undefined,
  ).catch(() => undefined); // a spec docker would refuse fails again, with its reason, in runContainer below
  try {
    return await withEtcd(conn, (etcd) =>
      withClusterLock(etcd, `EtcdLearner ${s.memberName} on ${host.host}`, conn.lockWaitMs, async () => {
        // Every preflight only reads; the host's reads (under the lock: another run may change them) run while the cluster is asked.
        const cluster = Promise.all([preflightCluster(etcd, s), s.joinClusterId ? etcd.clusterId() : Promise.resolve(undefined)]);
        cluster.catch(() => undefined);
        const ssh = (await opening).session;
        const [[pre, clusterId], facts, image] = await Promise.all([cluster, readHostFacts(ssh, s, imageRead), imageRead]);
        if (s.joinClusterId && clusterId !== s.joinClusterId) {
          throw new EtcdStandbyError(
            "Refused",
            `refusing to add learner ${s.memberName} on ${host.host}: the cluster at ${conn.endpoints.join(", ")} is ${String(clusterId)}, not ${s.joinClusterId} (the cluster this learner must join); nothing was changed`,
            "check cluster.endpoints and joinClusterId: after a failover, joinClusterId is the restored cluster's (EtcdStandaloneRestore.newClusterId)",
            { member: s.memberName, host: host.host },
          );
        }
        const adopt = pre.adopt;
        const found = judgeHost(facts, s, adopt !== undefined, host.host);
        refuseVersion(versionOrThrow(image, s.image, host.host), pre.versions, s, host.host);
        warnNoRevisionBump(versionOrThrow(image, s.image, host.host), s);
        await clearLeftover(ssh, s, adopt !== undefined, found);
        const created: Created = { container: false };
        try {
          let members: Member[];
          let memberId: string;
          if (adopt) {
            progress(WHAT, `adopting learner ${adopt.id} left by an interrupted run (run ${RUN_ID})`);
            members = await etcd.memberList();
            memberId = adopt.id;
          } else {
            progress(WHAT, `member add --learner ${s.memberName} ${s.peerURL} (run ${RUN_ID})`);
            const added = await addWhenReady(etcd, s);
            memberId = created.memberId = added.member.id;
            members = added.members;
          }
          // Not adopting, the container is absent: preflight saw none of it, or clearLeftover removed it.
          const info = adopt ? await inspectContainer(ssh, s.containerName) : { exists: false };
          if (!info.exists) {
            const initialCluster = buildInitialCluster(members, { name: s.memberName, peerURL: s.peerURL });
            progress(WHAT, `starting ${s.containerName} on ${host.host} with --initial-cluster=${initialCluster} --initial-cluster-state=existing (run ${RUN_ID})`);
            created.container = true;
            const armed = await armedRun;
            if (armed) await armed.go(initialCluster);
            else await runContainer(ssh, containerSpec(s, initialCluster));
          }
          const st = await waitCaughtUp(etcd, ssh, s, memberId, pre.healthyVoters);
          return { ...outputsOf(st, true), clusterId: await etcd.clusterId() };
        } catch (e) {
          const log = await logTail(ssh, s);
          const causes = diagnose(log);
          const left = await rollback(etcd, ssh, s, created, adopt?.id);
          const why = isEtcdStandbyError(e) ? e.message : describeError(e);
          throw new EtcdStandbyError(
            isEtcdStandbyError(e) ? e.code : "Refused",
            `learner ${s.memberName} on ${host.host} failed: ${why}` +
              (causes.length ? `\nLikely cause: ${causes.join("; or ")}` : "") +
              (log ? `\nFrom the learner's log:\n${logExcerpt(log)}` : "") +
              `\nRolled back what this run (${RUN_ID}) made: ${created.memberId ? "container, member, data dir" : created.container ? "container, data dir" : "nothing (it added no member and started no container)"}.` +
              (left.length ? `\nCould not roll back: ${left.join("; ")}` : ""),
            causes.length ? "fix the cause above and run pulumi up again" : "read the log above, fix, and run pulumi up again",
            { member: s.memberName, host: host.host },
          );
        }
      }),
    );
  } finally {
    (await armedRun)?.hold();
    // Its throwaway container is gone before the session closes (it never fails: an error is kept in its result).
    await imageRead;
    (await opening.catch(() => undefined))?.end();
  }
}

/**
 * Restarts the learner with new settings (image, flags, timing, TLS) on the
 * same data dir. The old container is stopped and kept (renamed) until the
 * new one is caught up and every voter is still healthy; otherwise the new
 * one is removed and the old one started again under its name.
 */
async function restartLearner(olds: LearnerInputs, news: LearnerInputs): Promise<LearnerState> {
  const s = learnerSettings(news);
  const conn = clusterOf(news);
  return withEtcd(conn, (etcd) =>
    withClusterLock(etcd, `EtcdLearner ${s.memberName} restart on ${hostOf(news).host}`, conn.lockWaitMs, () =>
      withSsh(hostOf(news), async (ssh) => {
        const [pre, image, members] = await Promise.all([preflightVoters(etcd), readImageVersion(ssh, s), etcd.memberList()]);
        refuseVersion(versionOrThrow(image, s.image, ssh.host), pre.versions, s, ssh.host);
        warnNoRevisionBump(versionOrThrow(image, s.image, ssh.host), s);
        const foreign = foreignAtUrl(members, s);
        if (foreign) throw foreignMemberError(foreign, s, ssh.host, "restart");
        const m = ownMember(members, s);
        if (!m) throw new EtcdStandbyError("NotFound", `learner ${s.memberName} is not in the cluster`, "run pulumi refresh, then pulumi up to re-create it", { member: s.memberName });
        const old = await inspectContainer(ssh, s.containerName);
        if (old.exists && !mine(old, s)) {
          throw new EtcdStandbyError("Refused", `container ${s.containerName} on ${ssh.host} is not this learner's; leaving it alone`, "remove it by hand if it should go, then run pulumi up again", { host: ssh.host, member: s.memberName });
        }
        const previous = `${s.containerName}-previous-${stamp().toLowerCase()}`;
        if (old.exists) {
          progress(WHAT, `stopping ${s.containerName} on ${ssh.host}, kept as ${previous} until the new one is caught up (run ${RUN_ID})`);
          await stopForGood(ssh, s.containerName, 30);
          await renameContainer(ssh, s.containerName, previous);
        }
        const initialCluster = buildInitialCluster(members, { name: s.memberName, peerURL: s.peerURL });
        try {
          progress(WHAT, `starting ${s.containerName} on ${ssh.host} (${s.image}) on the same data dir (run ${RUN_ID})`);
          await runContainer(ssh, containerSpec(s, initialCluster));
          const st = await waitCaughtUp(etcd, ssh, s, m.id, pre.healthyVoters);
          if (old.exists) await removeContainer(ssh, previous, { force: true });
          return st;
        } catch (e) {
          const log = await logTail(ssh, s);
          const causes = diagnose(log);
          const back = old.exists ? await restorePrevious(etcd, ssh, learnerSettings(olds), previous, m.id, pre.healthyVoters) : "there was no old container to go back to";
          throw new EtcdStandbyError(
            isEtcdStandbyError(e) ? e.code : "Refused",
            `learner ${s.memberName} on ${ssh.host} did not come back with the new settings (image ${s.image}): ${describeError(e)}` +
              (causes.length ? `\nLikely cause: ${causes.join("; or ")}` : "") +
              (log ? `\nFrom the new container's log:\n${logExcerpt(log)}` : "") +
              `\n${back}`,
            "fix the settings and run pulumi up again (the member and its data dir are kept)",
            { member: s.memberName, host: ssh.host },
          );
        }
      }),
    ),
  );
}

/** Puts the old container back after a failed restart; says how that went. */
async function restorePrevious(etcd: EtcdSession, ssh: SshSession, oldS: LearnerSettings, previous: string, memberId: string, voters: readonly { id: string; name: string }[]): Promise<string> {
  try {
    const now = await inspectContainer(ssh, oldS.containerName);
    if (now.exists && now.labels[RUN_LABEL] === RUN_ID) await removeContainer(ssh, oldS.containerName, { force: true });
    await renameContainer(ssh, previous, oldS.containerName);
    await setRestartPolicy(ssh, oldS.containerName, "always");
    await startContainer(ssh, oldS.containerName);
    const st = await waitCaughtUp(etcd, ssh, oldS, memberId, voters);
    return `Rolled back: the old container (image ${oldS.image}) runs again and is caught up (lag ${st.lag}).`;
  } catch (e) {
    return `Rolling back to the old container failed too: ${describeError(e)}; it is kept as ${previous} (docker rename ${previous} ${oldS.containerName} && docker start ${oldS.containerName} to bring it back by hand).`;
  }
}

/** The voters' health and versions before a restart (no slot or name checks: the member exists). */
async function preflightVoters(etcd: EtcdSession): Promise<Omit<ClusterPreflight, "adopt">> {
  const { health, healthy } = await healthyMajority(etcd, "restarting the learner; nothing was changed");
  return voterFacts(etcd, health, healthy);
}

function outputsOf(st: LearnerState, containerRunning: boolean): LearnerResult {
  return { ...st, containerRunning };
}

/** Stops and removes the container, removes the member (quorum permitting), archives the data dir. */
/**
 * Removes the learner: member, container (only its own) and data dir
 * (archived). With `keepVoter` (delete), a member that is a voter now
 * (promoted) is left alone with its container and data: deleting the
 * resource never takes a voter out of the serving cluster.
 */
async function removeLearner(props: LearnerInputs, opts: { keepVoter?: boolean; what?: string } = {}): Promise<void> {
  const s = learnerSettings(props);
  const conn = clusterOf(props);
  await withEtcd(conn, (etcd) =>
    withClusterLock(etcd, `EtcdLearner ${s.memberName} removal on ${hostOf(props).host}`, conn.lockWaitMs, () => withSsh(hostOf(props), async (ssh) => {
      const members = await etcd.memberList();
      // Only this learner's own member (its name at its peer URL) is ever removed; another one there is refused.
      const foreign = foreignAtUrl(members, s);
      if (foreign && opts.keepVoter === true) {
        progress(WHAT, `${foreign.name || foreign.id} at ${s.peerURL} is not learner ${s.memberName}: deleting the resource leaves it, and the host's containers and data, as they are`);
        return;
      }
      if (foreign) throw foreignMemberError(foreign, s, ssh.host, opts.what ?? "remove");
      const m = ownMember(members, s);
      if (m && !m.isLearner && opts.keepVoter === true) {
        progress(WHAT, `${m.name || m.id} at ${s.peerURL} is a voter now: deleting the resource leaves it, its container and its data as they are`);
        return;
      }
      if (m && !m.isLearner) {
        const health = await etcd.memberHealth(members);
        const decision = checkRemoval(members, health.filter((h) => h.healthy).map((h) => h.id), m.id);
        if (!decision.ok) {
          throw new EtcdStandbyError("QuorumRisk", `refusing to remove ${s.memberName}, now a voter: ${decision.reason}`, "restore the other voters first", { member: s.memberName });
        }
      }
      const info = await inspectContainer(ssh, s.containerName);
      if (info.exists) {
        if (!mine(info, s)) {
          throw new EtcdStandbyError("Refused", `container ${s.containerName} on ${ssh.host} is not this learner's; leaving it alone`, "remove it by hand if it should go", { host: ssh.host });
        }
        progress(WHAT, `removing container ${s.containerName} on ${ssh.host}`);
        await removeContainer(ssh, s.containerName, { force: true });
      }
      if (m) {
        progress(WHAT, `member remove ${m.name || m.id} (${m.id})`);
        await etcd.memberRemove(m.id);
      }
      const st = await pathState(ssh, s.dataDir);
      if (st === "non-empty-dir") {
        const r = await archivePath(ssh, s.dataDir, `${s.dataDir}.removed-${stamp()}`);
        progress(WHAT, `archived ${s.dataDir} to ${r.to}`);
      }
    })),
  );
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<LearnerInputs, LearnerOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkCluster(p, news.cluster);
    checkHost(p, news.host);
    p.add("memberName", news.memberName, validateMemberName(news.memberName, "memberName"));
    p.add("peerURL", news.peerURL, validatePeerUrl(news.peerURL, "peerURL"));
    p.add("clientURL", news.clientURL, validateClientUrl(news.clientURL, "clientURL"));
    p.add("image", news.image, validateImage(news.image, "image"));
    if (news.joinClusterId !== undefined && !hasUnknown(news.joinClusterId) && (typeof news.joinClusterId !== "string" || !/^[0-9a-fA-F]{1,16}$/.test(news.joinClusterId))) {
      p.add("joinClusterId", news.joinClusterId, ["joinClusterId must be an etcd cluster ID in hex (up to 16 digits), e.g. EtcdStandaloneRestore.newClusterId"]);
    }
    if (news.extraFlags !== undefined) {
      p.add("extraFlags", news.extraFlags, [...validateEach(news.extraFlags, "extraFlags", validateExtraFlag), ...refusedExtraFlags(news.extraFlags, LEARNER_OWNED_FLAGS)]);
    }
    const tls = news.tls ?? {};
    checkNamesAndPath(p, [{ field: "containerName", value: news.containerName }], [
      { field: "dataDir", value: news.dataDir },
      { field: "etcdBinary", value: news.etcdBinary },
      { field: "tls.caFile", value: tls.caFile },
      { field: "tls.certFile", value: tls.certFile },
      { field: "tls.keyFile", value: tls.keyFile },
    ]);
    for (const f of ["heartbeatMs", "electionMs", "timeoutMs", "maxLearners"] as const) {
      if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    }
    if (news.catchUpThreshold !== undefined) p.add("catchUpThreshold", news.catchUpThreshold, entryCount(news.catchUpThreshold, "catchUpThreshold"));
    checkRaftTimings(p, news);
    // The learner's peer URL must point at the host we start it on.
    const h: Partial<LearnerInputs["host"]> = news.host ?? {};
    if (!hasUnknown(news.peerURL) && !hasUnknown(h.host) && typeof news.peerURL === "string" && typeof h.host === "string" && validatePeerUrl(news.peerURL).length === 0) {
      if (hostOfUrl(news.peerURL) !== h.host) {
        p.add("peerURL", news.peerURL, [`peerURL ${news.peerURL} points at ${hostOfUrl(news.peerURL)}, but the learner is started on host ${h.host}: use https://${h.host}:2380`]);
      }
    }
    if (!hasUnknown(news.clientURL) && !hasUnknown(h.host) && typeof news.clientURL === "string" && typeof h.host === "string" && validateClientUrl(news.clientURL).length === 0) {
      if (hostOfUrl(news.clientURL) !== h.host) {
        p.add("clientURL", news.clientURL, [`clientURL ${news.clientURL} points at ${hostOfUrl(news.clientURL)}, but the learner is started on host ${h.host}: use https://${h.host}:2379`]);
      }
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    const d = diffByTable(LEARNER_FIELDS, olds, news, { deleteBeforeReplace: true });
    // Gone from the cluster (seen by refresh): start a new one.
    const replaces = olds.present === false && d.replaces.length === 0 ? ["memberName"] : d.replaces;
    return { changes: d.changes || replaces.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const outs = await startLearner(inputs);
    return { id: `learner-${inputs.memberName}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const s = learnerSettings(props);
    const st = await withEtcd(clusterOf(props), (etcd) => observe(etcd, s));
    let running = false;
    try {
      running = await withSsh(hostOf(props), async (ssh) => (await inspectContainer(ssh, s.containerName)).running);
    } catch {
      running = false;
    }
    return { id, props: { ...props, ...outputsOf(st, running) } };
  },

  async update(_id, olds, news) {
    const s = learnerSettings(news);
    const live = await withEtcd(clusterOf(news), (etcd) => observe(etcd, s));
    // Gone from the cluster, or a voter where a learner is wanted: start it again as a learner.
    if (!live.present || (!live.isLearner && news.allowPromoted !== true)) {
      progress(WHAT, live.present ? `${s.memberName} is a voter but a learner is wanted: removing it and adding it back as a learner` : `${s.memberName} is not in the cluster: starting it again`);
      await removeLearner(news, { what: live.present ? "demote" : "re-create" });
      const outs = await startLearner(news);
      return { outs: { ...news, ...outs } };
    }
    // Image, binary, flags, timings or TLS files changed: restart on the same data dir.
    const restart = changedFields(LEARNER_FIELDS, olds, news).updates.length > 0;
    if (!restart) return { outs: { ...recordedState(LEARNER_FIELDS, olds, news), ...outputsOf(live, olds.containerRunning === true) } };
    const st = await restartLearner(olds, news);
    return { outs: { ...news, ...outputsOf(st, true) } };
  },

  async delete(_id, props) {
    await removeLearner(props, { keepVoter: true });
  },
});
