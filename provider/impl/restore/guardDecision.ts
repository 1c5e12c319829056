/**
 * The split-brain guard's decision, pure: what a probe of an old voter and a
 * watch of the learner say, and whether that refuses the restore; the
 * guard's window and the schedule of each voter's status calls within it.
 */
import { NO_LEADER } from "../../lib/members";

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
