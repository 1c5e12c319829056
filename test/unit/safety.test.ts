/**
 * The pure rules behind the safety checks: etcd version compatibility, extra
 * flags, member identity (name and peer URL agreeing), config name clashes,
 * pinned host keys for every host, and whether an etcd container belongs to
 * the cluster.
 */
import { expect } from "chai";
import { LEARNER_OWNED_FLAGS } from "../../provider/impl/learnerConfig";
import { belongsToCluster, etcdFlagsOf, isEtcdServer, peerUrlsOf } from "../../provider/lib/etcdContainer";
import { refusedExtraFlags } from "../../provider/lib/etcdFlags";
import { resolveExactMember } from "../../provider/lib/members";
import type { Member } from "../../provider/lib/members";
import { checkJoinVersion, parseEtcdVersion } from "../../provider/lib/versions";
import type { EtcdVersion } from "../../provider/lib/versions";
import { ConfigError, nameClashes, parseLayout } from "../../stacks/config";
import type { HostSpec, RawConfig } from "../../stacks/config";
import { unpinnedHosts } from "../../stacks/credentials";

const v = (t: string): EtcdVersion => parseEtcdVersion(t) as EtcdVersion;
const m = (id: string, name: string, peer: string, isLearner = false): Member => ({ id, name, peerURLs: [peer], clientURLs: name ? [peer.replace(":2380", ":2379")] : [], isLearner, started: name !== "" });

describe("safety rules", () => {
  describe("checkJoinVersion: what etcd supports beside a cluster", () => {
    const v34 = { cluster: "3.4.0", members: [{ name: "etcd-master1", version: "3.4.23" }, { name: "etcd-node1", version: "3.4.23" }] };
    it("accepts 3.5 beside 3.4 voters (one minor ahead) and 3.4 itself", () => {
      expect(checkJoinVersion(v("3.5.17"), v34).ok).to.equal(true);
      expect(checkJoinVersion(v("3.4.23"), v34).ok).to.equal(true);
    });
    it("refuses 3.6 beside 3.4 voters, naming the members and a safe path", () => {
      const r = checkJoinVersion(v("3.6.16"), v34);
      expect(r.ok).to.equal(false);
      expect(r.problems.join("\n")).to.match(/2 minor versions ahead of the cluster version 3\.4/).and.match(/etcd-master1 runs etcd 3\.4\.23/);
      expect(r.safePath).to.match(/3\.4.*3\.5/);
    });
    it("refuses an etcd older than the cluster version", () => {
      const r = checkJoinVersion(v("3.4.23"), { cluster: "3.5.0", members: [{ name: "a", version: "3.5.17" }] });
      expect(r.ok).to.equal(false);
      expect(r.problems[0]).to.match(/older than the cluster version 3\.5/);
    });
    it("allows 3.6 on a 3.5 cluster only from 3.5.26 on", () => {
      expect(checkJoinVersion(v("3.6.16"), { cluster: "3.5.0", members: [{ name: "a", version: "3.5.17" }] }).problems.join()).to.match(/a runs etcd 3\.5\.17.*3\.5\.26/);
      expect(checkJoinVersion(v("3.6.16"), { cluster: "3.5.0", members: [{ name: "a", version: "3.5.26" }] }).ok).to.equal(true);
    });
    it("without a cluster version, judges by the lowest member; without any, refuses", () => {
      expect(checkJoinVersion(v("3.6.0"), { cluster: undefined, members: [{ name: "a", version: "3.5.30" }, { name: "b", version: "3.4.23" }] }).ok).to.equal(false);
      expect(checkJoinVersion(v("3.5.0"), { cluster: undefined, members: [] }).ok).to.equal(false);
    });
  });

  describe("refusedExtraFlags: flags the resource owns or that weaken it", () => {
    it("refuses owned, security and membership flags, and accepts harmless ones", () => {
      const flags = ["--client-cert-auth=false", "--listen-client-urls=http://0.0.0.0:2379", "--name=x", "--force-new-cluster", "--auto-tls", "--config-file=/tmp/x", "--log-level=debug", "--quota-backend-bytes=8589934592", "--snapshot-count=10000"];
      const problems = refusedExtraFlags(flags, LEARNER_OWNED_FLAGS);
      expect(problems).to.have.length(6);
      for (const f of ["client-cert-auth", "listen-client-urls", "name", "force-new-cluster", "auto-tls", "config-file"]) expect(problems.join("\n")).to.contain(`--${f}`);
      expect(problems.join("\n")).not.to.match(/log-level|quota|snapshot-count/);
    });
    it("knows every flag the learner's command line sets", () => {
      expect(LEARNER_OWNED_FLAGS).to.include.members(["name", "data-dir", "initial-cluster", "initial-cluster-state", "client-cert-auth", "peer-client-cert-auth", "listen-peer-urls", "trusted-ca-file"]);
    });
  });

  describe("resolveExactMember: name and peer URL must agree", () => {
    const members = [m("01", "etcd-master1", "https://10.0.0.1:2380"), m("04", "etcd-node1", "https://10.0.0.4:2380"), m("03", "etcd-master3", "https://10.0.0.3:2380")];
    it("finds the member when both agree", () => {
      const r = resolveExactMember(members, { name: "etcd-master3", peerURL: "https://10.0.0.3:2380" });
      expect(r.kind).to.equal("found");
    });
    it("refuses another voter's name for this host, from both views", () => {
      const r = resolveExactMember(members, { name: "etcd-node1", peerURL: "https://10.0.0.3:2380" });
      expect(r.kind).to.equal("mismatch");
      if (r.kind === "mismatch") expect(r.problem).to.match(/config says member etcd-node1 has peer URL https:\/\/10\.0\.0\.3:2380/).and.match(/voter etcd-node1 \(04\) at https:\/\/10\.0\.0\.4:2380/);
    });
    it("refuses another voter's name even once this host's voter is gone", () => {
      const r = resolveExactMember(members.filter((x) => x.id !== "03"), { name: "etcd-node1", peerURL: "https://10.0.0.3:2380" });
      expect(r.kind).to.equal("mismatch");
    });
    it("refuses a voter at the URL under another name (a non-conventional RKE name), saying which name to set", () => {
      const r = resolveExactMember([m("03", "rke-etcd-3", "https://10.0.0.3:2380")], { name: "etcd-master3", peerURL: "https://10.0.0.3:2380" });
      expect(r.kind).to.equal("mismatch");
      if (r.kind === "mismatch") expect(r.next).to.match(/memberName to rke-etcd-3/);
    });
    it("takes the learner now at the host's URL for absent, not for the voter", () => {
      const r = resolveExactMember([...members.filter((x) => x.id !== "03"), m("09", "learner-master3", "https://10.0.0.3:2380", true)], { name: "etcd-master3", peerURL: "https://10.0.0.3:2380" });
      expect(r.kind).to.equal("absent");
    });
  });

  describe("nameClashes: learner names never look like voters", () => {
    const hosts: HostSpec[] = [
      { name: "master1", address: "10.0.0.1", site: "A", roles: ["etcd"] },
      { name: "master3", address: "10.0.0.3", site: "B", roles: ["etcd"] },
      { name: "node1", address: "10.0.0.4", site: "A", roles: ["etcd"] },
    ];
    it("refuses a learner prefix equal to, or a prefix of, the voters'", () => {
      expect(nameClashes(hosts, ["master3"], "etcd-", "etcd-").join()).to.match(/clashes with etcd\.memberNamePrefix/);
      expect(nameClashes(hosts, ["master3"], "etcd-", "etc").join()).to.match(/clashes/);
      expect(nameClashes(hosts, ["master3"], "etcd-", "learner-")).to.deep.equal([]);
    });
    it("refuses a learner name equal to a voter's explicit memberName, and a name claimed twice", () => {
      const h = hosts.map((x) => (x.name === "node1" ? { ...x, memberName: "learner-master3" } : x));
      expect(nameClashes(h, ["master3"], "etcd-", "learner-").join()).to.match(/learner-master3, which is host node1's voter name/);
      const twice = hosts.map((x) => (x.name === "master3" ? { ...x, memberName: "etcd-node1" } : x));
      expect(nameClashes(twice, ["master3"], "etcd-", "learner-").join()).to.match(/etcd-node1 is claimed by hosts master3 and node1/);
    });
    it("is part of the config check (refused at preview)", () => {
      const raw: RawConfig = {
        topology: { mode: "learner-standby" },
        sites: { A: "primary", B: "standby" },
        hosts: [
          { name: "master1", address: "10.0.0.1", site: "A", roles: ["etcd"] },
          { name: "master2", address: "10.0.0.2", site: "A", roles: ["etcd"] },
          { name: "master3", address: "10.0.0.3", site: "B", roles: ["etcd"] },
          { name: "node1", address: "10.0.0.4", site: "A", roles: ["etcd"] },
        ],
        etcd: { learnerImage: "rancher/mirrored-coreos-etcd:v3.5.4", learnerNamePrefix: "etcd-" },
      };
      expect(() => parseLayout(raw)).to.throw(ConfigError, /learnerNamePrefix "etcd-" clashes/);
    });
  });

  describe("unpinnedHosts: every host, whichever mode touches it", () => {
    it("names each host without a pinned key, workers of the standby site included", () => {
      const hosts: HostSpec[] = [
        { name: "master3", address: "10.0.0.3", site: "B", roles: ["etcd"] },
        { name: "node2", address: "10.0.0.5", site: "B", roles: ["worker"] },
        { name: "master1", address: "10.0.0.1", site: "A", roles: ["etcd"] },
      ];
      const problems = unpinnedHosts(hosts, new Map([["10.0.0.3", "ssh-ed25519 AAAA"]]));
      expect(problems).to.have.length(2);
      expect(problems.join("\n")).to.match(/host node2 \(10\.0\.0\.5\)/).and.match(/host master1/);
    });
  });

  describe("etcd containers: whose cluster is it", () => {
    const rke = ["/usr/local/bin/etcd", "--name=etcd-master3", "--initial-cluster=etcd-master1=https://10.0.0.1:2380,etcd-master3=https://10.0.0.3:2380", "--initial-advertise-peer-urls=https://10.0.0.3:2380"];
    const resolve = (h: string): string[] => ({ master1: ["10.0.0.1"], master3: ["10.0.0.3"] })[h] ?? [h];
    const self = (h: string): boolean => resolve(h).includes("10.0.0.3");
    it("reads flags from the command line and ETCD_* variables", () => {
      const f = etcdFlagsOf(["etcd", "--name", "a", "--data-dir=/x"], ["ETCD_INITIAL_CLUSTER=a=https://h:2380", "ETCDCTL_API=3"]);
      expect(f).to.include({ name: "a", "data-dir": "/x", "initial-cluster": "a=https://h:2380" });
      expect(isEtcdServer(["etcd"], f)).to.equal(true);
      expect(isEtcdServer(["/bin/sh", "-c", "etcdctl snapshot save"], etcdFlagsOf(["/bin/sh"], ["ETCDCTL_API=3"]))).to.equal(false);
    });
    it("belongs when it names a current member on another host (by address or by name)", () => {
      expect(belongsToCluster(peerUrlsOf(etcdFlagsOf(rke, [])), ["https://10.0.0.1:2380"], resolve, self).belongs).to.equal(true);
      expect(belongsToCluster([{ name: "x", url: "https://master1:2380" }], ["https://10.0.0.1:2380"], resolve, self).belongs).to.equal(true);
    });
    it("does not belong when it names only itself or other addresses", () => {
      const foreign = peerUrlsOf(etcdFlagsOf(["etcd", "--initial-cluster=f=https://10.0.0.3:2380,g=https://10.9.9.9:2380"], []));
      expect(belongsToCluster(foreign, ["https://10.0.0.1:2380", "https://10.0.0.3:2380"], resolve, self).belongs).to.equal(false);
    });
  });
});

describe("the split-brain guard's view through the learner", () => {
  it("reads peer traffic from etcd's metrics and sees which peers still talk", async () => {
    const { growingPeers, parsePeerReceivedBytes } = await import("../../provider/impl/restore/guardDecision");
    const a = parsePeerReceivedBytes('# HELP x\netcd_network_peer_received_bytes_total{From="5cb2bdbca1ad5330"} 626\netcd_network_peer_received_bytes_total{From="687f08555625f06d"} 583\netcd_server_has_leader 1\n');
    expect(a).to.deep.equal({ "5cb2bdbca1ad5330": 626, "687f08555625f06d": 583 });
    expect(growingPeers(a, { ...a, "687f08555625f06d": 700 })).to.deep.equal(["687f08555625f06d"]);
    expect(growingPeers(a, a)).to.deep.equal([]);
  });
  it("refuses when the learner still hears from a peer, even with no config address answering", async () => {
    const { decideGuard } = await import("../../provider/impl/restore/guardDecision");
    const still = { before: { raftIndex: 5, raftTerm: 2 }, after: { raftIndex: 5, raftTerm: 2 }, windowMs: 1000 };
    const probes = [{ endpoint: "https://10.0.0.111:2379", answered: false, reachable: false, error: "EHOSTUNREACH" }];
    const d = decideGuard(probes, { ...still, peerBytes: { "687f08555625f06d": 117 } }, false);
    expect(d.ok).to.equal(false);
    expect(d.risks.join()).to.match(/still hears from peer\(s\) 687f08555625f06d \(117 bytes\)/);
    expect(decideGuard(probes, { ...still, peerBytes: {} }, false).ok).to.equal(true);
  });
  it("parses the learner's /members (large IDs kept exact)", async () => {
    const { parsePeerMembers } = await import("../../provider/impl/restore/guardDecision");
    const m = parsePeerMembers('[{"id":12345678901234567890,"name":"etcd-master1","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://10.0.0.1:2379"]},{"id":2,"peerURLs":["https://10.0.0.3:2380"],"isLearner":true}]');
    expect(m).to.deep.equal([
      { id: "12345678901234567890", name: "etcd-master1", clientURLs: ["https://10.0.0.1:2379"], isLearner: false },
      { id: "2", name: "", clientURLs: [], isLearner: true },
    ]);
    expect(parsePeerMembers("404 page not found")).to.equal(undefined);
  });
});
