/**
 * EtcdRestoreDrill's inputs and state types, its field table and settings
 * with defaults, and its scratch cluster: URLs, folders, command lines and
 * container specs, the checks of inputs against each other, parsing of what
 * the host says (listening ports, free space), the learner's lag, the
 * verification's verdict and the phase times. No I/O here, so all of it is
 * unit-tested.
 */
import type { OneShotSpec, RunContainerSpec } from "../connection/docker";
import type { ClusterConnectionArgs } from "../connection/etcd";
import type { HostConnectionArgs } from "../connection/ssh";
import { hostOfUrl } from "../lib/members";
import { dirOf, etcdVolumes, isWithin } from "../lib/paths";
import { DEFAULT_REVISION_BUMP } from "../lib/revisionBump";
import type { EtcdVersion } from "../lib/versions";
import type { Props } from "./common";
import { withDefaults } from "./fields";
import type { Fields } from "./fields";
import { LEARNER_FIELDS, MANAGED_LABEL, MEMBER_LABEL } from "./learnerConfig";
import { LEARNER_IDENTITY, learnerRefOf } from "./restore/learnerRef";
import type { LearnerRef, LearnerRefInputs } from "./restore/learnerRef";
import { oneMemberEtcdCommand } from "./restore/restoredEtcd";
import { restoreCommand } from "./restore/snapshotRestore";

/** MANAGED_LABEL value of the scratch etcd container. */
export const DRILL_MANAGED_VALUE = "EtcdRestoreDrill";
/** MANAGED_LABEL value of the drill's short-lived tool containers (restore, version). */
export const DRILL_TOOL_VALUE = "EtcdRestoreDrill-tool";
/** The default name of the scratch etcd container. */
export const DRILL_CONTAINER = "etcd-standby-drill";
/** Key written and read back to prove the scratch cluster takes writes. */
export const DRILL_PROBE_KEY = "/etcd-standby/drill-probe";
/** Prefix of each drill's own folder under `scratchDir`. */
export const RUN_DIR_PREFIX = "drill-";
/** Room the scratch copies need besides twice the db: the restored member's first WAL segment (64 MiB) and slack. */
export const SPACE_SLACK_BYTES = 128 * 1024 * 1024;

/** EtcdRestoreDrill's inputs, resolved (documented on EtcdRestoreDrillArgs). */
export type RestoreDrillInputs = {
  host: HostConnectionArgs;
  cluster: ClusterConnectionArgs;
  learner: LearnerRefInputs;
  trigger?: string;
  image?: string;
  etcdBinary?: string;
  containerName?: string;
  memberName?: string;
  listenAddress?: string;
  clientPort?: number;
  peerPort?: number;
  scratchDir?: string;
  heartbeatMs?: number;
  electionMs?: number;
  catchUpThreshold?: number;
  timeoutMs?: number;
  revisionBump?: number;
};

/** What EtcdRestoreDrill reports of the last drill. */
export type RestoreDrillResult = {
  verdict: "pass" | "fail";
  problems: string[];
  drilledAt: string;
  drilledTrigger: string;
  phaseMs: DrillPhases;
  rtoMs: number;
  learnerAbsentMs: number;
  learnerDownMs: number;
  learnerLagAfter: number;
  recordedRevision: number;
  recordedKeys: number;
  recordedAppliedIndex: number;
  learnerVersion: string;
  restoredRevision: number;
  restoredKeys: number;
  /** The bump the drill's restore applied, as a failover's would (0: the image's tool lacks the flags). */
  bumpApplied: number;
  /** The key count the copy was compared with: the caught-up learner's at the copy's revision (bumped), else the record's. */
  comparedKeys: number;
  dbSizeBytes: number;
  restoreTool: string;
  imageUsed: string;
  scratchEndpoint: string;
  membershipUnchanged: boolean;
  leftoversRemoved: string[];
};

/** EtcdRestoreDrill's state: its inputs and the last drill's results. */
export type RestoreDrillOutputs = RestoreDrillInputs & RestoreDrillResult;

/**
 * Each input's default and what a change does: another host or another
 * learner is another drill resource; a new trigger drills again (so does the
 * next up after a drill that did not pass); the rest is recorded for the next
 * drill. `image` defaults to the learner container's own image.
 * `revisionBump` is the restore's `--bump-revision` (with `--mark-compacted`),
 * as EtcdStandaloneRestore's: the drill restores as a failover would.
 */
export const RESTORE_DRILL_FIELDS = {
  host: { effect: "record", replaceOn: ["host"] },
  cluster: { effect: "record" },
  learner: { effect: "record", replaceOn: LEARNER_IDENTITY },
  trigger: { effect: "update", default: "" },
  image: { effect: "record" },
  etcdBinary: { effect: "record", default: LEARNER_FIELDS.etcdBinary.default },
  containerName: { effect: "record", default: DRILL_CONTAINER },
  memberName: { effect: "record", default: "etcd-standby-drill" },
  listenAddress: { effect: "record", default: "127.0.0.1" },
  clientPort: { effect: "record", default: 12379 },
  peerPort: { effect: "record", default: 12380 },
  scratchDir: { effect: "record", default: "/var/lib/etcd-standby-drill" },
  heartbeatMs: { effect: "record", default: LEARNER_FIELDS.heartbeatMs.default },
  electionMs: { effect: "record", default: LEARNER_FIELDS.electionMs.default },
  catchUpThreshold: { effect: "record", default: LEARNER_FIELDS.catchUpThreshold.default },
  timeoutMs: { effect: "record", default: 300_000 },
  revisionBump: { effect: "record", default: DEFAULT_REVISION_BUMP },
} as const satisfies Fields<RestoreDrillInputs>;

/** EtcdRestoreDrill's settings, defaults applied. */
export interface DrillSettings {
  learner: LearnerRef;
  /** The image of the scratch cluster; undefined: the learner container's own image. */
  image: string | undefined;
  etcdBinary: string;
  containerName: string;
  memberName: string;
  /** Where the scratch cluster listens: 127.0.0.1 (default) or the learner's host address. */
  listenAddress: string;
  clientPort: number;
  peerPort: number;
  /** Parent folder of each drill's scratch folder. */
  scratchDir: string;
  heartbeatMs: number;
  electionMs: number;
  catchUpThreshold: number;
  timeoutMs: number;
  trigger: string;
  /** `--bump-revision` of the restore (with `--mark-compacted`); 0: none. */
  revisionBump: number;
}

/** Reads the settings out of the props, with the table's defaults; the learner is described exactly as for EtcdStandaloneRestore (EtcdLearner's defaults). */
export function drillSettings(props: Props): DrillSettings {
  const d = withDefaults(RESTORE_DRILL_FIELDS, props as RestoreDrillInputs);
  return {
    learner: learnerRefOf(props.learner),
    image: typeof props.image === "string" && props.image !== "" ? props.image : undefined,
    etcdBinary: d.etcdBinary,
    containerName: d.containerName,
    memberName: d.memberName,
    listenAddress: d.listenAddress,
    clientPort: d.clientPort,
    peerPort: d.peerPort,
    scratchDir: d.scratchDir,
    heartbeatMs: d.heartbeatMs,
    electionMs: d.electionMs,
    catchUpThreshold: d.catchUpThreshold,
    timeoutMs: d.timeoutMs,
    trigger: d.trigger,
    revisionBump: d.revisionBump,
  };
}

function urlHost(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

/** The scratch member's client and peer URLs. */
export function drillUrls(s: DrillSettings): { clientURL: string; peerURL: string } {
  return { clientURL: `https://${urlHost(s.listenAddress)}:${s.clientPort}`, peerURL: `https://${urlHost(s.listenAddress)}:${s.peerPort}` };
}

/** This drill's own scratch folder: `<scratchDir>/drill-<stamp>`. */
export function runDirOf(s: DrillSettings, stampText: string): string {
  return `${s.scratchDir}/${RUN_DIR_PREFIX}${stampText.toLowerCase()}`;
}

/** Where the copy of the learner's db goes, and where it is restored to. */
export function scratchPaths(runDir: string): { db: string; data: string } {
  return { db: `${runDir}/db`, data: `${runDir}/data` };
}

/** True when `path` is a drill's scratch folder directly under `scratchDir` (the only thing the drill ever deletes). */
export function isRunDir(path: string, scratchDir: string): boolean {
  if (!path.startsWith(`${scratchDir}/${RUN_DIR_PREFIX}`)) return false;
  const rest = path.slice(scratchDir.length + 1);
  return /^drill-[a-z0-9]+$/.test(rest);
}

/** The scratch cluster's token, unique per drill. */
export function drillToken(stampText: string): string {
  return `etcd-standby-drill-${stampText.toLowerCase()}`;
}

/**
 * Problems between validated inputs: the scratch folder must not overlap the
 * learner's data dir or its TLS folders, the scratch container must not be the
 * learner's, the two ports must differ from each other and from the learner's
 * own, and the listen address must be loopback or the learner's host (the
 * certificate names both on RKE hosts).
 */
export function drillConflicts(s: DrillSettings): string[] {
  const problems: string[] = [];
  const guarded: [string, string][] = [
    ["the learner's data dir", s.learner.dataDir],
    ...[s.learner.tls.caFile, s.learner.tls.certFile, s.learner.tls.keyFile].map((f): [string, string] => ["the learner's TLS folder", dirOf(f)]),
  ];
  for (const [what, p] of guarded) {
    if (isWithin(s.scratchDir, p) || isWithin(p, s.scratchDir)) {
      problems.push(`scratchDir ${s.scratchDir} overlaps ${what} ${p}: use a dedicated folder such as /var/lib/etcd-standby-drill`);
    }
  }
  if (s.containerName === s.learner.containerName) problems.push(`containerName ${s.containerName} is the learner's container: use another name such as ${DRILL_CONTAINER}`);
  if (s.clientPort === s.peerPort) problems.push(`clientPort and peerPort are both ${s.clientPort}: give two ports`);
  const learnerPorts = [s.learner.clientURL, s.learner.peerURL].map((u) => {
    try {
      return Number(new URL(u).port || 443);
    } catch {
      return -1;
    }
  });
  for (const [f, p] of [["clientPort", s.clientPort], ["peerPort", s.peerPort]] as const) {
    if (learnerPorts.includes(p)) problems.push(`${f} ${p} is one of the learner's own ports: the scratch cluster listens on other ports (default 12379 and 12380)`);
  }
  let learnerHost = "";
  try {
    learnerHost = hostOfUrl(s.learner.peerURL);
  } catch {
    // reported by the URL's own validation
  }
  if (!["127.0.0.1", "::1", learnerHost].includes(s.listenAddress.toLowerCase())) {
    problems.push(`listenAddress ${s.listenAddress} must be 127.0.0.1, ::1 or the learner's host address ${learnerHost}: the scratch cluster stays on the learner's host and reuses its certificate`);
  }
  if (s.electionMs < 5 * s.heartbeatMs) problems.push(`electionMs (${s.electionMs}) should be at least 5 times heartbeatMs (${s.heartbeatMs}); etcd refuses less`);
  return problems;
}

/** The restore's short-lived container: no network, the drill's scratch folder mounted at the same path (db read, data written); `bump`: its `--bump-revision` (0: none). */
export function drillRestoreContainer(s: DrillSettings, v: EtcdVersion, runDir: string, token: string, bump = 0): OneShotSpec {
  const p = scratchPaths(runDir);
  const cmd = restoreCommand(v, dirOf(s.etcdBinary), { db: p.db, dataDir: p.data, name: s.memberName, peerURL: drillUrls(s).peerURL, token, bump });
  return {
    name: `${s.containerName}-restore`,
    image: s.image ?? "",
    labels: { [MANAGED_LABEL]: DRILL_TOOL_VALUE },
    volumes: [{ host: runDir, container: runDir }],
    env: cmd.env,
    command: cmd.argv,
  };
}

/** Flags of the learner's own command line the scratch member takes over: its db must fit the same quota. */
export const INHERITED_FLAGS = ["quota-backend-bytes", "max-request-bytes"];

/** The learner's {@link INHERITED_FLAGS}, as its container's command line has them (`--name=value` only). */
export function inheritedFlags(learnerArgv: readonly string[]): string[] {
  return learnerArgv.filter((a) => INHERITED_FLAGS.some((f) => new RegExp(`^--?${f}=[0-9]+$`).test(a))).map((a) => a.replace(/^-(?!-)/, "--"));
}

/** The scratch member's etcd command line: a new one-member cluster on the drill's URLs, plus the learner's inherited flags. */
export function drillEtcdCommand(s: DrillSettings, dataDir: string, token: string, inherited: readonly string[] = []): string[] {
  const { clientURL, peerURL } = drillUrls(s);
  return oneMemberEtcdCommand({ etcdBinary: s.etcdBinary, name: s.memberName, dataDir, peerURL, clientURL, token, tls: s.learner.tls, heartbeatMs: s.heartbeatMs, electionMs: s.electionMs, extraFlags: inherited });
}

/** The scratch etcd's container: never restarted, host network, its data dir and the learner's TLS folders (read-only). */
export function drillEtcdContainer(s: DrillSettings, runDir: string, token: string, runId: string, runLabel: string, inherited: readonly string[] = []): RunContainerSpec {
  const data = scratchPaths(runDir).data;
  return {
    name: s.containerName,
    image: s.image ?? "",
    restart: "no",
    network: "host",
    labels: { [MANAGED_LABEL]: DRILL_MANAGED_VALUE, [MEMBER_LABEL]: s.memberName, [runLabel]: runId },
    volumes: etcdVolumes(data, s.learner.tls),
    command: drillEtcdCommand(s, data, token, inherited),
  };
}

/**
 * TCP ports with a listening socket, from the text of `/proc/net/tcp` and
 * `/proc/net/tcp6` (state 0A is LISTEN; the local port is the hex after the
 * colon). Lines that are not socket lines are skipped.
 */
export function parseListeningPorts(procNetTcp: string): Set<number> {
  const ports = new Set<number>();
  for (const line of procNetTcp.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+:$/.test(f[0])) continue;
    const m = /:([0-9A-Fa-f]{4})$/.exec(f[1]);
    if (m && f[3].toUpperCase() === "0A") ports.add(parseInt(m[1], 16));
  }
  return ports;
}

/** Of `ports`, those something listens on already. */
export function busyPorts(ports: readonly number[], listening: ReadonlySet<number>): number[] {
  return ports.filter((p) => listening.has(p));
}

/** Bytes the scratch copies need on the scratch folder's file system for a db of `dbBytes`: the copy, the restored data dir and slack. */
export function spaceNeeded(dbBytes: number): number {
  return 2 * dbBytes + SPACE_SLACK_BYTES;
}

/** Bytes available, from `df -Pk` output (the last line's fourth column); undefined when unreadable. */
export function parseDfAvailable(text: string): number | undefined {
  const lines = text.trim().split("\n").filter((l) => l.trim() !== "");
  const f = (lines[lines.length - 1] ?? "").trim().split(/\s+/);
  const kb = Number(f[3]);
  return f.length >= 6 && Number.isInteger(kb) && kb >= 0 ? kb * 1024 : undefined;
}

/** The learner's lag (lib/quorum.ts; re-exported here for the drill's callers). */
export { learnerLag } from "../lib/quorum";

/** What was recorded about the learner before it was stopped. */
export interface DrillRecord {
  revision: number;
  keys: number;
  appliedIndex: number;
  version: string;
}

/** What the scratch cluster showed. */
export interface DrillObservation {
  healthy: boolean;
  memberNames: string[];
  /** Its revision right after the restore (before the probe write). */
  headRevision: number;
  /** Its keys at the recorded revision (lock keys left out); undefined when that revision could not be read. */
  keysAtRecorded: number | undefined;
  /** Why the count at the recorded revision failed. */
  countError?: string;
  writable: boolean;
}

/** The verification's verdict. */
export interface DrillVerdict {
  ok: boolean;
  problems: string[];
}

/**
 * Pass means: healthy, exactly one member (the drill's), a revision at least
 * the recorded one, as many keys at the recorded revision as the learner held
 * then, and a probe write accepted. Counting at the recorded revision makes
 * the comparison exact although the learner kept applying writes between the
 * record and its stop.
 */
export function verifyDrill(rec: DrillRecord, got: DrillObservation, memberName: string): DrillVerdict {
  const problems: string[] = [];
  if (!got.healthy) problems.push("the scratch member is not healthy (not its own leader, or it reports alarms)");
  if (got.memberNames.length !== 1 || got.memberNames[0] !== memberName) {
    problems.push(`the scratch cluster should have exactly one member ${memberName}, it has [${got.memberNames.join(", ")}]`);
  }
  if (got.headRevision < rec.revision) {
    problems.push(`the restored revision ${got.headRevision} is behind the learner's recorded ${rec.revision}: ${rec.revision - got.headRevision} revisions would be lost`);
  }
  if (got.keysAtRecorded === undefined) {
    problems.push(`the keys at the recorded revision ${rec.revision} could not be counted in the restored copy${got.countError ? `: ${got.countError}` : ""}`);
  } else if (got.keysAtRecorded !== rec.keys) {
    const d = got.keysAtRecorded - rec.keys;
    problems.push(`the restored copy has ${got.keysAtRecorded} keys at revision ${rec.revision}, the learner held ${rec.keys} (${d < 0 ? `${-d} missing` : `${d} extra`})`);
  }
  if (!got.writable) problems.push("a probe write to the scratch cluster was not accepted");
  return { ok: problems.length === 0, problems };
}

/**
 * Where a drill compares the copy with the learner. Without a bump: the copy
 * at the recorded revision against the record (exact although the learner
 * kept applying writes until its stop). With one, every revision before the
 * bumped one reads as compacted in the copy: the copy at the bumped revision
 * (its keyspace exactly) against the learner, caught up again, at the
 * revision the copy held (`learnerAt`). Pure.
 */
export function comparedAt(rec: Pick<DrillRecord, "revision">, seen: { latest: number; bumped: number } | undefined): { scratchAt: number; learnerAt: number | undefined } {
  return seen === undefined ? { scratchAt: rec.revision, learnerAt: undefined } : { scratchAt: seen.bumped, learnerAt: seen.latest };
}

/** Time per phase of a drill, in ms (EtcdRestoreDrill's `phaseMs`). */
export interface DrillPhases {
  /** Reads before anything changes. */
  preflight: number;
  /** The learner's revision and key count. */
  record: number;
  /** `docker stop` of the learner. */
  learnerStop: number;
  /** Copying its db to the scratch folder. */
  copy: number;
  /** Restart policy back, `docker start`. */
  learnerRestart: number;
  /** Until the learner is caught up again. */
  learnerCatchUp: number;
  /** `snapshot restore` of the copy. */
  restore: number;
  /** Until the scratch member leads itself. */
  start: number;
  /** Counts, member list, probe write. */
  verify: number;
  /** Removing the scratch container and folder. */
  cleanup: number;
  /** The whole drill. */
  total: number;
}

/** Phases all at 0. */
export function zeroPhases(): DrillPhases {
  return { preflight: 0, record: 0, learnerStop: 0, copy: 0, learnerRestart: 0, learnerCatchUp: 0, restore: 0, start: 0, verify: 0, cleanup: 0, total: 0 };
}

/** The RTO a real failover would have: restore, start and verify. */
export function rtoMs(t: DrillPhases): number {
  return t.restore + t.start + t.verify;
}

/** A one-line summary of the phase times. */
export function phaseLine(t: DrillPhases): string {
  return (Object.keys(t) as (keyof DrillPhases)[]).map((k) => `${k} ${t[k]} ms`).join(", ");
}
