/** EtcdRestoreDrill: proves the site-B learner can be restored, while production runs. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import type { StandaloneRestoreLearner } from "./standaloneRestore";
import { secretCluster, secretHost, withSecretConnections } from "./types";
import type { ClusterConnection, HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { DrillPhases, RestoreDrillInputs } from "../impl/restoreDrillScratch";

/** Inputs of {@link EtcdRestoreDrill}. */
export interface EtcdRestoreDrillArgs {
  /** The learner's host (site B), where the scratch cluster runs too. */
  host: pulumi.Input<HostConnection>;
  /**
   * The cluster as the provider reaches it: site A's voters. They are only
   * read (member list, health, the learner's lag) and hold the cluster's lock
   * during the drill; they are never changed.
   */
  cluster: pulumi.Input<ClusterConnection>;
  /** The learner to drill, described as for EtcdStandaloneRestore (container `etcd-learner`, data dir `/var/lib/etcd`, RKE's TLS files by default). */
  learner: pulumi.Input<StandaloneRestoreLearner>;
  /**
   * Drills again whenever it changes, e.g. the quarter's date `"2026-04-01"`.
   * A drill also runs on create, and again on the next up after a drill that
   * did not pass.
   */
  trigger?: pulumi.Input<string>;
  /** The scratch cluster's etcd image, the one a real failover would use (default: the learner container's image). */
  image?: pulumi.Input<string>;
  /** Path of etcd in the image (default `/usr/local/bin/etcd`); etcdctl and etcdutl are looked up beside it. */
  etcdBinary?: pulumi.Input<string>;
  /** The scratch etcd's container (default `etcd-standby-drill`). */
  containerName?: pulumi.Input<string>;
  /** The scratch member's name (default `etcd-standby-drill`). */
  memberName?: pulumi.Input<string>;
  /** Where the scratch cluster listens: `127.0.0.1` (default), `::1` or the learner's host address; its certificate must name it. */
  listenAddress?: pulumi.Input<string>;
  /** The scratch cluster's client port (default 12379). */
  clientPort?: pulumi.Input<number>;
  /** The scratch cluster's peer port (default 12380). */
  peerPort?: pulumi.Input<number>;
  /** Parent of each drill's scratch folder `drill-<stamp>` (default `/var/lib/etcd-standby-drill`); must not overlap the learner's data dir. */
  scratchDir?: pulumi.Input<string>;
  /** Raft heartbeat of the scratch cluster in ms (default 500, RKE's, as a real failover). */
  heartbeatMs?: pulumi.Input<number>;
  /** Raft election timeout of the scratch cluster in ms (default 5000, RKE's). */
  electionMs?: pulumi.Input<number>;
  /** How many entries behind the voters the learner may be and count as caught up (default 100). */
  catchUpThreshold?: pulumi.Input<number>;
  /** Deadline of the copy, the restore, and the learner's catch-up, each, in ms (default 300000). */
  timeoutMs?: pulumi.Input<number>;
  /** The restore's `--bump-revision` (with `--mark-compacted`), as EtcdStandaloneRestore's (default 1,000,000,000; 0: none): the drill restores as a failover would. */
  revisionBump?: pulumi.Input<number>;
}

/** Compile-time check: {@link EtcdRestoreDrillArgs}, resolved, is exactly what the implementation takes. */
export type EtcdRestoreDrillArgsMatch = Assert<ArgsMatch<EtcdRestoreDrillArgs, RestoreDrillInputs>>;

/** Time per phase of a drill, in ms (the same as the implementation's). */
export type RestoreDrillPhases = DrillPhases;

const provider = lazyProvider("restoreDrill");

/**
 * A DR drill without an outage: proves that the site-B learner's data can be
 * restored into a working cluster, while site A serves.
 *
 * - create, and update with a new `trigger` (or after a drill that did not
 *   pass): a preflight that only reads (the learner is a started, caught-up
 *   learner of a healthy cluster; image, TLS files, free ports and disk room
 *   on the host); then, holding the cluster's lock: records the learner's
 *   revision and key count, stops it gracefully, copies its
 *   `member/snap/db` into a scratch folder, starts it again (restart policy
 *   back) and waits until it is caught up; restores the copy (`snapshot
 *   restore --skip-hash-check`) into a one-member scratch cluster
 *   `etcd-standby-drill` on other ports, and verifies it (healthy, one
 *   member, revision at least the recorded one, the same key count at the
 *   recorded revision, a probe write). The scratch container and folder are
 *   always removed. Site A's voters are never touched; membership never
 *   changes. A verdict "fail" fails the up and is kept in the state.
 * - refresh: reports the last drill's results, changes nothing.
 * - update without a new trigger: settings recorded, no drill.
 * - delete: changes nothing.
 */
export class EtcdRestoreDrill extends pulumi.dynamic.Resource {
  /** "pass" or "fail". */
  declare public readonly verdict: pulumi.Output<string>;
  /** What failed (empty on a pass). */
  declare public readonly problems: pulumi.Output<string[]>;
  /** When the last drill started (ISO 8601). */
  declare public readonly drilledAt: pulumi.Output<string>;
  /** The trigger the last drill ran for. */
  declare public readonly drilledTrigger: pulumi.Output<string>;
  /** Time per phase in ms. */
  declare public readonly phaseMs: pulumi.Output<RestoreDrillPhases>;
  /** The RTO a real failover would have: restore + start + verify, in ms. */
  declare public readonly rtoMs: pulumi.Output<number>;
  /** From the learner's stop until it was caught up again, in ms. */
  declare public readonly learnerAbsentMs: pulumi.Output<number>;
  /** From the learner's stop until it was started again, in ms. */
  declare public readonly learnerDownMs: pulumi.Output<number>;
  /** The learner's lag (entries) when it counted as caught up again. */
  declare public readonly learnerLagAfter: pulumi.Output<number>;
  /** The learner's revision when recorded. */
  declare public readonly recordedRevision: pulumi.Output<number>;
  /** Keys the learner held at that revision (lock keys left out). */
  declare public readonly recordedKeys: pulumi.Output<number>;
  /** The learner's applied raft index when recorded. */
  declare public readonly recordedAppliedIndex: pulumi.Output<number>;
  /** The learner's etcd version. */
  declare public readonly learnerVersion: pulumi.Output<string>;
  /** The copy's revision (before the bump). */
  declare public readonly restoredRevision: pulumi.Output<number>;
  /** Keys in the scratch cluster (lock keys left out; -1 when unreadable): at the bumped revision (the copy's keyspace), or without a bump at the recorded revision. */
  declare public readonly restoredKeys: pulumi.Output<number>;
  /** The revision bump the drill's restore applied (0: the image's restore tool lacks the flags, older than etcd 3.4.27 / 3.5.10). */
  declare public readonly bumpApplied: pulumi.Output<number>;
  /** The key count the copy was compared with (`restoredKeys` must equal it): the learner's at the copy's revision `restoredRevision` (with a bump), else the recorded one. */
  declare public readonly comparedKeys: pulumi.Output<number>;
  /** Size of the copied db in bytes. */
  declare public readonly dbSizeBytes: pulumi.Output<number>;
  /** The restore tool and version, e.g. `etcdctl 3.5.17`. */
  declare public readonly restoreTool: pulumi.Output<string>;
  /** The image the scratch cluster ran. */
  declare public readonly imageUsed: pulumi.Output<string>;
  /** Where the scratch cluster listened (removed since). */
  declare public readonly scratchEndpoint: pulumi.Output<string>;
  /** True when the member list after the drill was the one before it. */
  declare public readonly membershipUnchanged: pulumi.Output<boolean>;
  /** Leftovers of a killed earlier drill that this one removed. */
  declare public readonly leftoversRemoved: pulumi.Output<string[]>;

  constructor(name: string, args: EtcdRestoreDrillArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        host: secretHost(args.host),
        cluster: secretCluster(args.cluster),
        verdict: undefined,
        problems: undefined,
        drilledAt: undefined,
        drilledTrigger: undefined,
        phaseMs: undefined,
        rtoMs: undefined,
        learnerAbsentMs: undefined,
        learnerDownMs: undefined,
        learnerLagAfter: undefined,
        recordedRevision: undefined,
        recordedKeys: undefined,
        recordedAppliedIndex: undefined,
        learnerVersion: undefined,
        restoredRevision: undefined,
        restoredKeys: undefined,
        bumpApplied: undefined,
        comparedKeys: undefined,
        dbSizeBytes: undefined,
        restoreTool: undefined,
        imageUsed: undefined,
        scratchEndpoint: undefined,
        membershipUnchanged: undefined,
        leftoversRemoved: undefined,
      },
      withSecretConnections(opts),
      "etcdstandby",
      "EtcdRestoreDrill",
    );
  }
}
