/**
 * KubeRestart: after a failover, restart the standby site's Kubernetes
 * components so they reconnect to the new etcd cluster, and check that the
 * API server serves again. Plain remote commands, so they are
 * `@pulumi/command` `remote.Command` resources (the etcd-aware resources keep
 * the provider's own SSH layer):
 *
 * - per host, `restart-<host>`: `docker restart` of the components present
 *   there (RKE's `kube-apiserver`, `kube-controller-manager`,
 *   `kube-scheduler`, `kubelet`, `kube-proxy` by default), in parallel; its
 *   stdout names each restarted container with its start time before and
 *   after, and the absent ones (reported, never a failure). It fails when a
 *   present container does not run again with a new start time.
 * - per control-plane host, `apiserver-ready-<host>`, after that host's
 *   restart: the local kube-apiserver must answer `/readyz` with its etcd
 *   check passing (`curl` on the host, with RKE's `kube-node` client
 *   certificate and the cluster CA), within a deadline.
 *
 * Both are triggered by the new cluster ID (`triggers`), so they run once per
 * new cluster and a later `pulumi up` changes nothing. Every host key is
 * pinned (`hostKey`: without it @pulumi/command accepts any key); the private
 * key stays a secret (@pulumi/command keeps the whole connection secret).
 * Remote command lines are built only from validated, shell-quoted values;
 * a bad name or key is refused here, at preview, before anything runs.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { RESTART_POLICIES } from "../connection/docker";
import type { RestartPolicy } from "../connection/docker";
import { RKE_TLS } from "../lib/rke";
import { shQuote } from "../lib/shell";
import { validateAbsolutePath, validateContainerName, validateHostAddress, validatePort } from "../lib/validate";

/** RKE's Kubernetes component containers, in the order the seed restarts them. */
export const KUBE_COMPONENTS: readonly string[] = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"];

/** One host whose components are restarted. */
export interface KubeRestartHost {
  /** A short name for the resource names (`restart-<name>`): letters, digits, `-`, `_`, `.`. */
  name: string;
  /** Address to SSH to. */
  address: string;
  /** SSH port (default 22). */
  port?: number;
  /** Login user. */
  user: string;
  /** The private key (a Pulumi secret). */
  privateKey: pulumi.Input<string>;
  /** The host's public key line (`ssh-ed25519 AAAA...`) or a known_hosts line for it; pinned. */
  hostKey: string;
  /** Run docker and curl through `sudo -n` (default false). */
  sudo?: boolean;
  /** Containers to restart (default {@link KUBE_COMPONENTS}); absent ones are reported. */
  containers?: string[];
  /** Check the local kube-apiserver's /readyz after the restart (control-plane hosts). */
  apiServer?: boolean;
}

/** Inputs of {@link KubeRestart}. */
export interface KubeRestartArgs {
  hosts: KubeRestartHost[];
  /** A change restarts again: pass the new cluster ID. */
  trigger: pulumi.Input<string>;
  /** Set each present container's restart policy first (e.g. RKE's `always` on containers a SiteFence stopped for good); default: unchanged. */
  restartPolicy?: RestartPolicy;
  /** Grace period of each `docker restart` in seconds (default 10). */
  graceSeconds?: number;
  /** How long kube-apiserver may take to answer /readyz after its restart, in seconds (default 120). */
  readyTimeoutSeconds?: number;
  /** kube-apiserver's secure port (default 6443, RKE's). */
  apiServerPort?: number;
  /** Files on the hosts for the /readyz check: the cluster CA and a client certificate the API server accepts (default RKE's). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** RKE's paths for the /readyz check: kube-ca and the kube-node client pair present on every node. */
export { RKE_TLS };

const RESOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"];

/**
 * The `type base64` pair @pulumi/command's `hostKey` compares against, from a
 * public key line (`ssh-ed25519 AAAA... comment`) or a known_hosts line
 * (`host ssh-ed25519 AAAA...`). Throws for anything else, and for RSA keys,
 * which the plugin cannot pin against OpenSSH 9 (it offers only `ssh-rsa`).
 */
export function pinnedHostKey(line: string, what = "hostKey"): string {
  const words = typeof line === "string" ? line.trim().split(/\s+/) : [];
  const i = words.findIndex((w) => w === "ssh-rsa" || KEY_TYPES.includes(w));
  if (i < 0 || !/^[A-Za-z0-9+/]+={0,3}$/.test(words[i + 1] ?? "")) {
    throw new Error(`${what} ${JSON.stringify(line)} is not a host public key line: give "ssh-ed25519 AAAA..." (the host's ssh_host_ed25519_key.pub) or its known_hosts line`);
  }
  if (words[i] === "ssh-rsa") {
    throw new Error(`${what}: an RSA host key cannot be pinned with @pulumi/command against OpenSSH 9 (it offers only SHA-1 ssh-rsa): give the host's ed25519 or ECDSA key (ssh-keyscan -t ed25519 HOST)`);
  }
  return `${words[i]} ${words[i + 1]}`;
}

/** Every problem with one host's settings (empty when fine). */
export function hostProblems(h: KubeRestartHost, i: number): string[] {
  const f = `hosts[${i}]`;
  const problems: string[] = [];
  if (typeof h.name !== "string" || !RESOURCE_NAME.test(h.name)) problems.push(`${f}.name ${JSON.stringify(h.name)} must be letters, digits, "-", "_" or "."`);
  problems.push(...validateHostAddress(h.address, `${f}.address`));
  if (h.port !== undefined) problems.push(...validatePort(h.port, `${f}.port`));
  if (typeof h.user !== "string" || !/^[a-z_][a-z0-9_.-]*$/i.test(h.user)) problems.push(`${f}.user ${JSON.stringify(h.user)} is not a user name`);
  try {
    pinnedHostKey(h.hostKey, `${f}.hostKey`);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const containers = h.containers ?? KUBE_COMPONENTS;
  if (!Array.isArray(containers) || containers.length === 0) problems.push(`${f}.containers must be a non-empty list of container names`);
  else containers.forEach((c, j) => problems.push(...validateContainerName(c, `${f}.containers[${j}]`)));
  return problems;
}

/**
 * The restart script: for each container, its start time, `docker restart`
 * (all in parallel), then the new start time; prints one line per container,
 * `restarted NAME BEFORE -> AFTER` or `absent NAME`, and exits 1 if a present
 * container failed to restart or does not run with a new start time.
 */
export function restartScript(containers: readonly string[], opts: { graceSeconds: number; sudo: boolean; restartPolicy?: string }): string {
  for (const [i, c] of containers.entries()) {
    const p = validateContainerName(c, `containers[${i}]`);
    if (p.length > 0) throw new Error(p.join("; "));
  }
  if (!Number.isInteger(opts.graceSeconds) || opts.graceSeconds < 0 || opts.graceSeconds > 600) throw new Error(`graceSeconds ${opts.graceSeconds} must be an integer from 0 to 600`);
  if (opts.restartPolicy !== undefined && !RESTART_POLICIES.includes(opts.restartPolicy as RestartPolicy)) throw new Error(`restartPolicy ${JSON.stringify(opts.restartPolicy)} must be one of ${RESTART_POLICIES.join(", ")}`);
  const docker = opts.sudo ? "sudo -n docker" : "docker";
  // A fenced container was stopped for good (restart policy "no"): give it its policy back before it starts.
  const update = opts.restartPolicy !== undefined ? `${docker} update --restart ${shQuote(opts.restartPolicy)} "$c" >/dev/null && ` : "";
  return [
    "set -u",
    `d=$(mktemp -d) || exit 1`,
    `trap 'rm -rf "$d"' EXIT`,
    `for c in ${containers.map(shQuote).join(" ")}; do`,
    `  if b=$(${docker} inspect --type container --format '{{.State.StartedAt}}' "$c" 2>/dev/null); then`,
    `    ( if out=$(${update}${docker} restart -t ${opts.graceSeconds} "$c" 2>&1); then a=$(${docker} inspect --type container --format '{{.State.Running}} {{.State.StartedAt}}' "$c" 2>&1);`,
    `      case "$a" in "true $b") echo "failed $c: still started at $b" ;; "true "*) echo "restarted $c $b -> \${a#true }" ;; *) echo "failed $c: not running after the restart ($a)" ;; esac;`,
    `      else echo "failed $c: $(echo "$out" | tr '\\n' ' ')"; fi ) > "$d/$c" &`,
    `  else echo "absent $c" > "$d/$c"; fi`,
    `done`,
    `wait`,
    `rc=0`,
    `for c in ${containers.map(shQuote).join(" ")}; do cat "$d/$c"; case "$(cat "$d/$c")" in failed*) rc=1 ;; esac; done`,
    `exit $rc`,
  ].join("\n");
}

/** What a restart's stdout says. */
export interface RestartReport {
  restarted: string[];
  absent: string[];
  failed: string[];
  /** StartedAt before and after, per restarted container. */
  startedAt: Record<string, { before: string; after: string }>;
}

/** Parses the restart script's output. */
export function parseRestartOutput(stdout: string): RestartReport {
  const r: RestartReport = { restarted: [], absent: [], failed: [], startedAt: {} };
  for (const line of stdout.split("\n")) {
    let m = /^restarted (\S+) (\S+) -> (\S+)$/.exec(line.trim());
    if (m) {
      r.restarted.push(m[1]);
      r.startedAt[m[1]] = { before: m[2], after: m[3] };
      continue;
    }
    m = /^absent (\S+)$/.exec(line.trim());
    if (m) r.absent.push(m[1]);
    else if ((m = /^failed (\S+):/.exec(line.trim()))) r.failed.push(m[1]);
  }
  return r;
}

/**
 * The readiness check: curl the local kube-apiserver's `/readyz?verbose`
 * until it passes (its `[+]etcd ok` check included) or the deadline passes;
 * prints the etcd check and the verdict, or fails with the last answer.
 */
export function readyzScript(opts: { port: number; timeoutSeconds: number; caFile: string; certFile: string; keyFile: string; sudo: boolean }): string {
  const problems = [
    ...validatePort(opts.port, "apiServerPort"),
    ...validateAbsolutePath(opts.caFile, "tls.caFile"),
    ...validateAbsolutePath(opts.certFile, "tls.certFile"),
    ...validateAbsolutePath(opts.keyFile, "tls.keyFile"),
  ];
  if (!Number.isInteger(opts.timeoutSeconds) || opts.timeoutSeconds < 1 || opts.timeoutSeconds > 3600) problems.push(`readyTimeoutSeconds ${opts.timeoutSeconds} must be an integer from 1 to 3600`);
  if (problems.length > 0) throw new Error(problems.join("; "));
  const curl = `${opts.sudo ? "sudo -n " : ""}curl -sS --max-time 5 --cacert ${shQuote(opts.caFile)} --cert ${shQuote(opts.certFile)} --key ${shQuote(opts.keyFile)}`;
  const url = shQuote(`https://127.0.0.1:${opts.port}/readyz?verbose`);
  return [
    "set -u",
    `command -v curl >/dev/null || { echo "curl is not installed on $(hostname): the /readyz check needs it" >&2; exit 1; }`,
    `t0=$(date +%s); end=$((t0 + ${opts.timeoutSeconds})); out=""`,
    `while :; do`,
    `  if out=$(${curl} -w '\\nHTTP %{http_code}' ${url} 2>&1) && [ "\${out##*HTTP }" = 200 ]; then`,
    `    echo "$out" | grep -E '^\\[.\\]etcd ' ; echo "kube-apiserver on 127.0.0.1:${opts.port}: readyz check passed after $(( $(date +%s) - t0 )) s"; exit 0`,
    `  fi`,
    `  [ "$(date +%s)" -lt "$end" ] || break`,
    `  sleep 1`,
    `done`,
    `echo "kube-apiserver on 127.0.0.1:${opts.port} did not pass /readyz within ${opts.timeoutSeconds} s; last answer:" >&2`,
    `echo "$out" | tail -n 30 >&2`,
    `exit 1`,
  ].join("\n");
}

/**
 * Restarts the standby site's Kubernetes components after a failover and
 * verifies the API server (see the module comment).
 */
export class KubeRestart extends pulumi.ComponentResource {
  /** Per host: the restart's stdout (`restarted NAME BEFORE -> AFTER`, `absent NAME`). */
  public readonly restarts: pulumi.Output<Record<string, string>>;
  /** Per control-plane host: the /readyz check's stdout. */
  public readonly apiServers: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: KubeRestartArgs, opts?: pulumi.ComponentResourceOptions) {
    // Every problem at once, before anything is declared.
    const problems = args.hosts.flatMap((h, i) => hostProblems(h, i));
    if (args.hosts.length === 0) problems.push("hosts must not be empty");
    if (problems.length > 0) throw new pulumi.RunError(`KubeRestart ${name}: ${problems.join("; ")}`);
    super("etcdstandby:index:KubeRestart", name, {}, opts);
    const tls = { ...RKE_TLS, ...(args.tls ?? {}) };
    const restarts: Record<string, pulumi.Output<string>> = {};
    const ready: Record<string, pulumi.Output<string>> = {};
    for (const h of args.hosts) {
      const connection: command.types.input.remote.ConnectionArgs = {
        host: h.address,
        port: h.port ?? 22,
        user: h.user,
        privateKey: pulumi.secret(h.privateKey),
        hostKey: pinnedHostKey(h.hostKey),
        dialErrorLimit: 3,
        perDialTimeout: 10,
      };
      const restart = new command.remote.Command(
        `restart-${h.name}`,
        { connection, create: restartScript(h.containers ?? KUBE_COMPONENTS, { graceSeconds: args.graceSeconds ?? 10, sudo: h.sudo === true, restartPolicy: args.restartPolicy }), triggers: [args.trigger] },
        { parent: this },
      );
      restarts[h.name] = restart.stdout;
      if (h.apiServer === true) {
        const check = new command.remote.Command(
          `apiserver-ready-${h.name}`,
          {
            connection,
            create: readyzScript({ port: args.apiServerPort ?? 6443, timeoutSeconds: args.readyTimeoutSeconds ?? 120, ...tls, sudo: h.sudo === true }),
            triggers: [args.trigger],
          },
          { parent: this, dependsOn: [restart] },
        );
        ready[h.name] = check.stdout;
      }
    }
    this.restarts = pulumi.output(restarts);
    this.apiServers = pulumi.output(ready);
    this.registerOutputs({ restarts: this.restarts, apiServers: this.apiServers });
  }
}
