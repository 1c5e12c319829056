/**
 * Pure quorum arithmetic for membership changes. Learners never count as
 * voters. Each check returns a decision with a sentence that states the
 * numbers, suitable for a refusal message.
 *
 * Pure module: no I/O, safe to capture in Pulumi closures.
 */
import type { Member } from "./members";

/** Votes needed for a majority of `voters`: `floor(n/2) + 1` (0 for an empty cluster). */
export function quorumSize(voters: number): number {
  assertCount(voters);
  return voters === 0 ? 0 : Math.floor(voters / 2) + 1;
}

/** How many of `voters` can fail while a majority remains: `floor((n-1)/2)`, 0 for n ≤ 1. */
export function canTolerate(voters: number): number {
  assertCount(voters);
  return voters === 0 ? 0 : voters - quorumSize(voters);
}

function assertCount(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`voter count must be a non-negative integer, got ${n}`);
}

/** The outcome of a quorum check. */
export interface QuorumDecision {
  /** True when the change keeps a healthy majority. */
  ok: boolean;
  /** Voters after the change. */
  voters: number;
  /** Healthy voters after the change. */
  healthyVoters: number;
  /** Majority size of `voters`. */
  needed: number;
  /** One sentence stating the numbers (and why not, when refused). */
  reason: string;
}

function label(m: Member): string {
  return m.name !== "" ? m.name : `unstarted member ${m.id}`;
}

function voterSummary(voters: number, healthy: number): string {
  const needed = quorumSize(voters);
  const verdict = healthy >= needed ? "is a majority" : `is not a majority (need ${needed})`;
  return `there would be ${voters} voter${voters === 1 ? "" : "s"} of which ${healthy} ${healthy === 1 ? "is" : "are"} healthy; ${healthy} ${verdict} of ${voters}`;
}

/** What a decision starts from: the healthy IDs, the target, and the voters now with how many of them are healthy. */
function viewOf(members: readonly Member[], healthyIds: Iterable<string>, targetId: string): { healthy: Set<string>; target: Member | undefined; votersNow: Member[]; healthyNow: number } {
  const healthy = new Set(healthyIds);
  const votersNow = members.filter((m) => !m.isLearner);
  return { healthy, target: members.find((m) => m.id === targetId), votersNow, healthyNow: votersNow.filter((m) => healthy.has(m.id)).length };
}

/** A refusal stated with the counts as they are now. */
function refusedNow(votersNow: readonly Member[], healthyNow: number, reason: string): QuorumDecision {
  return { ok: false, voters: votersNow.length, healthyVoters: healthyNow, needed: quorumSize(votersNow.length), reason };
}

/**
 * Whether removing member `targetId` (hex) keeps quorum: afterwards the
 * healthy voters must be more than half of the remaining voters. Removing a
 * learner never affects quorum. Removing the last voter is always refused.
 * An unknown `targetId` is reported as not ok.
 *
 * @param members the live member list
 * @param healthyIds hex IDs of members that answered a health check
 * @param targetId hex ID of the member to remove
 */
export function checkRemoval(
  members: readonly Member[],
  healthyIds: Iterable<string>,
  targetId: string,
): QuorumDecision {
  const { healthy, target, votersNow, healthyNow } = viewOf(members, healthyIds, targetId);
  if (target === undefined) return refusedNow(votersNow, healthyNow, `member ${targetId} is not in the member list`);
  const remaining = votersNow.filter((m) => m.id !== target.id);
  const healthyAfter = remaining.filter((m) => healthy.has(m.id)).length;
  const needed = quorumSize(remaining.length);
  if (target.isLearner) {
    return {
      ok: true,
      voters: remaining.length,
      healthyVoters: healthyAfter,
      needed,
      reason: `${label(target)} is a learner, so removing it does not change quorum: ${voterSummary(remaining.length, healthyAfter)}`,
    };
  }
  if (remaining.length === 0) {
    return {
      ok: false,
      voters: 0,
      healthyVoters: 0,
      needed: 0,
      reason: `${label(target)} is the only voter; removing it would leave no voters`,
    };
  }
  return {
    ok: healthyAfter >= needed,
    voters: remaining.length,
    healthyVoters: healthyAfter,
    needed,
    reason: `after removing ${label(target)} ${voterSummary(remaining.length, healthyAfter)}`,
  };
}

/**
 * Whether promoting learner `targetId` keeps quorum: afterwards the healthy
 * voters (counting the learner only if it is healthy) must be a majority.
 * Refuses when the target is not a learner or is unknown.
 */
export function checkPromotion(
  members: readonly Member[],
  healthyIds: Iterable<string>,
  targetId: string,
): QuorumDecision {
  const { healthy, target, votersNow, healthyNow } = viewOf(members, healthyIds, targetId);
  if (target === undefined || !target.isLearner) {
    return refusedNow(votersNow, healthyNow, target === undefined ? `member ${targetId} is not in the member list` : `${label(target)} is already a voter, not a learner`);
  }
  const voters = votersNow.length + 1;
  const hv = healthyNow + (healthy.has(target.id) ? 1 : 0);
  const needed = quorumSize(voters);
  return {
    ok: hv >= needed,
    voters,
    healthyVoters: hv,
    needed,
    reason: `after promoting ${label(target)} ${voterSummary(voters, hv)}`,
  };
}

/** The outcome of {@link checkAddLearner}. */
export interface LearnerDecision {
  /** True when another learner may be added. */
  ok: boolean;
  /** Learners currently in the cluster. */
  learners: number;
  /** The limit that applies. */
  maxLearners: number;
  /** One sentence stating the numbers. */
  reason: string;
}

/**
 * Whether a learner may be added: etcd 3.4 and 3.5 allow at most one learner
 * at a time (`maxLearners`, default 1). Adding a learner never changes quorum.
 */
export function checkAddLearner(members: readonly Member[], maxLearners = 1): LearnerDecision {
  if (!Number.isInteger(maxLearners) || maxLearners < 0) {
    throw new RangeError(`maxLearners must be a non-negative integer, got ${maxLearners}`);
  }
  const learners = members.filter((m) => m.isLearner);
  const ok = learners.length < maxLearners;
  const names = learners.map(label).join(", ");
  return {
    ok,
    learners: learners.length,
    maxLearners,
    reason: ok
      ? `the cluster has ${learners.length} learner${learners.length === 1 ? "" : "s"} and allows ${maxLearners}, so one more can be added`
      : `the cluster already has ${learners.length} learner${learners.length === 1 ? "" : "s"} (${names}) and etcd allows at most ${maxLearners}; promote or remove ${learners.length === 1 ? "it" : "one"} first`,
  };
}

/** The learner's lag: the highest committed index any voter reports, less the learner's applied index (0 at least). */
export function learnerLag(learnerApplied: number, voterIndexes: readonly number[]): number {
  return Math.max(0, Math.max(0, ...voterIndexes) - learnerApplied);
}
