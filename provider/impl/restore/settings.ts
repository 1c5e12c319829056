/**
 * EtcdStandaloneRestore's inputs and state types, its field table (each
 * input's default and what a change does), its settings with defaults, the
 * names and paths it uses, and the checks of inputs against each other. Pure.
 */
import type { ClusterConnectionArgs } from "../../connection/etcd";
import type { HostConnectionArgs } from "../../connection/ssh";
import { isWithin } from "../../lib/paths";
import { DEFAULT_REVISION_BUMP } from "../../lib/revisionBump";
import type { Props } from "../common";
import { withDefaults } from "../fields";
import type { Fields } from "../fields";
import { LEARNER_FIELDS } from "../learnerConfig";
import { LEARNER_IDENTITY, learnerRefOf } from "./learnerRef";
import type { LearnerRef, LearnerRefInputs } from "./learnerRef";
import type { PhaseTimings } from "./phases";

/** The resource's name in progress lines and errors. */
export const WHAT = "EtcdStandaloneRestore";
/** MANAGED_LABEL value of the restored etcd container. */
export const RESTORE_MANAGED_VALUE = "EtcdStandaloneRestore";
/** MANAGED_LABEL value of the short-lived container that runs `snapshot restore`. */
export const RESTORE_TOOL_VALUE = "EtcdStandaloneRestore-tool";
/** Label carrying the restored cluster's token. */
export const TOKEN_LABEL = "io.etcd-standby.cluster-token";
/** Name of the short-lived container that runs `snapshot restore`. */
export const RESTORE_TOOL_CONTAINER = "etcd-standby-restore";
/** The throwaway containers of a restore: `snapshot restore`, and the image's `etcd --version`. */
export const TOOL_NAMES = [RESTORE_TOOL_CONTAINER, `${RESTORE_TOOL_CONTAINER}-version`];
/** Key written and deleted to prove the restored cluster takes writes. */
export const PROBE_KEY = "/etcd-standby/restore-probe";

/** EtcdStandaloneRestore's inputs, resolved (documented on EtcdStandaloneRestoreArgs). */
export type StandaloneRestoreInputs = {
  host: HostConnectionArgs;
  cluster: ClusterConnectionArgs;
  learner: LearnerRefInputs;
  image: string;
  etcdBinary?: string;
  newMemberName?: string;
  newClusterToken?: string;
  containerName?: string;
  restoreDataDir?: string;
  sourceDb?: string;
  oldVoterEndpoints?: string[];
  force?: boolean;
  heartbeatMs?: number;
  electionMs?: number;
  extraFlags?: string[];
  timeoutMs?: number;
  failedBack?: boolean;
  fastFirstElection?: boolean;
  revisionBump?: number;
};

/** What EtcdStandaloneRestore reports (create; `healthy` and `observedClusterId` also refresh). */
export type StandaloneRestoreResult = {
  newClusterId: string;
  newMemberId: string;
  /** Given, or made at create. */
  newClusterToken: string;
  endpoint: string;
  /** The revision restored from the learner's db, before the bump (comparable with learnerRevision). */
  restoredRevision: number;
  /** The bump applied to the restored revision (0: the image's restore tool lacks the flags, or revisionBump was 0). */
  bumpApplied: number;
  /** How the learner was recorded: "live" (through its client port) or "offline" (it did not answer: read from its data once stopped). */
  recordedFrom: "live" | "offline";
  learnerRevision: number;
  learnerAppliedIndex: number;
  learnerCommittedIndex: number;
  learnerVersion: string;
  restoredVersion: string;
  keysBefore: number;
  keysAfter: number;
  dataLossWindow: number;
  healthy: boolean;
  observedClusterId: string;
  adopted: boolean;
  reusedRecord: boolean;
  phaseMs: PhaseTimings;
  restoreTool: string;
  guardRisks: string[];
  setAside: string[];
};

/** EtcdStandaloneRestore's state: its inputs and what it reports. */
export type StandaloneRestoreOutputs = StandaloneRestoreInputs & StandaloneRestoreResult;

const NO_FLAGS: string[] = [];

/**
 * Each input's default and what a change does: another host or another
 * learner is another restore (deleting first); everything else is only
 * recorded (the restored cluster is never restored again over live data).
 * `newClusterToken` is also an output, made at create when not given: only a
 * given value counts. `fastFirstElection` set to false after the create
 * restarts the restored member once with `heartbeatMs`/`electionMs`
 * ({@link startTiming}); set to true after it, it is only recorded.
 * `revisionBump` (default 1,000,000,000, as etcd's recovery guide) is the
 * restore's `--bump-revision`, with `--mark-compacted` (0: neither). `sourceDb` defaults to the learner's db and
 * `oldVoterEndpoints` to `cluster.endpoints` without the learner's
 * ({@link restoreSettings}).
 */
export const STANDALONE_RESTORE_FIELDS = {
  host: { effect: "record", replaceOn: ["host"] },
  cluster: { effect: "record" },
  learner: { effect: "record", replaceOn: LEARNER_IDENTITY },
  image: { effect: "record" },
  etcdBinary: { effect: "record", default: LEARNER_FIELDS.etcdBinary.default },
  newMemberName: { effect: "record", default: "new-cluster" },
  newClusterToken: { effect: "record", unsetKeeps: true },
  containerName: { effect: "record", default: "etcd" },
  restoreDataDir: { effect: "record", default: "/var/lib/etcd-restored" },
  sourceDb: { effect: "record" },
  oldVoterEndpoints: { effect: "record" },
  force: { effect: "record", default: false },
  heartbeatMs: { effect: "record", default: LEARNER_FIELDS.heartbeatMs.default },
  electionMs: { effect: "record", default: LEARNER_FIELDS.electionMs.default },
  extraFlags: { effect: "record", default: NO_FLAGS },
  timeoutMs: { effect: "record", default: 300_000 },
  failedBack: { effect: "record", default: false },
  fastFirstElection: { effect: "update", default: false },
  revisionBump: { effect: "record", default: DEFAULT_REVISION_BUMP },
} as const satisfies Fields<StandaloneRestoreInputs>;

/** Flags the restored etcd's command line sets itself (an extra flag may not repeat them). */
export const MANAGED_FLAGS: readonly string[] = [
  "name", "data-dir", "initial-advertise-peer-urls", "listen-peer-urls", "advertise-client-urls", "listen-client-urls",
  "initial-cluster", "initial-cluster-state", "initial-cluster-token", "trusted-ca-file", "cert-file", "key-file",
  "peer-trusted-ca-file", "peer-cert-file", "peer-key-file", "client-cert-auth", "peer-client-cert-auth",
  "heartbeat-interval", "election-timeout", "force-new-cluster",
];

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
  fastFirstElection: boolean;
  /** `--bump-revision` of the restore (with `--mark-compacted`); 0: none. */
  revisionBump: number;
}

/** The heartbeat of a fast first election (ms): etcd's own default. */
export const FAST_HEARTBEAT_MS = 100;

/** A raft timing: heartbeat interval and election timeout, ms. */
export interface RaftTiming {
  heartbeatMs: number;
  electionMs: number;
}

/**
 * The timing the restored member starts with. The cluster's (`heartbeatMs`,
 * `electionMs`) unless `fastFirstElection`: then a heartbeat of at most
 * {@link FAST_HEARTBEAT_MS} and an election timeout of 5 heartbeats (never
 * more than the cluster's). etcd fast-forwards a lone member's election ticks
 * to one short of the timeout and raft then waits 1 to `electionTicks` more
 * ticks, so its first election takes 0.1 to 0.5 s instead of up to
 * `electionMs` (5 s with RKE's timing).
 */
export function startTiming(s: Pick<RestoreSettings, "heartbeatMs" | "electionMs" | "fastFirstElection">): RaftTiming {
  if (!s.fastFirstElection) return { heartbeatMs: s.heartbeatMs, electionMs: s.electionMs };
  const heartbeatMs = Math.min(s.heartbeatMs, FAST_HEARTBEAT_MS);
  return { heartbeatMs, electionMs: Math.min(s.electionMs, 5 * heartbeatMs) };
}

/** Reads the settings out of the props, with the table's defaults (the seed's). */
export function restoreSettings(props: Props): RestoreSettings {
  const learner = learnerRefOf(props.learner);
  const d = withDefaults(STANDALONE_RESTORE_FIELDS, props as StandaloneRestoreInputs);
  const cluster = (props.cluster ?? {}) as Props;
  const fromCluster = Array.isArray(cluster.endpoints) ? (cluster.endpoints as string[]).filter((e) => e !== learner.clientURL) : [];
  return {
    learner,
    image: String(props.image),
    etcdBinary: d.etcdBinary,
    newMemberName: d.newMemberName,
    newClusterToken: typeof props.newClusterToken === "string" && props.newClusterToken !== "" ? props.newClusterToken : undefined,
    containerName: d.containerName,
    restoreDataDir: d.restoreDataDir,
    sourceDb: typeof props.sourceDb === "string" ? props.sourceDb : `${learner.dataDir}/member/snap/db`,
    oldVoterEndpoints: Array.isArray(props.oldVoterEndpoints) ? (props.oldVoterEndpoints as string[]) : fromCluster,
    force: d.force === true,
    heartbeatMs: d.heartbeatMs,
    electionMs: d.electionMs,
    extraFlags: d.extraFlags,
    timeoutMs: d.timeoutMs,
    fastFirstElection: d.fastFirstElection === true,
    revisionBump: d.revisionBump,
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

/** The default token: `cluster-restore-<stamp>`, as the seed's `cluster-restore1`. */
export function defaultToken(stampText: string): string {
  return `cluster-restore-${stampText.toLowerCase()}`;
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
