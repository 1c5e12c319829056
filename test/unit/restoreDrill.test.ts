import { expect } from "chai";
import { validateRunSpec } from "../../provider/connection/docker";
import type { Props } from "../../provider/impl/common";
import { MANAGED_LABEL, MEMBER_LABEL } from "../../provider/impl/learnerConfig";
import { provider } from "../../provider/impl/restoreDrill";
import {
  busyPorts,
  DRILL_MANAGED_VALUE,
  DRILL_TOOL_VALUE,
  drillConflicts,
  drillEtcdCommand,
  drillEtcdContainer,
  drillRestoreContainer,
  drillSettings,
  drillToken,
  drillUrls,
  inheritedFlags,
  isRunDir,
  learnerLag,
  parseDfAvailable,
  parseListeningPorts,
  phaseLine,
  rtoMs,
  runDirOf,
  scratchPaths,
  spaceNeeded,
  SPACE_SLACK_BYTES,
  verifyDrill,
  zeroPhases,
} from "../../provider/impl/restoreDrillScratch";
import type { DrillObservation } from "../../provider/impl/restoreDrillScratch";
import { learnerRef, learnerResourceInputs, version } from "../support/unit";

const v = version;
const LEARNER = learnerRef("learner-master3");

function inputs(overrides: Props = {}): Props {
  return learnerResourceInputs(LEARNER, { trigger: "2026-04-01", ...overrides });
}

describe("EtcdRestoreDrill (pure parts)", () => {
  describe("settings", () => {
    it("applies the defaults: the learner as EtcdStandaloneRestore sees it, a scratch cluster on 127.0.0.1:12379/12380", () => {
      const s = drillSettings(inputs());
      expect(s.learner).to.deep.equal({
        ...LEARNER,
        containerName: "etcd-learner",
        dataDir: "/var/lib/etcd",
        tls: { caFile: "/etc/kubernetes/ssl/kube-ca.pem", certFile: "/etc/kubernetes/ssl/kube-etcd-10-250-0-103.pem", keyFile: "/etc/kubernetes/ssl/kube-etcd-10-250-0-103-key.pem" },
      });
      expect(s.image).to.equal(undefined);
      expect([s.containerName, s.memberName, s.listenAddress, s.clientPort, s.peerPort]).to.deep.equal(["etcd-standby-drill", "etcd-standby-drill", "127.0.0.1", 12379, 12380]);
      expect([s.scratchDir, s.heartbeatMs, s.electionMs, s.catchUpThreshold, s.timeoutMs, s.trigger]).to.deep.equal(["/var/lib/etcd-standby-drill", 500, 5000, 100, 300_000, "2026-04-01"]);
      expect(drillUrls(s)).to.deep.equal({ clientURL: "https://127.0.0.1:12379", peerURL: "https://127.0.0.1:12380" });
      expect(drillConflicts(s)).to.deep.equal([]);
    });
    it("brackets an IPv6 listen address in URLs", () => {
      expect(drillUrls(drillSettings(inputs({ listenAddress: "::1", clientPort: 22379 })))).to.deep.equal({ clientURL: "https://[::1]:22379", peerURL: "https://[::1]:12380" });
    });
    it("names each drill's scratch folder and token by its stamp, and deletes only such folders", () => {
      const s = drillSettings(inputs());
      const dir = runDirOf(s, "20260401T120000Z");
      expect(dir).to.equal("/var/lib/etcd-standby-drill/drill-20260401t120000z");
      expect(scratchPaths(dir)).to.deep.equal({ db: `${dir}/db`, data: `${dir}/data` });
      expect(drillToken("20260401T120000Z")).to.equal("etcd-standby-drill-20260401t120000z");
      expect(isRunDir(dir, s.scratchDir)).to.equal(true);
      for (const bad of ["/var/lib/etcd-standby-drill", "/var/lib/etcd-standby-drill/other", "/var/lib/etcd-standby-drill/drill-x/data", "/var/lib/etcd", "/var/lib/etcd-standby-drill-x/drill-1", "/var/lib/etcd-standby-drill/drill-"]) {
        expect(isRunDir(bad, s.scratchDir), bad).to.equal(false);
      }
    });
  });

  describe("conflicts between inputs", () => {
    it("refuses a scratch folder over the learner's data dir or TLS folder, its container, its ports, equal ports and a foreign listen address", () => {
      const s = drillSettings(inputs({ scratchDir: "/var/lib/etcd/drill", containerName: "etcd-learner", clientPort: 2379, peerPort: 2379, listenAddress: "10.250.0.101" }));
      const p = drillConflicts(s).join("\n");
      expect(p).to.match(/scratchDir \/var\/lib\/etcd\/drill overlaps the learner's data dir/);
      expect(p).to.match(/containerName etcd-learner is the learner's container/);
      expect(p).to.match(/clientPort and peerPort are both 2379/);
      expect(p).to.match(/clientPort 2379 is one of the learner's own ports/);
      expect(p).to.match(/listenAddress 10\.250\.0\.101 must be 127\.0\.0\.1, ::1 or the learner's host address 10\.250\.0\.103/);
      expect(drillConflicts(drillSettings(inputs({ scratchDir: "/etc/kubernetes" }))).join("\n")).to.match(/overlaps the learner's TLS folder \/etc\/kubernetes\/ssl/);
      expect(drillConflicts(drillSettings(inputs({ scratchDir: "/var/lib" }))).join("\n")).to.match(/overlaps the learner's data dir/);
      expect(drillConflicts(drillSettings(inputs({ listenAddress: "10.250.0.103", electionMs: 1000 }))).join("\n")).to.match(/electionMs \(1000\) should be at least 5 times/);
      expect(drillConflicts(drillSettings(inputs({ listenAddress: "10.250.0.103" })))).to.deep.equal([]);
    });
  });

  describe("containers and command lines", () => {
    const s = { ...drillSettings(inputs()), image: "rancher/mirrored-coreos-etcd:v3.5.17" };
    const dir = runDirOf(s, "20260401T120000Z");
    it("restores the copy with etcdctl (3.5) or etcdutl (3.6), skip-hash-check, into the drill's folder, without network", () => {
      const c35 = drillRestoreContainer(s, v("3.5.17"), dir, "tok");
      expect(validateRunSpec({ ...c35, network: "host" })).to.deep.equal([]);
      expect(c35.network).to.equal(undefined);
      expect(c35.name).to.equal("etcd-standby-drill-restore");
      expect(c35.labels).to.deep.equal({ [MANAGED_LABEL]: DRILL_TOOL_VALUE });
      expect(c35.volumes).to.deep.equal([{ host: dir, container: dir }]);
      expect(c35.env).to.deep.equal({ ETCDCTL_API: "3" });
      expect(c35.command).to.deep.equal([
        "/usr/local/bin/etcdctl", "snapshot", "restore", `${dir}/db`, "--name=etcd-standby-drill", "--initial-cluster=etcd-standby-drill=https://127.0.0.1:12380",
        "--initial-cluster-token=tok", "--initial-advertise-peer-urls=https://127.0.0.1:12380", `--data-dir=${dir}/data`, "--skip-hash-check=true",
      ]);
      const c36 = drillRestoreContainer(s, v("3.6.16"), dir, "tok");
      expect(c36.command[0]).to.equal("/usr/local/bin/etcdutl");
      expect(c36.env).to.deep.equal({});
    });
    it("starts a new one-member cluster on the scratch ports, never restarted, with the learner's TLS folder read-only", () => {
      const c = drillEtcdContainer(s, dir, "tok", "run1", "io.etcd-standby.run");
      expect(validateRunSpec(c)).to.deep.equal([]);
      expect(c.restart).to.equal("no");
      expect(c.labels).to.deep.equal({ [MANAGED_LABEL]: DRILL_MANAGED_VALUE, [MEMBER_LABEL]: "etcd-standby-drill", "io.etcd-standby.run": "run1" });
      expect(c.volumes).to.deep.equal([{ host: `${dir}/data`, container: `${dir}/data` }, { host: "/etc/kubernetes/ssl", container: "/etc/kubernetes/ssl", ro: true }]);
      const cmd = drillEtcdCommand(s, `${dir}/data`, "tok");
      expect(c.command).to.deep.equal(cmd);
      for (const f of [
        "--listen-client-urls=https://127.0.0.1:12379", "--listen-peer-urls=https://127.0.0.1:12380", "--advertise-client-urls=https://127.0.0.1:12379",
        "--initial-cluster=etcd-standby-drill=https://127.0.0.1:12380", "--initial-cluster-state=new", "--initial-cluster-token=tok", "--client-cert-auth=true",
        "--peer-client-cert-auth=true", "--cert-file=/etc/kubernetes/ssl/kube-etcd-10-250-0-103.pem", "--heartbeat-interval=500", "--election-timeout=5000",
      ]) {
        expect(cmd, f).to.include(f);
      }
      expect(cmd.join(" ")).to.not.match(/:2379|:2380|force-new-cluster/);
    });
    it("takes over the learner's quota flags, so its db fits the scratch member too", () => {
      const argv = ["/usr/local/bin/etcd", "--name=learner-master3", "--quota-backend-bytes=8589934592", "-max-request-bytes=10485760", "--quota-backend-bytes=x; rm", "--auto-compaction-retention=1"];
      expect(inheritedFlags(argv)).to.deep.equal(["--quota-backend-bytes=8589934592", "--max-request-bytes=10485760"]);
      expect(drillEtcdCommand(s, `${dir}/data`, "tok", inheritedFlags(argv)).slice(-2)).to.deep.equal(["--quota-backend-bytes=8589934592", "--max-request-bytes=10485760"]);
      expect(drillEtcdContainer(s, dir, "tok", "r", "io.etcd-standby.run", ["--quota-backend-bytes=1"]).command).to.include("--quota-backend-bytes=1");
    });
  });

  describe("what the host says", () => {
    const tcp = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 670FFA0A:0950 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:3059 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0",
      "   2: 670FFA0A:0950 650FFA0A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0",
      "   3: 670FFA0A:8000 650FFA0A:305A 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0",
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    it("reads listening ports from /proc/net/tcp and tcp6, ignoring connections", () => {
      const ports = parseListeningPorts(tcp);
      expect([...ports].sort((a, b) => a - b)).to.deep.equal([22, 2384, 12377]);
      expect(busyPorts([12379, 12380], ports)).to.deep.equal([]);
      expect(busyPorts([2384, 12380], ports)).to.deep.equal([2384]);
      expect(parseListeningPorts("")).to.deep.equal(new Set());
    });
    it("reads free space from df -Pk and says how much a drill needs", () => {
      expect(parseDfAvailable("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 264140000 19000000 76000000 21% /\n")).to.equal(76000000 * 1024);
      expect(parseDfAvailable("df: nothing")).to.equal(undefined);
      expect(spaceNeeded(10)).to.equal(20 + SPACE_SLACK_BYTES);
    });
    it("measures the learner's lag against the highest committed index a voter reports", () => {
      expect(learnerLag(100, [90, 120, 110])).to.equal(20);
      expect(learnerLag(130, [120])).to.equal(0);
      expect(learnerLag(5, [])).to.equal(0);
    });
  });

  describe("verification", () => {
    const rec = { revision: 1000, keys: 500, appliedIndex: 1200, version: "3.5.17" };
    const good: DrillObservation = { healthy: true, memberNames: ["etcd-standby-drill"], headRevision: 1010, keysAtRecorded: 500, writable: true };
    it("passes a healthy one-member copy with the recorded revision and keys, and a probe write", () => {
      expect(verifyDrill(rec, good, "etcd-standby-drill")).to.deep.equal({ ok: true, problems: [] });
      expect(verifyDrill(rec, { ...good, headRevision: 1000 }, "etcd-standby-drill").ok).to.equal(true);
    });
    it("names every problem at once", () => {
      const r = verifyDrill(rec, { healthy: false, memberNames: ["a", "b"], headRevision: 990, keysAtRecorded: 498, writable: false }, "etcd-standby-drill");
      expect(r.ok).to.equal(false);
      const p = r.problems.join("\n");
      expect(p).to.match(/not healthy/);
      expect(p).to.match(/exactly one member etcd-standby-drill, it has \[a, b\]/);
      expect(p).to.match(/revision 990 is behind the learner's recorded 1000: 10 revisions/);
      expect(p).to.match(/498 keys at revision 1000, the learner held 500 \(2 missing\)/);
      expect(p).to.match(/probe write/);
      expect(verifyDrill(rec, { ...good, keysAtRecorded: undefined, countError: "compacted" }, "etcd-standby-drill").problems.join()).to.match(/could not be counted.*compacted/);
    });
    it("reports the RTO as restore + start + verify", () => {
      const t = { ...zeroPhases(), restore: 300, start: 1200, verify: 400, copy: 50, total: 5000 };
      expect(rtoMs(t)).to.equal(1900);
      expect(phaseLine(t)).to.match(/^preflight 0 ms, record 0 ms, .*restore 300 ms, start 1200 ms, verify 400 ms, cleanup 0 ms, total 5000 ms$/);
    });
  });

  describe("provider: check, diff, read, update", () => {
    it("accepts good inputs", async () => {
      expect((await provider.check({}, inputs())).failures).to.equal(undefined);
    });
    it("reports every bad input at once", async () => {
      const r = await provider.check({}, inputs({ learner: { memberName: "bad name", peerURL: "https://10.250.0.9:2380", clientURL: "nope" }, clientPort: 0, trigger: "a\nb", catchUpThreshold: -1, image: "Bad Image", scratchDir: "relative" }));
      const props = (r.failures ?? []).map((f) => f.property).sort();
      expect(props).to.include.members(["learner.memberName", "learner.peerURL", "learner.clientURL", "clientPort", "trigger", "catchUpThreshold", "image", "scratchDir"]);
    });
    it("checks inputs against each other once each is valid", async () => {
      const r = await provider.check({}, inputs({ scratchDir: "/var/lib/etcd/x" }));
      expect((r.failures ?? []).map((f) => f.reason).join()).to.match(/overlaps the learner's data dir/);
    });
    it("drills again on a new trigger or after a drill that did not pass; a new learner or host replaces", async () => {
      const olds = { ...inputs(), verdict: "pass" };
      expect((await provider.diff("x", olds, inputs())).changes).to.equal(false);
      expect(await provider.diff("x", olds, inputs({ trigger: "2026-07-01" }))).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
      expect((await provider.diff("x", { ...olds, verdict: "fail" }, inputs())).changes).to.equal(true);
      expect((await provider.diff("x", olds, inputs({ catchUpThreshold: 10 }))).changes).to.equal(true);
      expect((await provider.diff("x", olds, inputs({ learner: { ...LEARNER, memberName: "learner2" } }))).replaces).to.deep.equal(["learner.memberName"]);
    });
    it("read reports the last results; an update without a new trigger records settings and drills nothing", async () => {
      const olds = { ...inputs(), verdict: "pass", recordedRevision: 7 };
      expect((await provider.read("x", olds)).props).to.deep.equal(olds);
      const up = await provider.update("x", olds, inputs({ timeoutMs: 1000 }));
      expect(up.outs).to.deep.equal({ ...olds, timeoutMs: 1000 });
    });
    it("an update that only records drops an input no longer given, keeping the last drill's results", async () => {
      const olds = { ...inputs({ scratchDir: "/srv/drill", clientPort: 22379 }), verdict: "pass", recordedRevision: 7 };
      expect(await provider.diff("x", olds, inputs())).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
      const { outs } = await provider.update("x", olds, inputs());
      expect(outs).to.deep.equal({ ...inputs(), verdict: "pass", recordedRevision: 7 });
      expect((await provider.diff("x", outs, inputs())).changes).to.equal(false);
    });
  });
});
