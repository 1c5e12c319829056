/** KubeComponentsRestart: the Kubernetes components on a host reconnect to a changed etcd. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "./lazy";
import { secretHost, withSecretConnections } from "./types";
import type { HostConnection } from "./types";
import type { ArgsMatch, Assert } from "../impl/fields";
import type { KubeComponentsRestartInputs } from "../impl/kubeComponentsRestart";

/** Inputs of {@link KubeComponentsRestart}. */
export interface KubeComponentsRestartArgs {
  /** The host whose containers are restarted. */
  host: pulumi.Input<HostConnection>;
  /** Containers to restart (default `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`, `kubelet`, `kube-proxy`). */
  containers?: pulumi.Input<pulumi.Input<string>[]>;
  /** Any string; a change replaces the resource and restarts again. Pass the new cluster ID so it reruns only when the cluster changes. */
  trigger?: pulumi.Input<string>;
  /** Grace period of each `docker restart` in seconds (default 10). */
  graceSeconds?: pulumi.Input<number>;
  /** Deadline of all restarts together, in ms (default 120000). */
  timeoutMs?: pulumi.Input<number>;
}

/** Compile-time check: {@link KubeComponentsRestartArgs}, resolved, is exactly what the implementation takes. */
export type KubeComponentsRestartArgsMatch = Assert<ArgsMatch<KubeComponentsRestartArgs, KubeComponentsRestartInputs>>;

const provider = lazyProvider("kubeComponentsRestart");

/**
 * Restarts the Kubernetes components on a host, as the seed does after the
 * restore so they reconnect to the new etcd cluster, through the provider's
 * own SSH layer.
 *
 * @deprecated The stack now uses `KubeRestart` (`provider/components/kubeRestart.ts`),
 * `@pulumi/command` remote commands with the same job plus a `/readyz` check.
 * This class and its implementation stay so that a stack whose state holds one
 * (from a failover run before that change) can still refresh it and delete it
 * (delete changes nothing); new programs should not declare it.
 *
 * - create: `docker restart` of each container that exists, within one
 *   deadline; each must then run with a StartedAt newer than before. Absent
 *   containers are reported, not fatal.
 * - a change of `trigger`, `containers` or the host address replaces it (restarts again).
 * - refresh: which of the containers are running; delete changes nothing.
 */
export class KubeComponentsRestart extends pulumi.dynamic.Resource {
  /** Containers restarted. */
  declare public readonly restarted: pulumi.Output<string[]>;
  /** Containers that are not on the host. */
  declare public readonly absent: pulumi.Output<string[]>;
  /** StartedAt of each restarted container before the restart. */
  declare public readonly previousStartedAt: pulumi.Output<Record<string, string>>;
  /** StartedAt of each restarted container after the restart. */
  declare public readonly startedAt: pulumi.Output<Record<string, string>>;
  /** How long the restarts took, in ms. */
  declare public readonly durationMs: pulumi.Output<number>;
  /** Set by refresh: the containers that are running. */
  declare public readonly running: pulumi.Output<string[]>;

  constructor(name: string, args: KubeComponentsRestartArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        host: secretHost(args.host),
        restarted: undefined,
        absent: undefined,
        previousStartedAt: undefined,
        startedAt: undefined,
        durationMs: undefined,
        running: undefined,
      },
      withSecretConnections(opts),
      "etcdstandby",
      "KubeComponentsRestart",
    );
  }
}
