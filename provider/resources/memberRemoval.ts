/** EtcdMemberRemoval: a member is not in the cluster. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretCluster, withSecretConnections } from "./types";
import type { ClusterConnection, MemberInfo } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { MemberRemovalInputs } from "../impl/memberRemoval";

/** Inputs of {@link EtcdMemberRemoval}. Give `memberName`, `peerURL`, or both. */
export interface EtcdMemberRemovalArgs {
  /** The cluster to remove the member from. */
  cluster: pulumi.Input<ClusterConnection>;
  /** Name of the member, e.g. `etcd-master3`. Resolved against the live member list. */
  memberName?: pulumi.Input<string>;
  /** Peer URL of the member, e.g. `https://192.168.31.103:2380`. */
  peerURL?: pulumi.Input<string>;
  /** How long to retry while etcd says the cluster is not ready for a membership change, in ms (default 60000). */
  timeoutMs?: pulumi.Input<number>;
}

/** Compile-time check: {@link EtcdMemberRemovalArgs}, resolved, is exactly what the implementation takes. */
export type EtcdMemberRemovalArgsMatch = Assert<ArgsMatch<EtcdMemberRemovalArgs, MemberRemovalInputs>>;

const provider = lazyProvider("memberRemoval");

/**
 * Ensures a member is not in the cluster (the seed's `etcdctl member remove`).
 *
 * - create: succeeds at once when the member is absent. Refuses when, after the
 *   removal, the healthy voters would not be a majority of the remaining
 *   voters (the message gives the numbers). Moves leadership away first when
 *   the member leads. Confirms with a fresh member list.
 * - refresh: a member with that name or peer URL that came back makes the next
 *   `pulumi up` remove it again.
 * - delete: changes nothing in the cluster; a removal is not undone.
 */
export class EtcdMemberRemoval extends pulumi.dynamic.Resource {
  /** ID (hex) of the member removed; empty when it was already absent. */
  declare public readonly removedMemberId: pulumi.Output<string>;
  /** True when the member was not in the cluster to begin with. */
  declare public readonly alreadyAbsent: pulumi.Output<boolean>;
  /** The cluster ID (hex). */
  declare public readonly clusterId: pulumi.Output<string>;
  /** The members after the removal. */
  declare public readonly remainingMembers: pulumi.Output<MemberInfo[]>;
  /** Set by refresh: the member is back in the cluster. */
  declare public readonly memberPresent: pulumi.Output<boolean>;

  constructor(name: string, args: EtcdMemberRemovalArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, cluster: secretCluster(args.cluster), removedMemberId: undefined, alreadyAbsent: undefined, clusterId: undefined, remainingMembers: undefined, memberPresent: undefined },
      withSecretConnections(opts),
      "etcdstandby",
      "EtcdMemberRemoval",
    );
  }
}
