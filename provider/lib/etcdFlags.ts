/**
 * Which flags a user may add to a container etcd-standby starts or
 * re-creates: `extraFlags` of a member etcd-standby runs (EtcdLearner,
 * EtcdStandaloneRestore), and `setFlags` / `setEnv` of an RKE container
 * RkeContainerRepoint re-creates (kube-apiserver, etcd, nginx-proxy, ...).
 * etcd keeps the last value of a repeated flag, so an extra flag can
 * silently override what the resource sets; these are refused:
 *
 * - in `extraFlags`, every flag the resource sets itself (its identity,
 *   URLs, TLS files, timing);
 * - everywhere, flags that weaken etcd's TLS or client authentication
 *   (`--client-cert-auth=false`, `--auto-tls`, skipping the peers' SAN
 *   check, other TLS files, versions or cipher suites), expose its internals
 *   (`--enable-pprof`, the v2 API, tracing to an unencrypted collector, an
 *   `http://` metrics listener beyond the loopback, a reusable port), or
 *   replace the command line (`--config-file`) ({@link ETCD_SECURITY_FLAGS});
 * - in `extraFlags`, flags that change membership or bootstrap behaviour
 *   (`--force-new-cluster`, `--initial-cluster*`, discovery,
 *   `--strict-reconfig-check`), or lose data on a crash (`--unsafe-no-fsync`)
 *   ({@link ETCD_MEMBER_FLAGS});
 * - in `setFlags`, also Kubernetes components' flags that open them up
 *   (`--anonymous-auth=true`, the insecure port, `AlwaysAllow`,
 *   `--profiling`, a kubelet's read-only port, skipping the kubelets' TLS
 *   check), `http://` etcd servers, and the certificate, key and CA files RKE
 *   gave them (including `--etcd-cafile`/`certfile`/`keyfile`)
 *   ({@link KUBE_SECURITY_FLAGS});
 * - in `setEnv`, the `ETCD_*` variables etcd reads as those flags.
 *
 * A flag is caught in every form etcd's and Kubernetes' parsers take:
 * `--flag`, `-flag`, `--flag=value`, `--flag value`, with `_` for `-` and
 * any case, and by its name with or without `experimental-` (etcd 3.6
 * renamed `--experimental-peer-skip-client-san-verification` and the
 * tracing flags). A boolean flag without a value is true; one followed by a
 * separate word is judged both ways. Each refusal names the flag, why, and
 * what to do.
 *
 * Pure module: no I/O.
 */

/** Why a flag is refused with `value` (undefined: the flag alone, a boolean's true), or undefined when that value is fine. The reason never quotes the value (the caller shows it, unless it is an environment variable's). */
export type FlagRule = (value: string | undefined) => string | undefined;

/** Go's strconv.ParseBool, which etcd's and Kubernetes' flag parsers use. */
const TRUE = ["1", "t", "T", "TRUE", "true", "True"];
const FALSE = ["0", "f", "F", "FALSE", "false", "False"];

const always = (why: string): FlagRule => () => why;
/** A boolean that must stay off: refused unless its value is false. */
const offOnly = (why: string): FlagRule => (v) => (v !== undefined && FALSE.includes(v) ? undefined : `${why}; leave it out, or set it to false`);
/** A boolean that must stay on: refused unless its value is true. */
const onOnly = (why: string): FlagRule => (v) => (v === undefined || TRUE.includes(v) ? undefined : `${why}; leave it out, or set it to true`);
/** A port that must stay closed: refused unless 0. */
const zeroOnly = (why: string): FlagRule => (v) => (v === "0" ? undefined : `${why}; leave it out, or set it to 0`);

const ETCD_TLS = "the cluster's TLS files and settings are managed by the resource (the same for every member, as RKE set them); leave it out";
const ETCD_TLS_VERSIONS = "the cluster's TLS versions and cipher suites are managed by the resource: an older version (TLS1.0, TLS1.1) or a weak suite would weaken every connection, and a choice other than the peers' can break their handshakes; leave it out";
const KUBE_TLS = "RKE gave the component its certificates, keys, CAs and TLS settings: another file (or none) changes whom it trusts or who it is, and etcd-standby re-points only --etcd-servers; leave it out (rke up sets these)";

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)(:\d+)?$/i;

/** `--listen-metrics-urls`: https:// anywhere (it takes the client TLS and certificate check), http:// only on the loopback. */
const metricsUrls: FlagRule = (v) => {
  const bad = (v ?? "").split(",").map((u) => u.trim()).filter((u) => u !== "" && !/^https:\/\//i.test(u) && !(/^http:\/\//i.test(u) && LOOPBACK.test(u.slice(7).replace(/\/.*$/, ""))));
  return bad.length === 0 ? undefined : "a URL other than https:// or http:// on the loopback would serve metrics (and /health) in plain text beyond the host; use http://127.0.0.1:PORT, or https:// (client certificates required)";
};

/** `--etcd-servers`: every server an https:// URL. */
const etcdServers: FlagRule = (v) => {
  const bad = (v ?? "").split(",").filter((u) => !/^https:\/\/\S+$/i.test(u.trim()));
  return bad.length === 0 ? undefined : "every etcd server must be an https:// URL (etcd requires client certificates; plain http would send the API's data unencrypted); write https:// URLs";
};

/**
 * etcd flags that weaken TLS or client authentication, expose internals or
 * replace the command line: refused in `extraFlags`, `setFlags` and
 * (as `ETCD_*`) `setEnv`.
 */
export const ETCD_SECURITY_FLAGS: Readonly<Record<string, FlagRule>> = {
  "client-cert-auth": onOnly("client certificate authentication must stay on: without it anyone who reaches the client port reads and writes the cluster"),
  "peer-client-cert-auth": onOnly("peer certificate authentication must stay on: without it anyone who reaches the peer port can talk raft to the cluster"),
  "auto-tls": offOnly("self-signed client TLS would replace the cluster's certificates"),
  "peer-auto-tls": offOnly("self-signed peer TLS would replace the cluster's certificates"),
  "peer-skip-client-san-verification": offOnly("peers' certificates would no longer have to name their address: any certificate the CA signed could act as a peer"),
  "enable-pprof": offOnly("it serves Go's profiler (/debug/pprof: goroutines, heap, CPU profiles) on the client port"),
  "enable-v2": offOnly("it turns on the deprecated v2 API, a second keyspace that snapshots, restores and etcd-standby's checks do not see"),
  "enable-v2v3": always("v2 emulation is a deprecated second API on the client port; leave it out"),
  "enable-distributed-tracing": offOnly("it sends a span of every request to a collector over unencrypted gRPC (etcd dials it without TLS)"),
  "listen-metrics-urls": metricsUrls,
  "listen-client-http-urls": always("an extra listener would serve clients outside the managed TLS setup; leave it out"),
  "socket-reuse-port": offOnly("another process on the host could bind etcd's ports and take its connections"),
  "socket-reuse-address": offOnly("another process on the host could bind etcd's ports and take its connections"),
  "config-file": always("a config file would replace every flag the resource sets, TLS included; leave it out"),
  ...Object.fromEntries(
    ["trusted-ca-file", "cert-file", "key-file", "peer-trusted-ca-file", "peer-cert-file", "peer-key-file", "client-cert-file", "client-key-file", "peer-client-cert-file", "peer-client-key-file", "client-crl-file", "peer-crl-file", "peer-cert-allowed-cn", "peer-cert-allowed-hostname", "client-cert-allowed-hostname"].map((f) => [f, always(ETCD_TLS)]),
  ),
  ...Object.fromEntries(["tls-min-version", "tls-max-version", "cipher-suites"].map((f) => [f, always(ETCD_TLS_VERSIONS)])),
};

/** etcd flags that change membership, listeners or bootstrap, or lose data on a crash: refused in `extraFlags` (the resource builds these). */
export const ETCD_MEMBER_FLAGS: Readonly<Record<string, FlagRule>> = {
  "listen-client-urls": always("the listening addresses are managed by the resource; leave it out"),
  "listen-peer-urls": always("the listening addresses are managed by the resource; leave it out"),
  "force-new-cluster": always("it turns the member into a new one-member cluster; leave it out (EtcdStandaloneRestore does this safely)"),
  "initial-cluster": always("membership is built from the live member list; leave it out"),
  "initial-cluster-state": always("membership is built from the live member list; leave it out"),
  "initial-cluster-token": always("the cluster token is managed by the resource; leave it out"),
  "discovery": always("membership is built from the live member list; leave it out"),
  "strict-reconfig-check": always("it guards membership changes against losing quorum; leave it out"),
  "unsafe-no-fsync": always("it loses acknowledged writes on a crash; leave it out"),
  "proxy": always("a proxy is not a member; leave it out"),
};

/** Kubernetes components' flags (kube-apiserver, kubelet, ...) that open them up or swap RKE's certificates: refused in `setFlags`. */
export const KUBE_SECURITY_FLAGS: Readonly<Record<string, FlagRule>> = {
  "anonymous-auth": offOnly("anonymous requests would be served (as system:anonymous)"),
  "insecure-port": zeroOnly("it serves the API without TLS, authentication or authorization"),
  "insecure-bind-address": always("the insecure port serves the API without TLS, authentication or authorization; leave it out"),
  "authorization-mode": (v) => ((v ?? "").trim() === "" || (v ?? "").split(",").some((m) => m.trim() === "AlwaysAllow") ? "AlwaysAllow (or no mode at all) authorizes every request; keep RKE's mode (Node,RBAC)" : undefined),
  "profiling": offOnly("it serves Go's profiler (/debug/pprof) to every client allowed to read it"),
  "kubelet-insecure-tls": offOnly("kubelets' serving certificates would not be checked"),
  "kubelet-https": onOnly("the API server would reach kubelets over plain HTTP"),
  "read-only-port": zeroOnly("the kubelet's read-only port serves pods and metrics without authentication"),
  "etcd-servers": etcdServers,
  "etcd-servers-overrides": (v) => (/http:\/\//i.test(v ?? "") ? "every etcd server must be an https:// URL (etcd requires client certificates); write https:// URLs" : undefined),
  "token-auth-file": always("a static token file would authenticate requests besides RKE's certificates; leave it out"),
  "basic-auth-file": always("a password file would authenticate requests besides RKE's certificates; leave it out"),
  "encryption-provider-config": always("encryption of secrets at rest is RKE's (secrets_encryption_config); leave it out"),
  ...Object.fromEntries(
    ["etcd-cafile", "etcd-certfile", "etcd-keyfile", "tls-cert-file", "tls-private-key-file", "client-ca-file", "tls-cipher-suites", "requestheader-client-ca-file", "requestheader-allowed-names", "proxy-client-cert-file", "proxy-client-key-file", "kubelet-certificate-authority", "kubelet-client-certificate", "kubelet-client-key", "service-account-key-file", "service-account-signing-key-file"].map((f) => [f, always(KUBE_TLS)]),
  ),
};

/** The etcd flags that lose data or split a cluster, refused in `setFlags` (RKE's own etcd re-created) as in `extraFlags`. */
const ETCD_DATA_FLAGS: Readonly<Record<string, FlagRule>> = {
  "force-new-cluster": ETCD_MEMBER_FLAGS["force-new-cluster"],
  "unsafe-no-fsync": ETCD_MEMBER_FLAGS["unsafe-no-fsync"],
};

/** Flag names refused together with every name that starts with them and "-" (`--discovery-srv`, `--discovery-insecure-transport`, ...). */
const FLAG_FAMILIES = ["discovery"];

/** A flag name as the parsers compare it: lowercase, `_` as `-`. */
function normalName(name: string): string {
  return name.toLowerCase().replace(/_/g, "-");
}

/** The rule for flag `name` in `rules`: by its name, its name without `experimental-`, or its family ({@link FLAG_FAMILIES}). */
export function ruleOf(name: string, rules: Readonly<Record<string, FlagRule>>): FlagRule | undefined {
  const n = normalName(name);
  const plain = n.replace(/^experimental-/, "");
  const family = FLAG_FAMILIES.find((f) => plain.startsWith(`${f}-`));
  return rules[n] ?? rules[plain] ?? (family !== undefined ? rules[family] : undefined);
}

/** The flag name of `--name` or `--name=value` (lowercase), or undefined. */
export function flagName(flag: string): string | undefined {
  return /^--?([a-z0-9][a-z0-9-]*)(?:=|$)/.exec(flag)?.[1];
}

/** A flag found in an argument list. */
export interface GivenFlag {
  /** Where it is in the list. */
  index: number;
  /** The flag as written, without its `=value`. */
  written: string;
  /** Its name as written (without dashes or value). */
  name: string;
  /** Its `=value`, if written so. */
  value: string | undefined;
  /** The word after it, when that is not a flag: its value, unless the flag is a boolean. */
  next: string | undefined;
}

/** Each flag in `args` (`--name`, `-name`, with `=value` or not), as etcd's (Go's flag) and Kubernetes' (pflag) parsers see them; non-strings are skipped. */
export function flagsIn(args: readonly unknown[]): GivenFlag[] {
  const out: GivenFlag[] = [];
  args.forEach((a, i) => {
    if (typeof a !== "string") return;
    const m = /^--?([A-Za-z0-9][A-Za-z0-9_-]*)(?:=([\s\S]*))?$/.exec(a);
    if (!m) return;
    const after = args[i + 1];
    const next = m[2] === undefined && typeof after === "string" && !after.startsWith("-") ? after : undefined;
    out.push({ index: i, written: a.slice(0, a.length - (m[2] === undefined ? 0 : m[2].length + 1)), name: m[1], value: m[2], next });
  });
  return out;
}

/** Why `f` is refused under `rule`: its value, or for a flag written alone, alone (a boolean's true) or with the next word as its value. */
function verdict(rule: FlagRule, f: GivenFlag): { why: string; shown: string } | undefined {
  const name = f.written;
  if (f.value !== undefined) {
    const why = rule(f.value);
    return why === undefined ? undefined : { why, shown: `${name}=${f.value}` };
  }
  const withNext = f.next !== undefined ? rule(f.next) : undefined;
  if (withNext !== undefined) return { why: withNext, shown: `${name} ${f.next as string}` };
  const alone = rule(undefined);
  return alone === undefined ? undefined : { why: alone, shown: name };
}

/**
 * Problems with a list of extra flags for a member etcd-standby runs: each
 * flag the resource sets itself (`owned`), or that {@link ETCD_SECURITY_FLAGS}
 * or {@link ETCD_MEMBER_FLAGS} refuses, naming the flag, why and what to
 * do. Checks names and values; {@link validateExtraFlag} checks characters.
 */
export function refusedExtraFlags(flags: unknown, owned: readonly string[], field = "extraFlags"): string[] {
  if (!Array.isArray(flags)) return [];
  const rules = { ...ETCD_MEMBER_FLAGS, ...ETCD_SECURITY_FLAGS };
  const problems: string[] = [];
  for (const f of flagsIn(flags as unknown[])) {
    const at = `${field}[${f.index}]`;
    if (owned.includes(normalName(f.name))) {
      problems.push(`${at} ${f.written} is set by the resource itself (a repeated flag overrides it); remove it`);
      continue;
    }
    const rule = ruleOf(f.name, rules);
    const v = rule && verdict(rule, f);
    if (v) problems.push(`${at} ${v.shown} is not allowed: ${v.why}`);
  }
  return problems;
}

/**
 * Problems with RkeContainerRepoint's `setFlags` (flag name to value, for
 * any RKE container): each flag {@link ETCD_SECURITY_FLAGS},
 * {@link KUBE_SECURITY_FLAGS} or the etcd data-loss flags refuse with that
 * value, naming it, why and what to do. Names may be written with dashes.
 */
export function refusedSetFlags(flags: unknown, field = "setFlags"): string[] {
  if (flags === null || typeof flags !== "object" || Array.isArray(flags)) return [];
  const rules = { ...ETCD_DATA_FLAGS, ...ETCD_SECURITY_FLAGS, ...KUBE_SECURITY_FLAGS };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(flags as Record<string, unknown>)) {
    if (typeof value !== "string") continue;
    const name = key.replace(/^--?/, "");
    const rule = ruleOf(name, rules);
    const why = rule?.(value);
    if (why !== undefined) problems.push(`${field}.${key} (--${name}=${value}) is not allowed: ${why}`);
  }
  return problems;
}

/**
 * Problems with RkeContainerRepoint's `setEnv`: each `ETCD_*` variable
 * (not `ETCDCTL_*`) etcd would read as a flag that {@link ETCD_SECURITY_FLAGS}
 * or the etcd data-loss flags refuse with that value. Names the variable and
 * the flag, never the value (environment values are never shown).
 */
export function refusedSetEnv(env: unknown, field = "setEnv"): string[] {
  if (env === null || typeof env !== "object" || Array.isArray(env)) return [];
  const rules = { ...ETCD_DATA_FLAGS, ...ETCD_SECURITY_FLAGS };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(env as Record<string, unknown>)) {
    const m = /^ETCD_([A-Za-z0-9_]+)$/.exec(key);
    if (!m || /^CTL/i.test(m[1]) || typeof value !== "string") continue;
    const flag = normalName(m[1]);
    const why = ruleOf(flag, rules)?.(value);
    if (why !== undefined) problems.push(`${field}.${key} sets etcd's --${flag}, which is not allowed with that value: ${why} (and leave ${key} out)`);
  }
  return problems;
}
