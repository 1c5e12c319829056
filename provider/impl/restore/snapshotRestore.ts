/**
 * The restore proper: `snapshot restore --skip-hash-check` of the learner's
 * db with etcdctl (3.4/3.5) or etcdutl (3.6+) in a throwaway container of the
 * image, into a staging dir moved into place when complete; its command line
 * and container (pure), and what of a failed tool's output is worth showing.
 */
import { oneShotArgv } from "../../connection/docker";
import type { OneShotSpec } from "../../connection/docker";
import { fileReadable, makeDir } from "../../connection/hostfs";
import type { SshSession } from "../../connection/ssh";
import { EtcdStandbyError } from "../../lib/errors";
import { lastLinesPreferring } from "../../lib/logs";
import { dirOf } from "../../lib/paths";
import type { EtcdVersion } from "../../lib/versions";
import { progress } from "../common";
import { MANAGED_LABEL } from "../learnerConfig";
import { restoreTool } from "./image";
import type { RestoreRecord } from "./record";
import { RESTORE_TOOL_CONTAINER, RESTORE_TOOL_VALUE, stagingDir, WHAT } from "./settings";
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
 * The script that runs the restore tool and moves its result into place, in
 * one remote command (one SSH round trip on the failover's critical path):
 * `$1` the staging data dir, `$2` the restore data dir, the rest the tool's
 * `docker run`. Prints the tool's output, then one `@@etcd-standby` line:
 * `tool-exit <status>` (the tool failed: nothing moved), `no-db` (it wrote no
 * db), `exists` (the target appeared meanwhile: never overwritten) or
 * `moved`.
 */
export const RESTORE_AND_MOVE = [
  'src=$1; dst=$2; shift 2',
  '"$@"; rc=$?',
  'if [ "$rc" -ne 0 ]; then printf "\\n@@etcd-standby tool-exit %s\\n" "$rc"; exit 0; fi',
  'if [ ! -f "$src/member/snap/db" ]; then printf "\\n@@etcd-standby no-db\\n"; exit 0; fi',
  'if [ -e "$dst" ]; then printf "\\n@@etcd-standby exists\\n"; exit 0; fi',
  'mv -- "$src" "$dst" && printf "\\n@@etcd-standby moved\\n"',
].join("\n");

/** The outcome line {@link RESTORE_AND_MOVE} printed last, and the output before it. */
export function restoreOutcome(stdout: string): { outcome: string; status?: number; output: string } {
  const lines = [...stdout.matchAll(/^@@etcd-standby (\S+)(?: (\d+))?$/gm)];
  const last = lines[lines.length - 1];
  if (!last) return { outcome: "", output: stdout };
  return { outcome: last[1], ...(last[2] !== undefined ? { status: Number(last[2]) } : {}), output: stdout.slice(0, last.index).trimEnd() };
}

/** Snapshot restore into the staging dir (made, and the db checked, by {@link prepareRestore}), moved into place in the same remote command. */
export async function restoreDb(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord, v: EtcdVersion): Promise<{ tool: string; imageVersion: string }> {
  const staging = stagingDir(s);
  const spec = restoreToolContainer(s, v, rec.newClusterToken);
  const tool = restoreTool(v);
  progress(WHAT, `${tool} snapshot restore ${s.sourceDb} --name=${s.newMemberName} --initial-cluster=${s.newMemberName}=${s.learner.peerURL} --initial-cluster-token=${rec.newClusterToken} --skip-hash-check (etcd ${v.text}, in ${s.image})`);
  const r = await ssh.run(["sh", "-c", RESTORE_AND_MOVE, "sh", `${staging}/data`, s.restoreDataDir, ...oneShotArgv(ssh, spec)], { timeoutMs: s.timeoutMs, allowFailure: true });
  const o = restoreOutcome(r.stdout);
  if (o.outcome === "tool-exit") {
    const out = `${r.stderr}\n${o.output}`.trim();
    throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore of ${s.sourceDb} exited with status ${String(o.status)}; its output says:\n${toolFailureExcerpt(out)}`, "the db may be damaged or truncated; check it (etcdutl snapshot status) or restore from another copy", { host: ssh.host });
  }
  if (o.outcome === "no-db") throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot restore exited 0 but wrote no ${staging}/data/member/snap/db`, "read the tool's output on the host", { host: ssh.host });
  if (o.outcome === "exists") throw new EtcdStandbyError("Refused", `${s.restoreDataDir} appeared while the restore ran: it is never overwritten (the restore is kept in ${staging}/data)`, "check who made it, move it aside and run pulumi up again", { host: ssh.host });
  if (o.outcome !== "moved" || r.code !== 0) {
    throw new EtcdStandbyError("RemoteCommandFailed", `moving the restore ${staging}/data to ${s.restoreDataDir} failed (status ${String(r.code)}): ${`${r.stderr}`.trim().slice(-500)}`, "check the file system on the host (space, permissions)", { host: ssh.host });
  }
  return { tool: `${tool} ${v.text}`, imageVersion: v.text };
}
