/**
 * EtcdLearnerPromotion: the learner is a voter.
 *
 * create promotes it once it has applied all but `catchUpThreshold` entries
 * of what the leader committed (etcd itself accepts a learner 10% behind,
 * and a new voter that is behind holds back every write until it catches up:
 * in a one-member cluster growing to two, that is an outage), and when etcd
 * accepts, retrying with backoff until the timeout and reporting progress; a
 * member that already votes is success. read reports
 * voter or learner. delete changes nothing: a voter is not demoted.
 */
import { withEtcd } from "../connection/etcd";
import type { EtcdSession, MemberHealth } from "../connection/etcd";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { NO_LEADER, resolveExactMember } from "../lib/members";
import type { Member } from "../lib/members";
import { checkPromotion, learnerLag } from "../lib/quorum";
import { sleep } from "../lib/time";
import { withClusterLock } from "./clusterLock";
import { appliedIndexOf, checkMemberResource, clusterOf, diffMemberSelector, entryCount, memberSelector, progress, stored, typedProvider } from "./common";
import type { MemberResourceInputs } from "./common";
import { fieldsWith, recordedState, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "EtcdLearnerPromotion";

/** EtcdLearnerPromotion's inputs, resolved (documented on EtcdLearnerPromotionArgs). */
export type LearnerPromotionInputs = MemberResourceInputs & {
  /** Entries the learner may be behind the leader's commit index when it is promoted. */
  catchUpThreshold?: number;
};

/** What EtcdLearnerPromotion reports. */
export type LearnerPromotionResult = {
  /** Member ID (hex); empty when refresh finds no such member. */
  memberId: string;
  isVoter: boolean;
  isLearner: boolean;
};

/** EtcdLearnerPromotion's state: its inputs and what it reports. */
export type LearnerPromotionOutputs = LearnerPromotionInputs & LearnerPromotionResult;

/** Each input's default and what a change does: another member is another promotion; the rest is only recorded (a voter stays a voter). */
export const LEARNER_PROMOTION_FIELDS = {
  cluster: { effect: "record" },
  memberName: { effect: "replace" },
  peerURL: { effect: "replace" },
  timeoutMs: { effect: "record", default: 300_000 },
  catchUpThreshold: { effect: "record", default: 100 },
} as const satisfies Fields<LearnerPromotionInputs>;

/**
 * How many entries the learner `learnerId` is behind the leader's commit
 * index, from one round of status calls; undefined when the learner or the
 * leader did not answer (then etcd's own check decides).
 */
export function promotionLag(health: readonly MemberHealth[], learnerId: string): number | undefined {
  const learner = health.find((h) => h.id === learnerId)?.status;
  const leaderId = health.find((h) => !h.isLearner && h.status && h.status.leaderId !== NO_LEADER)?.status?.leaderId;
  const leader = health.find((h) => h.id === leaderId)?.status;
  if (!learner || !leader) return undefined;
  return learnerLag(appliedIndexOf(learner), [leader.raftIndex]);
}

/** The learner to promote: name and peer URL (when both are given) must agree with the live member list. */
function identify(members: readonly Member[], props: LearnerPromotionInputs): Member | undefined {
  const match = resolveExactMember(members, memberSelector(props));
  if (match.kind === "mismatch") {
    throw new EtcdStandbyError("InvalidInput", `refusing to promote: ${match.problem}; nothing was changed`, match.next, { member: memberSelector(props).name ?? memberSelector(props).peerURL });
  }
  return match.kind === "found" ? match.member : undefined;
}

async function promote(etcd: EtcdSession, props: LearnerPromotionInputs): Promise<LearnerPromotionResult> {
  const who = [memberSelector(props).name, memberSelector(props).peerURL].filter(Boolean).join(" / ");
  const { timeoutMs, catchUpThreshold } = withDefaults(LEARNER_PROMOTION_FIELDS, props);
  const deadline = Date.now() + timeoutMs;
  let delay = 500;
  let attempt = 0;
  let reportedAt = 0;
  for (;;) {
    const members = await etcd.memberList();
    const m = identify(members, props);
    if (!m) {
      throw new EtcdStandbyError("NotFound", `member ${who} is not in the cluster`, "create the learner first (EtcdLearner), then promote it", { member: who });
    }
    if (!m.isLearner) {
      progress(WHAT, `${m.name || m.id} is a voter`);
      return { memberId: m.id, isVoter: true, isLearner: false };
    }
    if (!m.started) {
      throw new EtcdStandbyError("Refused", `learner ${m.id} at ${m.peerURLs.join(", ")} was never started`, "start the learner (EtcdLearner) before promoting it", { member: who });
    }
    const health = await etcd.memberHealth(members);
    const decision = checkPromotion(members, health.filter((h) => h.healthy).map((h) => h.id), m.id);
    if (!decision.ok) {
      throw new EtcdStandbyError("QuorumRisk", `refusing to promote ${m.name}: ${decision.reason}; ${decision.needed} healthy voters would be needed`, "bring the unhealthy members back first", { member: m.name });
    }
    const lag = promotionLag(health, m.id);
    if (lag !== undefined && lag > catchUpThreshold) {
      if (Date.now() > deadline) {
        throw new EtcdStandbyError("Timeout", `learner ${m.name} was still ${lag} entries behind the leader after ${timeoutMs} ms (promoted at ${catchUpThreshold} or fewer); nothing was changed`, "check the learner's lag (etcdctl endpoint status) and its host's disk and network; raise timeoutMs or catchUpThreshold", { member: m.name });
      }
      if (Date.now() - reportedAt > 2000) {
        progress(WHAT, `${m.name} is ${lag} entries behind the leader; promoting once ${catchUpThreshold} or fewer (a voter that is behind holds every write back)`);
        reportedAt = Date.now();
      }
      await sleep(100);
      continue;
    }
    if (lag === undefined) progress(WHAT, `${m.name}'s lag could not be read (learner or leader did not answer a status call): etcd's own check decides`);
    attempt++;
    try {
      await etcd.memberPromote(m.id);
      progress(WHAT, `promoted ${m.name} (${m.id}) to voter after ${attempt} attempt(s): ${decision.reason}`);
      return { memberId: m.id, isVoter: true, isLearner: false };
    } catch (e) {
      // "not in sync" (still catching up) and "unhealthy cluster" (peers just reconnected) are definite refusals: retry.
      const notInSync = isEtcdStandbyError(e, "QuorumRisk") && /sync|unhealthy cluster/i.test(e.message);
      if (!notInSync) throw e;
      if (Date.now() + delay > deadline) {
        throw new EtcdStandbyError("Timeout", `learner ${m.name} was still not in sync with the leader after ${timeoutMs} ms (${attempt} attempts): ${describeError(e)}`, "check the learner's lag (etcdctl endpoint status) and raise timeoutMs", { member: m.name });
      }
      progress(WHAT, `${m.name} is not in sync with the leader yet; retrying in ${delay} ms (attempt ${attempt})`);
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<LearnerPromotionInputs, LearnerPromotionOutputs>({
  async check(_olds, news) {
    return checkMemberResource(news, (p) => {
      if (news.catchUpThreshold !== undefined) p.add("catchUpThreshold", news.catchUpThreshold, entryCount(news.catchUpThreshold, "catchUpThreshold"));
    });
  },

  async diff(_id, olds, news) {
    const d = diffMemberSelector(olds, news, fieldsWith(LEARNER_PROMOTION_FIELDS, "update", "record"));
    if (olds.isVoter === false && !(d.replaces ?? []).length) return { changes: true, replaces: ["memberName"], deleteBeforeReplace: true };
    return d;
  },

  async create(inputs) {
    const conn = clusterOf(inputs);
    const outs = await withEtcd(conn, (etcd) => withClusterLock(etcd, `EtcdLearnerPromotion ${String(inputs.memberName ?? inputs.peerURL)}`, conn.lockWaitMs, () => promote(etcd, inputs)));
    return { id: `promotion-${outs.memberId}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const found = resolveExactMember(await withEtcd(clusterOf(props), (etcd) => etcd.memberList()), memberSelector(props));
    const m = found.kind === "found" ? found.member : undefined;
    return { id, props: { ...props, memberId: m?.id ?? "", isVoter: m !== undefined && !m.isLearner, isLearner: m?.isLearner ?? false } };
  },

  async update(_id, olds, news) {
    return { outs: recordedState(LEARNER_PROMOTION_FIELDS, olds, news) };
  },

  async delete() {
    // A voter is not demoted by deleting the resource.
  },
});
