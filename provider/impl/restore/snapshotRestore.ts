/**
 * The restore proper: `snapshot restore --skip-hash-check` of the learner's
 * db with etcdctl (3.4/3.5) or etcdutl (3.6+) in a throwaway container of the
 * image, into a staging dir moved into place when complete, and the restored
 * etcd's start, in one remote command; its command line and container
 * (pure), and what of a failed tool's output is worth showing.
 */
import { oneShotArgv, runArgv } from "../../connection/docker";
import type { OneShotSpec, RunContainerSpec } from "../../connection/docker";
import { fileReadable, makeDir } from "../../connection/hostfs";
import { armRun, GATE_LINE } from "../../connection/gate";
import type { Armed } from "../../connection/gate";
import type { RunResult, SshSession } from "../../connection/ssh";
import { EtcdStandbyError } from "../../lib/errors";
import { lastLinesPreferring } from "../../lib/logs";
import { buildCommand } from "../../lib/shell";
import { dirOf } from "../../lib/paths";
import { bumpFlags, bumpSupported, noBumpWarning, parseBumpLog } from "../../lib/revisionBump";
import type { BumpSeen } from "../../lib/revisionBump";
import type { EtcdVersion } from "../../lib/versions";
import { progress } from "../common";
import { MANAGED_LABEL } from "../learnerConfig";
import { restoreTool } from "./image";
import { recordFile, RESTORE_TOOL_CONTAINER, RESTORE_TOOL_VALUE, stagingDir, WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/** What a restore writes. */
export interface RestoreTarget {
  /** The db file to restore from (inside the tool's container, mounted read-only at the same path). */
  db: string;
  /** The new data dir; must not exist yet (etcdctl 3.4 refuses an existing one). */
  dataDir: string;
  name: string;
  peerURL: string;
  token: string;
  /** `--bump-revision` (with `--mark-compacted`); 0 or absent: neither. */
  bump?: number;
}

/**
 * The restore command line for a version: argv and environment, as the
 * seed's `snapshot restore ... --skip-hash-check`, with `--bump-revision`
 * and `--mark-compacted` when `t.bump` is set (the caller checks that the
 * tool has them: {@link bumpFor}).
 */
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
      ...bumpFlags(t.bump ?? 0),
    ],
    env: tool === "etcdctl" ? { ETCDCTL_API: "3" } : {},
  };
}

/** The bump a restore with version `v`'s tool applies when `wanted` is asked: `wanted`, or 0 when the tool lacks the flags. */
export function bumpFor(v: EtcdVersion, wanted: number): number {
  return bumpSupported(v) ? wanted : 0;
}

/** The short-lived container that runs the restore: no network, the db's folder read-only, the staging dir writable. */
export function restoreToolContainer(s: RestoreSettings, v: EtcdVersion, token: string): OneShotSpec {
  const staging = stagingDir(s);
  const cmd = restoreCommand(v, dirOf(s.etcdBinary), { db: s.sourceDb, dataDir: `${staging}/data`, name: s.newMemberName, peerURL: s.learner.peerURL, token, bump: bumpFor(v, s.revisionBump) });
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

/** What the restore needs that does not wait for the learner's stop: its staging dir made, and the db to restore from readable. */
export async function prepareRestore(ssh: SshSession, s: RestoreSettings): Promise<void> {
  const [readable] = await Promise.all([fileReadable(ssh, s.sourceDb), makeDir(ssh, stagingDir(s))]);
  if (!readable) throw new EtcdStandbyError("NotFound", `the db to restore from, ${s.sourceDb}, is missing or unreadable`, "check learner.dataDir (or sourceDb)", { host: ssh.host });
}

/**
 * The restore and the start in one remote command, opened beside the stop
 * and waiting for its go with the record ({@link armRestoreAndStart},
 * `connection/gate.ts`): after the stop, one write on an open channel, not a
 * new SSH session, on the failover's critical path. Arguments: `$1` the staging
 * data dir, `$2` the restore data dir, `$3` the record file (empty: none to
 * write), `$4` the staging dir, `$5` the restored etcd's `docker run` (a
 * command line of quoted, validated arguments), the rest the restore tool's
 * `docker run`. In order: the record (stdin) is written atomically; the tool
 * runs (its output printed); its db is checked and moved into place, never
 * over an existing path; the restored etcd starts; the empty staging dir
 * goes. Each step stamps `@@etcd-standby mark <step> <ns>` (the host's
 * clock), and the command ends with one outcome line: `record-failed`,
 * `tool-exit <status>` (nothing moved), `no-db`, `exists`, `move-failed`,
 * `start-exit <status>` (after docker run's own output) or `started`.
 */
export const RESTORE_AND_START = [
  GATE_LINE,
  'src=$1; dst=$2; rec=$3; stg=$4; start=$5; shift 5',
  'end() { printf "\\n@@etcd-standby %s\\n" "$*"; exit 0; }',
  'mark() { printf "\\n@@etcd-standby mark %s %s\\n" "$1" "$(date +%s%N)"; }',
  'mark begin',
  'if [ -n "$rec" ]; then (umask 077 && cat > "$rec.tmp" && mv -f -- "$rec.tmp" "$rec") || end record-failed; fi',
  'mark recorded',
  '"$@"; rc=$?',
  'if [ "$rc" -ne 0 ]; then end tool-exit "$rc"; fi',
  'if [ ! -f "$src/member/snap/db" ]; then end no-db; fi',
  'if [ -e "$dst" ]; then end exists; fi',
  'mv -- "$src" "$dst" || end move-failed',
  'mark restored',
  'sh -c "$start"; rc=$?',
  'if [ "$rc" -ne 0 ]; then end start-exit "$rc"; fi',
  'mark started',
  'rmdir -- "$stg" 2>/dev/null',
  'end started',
].join("\n");

/** What {@link RESTORE_AND_START} printed: its outcome (the last line), the status with it, the host's marks (ns), and the output before the outcome. */
export function restoreOutcome(stdout: string): { outcome: string; status?: number; marks: Record<string, bigint>; output: string } {
  const marks: Record<string, bigint> = {};
  for (const m of stdout.matchAll(/^@@etcd-standby mark (\S+) (\d+)$/gm)) marks[m[1]] = BigInt(m[2]);
  const lines = [...stdout.matchAll(/^@@etcd-standby (?!mark |released$)(\S+)(?: (\d+))?$/gm)];
  const last = lines[lines.length - 1];
  // Each mark (and the gate's release) is printed on a line of its own, after a line break of its own: both go.
  const output = stdout.slice(0, last?.index ?? stdout.length).replace(/\n?\n@@etcd-standby (?:mark \S+ \d+|released)\n/g, "\n").trim();
  if (!last) return { outcome: "", marks, output };
  return { outcome: last[1], ...(last[2] !== undefined ? { status: Number(last[2]) } : {}), marks, output };
}

/** Milliseconds between two of the host's marks; undefined when either is missing. */
export function markMs(marks: Record<string, bigint>, from: string, to: string): number | undefined {
  const a = marks[from];
  const b = marks[to];
  return a === undefined || b === undefined || b < a ? undefined : Number((b - a) / 1_000_000n);
}

/** What {@link restoreAndStart} did. */
export interface RestoredAndStarted {
  tool: string;
  /** The bump asked of the tool (0: none). */
  bumpAsked: number;
  /** What the tool said of its bump (the db's revision, the new one); undefined when it said nothing. */
  bump: BumpSeen | undefined;
  /** The restored etcd's `docker run` on the host (its start), ms; undefined when the host's clock did not say. */
  startMs: number | undefined;
}

/** A failure of one step of {@link restoreAndStart}, with the create's phase it belongs to. */
export class StepFailure extends Error {
  public constructor(
    public readonly phaseName: string,
    public readonly error: EtcdStandbyError,
  ) {
    super(error.message);
    this.name = "StepFailure";
  }
}

/**
 * The restore and the start, opened on the host and waiting for its go: the
 * restore (into the staging dir made, and the db checked, by
 * {@link prepareRestore}) and the start of the restored etcd; the go's
 * `record` (given exactly when armed `withRecord`) is kept on the host
 * first. A failure names its step: recording ("stopping the learner"), the
 * restore, or the start. `hold` ends it having changed nothing.
 */
export type ArmedRestore = Armed<[record: string | undefined], RestoredAndStarted>;

/**
 * Opens {@link RESTORE_AND_START} now for `token`'s restore with version
 * `v`'s tool, waiting on the host; `withRecord`: whether its go brings the
 * stop's record to keep. Nothing runs before {@link ArmedRestore.go}.
 */
export function armRestoreAndStart(ssh: SshSession, s: RestoreSettings, token: string, v: EtcdVersion, startSpec: RunContainerSpec, withRecord: boolean): ArmedRestore {
  const staging = stagingDir(s);
  const spec = restoreToolContainer(s, v, token);
  const tool = restoreTool(v);
  const start = buildCommand(runArgv(ssh, startSpec));
  const argv = ["sh", "-c", RESTORE_AND_START, "sh", `${staging}/data`, s.restoreDataDir, withRecord ? recordFile(s) : "", staging, start, ...oneShotArgv(ssh, spec)];
  const armed = armRun(ssh, argv, { timeoutMs: s.timeoutMs, allowFailure: true });
  return {
    go: async (record) => {
      if ((record !== undefined) !== withRecord) throw new Error(`the restore was armed ${withRecord ? "with" : "without"} a record to keep`);
      const bump = bumpFor(v, s.revisionBump);
      if (bump === 0 && s.revisionBump > 0) progress(WHAT, noBumpWarning(s.image, v));
      progress(WHAT, `${tool} snapshot restore ${s.sourceDb} --name=${s.newMemberName} --initial-cluster=${s.newMemberName}=${s.learner.peerURL} --initial-cluster-token=${token} --skip-hash-check${bump > 0 ? ` ${bumpFlags(bump).join(" ")}` : ""} (etcd ${v.text}, in ${s.image}), then ${startSpec.name} started as a one-member cluster (--initial-cluster-state=new)`);
      return restoreResult(ssh, s, tool, v, startSpec, bump, await armed.go(record ?? ""));
    },
    hold: () => armed.hold(),
  };
}

/** What {@link RESTORE_AND_START}'s run says: the tool and the start's time, or a {@link StepFailure} naming its step. */
function restoreResult(ssh: SshSession, s: RestoreSettings, tool: string, v: EtcdVersion, startSpec: RunContainerSpec, bumpAsked: number, r: RunResult): RestoredAndStarted {
  const staging = stagingDir(s);
  const o = restoreOutcome(r.stdout);
  const fail = (phaseName: string, e: EtcdStandbyError): StepFailure => new StepFailure(phaseName, e);
  const host = { host: ssh.host };
  switch (o.outcome) {
    case "started":
      return { tool: `${tool} ${v.text}`, bumpAsked, bump: bumpAsked > 0 ? parseBumpLog(`${r.stderr}\n${o.output}`) : undefined, startMs: markMs(o.marks, "restored", "started") };
    case "record-failed":
      throw fail("stopping the learner", new EtcdStandbyError("RemoteCommandFailed", `keeping the record in ${recordFile(s)} failed: ${r.stderr.trim().slice(-500)}`, "check the file system on the host (space, permissions)", host));
    case "tool-exit":
      throw fail("the restore", new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore of ${s.sourceDb} exited with status ${String(o.status)}; its output says:\n${toolFailureExcerpt(`${r.stderr}\n${o.output}`.trim())}`, "the db may be damaged or truncated; check it (etcdutl snapshot status) or restore from another copy", host));
    case "no-db":
      throw fail("the restore", new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore exited 0 but wrote no ${staging}/data/member/snap/db`, "read the tool's output on the host", host));
    case "exists":
      throw fail("the restore", new EtcdStandbyError("Refused", `${s.restoreDataDir} appeared while the restore ran: it is never overwritten (the restore is kept in ${staging}/data)`, "check who made it, move it aside and run pulumi up again", host));
    case "move-failed":
      throw fail("the restore", new EtcdStandbyError("RemoteCommandFailed", `moving the restore ${staging}/data to ${s.restoreDataDir} failed: ${r.stderr.trim().slice(-500)}`, "check the file system on the host (space, permissions)", host));
    case "start-exit":
      throw fail("starting the restored etcd", new EtcdStandbyError("RemoteCommandFailed", `docker run of ${startSpec.name} exited with status ${String(o.status)}: ${`${r.stderr}`.trim().slice(-500) || o.output.slice(-500)}`, "check the docker daemon and the image on the host", host));
    default:
      throw fail("the restore", new EtcdStandbyError("RemoteCommandFailed", `the restore's remote command ended without saying how (status ${String(r.code)}): ${r.stderr.trim().slice(-500)}`, `check the host: what is in ${staging} and ${s.restoreDataDir}, and whether ${startSpec.name} runs; run pulumi up again (a leftover is set aside)`, host));
  }
}
