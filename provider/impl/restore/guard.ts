/**
 * The split-brain guard, from the create's first moment (reads only): the
 * old voters (the config's and those the learner lists) are probed within a
 * window of about two heartbeats while the learner is watched for motion;
 * any sign of a live site A refuses the restore unless `force`.
 */
import { withEtcd } from "../../connection/etcd";
import type { ClusterConnectionArgs } from "../../connection/etcd";
import type { SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../../lib/errors";
import { sameUrl } from "../../lib/members";
import { sleep } from "../../lib/time";
import { validateClientUrl } from "../../lib/validate";
import { progress } from "../common";
import { MEMBER_READ_MS } from "./ctl";
import type { MemberReads } from "./ctl";
import { combineProbeAttempts, decideGuard, growingPeers, guardWindowMs, parsePeerMembers, parsePeerReceivedBytes, probeSchedule } from "./guardDecision";
import type { LearnerMotion, ProbeAttempt, VoterProbe } from "./guardDecision";
import type { AbortFlag } from "./overlap";
import { WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/**
 * The voters' client URLs as the learner itself last knew them: its peer
 * port's `/members` (the membership it applied, the truth at the moment of
 * the cut), asked on its own host with its own certificate (etcd checks that a
 * peer certificate names the address it connects from, and a learner refuses
 * the MemberList RPC). So a typo in the config's site-A addresses cannot hide
 * a live voter from the guard. Needs curl on the host; without it, says so.
 * curl's own deadline bounds it (the learner is local: it answers in ms).
 */
async function votersPerLearner(ssh: SshSession, s: RestoreSettings, maxTimeS: number): Promise<{ endpoints: string[]; note: string }> {
  const t = s.learner.tls;
  const r = await ssh
    .run(["curl", "-sS", "--http1.1", "--max-time", String(maxTimeS), "--cacert", t.caFile, "--cert", t.certFile, "--key", t.keyFile, `${s.learner.peerURL}/members`], { allowFailure: true, timeoutMs: maxTimeS * 1000 + 5_000 })
    .catch((e: unknown) => ({ code: -1, stdout: "", stderr: describeError(e) }));
  const members = r.code === 0 ? parsePeerMembers(r.stdout) : undefined;
  if (!members) return { endpoints: [], note: `the learner's member list could not be read on ${ssh.host} (${(r.stderr || r.stdout).trim().slice(0, 200)}), so only the config's voters were probed` };
  const voters = members.filter((m) => !m.isLearner);
  return {
    endpoints: voters.flatMap((m) => m.clientURLs).filter((u) => u.startsWith("https://") && validateClientUrl(u).length === 0),
    note: `the learner lists voters ${voters.map((m) => `${m.name || m.id} (${m.clientURLs.join(", ")})`).join(", ") || "none"}`,
  };
}

/** The learner's metrics (its client URL, the provider's own client certificate): peer bytes received so far. */
async function peerBytes(conn: ClusterConnectionArgs, s: RestoreSettings): Promise<Record<string, number> | undefined> {
  try {
    return parsePeerReceivedBytes(await withEtcd({ ...conn, endpoints: [s.learner.clientURL], timeoutMs: MEMBER_READ_MS }, (e) => e.metricsOf(s.learner.clientURL)));
  } catch {
    return undefined;
  }
}

/**
 * One old voter, probed within the guard's window ({@link probeSchedule}):
 * each status call has its own deadline, so a silent (blackholed) voter costs
 * the window, not the connection's timeoutMs.
 */
async function probeVoter(conn: ClusterConnectionArgs, endpoint: string, windowMs: number): Promise<VoterProbe> {
  let answered = false;
  const attempts = await Promise.all(
    probeSchedule(windowMs).map(async ({ delayMs, deadlineMs }): Promise<ProbeAttempt | undefined> => {
      if (delayMs > 0) await sleep(delayMs);
      if (answered) return undefined;
      try {
        const st = await withEtcd({ ...conn, endpoints: [endpoint], timeoutMs: deadlineMs }, (e) => e.statusOf(endpoint));
        answered = true;
        return { answered: true, leaderId: st.leaderId };
      } catch (e) {
        return { answered: false, error: isEtcdStandbyError(e) ? e.summary : describeError(e), timedOut: isEtcdStandbyError(e, "Timeout") };
      }
    }),
  );
  return combineProbeAttempts(endpoint, attempts.filter((a): a is ProbeAttempt => a !== undefined));
}

/**
 * The split-brain guard: is the old cluster gone? Reads only. Starts with the create,
 * before the preflight has said whether the learner runs (`learnerRunning`):
 * the old voters are probed and the learner is watched for about two
 * heartbeats ({@link guardWindowMs}), while the voters the learner lists are
 * asked for; a stopped learner's watch and list are then dropped.
 */
export async function guard(s: RestoreSettings, conn: ClusterConnectionArgs, ssh: SshSession, reads: MemberReads, learnerRunning: Promise<boolean>, abort: AbortFlag): Promise<string[]> {
  const windowMs = guardWindowMs(s.heartbeatMs);
  // The voters the learner knows are probed with the config's, while the learner is watched for motion: all only read.
  const configProbes = Promise.all(s.oldVoterEndpoints.map((endpoint) => probeVoter(conn, endpoint, windowMs)));
  const listed = votersPerLearner(ssh, s, Math.max(2, Math.ceil(windowMs / 1000)));
  const extraProbes = listed.then(async (perLearner) => {
    if (!(await learnerRunning)) return [];
    const extra = perLearner.endpoints.filter((u) => !sameUrl(u, s.learner.clientURL) && !s.oldVoterEndpoints.some((c) => sameUrl(c, u)));
    if (extra.length > 0 && !abort.aborted) progress(WHAT, `guard: ${perLearner.note}; also probing ${extra.join(", ")}, which the config does not list`);
    return Promise.all(extra.map((endpoint) => probeVoter(conn, endpoint, windowMs)));
  });
  const watching = (async (): Promise<LearnerMotion | undefined> => {
    try {
      const [a, bytesA] = await Promise.all([reads.status(), peerBytes(conn, s)]);
      await sleep(windowMs);
      const [b, bytesB] = await Promise.all([reads.status(), peerBytes(conn, s)]);
      const grown = bytesA && bytesB ? Object.fromEntries(growingPeers(bytesA, bytesB).map((id) => [id, bytesB[id] - (bytesA[id] ?? 0)])) : undefined;
      return { before: { raftIndex: a.raftIndex, raftTerm: a.raftTerm }, after: { raftIndex: b.raftIndex, raftTerm: b.raftTerm }, windowMs, peerBytes: grown };
    } catch {
      // A learner that does not answer cannot be recorded either; the record phase says why.
      return undefined;
    }
  })();
  // A refusal names all it saw (every voter that answers, what the learner hears): the verdict waits for the window.
  const [probes, extras, watched, running] = await Promise.all([configProbes, extraProbes, watching, learnerRunning]);
  const all = [...probes, ...extras];
  const motion = running ? watched : undefined;
  const decision = decideGuard(all, motion, s.force);
  const down = all.filter((p) => !p.answered).map((p) => `${p.endpoint} (${(p.error ?? "").slice(0, 200)})`);
  if (!decision.ok) {
    throw new EtcdStandbyError(
      "QuorumRisk",
      `refusing to restore: site A may still be alive: ${decision.risks.join("; ")}. Restoring now would make a second cluster next to a live one (split brain); nothing was changed`,
      "make sure site A is really gone (powered off or fenced) and run pulumi up again; only if you are certain its voters can never serve clients again, set force: true",
      { host: ssh.host, member: s.learner.memberName },
    );
  }
  // Abandoned (the preflight refused, or adopted a verified restore): nothing to say.
  if (abort.aborted) return decision.risks;
  if (decision.warning) progress(WHAT, decision.warning);
  else {
    const learnerSaw = !running ? "the learner is stopped, so only the config's voters were probed" : watched === undefined ? "the learner does not answer (restarted without a leader, or hung), so what it hears could not be read: the voters' silence decided" : "the learner receives nothing";
    progress(WHAT, `guard: none of the old voters answers within ${windowMs} ms (${down.join("; ")}); ${learnerSaw}`);
  }
  return decision.risks;
}
