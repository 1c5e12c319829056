/**
 * Failover to site B against the live sandbox (GitHub issue 5): the learner
 * on master3 becomes a new one-member cluster when site A loses power.
 *
 * Walks the seed's restore section: refused while site A has quorum; a
 * Kubernetes-shaped workload written until the power cut; a restore from a
 * damaged db and one from a stale db fail loudly and keep what a retry needs;
 * the retry from the learner's own db succeeds; the Kubernetes components are
 * restarted; site A comes back and does not disturb the new cluster.
 * Outcomes are checked with etcdctl and with docker over OpenSSH, not with the
 * provider's own code. Run it under `flock /tmp/esb-sandbox.lock`.
 */
import { expect } from "chai";
import type { Etcd3 } from "etcd3";
import type { Props } from "../../provider/impl/common";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as kubeRestart } from "../../provider/impl/kubeComponentsRestart";
import { provider as learner } from "../../provider/impl/learner";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { provider as restore } from "../../provider/impl/standaloneRestore";
import { provider as fence } from "../../provider/impl/siteFence";
import { inspectRunSpec, renameContainer, runContainer, stopForGood } from "../../provider/connection/docker";
import { withSsh } from "../../provider/connection/ssh";
import type { HostConnectionArgs } from "../../provider/connection/ssh";
import { sleep } from "../../provider/lib/time";
import { clusterProps, hostProps, learnerInputs, M3, M3_CLIENT, restoreInputs as restoreInputsOf, voterEndpoints } from "../support/fixtures";
import { client } from "../support/load";
import { appliedSettled, containerNames, countAll, endpointStatus, etcdctl, freshSandbox, hexId, memberList, parseEtcdctlJson, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { rejection as rejects, standbyRejection, waitFor } from "../support/wait";

const KUBE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"];
const POD_PREFIX = "/registry/pods/default/";

/** Keys under a prefix (serializable read), decoded. */
async function keysUnder(d: SandboxDescription, endpoint: string, prefix: string): Promise<Set<string>> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "get", prefix, "--prefix", "--keys-only", "--consistency=s", "-w", "json"], { timeoutMs: 60_000 });
  const parsed = parseEtcdctlJson<{ kvs?: Array<{ key: string }> }>(r.stdout);
  return new Set((parsed.kvs ?? []).map((kv) => Buffer.from(kv.key, "base64").toString("utf8")));
}

interface DockerView {
  exists: boolean;
  image: string;
  running: boolean;
  restartPolicy: string;
  startedAt: string;
  labels: Record<string, string>;
}

/** The restored etcd's raft timing flags, read back with docker inspect over ssh. */
async function timingFlags(d: SandboxDescription): Promise<string[]> {
  const r = await ssh(d, "master3", "docker inspect --type container --format '{{json .Args}}' etcd");
  return (JSON.parse(r.stdout.trim()) as string[]).filter((a) => /^--(heartbeat-interval|election-timeout)=/.test(a));
}

async function dockerView(d: SandboxDescription, host: string, name: string): Promise<DockerView> {
  const r = await ssh(d, host, `docker inspect --type container --format '{{json .State}}|{{json .HostConfig.RestartPolicy}}|{{json .Config.Labels}}|{{.Config.Image}}' ${name}`, { allowFailure: true });
  if (r.code !== 0) return { exists: false, image: "", running: false, restartPolicy: "", startedAt: "", labels: {} };
  const [state, policy, labels, image] = r.stdout.trim().split("|");
  const st = JSON.parse(state) as { Running: boolean; StartedAt: string };
  return { exists: true, image, running: st.Running, restartPolicy: (JSON.parse(policy) as { Name: string }).Name, startedAt: st.StartedAt, labels: (JSON.parse(labels) as Record<string, string> | null) ?? {} };
}

/**
 * Re-creates a host's `etcd` container as etcd-standby's own, as a full DR
 * loop leaves site A's members (rebuild started them): same image, flags,
 * mounts and data, etcd-standby's labels (the scenario's setup, not a check;
 * the RKE container is kept stopped, renamed).
 */
async function asEtcdStandbyMemberOn(d: SandboxDescription, host: string, member: string): Promise<void> {
  await withSsh(hostProps(d, host) as unknown as HostConnectionArgs, async (s) => {
    const spec = await inspectRunSpec(s, "etcd");
    if (!spec) throw new Error(`no etcd container on ${host}`);
    await stopForGood(s, "etcd", 10);
    await renameContainer(s, "etcd", "etcd-rke-kept");
    // RKE mounts the data dir at "/var/lib/rancher/etcd/"; docker takes it without the slash just the same.
    const volumes = (spec.volumes ?? []).map((v) => ({ ...v, container: v.container.replace(/(.)\/+$/, "$1") }));
    await runContainer(s, { ...spec, volumes, restart: "always", labels: { ...(spec.labels ?? {}), "io.etcd-standby.resource": "EtcdLearner", "io.etcd-standby.member": member } });
  });
}

/** A fingerprint of every file in the learner's data dir (names and contents). */
async function dataDirFingerprint(d: SandboxDescription): Promise<string> {
  const r = await ssh(d, "master3", "cd /var/lib/etcd && find . -type f | sort | xargs sha256sum | sha256sum | cut -d' ' -f1");
  return r.stdout.trim();
}

/**
 * A Kubernetes-shaped workload: pods written through site A's voters, a
 * bulk first, then a continuous writer until told to stop. Only puts the
 * cluster acknowledged are recorded.
 */
class Workload {
  readonly acked = new Set<string>();
  failed = 0;
  private next = 1;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly client: Etcd3;

  constructor(d: SandboxDescription) {
    this.client = client({ endpoints: voterEndpoints(d, ["master3"]), caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile });
  }

  private async putOne(): Promise<void> {
    const n = this.next++;
    const key = `${POD_PREFIX}pod-${n}`;
    const value = JSON.stringify({
      kind: "Pod",
      apiVersion: "v1",
      metadata: { name: `pod-${n}`, namespace: "default", uid: `00000000-0000-0000-0000-${String(n).padStart(12, "0")}`, labels: { app: "hello-world" } },
      spec: { containers: [{ name: "hello", image: "rancher/hello-world" }], nodeName: n % 2 === 0 ? "master1" : "master2" },
      status: { phase: "Running" },
    });
    try {
      await this.client.put(key).value(value).options({ deadline: new Date(Date.now() + 3000) }).exec();
      this.acked.add(key);
    } catch {
      this.failed++;
      await sleep(50);
    }
  }

  /** Writes `count` pods with `concurrency` writers and waits for them. */
  async bulk(count: number, concurrency: number): Promise<void> {
    const end = this.next + count;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (this.next < end) await this.putOne();
    }));
  }

  /** Keeps writing in the background until {@link stop}. */
  start(concurrency: number): void {
    this.loops = Array.from({ length: concurrency }, async () => {
      while (!this.stopped) await this.putOne();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    this.client.close();
  }
}

describe("failover to site B: EtcdStandaloneRestore and KubeComponentsRestart on the live sandbox", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  const report: Record<string, unknown> = {};

  const restoreInputs = (overrides: Props = {}): Props => restoreInputsOf(d, overrides);
  const asEtcdStandbyMember = (host: string, member: string): Promise<void> => asEtcdStandbyMemberOn(d, host, member);

  before(async () => {
    d = await freshSandbox();
    await etcdctl(d, [`--endpoints=${d.etcd.endpoints[0]}`, "put", "/registry/namespaces/default", '{"kind":"Namespace","metadata":{"name":"default"}}']);
    // The seed, as resources.test.ts walks it: master3's voter out, its RKE containers gone, a 3.5 learner in.
    await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3" });
    await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voterEndpoints(d, ["master3"])) });
    await learner.create(learnerInputs(d));
  });

  after(async () => {
    console.log(`      failover report: ${JSON.stringify(report, null, 2).replace(/\n/g, "\n      ")}`);
    await sandbox(["down"]);
  });

  it("refuses while site A has quorum, and changes nothing", async () => {
    const e = await rejects(restore.create(restoreInputs()));
    expect(e.message).to.match(/refusing to restore: site A may still be alive/);
    expect(e.message).to.match(/still answer status calls/);
    expect(e.message).to.match(/still has quorum: leader [0-9a-f]{16} is seen/);
    expect(e.message).to.match(/nothing was changed/);
    expect(e.message).to.include("Next:");
    const l = await dockerView(d, "master3", "etcd-learner");
    expect(l.running).to.equal(true);
    expect(l.restartPolicy).to.equal("always");
    expect(await containerNames(d, "master3")).to.not.include("etcd");
    const left = await ssh(d, "master3", "ls -d /var/lib/etcd-restored* 2>/dev/null | wc -l");
    expect(left.stdout.trim()).to.equal("0");
    const members = await memberList(d, voterEndpoints(d, ["master3"]));
    expect(members.find((m) => m.name === "learner1")?.isLearner).to.equal(true);
  });

  let learnerKeys = new Set<string>();
  let acked = new Set<string>();
  let learnerCount = { revision: 0, count: 0 };

  it("writes a Kubernetes-shaped workload until the power cut of site A; the learner settles", async () => {
    const w = new Workload(d);
    const t0 = Date.now();
    await w.bulk(3000, 16);
    report.bulkWriteMs = Date.now() - t0;
    // A stale but valid copy for a later drill: a snapshot taken now, on master3, with its own certificate.
    await ssh(d, "master3", [
      "mkdir -p /var/lib/etcd-drill &&",
      `docker run --rm --network host -v /var/lib/etcd-drill:/var/lib/etcd-drill -v /etc/kubernetes/ssl:/etc/kubernetes/ssl:ro ${d.etcd.images["v3.5"]}`,
      "/usr/local/bin/etcdctl --endpoints=https://10.250.0.101:2379 --cacert=/etc/kubernetes/ssl/kube-ca.pem",
      "--cert=/etc/kubernetes/ssl/kube-etcd-10-250-0-103.pem --key=/etc/kubernetes/ssl/kube-etcd-10-250-0-103-key.pem",
      "snapshot save /var/lib/etcd-drill/stale.db >/dev/null 2>&1 && ls -l /var/lib/etcd-drill/stale.db",
    ].join(" "));
    w.start(4);
    await waitFor(() => w.acked.size >= 3400 || undefined, { timeoutMs: 60_000, what: "the continuous writer to get going" });
    const cut = Date.now();
    await sandbox(["power-off", "A"]);
    await w.stop();
    report.powerOffMs = Date.now() - cut;
    acked = w.acked;
    report.ackedWrites = acked.size;
    report.failedWrites = w.failed;
    // Wait until the learner's applied index stops changing.
    const settled = await appliedSettled(d, M3_CLIENT);
    expect(settled.isLearner).to.equal(true);
    report.learnerAppliedIndex = settled.raftAppliedIndex;
    learnerKeys = await keysUnder(d, M3_CLIENT, POD_PREFIX);
    learnerCount = await countAll(d, M3_CLIENT);
    const notOnLearner = [...acked].filter((k) => !learnerKeys.has(k));
    report.ackedButNotOnLearner = notOnLearner.length;
    report.ackedButNotOnLearnerKeys = notOnLearner.slice(0, 20);
    report.learnerKeys = learnerCount.count;
    report.learnerRevision = learnerCount.revision;
    expect(learnerKeys.size).to.be.greaterThan(3000);
    // A learner can only lack the last writes before the cut, never older ones.
    expect(notOnLearner.length).to.be.lessThan(100);
  });

  let fingerprint = "";

  it("a restore from a truncated db fails loudly and keeps the learner's data dir, container and record", async () => {
    await ssh(d, "master3", "head -c 65536 /var/lib/etcd/member/snap/db > /var/lib/etcd-drill/truncated.db");
    const e = await rejects(restore.create(restoreInputs({ sourceDb: "/var/lib/etcd-drill/truncated.db" })));
    console.log(`      truncated db: ${e.message.split("\n").slice(0, 3).join(" | ").slice(0, 600)}`);
    expect(e.message).to.match(/standalone restore on 10\.250\.0\.103 failed during (the restore|verification)/);
    expect(e.message).to.match(/Kept: the learner's data dir \/var\/lib\/etcd \(never changed\), the learner container etcd-learner/);
    expect(e.message).to.include("Next: fix the cause above and run pulumi up again");
    const l = await dockerView(d, "master3", "etcd-learner");
    expect(l.exists).to.equal(true);
    expect(l.running).to.equal(false);
    expect(l.restartPolicy).to.equal("no");
    const rec = await ssh(d, "master3", "cat /var/lib/etcd-restored.restore-record.json");
    const parsed = JSON.parse(rec.stdout) as { learnerRevision: number; keysBefore: number; verified: boolean; stoppedAt?: string };
    expect(parsed.verified).to.equal(false);
    expect(parsed.stoppedAt).to.be.a("string");
    // Recorded through the learner's client URL: what etcdctl saw, exactly.
    expect(parsed.learnerRevision).to.equal(learnerCount.revision);
    expect(parsed.keysBefore).to.equal(learnerCount.count);
    fingerprint = await dataDirFingerprint(d);
    const etcd = await dockerView(d, "master3", "etcd");
    expect(etcd.running).to.equal(false);
  });

  it("a restore from a stale copy (with the 3.6 image: etcdutl) starts but fails verification (revision behind, keys missing), and stops the new etcd", async () => {
    const e = await rejects(restore.create(restoreInputs({ sourceDb: "/var/lib/etcd-drill/stale.db", image: d.etcd.images["v3.6"] })));
    console.log(`      stale db: ${e.message.split("\n")[0].slice(0, 600)}`);
    expect(e.message).to.match(/failed during verification/);
    expect(e.message).to.match(/behind the learner's \d+: \d+ revisions would be lost/);
    expect(e.message).to.match(/\d+ missing/);
    expect(e.message).to.match(/was stopped \(restart policy cleared\) and is kept for inspection/);
    const etcd = await dockerView(d, "master3", "etcd");
    expect(etcd.exists).to.equal(true);
    expect(etcd.running).to.equal(false);
    expect(etcd.restartPolicy).to.equal("no");
    expect(etcd.image).to.equal(d.etcd.images["v3.6"]);
    // It did run: etcd 3.6 started on the etcdutl restore and served the (stale) data.
    const log = await ssh(d, "master3", "docker logs etcd 2>&1 | grep -c '\"etcd-version\":\"3.6' || true");
    expect(Number(log.stdout.trim())).to.be.greaterThan(0);
    expect(await dataDirFingerprint(d)).to.equal(fingerprint);
  });

  let outs: Props = {};

  it("the retry from the learner's own db succeeds: every key the learner had, writable, one member new-cluster", async () => {
    // As the stack's failover mode declares it: a fast first election (100/500 ms).
    const r = await restore.create(restoreInputs({ fastFirstElection: true }));
    outs = r.outs;
    report.restore = {
      phaseMs: outs.phaseMs,
      reusedRecord: outs.reusedRecord,
      keysBefore: outs.keysBefore,
      keysAfter: outs.keysAfter,
      learnerRevision: outs.learnerRevision,
      restoredRevision: outs.restoredRevision,
      learnerAppliedIndex: outs.learnerAppliedIndex,
      dataLossWindow: outs.dataLossWindow,
      restoreTool: outs.restoreTool,
      setAside: outs.setAside,
      newClusterId: outs.newClusterId,
      newClusterToken: outs.newClusterToken,
    };
    expect(outs.keysAfter).to.equal(outs.keysBefore);
    expect(outs.keysBefore).to.equal(learnerCount.count);
    expect(outs.learnerRevision).to.equal(learnerCount.revision);
    expect(Number(outs.restoredRevision)).to.be.at.least(Number(outs.learnerRevision));
    expect(outs.dataLossWindow).to.equal(0);
    expect(outs.restoreTool).to.match(/^etcdctl 3\.5\./);
    expect(outs.newClusterToken).to.match(/^cluster-restore-/);
    expect(outs.adopted).to.equal(false);
    // The learner was stopped by the first failed attempt: its record (and the times of that attempt) were reused.
    expect(outs.reusedRecord).to.equal(true);
    expect((outs.phaseMs as Record<string, number>).record).to.be.greaterThan(0);
    expect((outs.phaseMs as Record<string, number>).stop).to.be.greaterThan(0);
    expect((outs.setAside as string[]).join(" ")).to.match(/container etcd-failed-.*\/var\/lib\/etcd-restored\.failed-/);
    for (const k of ["guard", "record", "stop", "restore", "start", "verify"]) expect((outs.phaseMs as Record<string, number>)[k]).to.be.a("number");
    // Independent checks with Debian's etcdctl 3.4 against the new cluster.
    const st = await endpointStatus(d, M3_CLIENT);
    expect(st.isLearner ?? false).to.equal(false);
    expect(hexId(st.leader)).to.equal(hexId(st.header.member_id));
    expect(hexId(st.header.cluster_id)).to.equal(outs.newClusterId);
    expect(hexId(st.header.member_id)).to.equal(outs.newMemberId);
    const members = await memberList(d, [M3_CLIENT]);
    expect(members.map((m) => m.name)).to.deep.equal(["new-cluster"]);
    expect(members[0].peerURLs).to.deep.equal([M3]);
    const restoredKeys = await keysUnder(d, M3_CLIENT, POD_PREFIX);
    const missing = [...learnerKeys].filter((k) => !restoredKeys.has(k));
    expect(missing).to.deep.equal([]);
    expect(restoredKeys.size).to.equal(learnerKeys.size);
    const ackedOnLearner = [...acked].filter((k) => learnerKeys.has(k));
    expect(ackedOnLearner.every((k) => restoredKeys.has(k))).to.equal(true);
    report.ackedKeysPresentAfterRestore = ackedOnLearner.length;
    report.ackedKeysLost = acked.size - ackedOnLearner.length;
    const ns = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", "/registry/namespaces/default", "--print-value-only"]);
    expect(ns.stdout).to.include('"name":"default"');
    await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", "/registry/pods/default/hello-world-hvslg", '{"kind":"Pod","metadata":{"name":"hello-world-hvslg"}}']);
    const got = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", "/registry/pods/default/hello-world-hvslg", "--print-value-only"]);
    expect(got.stdout).to.include("hello-world-hvslg");
    // Docker: RKE's name, restart always, managed label; the learner kept, stopped; the failed attempt set aside.
    const etcd = await dockerView(d, "master3", "etcd");
    expect(etcd.running).to.equal(true);
    expect(etcd.restartPolicy).to.equal("always");
    expect(etcd.labels["io.etcd-standby.resource"]).to.equal("EtcdStandaloneRestore");
    const l = await dockerView(d, "master3", "etcd-learner");
    expect([l.exists, l.running, l.restartPolicy]).to.deep.equal([true, false, "no"]);
    expect((await containerNames(d, "master3")).filter((c) => c.startsWith("etcd-failed-"))).to.have.length(1);
    expect(await dataDirFingerprint(d)).to.equal(fingerprint);
    expect(await timingFlags(d)).to.deep.equal(["--heartbeat-interval=100", "--election-timeout=500"]);
  });

  it("fastFirstElection off refuses, changing nothing, when the container named etcd is not this restore's (and when there is none, naming the one kept aside)", async () => {
    const image = (await dockerView(d, "master3", "etcd")).image;
    await ssh(d, "master3", `docker rename etcd etcd-test-aside && docker create --name etcd --network host ${image} /usr/local/bin/etcd --version >/dev/null`);
    try {
      const foreign = await dockerView(d, "master3", "etcd");
      const e = await standbyRejection(restore.update("standalone-restore-10.250.0.103", outs, restoreInputs()));
      expect(e.code).to.equal("Refused");
      expect(e.message).to.include("is not this restore's etcd").and.include("nothing was changed");
      const still = await dockerView(d, "master3", "etcd");
      expect([still.exists, still.running, still.startedAt]).to.deep.equal([true, false, foreign.startedAt]);
      await ssh(d, "master3", "docker rm etcd >/dev/null");
      const gone = await standbyRejection(restore.update("standalone-restore-10.250.0.103", outs, restoreInputs()));
      expect(gone.code).to.equal("NotFound");
      expect(gone.message).to.include("etcd-timing-");
    } finally {
      await ssh(d, "master3", "docker rm etcd >/dev/null 2>&1; docker rename etcd-test-aside etcd", { allowFailure: true });
    }
    // The restored member ran on through it, on the fast timing.
    expect((await dockerView(d, "master3", "etcd")).running).to.equal(true);
    expect(await timingFlags(d)).to.deep.equal(["--heartbeat-interval=100", "--election-timeout=500"]);
  });

  it("fastFirstElection off (rebuild mode's update): one restart onto the cluster's 500/5000 ms; same cluster and member, every key, writable; a second update restarts nothing", async () => {
    const keys = await keysUnder(d, M3_CLIENT, POD_PREFIX);
    const before = await dockerView(d, "master3", "etcd");
    const upd = await restore.update("standalone-restore-10.250.0.103", outs, restoreInputs());
    expect(upd.outs?.fastFirstElection).to.equal(undefined);
    // Read back from the container (docker inspect over ssh) and the cluster (Debian's etcdctl).
    expect(await timingFlags(d)).to.deep.equal(["--heartbeat-interval=500", "--election-timeout=5000"]);
    const after = await dockerView(d, "master3", "etcd");
    expect([after.running, after.restartPolicy, after.labels["io.etcd-standby.resource"]]).to.deep.equal([true, "always", "EtcdStandaloneRestore"]);
    expect(after.startedAt > before.startedAt, "restarted").to.equal(true);
    const st = await endpointStatus(d, M3_CLIENT);
    expect(hexId(st.leader)).to.equal(hexId(st.header.member_id));
    expect([hexId(st.header.cluster_id), hexId(st.header.member_id)]).to.deep.equal([outs.newClusterId, outs.newMemberId]);
    expect((await memberList(d, [M3_CLIENT])).map((m) => m.name)).to.deep.equal(["new-cluster"]);
    expect(await keysUnder(d, M3_CLIENT, POD_PREFIX)).to.deep.equal(keys);
    await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", "/registry/pods/default/after-retime", "{}"]);
    // The old container was only kept until the new one led.
    expect((await containerNames(d, "master3")).filter((c) => c.startsWith("etcd-timing-"))).to.deep.equal([]);
    // Already on the cluster's timing: nothing restarts.
    await restore.update("standalone-restore-10.250.0.103", { ...outs, fastFirstElection: true }, restoreInputs());
    expect((await dockerView(d, "master3", "etcd")).startedAt).to.equal(after.startedAt);
    outs = { ...outs, ...upd.outs };
  });

  it("KubeComponentsRestart restarts the five Kubernetes components (newer StartedAt); absent ones are reported", async () => {
    const before: Record<string, string> = {};
    for (const c of KUBE) before[c] = (await dockerView(d, "master3", c)).startedAt;
    const r = await kubeRestart.create({ host: hostProps(d, "master3"), trigger: String(outs.newClusterId) });
    report.kubeRestartMs = r.outs.durationMs;
    expect(r.outs.restarted).to.deep.equal(KUBE);
    expect(r.outs.absent).to.deep.equal([]);
    for (const c of KUBE) {
      const after = await dockerView(d, "master3", c);
      expect(after.running, c).to.equal(true);
      expect(Date.parse(after.startedAt), c).to.be.greaterThan(Date.parse(before[c]));
    }
    const partial = await kubeRestart.create({ host: hostProps(d, "master3"), containers: ["kube-proxy", "kube-no-such"], trigger: "x" });
    expect(partial.outs.restarted).to.deep.equal(["kube-proxy"]);
    expect(partial.outs.absent).to.deep.equal(["kube-no-such"]);
    const diff = await kubeRestart.diff("x", r.outs, { host: hostProps(d, "master3"), trigger: String(outs.newClusterId) });
    expect(diff.changes).to.equal(false);
  });

  it("EtcdLearner never acts on another member at its peer URL: an update with the restored voter there is refused, changing nothing", async () => {
    // As in rebuild mode: the stack's EtcdLearner of master3 is still declared, and master3's peer URL is held by the
    // restored voter new-cluster. Any input change (here only timeoutMs) used to remove it.
    const olds = { ...learnerInputs(d), cluster: clusterProps(d, [M3_CLIENT]) };
    const news = { ...olds, timeoutMs: 90_000 };
    const membersBefore = await memberList(d, [M3_CLIENT]);
    const e = await standbyRejection(learner.update("learner-learner1", olds, news));
    expect(e.message).to.match(/refusing to re-create learner learner1 on 10\.250\.0\.103: its peer URL https:\/\/10\.250\.0\.103:2380 is held by voter new-cluster \([0-9a-f]{16}\), which is not this learner/);
    expect(e.message).to.match(/nothing was changed/);
    expect(e.message).to.include("Next:");
    expect(await memberList(d, [M3_CLIENT])).to.deep.equal(membersBefore);
    const etcd = await dockerView(d, "master3", "etcd");
    expect([etcd.running, etcd.restartPolicy]).to.deep.equal([true, "always"]);
    // Deleting it leaves the voter as it is, too.
    await learner.delete("learner-learner1", news);
    expect(await memberList(d, [M3_CLIENT])).to.deep.equal(membersBefore);
  });

  it("site A powered on again (its network cut: the safe order) serves a stale cluster until SiteFence stops it; reconnected, it does not disturb the new cluster (members, leader, workload unchanged for 25 s)", async () => {
    // master3's own kube-apiserver is a live client of the new cluster (leases, events): the whole key count may move;
    // the workload's keys and the revision's direction may not.
    const before = await keysUnder(d, M3_CLIENT, POD_PREFIX);
    const revBefore = (await countAll(d, M3_CLIENT)).revision;
    const membersBefore = await memberList(d, [M3_CLIENT]);
    await sandbox(["power-on", "A", "--isolated"]);
    // The old voters come back with their data and quorum (RKE's restart=always): a second writable cluster.
    await waitFor(async () => {
      const r = await etcdctl(d, [`--endpoints=${voterEndpoints(d, ["master3"]).join(",")}`, "endpoint", "health"], { allowFailure: true });
      return r.code === 0;
    }, { timeoutMs: 120_000, what: "site A's old cluster to be healthy again" });
    const oldMembers = await memberList(d, voterEndpoints(d, ["master3"]));
    expect(oldMembers.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1", "learner1"]);
    // The second disaster: after a full DR loop site A's members are etcd-standby's own containers (rebuild started
    // them). Here each old member is re-created as that loop leaves it: the same data and flags, etcd-standby's labels.
    for (const h of ["master1", "master2", "node1"]) await asEtcdStandbyMember(h, `etcd-${h}`);
    await waitFor(async () => (await etcdctl(d, [`--endpoints=${voterEndpoints(d, ["master3"]).join(",")}`, "endpoint", "health"], { allowFailure: true })).code === 0,
      { timeoutMs: 120_000, what: "site A's old cluster, in etcd-standby's containers, to be healthy again" });
    const current = { clusterId: String(outs.newClusterId), endpoints: [M3_CLIENT] };
    // Fenced by identity, not by label: none of them is the current cluster's, so each is stopped for good whoever
    // started it; the old endpoints refuse.
    for (const h of ["master1", "master2", "node1"]) {
      const f = await fence.create({ host: hostProps(d, h), cluster: clusterProps(d, voterEndpoints(d, ["master3"])), current, oldEndpoints: [`https://${d.hosts.find((x) => x.name === h)?.address ?? ""}:2379`] });
      expect(f.outs.fenced, h).to.equal(true);
      expect(f.outs.stopped, h).to.include("etcd");
      const v = await dockerView(d, h, "etcd");
      expect([v.running, v.restartPolicy, v.labels["io.etcd-standby.resource"]], h).to.deep.equal([false, "no", "EtcdLearner"]);
    }
    // The current cluster's member is never touched by a fence judged the same way (a config naming master3 by mistake).
    const onCurrent = await fence.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, [M3_CLIENT]), current, oldEndpoints: [M3_CLIENT], containers: ["etcd", "etcd-rolling-snapshots"] });
    expect(onCurrent.outs.stopped).to.deep.equal([]);
    expect(onCurrent.outs.oldEndpointsServe).to.equal(false);
    const restored = await dockerView(d, "master3", "etcd");
    expect([restored.running, restored.restartPolicy]).to.deep.equal([true, "always"]);
    // And rebuild's cleanup accepts etcd-standby's member of the cluster that is gone (it used to refuse it).
    const cleaned = await cleanup.create({ host: hostProps(d, "node1"), cluster: clusterProps(d, [M3_CLIENT]) });
    expect(cleaned.outs.removedContainers).to.include("etcd");
    expect(await containerNames(d, "node1")).to.not.include("etcd");
    for (const e of voterEndpoints(d, ["master3"])) {
      const r = await etcdctl(d, [`--endpoints=${e}`, "--command-timeout=3s", "put", "/etcd-standby/test-probe", "x"], { allowFailure: true });
      expect(r.code, `${e} refuses a put`).to.not.equal(0);
    }
    await sandbox(["reconnect", "A"]);
    const start = Date.now();
    let checks = 0;
    while (Date.now() - start < 25_000) {
      const st = await endpointStatus(d, M3_CLIENT);
      expect(hexId(st.header.cluster_id)).to.equal(outs.newClusterId);
      expect(hexId(st.leader)).to.equal(outs.newMemberId);
      const members = await memberList(d, [M3_CLIENT]);
      expect(members.map((m) => [m.ID, m.name])).to.deep.equal(membersBefore.map((m) => [m.ID, m.name]));
      expect(await keysUnder(d, M3_CLIENT, POD_PREFIX)).to.deep.equal(before);
      expect((await countAll(d, M3_CLIENT)).revision).to.be.at.least(revBefore);
      checks++;
      await sleep(2500);
    }
    report.siteAOnChecks = checks;
    const logs = await ssh(d, "master3", "docker logs etcd 2>&1 | grep -c -i 'cluster id mismatch\\|mismatch cluster' || true");
    report.clusterIdMismatchLogLines = Number(logs.stdout.trim());
    const read = await restore.read("standalone-restore-10.250.0.103", outs);
    expect(read.props.healthy).to.equal(true);
    expect(read.props.observedClusterId).to.equal(outs.newClusterId);
  });

  it("create again adopts the verified restore (changes nothing, even with site A back); delete changes nothing", async () => {
    // (master3's kube-apiserver writes leases meanwhile: the workload's keys are what must not change)
    const before = await keysUnder(d, M3_CLIENT, POD_PREFIX);
    const again = await restore.create(restoreInputs());
    expect(again.outs.adopted).to.equal(true);
    expect(again.outs.newClusterId).to.equal(outs.newClusterId);
    expect(await keysUnder(d, M3_CLIENT, POD_PREFIX)).to.deep.equal(before);
    await restore.delete("standalone-restore-10.250.0.103", outs);
    expect((await dockerView(d, "master3", "etcd")).running).to.equal(true);
    expect((await memberList(d, [M3_CLIENT])).map((m) => m.name)).to.deep.equal(["new-cluster"]);
  });
});
