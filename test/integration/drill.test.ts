/**
 * A DR drill without an outage (issue 12, item 3) against the live sandbox:
 * EtcdRestoreDrill restores site B's learner into a scratch cluster on
 * master3 while a paced writer keeps putting through site A's voters.
 *
 * Checked with etcdctl and with docker over OpenSSH, not with the provider's
 * own code: no write refused by site A during the drill, the drill's
 * verification matches, the learner is caught up again at the end, the
 * membership is unchanged, no scratch container or folder is left; a drill
 * whose restore fails (an image without etcdctl) reports "fail" and leaves
 * the same clean state. Run it under `flock /tmp/esb-sandbox.lock`.
 */
import { expect } from "chai";
import type { Props } from "../../provider/impl/common";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as learner } from "../../provider/impl/learner";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { provider as drill } from "../../provider/impl/restoreDrill";
import { sleep } from "../../provider/lib/time";
import { pacedWriter } from "../../scripts/bench/traffic";
import { clusterProps, hostProps, learnerInputs, M3, M3_CLIENT, voterEndpoints } from "../support/fixtures";
import { loadKubeShaped } from "../support/load";
import { endpointStatuses, etcdctl, freshSandbox, memberList, parseEtcdctlJson, sandbox, ssh } from "../support/sandbox";
import type { CtlMember, SandboxDescription } from "../support/sandbox";
import { rejection, waitFor } from "../support/wait";

const LEARNER = "learner-master3";
const BROKEN_IMAGE = "etcd-standby-test/no-etcdctl:v3.5";

const membership = (ms: CtlMember[]): string => JSON.stringify(ms.map((m) => [m.ID, m.name, m.isLearner === true, [...m.peerURLs].sort()]).sort());

describe("EtcdRestoreDrill: a DR drill without an outage on the live sandbox", function () {
  this.timeout(600_000);
  let d: SandboxDescription;
  let voters: string[];
  let membersBefore: CtlMember[];
  const report: Record<string, unknown> = {};

  const drillInputs = (overrides: Props = {}): Props => ({
    host: hostProps(d, "master3"),
    cluster: clusterProps(d, voters),
    learner: { memberName: LEARNER, peerURL: M3, clientURL: M3_CLIENT },
    image: d.etcd.images["v3.5"],
    trigger: "2026-04-01",
    timeoutMs: 120_000,
    ...overrides,
  });

  /** The learner's lag behind the highest committed index of the voters, by etcdctl endpoint status. */
  async function learnerLag(): Promise<{ lag: number; learnerApplied: number; leaderIndex: number; isLearner: boolean }> {
    const st = await endpointStatuses(d, [M3_CLIENT, ...voters]);
    const l = st.find((x) => x.endpoint === M3_CLIENT);
    const v = st.filter((x) => x.endpoint !== M3_CLIENT);
    if (!l || v.length === 0) throw new Error(`no status from ${l ? "the voters" : "the learner"}`);
    const leaderIndex = Math.max(...v.map((x) => x.raftIndex));
    return { lag: Math.max(0, leaderIndex - l.applied), learnerApplied: l.applied, leaderIndex, isLearner: l.isLearner };
  }

  /** What the drill must leave on master3: the learner running under restart policy always, no scratch container, no scratch folder. */
  async function expectCleanHost(): Promise<void> {
    const names = (await ssh(d, "master3", "docker ps -a --format '{{.Names}}'")).stdout.split("\n").filter(Boolean);
    expect(names.filter((n) => n.startsWith("etcd-standby-drill")), "scratch containers left").to.deep.equal([]);
    const dirs = await ssh(d, "master3", "ls -A /var/lib/etcd-standby-drill 2>&1; ls -d /var/lib/etcd-standby-drill* 2>/dev/null | wc -l");
    expect(dirs.stdout.trim().split("\n").pop(), `scratch folders left: ${dirs.stdout}`).to.equal("0");
    const l = await ssh(d, "master3", "docker inspect --format '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' etcd-learner");
    expect(l.stdout.trim()).to.equal("true always");
  }

  before(async () => {
    d = await freshSandbox();
    voters = voterEndpoints(d, ["master3"]);
    // The seed's learner-standby: master3's voter out, its RKE containers gone, a 3.5 learner in.
    await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3", peerURL: M3 });
    await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voters) });
    await learner.create(learnerInputs(d, { memberName: LEARNER }));
    // Some Kubernetes-shaped data (about 8 MB), so the db is not trivial.
    const load = await loadKubeShaped({ endpoints: voters, caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile }, 8 * 1024 * 1024, { tag: "base", concurrency: 16 });
    report.baseKeys = load.keys;
    await waitFor(async () => ((await learnerLag()).lag <= 10 ? true : undefined), { timeoutMs: 60_000, what: "the learner to catch up with the base load" });
    membersBefore = await memberList(d, voters);
  });

  after(async () => {
    console.log(`      drill report: ${JSON.stringify(report, null, 2).replace(/\n/g, "\n      ")}`);
    await sandbox(["down"]);
  });

  it("refuses bad inputs in check, all at once", async () => {
    const r = await drill.check({}, drillInputs({ clientPort: 2379, scratchDir: "/var/lib/etcd/drill", listenAddress: "10.250.0.101", trigger: 5 }));
    const props = (r.failures ?? []).map((f) => f.property);
    expect(props).to.include("trigger");
    const again = await drill.check({}, drillInputs({ clientPort: 2379, scratchDir: "/var/lib/etcd/drill", listenAddress: "10.250.0.101" }));
    const reasons = (again.failures ?? []).map((f) => f.reason).join("\n");
    expect(reasons).to.match(/overlaps the learner's data dir/);
    expect(reasons).to.match(/clientPort 2379 is one of the learner's own ports/);
    expect(reasons).to.match(/listenAddress 10\.250\.0\.101 must be/);
  });

  it("restores the learner's copy into a scratch cluster while site A takes writes, without refusing one", async () => {
    const writer = pacedWriter({ endpoints: voters, caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile }, { rate: 400, clients: 6, tag: "drill", deadlineMs: 5000 });
    let outs: Props;
    let failedDuring: number;
    let ackedDuring: number;
    try {
      await waitFor(() => writer.acked.size >= 800 || undefined, { timeoutMs: 60_000, what: "the writer to get going" });
      const failedBefore = writer.failed();
      const ackedBefore = writer.acked.size;
      const t0 = Date.now();
      const r = await drill.create(drillInputs());
      report.drillWallMs = Date.now() - t0;
      failedDuring = writer.failed() - failedBefore;
      ackedDuring = writer.acked.size - ackedBefore;
      outs = r.outs;
      // The learner is caught up at the end, while the writer still writes (etcdctl, not the provider).
      const lagNow = await learnerLag();
      report.learnerLagRightAfter = lagNow.lag;
      expect(lagNow.isLearner).to.equal(true);
      expect(lagNow.lag).to.be.at.most(400);
      await sleep(1000);
    } finally {
      await writer.stop();
    }
    report.writes = { acked: writer.acked.size, failed: writer.failed(), ackedDuringDrill: ackedDuring, failedDuringDrill: failedDuring, ratePerSecDuringDrill: Math.round((ackedDuring * 1000) / (report.drillWallMs as number)) };
    report.drill = { verdict: outs.verdict, problems: outs.problems, phaseMs: outs.phaseMs, rtoMs: outs.rtoMs, learnerAbsentMs: outs.learnerAbsentMs, learnerDownMs: outs.learnerDownMs, recordedRevision: outs.recordedRevision, recordedKeys: outs.recordedKeys, restoredRevision: outs.restoredRevision, restoredKeys: outs.restoredKeys, comparedKeys: outs.comparedKeys, bumpApplied: outs.bumpApplied, dbSizeBytes: outs.dbSizeBytes, restoreTool: outs.restoreTool };
    console.log(`      drill phases (ms): ${JSON.stringify(outs.phaseMs)}; RTO ${String(outs.rtoMs)} ms; learner absent ${String(outs.learnerAbsentMs)} ms`);
    // Site A refused nothing during the drill, and kept taking writes.
    expect(failedDuring, "writes refused by site A during the drill").to.equal(0);
    expect(ackedDuring).to.be.greaterThan(0);
    // The drill's verification matches.
    expect(outs.verdict, JSON.stringify(outs.problems)).to.equal("pass");
    expect(outs.problems).to.deep.equal([]);
    expect(outs.restoredRevision).to.be.at.least(outs.recordedRevision as number);
    // Bumped, the copy (at the bumped revision) is compared with the learner at the copy's own revision, which the
    // learner applied after the record while site A kept writing: etcdctl on the learner at that revision agrees.
    expect(outs.restoredKeys).to.equal(outs.comparedKeys);
    expect(outs.restoredRevision).to.be.at.least(outs.recordedRevision as number);
    const atCopy = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", "", "--prefix", "--keys-only", "--limit=1", "--consistency=s", `--rev=${String(outs.restoredRevision)}`, "-w", "json"]);
    const locks = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", "/etcd-standby/lock/", "--prefix", "--keys-only", "--limit=1", "--consistency=s", `--rev=${String(outs.restoredRevision)}`, "-w", "json"]);
    const count = (out: string): number => Number(parseEtcdctlJson<{ count?: number }>(out).count ?? 0);
    expect(count(atCopy.stdout) - count(locks.stdout), "keys on the learner at the copy's revision (etcdctl), lock keys left out").to.equal(outs.restoredKeys);
    expect(outs.recordedKeys).to.be.at.least(report.baseKeys as number);
    expect(outs.restoreTool).to.match(/^etcdctl 3\.5\./);
    // The drill restores as a failover does: with the revision bump (its copy counted at the bumped revision, the
    // caught-up learner at the copy's own revision).
    expect(outs.bumpApplied).to.equal(1_000_000_000);
    expect(outs.membershipUnchanged).to.equal(true);
    expect(outs.drilledTrigger).to.equal("2026-04-01");
    // Every phase was timed; the RTO is restore + start + verify.
    const t = outs.phaseMs as Record<string, number>;
    for (const k of ["preflight", "record", "learnerStop", "copy", "learnerRestart", "learnerCatchUp", "restore", "start", "verify", "cleanup", "total"]) expect(t[k], k).to.be.a("number").and.at.least(0);
    for (const k of ["learnerStop", "copy", "restore", "start", "verify", "total"]) expect(t[k], k).to.be.greaterThan(0);
    expect(outs.rtoMs).to.equal(t.restore + t.start + t.verify);
    expect(outs.learnerAbsentMs).to.be.greaterThan(0);
    expect(outs.learnerAbsentMs).to.be.at.least(outs.learnerDownMs as number);
    // The learner catches up fully once the writer stops; membership is as before; master3 is clean.
    const settled = await waitFor(async () => {
      const l = await learnerLag();
      return l.lag === 0 ? l : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, what: "the learner to apply everything the voters committed" });
    expect(settled.isLearner).to.equal(true);
    expect(membership(await memberList(d, voters))).to.equal(membership(membersBefore));
    await expectCleanHost();
  });

  it("read and an update without a new trigger change nothing and drill nothing", async () => {
    const inputs = drillInputs();
    const olds = { ...inputs, verdict: "pass", recordedRevision: 1 };
    const read = await drill.read("restore-drill-10.250.0.103", olds);
    expect(read.props).to.deep.equal(olds);
    const diff = await drill.diff("restore-drill-10.250.0.103", olds, inputs);
    expect(diff.changes).to.equal(false);
    const t0 = Date.now();
    const up = await drill.update("restore-drill-10.250.0.103", olds, { ...inputs, catchUpThreshold: 50 });
    expect(Date.now() - t0).to.be.below(1000);
    expect(up.outs.recordedRevision).to.equal(1);
    const next = await drill.diff("restore-drill-10.250.0.103", olds, { ...inputs, trigger: "2026-07-01" });
    expect(next.changes).to.equal(true);
    expect(next.replaces).to.deep.equal([]);
  });

  it("a drill whose restore fails reports fail, and leaves the learner running and caught up and nothing behind", async () => {
    // An image with etcd but without etcdctl or etcdutl: the version check passes, the restore cannot run.
    await ssh(d, "master3", [
      `docker create --name drill-image-src ${d.etcd.images["v3.5"]} /usr/local/bin/etcd >/dev/null &&`,
      "docker export drill-image-src | tar --delete --wildcards '*usr/local/bin/etcdctl' '*usr/local/bin/etcdutl' |",
      `docker import - ${BROKEN_IMAGE} >/dev/null && docker rm drill-image-src >/dev/null`,
    ].join(" "));
    const writer = pacedWriter({ endpoints: voters, caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile }, { rate: 200, clients: 4, tag: "drill-fail", deadlineMs: 5000 });
    let e: Error;
    try {
      await waitFor(() => writer.acked.size >= 200 || undefined, { timeoutMs: 60_000, what: "the writer to get going" });
      e = await rejection(drill.create(drillInputs({ image: BROKEN_IMAGE, trigger: "broken" })));
    } finally {
      await writer.stop();
    }
    report.failedDrill = { message: e.message.slice(0, 400), writesFailed: writer.failed() };
    expect(e.name).to.equal("PartialCreateError");
    expect(e.message).to.match(/did not pass the drill/);
    expect(e.message).to.match(/snapshot restore/);
    expect(e.message).to.include("Next:");
    const props = (e as unknown as { properties: Props }).properties;
    expect(props.verdict).to.equal("fail");
    expect((props.problems as string[]).length).to.be.greaterThan(0);
    expect(props.learnerAbsentMs).to.be.greaterThan(0);
    expect(writer.failed(), "writes refused by site A").to.equal(0);
    // A failed drill is drilled again on the next up.
    expect((await drill.diff("restore-drill-10.250.0.103", props, drillInputs({ image: BROKEN_IMAGE, trigger: "broken" }))).changes).to.equal(true);
    await waitFor(async () => ((await learnerLag()).lag === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, what: "the learner to be caught up after the failed drill" });
    expect(membership(await memberList(d, voters))).to.equal(membership(membersBefore));
    await expectCleanHost();
  });
});
