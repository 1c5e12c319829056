/**
 * The plan: which resources the stack declares for a layout, in the seed's
 * order. Pure, so the order and names are unit-tested.
 */
import { clientUrl, learnerName, peerUrl, voterName } from "./config";
import type { HostSpec, Layout } from "./config";

/** What the stack declares for one standby-site etcd host. */
export interface HostPlan {
  host: HostSpec;
  /** RKE's voter on the host, removed first (EtcdMemberRemoval). */
  removeMember: string;
  /** The learner etcd-standby starts there (EtcdLearner). */
  learnerMember: string;
  peerURL: string;
  clientURL: string;
  /** Promote the learner to voter (stretched). */
  promote: boolean;
}

/** One entry per standby-site host that holds a learner (learner-standby) or a promoted member (stretched). */
export function planHosts(l: Layout): HostPlan[] {
  return l.learnerHosts.map((name) => {
    const host = l.hosts.find((h) => h.name === name) as HostSpec;
    return {
      host,
      removeMember: voterName(l, host),
      learnerMember: learnerName(l, host),
      peerURL: peerUrl(l, host),
      clientURL: clientUrl(l, host),
      promote: l.mode === "stretched",
    };
  });
}

/** Client URLs clients should use: voters only (learners serve no linearizable reads). */
export function clientEndpoints(l: Layout): string[] {
  const primary = l.hosts.filter((h) => h.site === l.primarySite && h.roles.includes("etcd")).map((h) => clientUrl(l, h));
  if (l.mode !== "stretched") return primary;
  return [...primary, ...planHosts(l).map((p) => p.clientURL)];
}

/** The voters' client URLs the provider talks to (site A's; never a learner's). */
export function providerEndpoints(l: Layout): string[] {
  return l.hosts.filter((h) => h.site === l.primarySite && h.roles.includes("etcd")).map((h) => clientUrl(l, h));
}
