/**
 * Fault injection on the live sandbox: the provider's implementations driven
 * directly (as resources.test.ts does) while something breaks underneath them
 * - the leader killed during a removal, the learner host's SSH dropped during
 * a learner create, site A losing power while the learner catches up, bad
 * inputs, quorum and learner-slot refusals, a full learner disk - and two
 * `pulumi up` at once on one stack.
 *
 * Faults are injected at a known step: the provider reports each step with
 * console.log before taking it, and a trigger on that line runs the fault
 * synchronously, so the provider takes its next step with the fault in place.
 * Afterwards every case checks with etcdctl and OpenSSH (not the provider's
 * code): no member left half-added or unstarted, every acknowledged key still
 * readable, and a re-run of the operation converging.
 */
import { expect } from "chai";
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ProviderImpl, Props } from "../../provider/impl/common";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as learner } from "../../provider/impl/learner";
import { provider as repoint } from "../../provider/impl/containerRepoint";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { sleep } from "../../provider/lib/time";
import { clusterProps, hostProps, learnerInputs as masterLearnerInputs, M3, M3_CLIENT, voterEndpoints } from "../support/fixtures";
import { client, loadKubeShaped } from "../support/load";
import { makeWorkspace, pulumi, removeWorkspace, Workspace } from "../support/pulumi";
import { endpointStatuses, endpointsHealthy, etcdctl, freshSandbox, host, memberList, sandbox, SANDBOX, SandboxDescription, ssh } from "../support/sandbox";
import type { CtlMember } from "../support/sandbox";
import { runKilledAt } from "../support/killAt";
import { rejection as rejects, waitFor } from "../support/wait";

const LEDGER = "/registry/faults/";

// ------------------------------------------------------------ helpers ----

/** The rejection of `p`, shown in the test output under `label`. */
async function refused(label: string, p: Promise<unknown>): Promise<Error> {
  const e = await rejects(p);
  show(label, e.message);
  return e;
}

/** check, then create, as the engine does: check failures are thrown without calling create. */
async function checkThenCreate(p: ProviderImpl, inputs: Props): Promise<{ id: string; outs: Props }> {
  const c = await p.check({}, inputs);
  if ((c.failures ?? []).length > 0) throw new Error(`check failed: ${(c.failures ?? []).map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  return p.create((c.inputs ?? inputs) as Props);
}

/** What the provider reported (console.log) while `fn` ran, and its outcome. */
interface Traced<T> {
  result?: T;
  error?: Error;
  fired: boolean;
  lines: string[];
}

/**
 * Runs `fn` while watching the provider's progress lines: the first line
 * matching `pattern` runs `fault` synchronously, before the provider takes
 * its next step. Never throws for `fn`'s failure: the outcome is returned.
 */
async function withFault<T>(pattern: RegExp, fault: (line: string) => void, fn: () => Promise<T>): Promise<Traced<T>> {
  const original = console.log;
  const out: Traced<T> = { fired: false, lines: [] };
  let faultError: unknown;
  console.log = (...args: unknown[]): void => {
    original(...args);
    const line = args.map(String).join(" ");
    out.lines.push(line);
    if (!out.fired && pattern.test(line)) {
      out.fired = true;
      try {
        fault(line);
      } catch (e) {
        faultError = e;
      }
    }
  };
  try {
    out.result = await fn();
  } catch (e) {
    out.error = e as Error;
  } finally {
    console.log = original;
  }
  if (faultError !== undefined) throw new Error(`injecting the fault failed: ${faultError instanceof Error ? faultError.message : JSON.stringify(faultError)}`);
  return out;
}

/** Shows what a fault produced in the test output, indented under the test's title. */
function show(label: string, text: string): void {
  const lines = text.split("\n").filter((l) => !/^\{"level"/.test(l)).map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l));
  console.log(`      [${label}] ${lines.join("\n        ")}`);
}

/** OpenSSH argv for a sandbox host (for synchronous use inside a fault trigger). */
function sshArgv(d: SandboxDescription, hostName: string, remote: string): string[] {
  return ["-i", d.ssh.privateKeyFile, "-o", `UserKnownHostsFile=${d.ssh.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", `${d.ssh.user}@${host(d, hostName).address}`, remote];
}

/** Processes in a sandbox host's network namespace, read from /proc. */
function netnsPids(netns: string): number[] {
  const ino = fs.statSync(`/var/run/netns/${netns}`).ino;
  const want = `net:[${ino}]`;
  const pids: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/net`) === want) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function procText(pid: number, file: "comm" | "cmdline"): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

/** SIGKILL every sshd (listener and sessions) of a host; returns how many. */
function killSshd(netns: string): number {
  let n = 0;
  for (const pid of netnsPids(netns)) {
    if (procText(pid, "comm").trim() !== "sshd") continue;
    try {
      process.kill(pid, "SIGKILL");
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

/** Acknowledged writes: every key here was confirmed by etcd and must never be lost. */
class Ledger {
  readonly acked = new Set<string>();
  constructor(private readonly d: SandboxDescription) {}

  private target(endpoints: string[]): { endpoints: string[]; caFile: string; certFile: string; keyFile: string } {
    return { endpoints, caFile: this.d.etcd.caFile, certFile: this.d.etcd.certFile, keyFile: this.d.etcd.keyFile };
  }

  /** Writes `n` keys under the ledger prefix; every one must be acknowledged. */
  async write(tag: string, n: number, endpoints: string[]): Promise<void> {
    const c = client(this.target(endpoints));
    try {
      for (let i = 0; i < n; i++) {
        const key = `${LEDGER}${tag}/${i}`;
        await c.put(key).value(`${tag}-${i}`).options({ deadline: new Date(Date.now() + 10_000) }).exec();
        this.acked.add(key);
      }
    } finally {
      c.close();
    }
  }

  /** Writes keys one after another until stopped; records those acknowledged. Resolves to [acked, failed]. */
  background(tag: string, endpoints: string[]): { stop: () => Promise<[number, number]> } {
    const c = client(this.target(endpoints));
    let stopped = false;
    let ok = 0;
    let failed = 0;
    const loop = (async (): Promise<void> => {
      for (let i = 0; !stopped; i++) {
        const key = `${LEDGER}${tag}/${i}`;
        try {
          await c.put(key).value(`${tag}-${i}`).options({ deadline: new Date(Date.now() + 2_000) }).exec();
          this.acked.add(key);
          ok++;
        } catch {
          failed++;
          await sleep(100);
        }
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await loop;
        c.close();
        return [ok, failed];
      },
    };
  }
}

async function keysOn(d: SandboxDescription, endpoint: string, prefix: string, serializable: boolean): Promise<Set<string>> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "get", prefix, "--prefix", "--keys-only", ...(serializable ? ["--consistency=s"] : [])]);
  return new Set(r.stdout.split("\n").filter(Boolean));
}

/** How many keys a prefix holds (a range response's count is the total, whatever the limit). */
async function countOn(d: SandboxDescription, endpoint: string, prefix: string, serializable: boolean): Promise<number> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "get", prefix, "--prefix", "--keys-only", "--limit=1", "-w", "json", ...(serializable ? ["--consistency=s"] : [])]);
  return Number((JSON.parse(r.stdout) as { count?: number }).count ?? 0);
}

async function containers(d: SandboxDescription, hostName: string): Promise<string[]> {
  const r = await ssh(d, hostName, "docker ps -a --format '{{.Names}} {{.State}}'");
  return r.stdout.split("\n").filter(Boolean).sort();
}

/** The member list (IDs, names, roles) and the containers on some hosts: "nothing changed" compares two of these. */
async function snapshot(d: SandboxDescription, hosts: string[]): Promise<{ members: string[]; containers: Record<string, string[]> }> {
  const members = (await memberList(d, voterEndpoints(d, ["master3"]))).map((m) => `${m.ID} ${m.name || "(unstarted)"} ${m.isLearner === true ? "learner" : "voter"}`).sort();
  const cs: Record<string, string[]> = {};
  for (const h of hosts) cs[h] = await containers(d, h);
  return { members, containers: cs };
}

describe("fault injection on the live sandbox", function () {
  this.timeout(600_000);
  let d: SandboxDescription;
  let ledger: Ledger;
  const siteA = (): string[] => voterEndpoints(d, ["master3"]);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "esb-faults-"));

  const learnerInputs = (overrides: Props = {}): Props => masterLearnerInputs(d, overrides);

  /**
   * The settled-cluster checks every case ends with: every member started
   * (none half-added), the voters healthy with a leader, every acknowledged
   * key readable through the cluster and on every member (serializable, once
   * it has applied what the leader has), and the learner, if any, caught up.
   */
  async function settled(expectVoters: string[], expectLearner: string | undefined): Promise<CtlMember[]> {
    const members = await waitFor(async () => {
      const ms = await memberList(d, siteA());
      return ms.every((m) => m.name !== "") ? ms : undefined;
    }, { timeoutMs: 30_000, what: "every member started (no member half-added or unstarted)" });
    expect(members.filter((m) => m.isLearner !== true).map((m) => m.name).sort()).to.deep.equal([...expectVoters].sort());
    expect(members.filter((m) => m.isLearner === true).map((m) => m.name)).to.deep.equal(expectLearner ? [expectLearner] : []);
    const voterUrls = members.filter((m) => m.isLearner !== true).flatMap((m) => m.clientURLs ?? []);
    await waitFor(() => endpointsHealthy(d, voterUrls), { timeoutMs: 60_000, what: "every voter healthy" });
    const all = members.flatMap((m) => m.clientURLs ?? []);
    // every member applied what the leader has (the cluster is quiet now)
    await waitFor(async () => {
      const st = await endpointStatuses(d, all);
      const leader = st.find((s) => s.id === s.leader);
      return st.length === all.length && leader !== undefined && st.every((s) => s.applied >= leader.raftIndex - 2);
    }, { timeoutMs: 60_000, what: "every member to apply the leader's index" });
    const linear = await keysOn(d, siteA().join(","), LEDGER, false);
    const missing = [...ledger.acked].filter((k) => !linear.has(k));
    expect(missing, "acknowledged keys lost").to.deep.equal([]);
    for (const url of all) {
      const onMember = await keysOn(d, url, LEDGER, true);
      expect([...ledger.acked].filter((k) => !onMember.has(k)), `acknowledged keys missing on ${url}`).to.deep.equal([]);
      expect(onMember.size, `keys on ${url}`).to.equal(linear.size);
    }
    return members;
  }

  /** master3's RKE voter removed and its RKE containers cleaned (idempotent). */
  async function master3Cleaned(): Promise<void> {
    await removal.create({ cluster: clusterProps(d, siteA()), memberName: "etcd-master3" });
    await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, siteA()), ignoreMembers: ["learner1"] });
  }

  /** No learner1 in the cluster or on master3 (idempotent). */
  async function noLearner(overrides: Props = {}): Promise<void> {
    await learner.delete("learner-learner1", learnerInputs(overrides));
    expect((await memberList(d, siteA())).some((m) => m.isLearner === true)).to.equal(false);
  }

  /** learner1 started and caught up (idempotent: an existing one is kept). */
  async function learnerPresent(): Promise<void> {
    if ((await memberList(d, siteA())).some((m) => m.name === "learner1" && m.isLearner === true)) return;
    await learner.create(learnerInputs());
  }

  before(async () => {
    d = await freshSandbox();
    ledger = new Ledger(d);
    await waitFor(() => endpointsHealthy(d, d.etcd.endpoints), { timeoutMs: 60_000, what: "four healthy voters" });
  });
  after(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    await sandbox(["down"]);
  });

  it("case 1: the leader is killed while EtcdMemberRemoval of master3 runs; the cluster heals and a re-run converges", async () => {
    await ledger.write("case1-before", 20, d.etcd.endpoints);
    // A site-A leader, so the kill takes the cluster's leader and not the member being removed.
    let st = await endpointStatuses(d, d.etcd.endpoints);
    const m3 = (await memberList(d)).find((m) => m.name === "etcd-master3");
    if (st[0]?.leader === m3?.ID) {
      const m1 = (await memberList(d)).find((m) => m.name === "etcd-master1");
      await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "move-leader", m1?.ID ?? ""]);
      await waitFor(async () => (await endpointStatuses(d, [d.etcd.endpoints[0]]))[0]?.leader === m1?.ID, { timeoutMs: 30_000, what: "master1 to lead" });
      st = await endpointStatuses(d, d.etcd.endpoints);
    }
    const leaderId = st[0].leader;
    const leaderMember = (await memberList(d)).find((m) => m.ID === leaderId);
    const leaderHost = (leaderMember?.name ?? "").replace(/^etcd-/, "");
    expect(["master1", "master2", "node1"]).to.include(leaderHost);

    const writer = ledger.background("case1-during", d.etcd.endpoints);
    // The removal has checked health and decided; the leader dies before it acts.
    const t = await withFault(/EtcdMemberRemoval: removing etcd-master3/, () => {
      execFileSync("ssh", sshArgv(d, leaderHost, "docker kill etcd"), { stdio: "pipe", timeout: 15_000 });
    }, () => removal.create({ cluster: clusterProps(d), memberName: "etcd-master3" }));
    expect(t.fired, "the leader was killed during the removal").to.equal(true);
    if (t.error) {
      // A clear error: what failed, on which member, and what to do.
      show("case 1: the removal failed", t.error.message);
      expect(t.error.message).to.match(/etcd-master3/);
      expect(t.error.message).to.include("Next:");
    } else {
      expect(t.result?.outs.removedMemberId).to.equal(m3?.ID);
      show("case 1", "the removal went through despite the leader's death");
    }

    // Recovery: the killed voter comes back with its disk.
    await ssh(d, leaderHost, "docker start etcd");
    await waitFor(async () => {
      const ms = await memberList(d, siteA());
      return endpointsHealthy(d, ms.filter((m) => m.isLearner !== true && m.name !== "etcd-master3").flatMap((m) => m.clientURLs ?? []));
    }, { timeoutMs: 90_000, what: "the site-A voters healthy after the restart" });
    const [acked, failed] = await writer.stop();
    expect(acked).to.be.greaterThan(0);
    show("case 1", `background writes: ${acked} acknowledged, ${failed} failed during the election`);

    // A re-run converges: master3 removed, quorum intact.
    const again = await removal.create({ cluster: clusterProps(d, siteA()), memberName: "etcd-master3" });
    expect(again.outs.alreadyAbsent === true || again.outs.removedMemberId === m3?.ID).to.equal(true);
    const third = await removal.create({ cluster: clusterProps(d, siteA()), memberName: "etcd-master3" });
    expect(third.outs.alreadyAbsent).to.equal(true);
    await settled(["etcd-master1", "etcd-master2", "etcd-node1"], undefined);
  });

  it("case 4: a wrong peer URL, a member name in use, a certificate without the host's SAN, expired certificates: clear errors, nothing changed", async () => {
    await master3Cleaned();
    await noLearner();
    await ledger.write("case4-before", 20, siteA());
    const before = await snapshot(d, ["master3", "master1"]);

    // peer URL of another host: check refuses it, as the engine runs check before create
    let e = await refused("case 4: peer URL of another host", checkThenCreate(learner, learnerInputs({ peerURL: "https://10.250.0.105:2380" })));
    expect(e.message).to.match(/peerURL https:\/\/10\.250\.0\.105:2380 points at 10\.250\.0\.105, but the learner is started on host 10\.250\.0\.103/);
    // peer URL of an existing voter (a copy-paste of master1's)
    e = await refused("case 4: peer URL of a voter", checkThenCreate(learner, learnerInputs({ peerURL: "https://10.250.0.101:2380", clientURL: "https://10.250.0.101:2379", host: hostProps(d, "master1") })));
    expect(e.message).to.match(/peer URL https:\/\/10\.250\.0\.101:2380 is already used by voter etcd-master1/);
    // member name of an existing voter
    e = await refused("case 4: member name of a voter", checkThenCreate(learner, learnerInputs({ memberName: "etcd-master1" })));
    expect(e.message).to.match(/member name etcd-master1 is already used by member [0-9a-f]{16}/);

    // a certificate for another address (node2's) where master3's should be
    const node2Cert = fs.readFileSync(`${d.dir}/pki/kube-etcd-10-250-0-105.pem`, "utf8");
    await ssh(d, "master3", `mkdir -p /tmp/wrong && cat > /tmp/wrong/cert.pem <<'EOF'\n${node2Cert}EOF\ncp /etc/kubernetes/ssl/kube-etcd-10-250-0-103-key.pem /tmp/wrong/key.pem`);
    e = await refused("case 4: certificate for another address", checkThenCreate(learner, learnerInputs({ tls: { caFile: "/etc/kubernetes/ssl/kube-ca.pem", certFile: "/tmp/wrong/cert.pem", keyFile: "/tmp/wrong/key.pem" } })));
    expect(e.message).to.match(/TLS SAN mismatch: \/tmp\/wrong\/cert\.pem on 10\.250\.0\.103 does not name 10\.250\.0\.103/);

    // expired certificates, signed by the sandbox CA (validity 2020-01-01 to 2020-01-02)
    const expired = (ip: string): { cert: string; key: string } => {
      const dir = fs.mkdtempSync(path.join(tmp, "expired-"));
      const run = (args: string[]): void => {
        execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
      };
      run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.ec"]);
      run(["pkcs8", "-topk8", "-nocrypt", "-in", "key.ec", "-out", "key.pem"]);
      run(["req", "-new", "-key", "key.pem", "-subj", `/CN=kube-etcd-${ip.replace(/\./g, "-")}`, "-out", "c.csr"]);
      fs.mkdirSync(path.join(dir, "ca"));
      fs.writeFileSync(path.join(dir, "ca", "index.txt"), "");
      fs.writeFileSync(path.join(dir, "ca", "serial"), "1000\n");
      fs.writeFileSync(path.join(dir, "ca.cnf"), [
        "[ ca ]", "default_ca = CA_default", "[ CA_default ]", `dir = ${dir}/ca`, "database = $dir/index.txt", "serial = $dir/serial",
        "new_certs_dir = $dir", "default_md = sha256", "policy = any", "unique_subject = no", "[ any ]", "commonName = supplied",
        "[ ext ]", `subjectAltName = IP:${ip},IP:127.0.0.1`, "keyUsage = critical,digitalSignature,keyEncipherment", "extendedKeyUsage = serverAuth,clientAuth", "",
      ].join("\n"));
      run(["ca", "-batch", "-config", "ca.cnf", "-cert", path.join(d.dir, "pki", "kube-ca.pem"), "-keyfile", path.join(d.dir, "pki", "kube-ca-key.pem"),
        "-in", "c.csr", "-out", "cert.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extensions", "ext", "-notext"]);
      return { cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"), key: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
    };
    // the client certificate the provider talks to etcd with
    const client101 = expired("10.250.0.101");
    e = await refused("case 4: expired client certificate (learner create)", checkThenCreate(learner, learnerInputs({ cluster: { ...clusterProps(d, siteA()), certPem: client101.cert, keyPem: client101.key } })));
    expect(e.message).to.match(/client certificate CN=kube-etcd-10-250-0-101, valid 2020-01-01T00:00:00\.000Z to 2020-01-02T00:00:00\.000Z\) has expired/);
    expect(e.message).to.not.include("PRIVATE KEY");
    e = await refused("case 4: expired client certificate (removal)", removal.create({ cluster: { ...clusterProps(d, siteA()), certPem: client101.cert, keyPem: client101.key }, memberName: "etcd-master2" }));
    expect(e.message).to.match(/has expired/);
    // the learner's own certificate on master3
    const learner103 = expired("10.250.0.103");
    await ssh(d, "master3", `mkdir -p /tmp/expired && cat > /tmp/expired/cert.pem <<'EOF'\n${learner103.cert}EOF\ncat > /tmp/expired/key.pem <<'EOF'\n${learner103.key}EOF`);
    e = await refused("case 4: expired learner certificate on master3", checkThenCreate(learner, learnerInputs({ tls: { caFile: "/etc/kubernetes/ssl/kube-ca.pem", certFile: "/tmp/expired/cert.pem", keyFile: "/tmp/expired/key.pem" } })));
    expect(e.message).to.match(/\/tmp\/expired\/cert\.pem on 10\.250\.0\.103 is not valid now \(valid .*2020.* to .*2020.*\)/);

    // nothing changed: same members, same containers, no learner data written
    expect(await snapshot(d, ["master3", "master1"])).to.deep.equal(before);
    const dataDir = await ssh(d, "master3", "ls -A /var/lib/etcd 2>/dev/null | wc -l");
    expect(dataDir.stdout.trim()).to.equal("0");
    // the corrected inputs converge
    await learner.create(learnerInputs());
    await settled(["etcd-master1", "etcd-master2", "etcd-node1"], "learner1");
  });

  it("case 2: the SSH connection to the learner host drops in the middle of EtcdLearner create; a re-run adopts what was left and converges", async () => {
    await master3Cleaned();
    await noLearner();
    await ledger.write("case2-before", 20, siteA());
    // Drop master3's sshd (listener and sessions) while `docker run` of the learner runs there,
    // or, failing that, a few seconds later while the provider waits for the learner.
    let dropped = "";
    let watcher: NodeJS.Timeout | undefined;
    const t = await withFault(/EtcdLearner: starting etcd-learner on 10\.250\.0\.103/, () => {
      const started = Date.now();
      watcher = setInterval(() => {
        const dockerRun = netnsPids("esb-master3").some((pid) => {
          const argv = procText(pid, "cmdline").split("\0");
          return /(^|\/)docker$/.test(argv[0] ?? "") && argv[1] === "run";
        });
        if (dockerRun || Date.now() - started > 3000) {
          clearInterval(watcher);
          dropped = `${dockerRun ? "during docker run" : "while waiting for the learner"}, ${killSshd("esb-master3")} sshd processes killed`;
        }
      }, 5);
    }, () => learner.create(learnerInputs()));
    if (watcher) clearInterval(watcher);
    expect(t.fired).to.equal(true);
    show("case 2", `SSH dropped ${dropped}`);
    expect(dropped).to.not.equal("");
    expect(t.result, "create must not claim success after losing the host").to.equal(undefined);
    const msg = t.error?.message ?? "";
    show("case 2: create failed", msg);
    expect(msg).to.match(/learner learner1 on 10\.250\.0\.103 failed/);
    expect(msg).to.match(/SSH connection to root@10\.250\.0\.103:22 dropped|Not connected/);
    // What could not be undone is said, and the member is kept for the next run to adopt.
    expect(msg).to.match(/Could not roll back: .*container etcd-learner/s);
    const left = (await memberList(d, siteA())).find((m) => m.peerURLs.includes(M3));
    expect(left?.isLearner, "the learner member is kept for the next run").to.equal(true);
    expect(msg).to.include(`member ${left?.ID ?? "?"} kept`);

    // sshd back (power-on starts only what is missing); the re-run adopts the leftover learner.
    await sandbox(["power-on", "B"]);
    const rerun = await withFault(/^$/, () => undefined, () => learner.create(learnerInputs()));
    if (rerun.error) throw rerun.error;
    expect(rerun.lines.join("\n")).to.match(new RegExp(`adopting learner ${left?.ID ?? "?"}`));
    expect(rerun.result?.outs.memberId).to.equal(left?.ID);
    expect(rerun.result?.outs.started).to.equal(true);
    const members = await settled(["etcd-master1", "etcd-master2", "etcd-node1"], "learner1");
    expect(members.find((m) => m.name === "learner1")?.ID).to.equal(left?.ID);
    expect((await containers(d, "master3")).filter((c) => c.startsWith("etcd"))).to.deep.equal(["etcd-learner running"]);
    const st = (await endpointStatuses(d, [M3_CLIENT]))[0];
    expect(st.isLearner).to.equal(true);
  });

  it("case 5: a removal that would cost quorum, and a second learner, are refused with nothing changed", async () => {
    await master3Cleaned();
    await learnerPresent();
    await ledger.write("case5-before", 20, siteA());
    let before = await snapshot(d, ["node2", "master3"]);

    // a second learner: refused by the provider (one learner slot, as etcd 3.4/3.5 allow)...
    const second = (overrides: Props = {}): Props => learnerInputs({
      memberName: "learner2", peerURL: "https://10.250.0.105:2380", clientURL: "https://10.250.0.105:2379", host: hostProps(d, "node2"), ...overrides,
    });
    let e = await refused("case 5: a second learner", checkThenCreate(learner, second()));
    expect(e.message).to.match(/already has 1 learner.*at most 1/);
    expect(await snapshot(d, ["node2", "master3"])).to.deep.equal(before);
    // ...and, with the provider's limit raised, by etcd itself; nothing is left behind
    e = await refused("case 5: a second learner past etcd's limit", checkThenCreate(learner, second({ maxLearners: 2 })));
    expect(e.message).to.match(/too many learner members/);
    expect(e.message).to.match(/learner learner2 on 10\.250\.0\.105 failed/);
    expect(await snapshot(d, ["node2", "master3"])).to.deep.equal(before);
    const node2Data = await ssh(d, "node2", "ls -A /var/lib/etcd 2>/dev/null | wc -l; ls -d /var/lib/etcd.* 2>/dev/null | wc -l");
    expect(node2Data.stdout.trim().split("\n")).to.deep.equal(["0", "0"]);

    // a removal that would cost quorum: node1's voter is down, removing master2 would leave 1 healthy of 2
    await ssh(d, "node1", "docker kill etcd");
    try {
      await waitFor(async () => !(await endpointsHealthy(d, ["https://10.250.0.104:2379"])), { timeoutMs: 30_000, what: "node1 down" });
      before = await snapshot(d, ["master1", "master2"]);
      e = await refused("case 5: a removal costing quorum", removal.create({ cluster: clusterProps(d, siteA()), memberName: "etcd-master2" }));
      expect(e.message).to.match(/refusing to remove etcd-master2: .*2 voters of which 1 is healthy.*need 2/s);
      expect(e.message).to.include("Next:");
      expect(await snapshot(d, ["master1", "master2"])).to.deep.equal(before);
    } finally {
      await ssh(d, "node1", "docker start etcd");
    }
    await settled(["etcd-master1", "etcd-master2", "etcd-node1"], "learner1");
  });

  it("case 3: site A loses power while the learner catches up: create fails saying what is left; power back, the cluster heals and a re-run converges", async () => {
    await master3Cleaned();
    await noLearner();
    // Enough data that the learner takes seconds to catch up.
    const load = await loadKubeShaped({ endpoints: siteA(), caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile }, 30e6, { tag: "case3" });
    show("case 3", `wrote ${load.keys} pods, ${(load.valueBytes / 1e6).toFixed(1)} MB of values, in ${load.ms} ms`);
    await ledger.write("case3-before", 20, siteA());
    const t = await withFault(/EtcdLearner: learner1: (waiting for it to start|applied \d+ of \d+)/, () => {
      execFileSync("bash", [SANDBOX, "power-off", "A"], { stdio: "pipe", timeout: 60_000 });
    }, () => learner.create(learnerInputs({ catchUpThreshold: 0 })));
    let poweredOn = false;
    try {
      expect(t.fired, "site A lost power while the learner was catching up").to.equal(true);
      expect(t.result, "create must not claim success").to.equal(undefined);
      const msg = t.error?.message ?? "";
      show("case 3: create failed", msg);
      expect(msg).to.match(/learner learner1 on 10\.250\.0\.103 failed: /);
      // it names what it could not undo: the member, which only the (powered-off) voters can remove
      expect(msg).to.match(/Could not roll back: member [0-9a-f]{16}/);
      expect(await containers(d, "master3")).to.not.include("etcd-learner running");
      await sandbox(["power-on", "A"]);
      poweredOn = true;
    } finally {
      if (!poweredOn) await sandbox(["power-on", "A"]);
    }
    await waitFor(() => endpointsHealthy(d, siteA()), { timeoutMs: 120_000, what: "site A's voters healthy after power-on" });
    const left = (await memberList(d, siteA())).find((m) => m.peerURLs.includes(M3));
    expect(left?.isLearner).to.equal(true);

    const rerun = await withFault(/^$/, () => undefined, () => learner.create(learnerInputs({ catchUpThreshold: 0 })));
    if (rerun.error) throw rerun.error;
    expect(rerun.lines.join("\n")).to.match(/adopting learner [0-9a-f]{16}/);
    expect(rerun.result?.outs.memberId).to.equal(left?.ID);
    await settled(["etcd-master1", "etcd-master2", "etcd-node1"], "learner1");
    const pods = await countOn(d, siteA()[0], "/registry/pods/", false);
    expect(pods).to.be.at.least(load.keys);
    expect(await countOn(d, M3_CLIENT, "/registry/pods/", true)).to.equal(pods);
  });

  it("case 7: the learner's disk fills (8 MB tmpfs): the create reports the full disk, the voters are unharmed, and a re-run on a real disk converges", async () => {
    await master3Cleaned();
    await noLearner();
    await ledger.write("case7-before", 20, siteA());
    const ns = path.join(d.dir, "ns", "master3");
    const inHost = (...argv: string[]): string => execFileSync("nsenter", [`--mount=${ns}`, "--", ...argv], { stdio: "pipe" }).toString();
    inHost("mkdir", "-p", "/var/lib/etcd-small");
    inHost("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", "/var/lib/etcd-small");
    try {
      // more than the disk holds is already in the cluster (case 3 wrote 30 MB); make sure
      const pods = await countOn(d, siteA()[0], "/registry/pods/", false);
      if (pods < 4000) await loadKubeShaped({ endpoints: siteA(), caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile }, 12e6, { tag: "case7" });
      const before = await snapshot(d, ["master1"]);
      const e = await rejects(learner.create(learnerInputs({ dataDir: "/var/lib/etcd-small", timeoutMs: 60_000 })));
      show("case 7: create failed", e.message);
      expect(e.message).to.match(/Likely cause: the learner's disk is full/);
      expect(e.message).to.match(/no space left on device/i);
      // the voters are unharmed, nothing is left in the cluster
      expect(await endpointsHealthy(d, siteA())).to.equal(true);
      expect(await snapshot(d, ["master1"])).to.deep.equal(before);
      expect((await containers(d, "master3")).filter((c) => c.startsWith("etcd-learner"))).to.deep.equal([]);
    } finally {
      inHost("sh", "-c", "umount /var/lib/etcd-small 2>/dev/null || true");
    }
    const mounted = inHost("sh", "-c", "grep -c ' /var/lib/etcd-small ' /proc/self/mounts || true");
    expect(mounted.trim()).to.equal("0");
    await settled(["etcd-master1", "etcd-master2", "etcd-node1"], undefined);
    // the same inputs on the host's own disk converge
    await learner.create(learnerInputs({ dataDir: "/var/lib/etcd-small", timeoutMs: 120_000 }));
    await settled(["etcd-master1", "etcd-master2", "etcd-node1"], "learner1");
  });
});

describe("a kill between steps: RkeContainerRepoint stopped after renaming site B's kube-apiserver", function () {
  this.timeout(600_000);
  let d: SandboxDescription;

  before(async () => {
    d = await freshSandbox();
  });
  after(async () => {
    await sandbox(["down"]);
  });

  /** master3's kube-apiserver and its kept copies, as docker over OpenSSH shows them. */
  async function apiServers(): Promise<{ live: string[]; kept: string[] }> {
    const r = await ssh(d, "master3", "docker ps -a --format '{{.Names}} {{.State}}' --filter name=kube-apiserver");
    const rows = r.stdout.split("\n").filter(Boolean);
    return { live: rows.filter((l) => l.startsWith("kube-apiserver ")), kept: rows.filter((l) => l.startsWith("kube-apiserver-pre-")).sort() };
  }

  it("case 8: killed right after the rename (no kube-apiserver, one stopped copy), a re-run re-creates it from the copy: it runs as wanted, restart always, /readyz, no second copy", async () => {
    const servers = voterEndpoints(d, ["master3"]).join(",");
    const props = { host: hostProps(d, "master3"), container: "kube-apiserver", setFlags: { "etcd-servers": servers }, readyz: {} };
    const killed = await runKilledAt("containerRepoint", "create", /stopped and kept as kube-apiserver-pre-/, props);
    show("case 8: killed", killed.output);
    expect(killed.signal, killed.output).to.equal("SIGKILL");
    // The intermediate state it was killed in: site B's only API server gone, its copy kept, stopped.
    const mid = await apiServers();
    expect(mid.live).to.deep.equal([]);
    expect(mid.kept).to.have.length(1);
    expect(mid.kept[0]).to.match(/^kube-apiserver-pre-\d{8}t\d{6}z exited$/);
    // The operator's next step: pulumi up again (the same create).
    const r = await repoint.create(props);
    const after = await apiServers();
    expect(after.live).to.deep.equal(["kube-apiserver running"]);
    expect(after.kept).to.deep.equal(mid.kept);
    expect(r.outs.previousContainer).to.equal(mid.kept[0].split(" ")[0]);
    const v = await ssh(d, "master3", "docker inspect --type container --format '{{.HostConfig.RestartPolicy.Name}} {{json .Args}}' kube-apiserver");
    expect(v.stdout.trim().split(" ")[0]).to.equal("always");
    expect(v.stdout).to.include(`--etcd-servers=${servers}`);
    const ready = await ssh(d, "master3", "curl -sS --max-time 5 --cacert /etc/kubernetes/ssl/kube-ca.pem --cert /etc/kubernetes/ssl/kube-node.pem --key /etc/kubernetes/ssl/kube-node-key.pem -o /dev/null -w '%{http_code}' https://127.0.0.1:6443/readyz");
    expect(ready.stdout.trim()).to.equal("200");
    // Once more: nothing to do, no further copy.
    await repoint.create(props);
    expect(await apiServers()).to.deep.equal(after);
  });
});

describe("fault injection: two `pulumi up` at once on the same stack", function () {
  this.timeout(300_000);
  let ws: Workspace;

  before(async () => {
    ws = makeWorkspace("lock");
    fs.writeFileSync(path.join(ws.dir, "Pulumi.yaml"), "name: lock-check\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n");
    fs.writeFileSync(path.join(ws.dir, "package.json"), JSON.stringify({ name: "lock-check", private: true }));
    // A create that holds the update open until the test releases it.
    fs.writeFileSync(path.join(ws.dir, "index.js"), `const pulumi = require("@pulumi/pulumi");
const config = new pulumi.Config();
const provider = {
  async create(inputs) {
    const fs = require("fs");
    fs.appendFileSync(inputs.marker, "create\\n");
    const end = Date.now() + 180000;
    while (!fs.existsSync(inputs.release)) {
      if (Date.now() > end) throw new Error("not released within 180 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    return { id: "slow", outs: inputs };
  },
};
class Slow extends pulumi.dynamic.Resource {
  constructor(name, args, opts) { super(provider, name, args, opts); }
}
new Slow("slow", { marker: config.require("marker"), release: config.require("release") });
`);
    await pulumi(ws, ["stack", "init", "test"]);
    await pulumi(ws, ["config", "set", "marker", path.join(ws.dir, "creates.log")]);
    await pulumi(ws, ["config", "set", "release", path.join(ws.dir, "release")]);
  });
  after(() => removeWorkspace(ws));

  it("case 6: the second up is refused by the backend's stack lock, naming the first; the first finishes; no lock is left", async () => {
    const first = spawn("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive"], { cwd: ws.dir, env: ws.env, stdio: ["ignore", "pipe", "pipe"] });
    let firstOut = "";
    first.stdout.on("data", (b: Buffer) => (firstOut += b.toString()));
    first.stderr.on("data", (b: Buffer) => (firstOut += b.toString()));
    const firstDone = new Promise<number>((resolve) => first.on("close", (code) => resolve(code ?? -1)));
    const marker = path.join(ws.dir, "creates.log");
    try {
      // the first update is inside the create: it holds the lock
      await waitFor(() => fs.existsSync(marker) && fs.readFileSync(marker, "utf8").includes("create"), { timeoutMs: 120_000, what: "the first up to reach the create" });
      const second = await pulumi(ws, ["up", "--yes", "--skip-preview"], { allowFailure: true, timeoutMs: 120_000 });
      const text = second.stdout + second.stderr;
      expect(second.code).to.not.equal(0);
      expect(text).to.match(/the stack is currently locked by 1 lock\(s\)/);
      expect(text).to.match(new RegExp(`\\(pid ${String(first.pid)}\\)`));
      // the second ran nothing: one create only
      expect(fs.readFileSync(marker, "utf8").trim().split("\n")).to.deep.equal(["create"]);
    } finally {
      fs.writeFileSync(path.join(ws.dir, "release"), "");
    }
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([firstDone, new Promise<number>((_, reject) => {
      timer = setTimeout(() => {
        first.kill("SIGKILL");
        reject(new Error(`the first up did not finish within 120 s:\n${firstOut}`));
      }, 120_000);
    })]).finally(() => clearTimeout(timer));
    expect(code, firstOut).to.equal(0);
    const again = await pulumi(ws, ["preview", "--expect-no-changes"]);
    expect(again.code).to.equal(0);
    const locks = path.join(ws.backend, ".pulumi", "locks");
    const lockFiles: string[] = [];
    const walk = (dir: string): void => {
      if (!fs.existsSync(dir)) return;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(dir, e.name));
        else lockFiles.push(e.name);
      }
    };
    walk(locks);
    expect(lockFiles).to.deep.equal([]);
  });
});
