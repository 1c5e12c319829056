/**
 * The two-site sandbox itself: up, four healthy voters over mTLS, RKE's
 * containers seen over SSH on every host, latency between the sites, a power
 * cut of site A (refused at once, or silent with --blackhole), power back on,
 * and a teardown that leaves nothing behind. Checked with etcdctl, curl,
 * OpenSSH and the kernel's own listings, not with the project's code.
 */
import { expect } from "chai";
import * as fs from "fs";
import { run } from "../support/exec";
import { describe as describeSandbox, etcdctl, memberList, sandbox, SANDBOX_DIR, SandboxDescription, ssh } from "../support/sandbox";
import { waitFor } from "../support/wait";

async function healthyEndpoints(d: SandboxDescription, endpoints: string[]): Promise<string[]> {
  const r = await etcdctl(d, [`--endpoints=${endpoints.join(",")}`, "endpoint", "health", "-w", "json"], { allowFailure: true });
  const lines = JSON.parse(r.stdout || "[]") as { endpoint: string; health: boolean }[];
  return lines.filter((l) => l.health).map((l) => l.endpoint).sort();
}

/** How long one `etcdctl endpoint health` read took, run from inside a host's network namespace (ms). */
async function healthTookFrom(d: SandboxDescription, netns: string, endpoint: string): Promise<number> {
  const r = await run([
    "nsenter", `--net=/var/run/netns/${netns}`, "--", "etcdctl", `--cacert=${d.etcd.caFile}`, `--cert=${d.etcd.certFile}`, `--key=${d.etcd.keyFile}`,
    "--dial-timeout=5s", "--command-timeout=10s", `--endpoints=${endpoint}`, "endpoint", "health", "-w", "json",
  ], { env: { ...process.env, ETCDCTL_API: "3" } });
  const [h] = JSON.parse(r.stdout) as { health: boolean; took: string }[];
  expect(h.health, `${endpoint} healthy from ${netns}`).to.equal(true);
  const m = /^([\d.]+)(µs|ms|s)$/.exec(h.took);
  if (!m) throw new Error(`unexpected took: ${h.took}`);
  return Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "ms" ? 1 : 0.001);
}

/**
 * Wall time (ms) of `etcdctl endpoint status` run from inside a host's network
 * namespace: the member answers Status itself, without raft, so this does not
 * depend on where the leader is.
 */
async function statusWallMsFrom(d: SandboxDescription, netns: string, endpoint: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run([
    "nsenter", `--net=/var/run/netns/${netns}`, "--", "etcdctl", `--cacert=${d.etcd.caFile}`, `--cert=${d.etcd.certFile}`, `--key=${d.etcd.keyFile}`,
    "--dial-timeout=5s", "--command-timeout=10s", `--endpoints=${endpoint}`, "endpoint", "status",
  ], { env: { ...process.env, ETCDCTL_API: "3" } });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * `curl` of an etcd URL with the sandbox's client certificate, from inside a
 * host's network namespace (or from the management address, the machine's
 * own), with a deadline of `maxTimeS`: its exit code (0 answered, 7 refused,
 * 28 timed out), how long it took, what it said.
 */
async function curlFrom(d: SandboxDescription, netns: string | undefined, url: string, maxTimeS: number): Promise<{ code: number; ms: number; said: string }> {
  const inNs = netns ? ["nsenter", `--net=/var/run/netns/${netns}`, "--"] : [];
  const t0 = Date.now();
  const r = await run([...inNs, "curl", "-sS", "--max-time", String(maxTimeS), "--cacert", d.etcd.caFile, "--cert", d.etcd.certFile, "--key", d.etcd.keyFile, url],
    { allowFailure: true, timeoutMs: (maxTimeS + 10) * 1000 });
  return { code: r.code, ms: Date.now() - t0, said: `${r.stdout}${r.stderr}`.trim() };
}

/** A bare TCP connect from a host's network namespace, given up after `secs`: 0 connected, 1 refused, 124 still waiting. */
async function tcpConnectFrom(netns: string, address: string, port: number, secs: number): Promise<number> {
  const r = await run(["nsenter", `--net=/var/run/netns/${netns}`, "--", "timeout", String(secs), "bash", "-c", `</dev/tcp/${address}/${port}`],
    { allowFailure: true, timeoutMs: (secs + 10) * 1000 });
  return r.code;
}

async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  const ns = await run(["ip", "netns", "list"]);
  if (/\besb-/.test(ns.stdout)) found.push(`netns: ${ns.stdout.trim()}`);
  const links = await run(["ip", "-o", "link", "show"]);
  for (const l of links.stdout.split("\n")) if (/: esb-/.test(l)) found.push(`link: ${l.split(":")[1].trim()}`);
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
  for (const l of mounts.split("\n")) if (l.includes(SANDBOX_DIR)) found.push(`mount: ${l}`);
  const ps = await run(["ps", "-eo", "pid,args"]);
  for (const l of ps.stdout.split("\n")) if (l.includes(SANDBOX_DIR) || /mirrored-coreos-etcd|--name=etcd-/.test(l)) found.push(`process: ${l.trim()}`);
  if (fs.existsSync(SANDBOX_DIR)) found.push(`dir: ${SANDBOX_DIR}`);
  return found;
}

describe("sandbox: the seed's two-site RKE cluster on one machine", function () {
  this.timeout(600_000);
  let d: SandboxDescription;

  before(async () => {
    await sandbox(["down"]);
    await sandbox(["up"]);
    d = describeSandbox();
  });
  after(async () => {
    await sandbox(["down"]);
  });

  it("describes five hosts in two sites with the seed's roles", () => {
    expect(d.hosts.map((h) => `${h.name}:${h.site}`)).to.deep.equal(["master1:A", "master2:A", "master3:B", "node1:A", "node2:B"]);
    expect(d.hosts.filter((h) => h.roles.includes("etcd")).map((h) => h.name)).to.deep.equal(["master1", "master2", "master3", "node1"]);
    expect(d.etcd.endpoints).to.have.length(4);
    for (const h of d.hosts) expect(h.hostPublicKey).to.match(/^ssh-ed25519 AAAA/);
  });

  it("runs four healthy voters over mTLS", async () => {
    const members = await waitFor(async () => {
      const m = await memberList(d);
      return m.length === 4 && m.every((x) => x.name !== "") ? m : undefined;
    }, { timeoutMs: 60_000, what: "four started members" });
    expect(members.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-master3", "etcd-node1"]);
    expect(members.every((m) => !m.isLearner)).to.equal(true);
    expect(members.every((m) => m.peerURLs[0].startsWith("https://"))).to.equal(true);
    expect(await waitFor(async () => {
      const h = await healthyEndpoints(d, d.etcd.endpoints);
      return h.length === 4 ? h : undefined;
    }, { timeoutMs: 60_000, what: "four healthy endpoints" })).to.have.length(4);
  });

  it("refuses a client without a certificate (client-cert-auth is on)", async () => {
    const r = await run(["etcdctl", `--endpoints=${d.etcd.endpoints[0]}`, `--cacert=${d.etcd.caFile}`, "--dial-timeout=2s", "--command-timeout=3s", "endpoint", "health"],
      { env: { ...process.env, ETCDCTL_API: "3" }, allowFailure: true });
    expect(r.code).to.not.equal(0);
  });

  it("shows RKE's containers with docker ps over SSH on every host (host keys pinned)", async () => {
    for (const h of d.hosts) {
      const r = await ssh(d, h.name, "docker ps --format '{{.Names}}' && echo HOST=$ESB_HOST && ls /etc/kubernetes/ssl");
      const names = r.stdout.split("\n").filter(Boolean);
      expect(names, h.name).to.include(`HOST=${h.name}`);
      if (h.roles.includes("etcd")) {
        expect(names, h.name).to.include.members(["etcd", "etcd-rolling-snapshots", "kube-ca.pem", `kube-etcd-${h.address.replace(/\./g, "-")}.pem`]);
      } else {
        expect(names, h.name).to.not.include("etcd");
      }
      // A real kube-apiserver on every controlplane host; site B also has placeholders under RKE's names, by role.
      if (h.roles.includes("controlplane")) expect(names, h.name).to.include.members(["kube-apiserver", "kube-apiserver.pem", "kube-node.pem"]);
      if (h.site === "B" && h.roles.includes("controlplane")) expect(names, h.name).to.include.members(["kube-controller-manager", "kube-scheduler"]);
      if (h.site === "B") expect(names, h.name).to.include.members(["kubelet", "kube-proxy"]);
    }
  });

  it("gives each host its own /var/lib/etcd", async () => {
    const a = await ssh(d, "master1", "ls /var/lib/etcd/member && cat /proc/sys/kernel/hostname >/dev/null && echo ok");
    expect(a.stdout).to.include("snap");
    const b = await ssh(d, "node2", "ls -A /var/lib/etcd | wc -l");
    expect(b.stdout.trim()).to.equal("0");
  });

  it("refuses an SSH connection whose host key does not match", async () => {
    const wrong = `${d.dir}/wrong_known_hosts`;
    const other = d.hosts[1];
    fs.writeFileSync(wrong, `${d.hosts[0].address} ${other.hostPublicKey}\n`);
    const r = await run(["ssh", "-i", d.ssh.privateKeyFile, "-o", `UserKnownHostsFile=${wrong}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
      `root@${d.hosts[0].address}`, "touch /tmp/esb-should-not-exist"], { allowFailure: true });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    expect(fs.existsSync("/tmp/esb-should-not-exist")).to.equal(false);
  });

  it("takes rolling snapshots on etcd hosts", async () => {
    const snaps = await waitFor(async () => {
      const r = await ssh(d, "master1", "ls /opt/rke/etcd-snapshots", { allowFailure: true });
      const files = r.stdout.split("\n").filter((f) => f.endsWith(".db"));
      return files.length > 0 ? files : undefined;
    }, { timeoutMs: 90_000, what: "a rolling snapshot on master1" });
    expect(snaps[0]).to.match(/^\d{8}T\d{6}\.db$/);
  });

  it("latency MS holds traffic between the sites MS ms each way; off takes it away", async () => {
    const L = 200;
    const m1 = "https://10.250.0.101:2379";
    const m2 = "https://10.250.0.102:2379";
    const m3 = "https://10.250.0.103:2379";
    await sandbox(["latency", String(L)]);
    // Any request across the sites waits for its answer to cross back: at least 2 x L, from either side.
    for (let i = 0; i < 3; i++) {
      expect(await healthTookFrom(d, "esb-master3", m1), "master3 -> master1 (read)").to.be.at.least(2 * L);
      expect(await healthTookFrom(d, "esb-master1", m3), "master1 -> master3 (read)").to.be.at.least(2 * L);
      expect(await statusWallMsFrom(d, "esb-master3", m1), "master3 -> master1 (status, whole etcdctl run)").to.be.at.least(2 * L);
    }
    // Inside a site nothing is held: the best of three status calls (answered by the member itself) is quick.
    const inside: number[] = [];
    for (let i = 0; i < 3; i++) inside.push(await statusWallMsFrom(d, "esb-master1", m2));
    expect(Math.min(...inside), "master1 -> master2 (status)").to.be.below(L);
    // The cluster's own peer traffic goes through the relays too (their accepted sockets), and it stays healthy.
    const relayed = await run(["nsenter", "--net=/var/run/netns/esb-master3", "--", "ss", "-Htn", "state", "established", "src", "127.0.0.1"]);
    expect(relayed.stdout, "master3's etcd reaches site A through its relay").to.match(/127\.0\.0\.1:2379[0-9]/);
    await waitFor(async () => (await healthyEndpoints(d, d.etcd.endpoints)).length === 4, { timeoutMs: 60_000, what: "four healthy endpoints with latency" });

    await sandbox(["latency", "off"]);
    const after: number[] = [];
    for (let i = 0; i < 3; i++) after.push(await statusWallMsFrom(d, "esb-master3", m1));
    expect(Math.min(...after), "master3 -> master1 without latency (status)").to.be.below(L);
    for (const h of d.hosts) {
      const rules = await run(["nsenter", `--net=/var/run/netns/${h.netns}`, "--", "iptables", "-t", "nat", "-S", "OUTPUT"]);
      expect(rules.stdout, `${h.name}'s redirects`).to.not.include("REDIRECT");
    }
    const ps = await run(["ps", "-eo", "args"]);
    expect(ps.stdout, "no relay left").to.not.include("latencyRelay");
  });

  it("power-off A kills site A hard while master3's etcd keeps running; power-on A heals it", async () => {
    const siteA = d.hosts.filter((h) => h.site === "A" && h.roles.includes("etcd")).map((h) => `https://${h.address}:2379`);
    await sandbox(["power-off", "A"]);
    for (const h of d.hosts.filter((x) => x.site === "A")) {
      const pids = await run(["ip", "netns", "pids", h.netns]);
      expect(pids.stdout.trim(), `${h.name} processes`).to.equal("");
    }
    const r = await etcdctl(d, [`--endpoints=${siteA.join(",")}`, "endpoint", "status"], { allowFailure: true });
    expect(r.code).to.not.equal(0);
    expect(await healthyEndpoints(d, siteA)).to.deep.equal([]);
    // master3's etcd is alive (answers status) but has no quorum.
    const m3 = await ssh(d, "master3", "docker inspect -f '{{.State.Running}}' etcd");
    expect(m3.stdout.trim()).to.equal("true");
    const st = await etcdctl(d, ["--endpoints=https://10.250.0.103:2379", "endpoint", "status", "-w", "json"]);
    expect(st.stdout).to.include("\"member_id\"");
    const ssh1 = await ssh(d, "master1", "true", { allowFailure: true });
    expect(ssh1.code).to.not.equal(0);
    // The namespaces' kernels live on: a site-A address refuses at once (TCP reset), it does not go silent.
    const refused = await curlFrom(d, "esb-master3", "https://10.250.0.101:2379/health", 3);
    expect(refused.code, `curl from master3: ${refused.said}`).to.equal(7);
    expect(refused.ms).to.be.below(1000);

    await sandbox(["power-on", "A"]);
    const healthy = await waitFor(async () => {
      const hs = await healthyEndpoints(d, d.etcd.endpoints);
      return hs.length === 4 ? hs : undefined;
    }, { timeoutMs: 120_000, what: "all four endpoints healthy after power-on" });
    expect(healthy).to.have.length(4);
    const members = await memberList(d);
    expect(members).to.have.length(4);
    // RKE's containers come back by their restart policy, kube-apiserver too.
    await waitFor(async () => (await ssh(d, "master1", "docker inspect -f '{{.State.Running}}' kube-apiserver", { allowFailure: true })).stdout.trim() === "true",
      { timeoutMs: 60_000, what: "master1's kube-apiserver running again after power-on" });
  });

  it("power-off A --blackhole kills site A and silences its addresses (callers time out, nothing refuses); power-on A lifts it", async () => {
    const siteA = d.hosts.filter((h) => h.site === "A");
    await sandbox(["power-off", "A", "--blackhole"]);
    for (const h of siteA) {
      const pids = await run(["ip", "netns", "pids", h.netns]);
      expect(pids.stdout.trim(), `${h.name} processes`).to.equal("");
    }
    const m3 = await ssh(d, "master3", "docker inspect -f '{{.State.Running}}' etcd");
    expect(m3.stdout.trim(), "master3's etcd").to.equal("true");
    // From site B and from the management address (where pulumi runs): no reset, no ICMP, only the caller's own deadline.
    for (const [from, url] of [["esb-master3", "https://10.250.0.101:2379/health"], ["esb-node2", "https://10.250.0.102:2379/health"], [undefined, "https://10.250.0.104:2379/health"]] as const) {
      const r = await curlFrom(d, from, url, 2);
      expect(r.code, `curl ${url} from ${from ?? "the management address"}: ${r.said}`).to.equal(28);
      expect(r.ms, `curl ${url} from ${from ?? "the management address"}`).to.be.at.least(1900);
    }
    expect(await tcpConnectFrom("esb-master3", "10.250.0.101", 22, 2), "master1's sshd from master3: still connecting when given up").to.equal(124);
    expect(await tcpConnectFrom("esb-master3", "10.250.0.102", 2380, 2), "master2's peer port from master3").to.equal(124);
    // Inside site B nothing changes: master3 answers at once.
    const b = await curlFrom(d, "esb-node2", "https://10.250.0.103:2379/health", 5);
    expect(b.code, `master3 from node2: ${b.said}`).to.equal(0);
    expect((await sandbox(["status"])).stdout).to.include("master1 is blackholed");

    await sandbox(["power-on", "A"]);
    await waitFor(async () => (await healthyEndpoints(d, d.etcd.endpoints)).length === 4, { timeoutMs: 120_000, what: "all four endpoints healthy after power-on of a blackholed site" });
    const back = await curlFrom(d, "esb-master3", "https://10.250.0.101:2379/health", 5);
    expect(back.code, `master1 from master3 after power-on: ${back.said}`).to.equal(0);
    for (const h of siteA) {
      const rules = await run(["nsenter", `--net=/var/run/netns/${h.netns}`, "--", "iptables", "-S"]);
      expect(rules.stdout, `${h.name}'s rules after power-on`).to.not.include("ESB-BLACKHOLE");
    }
    expect((await sandbox(["status"])).stdout).to.not.include("blackholed");
  });

  it("up twice is harmless", async () => {
    const before = await memberList(d);
    await sandbox(["up"]);
    const after = await memberList(d);
    expect(after.map((m) => m.ID).sort()).to.deep.equal(before.map((m) => m.ID).sort());
  });

  it("down removes every namespace, interface, mount, process and folder it made", async () => {
    await sandbox(["down"]);
    expect(await leftovers()).to.deep.equal([]);
  });
});
