/**
 * A Kubernetes workload through the real API server, with
 * `@kubernetes/client-node`: namespaces, config maps, secrets, deployments
 * and services; Node objects registered as kubelets would (no kubelet runs in
 * the sandbox); a snapshot of every object the API serves (kind/ns/name ->
 * UID and a hash of its content) and a comparison of two snapshots; and
 * kubectl-like tables. Used by the demo (as a CLI) and by the tests (as a
 * library). Knows nothing of the sandbox beyond its sandbox.json.
 *
 *   node dist/scripts/kubeWorkload.js COMMAND --sandbox FILE [--api HOST] [options]
 *     create     --run NAME [--namespaces N] [--configmaps N] [--secrets N] [--deployments N] [--services N]
 *     nodes      register every sandbox host as a Node (idempotent)
 *     snapshot   --out FILE: every object the API server serves
 *     compare    --before FILE [--run NAME]: this API server against a snapshot (exit 1 if an object is missing or changed)
 *     get-nodes  a `kubectl get nodes -o wide`-like table
 *     get        --run NAME: the run's objects as a table, per namespace
 *     put        --run NAME --name NAME: one more config map (shows the API accepts writes)
 *     readyz     wait for /readyz (--timeout-ms)
 *
 * Connection: the API server's URL, the cluster CA and a bearer token, from
 * sandbox.json's `kubernetes` section (or --server/--ca/--token-file).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as k8s from "@kubernetes/client-node";
import { sleep } from "../provider/lib/time";
import { arg } from "./cli";

/** Where and how to reach one API server. */
export interface KubeTarget {
  /** e.g. `https://10.250.0.103:6443`. */
  server: string;
  /** PEM of the CA that signed the API server's certificate. */
  caPem: string;
  /** A bearer token. */
  token: string;
}

/** Labels every workload object carries. */
export const WORKLOAD_LABEL = "etcd-standby.io/workload";
const MANAGED_BY = "app.kubernetes.io/managed-by";

/** A KubeConfig for one API server, token auth, CA-verified TLS. */
export function kubeConfig(t: KubeTarget): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "target", server: t.server, caData: Buffer.from(t.caPem).toString("base64"), skipTLSVerify: false }],
    users: [{ name: "user", token: t.token }],
    contexts: [{ name: "target", cluster: "target", user: "user" }],
    currentContext: "target",
  });
  return kc;
}

/** An HTTP status code of a client-node error, or undefined (network errors). */
export function statusOf(e: unknown): number | undefined {
  if (e instanceof k8s.ApiException) return e.code;
  const c = (e as { code?: unknown; statusCode?: unknown } | null)?.statusCode ?? (e as { code?: unknown } | null)?.code;
  return typeof c === "number" ? c : undefined;
}

/** A short text for an error from the API or the network. */
export function errorText(e: unknown): string {
  if (e instanceof k8s.ApiException) {
    let body = "";
    try {
      const b = (typeof e.body === "string" ? JSON.parse(e.body) : e.body) as { message?: string } | undefined;
      body = b?.message ?? String(e.body);
    } catch {
      body = String(e.body);
    }
    return `HTTP ${e.code}: ${body}`.slice(0, 400);
  }
  return e instanceof Error ? e.message.slice(0, 400) : String(e);
}

/** Errors worth another try: the API server or its etcd is briefly unavailable. Never 4xx but 429. */
export function retriable(e: unknown): boolean {
  const s = statusOf(e);
  return s === undefined || s === 429 || s >= 500;
}

/** One API server: typed clients for writes, raw JSON for discovery and generic lists. */
export class Kube {
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  /** Every retried error (what was tried, the error): the caller can see what the retries absorbed. */
  readonly retries: Array<{ what: string; error: string }> = [];

  constructor(readonly target: KubeTarget) {
    this.kc = kubeConfig(target);
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.apps = this.kc.makeApiClient(k8s.AppsV1Api);
  }

  /** GET a path as JSON (with the KubeConfig's TLS and token), within `timeoutMs`. */
  async getJson<T>(path: string, timeoutMs = 15_000): Promise<T> {
    const url = new URL(this.target.server + path);
    const opts: https.RequestOptions = { method: "GET", hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: { Accept: "application/json" }, timeout: timeoutMs };
    await this.kc.applyToHTTPSOptions(opts);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) {
            try {
              resolve(JSON.parse(text) as T);
            } catch (e) {
              reject(e instanceof Error ? e : new Error(String(e)));
            }
            return;
          }
          const err = new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`) as Error & { statusCode?: number };
          err.statusCode = res.statusCode;
          reject(err);
        });
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    });
  }
}

/** Calls `fn` until it succeeds or the deadline passes, retrying only {@link retriable} errors. */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: { timeoutMs?: number; kube?: Kube } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let delay = 100;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!retriable(e) || Date.now() + delay > deadline) throw new Error(`${what}: ${errorText(e)}`);
      opts.kube?.retries.push({ what, error: errorText(e) });
      await sleep(delay);
      delay = Math.min(delay * 2, 2000);
    }
  }
}

/** Waits until the API server answers /readyz with `ok`; returns how long it took. */
export async function waitReady(kube: Kube, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let last = "";
  for (;;) {
    try {
      const url = new URL(kube.target.server + "/readyz");
      const opts: https.RequestOptions = { method: "GET", hostname: url.hostname, port: url.port, path: "/readyz", timeout: 3000 };
      await kube.kc.applyToHTTPSOptions(opts);
      const body = await new Promise<string>((resolve, reject) => {
        const req = https.request(opts, (res) => {
          let t = "";
          res.on("data", (c: Buffer) => (t += c.toString()));
          res.on("end", () => resolve(`${res.statusCode} ${t}`));
        });
        req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
        req.on("error", reject);
        req.end();
      });
      if (body === "200 ok") return Date.now() - t0;
      last = body.slice(0, 200);
    } catch (e) {
      last = errorText(e);
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${kube.target.server}/readyz not ok within ${timeoutMs} ms (last: ${last})`);
    await sleep(250);
  }
}

// ----------------------------------------------------------- the workload ----

/** How many objects of each kind, per namespace. */
export interface WorkloadSpec {
  /** Names the run: its namespaces are `<run>-<i>`, every object is labelled with it. */
  run: string;
  namespaces: number;
  configMaps: number;
  secrets: number;
  deployments: number;
  services: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
}

/** An object the workload created. */
export interface CreatedObject {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

function labels(run: string): Record<string, string> {
  return { [WORKLOAD_LABEL]: run, [MANAGED_BY]: "etcd-standby-workload" };
}

/** Deterministic text of about `bytes` bytes for object `name`. */
function filler(name: string, bytes: number): string {
  let out = "";
  let h = crypto.createHash("sha256").update(name).digest("hex");
  while (out.length < bytes) {
    out += h;
    h = crypto.createHash("sha256").update(h).digest("hex");
  }
  return out.slice(0, bytes);
}

/** The objects of a workload spec, in creation order (namespaces first). */
export function workloadObjects(spec: WorkloadSpec): Array<{ kind: string; namespace: string; name: string; body: object }> {
  const out: Array<{ kind: string; namespace: string; name: string; body: object }> = [];
  const l = labels(spec.run);
  for (let n = 0; n < spec.namespaces; n++) {
    const ns = `${spec.run}-${n}`;
    out.push({ kind: "Namespace", namespace: "", name: ns, body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: l } } });
  }
  for (let n = 0; n < spec.namespaces; n++) {
    const ns = `${spec.run}-${n}`;
    for (let i = 0; i < spec.configMaps; i++) {
      const name = `config-${i}`;
      out.push({ kind: "ConfigMap", namespace: ns, name, body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels: l }, data: { "app.properties": `run=${spec.run}\nindex=${i}\n`, blob: filler(`${ns}/${name}`, 512) } } });
    }
    for (let i = 0; i < spec.secrets; i++) {
      const name = `secret-${i}`;
      out.push({ kind: "Secret", namespace: ns, name, body: { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns, labels: l }, type: "Opaque", stringData: { password: filler(`${ns}/${name}`, 32) } } });
    }
    for (let i = 0; i < spec.deployments; i++) {
      const name = `hello-world-${i}`;
      const sel = { app: name };
      out.push({
        kind: "Deployment",
        namespace: ns,
        name,
        body: {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name, namespace: ns, labels: { ...l, ...sel } },
          spec: {
            replicas: 2,
            selector: { matchLabels: sel },
            template: { metadata: { labels: sel }, spec: { containers: [{ name: "hello-world", image: "rancher/hello-world", ports: [{ containerPort: 80 }] }] } },
          },
        },
      });
    }
    for (let i = 0; i < spec.services; i++) {
      const name = `hello-world-${i}`;
      out.push({ kind: "Service", namespace: ns, name, body: { apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns, labels: l }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 80 }] } } });
    }
  }
  return out;
}

/** Creates one object; an existing one of the same run (a retried create that had landed) counts as created. */
export async function createObject(kube: Kube, o: { kind: string; namespace: string; name: string; body: object }, timeoutMs = 60_000): Promise<CreatedObject> {
  const create = async (): Promise<{ metadata?: k8s.V1ObjectMeta }> => {
    switch (o.kind) {
      case "Namespace": return kube.core.createNamespace({ body: o.body });
      case "ConfigMap": return kube.core.createNamespacedConfigMap({ namespace: o.namespace, body: o.body });
      case "Secret": return kube.core.createNamespacedSecret({ namespace: o.namespace, body: o.body });
      case "Service": return kube.core.createNamespacedService({ namespace: o.namespace, body: o.body });
      case "Deployment": return kube.apps.createNamespacedDeployment({ namespace: o.namespace, body: o.body });
      default: throw new Error(`unsupported kind ${o.kind}`);
    }
  };
  const read = async (): Promise<{ metadata?: k8s.V1ObjectMeta }> => {
    switch (o.kind) {
      case "Namespace": return kube.core.readNamespace({ name: o.name });
      case "ConfigMap": return kube.core.readNamespacedConfigMap({ name: o.name, namespace: o.namespace });
      case "Secret": return kube.core.readNamespacedSecret({ name: o.name, namespace: o.namespace });
      case "Service": return kube.core.readNamespacedService({ name: o.name, namespace: o.namespace });
      case "Deployment": return kube.apps.readNamespacedDeployment({ name: o.name, namespace: o.namespace });
      default: throw new Error(`unsupported kind ${o.kind}`);
    }
  };
  const what = `create ${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;
  const got = await withRetry(what, async () => {
    try {
      return await create();
    } catch (e) {
      if (statusOf(e) !== 409) throw e;
      const existing = await read();
      const want = (o.body as { metadata: { labels: Record<string, string> } }).metadata.labels[WORKLOAD_LABEL];
      if (existing.metadata?.labels?.[WORKLOAD_LABEL] !== want) throw new Error(`${what}: it exists and is not this run's`);
      return existing;
    }
  }, { timeoutMs, kube });
  return { kind: o.kind, namespace: o.namespace, name: o.name, uid: got.metadata?.uid ?? "" };
}

/** Creates a workload: namespaces first, then the rest with `concurrency` requests in flight. */
export async function createWorkload(kube: Kube, spec: WorkloadSpec): Promise<{ objects: CreatedObject[]; ms: number }> {
  const t0 = Date.now();
  const all = workloadObjects(spec);
  const nss = all.filter((o) => o.kind === "Namespace");
  const rest = all.filter((o) => o.kind !== "Namespace");
  const objects: CreatedObject[] = [];
  const run = async (list: typeof all): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: Math.max(1, spec.concurrency ?? 8) }, async () => {
      for (let i = next++; i < list.length; i = next++) objects.push(await createObject(kube, list[i]));
    }));
  };
  await run(nss);
  await run(rest);
  return { objects, ms: Date.now() - t0 };
}

/** A node as a kubelet would register it. */
export interface NodeSpec {
  name: string;
  address: string;
  roles: string[];
  kubeletVersion: string;
}

/**
 * Registers Node objects as kubelets would (RKE's role labels, addresses,
 * version, a Ready condition at registration). No kubelet runs in the
 * sandbox, so nothing updates their status afterwards. Existing nodes are
 * left alone.
 */
export async function registerNodes(kube: Kube, nodes: NodeSpec[]): Promise<string[]> {
  const created: string[] = [];
  const now = new Date();
  for (const n of nodes) {
    const roleLabels: Record<string, string> = {};
    for (const r of n.roles) roleLabels[`node-role.kubernetes.io/${r}`] = "true";
    const body: k8s.V1Node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: n.name, labels: { "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", ...roleLabels, [MANAGED_BY]: "etcd-standby-workload" } },
      spec: {},
      status: {
        addresses: [{ type: "InternalIP", address: n.address }, { type: "Hostname", address: n.name }],
        conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "registered by etcd-standby's workload (no kubelet runs here)", lastHeartbeatTime: now, lastTransitionTime: now }],
        nodeInfo: { kubeletVersion: n.kubeletVersion, kubeProxyVersion: "", containerRuntimeVersion: "docker://20.10", operatingSystem: "linux", architecture: "amd64", osImage: "Debian GNU/Linux 12 (bookworm)", kernelVersion: "", bootID: "", machineID: "", systemUUID: "" },
      },
    };
    await withRetry(`register node ${n.name}`, async () => {
      try {
        await kube.core.createNode({ body });
        created.push(n.name);
      } catch (e) {
        if (statusOf(e) !== 409) throw e;
      }
    }, { kube });
  }
  return created;
}

// ------------------------------------------------------------- snapshots ----

/** One object in a snapshot. */
export interface SnapshotEntry {
  uid: string;
  /** sha256 of the object without metadata.resourceVersion and metadata.managedFields, keys sorted. */
  hash: string;
  resourceVersion: string;
  /** The workload run it belongs to, if any. */
  run?: string;
  /** A Service's cluster IPs; an IPAddress's parent (`services/<ns>/<name>`): to tell a leaked IP allocation from a lost object. */
  ips?: string[];
  parent?: string;
}

/** Every object an API server serves: `group/Kind/namespace/name` -> entry. */
export interface Snapshot {
  server: string;
  takenAt: string;
  /** The list resourceVersion of each resource type listed. */
  listResourceVersions: Record<string, string>;
  objects: Record<string, SnapshotEntry>;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

/** Stable JSON: object keys sorted, so equal content hashes equally. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v as Record<string, unknown>).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The content hash of an object: everything but its resourceVersion and managedFields. */
export function contentHash(obj: Record<string, unknown>): string {
  const meta = { ...((obj.metadata ?? {}) as Record<string, unknown>) };
  delete meta.resourceVersion;
  delete meta.managedFields;
  return crypto.createHash("sha256").update(stableJson({ ...obj, metadata: meta })).digest("hex");
}

/** Every listable resource type: group/version path, kind, for each group's preferred version. */
async function listableResources(kube: Kube): Promise<Array<{ path: string; group: string; kind: string }>> {
  const out: Array<{ path: string; group: string; kind: string }> = [];
  const add = (base: string, group: string, list: { resources: ApiResource[] }): void => {
    for (const r of list.resources) {
      // componentstatuses are probes computed per request, not stored objects
      if (r.name.includes("/") || !r.verbs.includes("list") || r.name === "componentstatuses") continue;
      out.push({ path: `${base}/${r.name}`, group, kind: r.kind });
    }
  };
  add("/api/v1", "core", await kube.getJson<{ resources: ApiResource[] }>("/api/v1"));
  const groups = await kube.getJson<{ groups: Array<{ name: string; preferredVersion: { groupVersion: string } }> }>("/apis");
  await Promise.all(groups.groups.map(async (g) => {
    add(`/apis/${g.preferredVersion.groupVersion}`, g.name, await kube.getJson<{ resources: ApiResource[] }>(`/apis/${g.preferredVersion.groupVersion}`));
  }));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Lists every object the API server serves (all listable resource types, every namespace, paged). */
export async function snapshot(kube: Kube): Promise<Snapshot> {
  const snap: Snapshot = { server: kube.target.server, takenAt: new Date().toISOString(), listResourceVersions: {}, objects: {} };
  const resources = await withRetry("API discovery", () => listableResources(kube), { kube });
  await Promise.all(resources.map(async (r) => {
    let cont = "";
    do {
      const page = await withRetry(`list ${r.path}`, () => kube.getJson<{ metadata: { resourceVersion?: string; continue?: string }; items: Array<Record<string, unknown>> }>(
        `${r.path}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`, 30_000), { kube });
      if (!cont) snap.listResourceVersions[`${r.group}/${r.kind}`] = page.metadata.resourceVersion ?? "";
      for (const item of page.items) {
        const m = (item.metadata ?? {}) as { name: string; namespace?: string; uid: string; resourceVersion: string; labels?: Record<string, string> };
        const e: SnapshotEntry = { uid: m.uid, hash: contentHash(item), resourceVersion: m.resourceVersion, run: m.labels?.[WORKLOAD_LABEL] };
        const spec = (item.spec ?? {}) as { clusterIPs?: string[]; parentRef?: { resource?: string; namespace?: string; name?: string } };
        if (r.group === "core" && r.kind === "Service") e.ips = spec.clusterIPs ?? [];
        if (r.kind === "IPAddress" && spec.parentRef) e.parent = `${spec.parentRef.resource}/${spec.parentRef.namespace ?? ""}/${spec.parentRef.name}`;
        snap.objects[`${r.group}/${r.kind}/${m.namespace ?? ""}/${m.name}`] = e;
      }
      cont = page.metadata.continue ?? "";
    } while (cont);
  }));
  return snap;
}

/** What changed between two snapshots. */
export interface SnapshotDiff {
  /** Objects in `before` not served in `after` (but {@link released}). */
  missing: string[];
  /**
   * IP allocations the API server released: IPAddress objects whose Service
   * holds another IP (a create that failed after allocating, then retried);
   * kube-apiserver's IP repair loop deletes them, as it does after a restart.
   */
  released: string[];
  /** Objects served with another UID (deleted and re-created). */
  uidChanged: string[];
  /** Workload objects (of the given runs) whose content changed. */
  contentChanged: string[];
  /** Other objects whose content changed (leases, endpoints: the API servers keep them current). */
  systemChanged: string[];
  /** Objects only in `after`. */
  added: string[];
  /** Objects in both with the same UID. */
  same: number;
}

/** Compares two snapshots; `runs` are the workload runs whose content must not change. */
export function compareSnapshots(before: Snapshot, after: Snapshot, runs: string[] = []): SnapshotDiff {
  const d: SnapshotDiff = { missing: [], released: [], contentChanged: [], uidChanged: [], systemChanged: [], added: [], same: 0 };
  const leaked = (k: string, b: SnapshotEntry): boolean => {
    if (!k.startsWith("networking.k8s.io/IPAddress/") || b.parent === undefined || !b.parent.startsWith("services/")) return false;
    const ip = k.split("/").pop() ?? "";
    const svc = before.objects[`core/Service/${b.parent.slice("services/".length)}`];
    return svc !== undefined && !(svc.ips ?? []).includes(ip);
  };
  for (const [k, b] of Object.entries(before.objects)) {
    const a = after.objects[k];
    if (!a) (leaked(k, b) ? d.released : d.missing).push(k);
    else if (a.uid !== b.uid) d.uidChanged.push(k);
    else {
      d.same++;
      if (a.hash !== b.hash) (b.run !== undefined && (runs.length === 0 || runs.includes(b.run)) ? d.contentChanged : d.systemChanged).push(k);
    }
  }
  for (const k of Object.keys(after.objects)) if (!before.objects[k]) d.added.push(k);
  return d;
}

/** Object counts per kind (`group/Kind`), optionally only a run's. */
export function countsByKind(s: Snapshot, run?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.objects)) {
    if (run !== undefined && v.run !== run) continue;
    const kind = k.split("/").slice(0, 2).join("/");
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

// ----------------------------------------------------------------- tables ----

function age(ts: Date | string | undefined): string {
  if (ts === undefined) return "<unknown>";
  const s = Math.max(0, Math.round((Date.now() - new Date(ts).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

/** Rows as aligned columns, as kubectl prints them. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] + 3))).join("").trimEnd()).join("\n");
}

/** `kubectl get nodes -o wide`-like. */
export async function nodesTable(kube: Kube): Promise<{ text: string; nodes: k8s.V1Node[] }> {
  const list = await withRetry("list nodes", () => kube.core.listNode(), { kube });
  const rows = list.items.map((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === "Ready");
    const roles = Object.keys(n.metadata?.labels ?? {}).filter((l) => l.startsWith("node-role.kubernetes.io/")).map((l) => l.split("/")[1]).sort().join(",");
    return [n.metadata?.name ?? "", ready?.status === "True" ? "Ready" : "NotReady", roles || "<none>", age(n.metadata?.creationTimestamp), n.status?.nodeInfo?.kubeletVersion ?? "",
      n.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "<none>"];
  });
  return { text: table(["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"], rows), nodes: list.items };
}

/** A run's objects per namespace, `kubectl get deploy,svc,cm,secret`-like (counts and a few names). */
export async function runTable(kube: Kube, run: string): Promise<{ text: string; count: number }> {
  const sel = `${WORKLOAD_LABEL}=${run}`;
  const [ns, cms, secrets, svcs, deps] = await Promise.all([
    withRetry("list namespaces", () => kube.core.listNamespace({ labelSelector: sel }), { kube }),
    withRetry("list config maps", () => kube.core.listConfigMapForAllNamespaces({ labelSelector: sel }), { kube }),
    withRetry("list secrets", () => kube.core.listSecretForAllNamespaces({ labelSelector: sel }), { kube }),
    withRetry("list services", () => kube.core.listServiceForAllNamespaces({ labelSelector: sel }), { kube }),
    withRetry("list deployments", () => kube.apps.listDeploymentForAllNamespaces({ labelSelector: sel }), { kube }),
  ]);
  const per = (items: Array<{ metadata?: k8s.V1ObjectMeta }>, n: string): number => items.filter((i) => i.metadata?.namespace === n).length;
  const rows = ns.items.map((n) => {
    const name = n.metadata?.name ?? "";
    return [name, n.status?.phase ?? "", String(per(deps.items, name)), String(per(svcs.items, name)), String(per(cms.items, name)), String(per(secrets.items, name)), age(n.metadata?.creationTimestamp)];
  }).sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }));
  const count = ns.items.length + cms.items.length + secrets.items.length + svcs.items.length + deps.items.length;
  return { text: table(["NAMESPACE", "STATUS", "DEPLOYMENTS", "SERVICES", "CONFIGMAPS", "SECRETS", "AGE"], rows), count };
}

// -------------------------------------------------------------------- CLI ----

interface SandboxFile {
  hosts: Array<{ name: string; address: string; roles: string[] }>;
  kubernetes: { version: string; apiServers: Array<{ host: string; url: string }>; caFile: string; token: string };
}

function targetFrom(argv: string[]): { target: KubeTarget; sandbox?: SandboxFile } {
  const file = arg(argv, "sandbox", "");
  if (file) {
    const sb = JSON.parse(fs.readFileSync(file, "utf8")) as SandboxFile;
    const host = arg(argv, "api", sb.kubernetes.apiServers[0].host);
    const api = sb.kubernetes.apiServers.find((a) => a.host === host);
    if (!api) throw new Error(`no kube-apiserver on ${host} in ${file} (${sb.kubernetes.apiServers.map((a) => a.host).join(", ")})`);
    return { target: { server: api.url, caPem: fs.readFileSync(sb.kubernetes.caFile, "utf8"), token: sb.kubernetes.token }, sandbox: sb };
  }
  return { target: { server: arg(argv, "server"), caPem: fs.readFileSync(arg(argv, "ca"), "utf8"), token: fs.readFileSync(arg(argv, "token-file"), "utf8").trim() } };
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  const { target, sandbox } = targetFrom(argv);
  const kube = new Kube(target);
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  switch (cmd) {
    case "readyz": {
      out(`${target.server}/readyz ok after ${await waitReady(kube, Number(arg(argv, "timeout-ms", "120000")))} ms`);
      return 0;
    }
    case "create": {
      const spec: WorkloadSpec = {
        run: arg(argv, "run"),
        namespaces: Number(arg(argv, "namespaces", "5")),
        configMaps: Number(arg(argv, "configmaps", "20")),
        secrets: Number(arg(argv, "secrets", "10")),
        deployments: Number(arg(argv, "deployments", "5")),
        services: Number(arg(argv, "services", "5")),
        concurrency: Number(arg(argv, "concurrency", "8")),
      };
      const r = await createWorkload(kube, spec);
      const byKind: Record<string, number> = {};
      for (const o of r.objects) byKind[o.kind] = (byKind[o.kind] ?? 0) + 1;
      const learner = kube.retries.filter((x) => x.error.includes("not supported for learner")).length;
      out(JSON.stringify({ server: target.server, run: spec.run, created: r.objects.length, byKind, ms: r.ms, retried: { learnerRefused: learner, other: kube.retries.length - learner } }));
      return 0;
    }
    case "nodes": {
      if (!sandbox) throw new Error("nodes needs --sandbox (the hosts to register)");
      const created = await registerNodes(kube, sandbox.hosts.map((h) => ({ name: h.name, address: h.address, roles: h.roles, kubeletVersion: sandbox.kubernetes.version })));
      out(`registered ${created.length} nodes (${created.join(", ") || "all existed"})`);
      return 0;
    }
    case "snapshot": {
      const s = await snapshot(kube);
      fs.writeFileSync(arg(argv, "out"), JSON.stringify(s));
      out(JSON.stringify({ server: target.server, objects: Object.keys(s.objects).length, kinds: Object.keys(s.listResourceVersions).length }));
      return 0;
    }
    case "compare": {
      const before = JSON.parse(fs.readFileSync(arg(argv, "before"), "utf8")) as Snapshot;
      const run = arg(argv, "run", "");
      const after = await snapshot(kube);
      const d = compareSnapshots(before, after, run ? [run] : []);
      const kinds = [...new Set([...Object.keys(countsByKind(before)), ...Object.keys(countsByKind(after))])].sort();
      const cb = countsByKind(before);
      const ca = countsByKind(after);
      const rows = kinds.filter((k) => (cb[k] ?? 0) + (ca[k] ?? 0) > 0).map((k) => [k, String(cb[k] ?? 0), String(ca[k] ?? 0)]);
      out(table(["KIND", "BEFORE", "AFTER"], rows));
      out(`objects before: ${Object.keys(before.objects).length}; served now by ${target.server}: ${Object.keys(after.objects).length}; same UID: ${d.same}; missing: ${d.missing.length}; UID changed: ${d.uidChanged.length}; ` +
        `workload content changed: ${d.contentChanged.length}; kept current by the API servers (leases, endpoints): ${d.systemChanged.length}; new: ${d.added.length}` +
        (d.released.length > 0 ? `; leaked IP allocations released by the API server's repair loop: ${d.released.length} (service creates that failed after allocating, then retried)` : ""));
      for (const k of [...d.missing, ...d.uidChanged, ...d.contentChanged].slice(0, 20)) out(`  lost or changed: ${k}`);
      return d.missing.length + d.uidChanged.length + d.contentChanged.length === 0 ? 0 : 1;
    }
    case "get-nodes": {
      out((await nodesTable(kube)).text);
      return 0;
    }
    case "get": {
      const r = await runTable(kube, arg(argv, "run"));
      out(r.text);
      out(`${r.count} objects of run ${arg(argv, "run")}`);
      return 0;
    }
    case "put": {
      const run = arg(argv, "run");
      const name = arg(argv, "name");
      const o = await createObject(kube, { kind: "ConfigMap", namespace: `${run}-0`, name, body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: `${run}-0`, labels: labels(run) }, data: { written: new Date().toISOString() } } });
      const got = await kube.core.readNamespacedConfigMap({ name, namespace: `${run}-0` });
      out(`configmap/${name} created in ${run}-0 through ${target.server} (uid ${o.uid}, resourceVersion ${got.metadata?.resourceVersion}) and read back`);
      return 0;
    }
    default:
      process.stderr.write("usage: kubeWorkload.js create|nodes|snapshot|compare|get-nodes|get|put|readyz --sandbox FILE [--api HOST] ...\n");
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    process.stderr.write(`${errorText(e)}\n`);
    process.exitCode = 1;
  });
}
