/**
 * The restore at its edges (GitHub issue 23), on the live sandbox:
 *
 * - a learner restarted after site A's loss (a reboot of master3 in the same
 *   power event, here `docker restart`) never has a leader again and so never
 *   answers clients; the seed's procedure still works from its db, and so must
 *   the failover: recorded from its data, restored, every key it held served;
 * - a learner image whose restore tool lacks `--bump-revision` (Debian's etcd
 *   3.4.23, older than 3.4.27): EtcdLearner warns in peacetime, and the
 *   failover completes without the bump, saying loudly what that means.
 *
 * Each part builds its own sandbox. Outcomes are checked with etcdctl and
 * docker over OpenSSH, not with the provider's own code. Run it under
 * `flock /tmp/esb-sandbox.lock`.
 */
import { expect } from "chai";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as learner } from "../../provider/impl/learner";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { provider as restore } from "../../provider/impl/standaloneRestore";
import { clusterProps, hostProps, learnerInputs, M3_CLIENT, restoreInputs, voterEndpoints } from "../support/fixtures";
import { client } from "../support/load";
import { appliedSettled, countAll, etcdctl, freshSandbox, parseEtcdctlJson, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { waitFor } from "../support/wait";

const PREFIX = "/registry/configmaps/edges/";

/** Runs `fn`, keeping every line the provider printed (its progress lines and warnings). */
async function printed<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const original = console.log;
  const lines: string[] = [];
  console.log = (...args: unknown[]): void => {
    lines.push(args.map(String).join(" "));
    original(...args);
  };
  try {
    return { result: await fn(), lines };
  } finally {
    console.log = original;
  }
}

/** Keys under PREFIX (serializable read), with the revision they were read at. */
async function keysAt(d: SandboxDescription, endpoint: string): Promise<{ keys: Set<string>; revision: number; count: number }> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "get", PREFIX, "--prefix", "--keys-only", "--consistency=s", "-w", "json"], { timeoutMs: 60_000 });
  const parsed = parseEtcdctlJson<{ header: { revision: number }; kvs?: Array<{ key: string }>; count?: number }>(r.stdout);
  return { keys: new Set((parsed.kvs ?? []).map((kv) => Buffer.from(kv.key, "base64").toString("utf8"))), revision: Number(parsed.header.revision), count: Number(parsed.count ?? 0) };
}

/** The learner on master3, as the seed makes it: master3's voter out, its RKE containers gone, a learner of `image` in. */
async function seedLearner(d: SandboxDescription, image: string): Promise<string[]> {
  await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3" });
  await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voterEndpoints(d, ["master3"])) });
  return (await printed(() => learner.create(learnerInputs(d, { image })))).lines;
}

/** Writes `n` keys through site A's voters (acknowledged ones returned), keeps writing with 4 clients until site A's power is cut. */
async function writeUntilCut(d: SandboxDescription, n: number): Promise<Set<string>> {
  const c = client({ endpoints: voterEndpoints(d, ["master3"]), caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile });
  const acked = new Set<string>();
  let next = 0;
  let stop = false;
  const put = async (): Promise<void> => {
    const key = `${PREFIX}cm-${next++}`;
    try {
      await c.put(key).value(JSON.stringify({ kind: "ConfigMap", metadata: { name: key } })).options({ deadline: new Date(Date.now() + 3000) }).exec();
      acked.add(key);
    } catch {
      // not acknowledged: not counted
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) await put();
    }));
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) await put();
    });
    await waitFor(() => acked.size >= n + 100 || undefined, { timeoutMs: 60_000, what: "the continuous writer to get going" });
    await sandbox(["power-off", "A"]);
    stop = true;
    await Promise.all(loops);
  } finally {
    c.close();
  }
  return acked;
}

/** A container's state over OpenSSH. */
async function state(d: SandboxDescription, name: string): Promise<{ running: boolean; restartPolicy: string; startedAt: string }> {
  const r = await ssh(d, "master3", `docker inspect --type container --format '{{.State.Running}}|{{.HostConfig.RestartPolicy.Name}}|{{.State.StartedAt}}' ${name}`);
  const [running, restartPolicy, startedAt] = r.stdout.trim().split("|");
  return { running: running === "true", restartPolicy, startedAt };
}

describe("failover from a learner restarted after site A's loss (it never answers again): recorded from its data", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  const report: Record<string, unknown> = {};
  let held = { keys: new Set<string>(), revision: 0, count: 0 };
  let all = { revision: 0, count: 0 };
  let settled = { raftIndex: 0, raftAppliedIndex: 0 };

  before(async () => {
    d = await freshSandbox();
    await seedLearner(d, d.etcd.images["v3.5"]);
  });

  after(async () => {
    console.log(`      restarted-learner report: ${JSON.stringify(report, null, 2).replace(/\n/g, "\n      ")}`);
    await sandbox(["down"]);
  });

  it("site A loses power under writes; master3's learner is restarted and no longer answers clients (etcdctl)", async () => {
    const acked = await writeUntilCut(d, 2000);
    settled = await appliedSettled(d, M3_CLIENT);
    held = await keysAt(d, M3_CLIENT);
    all = await countAll(d, M3_CLIENT);
    report.acked = acked.size;
    report.learner = { keys: held.keys.size, revision: all.revision, count: all.count, ...settled };
    expect(held.keys.size).to.be.greaterThan(2000);
    expect([...acked].filter((k) => !held.keys.has(k)).length, "a learner lacks at most the last writes before the cut").to.be.lessThan(100);
    const before = await state(d, "etcd-learner");
    await ssh(d, "master3", "docker restart etcd-learner >/dev/null");
    const after = await state(d, "etcd-learner");
    expect(after.running).to.equal(true);
    expect(after.startedAt).to.not.equal(before.startedAt);
    // Restarted without a leader it serves no client: etcdctl's status call does not get through.
    const st = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "endpoint", "status"], { allowFailure: true, timeoutMs: 30_000 });
    report.statusAfterRestart = `${st.stdout}${st.stderr}`.trim().slice(0, 200);
    expect(st.code).to.not.equal(0);
  });

  it("the failover succeeds: recorded offline, restored with the revision bump, every key the learner held is served", async () => {
    const { result, lines } = await printed(() => restore.create(restoreInputs(d)));
    const outs = result.outs;
    report.restore = { recordedFrom: outs.recordedFrom, learnerRevision: outs.learnerRevision, restoredRevision: outs.restoredRevision, bumpApplied: outs.bumpApplied, keysBefore: outs.keysBefore, keysAfter: outs.keysAfter, learnerCommittedIndex: outs.learnerCommittedIndex, phaseMs: outs.phaseMs };
    expect(outs.recordedFrom).to.equal("offline");
    // It says which way it took, and why.
    expect(lines.some((l) => /does not answer at https:\/\/10\.250\.0\.103:2379 .*recorded from its data instead/.test(l)), lines.join("\n")).to.equal(true);
    // The db's revision (snapshot status of the stopped learner's db) is the one etcdctl read before the restart.
    expect(outs.learnerRevision).to.equal(all.revision);
    expect(outs.restoredRevision).to.equal(all.revision);
    expect(outs.dataLossWindow).to.equal(0);
    expect(outs.bumpApplied).to.equal(1_000_000_000);
    // Counted at the restored revision: as many keys as etcdctl counted on the learner before its restart.
    expect(outs.keysAfter).to.equal(all.count);
    // The commit index it restarted with, from its own log: what it had applied before the restart.
    expect(outs.learnerCommittedIndex).to.be.at.least(settled.raftAppliedIndex);
    expect(outs.learnerCommittedIndex).to.be.at.most(settled.raftIndex);
    // An independent client: every key the learner held before the cut, served by the new cluster.
    const served = await keysAt(d, M3_CLIENT);
    expect([...held.keys].filter((k) => !served.keys.has(k)), "keys the learner held that the new cluster lacks").to.deep.equal([]);
    expect(served.count).to.equal(held.count);
    // The first write lands above the bump.
    const put = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", `${PREFIX}after`, "x", "-w", "json"]);
    expect(Number(parseEtcdctlJson<{ header: { revision: number } }>(put.stdout).header.revision)).to.be.greaterThan(all.revision + 1_000_000_000);
    // The learner's container is kept, stopped for good.
    const l = await state(d, "etcd-learner");
    expect([l.running, l.restartPolicy]).to.deep.equal([false, "no"]);
  });
});

describe("failover with a learner image whose restore cannot bump the revision (Debian's etcd 3.4.23): warned in peacetime, completes, says what it means", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  const report: Record<string, unknown> = {};
  let learnerLines: string[] = [];

  before(async () => {
    d = await freshSandbox();
    learnerLines = await seedLearner(d, d.etcd.images["v3.4"]);
  });

  after(async () => {
    console.log(`      no-bump report: ${JSON.stringify(report, null, 2).replace(/\n/g, "\n      ")}`);
    await sandbox(["down"]);
  });

  it("EtcdLearner warns in peacetime, naming the minimum versions", () => {
    const w = learnerLines.filter((l) => /WARNING: .*runs etcd 3\.4\.23, whose snapshot restore has no --bump-revision/.test(l));
    expect(w, learnerLines.join("\n")).to.have.length(1);
    expect(w[0]).to.include("3.4.27, 3.5.10 or 3.6");
  });

  it("the failover completes without the bump, and says loudly to restart every Kubernetes client", async () => {
    const acked = await writeUntilCut(d, 1000);
    await appliedSettled(d, M3_CLIENT);
    const held = await keysAt(d, M3_CLIENT);
    report.acked = acked.size;
    const { result, lines } = await printed(() => restore.create(restoreInputs(d, { image: d.etcd.images["v3.4"] })));
    const outs = result.outs;
    report.restore = { restoreTool: outs.restoreTool, bumpApplied: outs.bumpApplied, learnerRevision: outs.learnerRevision, restoredRevision: outs.restoredRevision, keysAfter: outs.keysAfter };
    expect(outs.restoreTool).to.equal("etcdctl 3.4.23");
    expect(outs.bumpApplied).to.equal(0);
    expect(outs.recordedFrom).to.equal("live");
    expect(outs.keysAfter).to.equal(outs.keysBefore);
    expect(lines.some((l) => /WARNING: .*runs etcd 3\.4\.23.*Restart every Kubernetes client after the failover/.test(l)), lines.join("\n")).to.equal(true);
    const served = await keysAt(d, M3_CLIENT);
    expect([...held.keys].filter((k) => !served.keys.has(k))).to.deep.equal([]);
    // What no bump means: the first write gets the revision right after the learner's, which site A may have given out.
    const put = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", `${PREFIX}after`, "x", "-w", "json"]);
    const rev = Number(parseEtcdctlJson<{ header: { revision: number } }>(put.stdout).header.revision);
    report.firstWriteRevision = rev;
    expect(rev).to.be.lessThan(Number(outs.learnerRevision) + 1000);
  });
});
