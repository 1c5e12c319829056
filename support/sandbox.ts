/** Access to the local two-site sandbox (sandbox/sandbox.sh) for the tests and the benchmarks. */
import * as fs from "fs";
import * as path from "path";
import { run, RunResult } from "./exec";

/** The repository root. */
export const ROOT = path.resolve(__dirname, "..", "..");
/** The sandbox command. */
export const SANDBOX = path.join(ROOT, "sandbox", "sandbox.sh");
/** Where the sandbox lives (the script's default unless overridden). */
export const SANDBOX_DIR = process.env.ETCD_STANDBY_SANDBOX ?? "/srv/etcd-standby-sandbox";

/** One host of the sandbox, as `sandbox.sh describe` reports it. */
export interface SandboxHost {
  name: string;
  site: "A" | "B";
  address: string;
  roles: string[];
  netns: string;
  dockerHost: string;
  hostPublicKey: string;
  sslDir: string;
  etcdMember: string | null;
  /** True when the host's /var/lib/etcd is its own filesystem (ETCD_STANDBY_ETCD_DISKS). */
  etcdDisk: boolean;
}

/** The machine-readable description `sandbox.sh up` writes. */
export interface SandboxDescription {
  dir: string;
  subnet: string;
  etcd: {
    endpoints: string[];
    caFile: string;
    certFile: string;
    keyFile: string;
    clusterToken: string;
    heartbeatMs: number;
    electionMs: number;
    images: { "v3.4": string; "v3.5": string; "v3.6": string };
  };
  ssh: { user: string; port: number; privateKeyFile: string; knownHostsFile: string };
  /** The control plane: a real kube-apiserver on every controlplane host (RKE's container name and flags). */
  kubernetes: {
    /** kube-apiserver's version, e.g. `v1.34.4`. */
    version: string;
    /** The image its containers run (`docker import` of the bootstrap's build). */
    image: string;
    /** One per controlplane host, `https://<address>:6443`. */
    apiServers: Array<{ host: string; url: string }>;
    /** The CA of the API servers' serving certificate (kube-ca.pem). */
    caFile: string;
    /** A bearer token of `user`, in group system:masters (a throwaway sandbox's admin token). */
    token: string;
    user: string;
    serviceClusterIpRange: string;
    /** Placeholder containers (busybox under RKE's names), by role, on the listed sites. */
    placeholders: { controlplane: string[]; worker: string[]; sites: string[] };
  };
  hosts: SandboxHost[];
}

/** Runs `sandbox.sh ARGS`, with `env` added to the environment (e.g. ETCD_STANDBY_ETCD_DISKS). */
export function sandbox(args: string[], timeoutMs = 300_000, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(["bash", SANDBOX, ...args], { timeoutMs, env: { ...process.env, ...env } });
}

/** Reads the description of a running sandbox. */
export function describe(): SandboxDescription {
  return JSON.parse(fs.readFileSync(path.join(SANDBOX_DIR, "sandbox.json"), "utf8")) as SandboxDescription;
}

/** Finds a host by name. */
export function host(d: SandboxDescription, name: string): SandboxHost {
  const h = d.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no sandbox host ${name}`);
  return h;
}

/** etcdctl (Debian's 3.4) with the sandbox client certificate: an independent client. */
export function etcdctl(d: SandboxDescription, args: string[], opts: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(
    ["etcdctl", `--cacert=${d.etcd.caFile}`, `--cert=${d.etcd.certFile}`, `--key=${d.etcd.keyFile}`, "--dial-timeout=2s", "--command-timeout=5s", ...args],
    { env: { ...process.env, ETCDCTL_API: "3" }, allowFailure: opts.allowFailure, timeoutMs: opts.timeoutMs ?? 30_000 },
  );
}

/** OpenSSH to a sandbox host with strict host key checking against the sandbox's known_hosts. */
export function ssh(d: SandboxDescription, hostName: string, remote: string, opts: { allowFailure?: boolean } = {}): Promise<RunResult> {
  const h = host(d, hostName);
  return run(
    [
      "ssh", "-i", d.ssh.privateKeyFile, "-o", `UserKnownHostsFile=${d.ssh.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes",
      "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", `${d.ssh.user}@${h.address}`, remote,
    ],
    { allowFailure: opts.allowFailure, timeoutMs: 30_000 },
  );
}

/** JSON.parse that keeps etcdctl's uint64 numbers (IDs) exact by reading every long integer as a string. */
export function parseEtcdctlJson<T>(text: string): T {
  return JSON.parse(text.replace(/(:\s*)(\d{15,})/g, '$1"$2"')) as T;
}

/** A uint64 ID as etcdctl's JSON prints it, as 16-digit hex. */
export function hexId(id: string | number): string {
  return BigInt(id).toString(16).padStart(16, "0");
}

/** Parsed `etcdctl member list -w json` members. */
export interface CtlMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

/** `etcdctl member list` as JSON, IDs as 16-digit hex. */
export async function memberList(d: SandboxDescription, endpoints = d.etcd.endpoints): Promise<CtlMember[]> {
  const r = await etcdctl(d, [`--endpoints=${endpoints.join(",")}`, "member", "list", "-w", "json"]);
  const parsed = parseEtcdctlJson<{ members: CtlMember[] }>(r.stdout);
  return parsed.members.map((m) => ({ ...m, ID: hexId(m.ID) }));
}

/** One endpoint's `etcdctl endpoint status`, IDs as 16-digit hex. */
export interface EndpointStatus {
  endpoint: string;
  id: string;
  /** The member's store revision when it answered. */
  revision: number;
  leader: string;
  raftIndex: number;
  applied: number;
  dbSize: number;
  isLearner: boolean;
  version: string;
}

/** `etcdctl endpoint status` of some endpoints; those that do not answer are left out. */
export async function endpointStatuses(d: SandboxDescription, endpoints: string[]): Promise<EndpointStatus[]> {
  const r = await etcdctl(d, [`--endpoints=${endpoints.join(",")}`, "endpoint", "status", "-w", "json"], { allowFailure: true });
  if (!r.stdout.trim().startsWith("[")) return [];
  type Raw = { Endpoint: string; Status: { header: { member_id: string; revision: number }; leader: string; raftIndex: number; raftAppliedIndex: number; dbSize: number; isLearner?: boolean; version: string } };
  return parseEtcdctlJson<Raw[]>(r.stdout).map((s) => ({
    endpoint: s.Endpoint,
    id: hexId(s.Status.header.member_id),
    revision: Number(s.Status.header.revision),
    leader: hexId(s.Status.leader),
    raftIndex: Number(s.Status.raftIndex),
    applied: Number(s.Status.raftAppliedIndex),
    dbSize: Number(s.Status.dbSize),
    isLearner: s.Status.isLearner === true,
    version: s.Status.version,
  }));
}

/** Whether every one of `endpoints` passes `etcdctl endpoint health`. */
export async function endpointsHealthy(d: SandboxDescription, endpoints: string[]): Promise<boolean> {
  return (await etcdctl(d, [`--endpoints=${endpoints.join(",")}`, "endpoint", "health"], { allowFailure: true })).code === 0;
}
