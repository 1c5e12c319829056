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
 * vote. Checked with etcdctl and docker over OpenSSH. Ordered.
 */
import { expect } from "chai";
import { Etcd3 } from "etcd3";
import * as fs from "fs";
import * as path from "path";
import { run } from "../support/exec";
import { pulumi, removeWorkspace, sandboxStackWorkspace, Workspace } from "../support/pulumi";
import { describe as describeSandbox, etcdctl, memberList, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { waitFor } from "../support/wait";

const M3_CLIENT = "https://10.250.0.103:2379";

/** A client writing to the new cluster, one key at a time, recording every acknowledged key. */
class Writer {
  readonly acked: string[] = [];
  refused = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly client: Etcd3;
  constructor(d: SandboxDescription) {
    this.client = new Etcd3({ hosts: [M3_CLIENT], credentials: { rootCertificate: fs.readFileSync(d.etcd.caFile), certChain: fs.readFileSync(d.etcd.certFile), privateKey: fs.readFileSync(d.etcd.keyFile) } });
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
});
