/**
 * The stack's configuration: the two-site layout, the connection material and
 * the topology mode, read from `stacks/Pulumi.<stack>.yaml` and validated as a
 * whole (every mistake reported in one message) before any resource exists.
 *
 * Pure: {@link parseLayout} takes plain values, so it is unit-tested without
 * the engine; `index.ts` feeds it from `pulumi.Config`.
 */
import { bumpSupported, DEFAULT_REVISION_BUMP, noBumpWarning, validateRevisionBump } from "../provider/lib/revisionBump";
import { isHostAddress, validateImage } from "../provider/lib/validate";
import { taggedEtcdVersion } from "../provider/lib/versions";

/** How the cluster is laid out over the two sites. */
export type TopologyMode = "stretched" | "learner-standby" | "failover" | "rebuild" | "failback";

/** A host of the cluster. */
export interface HostSpec {
  /** Short name, e.g. `master3` (RKE's node name). */
  name: string;
  /** Address used for SSH and in etcd URLs. */
  address: string;
  /** Site name, e.g. `A` or `B`. */
  site: string;
  /** RKE roles: `etcd`, `controlplane`, `worker`. */
  roles: string[];
  /** Pinned SSH host key line (else looked up in ssh.knownHostsFile). */
  hostPublicKey?: string;
  /** etcd member name of its RKE voter (default `<etcd.memberNamePrefix><name>`, RKE: `etcd-master3`). */
  memberName?: string;
}

/** The validated layout. */
export interface Layout {
  mode: TopologyMode;
  primarySite: string;
  standbySite: string;
  hosts: HostSpec[];
  /** Site-B etcd hosts that hold a learner in learner-standby (and a promoted member in stretched). */
  learnerHosts: string[];
  etcd: {
    learnerImage: string;
    memberNamePrefix: string;
    learnerNamePrefix: string;
    heartbeatMs: number;
    electionMs: number;
    maxLearners: number;
    clientPort: number;
    peerPort: number;
    learnerTimeoutMs: number;
    /** Failover mode: the restored member's first election fast (100/500 ms), its timing the cluster's again from rebuild mode on (default true). */
    fastFirstElection: boolean;
    /** The restore's `--bump-revision` (with `--mark-compacted`; 0: none; default 1,000,000,000): Kubernetes' revisions never go back. */
    revisionBump: number;
  };
  ssh: { user: string; port: number; sudo: boolean };
  /** Warnings: accepted, but worth saying (e.g. an even voter count). */
  warnings: string[];
}

/** The raw config values, as `pulumi.Config` returns them (unknown shapes). */
export interface RawConfig {
  topology?: unknown;
  sites?: unknown;
  hosts?: unknown;
  etcd?: unknown;
  ssh?: unknown;
}

/** The error the stack refuses with: every problem, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`the stack config has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n${problems.map((p) => `  - ${p}`).join("\n")}\nFix them in stacks/Pulumi.<stack>.yaml (pulumi config set ...) and preview again; nothing was changed.`);
    this.name = "ConfigError";
  }
}

const MODES: TopologyMode[] = ["stretched", "learner-standby", "failover", "rebuild", "failback"];
const ROLES = ["etcd", "controlplane", "worker"];

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function num(v: unknown, dflt: number, field: string, problems: string[]): number {
  if (v === undefined) return dflt;
  if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  problems.push(`${field} must be a positive whole number, got ${JSON.stringify(v)}`);
  return dflt;
}

function str(v: unknown, dflt: string): string {
  return typeof v === "string" ? v : dflt;
}

/** Voters of the cluster once `mode` is converged. */
export function votersOf(l: Pick<Layout, "mode" | "hosts" | "primarySite" | "learnerHosts">): HostSpec[] {
  const etcd = l.hosts.filter((h) => h.roles.includes("etcd"));
  if (l.mode === "stretched") return etcd;
  if (l.mode === "failover") return etcd.filter((h) => l.learnerHosts.includes(h.name)).slice(0, 1);
  // After a failover: the restored member, and the primary site's etcd hosts rebuilt as members of the new cluster.
  if (l.mode === "rebuild") return [...etcd.filter((h) => l.learnerHosts.includes(h.name)).slice(0, 1), ...etcd.filter((h) => h.site === l.primarySite)];
  return etcd.filter((h) => h.site === l.primarySite);
}

/**
 * Validates the raw config and returns the layout, or throws one
 * {@link ConfigError} listing every problem.
 */
export function parseLayout(raw: RawConfig): Layout {
  const problems: string[] = [];
  const warnings: string[] = [];

  const topo = typeof raw.topology === "string" ? { mode: raw.topology } : obj(raw.topology);
  const mode = topo.mode as TopologyMode;
  if (!MODES.includes(mode)) problems.push(`topology.mode must be one of ${MODES.join(", ")}; got ${JSON.stringify(topo.mode)}`);

  const sites = obj(raw.sites);
  const siteNames = Object.keys(sites);
  const primaries = siteNames.filter((s) => sites[s] === "primary" || obj(sites[s]).role === "primary");
  const standbys = siteNames.filter((s) => sites[s] === "standby" || obj(sites[s]).role === "standby");
  if (siteNames.length !== 2 || primaries.length !== 1 || standbys.length !== 1) {
    problems.push(`sites must name exactly two sites, one primary and one standby, e.g. { A: primary, B: standby }; got ${JSON.stringify(raw.sites ?? null)}`);
  }
  const primarySite = primaries[0] ?? "A";
  const standbySite = standbys[0] ?? "B";

  const hosts: HostSpec[] = [];
  if (!Array.isArray(raw.hosts) || raw.hosts.length === 0) {
    problems.push("hosts must list the cluster's hosts: [{ name, address, site, roles }]");
  } else {
    raw.hosts.forEach((h: unknown, i) => {
      const o = obj(h);
      const name = o.name;
      const label = typeof name === "string" ? `host ${name}` : `hosts[${i}]`;
      if (typeof name !== "string" || !/^[a-z0-9][a-z0-9.-]{0,62}$/.test(name)) problems.push(`${label}: name must be a lowercase host name, got ${JSON.stringify(name)}`);
      if (typeof o.address !== "string" || !isHostAddress(o.address)) problems.push(`${label}: address must be an IP address or DNS name, got ${JSON.stringify(o.address)}`);
      if (typeof o.site !== "string" || !siteNames.includes(o.site)) problems.push(`${label}: site ${JSON.stringify(o.site)} is not one of the sites (${siteNames.join(", ") || "none defined"})`);
      const roles = Array.isArray(o.roles) ? (o.roles as unknown[]) : [];
      if (roles.length === 0 || roles.some((r) => typeof r !== "string" || !ROLES.includes(r))) {
        problems.push(`${label}: roles must be a non-empty list of ${ROLES.join(", ")}, got ${JSON.stringify(o.roles)}`);
      }
      if (o.hostPublicKey !== undefined && (typeof o.hostPublicKey !== "string" || !/^(\S+ )?(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/.test(o.hostPublicKey))) {
        problems.push(`${label}: hostPublicKey must be a key line such as "ssh-ed25519 AAAA..." (ssh-keyscan -t ed25519 ${String(o.address)})`);
      }
      if (o.memberName !== undefined && (typeof o.memberName !== "string" || !/^[A-Za-z0-9._-]{1,63}$/.test(o.memberName))) {
        problems.push(`${label}: memberName must be an etcd member name, got ${JSON.stringify(o.memberName)}`);
      }
      hosts.push({
        name: String(name),
        address: String(o.address),
        site: String(o.site),
        roles: roles.map(String),
        hostPublicKey: typeof o.hostPublicKey === "string" ? o.hostPublicKey : undefined,
        memberName: typeof o.memberName === "string" ? o.memberName : undefined,
      });
    });
  }
  const dup = (vals: string[]): string[] => [...new Set(vals.filter((v, i) => vals.indexOf(v) !== i))];
  for (const n of dup(hosts.map((h) => h.name))) problems.push(`host name ${n} is used twice`);
  for (const a of dup(hosts.map((h) => h.address))) problems.push(`address ${a} is used by more than one host (${hosts.filter((h) => h.address === a).map((h) => h.name).join(", ")})`);

  const byName = new Map(hosts.map((h) => [h.name, h]));
  let learnerHosts: string[];
  if (Array.isArray(topo.learners)) {
    learnerHosts = (topo.learners as unknown[]).map(String);
    for (const n of learnerHosts) {
      const h = byName.get(n);
      if (!h) problems.push(`topology.learners names ${n}, which is not in hosts`);
      else if (h.site !== standbySite) problems.push(`topology.learners names ${n} in site ${h.site}: learners belong in the standby site ${standbySite}; site ${primarySite} holds the voters`);
      else if (!h.roles.includes("etcd")) problems.push(`topology.learners names ${n}, which has no etcd role`);
    }
  } else {
    learnerHosts = hosts.filter((h) => h.site === standbySite && h.roles.includes("etcd")).map((h) => h.name);
  }

  const e = obj(raw.etcd);
  const etcd = {
    learnerImage: str(e.learnerImage, ""),
    memberNamePrefix: str(e.memberNamePrefix, "etcd-"),
    learnerNamePrefix: str(e.learnerNamePrefix, "learner-"),
    heartbeatMs: num(e.heartbeatMs, 500, "etcd.heartbeatMs", problems),
    electionMs: num(e.electionMs, 5000, "etcd.electionMs", problems),
    maxLearners: num(e.maxLearners, 1, "etcd.maxLearners", problems),
    clientPort: num(e.clientPort, 2379, "etcd.clientPort", problems),
    peerPort: num(e.peerPort, 2380, "etcd.peerPort", problems),
    learnerTimeoutMs: num(e.learnerTimeoutMs, 600_000, "etcd.learnerTimeoutMs", problems),
    fastFirstElection: e.fastFirstElection !== false,
    revisionBump: e.revisionBump === undefined ? DEFAULT_REVISION_BUMP : (e.revisionBump as number),
  };
  problems.push(...validateRevisionBump(etcd.revisionBump, "etcd.revisionBump"));
  if (e.fastFirstElection !== undefined && typeof e.fastFirstElection !== "boolean") problems.push(`etcd.fastFirstElection must be true or false, not ${JSON.stringify(e.fastFirstElection)}`);
  if (mode !== "stretched" || learnerHosts.length > 0) {
    const imgProblems = validateImage(etcd.learnerImage, "etcd.learnerImage");
    if (imgProblems.length > 0) problems.push(`${imgProblems.join("; ")} (the etcd image the learners run, e.g. rancher/mirrored-coreos-etcd:v3.5.17)`);
    // Told from the tag in the preview (EtcdLearner's preflight reads the image itself on the host).
    const tagged = imgProblems.length === 0 ? taggedEtcdVersion(etcd.learnerImage) : undefined;
    if (tagged && etcd.revisionBump > 0 && !bumpSupported(tagged)) warnings.push(`etcd.learnerImage: ${noBumpWarning(etcd.learnerImage, tagged)}`);
  }
  if ((mode === "learner-standby" || mode === "failback") && learnerHosts.length > etcd.maxLearners) {
    problems.push(`${mode} needs ${learnerHosts.length} learners (${learnerHosts.join(", ")}) but etcd allows ${etcd.maxLearners}; list fewer in topology.learners, or raise etcd.maxLearners if your etcd allows more`);
  }
  if ((mode === "learner-standby" || mode === "failover" || mode === "rebuild" || mode === "failback") && learnerHosts.length === 0) {
    problems.push(`${mode} needs an etcd host in the standby site ${standbySite} to hold the learner`);
  }
  problems.push(...nameClashes(hosts, learnerHosts, etcd.memberNamePrefix, etcd.learnerNamePrefix));
  if (etcd.electionMs < 5 * etcd.heartbeatMs) problems.push(`etcd.electionMs (${etcd.electionMs}) must be at least 5 times etcd.heartbeatMs (${etcd.heartbeatMs})`);

  const sshRaw = obj(raw.ssh);
  const ssh = { user: str(sshRaw.user, "root"), port: num(sshRaw.port, 22, "ssh.port", problems), sudo: sshRaw.sudo === true };

  if (MODES.includes(mode) && hosts.length > 0) {
    const voters = votersOf({ mode, hosts, primarySite, learnerHosts });
    if (mode !== "failover") {
      if (voters.length < 2) {
        problems.push(`${mode} would leave ${voters.length} voter${voters.length === 1 ? "" : "s"} (${voters.map((v) => v.name).join(", ") || "none"}): a single voter cannot lose any member; give site ${primarySite} at least three etcd hosts`);
      } else if (voters.length % 2 === 0) {
        warnings.push(`${mode} gives ${voters.length} voters (${voters.map((v) => v.name).join(", ")}): an even count tolerates no more failures than ${voters.length - 1} would`);
      }
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { mode, primarySite, standbySite, hosts, learnerHosts, etcd, ssh, warnings };
}

/**
 * Names that could make a learner look like a voter (or a voter like another
 * host's): a learner prefix that equals, or begins, the voters' prefix (or the
 * reverse), a learner name equal to any voter's name, and one member name
 * claimed by two hosts. Removal and refresh find members by name, so any of
 * these would remove the wrong member or flip the learner on every refresh.
 */
export function nameClashes(hosts: readonly HostSpec[], learnerHosts: readonly string[], memberNamePrefix: string, learnerNamePrefix: string): string[] {
  const problems: string[] = [];
  for (const [field, v] of [["etcd.memberNamePrefix", memberNamePrefix], ["etcd.learnerNamePrefix", learnerNamePrefix]] as const) {
    if (!/^[A-Za-z0-9._-]{0,40}$/.test(v)) problems.push(`${field} must be letters, digits, ".", "_" and "-" (at most 40), got ${JSON.stringify(v)}`);
  }
  if (learnerNamePrefix === "" || memberNamePrefix.startsWith(learnerNamePrefix) || learnerNamePrefix.startsWith(memberNamePrefix)) {
    problems.push(
      `etcd.learnerNamePrefix ${JSON.stringify(learnerNamePrefix)} clashes with etcd.memberNamePrefix ${JSON.stringify(memberNamePrefix)} (RKE's voter names): a learner would carry a voter's name, and refresh would take it for the removed voter coming back; use a prefix of its own such as "learner-"`,
    );
  }
  const voters = hosts.filter((h) => h.roles.includes("etcd")).map((h) => ({ host: h.name, name: h.memberName ?? `${memberNamePrefix}${h.name}` }));
  for (const n of new Set(voters.map((v) => v.name))) {
    const owners = voters.filter((v) => v.name === n);
    if (owners.length > 1) problems.push(`member name ${n} is claimed by hosts ${owners.map((o) => o.host).join(" and ")}: set hosts[].memberName to each host's own RKE member name (etcdctl member list)`);
  }
  for (const h of learnerHosts) {
    const learner = `${learnerNamePrefix}${h}`;
    const clash = voters.find((v) => v.name === learner);
    if (clash) problems.push(`host ${h}'s learner would be named ${learner}, which is host ${clash.host}'s voter name: change etcd.learnerNamePrefix`);
  }
  return problems;
}

/** The etcd member name of a host's RKE voter. */
export function voterName(l: Layout, h: HostSpec): string {
  return h.memberName ?? `${l.etcd.memberNamePrefix}${h.name}`;
}

/** The member name etcd-standby gives a host's learner. */
export function learnerName(l: Layout, h: HostSpec): string {
  return `${l.etcd.learnerNamePrefix}${h.name}`;
}

/** A host's peer URL. */
export function peerUrl(l: Layout, h: HostSpec): string {
  return `https://${h.address.includes(":") ? `[${h.address}]` : h.address}:${l.etcd.peerPort}`;
}

/** A host's client URL. */
export function clientUrl(l: Layout, h: HostSpec): string {
  return `https://${h.address.includes(":") ? `[${h.address}]` : h.address}:${l.etcd.clientPort}`;
}
