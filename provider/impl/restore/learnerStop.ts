/** Stopping the learner for good (its bbolt db flushed), and confirming it stopped with its db's size and mtime for the record. */
import { inspectState, setRestartPolicy, stopContainer } from "../../connection/docker";
import { fileStat } from "../../connection/hostfs";
import type { SshSession } from "../../connection/ssh";
import { EtcdStandbyError } from "../../lib/errors";
import { progress } from "../common";
import type { RestoreRecord } from "./record";
import { WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/**
 * Stops the learner gracefully (its bbolt db is flushed) so it never comes
 * back: `docker stop` with the restart policy cleared beside it (a stopped
 * container is not restarted by its policy; the update is done again after
 * the stop if it did not take). Returns when the container has stopped.
 */
export async function stopLearner(ssh: SshSession, s: RestoreSettings): Promise<void> {
  progress(WHAT, `stopping ${s.learner.containerName} gracefully (restart policy cleared; container and data dir kept)`);
  const policy = setRestartPolicy(ssh, s.learner.containerName, "no").then(
    () => true,
    () => false,
  );
  await stopContainer(ssh, s.learner.containerName, 60);
  if (!(await policy)) await setRestartPolicy(ssh, s.learner.containerName, "no");
}

/**
 * After {@link stopLearner}: confirms the learner is not running and stats
 * its db for the record (beside the restore, which only reads the db).
 */
export async function checkStopped(ssh: SshSession, s: RestoreSettings, rec: RestoreRecord): Promise<RestoreRecord> {
  const [st, db] = await Promise.all([inspectState(ssh, s.learner.containerName), fileStat(ssh, `${s.learner.dataDir}/member/snap/db`)]);
  if (st.running) throw new EtcdStandbyError("Refused", `${s.learner.containerName} is still running after docker stop`, "stop it by hand and run pulumi up again", { host: ssh.host });
  if (db === null) throw new EtcdStandbyError("NotFound", `the learner's db ${s.learner.dataDir}/member/snap/db is missing`, "check learner.dataDir", { host: ssh.host });
  return { ...rec, stoppedAt: new Date().toISOString(), dbSize: db.size, dbMtime: db.mtime };
}
