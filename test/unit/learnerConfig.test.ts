import { expect } from "chai";
import { catchUpPercent, diagnose, learnerCommand, learnerContainer, learnerSettings, logExcerpt, rkeTls } from "../../provider/impl/learnerConfig";
import { diffFields, hasUnknown, Problems, UNKNOWN } from "../../provider/impl/common";
import { provider as learner } from "../../provider/impl/learner";
import { provider as removal } from "../../provider/impl/memberRemoval";

describe("learnerConfig: the learner's command line and container", () => {
  const props = { memberName: "learner1", peerURL: "https://192.168.31.103:2380", clientURL: "https://192.168.31.103:2379", image: "rancher/mirrored-coreos-etcd:v3.5.4" };

  it("derives RKE's TLS file names from the peer URL's host", () => {
    expect(rkeTls("192.168.31.103")).to.deep.equal({
      caFile: "/etc/kubernetes/ssl/kube-ca.pem",
      certFile: "/etc/kubernetes/ssl/kube-etcd-192-168-31-103.pem",
      keyFile: "/etc/kubernetes/ssl/kube-etcd-192-168-31-103-key.pem",
    });
    expect(learnerSettings(props).tls.certFile).to.equal("/etc/kubernetes/ssl/kube-etcd-192-168-31-103.pem");
  });

  it("builds the seed's flags: existing cluster, same name and URLs everywhere, RKE timings", () => {
    const cmd = learnerCommand(learnerSettings(props), "etcd-master1=https://192.168.31.101:2380,learner1=https://192.168.31.103:2380");
    expect(cmd[0]).to.equal("/usr/local/bin/etcd");
    expect(cmd).to.include.members([
      "--name=learner1",
      "--initial-advertise-peer-urls=https://192.168.31.103:2380",
      "--listen-peer-urls=https://192.168.31.103:2380",
      "--advertise-client-urls=https://192.168.31.103:2379",
      "--initial-cluster-state=existing",
      "--initial-cluster=etcd-master1=https://192.168.31.101:2380,learner1=https://192.168.31.103:2380",
      "--peer-client-cert-auth=true",
      "--client-cert-auth=true",
      "--heartbeat-interval=500",
      "--election-timeout=5000",
    ]);
  });

  it("mounts the data dir read-write and the TLS folder read-only, and labels the container", () => {
    const c = learnerContainer(learnerSettings(props), "x=https://1.2.3.4:2380");
    expect(c.volumes).to.deep.equal([
      { host: "/var/lib/etcd", container: "/var/lib/etcd" },
      { host: "/etc/kubernetes/ssl", container: "/etc/kubernetes/ssl", ro: true },
    ]);
    expect(c.labels).to.deep.equal({ "io.etcd-standby.resource": "EtcdLearner", "io.etcd-standby.member": "learner1" });
    expect(c.restart).to.equal("always");
  });

  it("diagnoses the seed's silent failures from etcd's log", () => {
    expect(diagnose(`{"level":"fatal","msg":"couldn't find local name \\"learner2\\" in the initial cluster configuration"}`)[0]).to.match(/member name or peer URL/);
    expect(diagnose("remote error: tls: bad certificate")[0]).to.match(/TLS trust mismatch/);
    expect(diagnose("x509: certificate is valid for 10.0.0.5, not 10.0.0.3")[0]).to.match(/SAN mismatch/);
    expect(diagnose("dial tcp 10.0.0.1:2380: connect: connection refused")[0]).to.match(/cannot be reached/);
    expect(diagnose("flag provided but not defined: -bogus")[0]).to.match(/not known to this etcd version/);
    expect(diagnose("all fine")).to.deep.equal([]);
  });

  it("shows error lines rather than usage text from a log", () => {
    const log = ["flag provided but not defined: -no-such-flag", ...Array.from({ length: 50 }, (_, i) => `  --usage-line-${i}`)].join("\n");
    expect(logExcerpt(log)).to.equal("flag provided but not defined: -no-such-flag");
    expect(logExcerpt("a\nb\nc", 2)).to.equal("b\nc");
  });

  it("reports catch-up as a bounded percentage", () => {
    expect(catchUpPercent(50, 200)).to.equal(25);
    expect(catchUpPercent(300, 200)).to.equal(100);
    expect(catchUpPercent(0, 0)).to.equal(100);
  });
});

describe("diff decisions", () => {
  it("replaces on identity, updates on settings, and says nothing when equal", () => {
    expect(diffFields({ a: 1, b: 2 }, { a: 1, b: 2 }, ["a"], ["b"]).changes).to.equal(false);
    expect(diffFields({ a: 1, b: 2 }, { a: 1, b: 3 }, ["a"], ["b"])).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(diffFields({ a: 1, b: 2 }, { a: 9, b: 2 }, ["a"], ["b"])).to.deep.equal({ changes: true, replaces: ["a"], deleteBeforeReplace: true });
  });

  it("EtcdLearner: a new image restarts in place; a new peer URL or host replaces, deleting first", async () => {
    const base = { memberName: "l", peerURL: "https://10.0.0.3:2380", image: "etcd:v3.5.4", host: { host: "10.0.0.3" } };
    const img = await learner.diff("id", base, { ...base, image: "etcd:v3.5.17" });
    expect(img.changes).to.equal(true);
    expect(img.replaces).to.deep.equal([]);
    const url = await learner.diff("id", base, { ...base, peerURL: "https://10.0.0.4:2380", host: { host: "10.0.0.4" } });
    expect(url.replaces).to.include.members(["peerURL", "host"]);
    expect(url.deleteBeforeReplace).to.equal(true);
    const gone = await learner.diff("id", { ...base, present: false }, base);
    expect(gone.replaces).to.deep.equal(["memberName"]);
  });

  it("EtcdMemberRemoval: a member that came back is removed again", async () => {
    const d = await removal.diff("id", { memberName: "etcd-master3", memberPresent: true }, { memberName: "etcd-master3" });
    expect(d.changes).to.equal(true);
    expect(d.replaces).to.deep.equal(["memberName"]);
    const same = await removal.diff("id", { memberName: "etcd-master3", memberPresent: false }, { memberName: "etcd-master3" });
    expect(same.changes).to.equal(false);
  });

  it("check collects every problem and skips unknown preview values", () => {
    expect(hasUnknown({ a: [1, UNKNOWN] })).to.equal(true);
    const p = new Problems();
    p.add("x", UNKNOWN, ["never reported"]);
    p.add("y", "bad", ["one", "two"]);
    expect(p.result({}).failures).to.deep.equal([{ property: "y", reason: "one" }, { property: "y", reason: "two" }]);
  });
});
