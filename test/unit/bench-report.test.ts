/** The benchmark report's headline: provider against raw per size, and issue #13's targets checked. */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { seedTimesMs } from "../../scripts/bench/data";
import { compare, headline, markdown, phaseTable } from "../../scripts/bench/report";
import type { FailoverRun, PowerOffKind, Report, TransitionRun } from "../../scripts/bench/report";
import { covered, OTHER_STEPS, parseEngineEvent, providerPhases, stepsOf } from "../../scripts/bench/transitions";
import type { EngineEvent } from "../../scripts/bench/transitions";
import { stats } from "../../scripts/bench/stats";

function run(procedure: "provider" | "raw", powerOff: PowerOffKind, rtoMs: number, extra: Partial<FailoverRun> = {}): FailoverRun {
  return {
    procedure, powerOff, powerOffMs: 100, rtoMs, procedureMs: rtoMs - 50, writesPerSec: 900, acked: 9000, ackedLost: 0, lostMs: 0,
    lagEntries: stats([1, 2]), lagMs: stats([1, 2]), lagAtCut: { entries: 20, ms: 10 },
    ...(procedure === "provider" ? { dataLossWindow: 0 } : {}),
    ...extra,
  };
}

function report(): Report {
  return {
    machine: { commit: "abc" }, command: "npm run bench", startedAt: "2026-01-01T00:00:00Z", totalMs: 60_000, runs: 3,
    writer: { rate: 1000, clients: 64, steadyMs: 10_000 }, heartbeatMs: 500, latencyMs: 1,
    powerOff: ["blackhole", "kill"], snapshotIntervalS: 300,
    sizes: [{
      targetMB: 10, dbSizeBytes: 10.3e6,
      learnerCreate: stats([2300, 2400, 2350]), rawCatchUp: stats([1000, 1200, 1100]),
      failover: {
        provider: [run("provider", "blackhole", 11_000), run("provider", "blackhole", 12_000), run("provider", "blackhole", 13_000, { dataLossWindow: 2 }), run("provider", "kill", 5000)],
        raw: [run("raw", "blackhole", 5000), run("raw", "blackhole", 4000), run("raw", "blackhole", 6000, { lagAtCut: { entries: 600, ms: 700 } }), run("raw", "kill", 4500)],
      },
    }, { targetMB: 100 }, {
      targetMB: 1000, dbSizeBytes: 1.0e9,
      learnerCreate: stats([11_100, 11_200, 11_150]), rawCatchUp: stats([10_000, 10_100, 10_050]),
      failover: {
        provider: [
          run("provider", "blackhole", 12_000, { guardWhileSiteAUp: { refused: true, ms: 900, message: "QuorumRisk: site A answers" }, phaseMs: { guard: 1000, restore: 5000, total: 9000 }, firstElectionMs: 1000 }),
          run("provider", "blackhole", 12_500, { guardWhileSiteAUp: { refused: false, ms: 30_000, message: "created" }, phaseMs: { guard: 1100, restore: 5100, total: 9100 }, firstElectionMs: 1500 }),
        ],
        raw: [run("raw", "blackhole", 10_000, { phaseMs: { stop: 500, restore: 4000, start: 300, total: 5000 }, firstElectionMs: 4000 }), run("raw", "blackhole", 11_000, { phaseMs: { stop: 600, restore: 4100, start: 300, total: 5100 }, firstElectionMs: 4500 })],
      },
    }],
    preview: { resources: 12, converged: stats([4000, 4100, 3900]), empty: stats([1500, 1400, 1600]) },
  };
}

describe("benchmark report: headline and targets", () => {
  it("compares medians and pairs the runs in order for the range", () => {
    const c = compare(stats([2300, 2400, 2350]), stats([1000, 1200, 1100]));
    expect(c?.ratio).to.be.closeTo(2350 / 1100, 1e-9);
    expect(c?.diffMs).to.equal(1250);
    expect(c?.ratioMin).to.be.closeTo(2400 / 1200, 1e-9);
    expect(c?.ratioMax).to.be.closeTo(2300 / 1000, 1e-9);
    expect(c?.diffMinMs).to.equal(1200);
    expect(c?.diffMaxMs).to.equal(1300);
    expect(compare("failed: x", stats([1]))).to.equal(undefined);
  });

  it("gives per size the ratio and the difference of catch-up and of RTO for each power-off kind", () => {
    const h = headline(report());
    expect(h.powerOff).to.equal("blackhole");
    expect(h.snapshotIntervalS).to.equal(300);
    const [s10, s100] = h.sizes;
    expect(s10.catchUp?.ratio).to.be.closeTo(2350 / 1100, 1e-9);
    expect(s10.rto.blackhole?.ratio).to.be.closeTo(12_000 / 5000, 1e-9);
    expect(s10.rto.blackhole?.diffMs).to.equal(7000);
    expect(s10.rto.kill?.ratio).to.be.closeTo(5000 / 4500, 1e-9);
    expect(s100.catchUp).to.equal(undefined);
    expect(s100.rto).to.deep.equal({});
    // less the first election (a random wait on either side): provider 11000, 11000; raw 6000, 6500
    const e = h.sizes[2].rtoLessFirstElection.blackhole;
    expect(e?.provider.median).to.equal(11_000);
    expect(e?.raw.median).to.equal(6250);
    expect(e?.diffMs).to.equal(4750);
    expect(s10.rtoLessFirstElection).to.deep.equal({});
  });

  it("checks every target on every size: pass, fail, or not measured", () => {
    const h = headline(report());
    const on = (id: string, size: string, kind?: PowerOffKind) => h.targets.find((t) => t.id === id && t.size === size && t.powerOff === kind);
    // provider - raw at every size; the ratios at about 1 GB only
    expect(on("catch-up-diff", "10.3 MB")?.pass).to.equal(false);
    expect(on("catch-up-diff", "10.3 MB")?.value?.median).to.be.closeTo(1.25, 1e-9);
    expect(on("catch-up", "10.3 MB")).to.equal(undefined);
    expect(on("rto-diff", "10.3 MB", "blackhole")?.pass).to.equal(false);
    expect(on("rto-diff", "10.3 MB", "kill")?.pass).to.equal(true);
    expect(on("rto", "10.3 MB", "blackhole")).to.equal(undefined);
    expect(on("catch-up", "1000.0 MB")?.pass).to.equal(true);
    expect(on("catch-up-diff", "1000.0 MB")?.pass).to.equal(false);
    expect(on("rto", "1000.0 MB", "blackhole")?.pass).to.equal(true);
    expect(on("rto-diff", "1000.0 MB", "blackhole")?.pass).to.equal(false);
    // one of two runs did not refuse while site A answered
    expect(on("guard", "1000.0 MB", "blackhole")?.pass).to.equal(false);
    expect(on("guard", "1000.0 MB", "blackhole")?.value).to.deep.equal({ median: 1, min: 1, max: 1, runs: 2 });
    expect(on("guard", "10.3 MB", "blackhole")?.pass).to.equal(undefined);
    // (4000 - 1500) / 12 resources = 208 ms > 200 ms
    const preview = h.targets.find((t) => t.id === "preview");
    expect(preview?.value?.median).to.be.closeTo(2.5 / 12, 1e-9);
    expect(preview?.pass).to.equal(false);
    expect(on("rpo", "10.3 MB", "blackhole")?.pass).to.equal(false);
    expect(on("rpo", "10.3 MB", "blackhole")?.value).to.deep.equal({ median: 0, min: 0, max: 2, runs: 3 });
    expect(on("rpo", "10.3 MB", "kill")?.pass).to.equal(true);
    // one heartbeat (500 ms) at 900 puts/s is 450 entries; one raw run was 600 behind at the cut
    expect(on("lag", "10.3 MB", "blackhole")?.limit).to.equal(450);
    expect(on("lag", "10.3 MB", "blackhole")?.pass).to.equal(false);
    expect(on("lag", "10.3 MB", "kill")?.pass).to.equal(true);
    expect(on("catch-up", "~100 MB")?.pass).to.equal(undefined);
    expect(h.passed + h.failed + h.notMeasured).to.equal(h.targets.length);
    // per size: catch-up-diff, and per kind rto-diff, guard, rpo, lag; at 1 GB the two ratios too; and the preview
    expect(h.targets).to.have.length(3 * (1 + 2 * 4) + 1 + 2 + 1);
  });

  it("says in the Markdown which power-off and snapshot interval were used, and each target's result", () => {
    const md = markdown(report());
    expect(md).to.include("`power-off A --blackhole`");
    expect(md).to.include("rolling snapshots every 300 s");
    expect(md).to.include("## Issue #13's targets");
    expect(md).to.match(/\| 10\.3 MB \| blackhole \| difference of the medians \| \+7\.00 s \(\+6\.00 s to \+8\.00 s, 3 runs\) \| <= 1 s \| \*\*FAIL\*\* \|/);
    expect(md).to.match(/\| 1000\.0 MB \| blackhole \| ratio of the medians \| 1\.17x \(1\.14x to 1\.20x, 2 runs\) \| <= 1\.2 \| PASS \|/);
    expect(md).to.include("| 10.3 MB | kill | ");
    // the phases of both procedures side by side, total last
    expect(md).to.include("| phase | EtcdStandaloneRestore | raw: the seed's commands |");
    expect(md).to.match(/\| restore \| 5\.05 s \(5\.00 s to 5\.10 s\) \| 4\.05 s \(4\.00 s to 4\.10 s\) \|\n\| stop \| - \|/);
    expect(md).to.include("refused in 1 of 2 runs");
    expect(md).to.include("| 1000.0 MB | blackhole | 1.25 s (1.00 s to 1.50 s) | 4.25 s (4.00 s to 4.50 s) | 11.00 s (11.00 s to 11.00 s) | 6.25 s (6.00 s to 6.50 s) | +4.75 s (+4.50 s to +5.00 s) |");
  });

  it("reads the per-host copy times sandbox.sh up logs", () => {
    const stderr = "[sandbox] making images\n[sandbox] master1: etcd data seeded from /x/master1 (123 bytes) in 1.50 s\n[sandbox] node1: etcd data seeded from /x/node1 (9 bytes) in 0.25 s\n";
    expect(seedTimesMs(stderr)).to.deep.equal([1500, 250]);
  });
});

const tr = (procedure: "provider" | "raw", ms: number, phaseMs: Record<string, number>, extra: Partial<TransitionRun> = {}): TransitionRun => ({ procedure, ms, phaseMs, ...extra });

function transitionReport(): Report {
  const r = report();
  r.drillWriter = { rate: 400, clients: 6 };
  r.sizes[0].transitions = {
    rebuild: {
      provider: [tr("provider", 60_000, { "master1: clean": 2000, "master1: preflight": 1000, "master1: add": 300, "master1: start+catch-up": 4000 }), tr("provider", 70_000, { "master1: clean": 3000 })],
      raw: [tr("raw", 20_000, { "master1: clean": 500, "master1: add": 100, "master1: start": 700, "master1: catch-up": 2000 }), tr("raw", 25_000, { "master1: clean": 600 })],
    },
    failback: "failed: pulumi up exited 255",
    drill: {
      provider: [tr("provider", 20_000, { restore: 1000, start: 3000, verify: 500 }, { rtoMs: 4500, learnerAbsentMs: 4000, learnerDownMs: 1500, writes: { acked: 8000, failed: 0 }, restored: { revision: 900, keys: 800 } })],
      raw: [tr("raw", 8000, { restore: 900, start: 2500, verify: 100 }, { rtoMs: 3500, learnerAbsentMs: 3000, learnerDownMs: 1200, writes: { acked: 3000, failed: 0 }, restored: { revision: 950, keys: 800 } })],
    },
  };
  return r;
}

describe("benchmark report: transitions (rebuild, fail back, drill)", () => {
  it("compares each transition's wall time per size in the headline; a failed one is left out", () => {
    const h = headline(transitionReport());
    expect(h.sizes[0].transitions.rebuild?.ratio).to.be.closeTo(65_000 / 22_500, 1e-9);
    expect(h.sizes[0].transitions.rebuild?.diffMinMs).to.equal(40_000);
    expect(h.sizes[0].transitions.rebuild?.diffMaxMs).to.equal(45_000);
    expect(h.sizes[0].transitions.drill?.diffMs).to.equal(12_000);
    expect(h.sizes[0].transitions.failback).to.equal(undefined);
    expect(h.sizes[1].transitions).to.deep.equal({});
  });

  it("lists the phases in the order they first ran, each side's median, absent on a side that has none", () => {
    const r = transitionReport();
    const runs = r.sizes[0].transitions;
    if (typeof runs !== "object" || typeof runs.rebuild !== "object") throw new Error("fixture");
    const t = phaseTable(runs.rebuild);
    expect(t.map((p) => p.phase)).to.deep.equal(["master1: clean", "master1: preflight", "master1: add", "master1: start", "master1: catch-up", "master1: start+catch-up"]);
    expect(t[0].provider?.median).to.equal(2500);
    expect(t[0].raw?.median).to.equal(550);
    expect(t[1].raw).to.equal(undefined);
    expect(t[3].provider).to.equal(undefined);
  });

  it("renders section 5 with wall time, drill RTO and learner absence, the phases, what the raw steps leave out, and a failure's text", () => {
    const md = markdown(transitionReport());
    expect(md).to.include("## 5. Transitions after a failover, and the drill");
    expect(md).to.match(/\| 10\.3 MB \| rebuild: wall time \| 65\.00 s \(60\.00 s to 70\.00 s\) \| 22\.50 s \(20\.00 s to 25\.00 s\) \| 2\.89x \| \+42\.50 s \(\+40\.00 s to \+45\.00 s\) \|/);
    expect(md).to.include("| 10.3 MB | fail back: wall time | failed: pulumi up exited 255 |");
    expect(md).to.match(/\| 10\.3 MB \| drill: RTO \(restore \+ start \+ verify\) \| 4\.50 s \(1 run\) \| 3\.50 s \(1 run\) \| 1\.29x \|/);
    expect(md).to.include("drill: learner absent (stop to caught up)");
    expect(md).to.include("| 10.3 MB | master1: start+catch-up | 4.00 s (1 run) | - |");
    expect(md).to.include("The raw steps leave out: every Kubernetes step");
    expect(md).to.include("8000 puts acknowledged and 0 failed on site A");
    expect(md).to.include("400 pods/s");
    // the headline table gains a column per measured transition
    expect(md).to.match(/\| db size \| learner catch-up \| failover RTO \(blackhole\) \| failover RTO \(kill\) \| rebuild \| drill \|/);
  });

  it("leaves section 5 out when no transition was measured", () => {
    expect(markdown(report())).to.not.include("## 5. Transitions");
  });
});

describe("bench transitions: the provider's phases from pulumi's engine events", () => {
  const urn = (type: string, name: string): string => `urn:pulumi:sandbox::etcd-standby::pulumi-nodejs:dynamic/etcdstandby:${type}::${name}`;
  const meta = (op: string, type: string, name: string): object => ({ metadata: { op, urn: urn(type, name), type: `pulumi-nodejs:dynamic/etcdstandby:${type}`, new: { custom: true } } });
  const line = (o: object): string => JSON.stringify({ sequence: 1, timestamp: 1, ...o });
  const diag = (message: string, severity = "info"): string => line({ diagnosticEvent: { message: `${message}\n\n`, color: "never", severity } });
  const lines: [number, string][] = [
    [0, line({ preludeEvent: { config: {} } })],
    [100, diag("Registering resource", "debug")],
    [1000, line({ resourcePreEvent: meta("create", "RkeContainerCleanup", "rebuild-clean-master1") })],
    [3000, line({ resOutputsEvent: meta("create", "RkeContainerCleanup", "rebuild-clean-master1") })],
    [3000, line({ resourcePreEvent: meta("create", "EtcdLearner", "rebuild-learner-master1") })],
    [3500, diag("[etcd-standby] EtcdLearner: member add --learner etcd-master1 https://10.250.0.101:2380 (run x)")],
    [3800, diag("[etcd-standby] EtcdLearner: starting etcd on 10.250.0.101 with --initial-cluster=a --initial-cluster-state=existing (run x)")],
    [9000, line({ resOutputsEvent: meta("create", "EtcdLearner", "rebuild-learner-master1") })],
    [9000, line({ resourcePreEvent: meta("create", "EtcdLearnerPromotion", "rebuild-promote-master1") })],
    [9500, line({ resOutputsEvent: meta("create", "EtcdLearnerPromotion", "rebuild-promote-master1") })],
    [9200, line({ resourcePreEvent: meta("update", "RkeContainerRepoint", "repoint-kube-apiserver-master3") })],
    [9700, line({ resOutputsEvent: meta("update", "RkeContainerRepoint", "repoint-kube-apiserver-master3") })],
    [9600, line({ resourcePreEvent: meta("update", "EtcdStandaloneRestore", "restore-master3") })],
    [9640, line({ resOutputsEvent: meta("update", "EtcdStandaloneRestore", "restore-master3") })],
    [9650, line({ resourcePreEvent: meta("delete", "SiteFence", "fence-node1") })],
    [9670, line({ resOutputsEvent: meta("delete", "SiteFence", "fence-node1") })],
    [9800, line({ resourcePreEvent: meta("same", "SiteFence", "fence-master1") })],
    [9800, line({ resOutputsEvent: meta("same", "SiteFence", "fence-master1") })],
  ];
  const events = (): EngineEvent[] => lines.map(([at, l]) => parseEngineEvent(l, at)).filter((e): e is EngineEvent => e !== undefined);

  it("keeps resource and non-debug diagnostic events, and drops the rest", () => {
    const e = events();
    expect(e.map((x) => x.kind)).to.deep.equal(["pre", "outputs", "pre", "diag", "diag", "outputs", "pre", "outputs", "pre", "outputs", "pre", "outputs", "pre", "outputs", "pre", "outputs"]);
    expect(e[0]).to.deep.include({ name: "rebuild-clean-master1", op: "create", custom: true });
    expect(parseEngineEvent("not json", 0)).to.equal(undefined);
  });

  it("times each changing step from its pre event to its outputs event, and what no step covered", () => {
    expect(stepsOf(events()).map((s) => `${s.name} ${s.end - s.start}`)).to.deep.equal(["rebuild-clean-master1 2000", "rebuild-learner-master1 6000", "rebuild-promote-master1 500", "repoint-kube-apiserver-master3 500", "restore-master3 40", "fence-node1 20"]);
    expect(covered([{ start: 0, end: 10 }, { start: 5, end: 20 }, { start: 30, end: 40 }])).to.equal(30);
  });

  it("names the rebuild's steps as the raw phases, splits EtcdLearner at member add and at the container's start, sums short other steps", () => {
    expect(providerPhases(events(), 12_000)).to.deep.equal({
      "master1: clean": 2000,
      "master1: preflight": 500,
      "master1: add": 300,
      "master1: start+catch-up": 5200,
      "master1: promote": 500,
      "repoint-kube-apiserver-master3 (RkeContainerRepoint update)": 500,
      [OTHER_STEPS]: 60,
      "outside any step (engine, program, state)": 12_000 - 8700,
    });
  });
});

describe("layout: scripts/ and support/ never import test code", () => {
  const root = path.resolve(__dirname, "..", "..", "..");
  const sources = (dir: string): string[] => fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []);
  for (const dir of ["scripts", "support"]) {
    it(`${dir}/`, () => {
      const offenders = sources(dir).filter((f) => /from\s+"(\.\.\/)+test\/|require\("(\.\.\/)+test\//.test(fs.readFileSync(path.join(root, f), "utf8")));
      expect(offenders).to.deep.equal([]);
    });
  }
});
