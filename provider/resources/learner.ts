/** EtcdLearner: a started, caught-up raft learner on a host. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretCluster, secretHost, withSecretConnections } from "./types";
import type { ClusterConnection, HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { LearnerInputs } from "../impl/learnerConfig";

/** TLS file paths on the learner's host. */
export interface LearnerTlsFiles {
  /** CA the peers and clients are checked against (default `/etc/kubernetes/ssl/kube-ca.pem`). */
  caFile?: pulumi.Input<string>;
  /** The host's certificate; must name the peer URL's host (default RKE's `kube-etcd-<ip-with-dashes>.pem`). */
  certFile?: pulumi.Input<string>;
  /** The host's key (default RKE's `kube-etcd-<ip-with-dashes>-key.pem`). Only its path is used. */
  keyFile?: pulumi.Input<string>;
}

/** Inputs of {@link EtcdLearner}. */
export interface EtcdLearnerArgs {
  /** The cluster the learner joins (voters' client URLs). */
  cluster: pulumi.Input<ClusterConnection>;
  /** The host the learner runs on; must be the peer URL's host. */
  host: pulumi.Input<HostConnection>;
  /** The learner's member name, e.g. `learner1`. */
  memberName: pulumi.Input<string>;
  /** Its peer URL, e.g. `https://192.168.31.103:2380`. */
  peerURL: pulumi.Input<string>;
  /** Its client URL, e.g. `https://192.168.31.103:2379`. */
  clientURL: pulumi.Input<string>;
  /** The etcd image on the host, e.g. `rancher/mirrored-coreos-etcd:v3.5.4` (3.5 joins 3.4 voters). */
  image: pulumi.Input<string>;
  /** Path of the etcd binary in the image (default `/usr/local/bin/etcd`). */
  etcdBinary?: pulumi.Input<string>;
  /** Container name (default `etcd-learner`). */
  containerName?: pulumi.Input<string>;
  /** Data directory on the host, mounted at the same path (default `/var/lib/etcd`); must be absent or empty. */
  dataDir?: pulumi.Input<string>;
  /** TLS files on the host (default RKE's names for the peer URL's host). */
  tls?: pulumi.Input<LearnerTlsFiles>;
  /** Raft heartbeat in ms (default 500, RKE's). Match the cluster's. */
  heartbeatMs?: pulumi.Input<number>;
  /** Raft election timeout in ms (default 5000, RKE's). Match the cluster's. */
  electionMs?: pulumi.Input<number>;
  /**
   * Further etcd flags, `--name` or `--name=value` (e.g. `--quota-backend-bytes=8589934592`). Refused at preview:
   * the flags the learner sets, and those that weaken TLS or authentication, expose internals or change membership
   * (lib/etcdFlags.ts).
   */
  extraFlags?: pulumi.Input<pulumi.Input<string>[]>;
  /** Caught up means at most this many entries behind the leader (default 100). */
  catchUpThreshold?: pulumi.Input<number>;
  /** How long create or update may wait for the learner to catch up, in ms (default 300000). */
  timeoutMs?: pulumi.Input<number>;
  /** Learners the cluster allows (default 1, etcd 3.4/3.5's limit). */
  maxLearners?: pulumi.Input<number>;
  /**
   * The member may have been promoted to voter (by EtcdLearnerPromotion); default false.
   * When false, an update finding a voter removes it (quorum permitting) and adds it back as a learner.
   */
  allowPromoted?: pulumi.Input<boolean>;
  /**
   * The ID (hex) of the cluster the learner must join: refused at create
   * when `cluster` reaches another. A change (after a failover, the restored
   * cluster's `newClusterId`) is an update that re-checks the learner in
   * that cluster and starts it there (on an archived, fresh data dir) when
   * it is absent: how fail back turns the standby host back into a learner.
   */
  joinClusterId?: pulumi.Input<string>;
}

/** Compile-time check: {@link EtcdLearnerArgs}, resolved, is exactly what the implementation takes. */
export type EtcdLearnerArgsMatch = Assert<ArgsMatch<EtcdLearnerArgs, LearnerInputs>>;

const provider = lazyProvider("learner");

/**
 * A raft learner on a host, started and caught up: the site-B live backup.
 *
 * - create: preflight first, changing nothing: cluster healthy, a learner slot
 *   left, name and peer URL unused, the peer URL's host is the SSH host, data
 *   dir absent or empty, TLS files present and the certificate naming the host
 *   and issued by the CA, image present. Then `member add --learner`, starts
 *   etcd with `--initial-cluster` from the live member list and
 *   `--initial-cluster-state=existing`, and waits, reporting progress, until it
 *   is started under its name and caught up. On failure or timeout it removes
 *   the container and the member, archives the data dir, and names the likely
 *   cause with the tail of the learner's log.
 * - update: an image, flag, timing or TLS change restarts the container on the
 *   same data dir and waits for catch-up. A member gone from the cluster is
 *   started again; a promoted one is turned back into a learner unless
 *   `allowPromoted` (etcd cannot demote: it is removed, quorum permitting, and
 *   added back on an empty data dir). A name, URL, host, data dir or
 *   container name change replaces it (deleting first: one learner slot).
 * - refresh: reports presence, learner or voter, started, lag, db size and
 *   version; a learner gone from the cluster is re-created by the next up.
 * - delete: removes the container and the member (refused if it became a voter
 *   whose removal would cost quorum) and archives the data dir.
 */
export class EtcdLearner extends pulumi.dynamic.Resource {
  /** Member ID (hex). */
  declare public readonly memberId: pulumi.Output<string>;
  /** The member is in the cluster. */
  declare public readonly present: pulumi.Output<boolean>;
  /** It is still a learner (false once promoted). */
  declare public readonly isLearner: pulumi.Output<boolean>;
  /** It has started under its name. */
  declare public readonly started: pulumi.Output<boolean>;
  /** Entries behind the leader's committed index (-1 when it does not answer). */
  declare public readonly lag: pulumi.Output<number>;
  /** Its applied index when last observed. */
  declare public readonly appliedIndex: pulumi.Output<number>;
  /** The leader's committed index when last observed. */
  declare public readonly leaderIndex: pulumi.Output<number>;
  /** Its backend size in bytes. */
  declare public readonly dbSize: pulumi.Output<number>;
  /** Its etcd version, e.g. `3.5.17`. */
  declare public readonly version: pulumi.Output<string>;
  /** Its container is running. */
  declare public readonly containerRunning: pulumi.Output<boolean>;
  /** The cluster ID (hex). */
  declare public readonly clusterId: pulumi.Output<string>;

  constructor(name: string, args: EtcdLearnerArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        cluster: secretCluster(args.cluster),
        host: secretHost(args.host),
        memberId: undefined,
        present: undefined,
        isLearner: undefined,
        started: undefined,
        lag: undefined,
        appliedIndex: undefined,
        leaderIndex: undefined,
        dbSize: undefined,
        version: undefined,
        containerRunning: undefined,
        clusterId: undefined,
      },
      withSecretConnections(opts),
      "etcdstandby",
      "EtcdLearner",
    );
  }
}
