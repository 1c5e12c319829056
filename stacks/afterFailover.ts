/**
 * What failover mode declares once site B's learner is the new cluster
 * (issue: after failover):
 *
 * - SiteFence on every host of the lost site: its etcd, etcd snapshots and
 *   control-plane containers stopped for good when it answers SSH, on this
 *   and every later `pulumi up` until done; independent of the restore, so a
 *   powered-off site never holds the failover up.
 * - RkeContainerRepoint of each standby control-plane host's kube-apiserver
 *   (`--etcd-servers` the new cluster only) and of each standby
 *   non-control-plane host's nginx-proxy (`CP_HOSTS` the surviving
 *   control-plane hosts only), after the restore.
 * - EtcdRollingSnapshots on the restored host: RKE's backups, as they were
 *   defined there, against the new member, proven by a snapshot taken now.
 */
import type * as pulumi from "@pulumi/pulumi";
import { EtcdRollingSnapshots, RkeContainerRepoint, SiteFence } from "../provider";
import type { ClusterConnection, EtcdStandaloneRestore, HostConnection, RkeContainerCleanup } from "../provider";
import { rkeTls } from "../provider/impl/learnerConfig";
import { apiServerRepointName } from "./apiServers";
import { clientUrl } from "./config";
import type { HostSpec, Layout } from "./config";
import type { HostPlan } from "./plan";

/** What the after-failover resources need from the stack. */
export interface AfterFailoverContext {
  layout: Layout;
  /** The old cluster's TLS material (for probing its endpoints). */
  cluster: ClusterConnection;
  hostConnection: (address: string) => HostConnection;
  /** The restored host's plan and its cleanup (which recorded RKE's snapshot container). */
  restoredHost: HostPlan;
  cleanup: RkeContainerCleanup | undefined;
  restore: EtcdStandaloneRestore;
  /** Hosts of the lost site not to fence (rebuilt into the new cluster). */
  rebuilt?: string[];
  /** kube-apiserver's `--etcd-servers` (default: the restored member's endpoint), and what must be done before it is set. */
  etcdServers?: pulumi.Input<string>;
  etcdServersAfter?: pulumi.Resource[];
}

/** The resources after-failover work declares; `repoints` must finish before the components restart. */
export interface AfterFailover {
  fences: SiteFence[];
  repoints: RkeContainerRepoint[];
  backups: EtcdRollingSnapshots | undefined;
}

const isControlPlane = (h: HostSpec): boolean => h.roles.includes("controlplane");

/** Declares fencing, re-pointing and backups for a failover. */
export function afterFailover(ctx: AfterFailoverContext): AfterFailover {
  const { layout, restore } = ctx;
  const lost = layout.hosts.filter((h) => h.site === layout.primarySite && !(ctx.rebuilt ?? []).includes(h.name));
  const fences = lost.map(
    (h) =>
      new SiteFence(`fence-${h.name}`, {
        host: ctx.hostConnection(h.address),
        cluster: ctx.cluster,
        // The host's etcd is fenced unless it is the new cluster's, whoever started it (after a full loop, etcd-standby).
        current: { clusterId: restore.newClusterId, endpoints: [restore.endpoint] },
        oldEndpoints: h.roles.includes("etcd") ? [clientUrl(layout, h)] : [],
        trigger: restore.newClusterId,
      }),
  );
  const standby = layout.hosts.filter((h) => h.site === layout.standbySite);
  const survivingControlPlane = standby.filter(isControlPlane).map((h) => h.address);
  const repoints: RkeContainerRepoint[] = [];
  for (const h of standby) {
    if (isControlPlane(h)) {
      repoints.push(
        new RkeContainerRepoint(
          apiServerRepointName(h.name),
          { host: ctx.hostConnection(h.address), container: "kube-apiserver", setFlags: { "etcd-servers": ctx.etcdServers ?? restore.endpoint }, trigger: restore.newClusterId },
          { dependsOn: [restore, ...(ctx.etcdServersAfter ?? [])] },
        ),
      );
    } else if (survivingControlPlane.length > 0) {
      repoints.push(new RkeContainerRepoint(`repoint-nginx-proxy-${h.name}`, { host: ctx.hostConnection(h.address), container: "nginx-proxy", setEnv: { CP_HOSTS: survivingControlPlane.join(",") }, trigger: restore.newClusterId }, { dependsOn: [restore] }));
    }
  }
  const p = ctx.restoredHost;
  const backups = ctx.cleanup
    ? new EtcdRollingSnapshots(
        `backups-${p.host.name}`,
        {
          host: ctx.hostConnection(p.host.address),
          cluster: ctx.cluster,
          endpoint: restore.endpoint,
          spec: ctx.cleanup.containerSpecs.apply((specs) => (specs ?? {})["etcd-rolling-snapshots"]),
          image: layout.etcd.learnerImage,
          tls: rkeTls(p.host.address),
          trigger: restore.newClusterId,
        },
        { dependsOn: [restore] },
      )
    : undefined;
  return { fences, repoints, backups };
}
