import { expect } from "chai";
import { validateRunSpec } from "../../provider/connection/docker";
import type { Props } from "../../provider/impl/common";
import { MANAGED_LABEL, MEMBER_LABEL } from "../../provider/impl/learnerConfig";
import { provider } from "../../provider/impl/standaloneRestore";
import { prefixRangeEnd } from "../../provider/connection/etcd";
import { ctlStatusOf, parseCtlCount, parseCtlStatus, parseJsonExact } from "../../provider/impl/restore/ctlJson";
import { combineProbeAttempts, decideGuard, guardWindowMs, looksGone, probeSchedule } from "../../provider/impl/restore/guardDecision";
import { restoreTool, versionProblem } from "../../provider/impl/restore/image";
import { firstFailure, guardFirst, settle, throwIfAborted } from "../../provider/impl/restore/overlap";
import type { AbortFlag } from "../../provider/impl/restore/overlap";
import { parseRecord, recordUnusable } from "../../provider/impl/restore/record";
import type { RestoreRecord } from "../../provider/impl/restore/record";
import { restoredEtcdCommand, restoredEtcdContainer } from "../../provider/impl/restore/restoredEtcd";
import { retimedSpec, timingOf } from "../../provider/impl/restore/retime";
import { defaultToken, pathConflicts, recordFile, restoreSettings, stagingDir, startTiming, TOKEN_LABEL } from "../../provider/impl/restore/settings";
import { restoreCommand, restoreToolContainer, toolFailureExcerpt } from "../../provider/impl/restore/snapshotRestore";
import { verifyRestore } from "../../provider/impl/restore/verify";
import { RESTORE_PHASES } from "../../provider/impl/restore/create";
import { PhaseFailure, runPhases, tableProblems, zeroTimings } from "../../provider/impl/restore/phases";
import type { Phase } from "../../provider/impl/restore/phases";
import { parseEtcdVersion } from "../../provider/lib/versions";
import { learnerRef, learnerResourceInputs, version } from "../support/unit";

const v = version;
const LEARNER = learnerRef("learner1");

function inputs(overrides: Props = {}): Props {
  return learnerResourceInputs(LEARNER, { image: "rancher/mirrored-coreos-etcd:v3.5.17", ...overrides });
}

describe("EtcdStandaloneRestore (pure parts)", () => {
  describe("settings", () => {
    it("applies the seed's defaults", () => {
      const s = restoreSettings(inputs());
      expect(s.newMemberName).to.equal("new-cluster");
      expect(s.containerName).to.equal("etcd");
      expect(s.restoreDataDir).to.equal("/var/lib/etcd-restored");
      expect(s.learner.containerName).to.equal("etcd-learner");
      expect(s.learner.dataDir).to.equal("/var/lib/etcd");
      expect(s.sourceDb).to.equal("/var/lib/etcd/member/snap/db");
      expect(s.learner.tls).to.deep.equal({
        caFile: "/etc/kubernetes/ssl/kube-ca.pem",
        certFile: "/etc/kubernetes/ssl/kube-etcd-10-250-0-103.pem",
        keyFile: "/etc/kubernetes/ssl/kube-etcd-10-250-0-103-key.pem",
      });
      expect([s.heartbeatMs, s.electionMs, s.force]).to.deep.equal([500, 5000, false]);
      expect(s.newClusterToken).to.equal(undefined);
      expect(s.oldVoterEndpoints).to.deep.equal(["https://10.250.0.101:2379", "https://10.250.0.102:2379", "https://10.250.0.104:2379"]);
      expect(stagingDir(s)).to.equal("/var/lib/etcd-restored.staging");
      expect(recordFile(s)).to.equal("/var/lib/etcd-restored.restore-record.json");
    });
    it("defaults the old voters to the cluster endpoints without the learner's own", () => {
      const s = restoreSettings(inputs({ cluster: { endpoints: ["https://10.250.0.101:2379", LEARNER.clientURL] } }));
      expect(s.oldVoterEndpoints).to.deep.equal(["https://10.250.0.101:2379"]);
    });
    it("makes the default token like the seed's cluster-restore1", () => {
      expect(defaultToken("20260101T120000Z")).to.equal("cluster-restore-20260101t120000z");
    });
  });

  describe("versions and the restore tool", () => {
    it("parses etcd --version output and tags", () => {
      expect(v("etcd Version: 3.5.17\nGit SHA: 507c0de\nGo Version: go1.22").text).to.equal("3.5.17");
      expect(v("v3.6.16").minor).to.equal(6);
      expect(v("3.4.23").patch).to.equal(23);
      expect(parseEtcdVersion("no version here")).to.equal(undefined);
    });
    it("uses etcdctl for 3.4 and 3.5, etcdutl from 3.6", () => {
      expect(restoreTool(v("3.4.23"))).to.equal("etcdctl");
      expect(restoreTool(v("3.5.17"))).to.equal("etcdctl");
      expect(restoreTool(v("3.6.0"))).to.equal("etcdutl");
      expect(restoreTool(v("3.7.1"))).to.equal("etcdutl");
      expect(restoreTool(v("4.0.0"))).to.equal("etcdutl");
    });
    it("allows the learner's minor version or the next one, never a downgrade", () => {
      expect(versionProblem(v("3.5.17"), v("3.5.4"))).to.equal(undefined);
      expect(versionProblem(v("3.5.17"), v("3.6.16"))).to.equal(undefined);
      expect(versionProblem(v("3.5.17"), v("3.4.23"))).to.match(/cannot downgrade/);
      expect(versionProblem(v("3.4.23"), v("3.6.16"))).to.match(/one minor version at a time/);
      expect(versionProblem(v("3.5.17"), v("4.0.0"))).to.match(/major/);
    });
  });

  describe("restore command lines per version", () => {
    const target = { db: "/var/lib/etcd/member/snap/db", dataDir: "/var/lib/etcd-restored.staging/data", name: "new-cluster", peerURL: "https://10.250.0.103:2380", token: "cluster-restore1" };
    const tail = [
      "snapshot",
      "restore",
      "/var/lib/etcd/member/snap/db",
      "--name=new-cluster",
      "--initial-cluster=new-cluster=https://10.250.0.103:2380",
      "--initial-cluster-token=cluster-restore1",
      "--initial-advertise-peer-urls=https://10.250.0.103:2380",
      "--data-dir=/var/lib/etcd-restored.staging/data",
      "--skip-hash-check=true",
    ];
    it("3.4: etcdctl with ETCDCTL_API=3", () => {
      expect(restoreCommand(v("3.4.23"), "/usr/local/bin", target)).to.deep.equal({ argv: ["/usr/local/bin/etcdctl", ...tail], env: { ETCDCTL_API: "3" } });
    });
    it("3.5: etcdctl (as the seed ran it)", () => {
      expect(restoreCommand(v("3.5.17"), "/usr/local/bin", target).argv).to.deep.equal(["/usr/local/bin/etcdctl", ...tail]);
    });
    it("3.6: etcdutl, no etcdctl environment", () => {
      expect(restoreCommand(v("3.6.16"), "/usr/local/bin", target)).to.deep.equal({ argv: ["/usr/local/bin/etcdutl", ...tail], env: {} });
    });
    it("runs in a container with the db's folder read-only and only the staging dir writable", () => {
      const s = restoreSettings(inputs());
      const spec = restoreToolContainer(s, v("3.5.17"), "tok");
      expect(spec.volumes).to.deep.equal([
        { host: "/var/lib/etcd/member/snap", container: "/var/lib/etcd/member/snap", ro: true },
        { host: "/var/lib/etcd-restored.staging", container: "/var/lib/etcd-restored.staging" },
      ]);
      expect(spec.command).to.include("--data-dir=/var/lib/etcd-restored.staging/data");
      expect(spec.image).to.equal("rancher/mirrored-coreos-etcd:v3.5.17");
      expect(validateRunSpec({ ...spec, network: "host" })).to.deep.equal([]);
      const drill = restoreToolContainer(restoreSettings(inputs({ sourceDb: "/var/lib/etcd-drill/db" })), v("3.6.16"), "tok");
      expect(drill.volumes[0]).to.deep.equal({ host: "/var/lib/etcd-drill", container: "/var/lib/etcd-drill", ro: true });
      expect(drill.command[0]).to.equal("/usr/local/bin/etcdutl");
      expect(drill.command[3]).to.equal("/var/lib/etcd-drill/db");
    });
  });

  describe("the restored etcd", () => {
    it("starts a one-member cluster with the seed's flags", () => {
      const s = restoreSettings(inputs());
      const cmd = restoredEtcdCommand(s, "cluster-restore1");
      expect(cmd).to.include.members([
        "--name=new-cluster",
        "--data-dir=/var/lib/etcd-restored",
        "--initial-cluster=new-cluster=https://10.250.0.103:2380",
        "--initial-cluster-state=new",
        "--initial-cluster-token=cluster-restore1",
        "--initial-advertise-peer-urls=https://10.250.0.103:2380",
        "--listen-client-urls=https://10.250.0.103:2379",
        "--client-cert-auth=true",
        "--peer-client-cert-auth=true",
        "--heartbeat-interval=500",
        "--election-timeout=5000",
        "--cert-file=/etc/kubernetes/ssl/kube-etcd-10-250-0-103.pem",
      ]);
      expect(cmd.filter((a) => a.startsWith("--force-new-cluster"))).to.deep.equal([]);
    });
    it("with fastFirstElection starts on 100/500 ms (a first election of 0.1 to 0.5 s), never longer than the cluster's timing", () => {
      const fast = restoredEtcdCommand(restoreSettings(inputs({ fastFirstElection: true })), "t");
      expect(fast).to.include.members(["--heartbeat-interval=100", "--election-timeout=500"]);
      expect(fast.filter((a) => /^--(heartbeat-interval|election-timeout)=/.test(a))).to.have.length(2);
      expect(startTiming(restoreSettings(inputs({ fastFirstElection: true, heartbeatMs: 50, electionMs: 300 })))).to.deep.equal({ heartbeatMs: 50, electionMs: 250 });
      expect(startTiming(restoreSettings(inputs({ fastFirstElection: true, heartbeatMs: 100, electionMs: 500 })))).to.deep.equal({ heartbeatMs: 100, electionMs: 500 });
      expect(startTiming(restoreSettings(inputs({ fastFirstElection: false })))).to.deep.equal({ heartbeatMs: 500, electionMs: 5000 });
    });
    it("reads a container's timing back, and sets the cluster's on its command line keeping every other flag", () => {
      const spec = restoredEtcdContainer(restoreSettings(inputs({ fastFirstElection: true })), "tok");
      expect(timingOf(spec)).to.deep.equal({ heartbeatMs: 100, electionMs: 500 });
      const back = retimedSpec(spec, { heartbeatMs: 500, electionMs: 5000 });
      expect(timingOf(back)).to.deep.equal({ heartbeatMs: 500, electionMs: 5000 });
      expect(back.command.filter((a) => !/^--(heartbeat-interval|election-timeout)=/.test(a))).to.deep.equal(spec.command.filter((a) => !/^--(heartbeat-interval|election-timeout)=/.test(a)));
      expect(back.command).to.deep.equal(restoredEtcdContainer(restoreSettings(inputs()), "tok").command);
      expect(timingOf({ command: ["etcd", "--heartbeat-interval", "250"] })).to.deep.equal({ heartbeatMs: 250, electionMs: undefined });
    });
    it("runs as RKE's `etcd`, restart always, host network, labelled as managed", () => {
      const spec = restoredEtcdContainer(restoreSettings(inputs()), "tok");
      expect(spec.name).to.equal("etcd");
      expect(spec.restart).to.equal("always");
      expect(spec.network).to.equal("host");
      expect(spec.labels).to.deep.equal({ [MANAGED_LABEL]: "EtcdStandaloneRestore", [MEMBER_LABEL]: "new-cluster", [TOKEN_LABEL]: "tok" });
      expect(spec.volumes).to.deep.equal([
        { host: "/var/lib/etcd-restored", container: "/var/lib/etcd-restored" },
        { host: "/etc/kubernetes/ssl", container: "/etc/kubernetes/ssl", ro: true },
      ]);
      expect(validateRunSpec(spec)).to.deep.equal([]);
    });
  });

  describe("where things go", () => {
    it("refuses paths that overlap the learner's data dir, and reusing its container name", () => {
      expect(pathConflicts(restoreSettings(inputs()))).to.deep.equal([]);
      expect(pathConflicts(restoreSettings(inputs({ restoreDataDir: "/var/lib/etcd/restored" })))[0]).to.match(/overlaps the learner's data dir/);
      expect(pathConflicts(restoreSettings(inputs({ restoreDataDir: "/var/lib" }))).length).to.be.greaterThan(0);
      expect(pathConflicts(restoreSettings(inputs({ restoreDataDir: "/var/lib/etcd" }))).length).to.be.greaterThan(0);
      expect(pathConflicts(restoreSettings(inputs({ containerName: "etcd-learner" })))[0]).to.match(/learner's container name/);
    });
  });

  describe("parsing etcdctl's JSON", () => {
    const status35 =
      '[{"Endpoint":"https://10.250.0.103:2379","Status":{"header":{"cluster_id":17448609010643035951,"member_id":15101859335780327642,"revision":3001,"raft_term":2},"version":"3.5.17","dbSize":16801792,"leader":3319814642761637952,"raftIndex":3107,"raftTerm":2,"raftAppliedIndex":3105,"dbSizeInUse":2351104,"isLearner":true}}]';
    it("keeps 64-bit IDs exact", () => {
      const raw = parseJsonExact<Array<{ Status: { header: { cluster_id: string } } }>>(status35);
      expect(raw[0].Status.header.cluster_id).to.equal("17448609010643035951");
      const st = parseCtlStatus(status35);
      expect(st.clusterId).to.equal(BigInt("17448609010643035951").toString(16));
      expect(st.memberId).to.equal(BigInt("15101859335780327642").toString(16).padStart(16, "0"));
      expect(st.leaderId).to.equal(BigInt("3319814642761637952").toString(16).padStart(16, "0"));
      expect([st.revision, st.raftIndex, st.raftAppliedIndex, st.raftTerm, st.isLearner, st.version]).to.deep.equal([3001, 3107, 3105, 2, true, "3.5.17"]);
    });
    it("reads omitted fields as their zero values (etcd omits false and 0)", () => {
      const st = parseCtlStatus('[{"Endpoint":"e","Status":{"header":{"cluster_id":1,"member_id":2},"version":"3.4.23","leader":0,"raftIndex":7,"raftTerm":2}}]');
      expect([st.isLearner, st.revision, st.leaderId, st.raftAppliedIndex]).to.deep.equal([false, 0, "0000000000000000", 7]);
      expect(() => parseCtlStatus("Error: context deadline exceeded")).to.throw();
    });
    it("counts keys from a limited get (count covers the whole range)", () => {
      expect(parseCtlCount('{"header":{"cluster_id":17448609010643035951,"member_id":15101859335780327642,"revision":3001,"raft_term":2},"kvs":[{"key":"L3I=","create_revision":5,"mod_revision":5,"version":1}],"more":true,"count":3000}')).to.deep.equal({
        revision: 3001,
        count: 3000,
        memberId: BigInt("15101859335780327642").toString(16),
      });
      expect(parseCtlCount('{"header":{"cluster_id":1,"member_id":2,"revision":1,"raft_term":2}}').count).to.equal(0);
    });
  });

  describe("a failed restore tool's output", () => {
    it("shows the panic and fatal lines, not the goroutine dump", () => {
      const out = [
        "Deprecated: Use `etcdutl snapshot restore` instead.",
        "panic: assertion failed: Page expected to be: 375, but self identifies as 0",
        "",
        "goroutine 1 [running]:",
        "go.etcd.io/bbolt._assert(...)",
        "\t/go/pkg/mod/go.etcd.io/bbolt@v1.3.11/db.go:1387",
        "fatal error: fault",
        "runtime/panic.go:1229 +0x48 fp=0x16396dcce700 sp=0x16396dcce6d0 pc=0x489028",
      ].join("\n");
      expect(toolFailureExcerpt(out)).to.equal("panic: assertion failed: Page expected to be: 375, but self identifies as 0\nfatal error: fault");
    });
    it("falls back to error-level log lines, then to the last lines", () => {
      expect(toolFailureExcerpt('{"level":"info","msg":"a"}\n{"level":"error","msg":"b"}\n{"level":"info","msg":"c"}')).to.equal('{"level":"error","msg":"b"}');
      expect(toolFailureExcerpt("one\ntwo\nthree", 2)).to.equal("two\nthree");
    });
  });

  describe("the split-brain guard", () => {
    const down = [{ endpoint: "https://10.250.0.101:2379", answered: false, error: "connection refused" }];
    const still = { before: { raftIndex: 10, raftTerm: 2 }, after: { raftIndex: 10, raftTerm: 2 }, windowMs: 1000 };
    it("goes ahead when every old voter is silent and the learner receives nothing", () => {
      expect(decideGuard(down, still, false)).to.deep.equal({ ok: true, risks: [] });
      expect(decideGuard(down, undefined, false).ok).to.equal(true);
    });
    it("refuses while a voter answers, naming a leader it sees (quorum)", () => {
      const d = decideGuard([...down, { endpoint: "https://10.250.0.102:2379", answered: true, leaderId: "00000000000000aa" }], still, false);
      expect(d.ok).to.equal(false);
      expect(d.risks.join("\n")).to.match(/10\.250\.0\.102:2379 still answer/);
      expect(d.risks.join("\n")).to.match(/still has quorum: leader 00000000000000aa/);
    });
    it("refuses a lone voter without a leader too", () => {
      const d = decideGuard([{ endpoint: "https://10.250.0.104:2379", answered: true, leaderId: "0000000000000000" }], undefined, false);
      expect(d.ok).to.equal(false);
      expect(d.risks).to.have.length(1);
    });
    it("refuses while the learner still receives entries", () => {
      const d = decideGuard(down, { ...still, after: { raftIndex: 12, raftTerm: 2 } }, false);
      expect(d.ok).to.equal(false);
      expect(d.risks[0]).to.match(/still receiving entries \(committed index 10 -> 12/);
    });
    it("does not take a voter for gone when something answers but the call fails (TLS, auth)", () => {
      const tls = "etcd status via https://10.250.0.101:2379 failed: 14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate in certificate chain.";
      const d = decideGuard([{ endpoint: "https://10.250.0.101:2379", answered: false, error: tls, reachable: !looksGone(tls) }], still, false);
      expect(d.ok).to.equal(false);
      expect(d.risks[0]).to.match(/reachable but their status calls failed/);
    });
    it("takes refused connections, no route and timeouts for gone, nothing else", () => {
      expect(looksGone("14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 10.250.0.101:2379.")).to.equal(true);
      expect(looksGone("connect EHOSTUNREACH 10.250.0.101:2379")).to.equal(true);
      expect(looksGone("4 DEADLINE_EXCEEDED: Deadline exceeded")).to.equal(true);
      expect(looksGone("anything", true)).to.equal(true);
      expect(looksGone("Client network socket disconnected before secure TLS connection was established")).to.equal(false);
      expect(looksGone("self-signed certificate in certificate chain")).to.equal(false);
      expect(looksGone("read ECONNRESET")).to.equal(false);
      expect(looksGone("something new")).to.equal(false);
    });
    it("with force, goes ahead with a warning that names the split-brain risk", () => {
      const d = decideGuard([{ endpoint: "https://10.250.0.101:2379", answered: true, leaderId: "00000000000000aa" }], still, true);
      expect(d.ok).to.equal(true);
      expect(d.warning).to.match(/^WARNING: force is set/);
      expect(d.warning).to.match(/split brain/);
    });
  });

  describe("overlapping phases (issue #13)", () => {
    const never = (): Promise<never> => new Promise<never>(() => undefined);
    it("the guard watches about two heartbeats (at least 1 s), and each probe's calls end with that window", () => {
      expect(guardWindowMs(500)).to.equal(1000);
      expect(guardWindowMs(100)).to.equal(1000);
      expect(guardWindowMs(800)).to.equal(1600);
      const sched = probeSchedule(1000);
      expect(sched).to.deep.equal([{ delayMs: 0, deadlineMs: 1000 }, { delayMs: 500, deadlineMs: 500 }]);
      for (const w of [1000, 1001, 1600]) for (const a of probeSchedule(w)) expect(a.delayMs + a.deadlineMs).to.equal(w);
    });
    it("a voter that answers either call answered; one whose calls all failed is gone only when nothing listens", () => {
      const gone = { answered: false as const, error: "etcd status via https://10.250.0.101:2379 failed: deadline exceeded", timedOut: true };
      const tls = { answered: false as const, error: "certificate signed by unknown authority", timedOut: false };
      expect(combineProbeAttempts("e", [gone, { answered: true, leaderId: "00000000000000aa" }])).to.deep.equal({ endpoint: "e", answered: true, leaderId: "00000000000000aa" });
      expect(combineProbeAttempts("e", [gone, gone])).to.include({ answered: false, reachable: false });
      // Any sign that something listens keeps it from being taken for gone, even when the other call timed out.
      expect(combineProbeAttempts("e", [gone, tls])).to.deep.equal({ endpoint: "e", answered: false, error: tls.error, reachable: true });
      expect(combineProbeAttempts("e", [])).to.include({ answered: false, reachable: false });
      // The guard then refuses a reachable voter, as before.
      expect(decideGuard([combineProbeAttempts("e", [gone, tls])], undefined, false).ok).to.equal(false);
      expect(decideGuard([combineProbeAttempts("e", [gone, gone])], undefined, false).ok).to.equal(true);
    });
    it("a refusal is thrown at once, without waiting for a record that never settles, and aborts it", async () => {
      const abort: AbortFlag = { aborted: false };
      const refusal = new Error("refusing to restore: site A may still be alive");
      const t0 = Date.now();
      const e = await guardFirst(Promise.reject(refusal), [never(), Promise.reject(new Error("record failed"))], abort).catch((x: unknown) => x);
      expect(e).to.equal(refusal);
      expect(abort.aborted).to.equal(true);
      expect(Date.now() - t0).to.be.lessThan(200);
      expect(() => throwIfAborted(abort, "recording the learner")).to.throw(/recording the learner stopped: the split-brain guard refused/);
    });
    it("work beside the guard that fails first does not pre-empt the verdict: a refusal is still the error, a pass returns", async () => {
      let failBeside: (e: Error) => void = () => undefined;
      const beside = new Promise<never>((_, reject) => (failBeside = reject));
      const abort: AbortFlag = { aborted: false };
      let verdict: (v: string[]) => void = () => undefined;
      const guard = new Promise<string[]>((resolve) => (verdict = resolve));
      const running = guardFirst(guard, [beside], abort);
      failBeside(new Error("the learner moved while it was recorded"));
      await new Promise((r) => setTimeout(r, 10));
      verdict(["forced"]);
      expect(await running).to.deep.equal(["forced"]);
      expect(abort.aborted).to.equal(false);
    });
    it("after a pass, failures are reported in the order the phases ran before they overlapped", async () => {
      const since = Date.now();
      const ok = await settle(Promise.resolve(1), since);
      const bad = await settle(Promise.reject(new Error("not a learner")), since);
      expect(ok).to.include({ ok: true, value: 1 });
      expect(ok.ms).to.be.at.least(0);
      expect(firstFailure([{ phase: "cleanup of an earlier attempt", result: ok }, { phase: "recording the learner", result: bad }])?.phase).to.equal("recording the learner");
      expect(firstFailure([{ phase: "cleanup of an earlier attempt", result: bad }, { phase: "recording the learner", result: bad }])?.phase).to.equal("cleanup of an earlier attempt");
      expect(firstFailure([{ phase: "a", result: ok }])).to.equal(undefined);
    });
    it("reads a client's status answer as etcdctl's (revision and cluster ID from its header)", () => {
      const st = ctlStatusOf({ endpoint: "https://10.250.0.103:2379", memberId: "00000000000000bb", leaderId: "0000000000000000", raftIndex: 10, raftAppliedIndex: undefined, raftTerm: 3, dbSize: 4096, version: "3.5.17", isLearner: true, errors: [], revision: 7, clusterId: "00000000000000cc" });
      expect(st).to.deep.equal({ endpoint: "https://10.250.0.103:2379", clusterId: "00000000000000cc", memberId: "00000000000000bb", leaderId: "0000000000000000", revision: 7, raftIndex: 10, raftAppliedIndex: 10, raftTerm: 3, version: "3.5.17", isLearner: true, dbSize: 4096, errors: [] });
    });
    it("counts a prefix over etcd's own range end (clientv3.GetPrefixRangeEnd)", () => {
      expect(prefixRangeEnd(Buffer.from("/etcd-standby/lock/")).toString()).to.equal("/etcd-standby/lock0");
      expect([...prefixRangeEnd(Buffer.from([0x61, 0xff]))]).to.deep.equal([0x62]);
      expect([...prefixRangeEnd(Buffer.from([0xff, 0xff]))]).to.deep.equal([0]);
    });
  });

  describe("verification arithmetic", () => {
    const good = { healthy: true, writable: true, memberNames: ["new-cluster"], restoredRevision: 3001, keysAfter: 3000 };
    const rec = { learnerRevision: 3001, keysBefore: 3000 };
    it("passes with the learner's revision and keys, data loss window 0", () => {
      expect(verifyRestore(rec, good, "new-cluster")).to.deep.equal({ ok: true, problems: [], dataLossWindow: 0 });
      expect(verifyRestore(rec, { ...good, restoredRevision: 3005 }, "new-cluster").dataLossWindow).to.equal(0);
    });
    it("fails a restore behind the learner and reports the window", () => {
      const r = verifyRestore(rec, { ...good, restoredRevision: 2990 }, "new-cluster");
      expect(r.ok).to.equal(false);
      expect(r.dataLossWindow).to.equal(11);
      expect(r.problems[0]).to.match(/2990 is behind the learner's 3001: 11 revisions/);
    });
    it("fails on missing or extra keys, naming how many", () => {
      expect(verifyRestore(rec, { ...good, keysAfter: 2500 }, "new-cluster").problems[0]).to.match(/2500 keys, the learner held 3000 \(500 missing\)/);
      expect(verifyRestore(rec, { ...good, keysAfter: 3002 }, "new-cluster").problems[0]).to.match(/2 extra/);
    });
    it("fails when unhealthy, not writable or not exactly one member of the new name", () => {
      expect(verifyRestore(rec, { ...good, healthy: false }, "new-cluster").ok).to.equal(false);
      expect(verifyRestore(rec, { ...good, writable: false }, "new-cluster").problems[0]).to.match(/probe write/);
      expect(verifyRestore(rec, { ...good, memberNames: ["new-cluster", "learner1"] }, "new-cluster").problems[0]).to.match(/exactly one member/);
      expect(verifyRestore(rec, good, "other").ok).to.equal(false);
    });
  });

  describe("the record kept between attempts", () => {
    const rec: RestoreRecord = {
      version: 1, learnerContainerId: "abc123", learnerMemberId: "0000000000000001", learnerVersion: "3.5.17", learnerRevision: 10, learnerAppliedIndex: 20,
      learnerCommittedIndex: 20, keysBefore: 5, recordedAt: "t", stoppedAt: "t2", dbSize: 4096, dbMtime: 100, newClusterToken: "tok", newMemberName: "new-cluster", verified: false,
    };
    it("round-trips and rejects anything else", () => {
      expect(parseRecord(JSON.stringify(rec))).to.deep.equal(rec);
      expect(parseRecord(null)).to.equal(undefined);
      expect(parseRecord("{}")).to.equal(undefined);
      expect(parseRecord("not json")).to.equal(undefined);
    });
    it("is reused only for the same, stopped learner with an unchanged db", () => {
      expect(recordUnusable(rec, "abc123", { size: 4096, mtime: 100 })).to.equal(undefined);
      expect(recordUnusable(undefined, "abc123", { size: 4096, mtime: 100 })).to.match(/no record/);
      expect(recordUnusable(rec, "other", { size: 4096, mtime: 100 })).to.match(/describes container/);
      expect(recordUnusable({ ...rec, stoppedAt: undefined }, "abc123", { size: 4096, mtime: 100 })).to.match(/not stopped/);
      expect(recordUnusable(rec, "abc123", { size: 8192, mtime: 100 })).to.match(/changed since it was stopped/);
      expect(recordUnusable(rec, "abc123", null)).to.match(/gone/);
    });
  });

  describe("check and diff", () => {
    it("accepts the seed's inputs", async () => {
      expect((await provider.check({}, inputs())).failures ?? []).to.deep.equal([]);
    });
    it("reports every problem at once", async () => {
      const r = await provider.check({}, inputs({
        learner: { ...LEARNER, peerURL: "https://10.250.0.101:2380", containerName: "x; rm -rf /" },
        restoreDataDir: "/var/lib/etcd/sub",
        newClusterToken: "a b",
        extraFlags: ["--initial-cluster-state=existing"],
        oldVoterEndpoints: [],
      }));
      const props = (r.failures ?? []).map((f) => f.property);
      expect(props).to.include.members(["learner.peerURL", "learner.containerName", "newClusterToken", "extraFlags"]);
    });
    it("checks paths and the guard's endpoints once the fields are valid", async () => {
      const r = await provider.check({}, inputs({ restoreDataDir: "/var/lib/etcd/sub", oldVoterEndpoints: [] }));
      expect((r.failures ?? []).map((f) => f.reason).join("\n")).to.match(/overlaps the learner's data dir[\s\S]*oldVoterEndpoints must list site A's voters/);
      const forced = await provider.check({}, inputs({ oldVoterEndpoints: [], force: true }));
      expect(forced.failures ?? []).to.deep.equal([]);
    });
    it("a failed-back restore is never declared as it was again: unsetting failedBack is refused, setting it is recorded", async () => {
      const back = inputs({ failedBack: true });
      const refused = await provider.check(back, inputs());
      const reasons = (refused.failures ?? []).map((f) => `${f.property}: ${f.reason}`).join("\n");
      expect(reasons).to.match(/^failedBack: this restore was failed back/m).and.match(/set topology\.mode to learner-standby/).and.match(/nothing was changed/);
      expect((await provider.check(back, back)).failures ?? []).to.deep.equal([]);
      expect((await provider.check({}, back)).failures ?? []).to.deep.equal([]);
      expect((await provider.check(inputs(), back)).failures ?? []).to.deep.equal([]);
      expect((await provider.check({}, inputs({ failedBack: "yes" }))).failures?.map((f) => f.reason)).to.include("failedBack must be true or false");
      expect(await provider.diff("x", inputs(), back)).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    });
    it("replaces on learner or host changes, records the rest", async () => {
      const olds = inputs();
      const moved = await provider.diff("x", olds, inputs({ learner: { ...LEARNER, peerURL: "https://10.250.0.105:2380" } }));
      expect(moved.replaces).to.deep.equal(["learner.peerURL"]);
      const other = await provider.diff("x", olds, inputs({ host: { ...(olds.host as Props), host: "10.250.0.105" } }));
      expect(other.replaces).to.deep.equal(["host"]);
      const image = await provider.diff("x", olds, inputs({ image: "rancher/mirrored-coreos-etcd:v3.6.16" }));
      expect(image).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
      const same = await provider.diff("x", { ...olds, newClusterId: "abc", keysAfter: 3 }, inputs());
      expect(same.changes).to.equal(false);
    });
    it("does not see the token made at create as a change when none is given", async () => {
      const created = { ...inputs(), newClusterToken: "cluster-restore-20260101t120000z" };
      expect((await provider.diff("x", created, inputs())).changes).to.equal(false);
      expect((await provider.diff("x", created, inputs({ newClusterToken: "other" }))).replaces).to.deep.equal([]);
      const updated = await provider.update("x", created, inputs());
      expect(updated.outs.newClusterToken).to.equal("cluster-restore-20260101t120000z");
    });
    it("an update records the inputs as given: one no longer given is not kept, the outputs and the token made at create are", async () => {
      const created = { ...inputs({ force: true, sourceDb: "/backup/db" }), newClusterToken: "cluster-restore-20260101t120000z", newClusterId: "abc", keysAfter: 3 };
      expect(await provider.diff("x", created, inputs())).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
      const { outs } = await provider.update("x", created, inputs());
      expect(outs).to.not.have.any.keys("force", "sourceDb");
      expect(outs).to.include({ newClusterToken: "cluster-restore-20260101t120000z", newClusterId: "abc", keysAfter: 3 });
      expect((await provider.diff("x", outs, inputs())).changes).to.equal(false);
    });
    it("a change of the learner's TLS files or of the host's other settings is recorded; several learner fields are named each", async () => {
      const olds = inputs();
      expect(await provider.diff("x", olds, inputs({ learner: { ...LEARNER, tls: { caFile: "/ca.pem" } } }))).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
      expect(await provider.diff("x", olds, inputs({ host: { ...(olds.host as Props), user: "admin" } }))).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
      const both = await provider.diff("x", olds, inputs({ host: { ...(olds.host as Props), host: "10.250.0.105" }, learner: { ...LEARNER, containerName: "l2", dataDir: "/d" } }));
      expect(both).to.deep.equal({ changes: true, replaces: ["host", "learner.containerName", "learner.dataDir"], deleteBeforeReplace: true });
    });
  });

  describe("the create's phase table", () => {
    it("reads in the order the phases start, each awaited after what it waits on", () => {
      expect(tableProblems(RESTORE_PHASES)).to.deep.equal([]);
      expect(RESTORE_PHASES.map((p) => p.id)).to.deep.equal(["guard", "preflight", "record", "version", "image", "cleanup", "saveRecord", "prepare", "stop", "restore", "verify"]);
      // Every phaseMs key but start (the restore's last step, from the host's clock), serving and total (the create's own) is a phase's.
      expect([...new Set(RESTORE_PHASES.flatMap((p) => (p.timedAs ? [p.timedAs] : [])))].sort()).to.deep.equal(["cleanup", "guard", "image", "record", "restore", "stop", "verify"]);
      const byId = Object.fromEntries(RESTORE_PHASES.map((p) => [p.id, p]));
      // Nothing that changes the host starts before the guard's verdict.
      const waitsOnGuard = (id: string): boolean => id === "guard" || byId[id].after.some(waitsOnGuard);
      for (const id of ["cleanup", "saveRecord", "prepare", "stop", "restore"]) expect(waitsOnGuard(id), id).to.equal(true);
      for (const id of ["preflight", "record", "version", "image"]) expect(waitsOnGuard(id), id).to.equal(false);
      // Nor before the image's version was read (an image that is not on the host is refused before any change).
      const waitsOnImage = (id: string): boolean => id === "image" || byId[id].after.some(waitsOnImage);
      for (const id of ["cleanup", "saveRecord", "prepare", "stop", "restore"]) expect(waitsOnImage(id), id).to.equal(true);
      // Failures are reported in the order the phases ran before they overlapped.
      const steps = [...new Set(RESTORE_PHASES.map((p) => p.awaited))].sort((a, b) => a - b).map((n) => RESTORE_PHASES.filter((p) => p.awaited === n).map((p) => p.name).join(" + "));
      expect(steps).to.deep.equal([
        "the preflight",
        "the split-brain guard",
        "recording the learner",
        "checking the image",
        "checking the image",
        "cleanup of an earlier attempt",
        "stopping the learner",
        "stopping the learner",
        "the restore",
        "the restore",
        "verification",
      ]);
    });

    type Id = "a" | "b" | "c" | "d" | "e";
    const row = (id: Id, after: Id[], awaited: number, run: (log: string[]) => Promise<void>): Phase<string[], Id> => ({ id, name: `phase ${id}`, timedAs: "guard", after, awaited, run });
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    it("starts a phase once what it waits on has succeeded, not when it is awaited", async () => {
      const log: string[] = [];
      let releaseA: () => void = () => undefined;
      const table = [
        row("a", [], 1, async (l) => {
          l.push("a starts");
          await new Promise<void>((resolve) => (releaseA = resolve));
        }),
        row("b", [], 0, async (l) => void l.push("b runs")),
        row("c", ["b"], 2, async (l) => void l.push("c runs")),
      ];
      const run = runPhases(table, log, zeroTimings());
      await tick();
      expect(log).to.deep.equal(["a starts", "b runs", "c runs"]);
      releaseA();
      expect(await run.done).to.equal(false);
    });

    it("reports failures by step, whatever ends first; one step's phases settle together; nothing starts once a failure is reported", async () => {
      const log: string[] = [];
      const table = [
        row("a", [], 2, async () => {
          throw new Error("a failed first");
        }),
        row("b", [], 1, async (l) => {
          await tick();
          l.push("b settled");
          throw new Error("b failed later");
        }),
        row("c", [], 1, async (l) => {
          await tick();
          await tick();
          l.push("c settled");
        }),
        row("d", [], 3, async (l) => {
          for (let i = 0; i < 5; i++) await tick();
          l.push("d settled");
        }),
        row("e", ["d"], 4, async (l) => void l.push("e runs")),
      ];
      const err = await runPhases(table, log, zeroTimings()).done.then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(PhaseFailure);
      expect((err as PhaseFailure).phase.name).to.equal("phase b");
      expect((err as PhaseFailure).error).to.have.property("message", "b failed later");
      expect(log).to.deep.equal(["b settled", "c settled"]);
      for (let i = 0; i < 10; i++) await tick();
      expect(log).to.deep.equal(["b settled", "c settled", "d settled"]);
    });

    it("refuses a table that awaits a phase before what it waits on", () => {
      const noop = async (): Promise<void> => undefined;
      expect(tableProblems([row("a", [], 2, noop), row("b", ["a"], 1, noop)])).to.deep.equal(["b (step 1) waits on a, awaited at step 2"]);
      expect(() => runPhases([row("a", ["b"], 1, noop)], [], zeroTimings())).to.throw(/b, which is not in the table/);
    });
  });
});
