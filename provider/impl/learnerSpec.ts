/**
 * Pure pieces of EtcdLearner: its settings with defaults, the etcd command
 * line, the container spec, and the diagnosis of a failed start from the
 * learner's log. No I/O here, so all of it is unit-tested.
 */
import type { RunContainerSpec } from "../connection/docker";
import { flagName } from "../lib/etcdFlags";
import { hostOfUrl } from "../lib/members";
import { etcdVolumes } from "../lib/paths";
import type { Props } from "./common";

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

/** EtcdLearner's settings, defaults applied. */
export interface LearnerSettings {
  memberName: string;
  peerURL: string;
  clientURL: string;
  image: string;
  etcdBinary: string;
  containerName: string;
  dataDir: string;
  tls: LearnerTls;
  heartbeatMs: number;
  electionMs: number;
  extraFlags: string[];
  catchUpThreshold: number;
  timeoutMs: number;
  maxLearners: number;
  /** The ID (hex) of the cluster the learner must join; undefined: whichever cluster `cluster` reaches. */
  joinClusterId: string | undefined;
}

/** RKE's TLS file names for a host address: `/etc/kubernetes/ssl/kube-etcd-<address with dashes>.pem`. */
export function rkeTls(address: string): LearnerTls {
  const dashed = address.replace(/[.:]/g, "-");
  return {
    caFile: "/etc/kubernetes/ssl/kube-ca.pem",
    certFile: `/etc/kubernetes/ssl/kube-etcd-${dashed}.pem`,
    keyFile: `/etc/kubernetes/ssl/kube-etcd-${dashed}-key.pem`,
  };
}

/** Reads the settings out of the props, with defaults (RKE's heartbeat 500 ms and election 5000 ms). */
export function learnerSettings(props: Props): LearnerSettings {
  const peerURL = String(props.peerURL);
  const tlsIn = (props.tls ?? {}) as Partial<LearnerTls>;
  const rke = rkeTls(hostOfUrl(peerURL));
  return {
    memberName: String(props.memberName),
    peerURL,
    clientURL: String(props.clientURL),
    image: String(props.image),
    etcdBinary: typeof props.etcdBinary === "string" ? props.etcdBinary : "/usr/local/bin/etcd",
    containerName: typeof props.containerName === "string" ? props.containerName : "etcd-learner",
    dataDir: typeof props.dataDir === "string" ? props.dataDir : "/var/lib/etcd",
    tls: { caFile: tlsIn.caFile ?? rke.caFile, certFile: tlsIn.certFile ?? rke.certFile, keyFile: tlsIn.keyFile ?? rke.keyFile },
    heartbeatMs: typeof props.heartbeatMs === "number" ? props.heartbeatMs : 500,
    electionMs: typeof props.electionMs === "number" ? props.electionMs : 5000,
    extraFlags: Array.isArray(props.extraFlags) ? (props.extraFlags as string[]) : [],
    catchUpThreshold: typeof props.catchUpThreshold === "number" ? props.catchUpThreshold : 100,
    timeoutMs: typeof props.timeoutMs === "number" ? props.timeoutMs : 300_000,
    maxLearners: typeof props.maxLearners === "number" ? props.maxLearners : 1,
    joinClusterId: typeof props.joinClusterId === "string" && props.joinClusterId !== "" ? props.joinClusterId.toLowerCase().padStart(16, "0") : undefined,
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
