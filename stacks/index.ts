/**
 * The stack program: the two-site layout from `stacks/Pulumi.<stack>.yaml`,
 * converged with the provider's resources in the seed's order. For each
 * standby-site etcd host: EtcdMemberRemoval (RKE's voter) -> RkeContainerCleanup
 * -> EtcdLearner, plus EtcdLearnerPromotion in `stretched` mode.
 *
 * In `failover` mode the same resources are declared unchanged (so nothing
 * contacts site A), and the first standby learner becomes a one-member
 * cluster (EtcdStandaloneRestore), after which the standby site's Kubernetes
 * components are restarted and its kube-apiservers checked (KubeRestart:
 * @pulumi/command remote commands, triggered by the new cluster ID).
 *
 * Config mistakes are refused at preview, all in one message, before any
 * resource is declared. Nothing environment-specific lives here.
 */
import * as pulumi from "@pulumi/pulumi";
import { EtcdLearner, EtcdLearnerPromotion, EtcdMemberRemoval, EtcdStandaloneRestore, RkeContainerCleanup } from "../provider";
import { KubeRestart } from "../provider/components/kubeRestart";
import type { ClusterConnection, HostConnection } from "../provider";
import { ConfigError, parseLayout, voterName } from "./config";
import type { Layout, RawConfig } from "./config";
import { afterFailover } from "./afterFailover";
import { apiServersToVoters } from "./apiServers";
import { failbackAfterLearner, failbackBeforeLearner } from "./failback";
import type { Failback } from "./failback";
import { rebuild } from "./rebuild";
import { loadCredentials, unpinnedHosts } from "./credentials";
import { clientEndpoints, planHosts, providerEndpoints } from "./plan";

const config = new pulumi.Config();

function objectOrString(key: string): unknown {
  const v = config.get(key);
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

/** Reads the raw config; `topology.mode` may be set flat (`pulumi config set topology.mode X`) or with --path. */
function rawConfig(): RawConfig {
  const topology = objectOrString("topology");
  const flatMode = config.get("topology.mode");
  const merged = flatMode !== undefined ? { ...(typeof topology === "object" && topology !== null ? topology : {}), mode: flatMode } : topology;
  return { topology: merged, sites: objectOrString("sites"), hosts: objectOrString("hosts"), etcd: objectOrString("etcd"), ssh: objectOrString("ssh") };
}

function load(): { layout: Layout; creds: ReturnType<typeof loadCredentials> } {
  const problems: string[] = [];
  let layout: Layout | undefined;
  try {
    layout = parseLayout(rawConfig());
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  const creds = loadCredentials(config, layout?.hosts ?? [], problems);
  problems.push(...unpinnedHosts(layout?.hosts ?? [], creds.hostKeys));
  if (problems.length > 0 || !layout) throw new pulumi.RunError(new ConfigError(problems).message);
  return { layout, creds };
}

const { layout, creds } = load();
for (const w of layout.warnings) void pulumi.log.warn(w);

const cluster: ClusterConnection = {
  endpoints: providerEndpoints(layout),
  caPem: creds.caPem,
  certPem: creds.certPem,
  keyPem: creds.etcdKey,
};

interface MemberRow {
  name: string;
  host: string;
  site: string;
  role: "voter" | "learner";
  learner: boolean;
  lag: number | null;
}

const rows: pulumi.Output<MemberRow>[] = layout.hosts
  .filter((h) => h.site === layout.primarySite && h.roles.includes("etcd"))
  .map((h) => pulumi.output({ name: h.memberName ?? `${layout.etcd.memberNamePrefix}${h.name}`, host: h.name, site: h.site, role: "voter" as const, learner: false, lag: null }));

function hostConnection(address: string): HostConnection {
  return {
    host: address,
    port: layout.ssh.port,
    user: layout.ssh.user,
    sudo: layout.ssh.sudo,
    privateKey: creds.sshKey,
    hostPublicKey: creds.hostKeys.get(address),
  };
}

/** Each standby host's cleanup: failover reads back how RKE ran its etcd-rolling-snapshots there. */
const cleanups = new Map<string, RkeContainerCleanup>();
const promotions: EtcdLearnerPromotion[] = [];

/** The SSH details @pulumi/command (KubeRestart) needs for a host. */
function commandHost(address: string): { port: number; user: string; sudo: boolean; privateKey: pulumi.Input<string>; hostKey: string } {
  return { port: layout.ssh.port, user: layout.ssh.user, sudo: layout.ssh.sudo, privateKey: creds.sshKey, hostKey: creds.hostKeys.get(address) ?? "" };
}

/** Failover, rebuild and fail back: the first standby learner became the cluster (EtcdStandaloneRestore). */
const afterFailoverMode = layout.mode === "failover" || layout.mode === "rebuild" || layout.mode === "failback";
const restoredPlan = planHosts(layout)[0];
const restore = afterFailoverMode
  ? new EtcdStandaloneRestore(`restore-${restoredPlan.host.name}`, {
      host: hostConnection(restoredPlan.host.address),
      cluster,
      learner: { memberName: restoredPlan.learnerMember, peerURL: restoredPlan.peerURL, clientURL: restoredPlan.clientURL },
      image: layout.etcd.learnerImage,
      heartbeatMs: layout.etcd.heartbeatMs,
      electionMs: layout.etcd.electionMs,
      // Failover: a short first election (100/500 ms). Rebuild and fail back: an update first restarts the restored
      // member with the cluster's timing, before any other member joins (a pause of writes: its start and first election).
      fastFirstElection: layout.mode === "failover" && layout.etcd.fastFirstElection,
      revisionBump: layout.etcd.revisionBump,
      // Recorded once fail back starts: this restore never runs again (a later failover needs learner-standby first).
      ...(layout.mode === "failback" ? { failedBack: true } : {}),
    })
  : undefined;
// Rebuild (and after it, fail back): the primary site's etcd hosts join the new cluster one by one. In rebuild
// mode the new cluster is reached at the restored member; in fail back at site A's members (the restored one
// leaves), so a refresh never asks the standby host's learner.
const rebuilt = restore && (layout.mode === "rebuild" || layout.mode === "failback")
  ? rebuild(layout, layout.mode === "rebuild" ? { ...cluster, endpoints: [restore.endpoint] } : cluster, hostConnection, [restore])
  : undefined;

// Learner-standby: every kube-apiserver talks to the voters only before the standby voter goes (a learner refuses its RPCs).
const toVoters = layout.mode === "learner-standby" ? apiServersToVoters(layout, hostConnection) : [];
// Fail back: the API servers at site A's voters, then the restored member and its container gone; the learner follows.
const failback: Failback | undefined = restore && rebuilt && layout.mode === "failback"
  ? failbackBeforeLearner({ layout, cluster, hostConnection, commandHost, restoredHost: restoredPlan, restore, after: rebuilt.promotions.slice(-1) })
  : undefined;

for (const p of planHosts(layout)) {
  const host = hostConnection(p.host.address);
  // Name and peer URL together: the removal refuses a member whose name and host disagree with the config.
  const removal = new EtcdMemberRemoval(`remove-${p.host.name}`, { cluster, memberName: p.removeMember, peerURL: p.peerURL }, { dependsOn: toVoters.slice(-1) });
  const cleanup = new RkeContainerCleanup(`clean-${p.host.name}`, { cluster, host, ignoreMembers: [p.learnerMember] }, { dependsOn: [removal] });
  cleanups.set(p.host.name, cleanup);
  const learner = new EtcdLearner(
    `learner-${p.host.name}`,
    {
      cluster,
      host,
      memberName: p.learnerMember,
      peerURL: p.peerURL,
      clientURL: p.clientURL,
      image: layout.etcd.learnerImage,
      heartbeatMs: layout.etcd.heartbeatMs,
      electionMs: layout.etcd.electionMs,
      maxLearners: layout.etcd.maxLearners,
      timeoutMs: layout.etcd.learnerTimeoutMs,
      allowPromoted: p.promote,
      // Fail back: the learner of the restored cluster (an update that starts it there, on a fresh data dir).
      ...(failback && restore ? { joinClusterId: restore.newClusterId } : {}),
    },
    { dependsOn: [cleanup, ...(failback ? [failback.clean] : [])] },
  );
  if (p.promote) {
    promotions.push(new EtcdLearnerPromotion(`promote-${p.host.name}`, { cluster, memberName: p.learnerMember, peerURL: p.peerURL, timeoutMs: layout.etcd.learnerTimeoutMs }, { dependsOn: [learner] }));
  }
  rows.push(
    pulumi.all([learner.isLearner, learner.lag]).apply(([isLearner, lag]) => ({
      name: p.learnerMember,
      host: p.host.name,
      site: p.host.site,
      role: isLearner ? ("learner" as const) : ("voter" as const),
      learner: isLearner,
      lag,
    })),
  );
}

// Stretched: the promoted members are voters again, and the API servers may use them.
if (layout.mode === "stretched") apiServersToVoters(layout, hostConnection, promotions);

/** Failover and rebuild: site A fenced, site B re-pointed and its Kubernetes components restarted. */
function failover(restore: EtcdStandaloneRestore): { row: pulumi.Output<MemberRow>; rebuiltRows: pulumi.Output<MemberRow>[]; rebuiltEndpoints: string[] } {
  const p = restoredPlan;
  // The old site fenced (not waited for; in rebuild mode not the rebuilt hosts), kube-apiserver and nginx-proxy re-pointed, backups back.
  const after = afterFailover({
    layout,
    cluster,
    hostConnection,
    restoredHost: p,
    cleanup: cleanups.get(p.host.name),
    restore,
    rebuilt: rebuilt ? layout.hosts.filter((h) => h.site === layout.primarySite && h.roles.includes("etcd")).map((h) => h.name) : [],
    etcdServers: rebuilt ? pulumi.all([restore.endpoint]).apply(([e]) => [e, ...rebuilt.endpoints].join(",")) : undefined,
    etcdServersAfter: rebuilt?.promotions,
  });
  kubeRestart(restore, after.repoints);
  const row = restore.newMemberId.apply(() => ({ name: "new-cluster", host: p.host.name, site: p.host.site, role: "voter" as const, learner: false, lag: null }));
  const rebuiltHosts = layout.hosts.filter((h) => h.site === layout.primarySite && h.roles.includes("etcd"));
  const rebuiltRows = (rebuilt?.promotions ?? []).map((pr, i) =>
    pr.isVoter.apply((v) => ({ name: voterName(layout, rebuiltHosts[i]), host: rebuiltHosts[i].name, site: rebuiltHosts[i].site, role: v ? ("voter" as const) : ("learner" as const), learner: !v, lag: null })),
  );
  return { row, rebuiltRows, rebuiltEndpoints: rebuilt?.endpoints ?? [] };
}

/**
 * RKE runs kubelet and kube-proxy on every node, the control plane on controlplane hosts: each standby
 * host restarts those of RKE's five components it has (absent ones are reported), once per new cluster.
 */
function kubeRestart(restore: EtcdStandaloneRestore, after: pulumi.Resource[]): KubeRestart {
  return new KubeRestart("restart-kube", {
    trigger: restore.newClusterId,
    hosts: layout.hosts.filter((x) => x.site === layout.standbySite).map((h) => ({ name: h.name, address: h.address, ...commandHost(h.address), apiServer: h.roles.includes("controlplane") })),
  }, { dependsOn: [restore, ...after] });
}

const restored = restore && !failback ? failover(restore) : undefined;
if (restore && failback) {
  // The standby site's components were restarted once for this cluster: declared unchanged, they do not run again.
  kubeRestart(restore, failback.apiServers);
  failbackAfterLearner({ layout, cluster, hostConnection, commandHost, restoredHost: restoredPlan, restore, after: [] }, failback);
}

/** The topology mode this stack converged to. */
export const mode = layout.mode;
/** One row per etcd member: name, host, site, role, learner, lag (entries behind the leader; null when not observed). */
export const members = restored ? pulumi.all([restored.row, ...restored.rebuiltRows]) : pulumi.all(rows);
/** The endpoints clients (kube-apiserver) should use: voters only; learners serve no linearizable reads. */
export const endpoints = restore && restored ? pulumi.all([restore.endpoint, ...restored.rebuiltEndpoints]) : pulumi.output(clientEndpoints(layout));
/**
 * After a failover: the new cluster's ID, its restored revision (before the bump) and the bump applied (0: the
 * learner image's restore tool lacks it: restart every Kubernetes client), how the learner was recorded, the
 * data-loss window (revisions) and the time per phase; null before one.
 */
export const failoverReport = restore
  ? pulumi.output({
      newClusterId: restore.newClusterId,
      restoredRevision: restore.restoredRevision,
      bumpApplied: restore.bumpApplied,
      recordedFrom: restore.recordedFrom,
      learnerRevision: restore.learnerRevision,
      dataLossWindow: restore.dataLossWindow,
      keysBefore: restore.keysBefore,
      keysAfter: restore.keysAfter,
      phaseMs: restore.phaseMs,
    })
  : null;
/** Config warnings (accepted, but worth knowing). */
export const warnings = layout.warnings;
