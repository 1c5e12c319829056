/**
 * Connection material for the stack: the etcd client certificate and key,
 * the SSH key and the pinned host keys, each from a secret config value or a
 * file path. Keys always become Pulumi secrets. Missing material is a problem
 * reported with the rest of the config's, before anything is created.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import type { HostSpec } from "./config";

/** What the resources need to connect, with keys as secrets. */
export interface Credentials {
  caPem: string;
  certPem: string;
  etcdKey: pulumi.Output<string>;
  sshKey: pulumi.Output<string>;
  /** Host address to its pinned host key line. */
  hostKeys: Map<string, string>;
}

function readFile(path: string, what: string, problems: string[]): string {
  try {
    return fs.readFileSync(path, "utf8");
  } catch (e) {
    problems.push(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    return "";
  }
}

/** Parses a known_hosts file into address -> key line (plain host names only; hashed entries are skipped). */
export function parseKnownHosts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 3 || parts[0].startsWith("#") || parts[0].startsWith("|")) continue;
    for (const host of parts[0].split(",")) out.set(host.replace(/^\[(.*)\]:22$/, "$1"), `${parts[1]} ${parts[2]}`);
  }
  return out;
}

/** Reads the credentials from config; appends a problem for each missing piece. */
export function loadCredentials(config: pulumi.Config, hosts: HostSpec[], problems: string[]): Credentials {
  const etcd = (config.getObject<Record<string, unknown>>("etcd") ?? {});
  const ssh = (config.getObject<Record<string, unknown>>("ssh") ?? {});
  const caPem = config.get("etcdCaPem") ?? (typeof etcd.caFile === "string" ? readFile(etcd.caFile, "etcd.caFile", problems) : "");
  const certPem = config.get("etcdCertPem") ?? (typeof etcd.certFile === "string" ? readFile(etcd.certFile, "etcd.certFile", problems) : "");
  if (caPem === "") problems.push("missing the etcd CA: set etcd.caFile, or `pulumi config set etcd-standby:etcdCaPem < kube-ca.pem`");
  if (certPem === "") problems.push("missing the etcd client certificate: set etcd.certFile, or `pulumi config set etcd-standby:etcdCertPem < kube-etcd-<ip>.pem`");

  let etcdKey = config.getSecret("etcdKey");
  if (etcdKey === undefined && typeof etcd.keyFile === "string") etcdKey = pulumi.secret(readFile(etcd.keyFile, "etcd.keyFile", problems));
  if (etcdKey === undefined) problems.push("missing secret etcd-standby:etcdKey (the etcd client key): `pulumi config set --secret etcd-standby:etcdKey < kube-etcd-<ip>-key.pem`, or set etcd.keyFile");

  let sshKey = config.getSecret("sshPrivateKey");
  if (sshKey === undefined && typeof ssh.privateKeyFile === "string") sshKey = pulumi.secret(readFile(ssh.privateKeyFile, "ssh.privateKeyFile", problems));
  if (sshKey === undefined) problems.push("missing secret etcd-standby:sshPrivateKey: `pulumi config set --secret etcd-standby:sshPrivateKey < ~/.ssh/id_ed25519`, or set ssh.privateKeyFile");

  const known = typeof ssh.knownHostsFile === "string" ? parseKnownHosts(readFile(ssh.knownHostsFile, "ssh.knownHostsFile", [])) : new Map<string, string>();
  const hostKeys = new Map<string, string>();
  for (const h of hosts) {
    const k = h.hostPublicKey ?? known.get(h.address);
    if (k !== undefined) hostKeys.set(h.address, k);
  }
  return { caPem, certPem, etcdKey: etcdKey ?? pulumi.secret(""), sshKey: sshKey ?? pulumi.secret(""), hostKeys };
}

/**
 * Hosts without a pinned SSH host key. Every host in the config needs one, at
 * every preview, whatever the mode: a host that only failover or fencing
 * touches must not be found unpinned on the day of the disaster.
 */
export function unpinnedHosts(hosts: readonly HostSpec[], hostKeys: ReadonlyMap<string, string>): string[] {
  return hosts
    .filter((h) => !hostKeys.has(h.address))
    .map((h) => `host ${h.name} (${h.address}) has no pinned SSH host key: set hostPublicKey on it (ssh-keyscan -t ed25519 ${h.address}) or list it in ssh.knownHostsFile; every host needs one, whichever mode touches it`);
}
