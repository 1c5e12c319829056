/** Stopping the learner for good (its bbolt db flushed), and what the host showed once it had stopped, in one remote command. */
import { armRun, GATE_LINE } from "../../connection/gate";
import type { Armed } from "../../connection/gate";
import type { SshSession } from "../../connection/ssh";
import { EtcdStandbyError } from "../../lib/errors";
import { progress } from "../common";
import type { RestoreRecord } from "./record";
import { WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/**
 * The stop, in one remote command opened ahead of the guard's verdict
 * ({@link armStop}): it waits for its first input line and stops nothing
 * unless that line is `go` (`connection/gate.ts`); `$1` the learner's
 * container, `$2` its db file, the rest the docker command. `docker stop -t 60` with `docker update
 * --restart=no` beside it (done again after the stop if it did not take: a
 * stopped container is not restarted by its policy); then whether it still
 * runs, and its db's size and mtime. Prints `@@etcd-standby` lines: `mark
 * go <ns>` and `mark stopped <ns>` (the host's clock, around docker stop),
 * `stop <stop status> <update status>`, `running <true|false|>`, `db <size>
 * <mtime>` or `db absent`.
 */
export const STOP_AND_LOOK = [
  GATE_LINE,
  "name=$1; db=$2; shift 2",
  'printf "\n@@etcd-standby mark go %s\n" "$(date +%s%N)"',
  '"$@" update --restart=no "$name" >/dev/null 2>&1 & u=$!',
  '"$@" stop -t 60 "$name" >/dev/null; st=$?',
  'printf "\n@@etcd-standby mark stopped %s\n" "$(date +%s%N)"',
  'wait "$u"; up=$?',
  'if [ "$up" -ne 0 ]; then "$@" update --restart=no "$name" >/dev/null; up=$?; fi',
  'printf "\\n@@etcd-standby stop %s %s\\n" "$st" "$up"',
  'printf "@@etcd-standby running %s\\n" "$("$@" inspect --type container --format "{{.State.Running}}" "$name" 2>/dev/null)"',
  'if [ -f "$db" ]; then printf "@@etcd-standby db %s\\n" "$(stat -c "%s %Y" -- "$db")"; else printf "@@etcd-standby db absent\\n"; fi',
].join("\n");

/** What {@link STOP_AND_LOOK} printed. */
export interface StopLook {
  stopStatus: number;
  updateStatus: number;
  /** The container's State.Running after the stop; undefined when docker did not say. */
  running: boolean | undefined;
  /** The db's size and mtime after the stop; null when absent. */
  db: { size: number; mtime: number } | null;
}

/** Parses {@link STOP_AND_LOOK}'s output; undefined when it did not finish (its lines are missing). */
export function parseStopLook(stdout: string): StopLook | undefined {
  const stop = /^@@etcd-standby stop (\d+) (\d+)$/m.exec(stdout);
  const running = /^@@etcd-standby running ?(\S*)$/m.exec(stdout);
  const db = /^@@etcd-standby db (?:(\d+) (\d+)|(absent))$/m.exec(stdout);
  if (!stop || !running || !db) return undefined;
  return {
    stopStatus: Number(stop[1]),
    updateStatus: Number(stop[2]),
    running: running[1] === "true" ? true : running[1] === "false" ? false : undefined,
    db: db[3] === "absent" ? null : { size: Number(db[1]), mtime: Number(db[2]) },
  };
}

/** What the record keeps of the stop: when, and the db's size and mtime then. */
export type Stopped = Required<Pick<RestoreRecord, "stoppedAt" | "dbSize" | "dbMtime">>;

/**
 * The learner's stop, opened on the host and waiting for its go, which stops
 * the learner gracefully (its bbolt db is flushed) so it never comes back,
 * and looks at it once stopped. The go returns when it stopped and its db's
 * size and mtime, for the record; it throws naming what went wrong (a failed
 * stop, a policy that would not clear, a container still running, a missing
 * db, a stop that was held). `hold` stops nothing (also when it was never needed).
 */
export type ArmedStop = Armed<[], Stopped>;

/**
 * Opens the stop's remote command now, waiting on the host: {@link
 * ArmedStop.go} then costs the docker commands alone, not a new SSH
 * session. Until then nothing is stopped; `hold` (or the connection's end)
 * ends it having changed nothing.
 */
export function armStop(ssh: SshSession, s: RestoreSettings): ArmedStop {
  const db = `${s.learner.dataDir}/member/snap/db`;
  const armed = armRun(ssh, ["sh", "-c", STOP_AND_LOOK, "sh", s.learner.containerName, db, ...ssh.dockerCommand], { timeoutMs: 120_000, allowFailure: true });
  return {
    go: async () => {
      progress(WHAT, `stopping ${s.learner.containerName} gracefully (restart policy cleared; container and data dir kept)`);
      const r = await armed.go();
      return stopped(ssh.host, s, parseStopLook(r.stdout), r.stderr);
    },
    hold: () => armed.hold(),
  };
}

/** What the record keeps of the stop, from what {@link STOP_AND_LOOK} showed; throws when it did not stop as it must. Pure. */
export function stopped(host: string, s: RestoreSettings, look: StopLook | undefined, stderr = "", now = new Date()): Stopped {
  const name = s.learner.containerName;
  const why = stderr.trim().slice(-500);
  if (look === undefined) throw new EtcdStandbyError("RemoteCommandFailed", `stopping ${name} did not finish${why ? `: ${why}` : ""}`, `check the docker daemon on the host; stop ${name} by hand (docker stop -t 60 ${name}; docker update --restart=no ${name}) if it still runs, then run pulumi up again`, { host });
  if (look.stopStatus !== 0) throw new EtcdStandbyError("RemoteCommandFailed", `docker stop ${name} failed with status ${look.stopStatus}${why ? `: ${why}` : ""}`, "check the docker daemon on the host, then run pulumi up again", { host });
  if (look.updateStatus !== 0) throw new EtcdStandbyError("RemoteCommandFailed", `docker update --restart=no ${name} failed with status ${look.updateStatus}: the learner could come back${why ? ` (${why})` : ""}`, `clear its restart policy by hand (docker update --restart=no ${name}), then run pulumi up again`, { host });
  if (look.running !== false) throw new EtcdStandbyError("Refused", `${name} is ${look.running === true ? "still running" : "in an unknown state"} after docker stop`, "stop it by hand and run pulumi up again", { host });
  if (look.db === null) throw new EtcdStandbyError("NotFound", `the learner's db ${s.learner.dataDir}/member/snap/db is missing`, "check learner.dataDir", { host });
  return { stoppedAt: now.toISOString(), dbSize: look.db.size, dbMtime: look.db.mtime };
}
