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
import { EtcdStandbyError } from "../lib/errors";
import { resolveMember } from "../lib/members";
import type { Member } from "../lib/members";
import { checkRemoval } from "../lib/quorum";
import { checkCluster, checkMemberSelector, clusterOf, diffFields, Problems, progress } from "./common";
import type { ProviderImpl, Props } from "./common";

const WHAT = "EtcdMemberRemoval";

/** A member as the outputs list it. */
export interface MemberSummary {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

function summary(m: Member): MemberSummary {
  return { id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

function selector(props: Props): { name?: string; peerURL?: string } {
  const name = typeof props.memberName === "string" && props.memberName !== "" ? props.memberName : undefined;
  const peerURL = typeof props.peerURL === "string" && props.peerURL !== "" ? props.peerURL : undefined;
  return { name, peerURL };
}

function label(props: Props): string {
  const s = selector(props);
  return [s.name, s.peerURL].filter(Boolean).join(" / ");
}

async function removeMember(props: Props): Promise<Props> {
  const who = label(props);
  return withEtcd(clusterOf(props), async (etcd) => {
    const members = await etcd.memberList();
    const target = resolveMember(members, selector(props));
    const clusterId = await etcd.clusterId();
    if (!target) {
      progress(WHAT, `member ${who} is not in the cluster: nothing to remove`);
      return { removedMemberId: "", alreadyAbsent: true, clusterId, remainingMembers: members.map(summary), memberPresent: false };
    }
    const health = await etcd.memberHealth(members);
    const healthy = health.filter((h) => h.healthy).map((h) => h.id);
    const decision = checkRemoval(members, healthy, target.id);
    if (!decision.ok) {
      throw new EtcdStandbyError(
        "QuorumRisk",
        `refusing to remove ${target.name || target.id}: ${decision.reason}; ${decision.needed} healthy voters are needed`,
        "bring the unhealthy voters back first (etcdctl endpoint health), or add a voter, then run pulumi up again",
        { member: target.name || target.id },
      );
    }
    progress(WHAT, `removing ${target.name || target.id} (${target.id}): ${decision.reason}`);
    const leader = health.find((h) => h.status !== undefined && h.status.leaderId === h.status.memberId);
    if (leader && leader.id === target.id) {
      const to = health.find((h) => h.healthy && !h.isLearner && h.id !== target.id);
      if (!to) {
        throw new EtcdStandbyError("QuorumRisk", `${target.name} is the leader and no other healthy voter can take over`, "bring another voter back first", { member: target.name });
      }
      progress(WHAT, `${target.name} is the leader: moving leadership to ${to.name} first`);
      await etcd.moveLeader(to.id);
    }
    await etcd.memberRemove(target.id);
    const after = await etcd.memberList();
    if (after.some((m) => m.id === target.id)) {
      throw new EtcdStandbyError("Refused", `member ${target.name} (${target.id}) is still listed after removal`, "check the cluster with etcdctl member list and run pulumi up again", { member: target.name });
    }
    progress(WHAT, `removed ${target.name || target.id}; ${after.length} members remain`);
    return { removedMemberId: target.id, alreadyAbsent: false, clusterId, remainingMembers: after.map(summary), memberPresent: false };
  });
}

/** The provider implementation, loaded by the serialised facade. */
export const provider: ProviderImpl = {
  async check(_olds, news) {
    const p = new Problems();
    checkCluster(p, news.cluster);
    checkMemberSelector(p, news.memberName, news.peerURL);
    return p.result(news);
  },

  async diff(_id, olds, news) {
    const d = diffFields(olds, news, ["memberName", "peerURL"], ["cluster"]);
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

  async read(id, props) {
    const members = await withEtcd(clusterOf(props), (etcd) => etcd.memberList());
    const back = resolveMember(members, selector(props));
    return { id, props: { ...props, memberPresent: back !== undefined, presentMemberId: back?.id ?? "" } };
  },

  async update(_id, _olds, news) {
    // Only the connection changed: make sure the member is still gone.
    const outs = await removeMember(news);
    return { outs: { ...news, ...outs } };
  },

  async delete() {
    // Deleting the resource does not re-add the member: a removal is not undone.
  },
};
