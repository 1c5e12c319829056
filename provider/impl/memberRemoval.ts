/**
 * EtcdMemberRemoval: the named member is not in the cluster.
 *
 * create removes it when the cluster can afford it (quorum of healthy voters
 * kept; leadership moved away first when it is the leader) and confirms with
 * a fresh member list; an already-absent member is success. read reports a
 * member that came back, so the next preview shows the removal again. delete
 * changes nothing in the cluster: a removal is not undone.
 */
import { withEtcd } from "../connection/etcd";
import type { EtcdSession, MemberHealth } from "../connection/etcd";
import { EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { resolveExactMember, sameUrl } from "../lib/members";
import type { ExactMatch, Member } from "../lib/members";
import { checkRemoval } from "../lib/quorum";
import { sleep } from "../lib/time";
import { appliedIndexOf, checkMemberResource, clusterOf, diffMemberSelector, memberSelector, progress, stored, typedProvider } from "./common";
import type { MemberResourceInputs } from "./common";
import { withClusterLock } from "./clusterLock";
import { fieldsWith, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "EtcdMemberRemoval";

/** EtcdMemberRemoval's inputs, resolved (documented on EtcdMemberRemovalArgs). */
export type MemberRemovalInputs = MemberResourceInputs;

/** A member as the outputs list it. */
export interface MemberSummary {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** What EtcdMemberRemoval reports. */
export type MemberRemovalResult = {
  /** ID (hex) of the member removed; empty when it was already absent. */
  removedMemberId: string;
  alreadyAbsent: boolean;
  clusterId: string;
  remainingMembers: MemberSummary[];
  /** Set by refresh: the member is back in the cluster. */
  memberPresent: boolean;
  /** Set by refresh: the ID of the member that came back (empty when none). */
  presentMemberId?: string;
  /** Set by refresh: the selector's name and peer URL disagree with the member list (empty when they agree). */
  identityProblem?: string;
};

/** EtcdMemberRemoval's state: its inputs and what it reports. */
export type MemberRemovalOutputs = MemberRemovalInputs & MemberRemovalResult;

/** Each input's default and what a change does: another member is another removal; a new connection removes again. */
export const MEMBER_REMOVAL_FIELDS = {
  cluster: { effect: "update" },
  memberName: { effect: "replace" },
  peerURL: { effect: "replace" },
  timeoutMs: { effect: "none", default: 60_000 },
} as const satisfies Fields<MemberRemovalInputs>;

function summary(m: Member): MemberSummary {
  return { id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

function label(props: MemberRemovalInputs): string {
  const s = memberSelector(props);
  return [s.name, s.peerURL].filter(Boolean).join(" / ");
}

/**
 * The member to remove: name and peer URL must agree with the live member list
 * (a name that belongs to another host's voter is refused, never removed).
 * Throws the disagreement, from both views, before anything changes.
 */
function identify(members: readonly Member[], props: MemberRemovalInputs): Exclude<ExactMatch, { kind: "mismatch" }> {
  const m = resolveExactMember(members, memberSelector(props));
  if (m.kind !== "mismatch") return m;
  const s = memberSelector(props);
  throw new EtcdStandbyError("InvalidInput", `refusing to remove ${label(props)}: ${m.problem}; nothing was changed`, m.next, { member: s.name ?? s.peerURL });
}

/**
 * etcd refuses a membership change with "unhealthy cluster" until every other
 * member has been connected for a few seconds (strict reconfig check); that
 * refusal is definite, so retrying it is safe. Anything else is thrown.
 */
async function removeWhenReady(etcd: EtcdSession, target: Member, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 500;
  for (;;) {
    try {
      await etcd.memberRemove(target.id);
      return;
    } catch (e) {
      // An answer lost in transit (the connection dropped, or no leader to
      // commit it before the deadline): look before deciding.
      if (isEtcdStandbyError(e, "Unreachable") || isEtcdStandbyError(e, "Timeout")) {
        let listed: boolean | undefined;
        try {
          listed = (await etcd.memberList()).some((m) => m.id === target.id);
        } catch {
          listed = undefined;
        }
        if (listed === false) return;
        throw new EtcdStandbyError(
          e.code,
          `the removal of ${target.name || target.id} (${target.id}) got no answer: ${e.summary}; ${listed ? "the member is still in the member list, so it was not removed" : "the member list cannot be read either, so whether it was removed is unknown"}`,
          "the cluster may have lost its leader or a voter: check that `etcdctl endpoint status --cluster` shows a leader, then run pulumi up again (repeating the removal is safe: an absent member is success)",
          { member: target.name || target.id },
        );
      }
      const transient = isEtcdStandbyError(e, "QuorumRisk") && /unhealthy cluster/i.test(e.message);
      if (!transient || Date.now() + delay > deadline) throw e;
      progress(WHAT, `etcd says the cluster is not ready for a membership change yet (peers recently reconnected); retrying in ${delay} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, 4000);
    }
  }
}

async function removeMember(props: MemberRemovalInputs): Promise<MemberRemovalResult> {
  const who = label(props);
  const conn0 = clusterOf(props);
  return withEtcd(conn0, async (etcd) => {
    // Judged once before the lock (a refusal needs no lock, and names the numbers even without quorum), and again under it.
    if ((await judge(etcd, props)).kind === "absent") return absentResult(etcd, props);
    return withClusterLock(etcd, `EtcdMemberRemoval ${who}`, conn0.lockWaitMs, async () => {
      const judged = await judge(etcd, props);
      if (judged.kind === "absent") return absentResult(etcd, props);
      const { members, target, health, decision } = judged;
      const clusterId = await etcd.clusterId();
      progress(WHAT, `removing ${target.name || target.id} (${target.id}): ${decision.reason}`);
      const leader = health.find((h) => h.status !== undefined && h.status.leaderId === h.status.memberId);
      if (leader && leader.id === target.id) {
        // The most caught-up voter: raft holds proposals back while the new leader catches up (up to an election timeout).
        const to = health
          .filter((h) => h.healthy && !h.isLearner && h.id !== target.id)
          .sort((a, b) => (b.status ? appliedIndexOf(b.status) : 0) - (a.status ? appliedIndexOf(a.status) : 0))[0];
        if (!to) {
          throw new EtcdStandbyError("QuorumRisk", `${target.name} is the leader and no other healthy voter can take over`, "bring another voter back first", { member: target.name });
        }
        progress(WHAT, `${target.name} is the leader: moving leadership to ${to.name} first`);
        await etcd.moveLeader(to.id);
      }
      // Never send the removal through the member being removed: it drops the connection.
      const conn = clusterOf(props);
      const others = conn.endpoints.filter((e) => !target.clientURLs.some((u) => sameUrl(u, e)));
      const via = others.length > 0 ? others : members.filter((m) => m.id !== target.id && !m.isLearner).flatMap((m) => m.clientURLs);
      const after = await withEtcd({ ...conn, endpoints: via }, async (safe) => {
        await removeWhenReady(safe, target, withDefaults(MEMBER_REMOVAL_FIELDS, props).timeoutMs);
        return confirmRemoved(safe, target);
    });
    progress(WHAT, `removed ${target.name || target.id}; ${after.length} members remain`);
    return { removedMemberId: target.id, alreadyAbsent: false, clusterId, remainingMembers: after.map(summary), memberPresent: false };
    });
  });
}

/** What a removal would do, read only: absent, or the member with the cluster's health; throws a refusal (identity or quorum). */
async function judge(etcd: EtcdSession, props: MemberRemovalInputs): Promise<{ kind: "absent" } | { kind: "remove"; members: Member[]; target: Member; health: MemberHealth[]; decision: ReturnType<typeof checkRemoval> }> {
  const members = await etcd.memberList();
  const match = identify(members, props);
  if (match.kind === "absent") return { kind: "absent" };
  const target = match.member;
  const health = await etcd.memberHealth(members);
  const decision = checkRemoval(members, health.filter((h) => h.healthy).map((h) => h.id), target.id);
  if (!decision.ok) {
    throw new EtcdStandbyError(
      "QuorumRisk",
      `refusing to remove ${target.name || target.id}: ${decision.reason}; ${decision.needed} healthy voters are needed`,
      "bring the unhealthy voters back first (etcdctl endpoint health), or add a voter, then run pulumi up again",
      { member: target.name || target.id },
    );
  }
  return { kind: "remove", members, target, health, decision };
}

/** The outputs when the member is not in the cluster. */
async function absentResult(etcd: EtcdSession, props: MemberRemovalInputs): Promise<MemberRemovalResult> {
  const members = await etcd.memberList();
  const match = resolveExactMember(members, memberSelector(props));
  progress(WHAT, `member ${label(props)} is not in the cluster: nothing to remove${match.kind === "absent" && match.note ? ` (${match.note})` : ""}`);
  return { removedMemberId: "", alreadyAbsent: true, clusterId: await etcd.clusterId(), remainingMembers: members.map(summary), memberPresent: false };
}

/** How long a removal may take to show in the remaining members' lists. */
const CONFIRM_MS = 10_000;

/**
 * The member list once it no longer shows `target`, read through the members
 * that remain (a removed member keeps listing itself until it learns of its
 * removal, and etcd 3.4 serves member lists from the member asked, which may
 * apply the change a moment after the leader acknowledged it).
 */
async function confirmRemoved(safe: EtcdSession, target: Member): Promise<Member[]> {
  const deadline = Date.now() + CONFIRM_MS;
  for (;;) {
    const after = await safe.memberList();
    if (!after.some((m) => m.id === target.id)) return after;
    if (Date.now() > deadline) {
      throw new EtcdStandbyError("Refused", `member ${target.name} (${target.id}) is still listed ${CONFIRM_MS / 1000} s after its removal was acknowledged`, "check the cluster with etcdctl member list and run pulumi up again", { member: target.name });
    }
    await sleep(200);
  }
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<MemberRemovalInputs, MemberRemovalOutputs>({
  async check(_olds, news) {
    return checkMemberResource(news);
  },

  async diff(_id, olds, news) {
    const d = diffMemberSelector(olds, news, fieldsWith(MEMBER_REMOVAL_FIELDS, "update", "record"));
    // A member that came back (seen by refresh) needs the removal again.
    if (olds.memberPresent === true && !(d.replaces ?? []).length) {
      return { changes: true, replaces: ["memberName"], deleteBeforeReplace: true };
    }
    return d;
  },

  async create(inputs) {
    const outs = await removeMember(inputs);
    return { id: `removal-${label(inputs)}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const members = await withEtcd(clusterOf(props), (etcd) => etcd.memberList());
    // Only the member itself (name and peer URL agreeing) counts as back: never the learner now at its URL.
    const m = resolveExactMember(members, memberSelector(props));
    const back = m.kind === "found" ? m.member : undefined;
    return { id, props: { ...props, memberPresent: back !== undefined, presentMemberId: back?.id ?? "", identityProblem: m.kind === "mismatch" ? m.problem : "" } };
  },

  async update(_id, _olds, news) {
    // Only the connection changed: make sure the member is still gone.
    const outs = await removeMember(news);
    return { outs: { ...news, ...outs } };
  },

  async delete() {
    // Deleting the resource does not re-add the member: a removal is not undone.
  },
});
