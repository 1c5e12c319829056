/**
 * The benchmark's data: Kubernetes-shaped keys until the leader's database
 * reaches a size, written once per size and kept, then copied into each
 * freshly built sandbox's etcd data dirs before its members first start.
 *
 * Why a copy is the same cluster: the sandbox bootstraps its four voters with
 * fixed names, peer URLs and token, and etcd derives the member IDs and the
 * cluster ID from exactly those, so every fresh sandbox has the IDs the saved
 * members have; a member that finds a data dir restarts from it (its WAL and
 * db) and ignores the bootstrap flags. `sandbox.sh save-etcd DIR` stops every
 * member before copying any, so the copies are one consistent cluster, and
 * `ETCD_STANDBY_ETCD_DATA=DIR sandbox.sh up` puts them in place. Each use is
 * checked: the same member IDs, the same number of keys, the db's size.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { client, loadKubeShaped } from "../../support/load";
import type { LoadTarget } from "../../support/load";
import { endpointStatuses, memberList, sandbox } from "../../support/sandbox";
import type { SandboxDescription } from "../../support/sandbox";
import { waitFor } from "../../support/wait";

/** Bumped when the shape of the data or of the sandbox's cluster changes: older folders are rebuilt. */
export const DATA_VERSION = 2;

/**
 * The resource the data is written under: `/registry/<this>/<namespace>/<name>`,
 * where a custom resource's objects live. Not `pods`: the sandbox's three
 * kube-apiservers, on the same two cores and memory as etcd, cache and decode
 * every object of a resource they serve (about 4 GB each, and most of the
 * CPU, at 600 MB of pods), which would measure them, not etcd, and does not
 * fit 1 GB. The paced writer of the failover runs still writes pods.
 */
export const DATA_RESOURCE = "etcd-standby.bench/pods";

/** Where kept data lives: ETCD_STANDBY_BENCH_DATA, else the machine's build cache. */
export function defaultDataDir(): string {
  const cache = process.env.ETCD_STANDBY_CACHE ?? path.join(os.homedir(), ".cache", "etcd-standby");
  return process.env.ETCD_STANDBY_BENCH_DATA ?? path.join(cache, "bench-data");
}

/** What a kept data folder holds, written last (a folder without it is incomplete). */
export interface DataManifest {
  version: number;
  targetMB: number;
  /** Every member's name and ID (16-digit hex) when the data was saved. */
  members: { name: string; id: string }[];
  /** The leader's db size when the fill ended. */
  dbSize: number;
  /** Keys the fill wrote. */
  keys: number;
  /** Keys under /registry/<DATA_RESOURCE>/ when saved (the check on each use). */
  dataKeys: number;
  /** Time to fill, with how many clients in parallel. */
  fillMs: number;
  fillClients: number;
  /** Time to stop the members, copy their data dirs and start them again. */
  saveMs: number;
  /** Bytes of the saved data dirs (every member's WAL, snapshots and db). */
  savedBytes: number;
  builtAt: string;
  voterImage: string;
}

export const folderFor = (dataDir: string, mb: number): string => path.join(dataDir, `v${DATA_VERSION}-${mb}mb`);

/** The manifest of a complete data folder for `mb`, or undefined. */
export function readManifest(dataDir: string, mb: number): DataManifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(folderFor(dataDir, mb), "manifest.json"), "utf8")) as DataManifest;
    return m.version === DATA_VERSION && m.targetMB === mb ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The voters' endpoints as a load target with the sandbox's client certificate. */
export function loadTarget(d: SandboxDescription, endpoints: string[]): LoadTarget {
  return { endpoints, caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile };
}

/**
 * Writes Kubernetes-shaped objects until the leader's database is at least
 * `mb` MB: rounds of `clients` etcd3 clients in parallel (32 puts in flight
 * each), each round sized from what the db grew per byte written so far.
 */
export async function fillTo(d: SandboxDescription, mb: number, endpoints: string[], clients = 4, progress?: (msg: string) => void): Promise<{ keys: number; ms: number; dbSize: number }> {
  const t0 = Date.now();
  const want = mb * 1e6;
  let keys = 0;
  let written = 0;
  let first: number | undefined;
  for (let i = 0; ; i++) {
    const db = Math.max(0, ...(await endpointStatuses(d, endpoints)).map((s) => s.dbSize));
    first ??= db;
    if (i > 0) progress?.(`fill: db ${(db / 1e6).toFixed(1)} MB, ${keys} keys, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (db >= want) return { keys, ms: Date.now() - t0, dbSize: db };
    // db bytes per value byte so far (1.5 before anything is measured: a db grows faster than its values)
    const growth = written > 0 && db > first ? (db - first) / written : 1.5;
    const round = Math.max(1e6, Math.min(400e6, ((want - db) / growth) * 1.02));
    const parts = await Promise.all(Array.from({ length: clients }, (_, j) =>
      loadKubeShaped(loadTarget(d, endpoints), round / clients, { tag: `bench${i}x${j}`, seed: 1000 + i * 100 + j, concurrency: 32, resource: DATA_RESOURCE })));
    for (const p of parts) {
      keys += p.keys;
      written += p.valueBytes;
    }
  }
}

/** Keys of the data, under /registry/<DATA_RESOURCE>/ (a count-only serializable range on one endpoint; Debian's etcdctl 3.4 has no --count-only). */
export async function dataKeyCount(d: SandboxDescription, endpoint: string): Promise<number> {
  const c = client(loadTarget(d, [endpoint]));
  try {
    return await c.getAll().prefix(`/registry/${DATA_RESOURCE}/`).serializable(true).options({ deadline: new Date(Date.now() + 300_000) }).count();
  } finally {
    c.close();
  }
}

/**
 * Builds the data folder for `mb` on the running sandbox `d` (four started
 * voters, nothing else written): fills through `endpoints`, waits until every
 * member has applied what the fill wrote, saves every member's data dir.
 */
export async function buildData(d: SandboxDescription, dataDir: string, mb: number, endpoints: string[], clients: number, progress?: (msg: string) => void): Promise<DataManifest> {
  const folder = folderFor(dataDir, mb);
  fs.rmSync(folder, { recursive: true, force: true });
  const fill = await fillTo(d, mb, endpoints, clients, progress);
  const all = d.etcd.endpoints;
  const [leader] = await endpointStatuses(d, endpoints);
  await waitFor(async () => {
    const st = await endpointStatuses(d, all);
    return st.length === all.length && st.every((s) => s.applied >= leader.raftIndex);
  }, { timeoutMs: 600_000, intervalMs: 500, what: "every member to apply the fill" });
  const members = (await memberList(d)).map((m) => ({ name: m.name, id: m.ID }));
  progress?.("every member has applied the fill; saving their data dirs");
  const t0 = Date.now();
  const tmp = `${folder}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await sandbox(["save-etcd", tmp], 1_800_000);
  const saveMs = Date.now() - t0;
  await waitFor(async () => (await endpointStatuses(d, all)).length === all.length, { timeoutMs: 120_000, what: "the members again after save-etcd" });
  const dataKeys = await dataKeyCount(d, endpoints[0]);
  const manifest: DataManifest = {
    version: DATA_VERSION,
    targetMB: mb,
    members,
    dbSize: fill.dbSize,
    keys: fill.keys,
    dataKeys,
    fillMs: fill.ms,
    fillClients: clients,
    saveMs,
    savedBytes: du(tmp),
    builtAt: new Date().toISOString(),
    voterImage: d.etcd.images["v3.4"],
  };
  fs.renameSync(tmp, folder);
  fs.writeFileSync(path.join(folder, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Bytes under a folder. */
function du(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? du(p) : fs.statSync(p).size;
  }
  return n;
}

/**
 * Checks that a sandbox started from a data folder is that cluster: the same
 * member IDs and the same keys; the db at least the size asked for. Throws
 * saying what differs.
 */
export async function checkSeeded(d: SandboxDescription, m: DataManifest, endpoints: string[]): Promise<void> {
  const ids = (await memberList(d)).map((x) => `${x.name}=${x.ID}`).sort();
  const want = m.members.map((x) => `${x.name}=${x.id}`).sort();
  if (ids.join(",") !== want.join(",")) throw new Error(`seeded members ${ids.join(", ")} are not the saved ${want.join(", ")}`);
  const db = Math.max(0, ...(await endpointStatuses(d, endpoints)).map((s) => s.dbSize));
  if (db < m.targetMB * 1e6) throw new Error(`seeded db is ${db} bytes, under ${m.targetMB} MB`);
  const keys = await dataKeyCount(d, endpoints[0]);
  if (keys !== m.dataKeys) throw new Error(`seeded cluster has ${keys} keys under /registry/${DATA_RESOURCE}/, the saved one ${m.dataKeys}`);
}

/** The per-host seeding times `sandbox.sh up` logged ("<host>: etcd data seeded from ... in N s"), in ms. */
export function seedTimesMs(upStderr: string): number[] {
  return [...upStderr.matchAll(/\] \S+: etcd data seeded from .* in ([\d.]+) s$/gm)].map((x) => Math.round(Number(x[1]) * 1000));
}
