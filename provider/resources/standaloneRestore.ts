/** EtcdStandaloneRestore: the site-B learner becomes a new one-member cluster when site A is gone. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import type { LearnerTlsFiles } from "./learner";
import { secretCluster, secretHost, withSecretConnections } from "./types";
import type { ClusterConnection, HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { StandaloneRestoreInputs } from "../impl/restore/settings";

/** How to find the learner to restore from, on the restore's host. */
export interface StandaloneRestoreLearner {
  /** The learner's member name, e.g. `learner1`. */
  memberName: pulumi.Input<string>;
  /** Its peer URL, e.g. `https://192.168.31.103:2380`; the new cluster's single member advertises it. */
  peerURL: pulumi.Input<string>;
  /** Its client URL, e.g. `https://192.168.31.103:2379`; the new cluster serves clients there. */
  clientURL: pulumi.Input<string>;
  /** The learner's container (default `etcd-learner`); it is stopped, never removed. */
  containerName?: pulumi.Input<string>;
  /** The learner's data dir on the host (default `/var/lib/etcd`); never changed, kept for forensics. */
  dataDir?: pulumi.Input<string>;
  /** TLS files on the host (default RKE's names for the peer URL's host); the new cluster uses the same. */
  tls?: pulumi.Input<LearnerTlsFiles>;
}

/** Inputs of {@link EtcdStandaloneRestore}. */
export interface EtcdStandaloneRestoreArgs {
  /** The learner's host. */
  host: pulumi.Input<HostConnection>;
  /**
   * The CA, client certificate and key the provider uses as a client (of the
   * old voters for the guard, and of the new cluster for verification). The
   * endpoints may be site A's; they also default `oldVoterEndpoints`.
   */
  cluster: pulumi.Input<ClusterConnection>;
  /** The learner to restore from. */
  learner: pulumi.Input<StandaloneRestoreLearner>;
  /** The etcd image of the restored cluster, on the host, e.g. `rancher/mirrored-coreos-etcd:v3.5.17` (the learner's version or the next minor). */
  image: pulumi.Input<string>;
  /** Path of etcd in the image (default `/usr/local/bin/etcd`); etcdctl and etcdutl are looked up beside it. */
  etcdBinary?: pulumi.Input<string>;
  /** The single member's name (default `new-cluster`, as in the seed). */
  newMemberName?: pulumi.Input<string>;
  /** The new cluster's token (default `cluster-restore-<stamp>`, made at create and reported). */
  newClusterToken?: pulumi.Input<string>;
  /** The restored etcd's container (default `etcd`, like RKE's). */
  containerName?: pulumi.Input<string>;
  /** Where the restored data dir goes (default `/var/lib/etcd-restored`); must not overlap the learner's. */
  restoreDataDir?: pulumi.Input<string>;
  /** The bbolt db to restore from (default the learner's `<dataDir>/member/snap/db`). Point at a copy only for drills. */
  sourceDb?: pulumi.Input<string>;
  /** Client URLs of site A's voters, for the split-brain guard only (default: `cluster.endpoints` without the learner's). */
  oldVoterEndpoints?: pulumi.Input<pulumi.Input<string>[]>;
  /** Restore even though site A may be alive (default false); a warning names the split-brain risk. */
  force?: pulumi.Input<boolean>;
  /** Raft heartbeat of the new cluster in ms (default 500, RKE's). */
  heartbeatMs?: pulumi.Input<number>;
  /** Raft election timeout of the new cluster in ms (default 5000, RKE's). */
  electionMs?: pulumi.Input<number>;
  /**
   * Start the restored member with a short raft timing (heartbeat 100 ms,
   * election 500 ms) so its first election takes 0.1 to 0.5 s instead of up
   * to `electionMs` (default false: the cluster's timing from the start).
   * Before other members join, set it to false: that update restarts the
   * restored member once with `heartbeatMs`/`electionMs` (writes pause for its
   * start and first election, up to `electionMs`), and refuses if other
   * voters are already there. The stack sets it in failover mode only.
   */
  fastFirstElection?: pulumi.Input<boolean>;
  /**
   * How far the restore moves the revision on (`snapshot restore
   * --bump-revision`, with `--mark-compacted`; default 1,000,000,000, as
   * etcd's recovery guide). The learner is usually a little behind site A:
   * without a bump the new cluster would hand out again revisions that site A
   * already gave to Kubernetes clients, and a watcher resuming from one would
   * silently miss changes. With it, revisions never go back and every watcher
   * is told "compacted" and relists. 0 turns it off. An image whose restore
   * tool lacks the flags (older than etcd 3.4.27 / 3.5.10) restores without
   * them and says so loudly: then restart every Kubernetes client.
   */
  revisionBump?: pulumi.Input<number>;
  /** Further etcd flags for the new cluster, `--name=value` (not the ones the restore sets itself, nor those lib/etcdFlags.ts refuses). */
  extraFlags?: pulumi.Input<pulumi.Input<string>[]>;
  /** Deadline of the restore tool and of the verification each, in ms (default 300000). */
  timeoutMs?: pulumi.Input<number>;
  /**
   * Set once the restored member has left again (fail back: the cluster is
   * served by the rebuilt voters, the host holds a learner again). Recorded
   * only. Once set, it cannot be unset: this restore's chapter is closed, and
   * a later failover needs a new restore (the stack's `learner-standby` mode
   * drops this one first), never this one declared unchanged.
   */
  failedBack?: pulumi.Input<boolean>;
}

/** Compile-time check: {@link EtcdStandaloneRestoreArgs}, resolved, is exactly what the implementation takes. */
export type EtcdStandaloneRestoreArgsMatch = Assert<ArgsMatch<EtcdStandaloneRestoreArgs, StandaloneRestoreInputs>>;

/**
 * Time spent in each phase of the restore, in ms: each phase's own duration
 * (record and stop: in the attempt that did them). Some phases overlap, so
 * they add up to more than the create took: the guard runs from the create's
 * first moment beside the preflight; recording the learner and the image
 * check run beside the guard; the cleanup runs beside what is left of the
 * record and the image check once the guard has passed. `total` is the
 * create's wall-clock time and `serving` the moment the restored member first
 * led itself (clients can write from then on), both from the create's start.
 * Adopting a verified restore reports only `verify` and `total`.
 */
export interface StandaloneRestorePhases {
  /** The split-brain guard: from its start (once connected to the host) to its verdict; the preflight's reads run inside it. */
  guard: number;
  /** Setting aside a failed earlier attempt's leftovers (after the guard's verdict). */
  cleanup: number;
  /** Recording the learner's index, revision and keys (beside the guard). */
  record: number;
  /** Reading the image's etcd version in a throwaway container (beside the guard; before, counted in `restore`). */
  image?: number;
  /** Stopping the learner and looking at it once stopped (one remote command). */
  stop: number;
  /** Keeping the stop's record, `snapshot restore` and moving the result into place: the remote command that also starts the restored etcd, less `start`. */
  restore: number;
  /** Starting the restored etcd (its `docker run`, on the host's clock; 0 when the host's `date` has no nanoseconds). */
  start: number;
  /** Verification (mostly the wait for the new member to lead; the checks after it take tens of ms). */
  verify: number;
  /** From the create's start until the restored member first led itself. */
  serving?: number;
  /** The create's wall-clock time. */
  total?: number;
}

const provider = lazyProvider("standaloneRestore");

/**
 * Turns the site-B learner into a new one-member cluster once site A is gone
 * (the seed's `snapshot restore --skip-hash-check` of the learner's db, then
 * etcd with `--initial-cluster-state=new`).
 *
 * - create: the split-brain guard first, changing nothing: refuses while any
 *   old voter answers a status call, a leader is seen, or the learner still
 *   receives entries, unless `force` (a warning then names the risk). Sets
 *   aside (renames, never deletes) what a failed earlier attempt left; records
 *   the learner's applied index, revision and key count (serializable reads
 *   through its client URL) and keeps that record on the host; stops the
 *   learner gracefully with its restart policy cleared, keeping its container
 *   and data dir; restores its db with etcdctl (3.4/3.5) or etcdutl (3.6+) in
 *   a throwaway container of `image`; starts the one-member cluster in
 *   `containerName` (restart always, host network, the learner's mTLS files);
 *   verifies it is healthy, writable, has one member and at least the
 *   learner's revision and exactly its keys. Any failure stops the new etcd
 *   and says what is kept; running create again after fixing the cause
 *   converges. A verified restore that already runs is adopted, never redone.
 * - refresh: whether the restored cluster is healthy, and its cluster ID.
 * - update: settings are recorded; the running cluster is not changed.
 *   Unsetting `failedBack` is refused at check (preview): a restore that was
 *   failed back never runs again.
 * - delete: changes nothing (a production cluster is never torn down).
 */
export class EtcdStandaloneRestore extends pulumi.dynamic.Resource {
  /** The new cluster's ID (hex). */
  declare public readonly newClusterId: pulumi.Output<string>;
  /** The single member's ID (hex). */
  declare public readonly newMemberId: pulumi.Output<string>;
  /** The token the new cluster was made with. */
  declare public readonly newClusterToken: pulumi.Output<string>;
  /** The new cluster's client URL (the learner's). */
  declare public readonly endpoint: pulumi.Output<string>;
  /** The revision restored from the learner's db, before the bump (compare with learnerRevision). */
  declare public readonly restoredRevision: pulumi.Output<number>;
  /** The bump applied to the revision (`--bump-revision`, with `--mark-compacted`): the new cluster's first write gets a revision above restoredRevision + bumpApplied. 0 when the image's restore tool lacks the flags (older than etcd 3.4.27 / 3.5.10) or revisionBump is 0. */
  declare public readonly bumpApplied: pulumi.Output<number>;
  /** "live": the learner answered and was recorded through its client port; "offline": it did not (restarted without a leader, or hung), so it was recorded from its data once stopped. */
  declare public readonly recordedFrom: pulumi.Output<string>;
  /** The learner's revision when recorded. */
  declare public readonly learnerRevision: pulumi.Output<number>;
  /** The learner's applied raft index when recorded. */
  declare public readonly learnerAppliedIndex: pulumi.Output<number>;
  /** The learner's committed raft index when recorded (what it knew the leader had committed). */
  declare public readonly learnerCommittedIndex: pulumi.Output<number>;
  /** The learner's etcd version. */
  declare public readonly learnerVersion: pulumi.Output<string>;
  /** The restored etcd's version. */
  declare public readonly restoredVersion: pulumi.Output<string>;
  /** Keys the learner held (serializable count). */
  declare public readonly keysBefore: pulumi.Output<number>;
  /** Keys in the restored cluster right after the restore. */
  declare public readonly keysAfter: pulumi.Output<number>;
  /** Revisions the learner had that the restore lacks: 0 when restoredRevision >= learnerRevision. */
  declare public readonly dataLossWindow: pulumi.Output<number>;
  /** Time per phase in ms. */
  declare public readonly phaseMs: pulumi.Output<StandaloneRestorePhases>;
  /** The restore tool and version used, e.g. `etcdctl 3.5.17`. */
  declare public readonly restoreTool: pulumi.Output<string>;
  /** What the guard saw that `force` overrode (empty normally). */
  declare public readonly guardRisks: pulumi.Output<string[]>;
  /** Leftovers of failed earlier attempts that were renamed aside. */
  declare public readonly setAside: pulumi.Output<string[]>;
  /** True when the learner was already stopped by a failed earlier attempt and that attempt's record was used (its record and stop times are reported). */
  declare public readonly reusedRecord: pulumi.Output<boolean>;
  /** True when create found an already verified restore and adopted it. */
  declare public readonly adopted: pulumi.Output<boolean>;
  /** Whether the restored cluster answered with a leader (create, then refresh). */
  declare public readonly healthy: pulumi.Output<boolean>;
  /** The cluster ID seen at the endpoint by the last create or refresh ("" when unreachable). */
  declare public readonly observedClusterId: pulumi.Output<string>;

  constructor(name: string, args: EtcdStandaloneRestoreArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        host: secretHost(args.host),
        cluster: secretCluster(args.cluster),
        // An output too (made at create when not given): listed so that it resolves when not given.
        newClusterToken: args.newClusterToken,
        newClusterId: undefined,
        newMemberId: undefined,
        endpoint: undefined,
        restoredRevision: undefined,
        bumpApplied: undefined,
        recordedFrom: undefined,
        learnerRevision: undefined,
        learnerAppliedIndex: undefined,
        learnerCommittedIndex: undefined,
        learnerVersion: undefined,
        restoredVersion: undefined,
        keysBefore: undefined,
        keysAfter: undefined,
        dataLossWindow: undefined,
        phaseMs: undefined,
        restoreTool: undefined,
        guardRisks: undefined,
        setAside: undefined,
        reusedRecord: undefined,
        adopted: undefined,
        healthy: undefined,
        observedClusterId: undefined,
      },
      withSecretConnections(opts),
      "etcdstandby",
      "EtcdStandaloneRestore",
    );
  }
}
