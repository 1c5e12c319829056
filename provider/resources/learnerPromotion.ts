/** EtcdLearnerPromotion: a learner becomes a voter. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretCluster, withSecretConnections } from "./types";
import type { ClusterConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { LearnerPromotionInputs } from "../impl/learnerPromotion";

/** Inputs of {@link EtcdLearnerPromotion}. Give `memberName`, `peerURL`, or both. */
export interface EtcdLearnerPromotionArgs {
  /** The cluster. */
  cluster: pulumi.Input<ClusterConnection>;
  /** The learner's name. */
  memberName?: pulumi.Input<string>;
  /** The learner's peer URL. */
  peerURL?: pulumi.Input<string>;
  /** How long to wait for the learner to catch up and keep retrying while etcd says it is not in sync, in ms (default 300000). */
  timeoutMs?: pulumi.Input<number>;
  /**
   * Entries the learner may be behind the leader's commit index when it is
   * promoted (default 100). etcd accepts a learner 10% behind; a new voter
   * that is behind holds every write back until it catches up.
   */
  catchUpThreshold?: pulumi.Input<number>;
}

/** Compile-time check: {@link EtcdLearnerPromotionArgs}, resolved, is exactly what the implementation takes. */
export type EtcdLearnerPromotionArgsMatch = Assert<ArgsMatch<EtcdLearnerPromotionArgs, LearnerPromotionInputs>>;

const provider = lazyProvider("learnerPromotion");

/**
 * Promotes a learner to voter (the way back from learner-standby to a
 * stretched cluster), once it is within `catchUpThreshold` entries of the
 * leader. etcd refuses a learner that is not in sync with the leader; this retries with backoff until `timeoutMs`, reporting progress, and
 * refuses a promotion that would leave the voters without a healthy majority.
 * refresh reports voter or learner; delete changes nothing (no demotion).
 */
export class EtcdLearnerPromotion extends pulumi.dynamic.Resource {
  /** Member ID (hex). */
  declare public readonly memberId: pulumi.Output<string>;
  /** The member votes. */
  declare public readonly isVoter: pulumi.Output<boolean>;

  constructor(name: string, args: EtcdLearnerPromotionArgs, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, { ...args, cluster: secretCluster(args.cluster), memberId: undefined, isVoter: undefined }, withSecretConnections(opts), "etcdstandby", "EtcdLearnerPromotion");
  }
}
