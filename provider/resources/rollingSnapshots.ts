/** EtcdRollingSnapshots: the new cluster is backed up as RKE did it. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretCluster, secretHost, withSecretConnections } from "./types";
import type { ClusterConnection, ContainerSpec, HostConnection } from "./types";
import type { RollingSnapshotsInputs } from "../impl/rollingSnapshots";
import type { ArgsMatch, Assert } from "../impl/fields";

/** Inputs of {@link EtcdRollingSnapshots}. */
export interface EtcdRollingSnapshotsArgs {
  /** The host of the new cluster's member (the restored learner's host). */
  host: pulumi.Input<HostConnection>;
  /** The new cluster's TLS material (its `endpoints` are not used; `endpoint` is). */
  cluster: pulumi.Input<ClusterConnection>;
  /** The new member's client URL. */
  endpoint: pulumi.Input<string>;
  /** How RKE started `etcd-rolling-snapshots` there: RkeContainerCleanup's `containerSpecs["etcd-rolling-snapshots"]`. */
  spec: pulumi.Input<ContainerSpec>;
  /** An etcd image on the host, whose etcdctl takes the proof snapshot (e.g. the learner's). */
  image: pulumi.Input<string>;
  /** etcd's path in that image (default `/usr/local/bin/etcd`; etcdctl and etcdutl beside it). */
  etcdBinary?: pulumi.Input<string>;
  /** The TLS files on the host for etcdctl (RKE's kube-ca.pem and the host's kube-etcd pair). */
  tls: pulumi.Input<{ caFile: pulumi.Input<string>; certFile: pulumi.Input<string>; keyFile: pulumi.Input<string> }>;
  /** Where RKE keeps snapshots (default `/opt/rke/etcd-snapshots`). */
  snapshotDir?: pulumi.Input<string>;
  /** Any value (e.g. the new cluster ID) whose change checks again. */
  trigger?: pulumi.Input<string>;
}

/** Compile-time check: {@link EtcdRollingSnapshotsArgs}, resolved, is exactly what the implementation takes. */
export type EtcdRollingSnapshotsArgsMatch = Assert<ArgsMatch<EtcdRollingSnapshotsArgs, RollingSnapshotsInputs>>;

const provider = lazyProvider("rollingSnapshots");

/**
 * After a failover, starts RKE's `etcd-rolling-snapshots` again on the new
 * cluster's host, from the definition recorded when it was cleaned, and
 * proves backups work: a marker write, a snapshot saved now into the
 * snapshot folder, its revision at least the marker's.
 *
 * - create/update: starts the container (a running one is left alone),
 *   takes and verifies the snapshot.
 * - refresh: reports whether the container runs.
 * - delete: changes nothing.
 */
export class EtcdRollingSnapshots extends pulumi.dynamic.Resource {
  /** The container runs. */
  declare public readonly running: pulumi.Output<boolean>;
  /** The snapshot taken to prove it, and its revision. */
  declare public readonly snapshotFile: pulumi.Output<string>;
  declare public readonly snapshotRevision: pulumi.Output<number>;
  /** The revision of the marker written just before it. */
  declare public readonly markerRevision: pulumi.Output<number>;

  constructor(name: string, args: EtcdRollingSnapshotsArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, host: secretHost(args.host), cluster: secretCluster(args.cluster), spec: pulumi.secret(args.spec), running: undefined, snapshotFile: undefined, snapshotRevision: undefined, markerRevision: undefined },
      { ...withSecretConnections(opts), additionalSecretOutputs: [...withSecretConnections(opts).additionalSecretOutputs ?? [], "spec"] },
      "etcdstandby",
      "EtcdRollingSnapshots",
    );
  }
}
