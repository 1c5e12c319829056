/**
 * Which etcd flags a user may add (`extraFlags`) to a member etcd-standby
 * runs. etcd keeps the last value of a repeated flag, so an extra flag can
 * silently override what the resource sets; these are refused:
 *
 * - every flag the resource sets itself (its identity, URLs, TLS files, timing);
 * - flags that weaken TLS or client authentication (`--client-cert-auth=false`,
 *   `--auto-tls`, ...), open other listeners, or replace the command line
 *   (`--config-file`);
 * - flags that change membership or bootstrap behaviour (`--force-new-cluster`,
 *   `--initial-cluster*`, discovery, `--strict-reconfig-check`), or lose data
 *   on a crash (`--unsafe-no-fsync`).
 *
 * Pure module: no I/O.
 */

/** Flags that weaken security, open listeners, or change membership: never accepted as extra flags. */
export const UNSAFE_FLAGS: Record<string, string> = {
  "client-cert-auth": "client certificate authentication must stay on",
  "peer-client-cert-auth": "peer certificate authentication must stay on",
  "auto-tls": "self-signed client TLS would replace the cluster's certificates",
  "peer-auto-tls": "self-signed peer TLS would replace the cluster's certificates",
  "client-crl-file": "the cluster's TLS settings are managed by the resource",
  "peer-crl-file": "the cluster's TLS settings are managed by the resource",
  "peer-cert-allowed-cn": "the cluster's TLS settings are managed by the resource",
  "peer-cert-allowed-hostname": "the cluster's TLS settings are managed by the resource",
  "tls-min-version": "the cluster's TLS settings are managed by the resource",
  "tls-max-version": "the cluster's TLS settings are managed by the resource",
  "cipher-suites": "the cluster's TLS settings are managed by the resource",
  "client-cert-file": "the cluster's TLS settings are managed by the resource",
  "client-key-file": "the cluster's TLS settings are managed by the resource",
  "peer-client-cert-file": "the cluster's TLS settings are managed by the resource",
  "peer-client-key-file": "the cluster's TLS settings are managed by the resource",
  "listen-client-urls": "the listening addresses are managed by the resource",
  "listen-client-http-urls": "an extra listener would serve clients outside the managed TLS setup",
  "listen-peer-urls": "the listening addresses are managed by the resource",
  "listen-metrics-urls": "an extra listener would serve outside the managed TLS setup",
  "config-file": "a config file would replace every flag the resource sets",
  "force-new-cluster": "it turns the member into a new one-member cluster",
  "initial-cluster": "membership is built from the live member list",
  "initial-cluster-state": "membership is built from the live member list",
  "initial-cluster-token": "the cluster token is managed by the resource",
  "discovery": "membership is built from the live member list",
  "discovery-srv": "membership is built from the live member list",
  "discovery-srv-name": "membership is built from the live member list",
  "discovery-proxy": "membership is built from the live member list",
  "discovery-fallback": "membership is built from the live member list",
  "discovery-endpoints": "membership is built from the live member list",
  "discovery-token": "membership is built from the live member list",
  "strict-reconfig-check": "it guards membership changes against losing quorum",
  "unsafe-no-fsync": "it loses acknowledged writes on a crash",
  "proxy": "a proxy is not a member",
};

/** The flag name of `--name` or `--name=value` (lowercase), or undefined. */
export function flagName(flag: string): string | undefined {
  return /^--?([a-z0-9][a-z0-9-]*)(?:=|$)/.exec(flag)?.[1];
}

/**
 * Problems with a list of extra flags: each flag the resource sets itself
 * (`owned`) or that {@link UNSAFE_FLAGS} lists, naming the flag and why.
 * Checks names only; {@link validateExtraFlag} checks their characters.
 */
export function refusedExtraFlags(flags: unknown, owned: readonly string[], field = "extraFlags"): string[] {
  if (!Array.isArray(flags)) return [];
  const problems: string[] = [];
  flags.forEach((f, i) => {
    const name = typeof f === "string" ? flagName(f) : undefined;
    if (name === undefined) return;
    if (owned.includes(name)) problems.push(`${field}[${i}] --${name} is set by the resource itself (a repeated flag overrides it); remove it`);
    else if (UNSAFE_FLAGS[name] !== undefined) problems.push(`${field}[${i}] --${name} is not allowed: ${UNSAFE_FLAGS[name]}; remove it`);
  });
  return problems;
}
