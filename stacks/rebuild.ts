/**
 * Rebuild mode (after a failover, back to fault tolerance): the primary
 * site's etcd hosts, fenced and back, become members of the new cluster, one
 * at a time (etcd 3.4/3.5 allow one learner): for each host in config order,
 * its old `etcd` container is kept renamed and its data dir archived
 * (RkeContainerCleanup, which checks the container is this cluster's lineage
 * and no member lives there), a learner starts under RKE's name, container
 * and paths (`etcd-<host>`, `etcd`, /var/lib/etcd) with the new cluster's
 * etcd image, and is promoted once caught up (quorum checked at each step).
 * The next host starts only after the previous one votes.
 *
 * What this means for `rke up`: the rebuilt members run the learner's image
 * under RKE's names; a later `rke up` with cluster.yml's etcd version
 * re-creates them with RKE's own flags and image, which must be the new
 * cluster's version (or the next minor), and sees the new cluster's members.
 */
import type * as pulumi from "@pulumi/pulumi";
import { EtcdLearner, EtcdLearnerPromotion, RkeContainerCleanup } from "../provider";
import type { ClusterConnection, HostConnection } from "../provider";
import { clientUrl, peerUrl, voterName } from "./config";
import type { Layout } from "./config";

/** What the rebuild declares; `promotions` in host order, the last one after every other. */
export interface Rebuilt {
  promotions: EtcdLearnerPromotion[];
  /** The rebuilt members' client URLs. */
  endpoints: string[];
}

/** Declares the rebuild of the primary site's etcd hosts into the new cluster. */
export function rebuild(layout: Layout, newCluster: ClusterConnection, hostConnection: (address: string) => HostConnection, after: pulumi.Resource[]): Rebuilt {
  const hosts = layout.hosts.filter((h) => h.site === layout.primarySite && h.roles.includes("etcd"));
  const promotions: EtcdLearnerPromotion[] = [];
  let previous: pulumi.Resource[] = after;
  for (const h of hosts) {
    const host = hostConnection(h.address);
    const name = voterName(layout, h);
    const cleanup = new RkeContainerCleanup(`rebuild-clean-${h.name}`, { cluster: newCluster, host, containers: ["etcd"], mode: "rename" }, { dependsOn: previous });
    const learner = new EtcdLearner(
      `rebuild-learner-${h.name}`,
      {
        cluster: newCluster,
        host,
        memberName: name,
        peerURL: peerUrl(layout, h),
        clientURL: clientUrl(layout, h),
        image: layout.etcd.learnerImage,
        containerName: "etcd",
        dataDir: "/var/lib/etcd",
        heartbeatMs: layout.etcd.heartbeatMs,
        electionMs: layout.etcd.electionMs,
        maxLearners: layout.etcd.maxLearners,
        timeoutMs: layout.etcd.learnerTimeoutMs,
        allowPromoted: true,
      },
      { dependsOn: [cleanup] },
    );
    const promotion = new EtcdLearnerPromotion(`rebuild-promote-${h.name}`, { cluster: newCluster, memberName: name, peerURL: peerUrl(layout, h), timeoutMs: layout.etcd.learnerTimeoutMs }, { dependsOn: [learner] });
    promotions.push(promotion);
    previous = [promotion];
  }
  return { promotions, endpoints: hosts.map((h) => clientUrl(layout, h)) };
}
