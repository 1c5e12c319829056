/**
 * Fail back (after failover and rebuild): the stack's learner-standby layout
 * again, in the cluster the failover restored, without another restore.
 *
 * 1. Every kube-apiserver is re-pointed at site A's voters (the rebuilt
 *    members), standby site first, one at a time, each checked by `/readyz`;
 *    site A's, stopped for good by the fence, run again with RKE's restart
 *    policy.
 * 2. The restored member on the standby host (`new-cluster`) is removed,
 *    leadership moved to site A first when it leads, quorum checked.
 * 3. Its container (`etcd`, the restore's) and the backups started beside it
 *    are stopped for good and kept renamed; the restored data dir is archived.
 * 4. The host's learner (the stack's `learner-<host>`, given the new cluster's
 *    ID) starts again as a learner of the new cluster on a fresh data dir
 *    (etcd cannot demote a voter). That step is the EtcdLearner in
 *    stacks/index.ts, after `clean`.
 * 5. The standby site's nginx-proxy lists every control-plane host again, and
 *    site A's other components (stopped by the fence) run again, with RKE's
 *    restart policy (KubeRestart, once per new cluster).
 *
 * Nothing here restores or rewrites data: the serving cluster keeps its ID and
 * every member but the standby host's voter.
 */
import type * as pulumi from "@pulumi/pulumi";
import { EtcdMemberRemoval, RkeContainerCleanup, RkeContainerRepoint } from "../provider";
import { KubeRestart } from "../provider/components/kubeRestart";
import type { ClusterConnection, EtcdStandaloneRestore, HostConnection } from "../provider";
import { apiServersToVoters } from "./apiServers";
import type { Layout } from "./config";
import type { HostPlan } from "./plan";

/** The member name EtcdStandaloneRestore gives the restored member (its `newMemberName` default). */
export const RESTORED_MEMBER = "new-cluster";
/** Where EtcdStandaloneRestore keeps the restored data (its `restoreDataDir` default). */
export const RESTORED_DATA_DIR = "/var/lib/etcd-restored";
/** What the fence stopped on site A besides kube-apiserver, and the node components: started again after fail back. */
export const SITE_A_COMPONENTS = ["etcd-rolling-snapshots", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"];

/** What the stack passes in. */
export interface FailbackContext {
  layout: Layout;
  /** Site A's endpoints: the serving cluster's voters once rebuilt. */
  cluster: ClusterConnection;
  hostConnection: (address: string) => HostConnection;
  /** The SSH details KubeRestart (@pulumi/command) needs per host. */
  commandHost: (address: string) => { port: number; user: string; sudo: boolean; privateKey: pulumi.Input<string>; hostKey: string };
  restoredHost: HostPlan;
  restore: EtcdStandaloneRestore;
  /** What must stand before fail back starts (the rebuild's last promotion). */
  after: pulumi.Resource[];
}

/** The resources fail back declares before the learner; `clean` is what the standby host's learner waits for. */
export interface Failback {
  apiServers: RkeContainerRepoint[];
  removal: EtcdMemberRemoval;
  clean: RkeContainerCleanup;
}

/** Declares steps 1 to 3 (the learner, step 4, follows `clean`). */
export function failbackBeforeLearner(ctx: FailbackContext): Failback {
  const { layout, restoredHost: p } = ctx;
  const apiServers = apiServersToVoters(layout, ctx.hostConnection, ctx.after, { restartPolicy: "always" });
  const removal = new EtcdMemberRemoval(`failback-remove-${p.host.name}`, { cluster: ctx.cluster, memberName: RESTORED_MEMBER, peerURL: p.peerURL }, { dependsOn: apiServers.slice(-1) });
  const clean = new RkeContainerCleanup(
    `failback-clean-${p.host.name}`,
    {
      cluster: ctx.cluster,
      host: ctx.hostConnection(p.host.address),
      containers: ["etcd", "etcd-rolling-snapshots"],
      mode: "rename",
      dataDir: RESTORED_DATA_DIR,
      restoredMember: { memberName: RESTORED_MEMBER, clusterToken: ctx.restore.newClusterToken },
      ignoreMembers: [p.learnerMember],
    },
    { dependsOn: [removal] },
  );
  return { apiServers, removal, clean };
}

/** Declares step 5: the standby site's nginx-proxy and site A's components. */
export function failbackAfterLearner(ctx: FailbackContext, before: Failback): void {
  const { layout } = ctx;
  const controlPlane = layout.hosts.filter((h) => h.roles.includes("controlplane"));
  for (const h of layout.hosts.filter((x) => x.site === layout.standbySite && !x.roles.includes("controlplane"))) {
    new RkeContainerRepoint(`repoint-nginx-proxy-${h.name}`, { host: ctx.hostConnection(h.address), container: "nginx-proxy", setEnv: { CP_HOSTS: controlPlane.map((c) => c.address).join(",") } }, { dependsOn: before.apiServers });
  }
  const primary = layout.hosts.filter((h) => h.site === layout.primarySite);
  if (primary.length === 0) return;
  new KubeRestart(
    `failback-restart-${layout.primarySite.toLowerCase()}`,
    {
      trigger: ctx.restore.newClusterId,
      restartPolicy: "always",
      hosts: primary.map((h) => ({ name: h.name, address: h.address, ...ctx.commandHost(h.address), containers: SITE_A_COMPONENTS })),
    },
    { dependsOn: before.apiServers },
  );
}
