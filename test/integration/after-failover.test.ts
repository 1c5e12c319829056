/**
 * After failover (issue: the old site never serves again), with the stack
 * program and the real engine on the sandbox: learner-standby, site A powered
 * off, `pulumi up` in failover mode while a client writes to site B from its
 * first acknowledged write on, then site A powered on with its network cut
 * (the safe order): its old voters are a healthy, writable cluster again.
 * `pulumi preview` shows the fence step; `pulumi up` fences site A, and
 * afterwards every old site-A endpoint refuses a put and a linearizable get,
 * also once the network is back; master3's kube-apiserver lists only the new
 * endpoint; node2's nginx-proxy lists only master3; a snapshot of the new
 * cluster taken after the failover is in /opt/rke/etcd-snapshots; no write
 * acknowledged by site B is lost; a second preview changes nothing. Then
 * rebuild mode: site A's etcd hosts join the new cluster one at a time and
 * vote. Then fail back: master3 a learner of the same new cluster again,
 * every kube-apiserver at site A's voters, site A's components running,
 * while a paced writer (1,000 puts/s) writes to site A; every acknowledged
 * write is there at the end. From the fence on, a sampler puts to every etcd
 * endpoint every 100 ms: no sample sees two clusters accept writes, and the
 * serving cluster accepts at every sample. Checked with etcdctl and docker
 * over OpenSSH. Ordered.
 */
import { expect } from "chai";
import type { Etcd3 } from "etcd3";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run } from "../support/exec";
import { pulumi, removeWorkspace, sandboxStackWorkspace, Workspace } from "../support/pulumi";
import { describe as describeSandbox, etcdctl, memberList, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { waitFor } from "../support/wait";
import { client } from "../../support/load";
import { pacedWriter } from "../../scripts/bench/traffic";
import type { PacedWriter } from "../../scripts/bench/traffic";
import { splitBrains, splitBrainSampler, withoutQuorum } from "../support/splitBrain";
import type { SplitBrainSampler } from "../support/splitBrain";

const M3_CLIENT = "https://10.250.0.103:2379";

/** A client writing to the new cluster, one key at a time, recording every acknowledged key. */
class Writer {
  readonly acked: string[] = [];
  refused = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly client: Etcd3;
  constructor(d: SandboxDescription) {
    this.client = client({ endpoints: [M3_CLIENT], caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile });
  }
  start(): void {
    this.loop = (async () => {
      for (let n = 0; !this.stopped; n++) {
        const key = `/registry/configmaps/default/after-failover-${n}`;
        try {
          await this.client.put(key).value(String(n)).options({ deadline: new Date(Date.now() + 2000) }).exec();
          this.acked.push(key);
        } catch {
          this.refused++;
          await new Promise((r) => setTimeout(r, 200));
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.client.close();
  }
}

describe("after failover: the old site never serves again, Kubernetes talks only to the new cluster, backups resume (ordered)", function () {
  this.timeout(1_200_000);
  let d: SandboxDescription;
  let ws: Workspace;
  let writer: Writer | undefined;
  let sampler: SplitBrainSampler | undefined;
  let paced: PacedWriter | undefined;
  const target = (endpoints: string[]) => ({ endpoints, caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile });
  const siteA = (): string[] => d.etcd.endpoints.filter((e) => !e.includes(".103:"));

  /** Whether an old endpoint takes a put or answers a linearizable get (3 s each), as etcdctl sees it. */
  async function serves(endpoint: string): Promise<{ put: boolean; get: boolean }> {
    const put = await etcdctl(d, [`--endpoints=${endpoint}`, "--command-timeout=3s", "put", "/etcd-standby/test-probe", "x"], { allowFailure: true });
    const get = await etcdctl(d, [`--endpoints=${endpoint}`, "--command-timeout=3s", "get", "/etcd-standby/test-probe", "--consistency=l"], { allowFailure: true });
    return { put: put.code === 0, get: get.code === 0 };
  }

  before(async () => {
    await sandbox(["down"]);
    await sandbox(["up"]);
    d = describeSandbox();
    await waitFor(async () => (await memberList(d)).every((m) => m.name !== ""), { timeoutMs: 60_000, what: "four started voters" });
    for (let i = 0; i < 20; i++) await etcdctl(d, [`--endpoints=${siteA()[0]}`, "put", `/registry/configmaps/default/before-${i}`, `value-${i}`]);
    ws = await sandboxStackWorkspace("after-failover", d.etcd.keyFile);
    await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 900_000 });
  });
  after(async () => {
    await writer?.stop();
    await paced?.stop();
    await sampler?.stop();
    if (ws) removeWorkspace(ws);
    await sandbox(["down"]);
  });

  it("failover with site A off: site B serves, a client writes from its first acknowledged write on; site A's fences wait for it", async () => {
    await waitFor(async () => (await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", "/registry/configmaps/default/before-19", "--consistency=s", "--print-value-only"], { allowFailure: true })).stdout.trim() === "value-19", { timeoutMs: 30_000, what: "the learner to apply the last key" });
    await sandbox(["power-off", "A"]);
    writer = new Writer(d);
    writer.start();
    await pulumi(ws, ["config", "set", "topology.mode", "failover", "--stack", "sandbox"]);
    const r = await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 900_000 });
    expect(r.stdout).to.match(/does not answer SSH .*not fenced yet/);
    await waitFor(() => (writer as Writer).acked.length > 20, { timeoutMs: 30_000, what: "writes acknowledged by the new cluster" });
  });

  it("master3's kube-apiserver lists only the new endpoint; node2's nginx-proxy only master3 (read back from the containers)", async () => {
    const api = await ssh(d, "master3", "docker inspect -f '{{json .Args}} {{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' kube-apiserver; docker ps -a --format '{{.Names}} {{.State}}' | grep '^kube-apiserver-pre-'");
    expect(api.stdout).to.include(`"--etcd-servers=${M3_CLIENT}"`);
    expect(api.stdout).to.not.match(/10\.250\.0\.10[124]:2379/);
    expect(api.stdout.split("\n")[0]).to.match(/ true always$/);
    expect(api.stdout).to.match(/^kube-apiserver-pre-\S+ exited$/m);
    const proxy = await ssh(d, "node2", "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' nginx-proxy | grep '^CP_HOSTS='");
    expect(proxy.stdout.trim()).to.equal("CP_HOSTS=10.250.0.103");
  });

  it("backups resume on master3: RKE's etcd-rolling-snapshots runs again and a snapshot holds a write made after the failover", async () => {
    const ps = await ssh(d, "master3", "docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' etcd-rolling-snapshots");
    expect(ps.stdout.trim()).to.equal("true always");
    const after = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", "/registry/configmaps/default/backup-check", "1", "-w", "json"]);
    const rev = Number(/"revision":(\d+)/.exec(after.stdout)?.[1]);
    const dir = path.join(d.dir, "hosts", "master3", "opt-rke", "etcd-snapshots");
    // the sandbox's schedule is 30 s: the next scheduled snapshot must hold the write
    const found = await waitFor(async () => {
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".db")).sort().reverse()) {
        const st = await run(["etcdctl", "snapshot", "status", path.join(dir, f), "-w", "json"], { env: { ...process.env, ETCDCTL_API: "3" }, allowFailure: true });
        const r = Number(/"revision":(\d+)/.exec(st.stdout)?.[1] ?? 0);
        if (r >= rev) return { f, r };
      }
      return undefined;
    }, { timeoutMs: 90_000, intervalMs: 2000, what: `a snapshot in ${dir} at revision >= ${rev}` });
    expect(found.r).to.be.at.least(rev);
  });

  it("site A powered on with its network cut serves again (the window); preview shows the fence step, up fences it: every old endpoint refuses", async () => {
    await sandbox(["power-on", "A", "--isolated"]);
    await waitFor(async () => (await serves(siteA()[0])).put, { timeoutMs: 120_000, what: "site A's old cluster to serve again (RKE restarts it)" });
    const preview = await pulumi(ws, ["preview", "--diff", "--stack", "sandbox"]);
    expect(preview.stdout).to.match(/~ pulumi-nodejs:dynamic\/etcdstandby:SiteFence: \(update\)/);
    const upOut = await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 900_000 });
    expect(upOut.stdout).to.match(/WARNING: the old cluster SERVES at/);
    for (const e of siteA()) expect(await serves(e), e).to.deep.equal({ put: false, get: false });
    // From here on, two clusters must never accept writes at once (sampled every 100 ms until the end of fail back).
    sampler = splitBrainSampler(target(d.etcd.endpoints), d.etcd.endpoints, { intervalMs: 100, deadlineMs: 1000 });
    for (const h of ["master1", "master2", "node1"]) {
      const c = await ssh(d, h, "docker ps -a --format '{{.Names}}' | grep -E '^(etcd|etcd-rolling-snapshots|kube-apiserver)$' | xargs -r docker inspect -f '{{.Name}} {{.State.Running}} {{.HostConfig.RestartPolicy.Name}}'");
      for (const line of c.stdout.trim().split("\n").filter(Boolean)) expect(line, `${h}: ${line}`).to.match(/ false no$/);
      const data = await ssh(d, h, "ls /var/lib/etcd");
      if (h !== "master3") expect(data.stdout, `${h} keeps its data`).to.include("member");
    }
  });

  it("with site A's network back, its endpoints still refuse, and a second preview changes nothing", async () => {
    await sandbox(["reconnect", "A"]);
    await new Promise((r) => setTimeout(r, 5000));
    for (const e of siteA()) expect(await serves(e), e).to.deep.equal({ put: false, get: false });
    const again = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(again.code).to.equal(0);
  });

  it("rebuild: site A's etcd hosts join the new cluster one at a time, under RKE's names, and vote; kube-apiserver lists every new voter", async () => {
    await pulumi(ws, ["config", "set", "topology.mode", "rebuild", "--stack", "sandbox"]);
    const preview = await pulumi(ws, ["preview", "--diff", "--stack", "sandbox"]);
    const creates = [...preview.stdout.matchAll(/\+ pulumi-nodejs:dynamic\/etcdstandby:(\w+): \(create\)/g)].map((m) => m[1]);
    expect(creates).to.deep.equal(["RkeContainerCleanup", "EtcdLearner", "EtcdLearnerPromotion", "RkeContainerCleanup", "EtcdLearner", "EtcdLearnerPromotion", "RkeContainerCleanup", "EtcdLearner", "EtcdLearnerPromotion"]);
    await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 900_000 });
    const ms = await memberList(d, [M3_CLIENT]);
    expect(ms.map((m) => `${m.name}:${m.isLearner === true ? "learner" : "voter"}`).sort()).to.deep.equal(["etcd-master1:voter", "etcd-master2:voter", "etcd-node1:voter", "new-cluster:voter"]);
    const health = await etcdctl(d, [`--endpoints=${[M3_CLIENT, ...siteA()].join(",")}`, "endpoint", "health"]);
    expect(health.code).to.equal(0);
    for (const h of ["master1", "master2", "node1"]) {
      const c = await ssh(d, h, "docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}} {{index .Config.Labels \"io.etcd-standby.member\"}}' etcd; docker ps -a --format '{{.Names}}' | grep -c '^etcd-removed-'");
      expect(c.stdout.split("\n")[0], h).to.equal(`true always etcd-${h}`);
      expect(Number(c.stdout.split("\n")[1]), `${h} keeps its old etcd container, renamed`).to.equal(1);
    }
    const api = await ssh(d, "master3", "docker inspect -f '{{range .Args}}{{println .}}{{end}}' kube-apiserver | grep -- '--etcd-servers='");
    expect(api.stdout.trim()).to.equal(`--etcd-servers=${[M3_CLIENT, ...siteA()].join(",")}`);
    const again = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(again.code).to.equal(0);
  });

  it("no write site B acknowledged is lost", async () => {
    const w = writer as Writer;
    await w.stop();
    writer = undefined;
    expect(w.acked.length).to.be.greaterThan(50);
    // read through a rebuilt site-A voter (linearizable): the whole new cluster holds them
    const keys = await etcdctl(d, [`--endpoints=${siteA()[0]}`, "get", "/registry/configmaps/default/after-failover-", "--prefix", "--keys-only"]);
    const have = new Set(keys.stdout.split("\n").filter(Boolean));
    const lost = w.acked.filter((k) => !have.has(k));
    expect(lost, `lost ${lost.length} of ${w.acked.length}`).to.deep.equal([]);
  });
  it("fail back: preview --diff shows the steps; up makes master3 a learner of the same new cluster, without a restore, under a paced writer", async () => {
    const out = JSON.parse((await pulumi(ws, ["stack", "output", "--json", "--stack", "sandbox"])).stdout) as { failoverReport: { newClusterId: string } };
    const newClusterId = out.failoverReport.newClusterId;
    await pulumi(ws, ["config", "set", "topology.mode", "failback", "--stack", "sandbox"]);
    const preview = await pulumi(ws, ["preview", "--diff", "--stack", "sandbox"]);
    const steps = [...preview.stdout.matchAll(/^\s*([-+~]+)\s*pulumi-nodejs:dynamic\/etcdstandby:(\w+): \((\w+)\)/gm)].map((m) => `${m[2]}:${m[3]}`);
    for (const step of ["RkeContainerRepoint:create", "RkeContainerRepoint:update", "EtcdMemberRemoval:create", "RkeContainerCleanup:create", "EtcdLearner:update", "EtcdRollingSnapshots:delete"]) {
      expect(steps, preview.stdout).to.include(step);
    }
    expect(steps.filter((x) => x.startsWith("EtcdStandaloneRestore")), "no restore").to.deep.equal([]);
    paced = pacedWriter(target(siteA()), { rate: 1000, clients: 32, tag: "failback", deadlineMs: 3000 });
    const t0 = Date.now();
    await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 900_000 });
    console.log(`      fail back took ${Date.now() - t0} ms; the writer had ${paced.acked.size} puts acknowledged and ${paced.failed()} failed`);
    // The same cluster, site A's three voters and master3's learner (etcdctl, from site A).
    const list = await etcdctl(d, [`--endpoints=${siteA().join(",")}`, "member", "list", "-w", "json"]);
    const parsed = JSON.parse(list.stdout) as { members: Array<{ name: string; isLearner?: boolean }> };
    // uint64 IDs do not survive JSON.parse: read the digits.
    const clusterId = BigInt(/"cluster_id":(\d+)/.exec(list.stdout)?.[1] ?? "0").toString(16).padStart(16, "0");
    expect(clusterId, "the same cluster the failover restored").to.equal(newClusterId.padStart(16, "0"));
    expect(parsed.members.map((m) => `${m.name}:${m.isLearner === true ? "learner" : "voter"}`).sort()).to.deep.equal(["etcd-master1:voter", "etcd-master2:voter", "etcd-node1:voter", "learner-master3:learner"]);
    // master3: the learner runs on a fresh data dir; the restored etcd and its backups are kept, stopped and renamed; the restored data archived.
    const m3 = await ssh(d, "master3", "docker inspect -f '{{.State.Running}} {{index .Config.Labels \"io.etcd-standby.member\"}}' etcd-learner; docker ps -a --format '{{.Names}} {{.State}}' | sort; ls -d /var/lib/etcd-restored* 2>/dev/null");
    expect(m3.stdout.split("\n")[0]).to.equal("true learner-master3");
    expect(m3.stdout).to.not.match(/^etcd running$/m);
    expect(m3.stdout).to.not.match(/^etcd-rolling-snapshots running$/m);
    expect(m3.stdout).to.match(/^etcd-removed-\S+ exited$/m);
    expect(m3.stdout).to.not.match(/^\/var\/lib\/etcd-restored$/m);
    expect(m3.stdout).to.match(/^\/var\/lib\/etcd-restored\.removed-/m);
    // Kubernetes: every kube-apiserver at site A's voters, running, restart always; node2's nginx-proxy lists every control-plane host.
    for (const h of ["master1", "master2", "master3"]) {
      const api = await ssh(d, h, "docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' kube-apiserver; docker inspect -f '{{range .Args}}{{println .}}{{end}}' kube-apiserver | grep -- '--etcd-servers='");
      expect(api.stdout.trim().split("\n"), h).to.deep.equal(["true always", `--etcd-servers=${siteA().join(",")}`]);
    }
    const proxy = await ssh(d, "node2", "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' nginx-proxy | grep '^CP_HOSTS='");
    expect(proxy.stdout.trim()).to.equal("CP_HOSTS=10.250.0.101,10.250.0.102,10.250.0.103");
    // Site A's backups run again where RKE had them.
    for (const h of ["master1", "master2", "node1"]) {
      const b = await ssh(d, h, "docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' etcd-rolling-snapshots");
      expect(b.stdout.trim(), h).to.equal("true always");
    }
    // The learner catches up: it applies everything the leader had committed once the up was done (the writer goes on).
    const status = async (eps: string[]): Promise<Array<{ Endpoint: string; raftIndex: number; applied: number; isLeader: boolean }>> => {
      const st = await etcdctl(d, [`--endpoints=${eps.join(",")}`, "endpoint", "status", "-w", "json"], { allowFailure: true });
      return (JSON.parse(st.stdout || "[]") as Array<{ Endpoint: string; Status: { raftIndex: number; raftAppliedIndex?: number; leader: number; header: { member_id: number } } }>)
        .map((r) => ({ Endpoint: r.Endpoint, raftIndex: r.Status.raftIndex, applied: r.Status.raftAppliedIndex ?? r.Status.raftIndex, isLeader: r.Status.leader === r.Status.header.member_id }));
    };
    const committed = Math.max(...(await status(siteA())).map((r) => r.raftIndex));
    expect(committed).to.be.greaterThan(0);
    await waitFor(async () => ((await status([M3_CLIENT]))[0]?.applied ?? 0) >= committed, { timeoutMs: 60_000, what: `master3's learner to apply index ${committed}` });
  });

  it("after fail back: no drift (refresh), nothing to do (preview --expect-no-changes); every write the paced writer had acknowledged is there", async () => {
    const first = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(first.code).to.equal(0);
    const refresh = await pulumi(ws, ["refresh", "--yes", "--stack", "sandbox"], { timeoutMs: 600_000 });
    expect(refresh.code).to.equal(0);
    const again = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(again.code, again.stdout).to.equal(0);
    const w = paced as PacedWriter;
    await w.stop();
    paced = undefined;
    expect(w.acked.size).to.be.greaterThan(1000);
    const keys = await etcdctl(d, [`--endpoints=${siteA().join(",")}`, "get", "/registry/pods/", "--prefix", "--keys-only"]);
    const have = new Set(keys.stdout.split("\n").filter(Boolean));
    const lost = [...w.acked.keys()].filter((k) => !have.has(k));
    expect(lost, `lost ${lost.length} of ${w.acked.size}`).to.deep.equal([]);
  });

  it("from the fence on, no sample saw two clusters accept writes, and the serving cluster accepted at every sample", async () => {
    const s = sampler as SplitBrainSampler;
    await s.stop();
    sampler = undefined;
    const brains = splitBrains(s.samples);
    const none = withoutQuorum(s.samples);
    console.log(`      ${s.samples.length} samples over ${((s.samples[s.samples.length - 1].at - s.samples[0].at) / 1000).toFixed(0)} s; split brain in ${brains.length}; no endpoint accepting in ${none.length}`);
    expect(s.samples.length).to.be.greaterThan(100);
    expect(brains, JSON.stringify(brains.slice(0, 3))).to.deep.equal([]);
    expect(none.map((x) => new Date(x.at).toISOString()), "samples in which the serving cluster accepted no write").to.deep.equal([]);
  });
  it("a destroy at the fail back resting point (on a copy of the state) removes no voter and no data of the serving cluster", async () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "esb-destroy-copy-"));
    fs.cpSync(ws.backend, copy, { recursive: true });
    const keysBefore = await etcdctl(d, [`--endpoints=${siteA().join(",")}`, "get", "/registry/", "--prefix", "--keys-only", "--limit=1", "-w", "json"]);
    const before = Number(/"count":(\d+)/.exec(keysBefore.stdout)?.[1] ?? -1);
    try {
      const r = await pulumi({ ...ws, backend: copy, env: { ...ws.env, PULUMI_BACKEND_URL: `file://${copy}` } }, ["destroy", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 600_000 });
      expect(r.stdout).to.match(/is a voter now: deleting the resource leaves it/);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
    const ms = await memberList(d, siteA());
    expect(ms.filter((m) => m.isLearner !== true).map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    const health = await etcdctl(d, [`--endpoints=${siteA().join(",")}`, "endpoint", "health"]);
    expect(health.code).to.equal(0);
    for (const h of ["master1", "master2", "node1"]) {
      const c = await ssh(d, h, "docker inspect -f '{{.State.Running}}' etcd; ls /var/lib/etcd");
      expect(c.stdout.split("\n")[0], h).to.equal("true");
      expect(c.stdout, `${h} keeps its data`).to.include("member");
    }
    const keysAfter = await etcdctl(d, [`--endpoints=${siteA().join(",")}`, "get", "/registry/", "--prefix", "--keys-only", "--limit=1", "-w", "json"]);
    expect(Number(/"count":(\d+)/.exec(keysAfter.stdout)?.[1] ?? -2)).to.be.at.least(before);
  });
});
