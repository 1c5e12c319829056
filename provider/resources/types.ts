/** Connection inputs shared by every resource. */
import * as pulumi from "@pulumi/pulumi";

/** How the provider reaches the etcd cluster: client URLs and mTLS material (PEM text). */
export interface ClusterConnection {
  /** Client URLs of voting members, e.g. `["https://192.168.31.101:2379"]`. Learners are not used. */
  endpoints: pulumi.Input<pulumi.Input<string>[]>;
  /** PEM of the CA that signed the etcd server certificates (RKE: kube-ca.pem). */
  caPem: pulumi.Input<string>;
  /** PEM of the client certificate (RKE: kube-etcd-<ip>.pem). */
  certPem: pulumi.Input<string>;
  /** PEM of the client key. Always stored as a Pulumi secret. */
  keyPem: pulumi.Input<string>;
  /** Deadline of each etcd call in ms (default 10000). */
  timeoutMs?: pulumi.Input<number>;
  /**
   * How long a change waits for the cluster's lock while another etcd-standby
   * run (another stack or backend) changes the cluster, in ms (default 300000).
   */
  lockWaitMs?: pulumi.Input<number>;
}

/** How the provider reaches a host over SSH. The host key is pinned. */
export interface HostConnection {
  /** Address of the host (its peer URL's host for etcd hosts). */
  host: pulumi.Input<string>;
  /** SSH port (default 22). */
  port?: pulumi.Input<number>;
  /** Login user. */
  user: pulumi.Input<string>;
  /** Unencrypted private key (PEM or OpenSSH). Always stored as a Pulumi secret. */
  privateKey: pulumi.Input<string>;
  /** The host's public key line (`ssh-ed25519 AAAA...`) or a known_hosts line; a different key is refused. */
  hostPublicKey?: pulumi.Input<string>;
  /** Accept any host key. Off by default; only for throwaway test hosts. */
  insecureIgnoreHostKey?: pulumi.Input<boolean>;
  /** Run remote commands through `sudo -n` (default false). */
  sudo?: pulumi.Input<boolean>;
  /** How to run docker on the host (default `["docker"]`). */
  dockerCommand?: pulumi.Input<pulumi.Input<string>[]>;
  /** Deadline of the SSH handshake and of each command in ms (default 30000). */
  timeoutMs?: pulumi.Input<number>;
}

/** A member in outputs. */
export interface MemberInfo {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** The cluster connection as a whole Pulumi secret (it carries the client key). */
export function secretCluster(c: pulumi.Input<ClusterConnection>): pulumi.Output<pulumi.Unwrap<ClusterConnection>> {
  return pulumi.secret(c);
}

/** The host connection as a whole Pulumi secret (it carries the private key). */
export function secretHost(h: pulumi.Input<HostConnection>): pulumi.Output<pulumi.Unwrap<HostConnection>> {
  return pulumi.secret(h);
}

/**
 * Options every resource adds: the connection outputs are secret as a whole
 * (they carry keys), whatever the caller passed.
 */
export function withSecretConnections(opts: pulumi.CustomResourceOptions | undefined): pulumi.CustomResourceOptions {
  return { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "cluster", "host"] };
}

/** How a container is started (as `docker inspect` shows it), for starting it again. */
export interface ContainerSpec {
  name: string;
  image: string;
  network: "host";
  volumes: { host: string; container: string; ro?: boolean; options?: string }[];
  env?: Record<string, string>;
  command: string[];
  labels?: Record<string, string>;
  restart?: "no" | "always" | "unless-stopped" | "on-failure";
  entrypoint?: string[];
  privileged?: boolean;
  pid?: "host";
}
