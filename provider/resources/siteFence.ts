/** SiteFence: a host of the lost site can never serve again. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretCluster, secretHost, withSecretConnections } from "./types";
import type { ClusterConnection, HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { SiteFenceInputs } from "../impl/siteFence";

/** Inputs of {@link SiteFence}. */
export interface SiteFenceArgs {
  /** A host of the lost site. */
  host: pulumi.Input<HostConnection>;
  /** The old cluster's TLS material, to probe `oldEndpoints` (its `endpoints` are not used). */
  cluster?: pulumi.Input<ClusterConnection>;
  /**
   * The cluster that serves now (after a failover: EtcdStandaloneRestore's
   * `newClusterId` and `endpoint`). With it the host's etcd is judged by
   * identity: fenced unless it answers as this cluster or, not answering, its
   * container was started as one of this cluster's members (name and peer
   * URL), whoever started it (RKE or etcd-standby: after a full DR loop site
   * A's members are etcd-standby's own). Without it, etcd-standby's own
   * containers are left alone.
   */
  current?: pulumi.Input<{ clusterId: pulumi.Input<string>; endpoints: pulumi.Input<pulumi.Input<string>[]> }>;
  /** The host's old etcd client URLs, probed with a put and a linearizable get. */
  oldEndpoints?: pulumi.Input<pulumi.Input<string>[]>;
  /** Containers to stop for good (default RKE's etcd, etcd-rolling-snapshots, kube-apiserver, kube-controller-manager, kube-scheduler). */
  containers?: pulumi.Input<pulumi.Input<string>[]>;
  /** SSH connect deadline in ms (default 5000): a powered-off host must not hold up the failover. */
  connectTimeoutMs?: pulumi.Input<number>;
  /** Any value (e.g. the new cluster ID) whose change fences again. */
  trigger?: pulumi.Input<string>;
}

/** Compile-time check: {@link SiteFenceArgs}, resolved, is exactly what the implementation takes. */
export type SiteFenceArgsMatch = Assert<ArgsMatch<SiteFenceArgs, SiteFenceInputs>>;

const provider = lazyProvider("siteFence");

/**
 * Fences a host of the lost site after a failover: its etcd, etcd snapshots
 * and control-plane containers are stopped for good (restart policy "no"),
 * its data kept, so a returning site never serves a second, stale cluster.
 *
 * - create/update: probes the old endpoint (put and linearizable get, 3 s)
 *   and says loudly when the old cluster serves; then stops the containers
 *   over SSH and checks the endpoint refuses both. A host that does not
 *   answer SSH is recorded as not fenced yet (not an error, unless its old
 *   endpoint serves); every later `pulumi up` tries again until it is.
 * - refresh: a returned host with those containers running or set to
 *   restart is drift, and the next `pulumi up` fences it.
 * - delete: changes nothing.
 */
export class SiteFence extends pulumi.dynamic.Resource {
  /** The host answered SSH at the last attempt. */
  declare public readonly reachable: pulumi.Output<boolean>;
  /** Every listed container is stopped for good and the old endpoint refuses. */
  declare public readonly fenced: pulumi.Output<boolean>;
  /** Containers this resource stopped. */
  declare public readonly stopped: pulumi.Output<string[]>;
  /** Set by refresh: containers running again, or set to restart. */
  declare public readonly unfenced: pulumi.Output<string[]>;
  /** Set by refresh: the old endpoint accepted a put and a get. */
  declare public readonly oldEndpointsServe: pulumi.Output<boolean>;

  constructor(name: string, args: SiteFenceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, host: secretHost(args.host), cluster: args.cluster === undefined ? undefined : secretCluster(args.cluster), reachable: undefined, fenced: undefined, stopped: undefined, unfenced: undefined, oldEndpointsServe: undefined },
      withSecretConnections(opts),
      "etcdstandby",
      "SiteFence",
    );
  }
}
