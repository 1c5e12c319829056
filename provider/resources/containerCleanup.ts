/** RkeContainerCleanup: RKE's etcd containers are gone from a host. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretCluster, secretHost, withSecretConnections } from "./types";
import type { ClusterConnection, ContainerSpec, HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { ContainerCleanupInputs } from "../impl/containerCleanup";

/** Inputs of {@link RkeContainerCleanup}. */
export interface RkeContainerCleanupArgs {
  /** The host to clean. */
  host: pulumi.Input<HostConnection>;
  /**
   * The cluster, to check that no member still has a peer URL on this host
   * (the seed's order: remove the member, then clean). Required unless `force`.
   */
  cluster?: pulumi.Input<ClusterConnection>;
  /** Containers to remove (default `["etcd", "etcd-rolling-snapshots"]`). */
  containers?: pulumi.Input<pulumi.Input<string>[]>;
  /** `remove` (default) or `rename`: keep them as `<name>-removed-<stamp>` backups. */
  mode?: pulumi.Input<"remove" | "rename">;
  /** The etcd data directory on the host (default `/var/lib/etcd`). */
  dataDir?: pulumi.Input<string>;
  /** Archive (rename) a non-empty data dir to `<dataDir>.removed-<stamp>` (default true): a learner must start empty. */
  archiveDataDir?: pulumi.Input<boolean>;
  /**
   * Members allowed to live on the host (by name), e.g. the learner etcd-standby
   * starts there later: a re-clean after `rke up` must not be blocked by it.
   */
  ignoreMembers?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Fail back: a restored one-member etcd (EtcdStandaloneRestore's container)
   * that may be cleaned once its member left the cluster, named by its member
   * name and cluster token (`newClusterToken`); any other container of
   * etcd-standby's is still refused.
   */
  restoredMember?: pulumi.Input<{ memberName: pulumi.Input<string>; clusterToken: pulumi.Input<string> }>;
  /** Clean even though a member still lives on the host, or a container is managed by etcd-standby (default false). */
  force?: pulumi.Input<boolean>;
}

/** Compile-time check: {@link RkeContainerCleanupArgs}, resolved, is exactly what the implementation takes. */
export type RkeContainerCleanupArgsMatch = Assert<ArgsMatch<RkeContainerCleanupArgs, ContainerCleanupInputs>>;

const provider = lazyProvider("containerCleanup");

/**
 * Ensures RKE's etcd containers are gone from a host (the seed's `docker stop`
 * / `docker rm` of `etcd` and `etcd-rolling-snapshots`), so a removed member
 * does not crash-loop.
 *
 * - create: refuses while a member of the cluster still has a peer URL on the
 *   host (unless `force`). Clears each container's restart policy, stops it,
 *   removes or renames it, verifies it is gone, and archives the data dir.
 *   Containers already absent are fine.
 * - refresh: containers that reappeared (e.g. `rke up`) make the next
 *   `pulumi up` clean again.
 * - delete: changes nothing on the host.
 */
export class RkeContainerCleanup extends pulumi.dynamic.Resource {
  /** Containers removed. */
  declare public readonly removedContainers: pulumi.Output<string[]>;
  /** Containers renamed, old name to backup name. */
  declare public readonly renamedContainers: pulumi.Output<Record<string, string>>;
  /** Containers that were already absent. */
  declare public readonly alreadyAbsent: pulumi.Output<string[]>;
  /** Where the data dir was archived; empty when it was absent or empty. */
  declare public readonly dataDirArchivedTo: pulumi.Output<string>;
  /** With `restoredMember`: where the restore's record file (`<dataDir>.restore-record.json`) was archived ("" when there was none). */
  declare public readonly recordArchivedTo: pulumi.Output<string>;
  /** Set by refresh: containers that are back on the host. */
  declare public readonly reappeared: pulumi.Output<string[]>;
  /**
   * How each cleaned container was started (image, command, environment,
   * mounts, restart policy), by name: what EtcdRollingSnapshots starts again
   * after a failover. A secret: RKE may pass S3 credentials as arguments.
   */
  declare public readonly containerSpecs: pulumi.Output<Record<string, ContainerSpec>>;

  constructor(name: string, args: RkeContainerCleanupArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        host: secretHost(args.host),
        cluster: args.cluster === undefined ? undefined : secretCluster(args.cluster),
        removedContainers: undefined,
        renamedContainers: undefined,
        alreadyAbsent: undefined,
        dataDirArchivedTo: undefined,
        recordArchivedTo: undefined,
        reappeared: undefined,
        containerSpecs: undefined,
      },
      { ...withSecretConnections(opts), additionalSecretOutputs: [...withSecretConnections(opts).additionalSecretOutputs ?? [], "containerSpecs"] },
      "etcdstandby",
      "RkeContainerCleanup",
    );
  }
}
