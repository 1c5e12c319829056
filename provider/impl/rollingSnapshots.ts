/**
 * EtcdRollingSnapshots: after a failover, the new cluster is backed up again
 * the way RKE did it: its `etcd-rolling-snapshots` container, under RKE's
 * name, with the definition RkeContainerCleanup recorded when it cleaned the
 * host (image, command, environment, mounts, schedule), pointed at the new
 * member (the host's own client URL, as RKE had it); without it in state,
 * the copy the cleanup kept on the host (keptDefinitions.ts). And a snapshot taken now
 * proves it: a marker key is written to the new cluster, a snapshot is saved
 * into the snapshot folder with the etcd image's etcdctl, and its revision
 * (`snapshot status`, etcdutl from 3.6 on) must be at least the marker's.
 *
 * create/update start the container (or leave a running one alone) and take
 * and verify the snapshot; read reports whether the container runs; delete
 * changes nothing (the schedule is RKE's again).
 */
import { inspectContainer, inspectRunSpec, listContainers, runContainer, runOneShot, startContainer } from "../connection/docker";
import type { RunContainerSpec } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { ClusterConnectionArgs } from "../connection/etcd";
import { withSsh } from "../connection/ssh";
import type { HostConnectionArgs, SshSession } from "../connection/ssh";
import { EtcdStandbyError } from "../lib/errors";
import { validateAbsolutePath, validateImage } from "../lib/validate";
import { RUN_ID, RUN_LABEL } from "./clusterLock";
import { checkCluster, checkHost, clusterOf, hasUnknown, hostOf, Problems, progress, stamp, stored, typedProvider } from "./common";
import { imageEtcdVersion } from "./imageVersion";
import type { Props } from "./common";
import { diffByTable, withDefaults } from "./fields";
import type { Fields } from "./fields";
import { KEPT_DEFINITIONS_DIR, keptDefinitionFile, readKeptDefinition } from "./keptDefinitions";
import { MANAGED_LABEL } from "./learnerConfig";
import { restoreTool } from "./restore/image";

const WHAT = "EtcdRollingSnapshots";
const NAME = "etcd-rolling-snapshots";
/** The marker written before the proof snapshot (outside /registry/). */
export const BACKUP_PROBE_KEY = "/etcd-standby/backup-probe";

/** EtcdRollingSnapshots' inputs, resolved (documented on EtcdRollingSnapshotsArgs). */
export type RollingSnapshotsInputs = {
  host: HostConnectionArgs;
  cluster: ClusterConnectionArgs;
  endpoint: string;
  /** Absent when the cleanup did not save it (an older etcd-standby, or a run stopped before its state was saved): create then reads the copy kept on the host (keptDefinitions.ts). */
  spec: RunContainerSpec;
  image: string;
  etcdBinary?: string;
  tls: { caFile: string; certFile: string; keyFile: string };
  snapshotDir?: string;
  trigger?: string;
};

/** What EtcdRollingSnapshots reports. */
export type RollingSnapshotsResult = {
  running: boolean;
  snapshotFile: string;
  snapshotRevision: number;
  markerRevision: number;
};

/** EtcdRollingSnapshots' state: its inputs and what it reports. */
export type RollingSnapshotsOutputs = RollingSnapshotsInputs & RollingSnapshotsResult;

/** Each input's default and what a change does: another host is another resource; a new definition, image, endpoint, folder, TLS or trigger checks again. */
export const ROLLING_SNAPSHOTS_FIELDS = {
  host: { effect: "none", replaceOn: ["host"] },
  cluster: { effect: "none" },
  endpoint: { effect: "update" },
  spec: { effect: "update" },
  image: { effect: "update" },
  etcdBinary: { effect: "none", default: "/usr/local/bin/etcd" },
  tls: { effect: "update" },
  snapshotDir: { effect: "update", default: "/opt/rke/etcd-snapshots" },
  trigger: { effect: "update" },
} as const satisfies Fields<RollingSnapshotsInputs>;

/** The inputs with defaults, the definition under RKE's name. */
function settings(props: RollingSnapshotsInputs) {
  return { ...withDefaults(ROLLING_SNAPSHOTS_FIELDS, props), spec: { ...props.spec, name: NAME } };
}

type Settings = ReturnType<typeof settings>;

function binDir(s: Settings): string {
  return s.etcdBinary.slice(0, s.etcdBinary.lastIndexOf("/")) || "/";
}

/** Saves a snapshot of the new cluster into the snapshot folder now, and reads its revision back. */
async function proveSnapshot(ssh: SshSession, s: Settings, props: RollingSnapshotsInputs): Promise<{ file: string; revision: number; marker: number }> {
  const marker = await withEtcd({ ...clusterOf(props), endpoints: [s.endpoint] }, (e) => e.put(BACKUP_PROBE_KEY, `${new Date().toISOString()} run ${RUN_ID}`));
  const file = `${s.snapshotDir}/post-failover-${stamp()}.db`;
  const tlsDir = s.tls.caFile.slice(0, s.tls.caFile.lastIndexOf("/"));
  const tlsArgs = [`--cacert=${s.tls.caFile}`, `--cert=${s.tls.certFile}`, `--key=${s.tls.keyFile}`];
  const labels = { [MANAGED_LABEL]: "EtcdRollingSnapshotsTool", [RUN_LABEL]: RUN_ID };
  const save = await runOneShot(
    ssh,
    { name: `etcd-standby-snapshot-${RUN_ID}`, image: s.image, network: "host", labels, env: { ETCDCTL_API: "3" }, volumes: [{ host: tlsDir, container: tlsDir, ro: true }, { host: s.snapshotDir, container: s.snapshotDir }], command: [`${binDir(s)}/etcdctl`, `--endpoints=${s.endpoint}`, ...tlsArgs, "--command-timeout=60s", "snapshot", "save", file] },
    { timeoutMs: 120_000, allowFailure: true },
  );
  if (save.code !== 0) throw new EtcdStandbyError("RemoteCommandFailed", `etcdctl snapshot save ${file} on ${ssh.host} failed: ${(save.stderr || save.stdout).trim().slice(-500)}`, "check the snapshot folder and the new cluster's health", { host: ssh.host });
  const tool = restoreTool(await imageEtcdVersion(ssh, s.image, s.etcdBinary, { name: `etcd-standby-snapshot-version-${RUN_ID}`, labels }));
  const status = await runOneShot(
    ssh,
    { name: `etcd-standby-snapshot-status-${RUN_ID}`, image: s.image, labels, env: { ETCDCTL_API: "3" }, volumes: [{ host: s.snapshotDir, container: s.snapshotDir, ro: true }], command: [`${binDir(s)}/${tool}`, "snapshot", "status", file, "-w", "json"] },
    { timeoutMs: 60_000, allowFailure: true },
  );
  const m = /"revision":\s*(\d+)/.exec(status.stdout);
  if (status.code !== 0 || !m) throw new EtcdStandbyError("RemoteCommandFailed", `${tool} snapshot status ${file} on ${ssh.host} failed: ${(status.stderr || status.stdout).trim().slice(-500)}`, "check the snapshot file", { host: ssh.host });
  const revision = Number(m[1]);
  if (revision < marker) {
    throw new EtcdStandbyError("Refused", `the snapshot ${file} holds revision ${revision}, older than the marker written at ${marker}: it is not of the new cluster`, `check that ${s.endpoint} is the new cluster's endpoint`, { host: ssh.host });
  }
  return { file, revision, marker };
}

/**
 * Without a recorded definition in state (a cleanup killed before Pulumi
 * saved it, or one by an older etcd-standby): the one RkeContainerCleanup
 * kept on the host ({@link keptDefinitionFile}), else the one of a copy it
 * kept renamed (`etcd-rolling-snapshots-removed-<stamp>`), if any.
 */
export async function keptSpec(ssh: SshSession, dir = KEPT_DEFINITIONS_DIR): Promise<RunContainerSpec> {
  const file = await readKeptDefinition(ssh, NAME, dir);
  if (file && "spec" in file) {
    progress(WHAT, `no definition of ${NAME} in state: using the one kept on ${ssh.host} in ${file.file} (recorded ${file.recordedAt})`);
    return file.spec;
  }
  if (file) progress(WHAT, `WARNING: the definition of ${NAME} kept on ${ssh.host} in ${file.file} is not usable (${file.problem}); looking for a renamed copy`);
  const kept = (await listContainers(ssh)).filter((n) => n.startsWith(`${NAME}-removed-`)).sort().pop();
  const spec = kept ? await inspectRunSpec(ssh, kept) : undefined;
  if (!spec) {
    throw new EtcdStandbyError(
      "NotFound",
      `no definition of ${NAME} was recorded for ${ssh.host} (the cleanup ran with an older etcd-standby, or was stopped before it saved its state), ${file ? `the one kept in ${file.file} is not usable (${file.problem})` : `none is kept in ${keptDefinitionFile(NAME, dir)}`} and no renamed copy is on the host`,
      `start RKE's ${NAME} there (rke up, or docker run as RKE does), then run pulumi up again: backups of the new cluster are not running`,
      { host: ssh.host },
    );
  }
  return spec;
}

async function ensure(props: RollingSnapshotsInputs): Promise<RollingSnapshotsResult> {
  const s = settings(props);
  return withSsh(hostOf(props), async (ssh) => {
    const info = await inspectContainer(ssh, NAME);
    if (info.exists && !info.running) {
      progress(WHAT, `starting the stopped ${NAME} on ${ssh.host}`);
      await startContainer(ssh, NAME);
    } else if (!info.exists) {
      const spec = typeof s.spec.image === "string" && s.spec.image !== "" ? s.spec : await keptSpec(ssh);
      progress(WHAT, `starting ${NAME} on ${ssh.host} as RKE had it (${spec.image}) (run ${RUN_ID})`);
      await runContainer(ssh, { ...spec, name: NAME, labels: { ...(spec.labels ?? {}), [RUN_LABEL]: RUN_ID } });
    }
    const proof = await proveSnapshot(ssh, s, props);
    const now = await inspectContainer(ssh, NAME);
    if (!now.running) throw new EtcdStandbyError("Refused", `${NAME} on ${ssh.host} is ${now.state} after it was started`, `see docker logs ${NAME}`, { host: ssh.host });
    progress(WHAT, `${NAME} runs on ${ssh.host}; snapshot ${proof.file} holds revision ${proof.revision} >= ${proof.marker} (a write after the failover)`);
    return { running: true, snapshotFile: proof.file, snapshotRevision: proof.revision, markerRevision: proof.marker };
  });
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<RollingSnapshotsInputs, RollingSnapshotsOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkCluster(p, news.cluster);
    const spec: unknown = news.spec;
    // Absent: the cleanup did not save it; create reads the copy kept on the host.
    if (!hasUnknown(spec) && spec !== undefined && spec !== null && (typeof spec !== "object" || typeof (spec as Props).image !== "string" || !Array.isArray((spec as Props).command))) {
      p.add("spec", spec, [`spec must be how ${NAME} was started (RkeContainerCleanup's containerSpecs["${NAME}"])`]);
    }
    p.add("image", news.image, validateImage(news.image, "image"));
    if (news.snapshotDir !== undefined) p.add("snapshotDir", news.snapshotDir, validateAbsolutePath(news.snapshotDir, "snapshotDir"));
    const tls: Partial<RollingSnapshotsInputs["tls"]> = news.tls ?? {};
    for (const f of ["caFile", "certFile", "keyFile"] as const) p.add(`tls.${f}`, tls[f], validateAbsolutePath(tls[f], `tls.${f}`));
    return p.result(news);
  },

  async diff(_id, olds, news) {
    // Not running at the last refresh: start it again.
    return diffByTable(ROLLING_SNAPSHOTS_FIELDS, olds, news, { deleteBeforeReplace: false, pending: olds.running === false });
  },

  async create(inputs) {
    return { id: `rolling-snapshots-${hostOf(inputs).host}`, outs: { ...inputs, ...(await ensure(inputs)) } };
  },

  async read(id, state) {
    const props = stored(state);
    const running = await withSsh(hostOf(props), async (ssh) => (await inspectContainer(ssh, NAME)).running);
    return { id, props: { ...props, running } };
  },

  async update(_id, _olds, news) {
    return { outs: { ...news, ...(await ensure(news)) } };
  },

  async delete() {
    // The schedule keeps running: backups are RKE's again.
  },
});
