/**
 * The stack program: the two-site layout from `stacks/Pulumi.<stack>.yaml`,
 * converged with the provider's resources in the seed's order. For each
 * standby-site etcd host: EtcdMemberRemoval (RKE's voter) -> RkeContainerCleanup
 * -> EtcdLearner, plus EtcdLearnerPromotion in `stretched` mode.
 *
 * In `failover` mode the same resources are declared unchanged (so nothing
 * contacts site A), and the first standby learner becomes a one-member
 * cluster (EtcdStandaloneRestore), after which the standby site's Kubernetes
 * components are restarted (KubeComponentsRestart, triggered by the new
 * cluster ID).
 *
 * Config mistakes are refused at preview, all in one message, before any
 * resource is declared. Nothing environment-specific lives here.
 */
import * as pulumi from "@pulumi/pulumi";
import { EtcdLearner, EtcdLearnerPromotion, EtcdMemberRemoval, EtcdStandaloneRestore, KubeComponentsRestart, RkeContainerCleanup } from "../provider";
import type { ClusterConnection, HostConnection } from "../provider";
import { ConfigError, parseLayout } from "./config";
import type { Layout, RawConfig } from "./config";
import { loadCredentials } from "./credentials";
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
  for (const p of layout ? planHosts(layout) : []) {
    if (!creds.hostKeys.has(p.host.address)) {
      problems.push(`host ${p.host.name} (${p.host.address}) has no pinned SSH host key: set hostPublicKey on it (ssh-keyscan -t ed25519 ${p.host.address}) or ssh.knownHostsFile`);
    }
  }
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

for (const p of planHosts(layout)) {
  const host = hostConnection(p.host.address);
  const removal = new EtcdMemberRemoval(`remove-${p.host.name}`, { cluster, memberName: p.removeMember });
  const cleanup = new RkeContainerCleanup(`clean-${p.host.name}`, { cluster, host, ignoreMembers: [p.learnerMember] }, { dependsOn: [removal] });
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
    },
    { dependsOn: [cleanup] },
  );
  if (p.promote) {
    new EtcdLearnerPromotion(`promote-${p.host.name}`, { cluster, memberName: p.learnerMember, timeoutMs: layout.etcd.learnerTimeoutMs }, { dependsOn: [learner] });
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

/** Failover: the first standby learner becomes the cluster, then site B's Kubernetes components restart. */
function failover(): { restore: EtcdStandaloneRestore; row: pulumi.Output<MemberRow> } {
  const [p] = planHosts(layout);
  const restore = new EtcdStandaloneRestore(`restore-${p.host.name}`, {
    host: hostConnection(p.host.address),
    cluster,
    learner: { memberName: p.learnerMember, peerURL: p.peerURL, clientURL: p.clientURL },
    image: layout.etcd.learnerImage,
    heartbeatMs: layout.etcd.heartbeatMs,
    electionMs: layout.etcd.electionMs,
  });
  for (const h of layout.hosts.filter((x) => x.site === layout.standbySite && (x.roles.includes("controlplane") || x.roles.includes("worker")))) {
    new KubeComponentsRestart(`restart-kube-${h.name}`, { host: hostConnection(h.address), trigger: restore.newClusterId }, { dependsOn: [restore] });
  }
  const row = restore.newMemberId.apply(() => ({ name: "new-cluster", host: p.host.name, site: p.host.site, role: "voter" as const, learner: false, lag: null }));
  return { restore, row };
}

const restored = layout.mode === "failover" ? failover() : undefined;

/** The topology mode this stack converged to. */
export const mode = layout.mode;
/** One row per etcd member: name, host, site, role, learner, lag (entries behind the leader; null when not observed). */
export const members = restored ? pulumi.all([restored.row]) : pulumi.all(rows);
/** The endpoints clients (kube-apiserver) should use: voters only; learners serve no linearizable reads. */
export const endpoints = restored ? pulumi.all([restored.restore.endpoint]) : pulumi.output(clientEndpoints(layout));
/** After a failover: the new cluster's ID, its restored revision, the data-loss window (revisions) and the time per phase. */
export const failoverReport = restored
  ? pulumi.all([restored.restore.newClusterId, restored.restore.restoredRevision, restored.restore.learnerRevision, restored.restore.dataLossWindow, restored.restore.keysBefore, restored.restore.keysAfter, restored.restore.phaseMs]).apply(
      ([newClusterId, restoredRevision, learnerRevision, dataLossWindow, keysBefore, keysAfter, phaseMs]) => ({ newClusterId, restoredRevision, learnerRevision, dataLossWindow, keysBefore, keysAfter, phaseMs }),
    )
  : undefined;
/** Config warnings (accepted, but worth knowing). */
export const warnings = layout.warnings;
