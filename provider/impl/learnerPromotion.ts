/**
 * EtcdLearnerPromotion: the learner is a voter.
 *
 * create promotes it when etcd accepts (etcd refuses a learner that is not in
 * sync with the leader), retrying with backoff until the timeout and
 * reporting progress; a member that already votes is success. read reports
 * voter or learner. delete changes nothing: a voter is not demoted.
 */
import { withEtcd } from "../connection/etcd";
import type { EtcdSession } from "../connection/etcd";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { resolveExactMember } from "../lib/members";
import type { Member } from "../lib/members";
import { checkPromotion } from "../lib/quorum";
import { sleep } from "../lib/time";
import { withClusterLock } from "./clusterLock";
import { checkMemberResource, clusterOf, diffMemberSelector, memberSelector, progress, stored, typedProvider } from "./common";
import type { MemberResourceInputs } from "./common";
import { fieldsWith, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "EtcdLearnerPromotion";

/** EtcdLearnerPromotion's inputs, resolved (documented on EtcdLearnerPromotionArgs). */
export type LearnerPromotionInputs = MemberResourceInputs;

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
} as const satisfies Fields<LearnerPromotionInputs>;

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
  const { timeoutMs } = withDefaults(LEARNER_PROMOTION_FIELDS, props);
  const deadline = Date.now() + timeoutMs;
  let delay = 500;
  let attempt = 0;
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
    return checkMemberResource(news);
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
    return { outs: { ...olds, ...news } };
  },

  async delete() {
    // A voter is not demoted by deleting the resource.
  },
});
