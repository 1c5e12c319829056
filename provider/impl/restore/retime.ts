/**
 * The restored member back on the cluster's raft timing: a restore created
 * with `fastFirstElection` started with a 100/500 ms timing so its first
 * election was short; before other voters join (rebuild mode), it must run
 * with the cluster's `heartbeatMs`/`electionMs`, or once a follower it would
 * call elections against a leader that beats every `heartbeatMs`. etcd reads
 * its timing at start only, so the container is re-created with the two flags
 * changed (everything else as `docker inspect` shows it) and writes pause
 * until it has led itself again: its start plus its first election (up to
 * `electionMs`). The old container is stopped and kept aside until the new
 * one leads, then removed; a failure puts it back.
 */
import { inspectContainer, inspectRunSpec, removeContainer, renameContainer, runContainer, setRestartPolicy, startContainer, stopForGood } from "../../connection/docker";
import type { RunContainerSpec } from "../../connection/docker";
import { withEtcd } from "../../connection/etcd";
import type { ClusterConnectionArgs } from "../../connection/etcd";
import { withSsh } from "../../connection/ssh";
import type { HostConnectionArgs, SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError } from "../../lib/errors";
import { flagValue, setFlags } from "../../lib/repoint";
import { progress, stamp } from "../common";
import { MANAGED_LABEL, MEMBER_LABEL } from "../learnerConfig";
import { waitHealthy } from "./verify";
import { RESTORE_MANAGED_VALUE, WHAT } from "./settings";
import type { RaftTiming, RestoreSettings } from "./settings";

/** Deadline of the membership check before the restart. */
const MEMBERS_MS = 10_000;

/** What {@link retime} did. */
export interface Retimed {
  /** False when the container already ran with the wanted timing. */
  restarted: boolean;
  /** From the old container's stop to the new one leading itself, ms (0 when not restarted). */
  pauseMs: number;
}

/** The timing a container's etcd command line sets (undefined where a flag is absent). */
export function timingOf(spec: Pick<RunContainerSpec, "command" | "entrypoint">): Partial<RaftTiming> {
  const argv = [...(spec.entrypoint ?? []), ...spec.command];
  const n = (flag: string): number | undefined => {
    const v = flagValue(argv, flag);
    return v === undefined || !/^\d+$/.test(v) ? undefined : Number(v);
  };
  return { heartbeatMs: n("heartbeat-interval"), electionMs: n("election-timeout") };
}

/** The spec with the timing's two flags set (in the command: the restored etcd's flags are there). */
export function retimedSpec(spec: RunContainerSpec, t: RaftTiming): RunContainerSpec {
  return { ...spec, command: setFlags(spec.command, { "heartbeat-interval": String(t.heartbeatMs), "election-timeout": String(t.electionMs) }) };
}

/**
 * Re-creates the restored etcd with timing `want` unless it already runs
 * with it. Refuses, changing nothing, when the container is not this
 * restore's, or when other voters exist (a restart would then cost them
 * their quorum or leave a mistimed follower: the restart belongs before
 * they join).
 */
export async function retime(host: HostConnectionArgs, conn: ClusterConnectionArgs, s: RestoreSettings, want: RaftTiming): Promise<Retimed> {
  return withSsh(host, async (ssh) => {
    const spec = await inspectRunSpec(ssh, s.containerName);
    const where = `${s.containerName} on ${ssh.host}`;
    if (spec === undefined) {
      throw new EtcdStandbyError("NotFound", `the restored etcd's container ${where} does not exist: its timing cannot be set`, `start it again (docker start, or rename back the container this restore's last update kept aside, ${s.containerName}-timing-*) and run pulumi up again`, { host: ssh.host, member: s.newMemberName });
    }
    const labels = spec.labels ?? {};
    if (labels[MANAGED_LABEL] !== RESTORE_MANAGED_VALUE || labels[MEMBER_LABEL] !== s.newMemberName) {
      throw new EtcdStandbyError("Refused", `${where} is not this restore's etcd (labels ${MANAGED_LABEL}=${JSON.stringify(labels[MANAGED_LABEL] ?? "")}, ${MEMBER_LABEL}=${JSON.stringify(labels[MEMBER_LABEL] ?? "")}): nothing was changed`, `check what runs there; this restore's etcd carries ${MANAGED_LABEL}=${RESTORE_MANAGED_VALUE} and ${MEMBER_LABEL}=${s.newMemberName}`, { host: ssh.host, member: s.newMemberName });
    }
    const now = timingOf(spec);
    const running = (await inspectContainer(ssh, s.containerName)).running;
    if (now.heartbeatMs === want.heartbeatMs && now.electionMs === want.electionMs && running) {
      progress(WHAT, `${where} already runs with heartbeat ${want.heartbeatMs} ms, election ${want.electionMs} ms`);
      return { restarted: false, pauseMs: 0 };
    }
    await onlyVoter(conn, s, ssh.host);
    return restartWith(ssh, conn, s, spec, want, `heartbeat ${String(now.heartbeatMs)} ms, election ${String(now.electionMs)} ms${running ? "" : ", not running"}`);
  });
}

/** Refuses unless the restored member is the cluster's only voter (learners may be there: they do not vote). */
async function onlyVoter(conn: ClusterConnectionArgs, s: RestoreSettings, host: string): Promise<void> {
  const members = await withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: MEMBERS_MS }, (e) => e.memberList());
  const others = members.filter((m) => !m.isLearner && !m.peerURLs.includes(s.learner.peerURL));
  if (others.length > 0) {
    throw new EtcdStandbyError(
      "Refused",
      `the restored member ${s.newMemberName} still runs its fast first-election timing, but the cluster has other voters (${others.map((m) => m.name || m.id).join(", ")}): restarting it now would pause their quorum, and leaving it makes a follower that calls elections; nothing was changed`,
      `restart ${s.containerName} on ${host} by hand with --heartbeat-interval=${s.heartbeatMs} --election-timeout=${s.electionMs} when the other voters can hold quorum without it, then run pulumi up again`,
      { host, member: s.newMemberName },
    );
  }
}

async function restartWith(ssh: SshSession, conn: ClusterConnectionArgs, s: RestoreSettings, spec: RunContainerSpec, want: RaftTiming, was: string): Promise<Retimed> {
  const where = `${s.containerName} on ${ssh.host}`;
  const aside = `${s.containerName}-timing-${stamp().toLowerCase()}`;
  progress(WHAT, `restarting ${where} with the cluster's timing, heartbeat ${want.heartbeatMs} ms and election ${want.electionMs} ms (was ${was}); writes pause until it leads itself again (up to ${want.electionMs} ms after its start)`);
  const began = Date.now();
  await stopForGood(ssh, s.containerName, 60);
  await renameContainer(ssh, s.containerName, aside);
  try {
    await runContainer(ssh, retimedSpec(spec, want));
    await withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: 5_000 }, (e) => waitHealthy(ssh, s, e, Date.now() + s.timeoutMs));
  } catch (e) {
    let back: string;
    try {
      if ((await inspectContainer(ssh, s.containerName)).exists) await removeContainer(ssh, s.containerName, { force: true });
      await renameContainer(ssh, aside, s.containerName);
      await setRestartPolicy(ssh, s.containerName, spec.restart ?? "always");
      await startContainer(ssh, s.containerName);
      back = `the old ${s.containerName} runs again with its old timing`;
    } catch (e2) {
      back = `putting the old one back failed too (${describeError(e2)}): it is kept as ${aside}; the data dir ${s.restoreDataDir} is unchanged`;
    }
    throw new EtcdStandbyError("Refused", `restarting ${where} with the cluster's timing failed: ${describeError(e)}; ${back}`, "read the error (docker logs " + s.containerName + "), fix the cause and run pulumi up again", { host: ssh.host, member: s.newMemberName });
  }
  const pauseMs = Date.now() - began;
  await removeContainer(ssh, aside, { force: true }).catch(() => false);
  progress(WHAT, `${where} leads itself again with heartbeat ${want.heartbeatMs} ms, election ${want.electionMs} ms (writes paused ${pauseMs} ms)`);
  return { restarted: true, pauseMs };
}
