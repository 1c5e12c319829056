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
import { containerLogsTail, imageExists, inspectContainer, removeContainer, runContainer } from "../connection/docker";
import type { ContainerInfo } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { EtcdSession, EtcdStatus } from "../connection/etcd";
import { archivePath, fileReadable, pathState, readPublicFile } from "../connection/hostfs";
import type { PathState } from "../connection/hostfs";
import { withSsh } from "../connection/ssh";
import type { SshSession } from "../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { buildInitialCluster, hostOfUrl, resolveMember, sameUrl } from "../lib/members";
import type { Member } from "../lib/members";
import { checkAddLearner, checkRemoval } from "../lib/quorum";
import { validateClientUrl, validateEach, validateExtraFlag, validateImage, validateMemberName, validatePeerUrl } from "../lib/validate";
import { checkCluster, checkHost, checkNamesAndPath, clusterOf, diffFields, hasUnknown, hostOf, positiveInt, Problems, progress, stamp } from "./common";
import type { ProviderImpl, Props } from "./common";
import { catchUpPercent, diagnose, learnerContainer, learnerSettings, logExcerpt, MANAGED_LABEL, MEMBER_LABEL } from "./learnerSpec";
import type { LearnerSettings } from "./learnerSpec";

const WHAT = "EtcdLearner";

/** What read and create report about the learner. */
interface LearnerState {
  memberId: string;
  present: boolean;
  isLearner: boolean;
  started: boolean;
  lag: number;
  appliedIndex: number;
  leaderIndex: number;
  dbSize: number;
  version: string;
  containerRunning: boolean;
}

function mine(info: ContainerInfo, s: LearnerSettings): boolean {
  return info.exists && info.labels[MANAGED_LABEL] === "EtcdLearner" && info.labels[MEMBER_LABEL] === s.memberName;
}

/** Status of the current leader, from any healthy voter's view. */
async function leaderStatus(etcd: EtcdSession, members: readonly Member[]): Promise<EtcdStatus> {
  const health = await etcd.memberHealth(members.filter((m) => !m.isLearner));
  const seen = health.find((h) => h.status && h.status.leaderId !== "0000000000000000");
  if (!seen?.status) {
    throw new EtcdStandbyError("Refused", "no voter reports a leader: the cluster is not healthy", "restore quorum before adding a learner (etcdctl endpoint status)");
  }
  const leaderHealth = health.find((h) => h.id === seen.status?.leaderId);
  if (leaderHealth?.status) return leaderHealth.status;
  throw new EtcdStandbyError("Refused", `the leader ${seen.status.leaderId} does not answer status calls`, "check the leader's health and retry");
}

/** Preflight, on the cluster side. Returns an existing leftover learner to adopt, if any. */
async function preflightCluster(etcd: EtcdSession, s: LearnerSettings): Promise<Member | undefined> {
  const members = await etcd.memberList();
  const health = await etcd.memberHealth(members);
  const voters = members.filter((m) => !m.isLearner);
  const healthyVoters = health.filter((h) => h.healthy && !h.isLearner).length;
  if (healthyVoters * 2 <= voters.length) {
    throw new EtcdStandbyError("QuorumRisk", `only ${healthyVoters} of ${voters.length} voters are healthy`, "restore the cluster's health before adding a learner");
  }
  await leaderStatus(etcd, members);
  const byUrl = members.find((m) => m.peerURLs.some((u) => sameUrl(u, s.peerURL)));
  const byName = members.find((m) => m.name === s.memberName);
  // A learner left by an interrupted create (same peer URL, unstarted or same name) is adopted.
  if (byUrl && byUrl.isLearner && (!byUrl.started || byUrl.name === s.memberName) && (!byName || byName.id === byUrl.id)) {
    return byUrl;
  }
  if (byName) {
    throw new EtcdStandbyError("Refused", `member name ${s.memberName} is already used by member ${byName.id} (${byName.peerURLs.join(", ")})`, "choose another memberName, or remove that member first", { member: s.memberName });
  }
  if (byUrl) {
    throw new EtcdStandbyError("Refused", `peer URL ${s.peerURL} is already used by ${byUrl.isLearner ? "learner" : "voter"} ${byUrl.name || byUrl.id}`, "remove that member first (EtcdMemberRemoval), or use this host's own peer URL", { member: byUrl.name || byUrl.id });
  }
  const slots = checkAddLearner(members, s.maxLearners);
  if (!slots.ok) throw new EtcdStandbyError("Refused", slots.reason, "promote or remove the existing learner first", { member: s.memberName });
  return undefined;
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
  const names = /^[\d.]+$|:/.test(address) ? cert.checkIP(address) : cert.checkHost(address);
  if (!names) {
    throw new EtcdStandbyError("InvalidInput", `TLS SAN mismatch: ${certFile} on ${host} does not name ${address} (it is for: ${cert.subjectAltName ?? "no SANs"})`, `use the certificate issued for ${address} (RKE: kube-etcd-${address.replace(/[.:]/g, "-")}.pem)`, { host });
  }
  const now = Date.now();
  if (Date.parse(cert.validTo) < now || Date.parse(cert.validFrom) > now) {
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

/** The host-side preflight's reads, over concurrent channels of one SSH connection (at most 8; OpenSSH allows 10 by default). Changes nothing. */
async function readHostFacts(ssh: SshSession, s: LearnerSettings): Promise<HostFacts> {
  const files = Object.entries(s.tls) as [string, string][];
  const [readable, certPem, caPem, imagePresent, container, dataDir] = await Promise.all([
    Promise.all(files.map(async ([field, file]): Promise<[string, string, boolean]> => [field, file, await fileReadable(ssh, file)])),
    readPublicFile(ssh, s.tls.certFile),
    readPublicFile(ssh, s.tls.caFile),
    imageExists(ssh, s.image),
    inspectContainer(ssh, s.containerName),
    pathState(ssh, s.dataDir),
  ]);
  return { readable, certPem, caPem, imagePresent, container, dataDir };
}

/** Preflight, on the host side: judges what {@link readHostFacts} read, first problem first. Returns what the container's name holds. */
function judgeHost(f: HostFacts, s: LearnerSettings, adopting: boolean, host: string): ContainerInfo {
  for (const [field, file, ok] of f.readable) {
    if (!ok) throw new EtcdStandbyError("InvalidInput", `tls.${field} ${file} is missing or unreadable on ${host}`, "copy the cluster's CA and this host's certificate and key there, or set tls", { host });
  }
  checkCertificate(f.certPem ?? "", f.caPem ?? "", hostOfUrl(s.peerURL), s.tls.certFile, host);
  if (!f.imagePresent) {
    throw new EtcdStandbyError("InvalidInput", `image ${s.image} is not present on ${host}`, `load it there first (docker load / docker pull ${s.image})`, { host });
  }
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
  const members = await etcd.memberList();
  const m = resolveMember(members, { peerURL: s.peerURL }) ?? resolveMember(members, { name: s.memberName });
  const base: LearnerState = { memberId: "", present: false, isLearner: false, started: false, lag: -1, appliedIndex: 0, leaderIndex: 0, dbSize: 0, version: "", containerRunning: false };
  if (!m) return base;
  const state: LearnerState = { ...base, memberId: m.id, present: true, isLearner: m.isLearner, started: m.started && m.name === s.memberName };
  try {
    const [mine, leader] = await Promise.all([etcd.statusOf(s.clientURL), leaderStatus(etcd, members)]);
    if (mine.memberId === m.id) {
      state.appliedIndex = mine.raftAppliedIndex ?? mine.raftIndex;
      state.leaderIndex = leader.raftIndex;
      state.lag = Math.max(0, leader.raftIndex - state.appliedIndex);
      state.dbSize = mine.dbSize;
      state.version = mine.version;
    }
  } catch {
    // Not answering yet (starting) or down: lag stays unknown (-1).
  }
  return state;
}

/** How long {@link waitCaughtUp} polls every 100 ms before it polls every 500 ms. */
const POLL_FAST_FOR_MS = 10_000;

/** Waits until the learner is started under its name and within the threshold of the leader. */
async function waitCaughtUp(etcd: EtcdSession, ssh: SshSession, s: LearnerSettings, memberId: string): Promise<LearnerState> {
  const deadline = Date.now() + s.timeoutMs;
  let lastReport = 0;
  let last: LearnerState | undefined;
  const started = Date.now();
  for (;;) {
    // The container's state is read alongside, for the checks below when not caught up yet.
    const [st, info] = await Promise.all([observe(etcd, s), inspectContainer(ssh, s.containerName)]);
    last = st;
    if (st.present && st.memberId !== memberId) {
      throw new EtcdStandbyError("Refused", `the member at ${s.peerURL} is now ${st.memberId}, not ${memberId}`, "someone changed the member list concurrently; run pulumi up again", { member: s.memberName });
    }
    if (!st.present) throw new EtcdStandbyError("Refused", `learner ${s.memberName} (${memberId}) disappeared from the member list while starting`, "check who removed it, then run pulumi up again", { member: s.memberName });
    if (st.started && st.lag >= 0 && st.lag <= s.catchUpThreshold) {
      progress(WHAT, `${s.memberName}: caught up, applied ${st.appliedIndex} of ${st.leaderIndex} (lag ${st.lag})`);
      return st;
    }
    if (info.exists && info.restartCount >= 3 && !st.started) {
      throw new EtcdStandbyError("Refused", `the learner container ${s.containerName} on ${ssh.host} keeps exiting (restarted ${info.restartCount} times)`, "see the log below", { member: s.memberName, host: ssh.host });
    }
    if (!info.exists || (!info.running && info.state !== "restarting" && info.state !== "created")) {
      throw new EtcdStandbyError("Refused", `the learner container ${s.containerName} on ${ssh.host} is ${info.exists ? info.state : "gone"}`, "see the log tail below", { member: s.memberName, host: ssh.host });
    }
    if (Date.now() - lastReport > 3000) {
      lastReport = Date.now();
      progress(WHAT, st.started && st.lag >= 0
        ? `${s.memberName}: applied ${st.appliedIndex} of ${st.leaderIndex} (${catchUpPercent(st.appliedIndex, st.leaderIndex)}%, lag ${st.lag})`
        : `${s.memberName}: waiting for it to start (${info.state})`);
    }
    if (Date.now() > deadline) {
      throw new EtcdStandbyError("Timeout", `learner ${s.memberName} was not ${last.started ? "caught up" : "started"} within ${s.timeoutMs} ms (lag ${last.lag})`, "see the log tail below; raise timeoutMs for a large database", { member: s.memberName, host: ssh.host });
    }
    // Poll briskly while a small database is likely to finish, then ease off.
    await new Promise((r) => setTimeout(r, Date.now() - started < POLL_FAST_FOR_MS ? 100 : 500));
  }
}

/** Undo a failed start: container, member, data dir. Best effort; returns what it could not undo. */
async function rollback(etcd: EtcdSession, ssh: SshSession, s: LearnerSettings, memberId: string | undefined): Promise<string[]> {
  const left: string[] = [];
  let containerGone = true;
  try {
    await removeContainer(ssh, s.containerName, { force: true });
  } catch (e) {
    containerGone = false;
    left.push(`container ${s.containerName}: ${describeError(e)}`);
  }
  if (memberId && !containerGone) {
    // The container may be running as this member (a `docker run` whose answer
    // was lost): without its member it would crash-loop on a removed member's
    // data. A learner costs no quorum, so keep it; the next run adopts it.
    left.push(`member ${memberId} kept, because its container may still be running: the next run adopts it (same peer URL)`);
  } else if (memberId) {
    try {
      const members = await etcd.memberList();
      if (members.some((m) => m.id === memberId)) await etcd.memberRemove(memberId);
    } catch (e) {
      left.push(`member ${memberId}: ${describeError(e)}`);
    }
  }
  try {
    const st = await pathState(ssh, s.dataDir);
    if (st === "non-empty-dir") await archivePath(ssh, s.dataDir, `${s.dataDir}.failed-${stamp()}`);
  } catch (e) {
    left.push(`data dir ${s.dataDir}: ${describeError(e)}`);
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
    const to = `${s.dataDir}.failed-${stamp()}`;
    await archivePath(ssh, s.dataDir, to);
    progress(WHAT, `archived ${s.dataDir} to ${to} on ${ssh.host}`);
  }
}

/** Starts the learner's container with the live member list and waits for it; rolls back on failure. */
async function startLearner(props: Props): Promise<Props> {
  const s = learnerSettings(props);
  const host = hostOf(props);
  return withEtcd(clusterOf(props), (etcd) =>
    withSsh(host, async (ssh) => {
      // Both preflights only read; the host's reads run while the cluster is asked.
      const [adopt, facts] = await Promise.all([preflightCluster(etcd, s), readHostFacts(ssh, s)]);
      const found = judgeHost(facts, s, adopt !== undefined, host.host);
      await clearLeftover(ssh, s, adopt !== undefined, found);
      let memberId = adopt?.id;
      try {
        let members: Member[];
        if (adopt) {
          progress(WHAT, `adopting learner ${adopt.id} left by an interrupted run`);
          members = await etcd.memberList();
        } else {
          progress(WHAT, `member add --learner ${s.memberName} ${s.peerURL}`);
          const added = await etcd.memberAddLearner([s.peerURL]);
          memberId = added.member.id;
          members = added.members;
        }
        // Not adopting, the container is absent: preflight saw none of it, or clearLeftover removed it.
        const info = adopt ? await inspectContainer(ssh, s.containerName) : { exists: false };
        if (!info.exists) {
          const initialCluster = buildInitialCluster(members, { name: s.memberName, peerURL: s.peerURL });
          progress(WHAT, `starting ${s.containerName} on ${host.host} with --initial-cluster=${initialCluster} --initial-cluster-state=existing`);
          await runContainer(ssh, learnerContainer(s, initialCluster));
        }
        const st = await waitCaughtUp(etcd, ssh, s, memberId as string);
        return { ...outputsOf(st, true), clusterId: await etcd.clusterId() };
      } catch (e) {
        const log = await logTail(ssh, s);
        const causes = diagnose(log);
        const left = await rollback(etcd, ssh, s, memberId);
        const why = isEtcdStandbyError(e) ? e.message : describeError(e);
        throw new EtcdStandbyError(
          isEtcdStandbyError(e) ? e.code : "Refused",
          `learner ${s.memberName} on ${host.host} failed: ${why}` +
            (causes.length ? `\nLikely cause: ${causes.join("; or ")}` : "") +
            (log ? `\nFrom the learner's log:\n${logExcerpt(log)}` : "") +
            (left.length ? `\nCould not roll back: ${left.join("; ")}` : "\nRolled back: container removed, member removed, data dir archived."),
          causes.length ? "fix the cause above and run pulumi up again" : "read the log above, fix, and run pulumi up again",
          { member: s.memberName, host: host.host },
        );
      }
    }),
  );
}

function outputsOf(st: LearnerState, containerRunning: boolean): Props {
  return { ...st, containerRunning };
}

/** Stops and removes the container, removes the member (quorum permitting), archives the data dir. */
async function removeLearner(props: Props): Promise<void> {
  const s = learnerSettings(props);
  await withEtcd(clusterOf(props), (etcd) =>
    withSsh(hostOf(props), async (ssh) => {
      const members = await etcd.memberList();
      const m = resolveMember(members, { peerURL: s.peerURL });
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
        const to = `${s.dataDir}.removed-${stamp()}`;
        await archivePath(ssh, s.dataDir, to);
        progress(WHAT, `archived ${s.dataDir} to ${to}`);
      }
    }),
  );
}

/** Inputs whose change needs a new learner (delete first: one learner slot). */
const REPLACE_ON = ["memberName", "peerURL", "clientURL", "dataDir", "containerName"];
/** Inputs whose change restarts the container on the same data dir. */
const RESTART_ON = ["image", "etcdBinary", "extraFlags", "heartbeatMs", "electionMs", "tls"];
/** Inputs that change nothing on the host. */
const RECORD_ON = ["cluster", "catchUpThreshold", "timeoutMs", "maxLearners", "allowPromoted"];

/** The provider implementation, loaded by the serialised facade. */
export const provider: ProviderImpl = {
  async check(_olds, news) {
    const p = new Problems();
    checkCluster(p, news.cluster);
    checkHost(p, news.host);
    p.add("memberName", news.memberName, validateMemberName(news.memberName, "memberName"));
    p.add("peerURL", news.peerURL, validatePeerUrl(news.peerURL, "peerURL"));
    p.add("clientURL", news.clientURL, validateClientUrl(news.clientURL, "clientURL"));
    p.add("image", news.image, validateImage(news.image, "image"));
    if (news.extraFlags !== undefined) p.add("extraFlags", news.extraFlags, validateEach(news.extraFlags, "extraFlags", validateExtraFlag));
    const tls = (news.tls ?? {}) as Props;
    checkNamesAndPath(p, [{ field: "containerName", value: news.containerName }], [
      { field: "dataDir", value: news.dataDir },
      { field: "etcdBinary", value: news.etcdBinary },
      { field: "tls.caFile", value: tls.caFile },
      { field: "tls.certFile", value: tls.certFile },
      { field: "tls.keyFile", value: tls.keyFile },
    ]);
    for (const f of ["heartbeatMs", "electionMs", "timeoutMs", "maxLearners"]) {
      if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    }
    if (news.catchUpThreshold !== undefined && !(typeof news.catchUpThreshold === "number" && Number.isInteger(news.catchUpThreshold) && news.catchUpThreshold >= 0)) {
      p.add("catchUpThreshold", news.catchUpThreshold, ["catchUpThreshold must be a whole number of entries, 0 or more"]);
    }
    const hb = news.heartbeatMs ?? 500;
    const el = news.electionMs ?? 5000;
    if (typeof hb === "number" && typeof el === "number" && !hasUnknown(hb) && !hasUnknown(el) && el < 5 * hb) {
      p.add("electionMs", el, [`electionMs (${el}) should be at least 5 times heartbeatMs (${hb}); etcd refuses less`]);
    }
    // The learner's peer URL must point at the host we start it on.
    const h = (news.host ?? {}) as Props;
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
    const oh = (olds.host ?? {}) as Props;
    const nh = (news.host ?? {}) as Props;
    const d = diffFields(olds, news, REPLACE_ON, [...RESTART_ON, ...RECORD_ON, "host"]);
    const replaces = [...(d.replaces ?? [])];
    if (oh.host !== nh.host && !replaces.includes("host")) replaces.push("host");
    // Gone from the cluster (seen by refresh): start a new one.
    if (olds.present === false && replaces.length === 0) replaces.push("memberName");
    return { changes: d.changes || replaces.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const outs = await startLearner(inputs);
    return { id: `learner-${String(inputs.memberName)}`, outs: { ...inputs, ...outs } };
  },

  async read(id, props) {
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
      await removeLearner(news);
      const outs = await startLearner(news);
      return { outs: { ...news, ...outs } };
    }
    const restart = RESTART_ON.some((f) => JSON.stringify(olds[f] ?? null) !== JSON.stringify(news[f] ?? null));
    if (!restart) return { outs: { ...olds, ...news, ...outputsOf(live, olds.containerRunning === true) } };
    const st = await withEtcd(clusterOf(news), (etcd) =>
      withSsh(hostOf(news), async (ssh) => {
        const members = await etcd.memberList();
        const m = resolveMember(members, { peerURL: s.peerURL });
        if (!m) throw new EtcdStandbyError("NotFound", `learner ${s.memberName} is not in the cluster`, "run pulumi refresh, then pulumi up to re-create it", { member: s.memberName });
        const initialCluster = buildInitialCluster(members, { name: s.memberName, peerURL: s.peerURL });
        progress(WHAT, `restarting ${s.containerName} on ${ssh.host} on the same data dir`);
        await removeContainer(ssh, s.containerName, { force: true });
        await runContainer(ssh, learnerContainer(s, initialCluster));
        try {
          return await waitCaughtUp(etcd, ssh, s, m.id);
        } catch (e) {
          const log = await logTail(ssh, s);
          const causes = diagnose(log);
          throw new EtcdStandbyError("Refused", `restarted learner ${s.memberName} did not catch up: ${describeError(e)}` + (causes.length ? `\nLikely cause: ${causes.join("; or ")}` : "") + (log ? `\nFrom the learner's log:\n${logExcerpt(log)}` : ""), "fix the settings and run pulumi up again (the member and data dir are kept)", { member: s.memberName, host: ssh.host });
        }
      }),
    );
    return { outs: { ...news, ...outputsOf(st, true) } };
  },

  async delete(_id, props) {
    await removeLearner(props);
  },
};
