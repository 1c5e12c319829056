/** The restored etcd, pure: a new one-member cluster's command line, and its container. */
import type { RunContainerSpec } from "../../connection/docker";
import { etcdVolumes } from "../../lib/paths";
import { MANAGED_LABEL, MEMBER_LABEL } from "../learnerConfig";
import type { LearnerTls } from "../learnerConfig";
import { RESTORE_MANAGED_VALUE, startTiming, TOKEN_LABEL } from "./settings";
import type { RestoreSettings } from "./settings";

/** What a new one-member cluster's etcd command line is made of. */
export interface OneMemberEtcd {
  etcdBinary: string;
  name: string;
  dataDir: string;
  peerURL: string;
  clientURL: string;
  token: string;
  tls: LearnerTls;
  heartbeatMs: number;
  electionMs: number;
  extraFlags: readonly string[];
}

/** A new one-member cluster's etcd command line (the seed's, with `--initial-cluster-state=new`, mTLS for clients and peers). */
export function oneMemberEtcdCommand(e: OneMemberEtcd): string[] {
  const { peerURL, clientURL, tls } = e;
  return [
    e.etcdBinary,
    `--name=${e.name}`,
    `--data-dir=${e.dataDir}`,
    `--initial-advertise-peer-urls=${peerURL}`,
    `--listen-peer-urls=${peerURL}`,
    `--advertise-client-urls=${clientURL}`,
    `--listen-client-urls=${clientURL}`,
    `--initial-cluster=${e.name}=${peerURL}`,
    "--initial-cluster-state=new",
    `--initial-cluster-token=${e.token}`,
    `--trusted-ca-file=${tls.caFile}`,
    `--cert-file=${tls.certFile}`,
    `--key-file=${tls.keyFile}`,
    `--peer-trusted-ca-file=${tls.caFile}`,
    `--peer-cert-file=${tls.certFile}`,
    `--peer-key-file=${tls.keyFile}`,
    "--client-cert-auth=true",
    "--peer-client-cert-auth=true",
    `--heartbeat-interval=${e.heartbeatMs}`,
    `--election-timeout=${e.electionMs}`,
    ...e.extraFlags,
  ];
}

/** The restored one-member cluster's etcd command line, with the timing it starts with ({@link startTiming}). */
export function restoredEtcdCommand(s: RestoreSettings, token: string): string[] {
  const { peerURL, clientURL, tls } = s.learner;
  return oneMemberEtcdCommand({ etcdBinary: s.etcdBinary, name: s.newMemberName, dataDir: s.restoreDataDir, peerURL, clientURL, token, tls, ...startTiming(s), extraFlags: s.extraFlags });
}

/** The restored etcd's container: RKE's name `etcd`, restart always, host network, the restored data dir and TLS folders at the same paths. */
export function restoredEtcdContainer(s: RestoreSettings, token: string): RunContainerSpec {
  return {
    name: s.containerName,
    image: s.image,
    restart: "always",
    network: "host",
    labels: { [MANAGED_LABEL]: RESTORE_MANAGED_VALUE, [MEMBER_LABEL]: s.newMemberName, [TOKEN_LABEL]: token },
    volumes: etcdVolumes(s.restoreDataDir, s.learner.tls),
    command: restoredEtcdCommand(s, token),
  };
}
