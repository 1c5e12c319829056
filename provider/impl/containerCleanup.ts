/**
 * RkeContainerCleanup: RKE's etcd containers are gone from a host.
 *
 * Enforces the seed's order: the host's etcd member must already be out of
 * the cluster (else the stopped member would be missed by its peers and the
 * container would crash-loop; peers log "rejected the stream from peer ...
 * since it was removed"). Then each container is stopped, its restart policy
 * cleared, and it is removed or renamed `<name>-removed-<stamp>` as a backup;
 * the data directory is archived (renamed) because a learner must start on an
 * empty one. read reports containers that reappeared (e.g. `rke up`), so the
 * next preview shows the cleanup again. delete changes nothing.
 */
import { inspectContainer, listContainers, removeContainer, renameContainer, stopForGood } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import { archivePath, pathState } from "../connection/hostfs";
import { withSsh } from "../connection/ssh";
import { EtcdStandbyError } from "../lib/errors";
import { hostOfUrl } from "../lib/members";
import { validateEach, validateMemberName } from "../lib/validate";
import { MANAGED_LABEL } from "./learnerSpec";
import { checkCluster, checkHost, checkNamesAndPath, clusterOf, diffFields, hostOf, Problems, progress, stamp } from "./common";
import type { ProviderImpl, Props } from "./common";

const WHAT = "RkeContainerCleanup";

/** RKE's etcd containers. */
export const DEFAULT_CONTAINERS = ["etcd", "etcd-rolling-snapshots"];
/** RKE's etcd data directory on the host. */
export const DEFAULT_DATA_DIR = "/var/lib/etcd";

interface Settings {
  containers: string[];
  mode: "remove" | "rename";
  dataDir: string;
  archiveDataDir: boolean;
  force: boolean;
}

function settings(props: Props): Settings {
  return {
    containers: Array.isArray(props.containers) ? (props.containers as string[]) : DEFAULT_CONTAINERS,
    mode: props.mode === "rename" ? "rename" : "remove",
    dataDir: typeof props.dataDir === "string" ? props.dataDir : DEFAULT_DATA_DIR,
    archiveDataDir: props.archiveDataDir !== false,
    force: props.force === true,
  };
}

/** Refuses while a member of the cluster still lives on this host (matched by peer URL host). */
async function refuseLiveMember(props: Props, address: string): Promise<void> {
  if (props.cluster === undefined || props.cluster === null) return;
  const members = await withEtcd(clusterOf(props), (etcd) => etcd.memberList());
  const ignored = Array.isArray(props.ignoreMembers) ? (props.ignoreMembers as string[]) : [];
  const onHost = members.filter((m) => m.peerURLs.some((u) => hostOfUrl(u) === address) && !(m.name !== "" && ignored.includes(m.name)));
  if (onHost.length === 0) return;
  const names = onHost.map((m) => `${m.name || "(unstarted)"} (${m.id})`).join(", ");
  if (settings(props).force) {
    progress(WHAT, `WARNING: ${names} still has a peer URL on ${address}; cleaning anyway because force is set`);
    return;
  }
  throw new EtcdStandbyError(
    "Refused",
    `refusing to clean ${address}: member ${names} of the cluster still has a peer URL on this host`,
    "remove the member first (EtcdMemberRemoval, or `etcdctl member remove ID`), as the seed does, then run pulumi up again; or set force: true if you know the member is gone for good",
    { host: address, member: onHost[0].name || onHost[0].id },
  );
}

async function clean(props: Props): Promise<Props> {
  const host = hostOf(props);
  const s = settings(props);
  await refuseLiveMember(props, host.host);
  const when = stamp();
  return withSsh(host, async (ssh) => {
    const removed: string[] = [];
    const renamed: Record<string, string> = {};
    const absent: string[] = [];
    for (const name of s.containers) {
      const info = await inspectContainer(ssh, name);
      if (!info.exists) {
        absent.push(name);
        continue;
      }
      if (info.labels[MANAGED_LABEL] !== undefined && !s.force) {
        throw new EtcdStandbyError("Refused", `container ${name} on ${host.host} is managed by etcd-standby (${info.labels[MANAGED_LABEL]}), not RKE's`, "leave it to its own resource, or set force: true", { host: host.host });
      }
      progress(WHAT, `stopping ${name} on ${host.host}`);
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
    for (const name of await listContainers(ssh, { label: MANAGED_LABEL })) {
      const info = await inspectContainer(ssh, name);
      if (info.mountSources.some((m) => m === s.dataDir || m.startsWith(`${s.dataDir}/`))) users.push(name);
    }
    if (s.archiveDataDir && users.length > 0) {
      progress(WHAT, `not archiving ${s.dataDir} on ${host.host}: it is in use by ${users.join(", ")} (managed by etcd-standby)`);
    } else if (s.archiveDataDir) {
      const st = await pathState(ssh, s.dataDir);
      if (st === "non-empty-dir" || st === "file") {
        const to = `${s.dataDir}.removed-${when}`;
        await archivePath(ssh, s.dataDir, to);
        dataDirArchivedTo = to;
        progress(WHAT, `archived ${s.dataDir} to ${to} on ${host.host}`);
      }
    }
    progress(WHAT, `${host.host}: removed [${removed.join(", ")}], renamed [${Object.entries(renamed).map(([a, b]) => `${a} -> ${b}`).join(", ")}], already absent [${absent.join(", ")}]`);
    return { removedContainers: removed, renamedContainers: renamed, alreadyAbsent: absent, dataDirArchivedTo, reappeared: [] as string[] };
  });
}

/** The provider implementation, loaded by the serialised facade. */
export const provider: ProviderImpl = {
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    if (news.cluster !== undefined) checkCluster(p, news.cluster);
    else if (news.force !== true) p.add("cluster", news.cluster, ["cluster is required to verify the host's member was removed first (or set force: true)"]);
    if (news.containers !== undefined && (!Array.isArray(news.containers) || news.containers.length === 0)) {
      p.add("containers", news.containers, ["containers must be a non-empty list of container names"]);
    }
    checkNamesAndPath(
      p,
      (Array.isArray(news.containers) ? (news.containers as unknown[]) : []).map((value, i) => ({ field: `containers[${i}]`, value })),
      [{ field: "dataDir", value: news.dataDir }],
    );
    if (news.ignoreMembers !== undefined) p.add("ignoreMembers", news.ignoreMembers, validateEach(news.ignoreMembers, "ignoreMembers", validateMemberName));
    if (news.mode !== undefined && news.mode !== "remove" && news.mode !== "rename") {
      p.add("mode", news.mode, [`mode must be "remove" or "rename", got ${JSON.stringify(news.mode)}`]);
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    const d = diffFields(olds, news, ["host", "containers", "dataDir"], ["cluster", "mode", "archiveDataDir", "force", "ignoreMembers"]);
    if (Array.isArray(olds.reappeared) && olds.reappeared.length > 0 && !(d.replaces ?? []).length) {
      return { changes: true, replaces: ["containers"], deleteBeforeReplace: true };
    }
    // Settings that only matter for a future cleanup: record them, nothing to do now.
    return { changes: d.changes, replaces: d.replaces, deleteBeforeReplace: d.deleteBeforeReplace };
  },

  async create(inputs) {
    const outs = await clean(inputs);
    return { id: `cleanup-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, props) {
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
    // Connection or settings changed: nothing on the host changes; keep what was done.
    return { outs: { ...olds, ...news, reappeared: [] } };
  },

  async delete() {
    // Deleting the resource does not bring RKE's containers back.
  },
};
