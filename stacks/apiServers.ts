/**
 * kube-apiserver talks to voters only. RKE gives every kube-apiserver all etcd
 * hosts in `--etcd-servers`; once a standby host's member is a learner, the
 * learner answers the API server's requests with "rpc not supported for
 * learner", and a share of every write fails. So in learner-standby mode each
 * control-plane host's kube-apiserver is re-created (RkeContainerRepoint) with
 * the voters' client URLs only, one host at a time, each checked by its
 * `/readyz` before the next, and all before the standby site's voter is
 * removed; in stretched mode, after the promotions, with the promoted members
 * added back.
 *
 * In failback mode the same, after the rebuild, with RKE's restart policy
 * (site A's were stopped for good by the fence).
 *
 * In failover and rebuild modes the standby site's are declared by
 * afterFailover (same resource names, the new cluster's endpoints); the lost
 * site's are dropped from the stack, which changes nothing on their hosts
 * (RkeContainerRepoint's delete is a no-op): nothing contacts the lost site.
 */
import type * as pulumi from "@pulumi/pulumi";
import { RkeContainerRepoint } from "../provider";
import type { HostConnection } from "../provider";
import type { Layout } from "./config";
import { clientEndpoints } from "./plan";

/** The resource name of a host's kube-apiserver re-pointing (shared with afterFailover). */
export const apiServerRepointName = (host: string): string => `repoint-apiserver-${host}`;

/**
 * Re-points every control-plane host's kube-apiserver at the voters, standby
 * site first, each after the previous one (and after `after`). Returns them
 * in order; the last one is the one to wait for.
 */
export function apiServersToVoters(layout: Layout, hostConnection: (address: string) => HostConnection, after: pulumi.Resource[] = [], opts: { restartPolicy?: "always" } = {}): RkeContainerRepoint[] {
  const servers = clientEndpoints(layout).join(",");
  const hosts = layout.hosts
    .filter((h) => h.roles.includes("controlplane"))
    .sort((a, b) => Number(b.site === layout.standbySite) - Number(a.site === layout.standbySite));
  const out: RkeContainerRepoint[] = [];
  for (const h of hosts) {
    const previous = out.length > 0 ? [out[out.length - 1]] : after;
    out.push(new RkeContainerRepoint(apiServerRepointName(h.name), { host: hostConnection(h.address), container: "kube-apiserver", setFlags: { "etcd-servers": servers }, readyz: {}, ...opts }, { dependsOn: previous }));
  }
  return out;
}
