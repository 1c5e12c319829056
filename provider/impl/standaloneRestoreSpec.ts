/**
 * Pure pieces of EtcdStandaloneRestore: its settings with defaults, etcd
 * version parsing and the restore tool per version, the restore and etcd
 * command lines, the container specs, parsing of etcdctl's JSON, the
 * split-brain guard's decision, the verification arithmetic and the record
 * kept on the host between attempts. No I/O here, so all of it is unit-tested.
 */
import type { OneShotSpec, RunContainerSpec } from "../connection/docker";
import type { EtcdStatus } from "../connection/etcd";
import { hostOfUrl, idToHex, NO_LEADER } from "../lib/members";
import { lastLinesPreferring } from "../lib/logs";
import { dirOf, etcdVolumes, isWithin } from "../lib/paths";
import { parseEtcdVersion } from "../lib/versions";
import type { EtcdVersion } from "../lib/versions";
import type { Props } from "./common";
import { MANAGED_LABEL, MEMBER_LABEL, rkeTls } from "./learnerSpec";
import type { LearnerTls } from "./learnerSpec";

/** MANAGED_LABEL value of the restored etcd container. */
export const RESTORE_MANAGED_VALUE = "EtcdStandaloneRestore";
/** MANAGED_LABEL value of the short-lived container that runs `snapshot restore`. */
export const RESTORE_TOOL_VALUE = "EtcdStandaloneRestore-tool";
/** Label carrying the restored cluster's token. */
export const TOKEN_LABEL = "io.etcd-standby.cluster-token";
/** Name of the short-lived container that runs `snapshot restore`. */
export const RESTORE_TOOL_CONTAINER = "etcd-standby-restore";
/** Key written and deleted to prove the restored cluster takes writes. */
export const PROBE_KEY = "/etcd-standby/restore-probe";

/** How to find the learner on its host. */
export interface LearnerRef {
  memberName: string;
  peerURL: string;
  clientURL: string;
  containerName: string;
  dataDir: string;
  tls: LearnerTls;
}

/** EtcdStandaloneRestore's settings, defaults applied. */
export interface RestoreSettings {
  learner: LearnerRef;
  image: string;
  etcdBinary: string;
  newMemberName: string;
  /** Undefined when not given: made at create as `cluster-restore-<stamp>`. */
  newClusterToken: string | undefined;
  containerName: string;
  restoreDataDir: string;
  /** The bbolt db restored from: the learner's own unless given. */
  sourceDb: string;
  oldVoterEndpoints: string[];
  force: boolean;
  heartbeatMs: number;
  electionMs: number;
  extraFlags: string[];
  timeoutMs: number;
}

/** Reads the settings out of the props, with the defaults the seed uses. */
export function restoreSettings(props: Props): RestoreSettings {
  const l = (props.learner ?? {}) as Props;
  const peerURL = String(l.peerURL);
  const tlsIn = (l.tls ?? {}) as Partial<LearnerTls>;
  const rke = rkeTls(hostOfUrl(peerURL));
  const dataDir = typeof l.dataDir === "string" ? l.dataDir : "/var/lib/etcd";
  const cluster = (props.cluster ?? {}) as Props;
  const clientURL = String(l.clientURL);
  const fromCluster = Array.isArray(cluster.endpoints) ? (cluster.endpoints as string[]).filter((e) => e !== clientURL) : [];
  return {
    learner: {
      memberName: String(l.memberName),
      peerURL,
      clientURL,
      containerName: typeof l.containerName === "string" ? l.containerName : "etcd-learner",
      dataDir,
      tls: { caFile: tlsIn.caFile ?? rke.caFile, certFile: tlsIn.certFile ?? rke.certFile, keyFile: tlsIn.keyFile ?? rke.keyFile },
    },
    image: String(props.image),
    etcdBinary: typeof props.etcdBinary === "string" ? props.etcdBinary : "/usr/local/bin/etcd",
    newMemberName: typeof props.newMemberName === "string" ? props.newMemberName : "new-cluster",
    newClusterToken: typeof props.newClusterToken === "string" && props.newClusterToken !== "" ? props.newClusterToken : undefined,
    containerName: typeof props.containerName === "string" ? props.containerName : "etcd",
    restoreDataDir: typeof props.restoreDataDir === "string" ? props.restoreDataDir : "/var/lib/etcd-restored",
    sourceDb: typeof props.sourceDb === "string" ? props.sourceDb : `${dataDir}/member/snap/db`,
    oldVoterEndpoints: Array.isArray(props.oldVoterEndpoints) ? (props.oldVoterEndpoints as string[]) : fromCluster,
    force: props.force === true,
    heartbeatMs: typeof props.heartbeatMs === "number" ? props.heartbeatMs : 500,
    electionMs: typeof props.electionMs === "number" ? props.electionMs : 5000,
    extraFlags: Array.isArray(props.extraFlags) ? (props.extraFlags as string[]) : [],
    timeoutMs: typeof props.timeoutMs === "number" ? props.timeoutMs : 300_000,
  };
}

/** Where the restore is assembled before it is moved into place (same file system). */
export function stagingDir(s: RestoreSettings): string {
  return `${s.restoreDataDir}.staging`;
}

/** Where what was recorded about the learner is kept between attempts. */
export function recordFile(s: RestoreSettings): string {
  return recordFileOf(s.restoreDataDir);
}

/** The record file of a restore into `restoreDataDir` (a sibling: it survives a dedicated disk's mount point). */
export function recordFileOf(restoreDataDir: string): string {
  return `${restoreDataDir}.restore-record.json`;
}

/**
 * Problems with where things go: the restore, its staging dir and its record
 * must never be inside (or contain) the learner's data dir, which is kept
 * untouched for forensics. Expects validated absolute paths.
 */
export function pathConflicts(s: RestoreSettings): string[] {
  const problems: string[] = [];
  const orig = s.learner.dataDir;
  for (const [field, p] of [["restoreDataDir", s.restoreDataDir], ["restoreDataDir (its staging dir)", stagingDir(s)], ["restoreDataDir (its record file)", recordFile(s)]] as const) {
    if (isWithin(p, orig) || isWithin(orig, p)) {
      problems.push(`${field} ${p} overlaps the learner's data dir ${orig}, which is never changed: use a separate path such as /var/lib/etcd-restored`);
    }
  }
  if (s.containerName === s.learner.containerName) {
    problems.push(`containerName ${s.containerName} is the learner's container name: the learner's container is kept (stopped) for forensics; use another name such as "etcd"`);
  }
  return problems;
}

/** The folder part of a path ("/" for top-level entries); kept here for importers of this module. */
export { dirOf } from "../lib/paths";

/** The tool that restores a db: etcdctl up to 3.5, etcdutl from 3.6 (3.6's etcdctl has no `snapshot restore`). */
export function restoreTool(v: EtcdVersion): "etcdctl" | "etcdutl" {
  return v.major > 3 || (v.major === 3 && v.minor >= 6) ? "etcdutl" : "etcdctl";
}

/**
 * Whether the restore image may open the learner's data: the same minor
 * version or the next one (etcd upgrades one minor at a time and never
 * downgrades data). Returns the problem, or undefined when fine.
 */
export function versionProblem(learner: EtcdVersion, image: EtcdVersion): string | undefined {
  if (image.major !== learner.major) return `the image runs etcd ${image.text} but the learner ran ${learner.text}: a different major version cannot open its data`;
  if (image.minor < learner.minor) return `the image runs etcd ${image.text}, older than the learner's ${learner.text}: etcd cannot downgrade data`;
  if (image.minor > learner.minor + 1) return `the image runs etcd ${image.text} but the learner ran ${learner.text}: etcd upgrades one minor version at a time`;
  return undefined;
}

/** {@link versionProblem} from the version the learner reported (its status); undefined when that is not a version. */
export function learnerVersionProblem(learnerVersion: string, image: EtcdVersion): string | undefined {
  const learner = parseEtcdVersion(learnerVersion);
  return learner ? versionProblem(learner, image) : undefined;
}

/** What a restore writes. */
export interface RestoreTarget {
  /** The db file to restore from (inside the tool's container, mounted read-only at the same path). */
  db: string;
  /** The new data dir; must not exist yet (etcdctl 3.4 refuses an existing one). */
  dataDir: string;
  name: string;
  peerURL: string;
  token: string;
}

/** The restore command line for a version: argv and environment, as the seed's `snapshot restore ... --skip-hash-check`. */
export function restoreCommand(v: EtcdVersion, binDir: string, t: RestoreTarget): { argv: string[]; env: Record<string, string> } {
  const tool = restoreTool(v);
  return {
    argv: [
      `${binDir === "/" ? "" : binDir}/${tool}`,
      "snapshot",
      "restore",
      t.db,
      `--name=${t.name}`,
      `--initial-cluster=${t.name}=${t.peerURL}`,
      `--initial-cluster-token=${t.token}`,
      `--initial-advertise-peer-urls=${t.peerURL}`,
      `--data-dir=${t.dataDir}`,
      // A db file copied from a data dir has no snapshot hash appended.
      "--skip-hash-check=true",
    ],
    env: tool === "etcdctl" ? { ETCDCTL_API: "3" } : {},
  };
}

/** The short-lived container that runs the restore: no network, the db's folder read-only, the staging dir writable. */
export function restoreToolContainer(s: RestoreSettings, v: EtcdVersion, token: string): OneShotSpec {
  const staging = stagingDir(s);
  const cmd = restoreCommand(v, dirOf(s.etcdBinary), { db: s.sourceDb, dataDir: `${staging}/data`, name: s.newMemberName, peerURL: s.learner.peerURL, token });
  return {
    name: RESTORE_TOOL_CONTAINER,
    image: s.image,
    labels: { [MANAGED_LABEL]: RESTORE_TOOL_VALUE },
    volumes: [
      { host: dirOf(s.sourceDb), container: dirOf(s.sourceDb), ro: true },
      { host: staging, container: staging },
    ],
    env: cmd.env,
    command: cmd.argv,
  };
}

/** What a new one-member cluster's etcd command line is made of. */
export interface OneMemberEtcd {
  etcdBinary: string;
  name: string;
  dataDir: string;
  peerURL: string;
  clientURL: string;
  token: string;
  tls: LearnerTls;
  heartbeatMs: number;
  electionMs: number;
  extraFlags: readonly string[];
}

/** A new one-member cluster's etcd command line (the seed's, with `--initial-cluster-state=new`, mTLS for clients and peers). */
export function oneMemberEtcdCommand(e: OneMemberEtcd): string[] {
  const { peerURL, clientURL, tls } = e;
  return [
    e.etcdBinary,
    `--name=${e.name}`,
    `--data-dir=${e.dataDir}`,
    `--initial-advertise-peer-urls=${peerURL}`,
    `--listen-peer-urls=${peerURL}`,
    `--advertise-client-urls=${clientURL}`,
    `--listen-client-urls=${clientURL}`,
    `--initial-cluster=${e.name}=${peerURL}`,
    "--initial-cluster-state=new",
    `--initial-cluster-token=${e.token}`,
    `--trusted-ca-file=${tls.caFile}`,
    `--cert-file=${tls.certFile}`,
    `--key-file=${tls.keyFile}`,
    `--peer-trusted-ca-file=${tls.caFile}`,
    `--peer-cert-file=${tls.certFile}`,
    `--peer-key-file=${tls.keyFile}`,
    "--client-cert-auth=true",
    "--peer-client-cert-auth=true",
    `--heartbeat-interval=${e.heartbeatMs}`,
    `--election-timeout=${e.electionMs}`,
    ...e.extraFlags,
  ];
}

/** The restored one-member cluster's etcd command line. */
export function restoredEtcdCommand(s: RestoreSettings, token: string): string[] {
  const { peerURL, clientURL, tls } = s.learner;
  return oneMemberEtcdCommand({ etcdBinary: s.etcdBinary, name: s.newMemberName, dataDir: s.restoreDataDir, peerURL, clientURL, token, tls, heartbeatMs: s.heartbeatMs, electionMs: s.electionMs, extraFlags: s.extraFlags });
}

/** The restored etcd's container: RKE's name `etcd`, restart always, host network, the restored data dir and TLS folders at the same paths. */
export function restoredEtcdContainer(s: RestoreSettings, token: string): RunContainerSpec {
  return {
    name: s.containerName,
    image: s.image,
    restart: "always",
    network: "host",
    labels: { [MANAGED_LABEL]: RESTORE_MANAGED_VALUE, [MEMBER_LABEL]: s.newMemberName, [TOKEN_LABEL]: token },
    volumes: etcdVolumes(s.restoreDataDir, s.learner.tls),
    command: restoredEtcdCommand(s, token),
  };
}

/** etcdctl's TLS and endpoint flags for a client URL, using the host's TLS files (mounted in the container). */
export function etcdctlArgs(binDir: string, endpoint: string, tls: LearnerTls, args: string[]): string[] {
  return [
    `${binDir === "/" ? "" : binDir}/etcdctl`,
    `--endpoints=${endpoint}`,
    `--cacert=${tls.caFile}`,
    `--cert=${tls.certFile}`,
    `--key=${tls.keyFile}`,
    "--dial-timeout=3s",
    "--command-timeout=10s",
    ...args,
  ];
}

/** Arguments of a serializable count of every key: `count` covers the whole range, `--limit=1` keeps the answer small. */
export const COUNT_ALL_ARGS = ["get", "", "--prefix", "--keys-only", "--limit=1", "--consistency=s", "-w", "json"];

/**
 * Arguments of a serializable count of the keys under `prefix` (etcd-standby's
 * own lock keys, which the key counts leave out), at revision `rev` when given.
 */
export function countPrefixArgs(prefix: string, rev?: number): string[] {
  return ["get", prefix, "--prefix", "--keys-only", "--limit=1", "--consistency=s", ...(rev !== undefined ? [`--rev=${rev}`] : []), "-w", "json"];
}
/** Arguments of `endpoint status` as JSON. */
export const STATUS_ARGS = ["endpoint", "status", "-w", "json"];

/**
 * JSON.parse that keeps uint64 values (member and cluster IDs, above 2^53)
 * exact by reading every integer of 16 digits or more as a string.
 */
export function parseJsonExact<T>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as T;
}

function num(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function hex(v: unknown): string {
  if (v === undefined || v === null || v === "" || v === 0) return NO_LEADER;
  if (typeof v === "number") return idToHex(BigInt(v));
  if (typeof v === "string") return idToHex(v);
  return NO_LEADER;
}

/** A member's status as `etcdctl endpoint status -w json` reports it. */
export interface CtlStatus {
  endpoint: string;
  clusterId: string;
  memberId: string;
  leaderId: string;
  revision: number;
  raftIndex: number;
  raftAppliedIndex: number;
  raftTerm: number;
  version: string;
  isLearner: boolean;
  dbSize: number;
  errors: string[];
}

interface RawCtlStatus {
  Endpoint?: string;
  Status?: {
    header?: { cluster_id?: unknown; member_id?: unknown; revision?: unknown; raft_term?: unknown };
    version?: string;
    dbSize?: unknown;
    leader?: unknown;
    raftIndex?: unknown;
    raftTerm?: unknown;
    raftAppliedIndex?: unknown;
    isLearner?: boolean;
    errors?: string[];
  };
}

/** Parses `etcdctl endpoint status -w json` (one endpoint). Throws when it is not that. */
export function parseCtlStatus(text: string): CtlStatus {
  const arr = parseJsonExact<RawCtlStatus[]>(text.trim());
  const first = Array.isArray(arr) ? arr[0] : undefined;
  if (!first?.Status) throw new Error(`not an endpoint status answer: ${text.trim().slice(0, 200)}`);
  const st = first.Status;
  return {
    endpoint: first.Endpoint ?? "",
    clusterId: hex(st.header?.cluster_id),
    memberId: hex(st.header?.member_id),
    leaderId: hex(st.leader),
    revision: num(st.header?.revision),
    raftIndex: num(st.raftIndex),
    // Absent before 3.4; treat as applied up to the committed index then.
    raftAppliedIndex: st.raftAppliedIndex === undefined ? num(st.raftIndex) : num(st.raftAppliedIndex),
    raftTerm: num(st.raftTerm ?? st.header?.raft_term),
    version: st.version ?? "",
    isLearner: st.isLearner === true,
    dbSize: num(st.dbSize),
    errors: Array.isArray(st.errors) ? st.errors : [],
  };
}

/** Revision and number of keys from a `get` answer with `-w json` (count covers the whole range, whatever the limit). */
export function parseCtlCount(text: string): { revision: number; count: number; memberId: string } {
  const r = parseJsonExact<{ header?: { revision?: unknown; member_id?: unknown }; count?: unknown }>(text.trim());
  if (r === null || typeof r !== "object" || r.header === undefined) throw new Error(`not a get answer: ${text.trim().slice(0, 200)}`);
  return { revision: num(r.header.revision), count: num(r.count), memberId: hex(r.header.member_id) };
}

/** What the guard saw of one old voter. */
export interface VoterProbe {
  endpoint: string;
  /** A status call succeeded. */
  answered: boolean;
  /** The leader the voter reports ("0000000000000000" for none). */
  leaderId?: string;
  /** Why it did not answer. */
  error?: string;
  /**
   * It did not answer, but something is there: the failure was not "nothing
   * listens" (see {@link looksGone}), e.g. a TLS or authentication failure.
   */
  reachable?: boolean;
}

/**
 * True when a failed status call shows that nothing answers at the endpoint:
 * connection refused, no route, or no answer before the deadline. A TLS or
 * authentication failure, a reset, or anything unknown means something is
 * listening there, so the voter cannot be taken for gone.
 */
export function looksGone(error: string, timedOut = false): boolean {
  if (/certificate|TLS|SSL|handshake|alert|unauthenticated|permission denied|socket disconnected|ECONNRESET/i.test(error)) return false;
  return timedOut || /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ETIMEDOUT|connection refused|no route to host|network is unreachable|deadline exceeded|timed out/i.test(error);
}

/** Two looks at the learner, some heartbeats apart; undefined when it was not running. */
export interface LearnerMotion {
  before: { raftIndex: number; raftTerm: number };
  after: { raftIndex: number; raftTerm: number };
  windowMs: number;
  /**
   * Bytes the learner received from each peer (member ID) during the window,
   * from its metrics: a live leader heartbeats it every heartbeat interval
   * even when no entry is written. Undefined when the metrics could not be read.
   */
  peerBytes?: Record<string, number>;
}

/** Parses `etcd_network_peer_received_bytes_total{From="<id>"} <n>` lines of etcd's metrics: member ID to bytes. */
export function parsePeerReceivedBytes(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^etcd_network_peer_received_bytes_total\{From="([0-9a-f]+)"\}\s+([0-9.e+]+)\s*$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** Parses a member's peer-port `/members` answer (IDs may exceed 2^53: read as text). */
export function parsePeerMembers(text: string): { id: string; name: string; clientURLs: string[]; isLearner: boolean }[] | undefined {
  try {
    const raw = JSON.parse(text.replace(/("id"\s*:\s*)(\d+)/g, '$1"$2"')) as { id?: unknown; name?: unknown; clientURLs?: unknown; isLearner?: unknown }[];
    if (!Array.isArray(raw)) return undefined;
    return raw.map((m) => ({
      id: typeof m.id === "string" || typeof m.id === "number" ? String(m.id) : "",
      name: typeof m.name === "string" ? m.name : "",
      clientURLs: Array.isArray(m.clientURLs) ? m.clientURLs.filter((u): u is string => typeof u === "string") : [],
      isLearner: m.isLearner === true,
    }));
  } catch {
    return undefined;
  }
}

/** Peers whose received-bytes counter grew between two samples. */
export function growingPeers(before: Record<string, number>, after: Record<string, number>): string[] {
  return Object.keys(after).filter((id) => after[id] > (before[id] ?? 0)).sort();
}

/** The guard's decision. */
export interface GuardDecision {
  /** Go ahead (possibly only because of force). */
  ok: boolean;
  /** Why the old cluster may still be alive; empty when nothing suggests it. */
  risks: string[];
  /** The warning to print when force overrides the risks. */
  warning?: string;
}

/**
 * The split-brain guard: the old cluster must look gone. Any old voter that
 * answers a status call, a leader reported by one, or a learner still
 * receiving entries (its committed index or term moved) is a risk; risks
 * refuse the restore unless `force`, which turns them into a warning.
 */
export function decideGuard(probes: readonly VoterProbe[], motion: LearnerMotion | undefined, force: boolean): GuardDecision {
  const risks: string[] = [];
  const answered = probes.filter((p) => p.answered);
  if (answered.length > 0) risks.push(`old voter(s) ${answered.map((p) => p.endpoint).join(", ")} still answer status calls`);
  const unsure = probes.filter((p) => !p.answered && p.reachable === true);
  if (unsure.length > 0) {
    risks.push(`old voter(s) ${unsure.map((p) => `${p.endpoint} (${(p.error ?? "").slice(0, 160)})`).join(", ")} are reachable but their status calls failed, so they cannot be taken for gone (wrong CA or client certificate?)`);
  }
  const leaders = [...new Set(answered.map((p) => p.leaderId).filter((l): l is string => l !== undefined && l !== NO_LEADER))];
  if (leaders.length > 0) risks.push(`the old cluster still has quorum: leader ${leaders.join(", ")} is seen`);
  const heard = motion?.peerBytes ? Object.entries(motion.peerBytes).filter(([, n]) => n > 0) : [];
  if (motion && heard.length > 0) {
    risks.push(`the learner still hears from peer(s) ${heard.map(([id, n]) => `${id} (${n} bytes)`).join(", ")} within ${motion.windowMs} ms: a leader is alive somewhere, even if no address in the config answers`);
  }
  if (motion && (motion.after.raftIndex !== motion.before.raftIndex || motion.after.raftTerm !== motion.before.raftTerm)) {
    risks.push(
      `the learner is still receiving entries (committed index ${motion.before.raftIndex} -> ${motion.after.raftIndex}, term ${motion.before.raftTerm} -> ${motion.after.raftTerm} within ${motion.windowMs} ms): a leader is alive somewhere`,
    );
  }
  if (risks.length === 0) return { ok: true, risks };
  if (!force) return { ok: false, risks };
  return {
    ok: true,
    risks,
    warning: `WARNING: force is set, restoring although ${risks.join("; ")}. If the old cluster is alive, there will be two clusters taking writes (split brain): clients that reach site A write to the old one, the rest to the new one, and nothing merges them later`,
  };
}

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

/** The default token: `cluster-restore-<stamp>`, as the seed's `cluster-restore1`. */
export function defaultToken(stampText: string): string {
  return `cluster-restore-${stampText.toLowerCase()}`;
}

/**
 * Phase timings in ms, each phase's own duration. The guard, recording the
 * learner and the image check run side by side (and the cleanup beside the
 * last two once the guard has passed), so the phases add up to more than the
 * create took: `total` is its wall-clock time, `serving` when the restored
 * member first led itself (could take client writes), both from the create's
 * start. record and stop are those of the attempt that did them.
 */
export interface PhaseTimings {
  guard: number;
  cleanup: number;
  record: number;
  image: number;
  stop: number;
  restore: number;
  start: number;
  verify: number;
  serving: number;
  total: number;
}

/** An etcd client's status answer in the shape etcdctl's gives (the answer's header carries revision and cluster ID). */
export function ctlStatusOf(st: EtcdStatus): CtlStatus {
  return {
    endpoint: st.endpoint,
    clusterId: st.clusterId ?? NO_LEADER,
    memberId: st.memberId,
    leaderId: st.leaderId,
    revision: st.revision ?? 0,
    raftIndex: st.raftIndex,
    // Absent before 3.4; treat as applied up to the committed index then (as parseCtlStatus).
    raftAppliedIndex: st.raftAppliedIndex ?? st.raftIndex,
    raftTerm: st.raftTerm,
    version: st.version,
    isLearner: st.isLearner,
    dbSize: st.dbSize,
    errors: [...st.errors],
  };
}

/**
 * The lines of a failed restore tool's output worth showing: a Go panic or
 * fatal error and the tool's own "Error:" lines first (not the goroutine
 * dump), else error-level log lines, else the last lines.
 */
export function toolFailureExcerpt(output: string, max = 8): string {
  const lines = output.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const headline = lines.filter((l) => /^(panic:|fatal error:|unexpected fault|Error:|Error |error:)/.test(l.trim()));
  if (headline.length > 0) return headline.slice(0, max).join("\n");
  return lastLinesPreferring(lines, /"level":"(error|fatal|panic)"|\t(error|fatal|panic)\t/i, max);
}

/**
 * Why these inputs may not follow `olds`: a restore that was failed back
 * (`failedBack` recorded) never runs again, so unsetting it (declaring the
 * restore in failover or rebuild mode again) would leave a second failover
 * doing nothing. Empty when allowed (also on create, and while unknown).
 */
export function failedBackProblems(olds: Props | undefined, news: Props): string[] {
  if (olds?.failedBack !== true || news.failedBack === true) return [];
  const id = typeof olds.newClusterId === "string" && olds.newClusterId !== "" ? ` (cluster ${olds.newClusterId})` : "";
  return [
    `this restore${id} was failed back: its member left and the host holds a learner again, so it never runs again, and declaring it unchanged would make a second failover do nothing; nothing was changed. ` +
      "Right after fail back, while site A serves, set topology.mode to learner-standby and run pulumi up (it only drops the first failover's records); a later failover then restores afresh. If fail back stopped half-way, run pulumi up in failback mode again: it converges",
  ];
}

// ------------------------------------------------------------------
// The create's order when phases overlap (issue #13): the guard's reads,
// recording the learner (reads) and the image's version check (a throwaway
// container) run side by side; nothing that changes the host starts before
// the guard's verdict.

/** The guard's window: how long the learner is watched for motion (about 2 heartbeats, at least 1 s). */
export function guardWindowMs(heartbeatMs: number): number {
  return Math.max(1000, 2 * heartbeatMs);
}

/**
 * How the guard probes one old voter within the window: a first status call
 * at once with the whole window as its deadline, and a second one on a new
 * connection half-way through (its own half window), so that one lost packet
 * (Linux resends a lost SYN only after 1 s) cannot make a live voter look
 * silent. Both end with the window: a silent (blackholed) voter costs the
 * guard the window, no more.
 */
export function probeSchedule(windowMs: number): { delayMs: number; deadlineMs: number }[] {
  const half = Math.floor(windowMs / 2);
  return [
    { delayMs: 0, deadlineMs: windowMs },
    { delayMs: half, deadlineMs: windowMs - half },
  ];
}

/** One status call of a probe: it answered (with the leader it sees), or why not. */
export type ProbeAttempt = { answered: true; leaderId: string } | { answered: false; error: string; timedOut: boolean };

/**
 * What the guard concludes of one voter from its attempts: answered when any
 * attempt did; otherwise reachable (not taken for gone) when any attempt's
 * failure shows something listening there (see {@link looksGone}); otherwise
 * gone, with the first attempt's error.
 */
export function combineProbeAttempts(endpoint: string, attempts: readonly ProbeAttempt[]): VoterProbe {
  const answered = attempts.find((a): a is Extract<ProbeAttempt, { answered: true }> => a.answered);
  if (answered) return { endpoint, answered: true, leaderId: answered.leaderId };
  const failed = attempts.filter((a): a is Extract<ProbeAttempt, { answered: false }> => !a.answered);
  const there = failed.find((a) => !looksGone(a.error, a.timedOut));
  if (there) return { endpoint, answered: false, error: there.error, reachable: true };
  return { endpoint, answered: false, error: failed[0]?.error ?? "no status call was made", reachable: false };
}

/** Set when the guard refuses: work running beside it stops at its next step. */
export interface AbortFlag {
  aborted: boolean;
}

/** Thrown by work beside the guard that stopped because the guard refused. */
export class AbortedByGuard extends Error {
  public constructor(what: string) {
    super(`${what} stopped: the split-brain guard refused`);
    this.name = "AbortedByGuard";
  }
}

/** Throws {@link AbortedByGuard} when `flag` is set. */
export function throwIfAborted(flag: AbortFlag, what: string): void {
  if (flag.aborted) throw new AbortedByGuard(what);
}

/** How a promise ended. */
export type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number };

/** `p`'s outcome, never a rejection, with how long it took from `since` (ms since the epoch). */
export function settle<T>(p: Promise<T>, since: number, now: () => number = Date.now): Promise<Settled<T>> {
  return p.then(
    (value): Settled<T> => ({ ok: true, value, ms: now() - since }),
    (error: unknown): Settled<T> => ({ ok: false, error, ms: now() - since }),
  );
}

/**
 * The guard's verdict first. While it is pending, nothing that runs beside
 * it is reported, whatever it does (a failure there waits for the verdict).
 * A refusal (the guard's rejection) sets `abort` and is thrown at once,
 * without waiting for the work beside it (a learner that never settles while
 * site A is alive must not hold the refusal back), which never becomes an
 * unhandled rejection. A pass returns the guard's value; the caller then
 * awaits the work beside it.
 */
export async function guardFirst<G>(guard: Promise<G>, beside: readonly Promise<unknown>[], abort: AbortFlag): Promise<G> {
  for (const b of beside) b.catch(() => undefined);
  try {
    return await guard;
  } catch (e) {
    abort.aborted = true;
    throw e;
  }
}

/** The first failure in the order given (the order the phases ran in before they overlapped), with its phase. */
export function firstFailure(results: readonly { phase: string; result: Settled<unknown> }[]): { phase: string; error: unknown } | undefined {
  for (const { phase, result } of results) if (!result.ok) return { phase, error: result.error };
  return undefined;
}

/** True when a throwaway container could not start because a leftover holds its name (docker's "Conflict ... already in use"). */
export function isNameConflict(message: string): boolean {
  return /already in use|Conflict\. The container name/i.test(message);
}
