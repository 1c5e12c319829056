/**
 * RkeContainerCleanup: RKE's etcd containers are gone from a host.
 *
 * Enforces the seed's order: the host's etcd member must already be out of
 * the cluster (else the stopped member would be missed by its peers and the
 * container would crash-loop; peers log "rejected the stream from peer ...
 * since it was removed"). Then each container is stopped, its restart policy
 * cleared, and it is removed or renamed `<name>-removed-<stamp>` as a backup
 * (how each of RKE's was started is kept first, in state and in a root-only
 * file on the host: keptDefinitions.ts);
 * the data directory is archived (renamed) because a learner must start on an
 * empty one. read reports containers that reappeared (e.g. `rke up`), so the
 * next preview shows the cleanup again. delete changes nothing.
 */
import { inspectContainer, inspectRunSpec, listContainers, removeContainer, renameContainer, stopForGood } from "../connection/docker";
import type { ContainerInfo, RunContainerSpec } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { ClusterConnectionArgs } from "../connection/etcd";
import { archivePath, archiveProblem, pathState } from "../connection/hostfs";
import { hostAddressView, pointsAtHost } from "../connection/hostnet";
import { withSsh } from "../connection/ssh";
import type { HostConnectionArgs, SshSession } from "../connection/ssh";
import { belongsToCluster, etcdFlagsOf, isEtcdServer, peerUrlsOf } from "../lib/etcdContainer";
import { EtcdStandbyError } from "../lib/errors";
import { hostOfUrl } from "../lib/members";
import type { Member } from "../lib/members";
import { validateEach, validateMemberName } from "../lib/validate";
import { RUN_ID, withClusterLock } from "./clusterLock";
import { keepDefinitions } from "./keptDefinitions";
import { MANAGED_LABEL, MEMBER_LABEL } from "./learnerConfig";
import { recordFileOf, RESTORE_MANAGED_VALUE, TOKEN_LABEL } from "./restore/settings";
import { checkCluster, checkContainerList, checkHost, clusterOf, hasUnknown, hostOf, Problems, progress, stamp, stored, typedProvider } from "./common";
import type { Props } from "./common";
import { diffByTable, recordedState, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "RkeContainerCleanup";

/** RKE's etcd containers. */
export const DEFAULT_CONTAINERS = ["etcd", "etcd-rolling-snapshots"];
/** RKE's etcd data directory on the host. */
export const DEFAULT_DATA_DIR = "/var/lib/etcd";

/** RkeContainerCleanup's inputs, resolved (documented on RkeContainerCleanupArgs). */
export type ContainerCleanupInputs = {
  host: HostConnectionArgs;
  cluster?: ClusterConnectionArgs;
  containers?: string[];
  mode?: "remove" | "rename";
  dataDir?: string;
  archiveDataDir?: boolean;
  ignoreMembers?: string[];
  /** A restored one-member etcd (EtcdStandaloneRestore) that may be cleaned: its member name and cluster token. */
  restoredMember?: { memberName: string; clusterToken: string };
  force?: boolean;
};

/** What RkeContainerCleanup reports. */
export type ContainerCleanupResult = {
  removedContainers: string[];
  renamedContainers: Record<string, string>;
  alreadyAbsent: string[];
  dataDirArchivedTo: string;
  recordArchivedTo: string;
  /** Set by refresh: containers back on the host. */
  reappeared: string[];
  /** How each cleaned container was started, by name (kept across re-cleans). */
  containerSpecs: Record<string, RunContainerSpec>;
};

/** RkeContainerCleanup's state: its inputs and what it reports. */
export type ContainerCleanupOutputs = ContainerCleanupInputs & ContainerCleanupResult;

const NO_MEMBERS: string[] = [];

/**
 * Each input's default and what a change does: another host, other
 * containers or another data dir is another cleanup (deleting first); the
 * rest only matters for a future cleanup and is recorded.
 */
export const CONTAINER_CLEANUP_FIELDS = {
  host: { effect: "replace" },
  cluster: { effect: "record" },
  containers: { effect: "replace", default: DEFAULT_CONTAINERS },
  mode: { effect: "record", default: "remove" },
  dataDir: { effect: "replace", default: DEFAULT_DATA_DIR },
  archiveDataDir: { effect: "record", default: true },
  ignoreMembers: { effect: "record", default: NO_MEMBERS },
  restoredMember: { effect: "record" },
  force: { effect: "record", default: false },
} as const satisfies Fields<ContainerCleanupInputs>;

function settings(props: ContainerCleanupInputs) {
  return { ...withDefaults(CONTAINER_CLEANUP_FIELDS, props), restoredMember: props.restoredMember ?? undefined };
}

type Settings = ReturnType<typeof settings>;

/**
 * The restored etcd named by `restoredMember`: EtcdStandaloneRestore's
 * container, started for that member name with that cluster token (its
 * labels). Fail back cleans it once its member has left the cluster; it is
 * etcd-standby's own and its `--initial-cluster` names only itself, so the
 * generic lineage and ownership checks would refuse it.
 */
function isRestoredMember(info: ContainerInfo, s: Settings): boolean {
  const r = s.restoredMember;
  return r !== undefined && info.labels[MANAGED_LABEL] === RESTORE_MANAGED_VALUE && info.labels[MEMBER_LABEL] === r.memberName && info.labels[TOKEN_LABEL] === r.clusterToken;
}

/** The member an etcd-standby container was started for: its member label, else its etcd `--name`; undefined when neither says. */
function memberOfContainer(info: ContainerInfo): string | undefined {
  return info.labels[MEMBER_LABEL] ?? etcdFlagsOf(info.argv, info.env).name;
}

/** What the preflight learned: read only, judged before anything changes. */
interface CleanupPlan {
  /** Containers present, by name, as inspected. */
  present: ContainerInfo[];
  absent: string[];
  /** Why the data dir cannot be archived, if it cannot. */
  archiveProblem: string | undefined;
}

/**
 * Preflight, reads only: which containers are there; no member of the
 * cluster still lives on the host (its peer URLs resolved on the host
 * itself, so `https://master3:2380` and `https://10.0.0.3:2380` are one
 * host); every etcd server container among them belongs to this cluster
 * (its `--initial-cluster` names a current member on another host); none is
 * etcd-standby's own; the data dir can be archived. Throws the first problem.
 */
async function preflight(ssh: SshSession, s: Settings, members: Member[] | undefined): Promise<CleanupPlan> {
  const host = ssh.host;
  const infos = await Promise.all(s.containers.map((name) => inspectContainer(ssh, name)));
  const present = infos.filter((i) => i.exists);
  const absent = infos.filter((i) => !i.exists).map((i) => i.name);
  const etcdServers = present.filter((info) => !isRestoredMember(info, s)).map((info) => ({ info, flags: etcdFlagsOf(info.argv, info.env) })).filter((c) => isEtcdServer(c.info.argv, c.flags));
  const names = new Set<string>();
  for (const m of members ?? []) for (const u of m.peerURLs) names.add(hostOfUrlOr(u));
  for (const c of etcdServers) for (const p of peerUrlsOf(c.flags)) names.add(hostOfUrlOr(p.url));
  names.delete("");
  const [view, archiveWhy] = await Promise.all([
    members ? hostAddressView(ssh, [...names]) : Promise.resolve(undefined),
    s.archiveDataDir ? archiveProblem(ssh, s.dataDir) : Promise.resolve(undefined),
  ]);
  if (members && view) {
    const ignored = s.ignoreMembers;
    const onHost = members.filter((m) => m.peerURLs.some((u) => pointsAtHost(view, hostOfUrlOr(u))) && !(m.name !== "" && ignored.includes(m.name)));
    if (onHost.length > 0) {
      const list = onHost.map((m) => `${m.name || "(unstarted)"} (${m.id}, ${m.peerURLs.join(", ")})`).join(", ");
      if (s.force) {
        progress(WHAT, `WARNING: ${list} still has a peer URL on ${host}; cleaning anyway because force is set`);
      } else {
        throw new EtcdStandbyError(
          "Refused",
          `refusing to clean ${host}: member ${list} of the cluster still has a peer URL on this host (resolved on the host to ${view.own.filter((a) => a !== "127.0.0.1" && a !== "::1").join(", ")}); nothing was changed`,
          "remove the member first (EtcdMemberRemoval, or `etcdctl member remove ID`), as the seed does, then run pulumi up again; or set force: true if you know the member is gone for good",
          { host, member: onHost[0].name || onHost[0].id },
        );
      }
    }
    const memberUrls = members.flatMap((m) => m.peerURLs);
    for (const c of etcdServers) {
      const verdict = belongsToCluster(peerUrlsOf(c.flags), memberUrls, (h) => view.resolved[h] ?? [], (h) => pointsAtHost(view, h));
      if (!verdict.belongs) {
        throw new EtcdStandbyError(
          "Refused",
          `refusing to clean ${host}: container ${c.info.name} runs an etcd (${c.flags.name ?? "no --name"}, --initial-cluster=${c.flags["initial-cluster"] ?? "none"}) that names no current member of this cluster (${members.map((m) => `${m.name || m.id}=${m.peerURLs.join("|")}`).join(", ")}): it belongs to another cluster, or the host is not the one meant; nothing was changed`,
          "check the host's address in the config; stop that container by hand only if you are sure it is this cluster's",
          { host },
        );
      }
    }
  }
  for (const info of present) {
    if (info.labels[MANAGED_LABEL] !== undefined && !s.force && !isRestoredMember(info, s)) {
      const member = memberOfContainer(info);
      // No member of the cluster lives on this host (checked above): etcd-standby's container of a member the
      // cluster does not have is one of a cluster that is gone (the last DR loop's), cleaned like RKE's.
      if (members !== undefined && !members.some((m) => m.name !== "" && m.name === member)) {
        progress(WHAT, `${info.name} on ${host} is etcd-standby's (${info.labels[MANAGED_LABEL]}${member ? `, member ${member}` : ""}) but of a cluster that is gone: ${member ? `${member} is no member of this cluster` : "it names no member"}, and no member of this cluster lives on ${host}; cleaning it like RKE's`);
        continue;
      }
      throw new EtcdStandbyError("Refused", `container ${info.name} on ${host} is managed by etcd-standby (${info.labels[MANAGED_LABEL]}${member ? `, member ${member} of this cluster` : ""}), not RKE's; nothing was changed`, "leave it to its own resource, or set force: true", { host });
    }
  }
  if (archiveWhy !== undefined) {
    throw new EtcdStandbyError("Refused", `refusing to clean ${host}: ${archiveWhy}; nothing was changed`, `fix the permissions of ${s.dataDir}, or set archiveDataDir: false and empty it yourself`, { host });
  }
  return { present, absent, archiveProblem: archiveWhy };
}

function hostOfUrlOr(url: string): string {
  try {
    return hostOfUrl(url);
  } catch {
    return "";
  }
}

async function clean(props: ContainerCleanupInputs): Promise<ContainerCleanupResult> {
  const host = hostOf(props);
  const s = settings(props);
  const when = stamp();
  const work = (members: Member[] | undefined) =>
    withSsh(host, async (ssh) => {
      const plan = await preflight(ssh, s, members);
      const removed: string[] = [];
      const renamed: Record<string, string> = {};
      // How each was started, kept in state (a secret: RKE may pass S3 keys as arguments), so it can be started again after a failover.
      const specs: Record<string, RunContainerSpec> = {};
      for (const info of plan.present) {
        const spec = await inspectRunSpec(ssh, info.name).catch(() => undefined);
        if (spec) specs[info.name] = spec;
      }
      // Kept on the host too, root-only, before anything is stopped: state is saved only when this ends (keptDefinitions.ts).
      const rkes = plan.present.filter((info) => info.labels[MANAGED_LABEL] === undefined && specs[info.name] !== undefined).map((info) => specs[info.name]);
      const kept = await keepDefinitions(ssh, rkes);
      if (kept.length > 0) progress(WHAT, `kept the definitions of ${rkes.map((x) => x.name).join(", ")} on ${host.host} in ${kept.join(", ")} (root only)`);
      for (const info of plan.present) {
        const name = info.name;
        progress(WHAT, `stopping ${name} on ${host.host} (run ${RUN_ID})`);
        await stopForGood(ssh, name);
        if (s.mode === "rename") {
          const to = `${name}-removed-${when}`;
          await renameContainer(ssh, name, to);
          renamed[name] = to;
        } else {
          await removeContainer(ssh, name, { force: true });
          removed.push(name);
        }
      }
      const still: string[] = [];
      for (const name of s.containers) if ((await inspectContainer(ssh, name)).exists) still.push(name);
      if (still.length > 0) {
        throw new EtcdStandbyError("Refused", `containers ${still.join(", ")} are still present on ${host.host} after cleanup`, "check whether something re-creates them (rke up, a supervisor) and run pulumi up again", { host: host.host });
      }
      let dataDirArchivedTo = "";
      // Never archive a data dir that one of our own containers (a learner, a restored etcd) uses.
      const users: string[] = [];
      const cleaned = new Set([...removed, ...Object.values(renamed)]);
      for (const name of await listContainers(ssh, { label: MANAGED_LABEL })) {
        if (cleaned.has(name)) continue;
        const info = await inspectContainer(ssh, name);
        if (info.mountSources.some((m) => m === s.dataDir || m.startsWith(`${s.dataDir}/`))) users.push(name);
      }
      if (s.archiveDataDir && users.length > 0) {
        progress(WHAT, `not archiving ${s.dataDir} on ${host.host}: it is in use by ${users.join(", ")} (managed by etcd-standby)`);
      } else if (s.archiveDataDir) {
        const st = await pathState(ssh, s.dataDir);
        if (st === "non-empty-dir" || st === "file") {
          const r = await archivePath(ssh, s.dataDir, `${s.dataDir}.removed-${when}`);
          dataDirArchivedTo = r.to;
          progress(WHAT, `archived ${s.dataDir} to ${r.to} on ${host.host}${r.inPlace ? " (it is a mount point: its contents were moved inside it)" : ""}`);
        }
      }
      // Fail back: the restore's record goes with its data, or a later failover's restore would find a
      // "verified" record without its container and refuse.
      let recordArchivedTo = "";
      if (s.restoredMember && (await pathState(ssh, recordFileOf(s.dataDir))) === "file") {
        const r = await archivePath(ssh, recordFileOf(s.dataDir), recordFileOf(`${s.dataDir}.removed-${when}`));
        recordArchivedTo = r.to;
        progress(WHAT, `archived the restore's record ${recordFileOf(s.dataDir)} to ${r.to} on ${host.host}`);
      }
      progress(WHAT, `${host.host}: removed [${removed.join(", ")}], renamed [${Object.entries(renamed).map(([a, b]) => `${a} -> ${b}`).join(", ")}], already absent [${plan.absent.join(", ")}]`);
      return { removedContainers: removed, renamedContainers: renamed, alreadyAbsent: plan.absent, dataDirArchivedTo, recordArchivedTo, reappeared: [], containerSpecs: specs };
    });
  if (props.cluster === undefined || props.cluster === null) return work(undefined);
  const conn = clusterOf(props);
  return withEtcd(conn, (etcd) => withClusterLock(etcd, `RkeContainerCleanup on ${host.host}`, conn.lockWaitMs, async () => work(await etcd.memberList())));
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<ContainerCleanupInputs, ContainerCleanupOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    if (news.cluster !== undefined) checkCluster(p, news.cluster);
    else if (news.force !== true) p.add("cluster", news.cluster, ["cluster is required to verify the host's member was removed first (or set force: true)"]);
    checkContainerList(p, news.containers, [{ field: "dataDir", value: news.dataDir }]);
    if (news.ignoreMembers !== undefined) p.add("ignoreMembers", news.ignoreMembers, validateEach(news.ignoreMembers, "ignoreMembers", validateMemberName));
    const rm: unknown = news.restoredMember;
    if (rm !== undefined && !hasUnknown(rm) && (rm === null || typeof rm !== "object" || typeof (rm as Props).memberName !== "string" || typeof (rm as Props).clusterToken !== "string" || (rm as Props).clusterToken === "")) {
      p.add("restoredMember", "(value)", ["restoredMember must be { memberName, clusterToken }: the restored etcd's member name and cluster token (EtcdStandaloneRestore's newClusterToken)"]);
    }
    if (news.mode !== undefined && news.mode !== "remove" && news.mode !== "rename") {
      p.add("mode", news.mode, [`mode must be "remove" or "rename", got ${JSON.stringify(news.mode)}`]);
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    // Containers back on the host (rke up): clean again, as an update, so what was recorded about them stays.
    return diffByTable(CONTAINER_CLEANUP_FIELDS, olds, news, { deleteBeforeReplace: true, pending: Array.isArray(olds.reappeared) && olds.reappeared.length > 0 });
  },

  async create(inputs) {
    const outs = await clean(inputs);
    return { id: `cleanup-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const s = settings(props);
    const reappeared = await withSsh(hostOf(props), async (ssh) => {
      const back: string[] = [];
      for (const name of s.containers) {
        const info = await inspectContainer(ssh, name);
        // Containers of our own resources (a restored `etcd`) are not RKE's coming back.
        if (info.exists && info.labels[MANAGED_LABEL] === undefined) back.push(name);
      }
      return back;
    });
    return { id, props: { ...props, reappeared } };
  },

  async update(_id, olds, news) {
    if (Array.isArray(olds.reappeared) && olds.reappeared.length > 0) {
      // Clean again; keep the definitions recorded earlier (etcd-rolling-snapshots is not back, only etcd, say).
      const outs = await clean(news);
      return { outs: { ...recordedState(CONTAINER_CLEANUP_FIELDS, olds, news), ...outs, containerSpecs: { ...olds.containerSpecs, ...outs.containerSpecs } } };
    }
    // Connection or settings changed: nothing on the host changes; keep what was done.
    return { outs: { ...recordedState(CONTAINER_CLEANUP_FIELDS, olds, news), reappeared: [] } };
  },

  async delete() {
    // Deleting the resource does not bring RKE's containers back.
  },
});
