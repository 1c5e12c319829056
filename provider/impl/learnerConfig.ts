/**
 * EtcdLearner's configuration (pure pieces): its inputs and state types, its field table and
 * settings with defaults, the etcd command line, the container spec, and the
 * diagnosis of a failed start from the learner's log. No I/O here, so all of
 * it is unit-tested.
 */
import type { RunContainerSpec } from "../connection/docker";
import type { ClusterConnectionArgs } from "../connection/etcd";
import type { HostConnectionArgs } from "../connection/ssh";
import { flagName } from "../lib/etcdFlags";
import { hostOfUrl } from "../lib/members";
import { etcdVolumes } from "../lib/paths";
import type { Props } from "./common";
import { withDefaults } from "./fields";
import type { Fields, Settled } from "./fields";

/** Labels that mark a container as managed by etcd-standby. */
export const MANAGED_LABEL = "io.etcd-standby.resource";
/** Label carrying the member name of a managed container. */
export const MEMBER_LABEL = "io.etcd-standby.member";

/** TLS file paths on the learner's host. */
export interface LearnerTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** EtcdLearner's inputs, resolved (documented on EtcdLearnerArgs). */
export type LearnerInputs = {
  cluster: ClusterConnectionArgs;
  host: HostConnectionArgs;
  memberName: string;
  peerURL: string;
  clientURL: string;
  image: string;
  etcdBinary?: string;
  containerName?: string;
  dataDir?: string;
  tls?: Partial<LearnerTls>;
  heartbeatMs?: number;
  electionMs?: number;
  extraFlags?: string[];
  catchUpThreshold?: number;
  timeoutMs?: number;
  maxLearners?: number;
  allowPromoted?: boolean;
  joinClusterId?: string;
};

/** What EtcdLearner reports about the learner (create, update and refresh). */
export type LearnerResult = {
  memberId: string;
  present: boolean;
  isLearner: boolean;
  started: boolean;
  lag: number;
  appliedIndex: number;
  leaderIndex: number;
  dbSize: number;
  version: string;
  containerRunning: boolean;
  /** The cluster ID (hex), from create and from an update that started it again. */
  clusterId?: string;
};

/** EtcdLearner's state: its inputs and what it reports. */
export type LearnerOutputs = LearnerInputs & LearnerResult;

const NO_FLAGS: string[] = [];

/**
 * Each input's default and what a change does: another name, URL, data dir
 * or container name (or host) is another learner (deleting first: one
 * learner slot); image, binary, flags, timings and TLS files restart the
 * container on the same data dir; the rest changes nothing on the host.
 * `tls` defaults to RKE's file names for the peer URL's host ({@link rkeTls}).
 */
export const LEARNER_FIELDS = {
  cluster: { effect: "record" },
  host: { effect: "record", replaceOn: ["host"] },
  memberName: { effect: "replace" },
  peerURL: { effect: "replace" },
  clientURL: { effect: "replace" },
  image: { effect: "update" },
  etcdBinary: { effect: "update", default: "/usr/local/bin/etcd" },
  dataDir: { effect: "replace", default: "/var/lib/etcd" },
  containerName: { effect: "replace", default: "etcd-learner" },
  tls: { effect: "update" },
  heartbeatMs: { effect: "update", default: 500 },
  electionMs: { effect: "update", default: 5000 },
  extraFlags: { effect: "update", default: NO_FLAGS },
  catchUpThreshold: { effect: "record", default: 100 },
  timeoutMs: { effect: "record", default: 300_000 },
  maxLearners: { effect: "record", default: 1 },
  allowPromoted: { effect: "record", default: false },
  joinClusterId: { effect: "record" },
} as const satisfies Fields<LearnerInputs>;

/** The inputs the learner's settings are read from (the connections are not needed). */
export type LearnerSpecInputs = Omit<LearnerInputs, "cluster" | "host">;

/** EtcdLearner's settings, defaults applied. */
export type LearnerSettings = Omit<Settled<LearnerSpecInputs, typeof LEARNER_FIELDS>, "tls" | "joinClusterId"> & {
  tls: LearnerTls;
  /** The ID (hex) of the cluster the learner must join; undefined: whichever cluster `cluster` reaches. */
  joinClusterId: string | undefined;
};

/** RKE's TLS file names for a host address: `/etc/kubernetes/ssl/kube-etcd-<address with dashes>.pem`. */
export function rkeTls(address: string): LearnerTls {
  const dashed = address.replace(/[.:]/g, "-");
  return {
    caFile: "/etc/kubernetes/ssl/kube-ca.pem",
    certFile: `/etc/kubernetes/ssl/kube-etcd-${dashed}.pem`,
    keyFile: `/etc/kubernetes/ssl/kube-etcd-${dashed}-key.pem`,
  };
}

/** The settings, with the table's defaults (RKE's heartbeat 500 ms and election 5000 ms) and RKE's TLS file names for the peer URL's host. */
export function learnerSettings(props: LearnerSpecInputs): LearnerSettings;
/** The settings from a property bag holding the inputs (the bench scripts build theirs so). */
export function learnerSettings(props: Props): LearnerSettings;
export function learnerSettings(props: LearnerSpecInputs | Props): LearnerSettings {
  const inputs = props as LearnerSpecInputs;
  const tlsIn = inputs.tls ?? {};
  const rke = rkeTls(hostOfUrl(inputs.peerURL));
  return {
    ...withDefaults(LEARNER_FIELDS, inputs),
    tls: { caFile: tlsIn.caFile ?? rke.caFile, certFile: tlsIn.certFile ?? rke.certFile, keyFile: tlsIn.keyFile ?? rke.keyFile },
    joinClusterId: typeof inputs.joinClusterId === "string" && inputs.joinClusterId !== "" ? inputs.joinClusterId.toLowerCase().padStart(16, "0") : undefined,
  };
}

/** The etcd command line of the learner, joining an existing cluster. */
export function learnerCommand(s: LearnerSettings, initialCluster: string): string[] {
  return [
    s.etcdBinary,
    `--name=${s.memberName}`,
    `--data-dir=${s.dataDir}`,
    `--initial-advertise-peer-urls=${s.peerURL}`,
    `--listen-peer-urls=${s.peerURL}`,
    `--advertise-client-urls=${s.clientURL}`,
    `--listen-client-urls=${s.clientURL}`,
    `--initial-cluster=${initialCluster}`,
    "--initial-cluster-state=existing",
    `--trusted-ca-file=${s.tls.caFile}`,
    `--cert-file=${s.tls.certFile}`,
    `--key-file=${s.tls.keyFile}`,
    `--peer-trusted-ca-file=${s.tls.caFile}`,
    `--peer-cert-file=${s.tls.certFile}`,
    `--peer-key-file=${s.tls.keyFile}`,
    "--client-cert-auth=true",
    "--peer-client-cert-auth=true",
    `--heartbeat-interval=${s.heartbeatMs}`,
    `--election-timeout=${s.electionMs}`,
    ...s.extraFlags,
  ];
}

/** The flags {@link learnerCommand} sets itself: an extra flag may not repeat them (etcd keeps the last value). */
export const LEARNER_OWNED_FLAGS: readonly string[] = learnerCommand(
  learnerSettings({ memberName: "x", peerURL: "https://127.0.0.1:2380", clientURL: "https://127.0.0.1:2379", image: "x" }),
  "x=https://127.0.0.1:2380",
).flatMap((a) => flagName(a) ?? []);

/** The container that runs the learner: host network, its data dir and TLS folders mounted at the same paths. */
export function learnerContainer(s: LearnerSettings, initialCluster: string): RunContainerSpec {
  return {
    name: s.containerName,
    image: s.image,
    restart: "always",
    network: "host",
    labels: { [MANAGED_LABEL]: "EtcdLearner", [MEMBER_LABEL]: s.memberName },
    volumes: etcdVolumes(s.dataDir, s.tls),
    command: learnerCommand(s, initialCluster),
  };
}

/** A failed etcd start read from its log: the shared helpers (lib/logs), kept exported here for importers of this module. */
export { diagnose, logExcerpt } from "../lib/logs";

/** Applied-index progress as a percentage of the leader's committed index (0 to 100). */
export function catchUpPercent(learnerApplied: number, leaderIndex: number): number {
  if (leaderIndex <= 0) return 100;
  return Math.max(0, Math.min(100, Math.floor((learnerApplied / leaderIndex) * 100)));
}
