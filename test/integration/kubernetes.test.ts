/**
 * Kubernetes survives the failover (GitHub issue 10), on the live sandbox
 * with the real engine, as the seed ends: `kubectl get nodes` and a new
 * object on the recovered cluster.
 *
 * The sandbox runs a real kube-apiserver (v1.34, RKE's container name, flags
 * and certificates) on master1, master2 and master3. The stack program goes
 * to learner-standby; a workload of namespaces, config maps, secrets,
 * deployments and services is created through master1's API server with
 * @kubernetes/client-node, and Node objects are registered (no kubelet runs);
 * a watch on master3's API server follows the config maps. Site A loses power;
 * `pulumi up` in failover mode restores master3's learner as the new cluster
 * and restarts site B's Kubernetes components with @pulumi/command
 * (KubeRestart), checking master3's /readyz. Then master3's API server must
 * serve every object it served before the cut (same UIDs, same content),
 * accept a new object (found in the new etcd cluster with etcdctl), list the
 * nodes, and the watch must resume or end with 410 Gone after which a relist
 * serves everything. The restarts are checked with docker over OpenSSH (a
 * newer start time than before the cut on every component), not with the
 * component's own report alone. Run it under `flock /tmp/esb-sandbox.lock`.
 */
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import * as fs from "fs";
import { compareSnapshots, countsByKind, createObject, createWorkload, Kube, nodesTable, registerNodes, snapshot, waitReady, withRetry, WORKLOAD_LABEL } from "../../scripts/kubeWorkload";
import type { Snapshot, WorkloadSpec } from "../../scripts/kubeWorkload";
import { backendText, pulumi, removeWorkspace, sandboxStackWorkspace, Workspace } from "../support/pulumi";
import { describe as describeSandbox, endpointStatuses, etcdctl, hexId, memberList, parseEtcdctlJson, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { waitFor } from "../support/wait";

const RUN = "shop";
const SPEC: WorkloadSpec = { run: RUN, namespaces: 4, configMaps: 10, secrets: 5, deployments: 3, services: 3, concurrency: 8 };
const M3_CLIENT = "https://10.250.0.103:2379";
const COMPONENTS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ContainerView {
  exists: boolean;
  running: boolean;
  startedAt: string;
  restartPolicy: string;
  networkMode: string;
  image: string;
  args: string[];
}

/** A container as docker on the host sees it, over OpenSSH. */
async function container(d: SandboxDescription, host: string, name: string): Promise<ContainerView> {
  const r = await ssh(d, host, `docker inspect --type container --format '{{json .State}}|{{json .HostConfig}}|{{.Config.Image}}|{{json .Args}}' ${name}`, { allowFailure: true });
  if (r.code !== 0) return { exists: false, running: false, startedAt: "", restartPolicy: "", networkMode: "", image: "", args: [] };
  const [state, hostConfig, image, args] = r.stdout.trim().split("|");
  const st = JSON.parse(state) as { Running: boolean; StartedAt: string };
  const hc = JSON.parse(hostConfig) as { RestartPolicy: { Name: string }; NetworkMode: string };
  return { exists: true, running: st.Running, startedAt: st.StartedAt, restartPolicy: hc.RestartPolicy.Name, networkMode: hc.NetworkMode, image, args: JSON.parse(args) as string[] };
}

/** A docker StartedAt (RFC 3339 with nanoseconds) as epoch ms (sub-ms digits dropped). */
const startedMs = (t: string): number => Date.parse(t.replace(/(\.\d{3})\d*/, "$1"));

/** A watch on an API server that records its events, the last resourceVersion seen and how it ended. */
class Watcher {
  readonly added: string[] = [];
  readonly events: Array<{ type: string; name: string; rv: string }> = [];
  readonly errors: Array<{ code?: number; reason?: string; message?: string }> = [];
  lastRV = "";
  ended: { err: unknown; at: number } | undefined;
  private controller: AbortController | undefined;

  constructor(private readonly kube: Kube, private readonly path: string, private readonly labelSelector: string) {}

  async start(resourceVersion: string): Promise<this> {
    this.lastRV = resourceVersion;
    this.controller = await new k8s.Watch(this.kube.kc).watch(
      this.path,
      { resourceVersion, allowWatchBookmarks: true, labelSelector: this.labelSelector },
      (type: string, obj: { metadata?: { name?: string; namespace?: string; resourceVersion?: string }; code?: number; reason?: string; message?: string }) => {
        if (type === "ERROR") {
          this.errors.push({ code: obj.code, reason: obj.reason, message: obj.message });
          return;
        }
        this.lastRV = obj.metadata?.resourceVersion ?? this.lastRV;
        if (type === "BOOKMARK") return;
        const name = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
        this.events.push({ type, name, rv: this.lastRV });
        if (type === "ADDED") this.added.push(name);
      },
      (err: unknown) => {
        this.ended = { err, at: Date.now() };
      },
    );
    return this;
  }

  /** 410 Gone: as an ERROR event (the usual way) or as the HTTP status of the watch request. */
  get gone(): boolean {
    return this.errors.some((e) => e.code === 410) || (this.ended?.err as { statusCode?: number } | null | undefined)?.statusCode === 410;
  }

  stop(): void {
    this.controller?.abort();
  }
}

describe("Kubernetes survives the failover: master3's kube-apiserver serves every object (real engine, @pulumi/command)", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  let ws: Workspace;
  let k1: Kube;
  let k3: Kube;
  const report: Record<string, unknown> = {};
  const transcript = { text: "" };
  const kube = (host: string): Kube => {
    const api = d.kubernetes.apiServers.find((a) => a.host === host);
    if (!api) throw new Error(`no kube-apiserver on ${host}`);
    return new Kube({ server: api.url, caPem: fs.readFileSync(d.kubernetes.caFile, "utf8"), token: d.kubernetes.token });
  };
  async function up(): Promise<string> {
    const r = await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 900_000 });
    transcript.text += r.stdout + r.stderr;
    return r.stdout;
  }

  before(async () => {
    await sandbox(["down"]);
    const t0 = Date.now();
    await sandbox(["up"]);
    report.sandboxUpMs = Date.now() - t0;
    d = describeSandbox();
    await waitFor(async () => (await memberList(d)).every((m) => m.name !== ""), { timeoutMs: 60_000, what: "four started voters" });
    k1 = kube("master1");
    k3 = kube("master3");
    ws = await sandboxStackWorkspace("kube", d.etcd.keyFile);
  });

  after(async () => {
    informerStopped = true;
    if (informerLists.length > 0) await informer.stop().catch(() => undefined);
    console.log(`      kubernetes report: ${JSON.stringify(report, null, 2).replace(/\n/g, "\n      ")}`);
    if (ws) removeWorkspace(ws);
    await sandbox(["down"]);
  });

  it("runs a real kube-apiserver on every controlplane host: RKE's container, flags and certificate names, ready", async () => {
    const etcdServers = d.etcd.endpoints.join(",");
    expect(d.kubernetes.apiServers.map((a) => a.host)).to.deep.equal(["master1", "master2", "master3"]);
    for (const a of d.kubernetes.apiServers) {
      await waitReady(kube(a.host), 60_000);
      const v = await kube(a.host).getJson<{ gitVersion: string }>("/version");
      expect(v.gitVersion, a.host).to.equal(d.kubernetes.version);
      const c = await container(d, a.host, "kube-apiserver");
      expect([c.running, c.restartPolicy, c.networkMode, c.image], a.host).to.deep.equal([true, "always", "host", d.kubernetes.image]);
      expect(c.args, a.host).to.include.members([
        `--etcd-servers=${etcdServers}`,
        "--etcd-cafile=/etc/kubernetes/ssl/kube-ca.pem",
        "--etcd-certfile=/etc/kubernetes/ssl/kube-node.pem",
        "--etcd-keyfile=/etc/kubernetes/ssl/kube-node-key.pem",
        "--tls-cert-file=/etc/kubernetes/ssl/kube-apiserver.pem",
        "--service-account-key-file=/etc/kubernetes/ssl/kube-service-account-token-key.pem",
        "--secure-port=6443",
        "--anonymous-auth=false",
        "--authorization-mode=Node,RBAC",
      ]);
    }
    expect((await container(d, "node2", "kube-apiserver")).exists, "a worker runs no kube-apiserver").to.equal(false);
    for (const c of ["kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]) expect((await container(d, "master3", c)).running, c).to.equal(true);
    // No token, no access (anonymous auth is off).
    const anon = new Kube({ ...k3.target, token: "not-a-token" });
    const e = await anon.getJson("/api/v1/namespaces").then(() => undefined, (err: unknown) => err as { statusCode?: number });
    expect(e?.statusCode).to.equal(401);
  });

  let created = 0;

  it("pulumi up to learner-standby re-points every kube-apiserver at the voters, one at a time; no API write meets the learner", async () => {
    const before = new Map<string, ContainerView>();
    for (const h of ["master1", "master2", "master3"]) before.set(h, await container(d, h, "kube-apiserver"));
    let t0 = Date.now();
    const out = await up();
    report.upLearnerStandbyMs = Date.now() - t0;
    const ms = await memberList(d, d.etcd.endpoints.filter((e) => e !== M3_CLIENT));
    expect(ms.find((m) => m.name === "learner-master3")?.isLearner).to.equal(true);
    // RKE gave every kube-apiserver all four etcd hosts; a learner refuses the API server's RPCs, so each must now list
    // the voters only, with everything else RKE set unchanged (docker over OpenSSH, not the provider's report).
    const voters = d.etcd.endpoints.filter((e) => e !== M3_CLIENT).join(",");
    const windows: Array<{ host: string; from: number }> = [];
    for (const h of ["master1", "master2", "master3"]) {
      const b = before.get(h) as ContainerView;
      const c = await container(d, h, "kube-apiserver");
      expect([c.running, c.restartPolicy, c.networkMode, c.image], h).to.deep.equal([true, "always", "host", b.image]);
      expect(c.args.filter((a) => a.startsWith("--etcd-servers=")), h).to.deep.equal([`--etcd-servers=${voters}`]);
      expect(c.args.filter((a) => !a.startsWith("--etcd-servers=")), `${h}: every other flag as RKE set it`).to.deep.equal(b.args.filter((a) => !a.startsWith("--etcd-servers=")));
      await waitReady(kube(h), 60_000);
      const kept = await ssh(d, h, "docker ps -a --format '{{.Names}} {{.Status}}' --filter name=kube-apiserver-pre-");
      expect(kept.stdout.trim(), `${h}: the old container is kept, stopped`).to.match(/^kube-apiserver-pre-\S+ Exited/);
      windows.push({ host: h, from: startedMs(c.startedAt) });
    }
    // One host at a time: each re-creation starts after the previous one's /readyz passed (the provider's log order).
    const order = [...new Set([...out.matchAll(/kube-apiserver on (10\.250\.0\.\d+) answers \/readyz/g)].map((m) => m[1]))];
    expect(order, out).to.deep.equal(["10.250.0.103", "10.250.0.101", "10.250.0.102"]);
    const [m1, m2, m3] = windows.map((w) => w.from);
    expect(m3 < m1 && m1 < m2, `re-created one after another, site B first: ${JSON.stringify(windows)}`).to.equal(true);
    const again = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(again.code, again.stdout + again.stderr).to.equal(0);
    t0 = Date.now();
    await registerNodes(k1, d.hosts.map((h) => ({ name: h.name, address: h.address, roles: h.roles, kubeletVersion: d.kubernetes.version })));
    const w = await createWorkload(k1, SPEC);
    report.workloadMs = Date.now() - t0;
    created = w.objects.length;
    expect(created).to.equal(SPEC.namespaces * (1 + SPEC.configMaps + SPEC.secrets + SPEC.deployments + SPEC.services));
    expect(w.objects.every((o) => /^[0-9a-f-]{36}$/.test(o.uid))).to.equal(true);
    // Writes through site B's API server too (it now talks to site A's voters across the sites).
    const k3w = kube("master3");
    for (let i = 0; i < 40; i++) await createObject(k3w, { kind: "ConfigMap", namespace: `${RUN}-0`, name: `via-master3-${i}`, body: { metadata: { name: `via-master3-${i}`, namespace: `${RUN}-0`, labels: { [WORKLOAD_LABEL]: "via-master3" } }, data: { i: String(i) } } });
    report.retries = [...k1.retries, ...k3w.retries].map((r) => `${r.what}: ${r.error}`).slice(0, 10);
    expect([...k1.retries, ...k3w.retries].length, `no request retried (before the fix, about a quarter met the learner): ${JSON.stringify(report.retries)}`).to.equal(0);
    const nodes = await nodesTable(k1);
    console.log(`      nodes through master1:\n${nodes.text.replace(/^/gm, "        ")}`);
    expect(nodes.nodes.map((n) => n.metadata?.name)).to.deep.equal(["master1", "master2", "master3", "node1", "node2"]);
  });

  let watcher: Watcher;
  let served: Snapshot;
  const beforeCut: Record<string, string> = {};
  let cutAt = 0;

  it("a watch on master3's API server, started before the cut, follows new config maps", async () => {
    const list = await withRetry("list config maps", () => k3.core.listConfigMapForAllNamespaces({ labelSelector: `${WORKLOAD_LABEL}=${RUN}` }), { kube: k3 });
    expect(list.items).to.have.length(SPEC.namespaces * SPEC.configMaps);
    watcher = await new Watcher(k3, "/api/v1/configmaps", `${WORKLOAD_LABEL}=${RUN}`).start(list.metadata?.resourceVersion ?? "");
    for (let i = 0; i < 3; i++) {
      await createObject(k1, { kind: "ConfigMap", namespace: `${RUN}-0`, name: `watched-${i}`, body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `watched-${i}`, namespace: `${RUN}-0`, labels: { [WORKLOAD_LABEL]: RUN } }, data: { i: String(i) } } });
    }
    await waitFor(() => watcher.added.filter((n) => n.startsWith(`${RUN}-0/watched-`)).length === 3, { timeoutMs: 30_000, what: "the watch on master3 to see the three new config maps" });
    expect(watcher.ended).to.equal(undefined);
  });

  // An informer as an application runs one (client-node's ListWatch; its error handler starts it again a second
  // later, as client-node's README does, which resumes its watch from the last resourceVersion: it lists only when
  // told 410 Gone). The test never restarts it. Its lists are counted.
  let informer: k8s.Informer<k8s.V1ConfigMap> & k8s.ObjectCache<k8s.V1ConfigMap>;
  const informerLists: number[] = [];
  const informerErrors: string[] = [];
  let informerStopped = false;
  const LAGGED_NS = `${RUN}-2`;

  it("an informer on master3's API server (client-node) lists once and follows a namespace's config maps", async () => {
    const listFn = async (): Promise<k8s.KubernetesListObject<k8s.V1ConfigMap>> => {
      informerLists.push(Date.now());
      return k3.core.listNamespacedConfigMap({ namespace: LAGGED_NS });
    };
    informer = k8s.makeInformer(k3.kc, `/api/v1/namespaces/${LAGGED_NS}/configmaps`, listFn);
    informer.on("error", (err: unknown) => {
      informerErrors.push(err instanceof Error ? err.message.slice(0, 200) : JSON.stringify(err)?.slice(0, 200) ?? String(err));
      if (!informerStopped) setTimeout(() => void (informerStopped ? undefined : informer.start().catch(() => undefined)), 1000);
    });
    await informer.start();
    expect(informerLists).to.have.length(1);
    await createObject(k1, { kind: "ConfigMap", namespace: LAGGED_NS, name: "informed-0", body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "informed-0", namespace: LAGGED_NS, labels: { [WORKLOAD_LABEL]: "informed" } }, data: { i: "0" } } });
    await waitFor(() => informer.get("informed-0", LAGGED_NS) !== undefined, { timeoutMs: 30_000, what: "the informer to see a new config map" });
    expect(informerLists).to.have.length(1);
  });

  const lag = { siteALastRevision: 0, laggedNames: [] as string[] };

  it("site A loses power; pulumi up in failover mode restores master3's learner, restarts site B's components (@pulumi/command) and checks /readyz", async () => {
    // Everything the API serves, then the learner caught up with it.
    served = await snapshot(k1);
    report.objectsBefore = Object.keys(served.objects).length;
    report.workloadObjectsBefore = Object.values(served.objects).filter((o) => o.run === RUN).length;
    const leader = (await endpointStatuses(d, d.etcd.endpoints.filter((e) => e !== M3_CLIENT))).find((s) => s.leader === s.id);
    await waitFor(async () => ((await endpointStatuses(d, [M3_CLIENT]))[0]?.applied ?? 0) >= (leader?.raftIndex ?? Infinity),
      { timeoutMs: 60_000, what: "the learner to apply everything the snapshot saw" });
    for (const h of ["master3", "node2"]) for (const c of COMPONENTS) {
      const v = await container(d, h, c);
      if (v.exists) beforeCut[`${h}/${c}`] = v.startedAt;
    }
    expect(Object.keys(beforeCut)).to.have.length(7);
    // The learner falls behind, as a slow inter-site link leaves it: master3's peer traffic dropped while site A
    // writes on (through master1), and until the failover is done. What site A writes now is lost at the cut, and
    // its revisions are ones that master3's API server (and the informer through it) have already seen.
    await sandbox(["stall-peers", "master3", "on"]);
    for (let i = 0; i < 20; i++) {
      const name = `lagged-${i}`;
      await createObject(k1, { kind: "ConfigMap", namespace: LAGGED_NS, name, body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: LAGGED_NS, labels: { [WORKLOAD_LABEL]: "lagged" } }, data: { i: String(i) } } });
      lag.laggedNames.push(name);
    }
    await waitFor(() => lag.laggedNames.every((n) => informer.get(n, LAGGED_NS) !== undefined), { timeoutMs: 30_000, what: "the informer (through master3's API server, on site A's voters) to see the lagged config maps" });
    const siteA = await endpointStatuses(d, d.etcd.endpoints.filter((e) => e !== M3_CLIENT));
    lag.siteALastRevision = Math.max(...siteA.map((st) => st.revision));
    cutAt = Date.now();
    await sandbox(["power-off", "A"]);
    await pulumi(ws, ["config", "set", "topology.mode", "failover", "--stack", "sandbox"]);
    const t0 = Date.now();
    const out = await up();
    report.upFailoverMs = Date.now() - t0;
    await sandbox(["stall-peers", "master3", "off"]);
    expect(out).to.match(/command:remote:Command/);
    const o = JSON.parse((await pulumi(ws, ["stack", "output", "--json", "--stack", "sandbox"])).stdout) as { failoverReport: { newClusterId: string; dataLossWindow: number; learnerRevision: number; restoredRevision: number; bumpApplied: number; recordedFrom: string } };
    report.newClusterId = o.failoverReport.newClusterId;
    report.revisions = { siteALast: lag.siteALastRevision, learner: o.failoverReport.learnerRevision, restored: o.failoverReport.restoredRevision, bumpApplied: o.failoverReport.bumpApplied };
    expect(o.failoverReport.dataLossWindow).to.equal(0);
    expect(o.failoverReport.recordedFrom).to.equal("live");
    expect(o.failoverReport.bumpApplied).to.equal(1_000_000_000);
    expect(o.failoverReport.restoredRevision).to.equal(o.failoverReport.learnerRevision);
    // The learner lagged: site A gave out revisions the restored cluster never had.
    expect(o.failoverReport.learnerRevision, JSON.stringify(report.revisions)).to.be.lessThan(lag.siteALastRevision);

    // The restart happened: every component on site B runs with a start time after the cut (docker, over OpenSSH).
    for (const [key, was] of Object.entries(beforeCut)) {
      const [h, c] = key.split("/");
      const now = await container(d, h, c);
      expect(now.running, key).to.equal(true);
      expect(startedMs(now.startedAt), `${key} restarted after the cut (was ${was}, now ${now.startedAt})`).to.be.greaterThan(cutAt);
    }
    // ...and the component says so: its commands' stdout in the state.
    const state = JSON.parse((await pulumi(ws, ["stack", "export", "--stack", "sandbox"])).stdout) as { deployment: { resources: Array<{ type: string; urn: string; outputs?: { stdout?: string; triggers?: unknown[] } }> } };
    const cmd = (name: string): { stdout?: string; triggers?: unknown[] } | undefined => state.deployment.resources.find((r) => r.type === "command:remote:Command" && r.urn.endsWith(`::${name}`))?.outputs;
    expect(cmd("restart-master3")?.stdout?.split("\n").filter((l) => l.startsWith("restarted ")).map((l) => l.split(" ")[1])).to.deep.equal(COMPONENTS);
    expect(cmd("restart-node2")?.stdout).to.match(/^absent kube-apiserver$/m).and.match(/^restarted kubelet /m).and.match(/^restarted kube-proxy /m);
    expect(cmd("restart-master3")?.triggers).to.deep.equal([o.failoverReport.newClusterId]);
    expect(cmd("apiserver-ready-master3")?.stdout).to.match(/^\[\+\]etcd ok$/m).and.match(/readyz check passed/);
    expect(cmd("apiserver-ready-node2")).to.equal(undefined);
    report.restartMaster3 = cmd("restart-master3")?.stdout;
    report.apiServerReady = cmd("apiserver-ready-master3")?.stdout;
    // A second up would not run them again: they run once per new cluster. (Other failover steps, such as
    // fencing the powered-off site, may still have work left; they are not this test's.)
    const again = await pulumi(ws, ["preview", "--stack", "sandbox"]);
    expect(again.stdout).to.match(/unchanged/);
    expect(again.stdout).to.not.match(/^\s*[-+~<>]+\s+(command:remote:Command|etcdstandby:index:KubeRestart)\b/m);
  });

  it("master3's API server serves every object served before the cut: same UIDs, same content; the nodes are listed", async () => {
    await waitReady(k3, 60_000);
    const after = await snapshot(k3);
    const diff = compareSnapshots(served, after, [RUN]);
    report.objectsAfter = Object.keys(after.objects).length;
    report.diff = { same: diff.same, missing: diff.missing.length, uidChanged: diff.uidChanged.length, workloadContentChanged: diff.contentChanged.length, keptCurrentByApiServers: diff.systemChanged.length, added: diff.added.length, leakedIpAllocationsReleased: diff.released };
    report.systemChanged = diff.systemChanged.slice(0, 20);
    expect(diff.missing, "objects no longer served").to.deep.equal([]);
    expect(diff.uidChanged, "objects with another UID").to.deep.equal([]);
    expect(diff.contentChanged, "workload objects whose content changed").to.deep.equal([]);
    // Only leaked IP allocations (a service create that failed on the learner after allocating) may go: the API server's repair loop releases them.
    expect(diff.released.every((k) => k.startsWith("networking.k8s.io/IPAddress//"))).to.equal(true);
    expect(Object.keys(after.objects).length).to.be.at.least(Object.keys(served.objects).length - diff.released.length);
    expect(countsByKind(after, RUN)).to.deep.equal(countsByKind(served, RUN));
    const nodes = await nodesTable(k3);
    console.log(`      nodes through master3 after failover:\n${nodes.text.replace(/^/gm, "        ")}`);
    expect(nodes.nodes.map((n) => `${n.metadata?.name}:${n.metadata?.uid}`)).to.deep.equal(
      ["master1", "master2", "master3", "node1", "node2"].map((n) => `${n}:${served.objects[`core/Node//${n}`]?.uid}`));
  });

  it("accepts a new object, which lands in the new etcd cluster", async () => {
    const o = await createObject(k3, { kind: "ConfigMap", namespace: `${RUN}-0`, name: "after-failover", body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after-failover", namespace: `${RUN}-0`, labels: { [WORKLOAD_LABEL]: RUN } }, data: { site: "B" } } });
    expect(o.uid).to.match(/^[0-9a-f-]{36}$/);
    const got = await k3.core.readNamespacedConfigMap({ name: "after-failover", namespace: `${RUN}-0` });
    expect(got.data).to.deep.equal({ site: "B" });
    const keys = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", `/registry/configmaps/${RUN}-0/after-failover`, "--keys-only", "-w", "json"]);
    const parsed = parseEtcdctlJson<{ header: { cluster_id: string }; kvs?: unknown[] }>(keys.stdout);
    expect(parsed.kvs ?? []).to.have.length(1);
    expect(hexId(parsed.header.cluster_id)).to.equal(report.newClusterId);
  });

  it("revisions never go back: the first write after the failover gets one above site A's last, and watching from site A's last is refused as compacted (etcdctl)", async () => {
    const put = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", "/etcd-standby-test/first-after-failover", "x", "-w", "json"]);
    const rev = Number(parseEtcdctlJson<{ header: { revision: number } }>(put.stdout).header.revision);
    report.firstWriteRevision = rev;
    expect(rev, JSON.stringify(report.revisions)).to.be.greaterThan(lag.siteALastRevision);
    expect(rev).to.be.greaterThan(1_000_000_000);
    const watched = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "watch", "--prefix", "/registry/", `--rev=${lag.siteALastRevision}`], { allowFailure: true, timeoutMs: 20_000 });
    report.watchFromSiteALast = `${watched.stdout}${watched.stderr}`.trim().slice(0, 300);
    expect(`${watched.stdout}${watched.stderr}`).to.match(/required revision has been compacted/);
    expect(watched.code).to.not.equal(0);
  });

  it("the informer started before the cut relists by itself (told 410 Gone) and ends with exactly the config maps a fresh list shows; the lagged ones are gone", async () => {
    const names = (items: readonly k8s.V1ConfigMap[]): string[] => items.map((c) => `${c.metadata?.name}@${c.metadata?.resourceVersion}`).sort();
    const fresh = await waitFor(async () => {
      if (informerLists.length < 2) return undefined;
      const list = await k3.core.listNamespacedConfigMap({ namespace: LAGGED_NS });
      return JSON.stringify(names(informer.list(LAGGED_NS))) === JSON.stringify(names(list.items)) ? list : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, what: "the informer to relist and hold what a fresh list shows" });
    report.informer = { lists: informerLists.map((t) => t - cutAt), errors: informerErrors.slice(0, 5), objects: fresh.items.length };
    // Listed once at its start, then again only because it was told 410 Gone after the failover.
    expect(informerLists[0]).to.be.lessThan(cutAt);
    expect(informerLists.slice(1).every((t) => t > cutAt), JSON.stringify(report.informer)).to.equal(true);
    const cached = informer.list(LAGGED_NS).map((c) => c.metadata?.name ?? "");
    expect(cached).to.include("informed-0");
    expect(cached.filter((n) => lag.laggedNames.includes(n)), "config maps written while the learner lagged (lost at the cut) still in the informer").to.deep.equal([]);
    expect(fresh.items.map((c) => c.metadata?.name ?? "").filter((n) => lag.laggedNames.includes(n)), "lost config maps served").to.deep.equal([]);
    informerStopped = true;
    await informer.stop();
  });

  it("the watch started before the cut ends with 410 Gone, and a relist serves everything", async () => {
    // The restart of master3's kube-apiserver ended the watch.
    await waitFor(() => watcher.ended !== undefined, { timeoutMs: 30_000, what: "the pre-cut watch to end with master3's restart" });
    report.watchEnded = { afterCutMs: (watcher.ended?.at ?? 0) - cutAt, error: watcher.ended?.err instanceof Error ? watcher.ended.err.message : (JSON.stringify(watcher.ended?.err) ?? null), lastResourceVersion: watcher.lastRV };
    const resumed = await new Watcher(k3, "/api/v1/configmaps", `${WORKLOAD_LABEL}=${RUN}`).start(watcher.lastRV);
    const expected = new Set([...Object.keys(served.objects).filter((k) => k.startsWith("core/ConfigMap/") && served.objects[k].run === RUN).map((k) => k.split("/").slice(2).join("/")), `${RUN}-0/after-failover`]);
    // The revision bump: every revision from before the restore reads as compacted, so a watch resumed from one is told 410 Gone.
    await waitFor(() => resumed.gone || resumed.added.includes(`${RUN}-0/after-failover`) || undefined, { timeoutMs: 30_000, what: "the resumed watch to end with 410 Gone" });
    report.watchResume = resumed.gone ? { outcome: "410 Gone", errors: resumed.errors } : { outcome: "resumed", events: resumed.events.length };
    resumed.stop();
    expect(resumed.gone, JSON.stringify(report.watchResume)).to.equal(true);
    // The relist (what a client does after 410, and a check of a resumed one): every config map, then a fresh watch from it.
    const relist = await k3.core.listConfigMapForAllNamespaces({ labelSelector: `${WORKLOAD_LABEL}=${RUN}` });
    const names = new Set(relist.items.map((c) => `${c.metadata?.namespace}/${c.metadata?.name}`));
    expect([...expected].filter((n) => !names.has(n)), "config maps missing from the relist").to.deep.equal([]);
    expect(names.size).to.equal(expected.size);
    const fresh = await new Watcher(k3, "/api/v1/configmaps", `${WORKLOAD_LABEL}=${RUN}`).start(relist.metadata?.resourceVersion ?? "");
    try {
      await createObject(k3, { kind: "ConfigMap", namespace: `${RUN}-1`, name: "after-relist", body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after-relist", namespace: `${RUN}-1`, labels: { [WORKLOAD_LABEL]: RUN } }, data: { x: "y" } } });
      await waitFor(() => fresh.added.includes(`${RUN}-1/after-relist`), { timeoutMs: 30_000, what: "the watch from the relist to see a new config map" });
      expect(fresh.gone).to.equal(false);
    } finally {
      fresh.stop();
    }
    await sleep(100);
  });

  it("never shows the SSH key or the etcd key in plaintext in the state or the output", () => {
    const lines = [...fs.readFileSync(d.etcd.keyFile, "utf8").split("\n"), ...fs.readFileSync(d.ssh.privateKeyFile, "utf8").split("\n")].filter((l) => l.length > 40 && !l.startsWith("-----"));
    expect(lines.length).to.be.greaterThan(0);
    const state = backendText(ws);
    expect(state).to.include("command:remote:Command");
    for (const l of lines) {
      expect(state.includes(l), "state").to.equal(false);
      expect(transcript.text.includes(l), "output").to.equal(false);
    }
  });
});
