/** The benchmark report's headline: provider against raw per size, and issue #13's targets checked. */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { seedTimesMs } from "../../scripts/bench/data";
import { compare, headline, markdown } from "../../scripts/bench/report";
import type { FailoverRun, PowerOffKind, Report } from "../../scripts/bench/report";
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
    }, { targetMB: 100 }],
    preview: { resources: 3 },
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
  });

  it("checks every target on every size: pass, fail, or not measured", () => {
    const h = headline(report());
    const on = (id: string, size: string, kind?: PowerOffKind) => h.targets.find((t) => t.id === id && t.size === size && t.powerOff === kind);
    expect(on("catch-up", "10.3 MB")?.pass).to.equal(false);
    expect(on("rto", "10.3 MB", "blackhole")?.pass).to.equal(false);
    expect(on("rto", "10.3 MB", "kill")?.pass).to.equal(true);
    expect(on("rpo", "10.3 MB", "blackhole")?.pass).to.equal(false);
    expect(on("rpo", "10.3 MB", "blackhole")?.value).to.deep.equal({ median: 0, min: 0, max: 2, runs: 3 });
    expect(on("rpo", "10.3 MB", "kill")?.pass).to.equal(true);
    // one heartbeat (500 ms) at 900 puts/s is 450 entries; one raw run was 600 behind at the cut
    expect(on("lag", "10.3 MB", "blackhole")?.limit).to.equal(450);
    expect(on("lag", "10.3 MB", "blackhole")?.pass).to.equal(false);
    expect(on("lag", "10.3 MB", "kill")?.pass).to.equal(true);
    expect(on("catch-up", "~100 MB")?.pass).to.equal(undefined);
    expect(h.passed + h.failed + h.notMeasured).to.equal(h.targets.length);
    expect(h.targets).to.have.length(2 * (1 + 2 * 3));
  });

  it("says in the Markdown which power-off and snapshot interval were used, and each target's result", () => {
    const md = markdown(report());
    expect(md).to.include("`power-off A --blackhole`");
    expect(md).to.include("rolling snapshots every 300 s");
    expect(md).to.include("## Issue #13's targets");
    expect(md).to.match(/\| 10\.3 MB \| blackhole \| ratio of the medians \| 2\.40x \(2\.17x to 3\.00x, 3 runs\) \| <= 1\.2 \| \*\*FAIL\*\* \|/);
    expect(md).to.include("| 10.3 MB | kill | ");
  });

  it("reads the per-host copy times sandbox.sh up logs", () => {
    const stderr = "[sandbox] making images\n[sandbox] master1: etcd data seeded from /x/master1 (123 bytes) in 1.50 s\n[sandbox] node1: etcd data seeded from /x/node1 (9 bytes) in 0.25 s\n";
    expect(seedTimesMs(stderr)).to.deep.equal([1500, 250]);
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
