/**
 * The restore's revision bump (issue 23), pure parts: which tools have the
 * flags, the command lines of the failover's and the drill's restore, what
 * the tool's log says, where verification counts, and the offline record's
 * parsers. The bump itself runs on the real sandbox (revision.test).
 */
import { expect } from "chai";
import type { Props } from "../../provider/impl/common";
import { parseRestartLog, parseSnapshotStatus } from "../../provider/impl/restore/offline";
import { restoreSettings } from "../../provider/impl/restore/settings";
import { bumpFor, restoreCommand, restoreToolContainer } from "../../provider/impl/restore/snapshotRestore";
import { restoredAt } from "../../provider/impl/restore/verify";
import { comparedAt, drillRestoreContainer, drillSettings } from "../../provider/impl/restoreDrillScratch";
import { bumpFlags, bumpSupported, DEFAULT_REVISION_BUMP, noBumpWarning, parseBumpLog, validateRevisionBump } from "../../provider/lib/revisionBump";
import { taggedEtcdVersion } from "../../provider/lib/versions";
import { learnerRef, learnerResourceInputs, version as v } from "../support/unit";

const LEARNER = learnerRef("learner1");

function inputs(overrides: Props = {}): Props {
  return learnerResourceInputs(LEARNER, { image: "rancher/mirrored-coreos-etcd:v3.5.17", ...overrides });
}

describe("revision bump", () => {
  it("is in the restore tools of etcd 3.4.27+, 3.5.10+ and 3.6, not before", () => {
    for (const yes of ["3.4.27", "3.4.37", "3.5.10", "3.5.17", "3.5.26", "3.6.0", "3.6.16", "3.7.0", "4.0.0"]) expect(bumpSupported(v(yes)), yes).to.equal(true);
    for (const no of ["3.3.27", "3.4.23", "3.4.26", "3.5.0", "3.5.9", "2.3.8"]) expect(bumpSupported(v(no)), no).to.equal(false);
  });

  it("adds --bump-revision and --mark-compacted together, or neither", () => {
    expect(bumpFlags(DEFAULT_REVISION_BUMP)).to.deep.equal(["--bump-revision=1000000000", "--mark-compacted"]);
    expect(bumpFlags(0)).to.deep.equal([]);
    const target = { db: "/var/lib/etcd/member/snap/db", dataDir: "/d", name: "new-cluster", peerURL: "https://10.250.0.103:2380", token: "t" };
    const argv = restoreCommand(v("3.5.17"), "/usr/local/bin", { ...target, bump: 7 }).argv;
    expect(argv.slice(-3)).to.deep.equal(["--skip-hash-check=true", "--bump-revision=7", "--mark-compacted"]);
    expect(restoreCommand(v("3.5.17"), "/usr/local/bin", target).argv).to.not.include("--mark-compacted");
  });

  it("the failover's restore asks for the default bump where the tool has it, and none where it does not", () => {
    expect(restoreToolContainer(restoreSettings(inputs()), v("3.5.17"), "tok").command).to.include.members(["--bump-revision=1000000000", "--mark-compacted"]);
    expect(restoreToolContainer(restoreSettings(inputs()), v("3.6.16"), "tok").command).to.include("--bump-revision=1000000000");
    const old = restoreToolContainer(restoreSettings(inputs()), v("3.4.23"), "tok").command;
    expect(old.some((a) => a.startsWith("--bump-revision") || a === "--mark-compacted")).to.equal(false);
    const off = restoreToolContainer(restoreSettings(inputs({ revisionBump: 0 })), v("3.5.17"), "tok").command;
    expect(off.some((a) => a.startsWith("--bump-revision") || a === "--mark-compacted")).to.equal(false);
    expect(restoreToolContainer(restoreSettings(inputs({ revisionBump: 5000 })), v("3.5.17"), "tok").command).to.include("--bump-revision=5000");
    expect(bumpFor(v("3.5.9"), 10)).to.equal(0);
    expect(bumpFor(v("3.5.10"), 10)).to.equal(10);
  });

  it("the drill's restore uses the same flags", () => {
    const s = drillSettings(inputs());
    expect(s.revisionBump).to.equal(DEFAULT_REVISION_BUMP);
    expect(drillRestoreContainer(s, v("3.5.17"), "/var/lib/etcd-standby-drill/drill-x", "tok", bumpFor(v("3.5.17"), s.revisionBump)).command).to.include.members(["--bump-revision=1000000000", "--mark-compacted"]);
    expect(drillRestoreContainer(s, v("3.4.23"), "/var/lib/etcd-standby-drill/drill-x", "tok", bumpFor(v("3.4.23"), s.revisionBump)).command).to.not.include("--mark-compacted");
  });

  it("a bump is a whole number from 0 to 1e15", () => {
    for (const ok of [undefined, 0, 1, DEFAULT_REVISION_BUMP, 1e15]) expect(validateRevisionBump(ok), String(ok)).to.deep.equal([]);
    for (const bad of [-1, 1.5, 1e16, "1000", null, true]) expect(validateRevisionBump(bad), String(bad)).to.have.length(1);
    expect(validateRevisionBump(-1)[0]).to.match(/revisionBump must be a whole number from 0/);
  });

  it("reads the tool's own account of the bump (console and JSON logs), and only a consistent one", () => {
    const console = [
      "2026-12-07T20:30:00Z\tINFO\tsnapshot/v3_snapshot.go:303\trestoring snapshot\t{\"path\": \"/var/lib/etcd/member/snap/db\"}",
      "2026-12-07T20:30:00Z\tINFO\tsnapshot/v3_snapshot.go:357\tbumping latest revision\t{\"latest-revision\": 244, \"bump-amount\": 1000000000, \"new-latest-revision\": 1000000244}",
      "2026-12-07T20:30:00Z\tINFO\tsnapshot/v3_snapshot.go:372\tmarking revision compacted\t{\"revision\": 1000000244}",
    ].join("\n");
    expect(parseBumpLog(console)).to.deep.equal({ latest: 244, amount: 1_000_000_000, bumped: 1_000_000_244 });
    const json = '{"level":"info","msg":"bumping latest revision","latest-revision":17,"bump-amount":5,"new-latest-revision":22}';
    expect(parseBumpLog(json)).to.deep.equal({ latest: 17, amount: 5, bumped: 22 });
    expect(parseBumpLog('{"msg":"bumping latest revision","latest-revision":17,"bump-amount":5,"new-latest-revision":23}')).to.equal(undefined);
    expect(parseBumpLog("restored snapshot")).to.equal(undefined);
  });

  it("verification counts the restored keyspace at its own revision, and compares the revision before the bump", () => {
    expect(restoredAt({ learnerRevision: 244 }, { asked: 0, seen: undefined })).to.deep.equal({ countAt: 244, restoredRevision: undefined });
    expect(restoredAt({ learnerRevision: 244 }, { asked: 1000, seen: { latest: 244, amount: 1000, bumped: 1244 } })).to.deep.equal({ countAt: 1244, restoredRevision: 244 });
    // The tool said nothing: a db at the learner's revision lands at learner + bump.
    expect(restoredAt({ learnerRevision: 244 }, { asked: 1000, seen: undefined })).to.deep.equal({ countAt: 1244, restoredRevision: undefined });
  });

  it("the drill compares the copy at the bumped revision with the learner at the copy's own revision", () => {
    expect(comparedAt({ revision: 100 }, undefined)).to.deep.equal({ scratchAt: 100, learnerAt: undefined });
    expect(comparedAt({ revision: 100 }, { latest: 104, bumped: 1_000_000_104 })).to.deep.equal({ scratchAt: 1_000_000_104, learnerAt: 104 });
  });

  it("says what restoring without the bump means and which versions have it", () => {
    const w = noBumpWarning("rancher/mirrored-coreos-etcd:v3.4.23", v("3.4.23"));
    expect(w).to.match(/^WARNING: rancher\/mirrored-coreos-etcd:v3\.4\.23 runs etcd 3\.4\.23/);
    expect(w).to.include("3.4.27, 3.5.10 or 3.6");
    expect(w).to.match(/Restart every Kubernetes client/);
  });

  it("tells an image's etcd version from its tag, when the tag is one", () => {
    expect(taggedEtcdVersion("rancher/mirrored-coreos-etcd:v3.5.9")?.text).to.equal("3.5.9");
    expect(taggedEtcdVersion("registry.local:5000/etcd:3.4.23-0")?.text).to.equal("3.4.23");
    expect(taggedEtcdVersion("registry.local:5000/etcd")).to.equal(undefined);
    expect(taggedEtcdVersion("etcd:latest")).to.equal(undefined);
    expect(taggedEtcdVersion("etcd@sha256:0123")).to.equal(undefined);
  });
});

describe("offline record of a learner that does not answer", () => {
  it("reads its member ID and commit index from the last restart in its log", () => {
    const log = [
      '{"level":"info","msg":"restarting local member","cluster-id":"cdf818194e3a8c32","local-member-id":"8e9e05c52164694d","commit-index":120}',
      '{"level":"info","msg":"something else","commit-index":999}',
      '{"level":"info","msg":"restarting local member","cluster-id":"cdf818194e3a8c32","local-member-id":"8e9e05c52164694d","commit-index":345}',
    ].join("\n");
    expect(parseRestartLog(log)).to.deep.equal({ memberId: "8e9e05c52164694d", commitIndex: 345 });
    expect(parseRestartLog("no restart here")).to.deep.equal({});
  });

  it("reads the db's revision from snapshot status -w json, past a deprecation line", () => {
    const out = 'Deprecated: Use `etcdutl snapshot status` instead.\n\n{"hash":3892711616,"revision":4711,"totalKey":5000,"totalSize":2101248}\n';
    expect(parseSnapshotStatus(out)).to.deep.equal({ revision: 4711, totalKey: 5000, totalSize: 2101248 });
    expect(() => parseSnapshotStatus("Error: snapshot file not found")).to.throw(/no JSON/);
    expect(() => parseSnapshotStatus('{"hash":1,"revision":0}')).to.throw(/no revision/);
  });
});
