/** RkeContainerRepoint: an RKE container runs with given flags and environment. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretHost, withSecretConnections } from "./types";
import type { HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { ContainerRepointInputs } from "../impl/containerRepoint";

/** Inputs of {@link RkeContainerRepoint}. */
export interface RkeContainerRepointArgs {
  /** The host the container runs on. */
  host: pulumi.Input<HostConnection>;
  /** The container, e.g. `kube-apiserver` or `nginx-proxy`. */
  container: pulumi.Input<string>;
  /**
   * Flags to run with, name (without `--`) to value, e.g. `{ "etcd-servers": "https://10.0.0.3:2379" }`.
   * Flags that weaken TLS or authentication or expose internals (`anonymous-auth: "true"`, `AlwaysAllow`,
   * `http://` etcd servers, other `etcd-*` TLS files, `client-cert-auth: "false"`, ...) are refused at preview.
   */
  setFlags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Environment variables to run with, e.g. `{ CP_HOSTS: "10.0.0.3" }` for RKE's nginx-proxy. Values are never
   * shown in progress lines, drift or errors; `ETCD_*` variables that set a refused etcd flag are refused.
   */
  setEnv?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * For kube-apiserver: after re-creation, wait until it answers `/readyz`
   * (curl on the host with a client certificate it accepts), else roll back.
   * `{}` takes RKE's defaults: port 6443, `/etc/kubernetes/ssl/kube-ca.pem`,
   * `kube-node.pem` and `kube-node-key.pem`, 120 s.
   */
  readyz?: pulumi.Input<{ port?: number; caFile?: string; certFile?: string; keyFile?: string; timeoutSeconds?: number }>;
  /** The restart policy to run with, e.g. RKE's `always` again on a container a SiteFence stopped for good; default: the container's own. */
  restartPolicy?: pulumi.Input<"no" | "always" | "unless-stopped" | "on-failure">;
  /** Any value (e.g. the new cluster ID) whose change re-checks the container. */
  trigger?: pulumi.Input<string>;
}

/** Compile-time check: {@link RkeContainerRepointArgs}, resolved, is exactly what the implementation takes. */
export type RkeContainerRepointArgsMatch = Assert<ArgsMatch<RkeContainerRepointArgs, ContainerRepointInputs>>;

const provider = lazyProvider("containerRepoint");

/**
 * Makes an RKE container run with some flags and environment variables set
 * (after a failover: kube-apiserver's `--etcd-servers` only the new cluster,
 * nginx-proxy's `CP_HOSTS` only the surviving control-plane hosts).
 *
 * - create/update: RKE's containers cannot be edited in place, so the
 *   container is re-created from its own `docker inspect` with only those
 *   values changed. The old one is stopped for good and kept, renamed
 *   `<name>-pre-<stamp>`; the new one must keep running for a few seconds
 *   and read back as wanted, else the old one is started again. A container
 *   that already runs as wanted is left alone.
 * - refresh: reports drift (e.g. `rke up` put the old values back).
 * - delete: changes nothing.
 */
export class RkeContainerRepoint extends pulumi.dynamic.Resource {
  /** The command line the container runs now. */
  declare public readonly argv: pulumi.Output<string[]>;
  /** The name the old container was kept under; empty when nothing had to change. */
  declare public readonly previousContainer: pulumi.Output<string>;
  /** Set by refresh: how the container differs from what is wanted. */
  declare public readonly drift: pulumi.Output<string[]>;

  constructor(name: string, args: RkeContainerRepointArgs, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, { ...args, host: secretHost(args.host), argv: undefined, previousContainer: undefined, drift: undefined }, withSecretConnections(opts), "etcdstandby", "RkeContainerRepoint");
  }
}
