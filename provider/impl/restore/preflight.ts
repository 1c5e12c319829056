/**
 * The preflight, before anything changes (reads only, one remote command,
 * beside the guard): no foreign container under `containerName`, the TLS
 * files on the host, what a failed earlier attempt left, and whether the
 * learner runs (else an earlier attempt's record must describe it). A
 * verified restore found here is adopted. The image's presence comes from
 * its version read (a throwaway container run with `--pull never`, from
 * the create's first moment), which is checked before anything changes.
 */
import { inspectStatesArgv, statesOf } from "../../connection/docker";
import type { ContainerState } from "../../connection/docker";
import type { ClusterConnectionArgs } from "../../connection/etcd";
import { fileStat, surveyPaths } from "../../connection/hostfs";
import type { SshSession } from "../../connection/ssh";
import { EtcdStandbyError } from "../../lib/errors";
import { progress } from "../common";
import { MANAGED_LABEL } from "../learnerConfig";
import type { PathState } from "../../connection/hostfs";
import { dirOf } from "../../lib/paths";
import type { Leftovers } from "./leftovers";
import { parseRecord, recordUnusable } from "./record";
import type { RestoreRecord } from "./record";
import { recordFile, RESTORE_MANAGED_VALUE, RESTORE_TOOL_VALUE, stagingDir, TOKEN_LABEL, TOOL_NAMES, WHAT } from "./settings";
import type { RestoreSettings, StandaloneRestoreResult } from "./settings";
import { adopt } from "./verify";

/** True when the container was made by EtcdStandaloneRestore (a restored etcd). */
function isOurs(info: ContainerState): boolean {
  return info.exists && info.labels[MANAGED_LABEL] === RESTORE_MANAGED_VALUE;
}

/** What the preflight found: go ahead (with a reusable record when the learner was stopped earlier), or a verified restore adopted. */
export type Preflight =
  | { kind: "adopted"; outs: StandaloneRestoreResult }
  | { kind: "go"; learner: ContainerState; reused: RestoreRecord | undefined; leftovers: Leftovers; recordDir: PathState };

/** Before anything changes (reads only, one remote command): what is there, and what the restored etcd needs. */
export async function preflight(ssh: SshSession, s: RestoreSettings, conn: ClusterConnectionArgs, began: number): Promise<Preflight> {
  const host = ssh.host;
  // One command: the TLS files, an earlier attempt's record, the restore's dirs and the record's, then one docker
  // inspect of the learner, the target name and the leftover throwaway containers of earlier attempts.
  const tlsFiles = Object.values(s.learner.tls) as string[];
  const names = [s.learner.containerName, s.containerName, ...TOOL_NAMES];
  const files = await surveyPaths(ssh, { readable: tlsFiles, read: [recordFile(s)], states: [s.restoreDataDir, stagingDir(s), dirOf(recordFile(s))], then: inspectStatesArgv(ssh, names) });
  const [learner, target, ...tools] = statesOf(ssh, names, files.then);
  const [restoreDir, staging, recordDir] = files.states;
  const old = parseRecord(files.contents[0]);
  const unreadable = tlsFiles.filter((_f, i) => !files.readable[i]);
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
  return { kind: "go", learner, reused, leftovers: { tools: tools.map((c) => c.exists && c.labels[MANAGED_LABEL] === RESTORE_TOOL_VALUE), target, dirs: [restoreDir, staging] }, recordDir };
}
