/**
 * The four resources against the live sandbox, walking the seed: remove
 * master3's voter, clean its RKE containers, start a learner there, promote
 * it; and every refusal. Outcomes are checked with etcdctl and with docker
 * over OpenSSH, not with the provider's own code.
 */
import { expect } from "chai";
import * as fs from "fs";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as learner } from "../../provider/impl/learner";
import { provider as promotion } from "../../provider/impl/learnerPromotion";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { clusterProps, hostProps, learnerInputs, M3, M3_CLIENT, voterEndpoints } from "../support/fixtures";
import { containerNames, endpointStatus, etcdctl, freshSandbox, hexId, memberList, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { rejection as rejects, waitFor } from "../support/wait";

describe("resources against the live sandbox (the seed, step by step)", function () {
  this.timeout(600_000);
  let d: SandboxDescription;

  before(async () => {
    d = await freshSandbox();
    await etcdctl(d, [`--endpoints=${d.etcd.endpoints[0]}`, "put", "/registry/before/seed", "written-before"]);
  });
  after(async () => {
    await sandbox(["down"]);
  });

  describe("check: every problem at once, before anything runs", () => {
    it("reports a hostile container name, a bad path, a missing host key and a foreign peer URL together", async () => {
      const r = await learner.check({}, learnerInputs(d, {
        containerName: "etcd; rm -rf /",
        dataDir: "/var/lib/../etc",
        host: hostProps(d, "master3", { hostPublicKey: undefined }),
        peerURL: "https://10.250.0.101:2380",
        extraFlags: ["--log-level=debug", "--x=$(reboot)"],
      }));
      const props = (r.failures ?? []).map((f) => f.property);
      expect(props).to.include.members(["containerName", "dataDir", "host.hostPublicKey", "peerURL", "extraFlags"]);
      const text = (r.failures ?? []).map((f) => f.reason).join("\n");
      expect(text).to.include("ssh-keyscan");
      expect(text).to.not.include("PRIVATE KEY");
    });

    it("refuses a hostile container name in cleanup and runs nothing on the host", async () => {
      const before = await containerNames(d, "master3");
      const r = await cleanup.check({}, { host: hostProps(d, "master3"), cluster: clusterProps(d), containers: ["etcd", "x`touch /tmp/pwned`"] });
      expect((r.failures ?? []).map((f) => f.property)).to.include("containers[1]");
      expect(await containerNames(d, "master3")).to.deep.equal(before);
      const pwned = await ssh(d, "master3", "test -e /tmp/pwned && echo yes || echo no");
      expect(pwned.stdout.trim()).to.equal("no");
    });

    it("leaves unknown preview values alone", async () => {
      const r = await removal.check({}, { cluster: clusterProps(d), memberName: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" });
      expect(r.failures ?? []).to.deep.equal([]);
    });
  });

  describe("EtcdMemberRemoval", () => {
    it("refuses a removal that would cost quorum, and names the numbers", async () => {
      await sandbox(["power-off", "A"]);
      try {
        // master1, master2 and node1 are down: removing master3 would leave 3 voters, 0 healthy.
        const e = await rejects(removal.create({ cluster: clusterProps(d, [M3_CLIENT]), memberName: "etcd-master3" }));
        expect(e.message).to.match(/refusing to remove etcd-master3.*3 voters.*0 (are )?healthy/s);
        expect(e.message).to.include("Next:");
      } finally {
        await sandbox(["power-on", "A"]);
      }
      await waitFor(async () => {
        const r = await etcdctl(d, [`--endpoints=${d.etcd.endpoints.join(",")}`, "endpoint", "health"], { allowFailure: true });
        return r.code === 0;
      }, { timeoutMs: 120_000, what: "the cluster healthy again after power-on" });
      expect((await memberList(d)).map((m) => m.name)).to.include("etcd-master3");
    });

    it("refuses cleaning master3 while its member is still in the cluster (the seed's order)", async () => {
      const e = await rejects(cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d) }));
      expect(e.message).to.match(/refusing to clean 10\.250\.0\.103: member etcd-master3/);
      expect(e.message).to.match(/Next: remove the member first/);
      expect(await containerNames(d, "master3")).to.include.members(["etcd", "etcd-rolling-snapshots"]);
    });

    it("removes master3's voter, moving leadership away from it first, and confirms it", async () => {
      const before = await memberList(d);
      const m3 = before.find((m) => m.name === "etcd-master3");
      expect(m3).to.not.equal(undefined);
      // Make master3 the leader with etcdctl, so the removal has to move leadership.
      const leaderNow = (await endpointStatus(d, d.etcd.endpoints[0])).leader;
      const leaderHex = hexId(leaderNow);
      if (leaderHex !== m3?.ID) {
        const leaderUrl = before.find((m) => m.ID === leaderHex)?.clientURLs?.[0] ?? d.etcd.endpoints[0];
        await etcdctl(d, [`--endpoints=${leaderUrl}`, "move-leader", m3?.ID ?? ""]);
      }
      expect(hexId((await endpointStatus(d, M3_CLIENT)).leader)).to.equal(m3?.ID);
      const r = await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3" });
      expect(r.outs.removedMemberId).to.equal(m3?.ID);
      const after = await memberList(d, voterEndpoints(d, ["master3"]));
      expect(after.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
      const st = await endpointStatus(d, d.etcd.endpoints[0]);
      expect(after.map((m) => m.ID)).to.include(hexId(st.leader));
    });

    it("is idempotent: an absent member is success", async () => {
      const r = await removal.create({ cluster: clusterProps(d, voterEndpoints(d, ["master3"])), peerURL: M3 });
      expect(r.outs.alreadyAbsent).to.equal(true);
      expect(r.outs.removedMemberId).to.equal("");
    });
  });

  describe("RkeContainerCleanup", () => {
    it("refuses an unknown host key and runs nothing", async () => {
      const other = d.hosts.find((h) => h.name === "node2")?.hostPublicKey;
      const e = await rejects(cleanup.create({ host: hostProps(d, "master3", { hostPublicKey: other }), cluster: clusterProps(d, voterEndpoints(d, ["master3"])) }));
      expect(e.message).to.match(/host key/i);
      expect(e.message).to.include("SHA256:");
      expect(await containerNames(d, "master3")).to.include.members(["etcd", "etcd-rolling-snapshots"]);
    });

    it("stops etcd and etcd-rolling-snapshots on master3, keeps them renamed as backups that never restart, and archives /var/lib/etcd", async () => {
      const r = await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voterEndpoints(d, ["master3"])), mode: "rename" });
      const renamed = r.outs.renamedContainers as Record<string, string>;
      expect(Object.keys(renamed).sort()).to.deep.equal(["etcd", "etcd-rolling-snapshots"]);
      const left = await containerNames(d, "master3");
      expect(left).to.not.include("etcd");
      expect(left).to.not.include("etcd-rolling-snapshots");
      expect(left).to.include.members([renamed.etcd, renamed["etcd-rolling-snapshots"], "kube-apiserver"]);
      expect(renamed.etcd).to.match(/^etcd-removed-\d{8}T\d{6}Z$/);
      const st = await ssh(d, "master3", `docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' ${renamed.etcd}`);
      expect(st.stdout.trim()).to.equal("false no");
      const ls = await ssh(d, "master3", "ls -A /var/lib/etcd 2>/dev/null | wc -l; ls -d /var/lib/etcd.removed-*");
      const [count, archived] = ls.stdout.trim().split("\n");
      expect(count).to.equal("0");
      expect(archived).to.equal(r.outs.dataDirArchivedTo);
    });

    it("stops a crash-looping etcd container for good (RKE's etcd once its member is removed), keeping it renamed", async () => {
      await ssh(d, "node2", "docker run -d --name etcd --restart always rancher/hyperkube:placeholder /bin/sh -c 'exit 1' >/dev/null");
      await waitFor(async () => {
        const r = await ssh(d, "node2", "docker inspect -f '{{.RestartCount}}' etcd");
        return Number(r.stdout.trim()) >= 2;
      }, { timeoutMs: 60_000, what: "node2's etcd container to crash-loop" });
      const r = await cleanup.create({ host: hostProps(d, "node2"), cluster: clusterProps(d, voterEndpoints(d, ["master3"])), containers: ["etcd"], mode: "rename", archiveDataDir: false });
      const to = (r.outs.renamedContainers as Record<string, string>).etcd;
      const st = await ssh(d, "node2", `docker inspect -f '{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}' ${to}`);
      expect(st.stdout.trim()).to.equal("exited no");
      expect(await containerNames(d, "node2")).to.not.include("etcd");
      await ssh(d, "node2", `docker rm -f ${to} >/dev/null`);
    });

    it("read reports a container that reappeared", async () => {
      const created = await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voterEndpoints(d, ["master3"])) });
      expect(created.outs.alreadyAbsent).to.deep.equal(["etcd", "etcd-rolling-snapshots"]);
      await ssh(d, "master3", "docker run -d --name etcd rancher/hyperkube:placeholder /bin/sh -c 'sleep 3600'");
      const read = await cleanup.read("x", created.outs);
      expect(read.props.reappeared).to.deep.equal(["etcd"]);
      // Cleaned again as an update (not a replacement), so what the cleanup recorded about the containers stays.
      const diff = await cleanup.diff("x", read.props, created.outs);
      expect(diff.changes).to.equal(true);
      expect(diff.replaces).to.deep.equal([]);
      await ssh(d, "master3", "docker rm -f etcd");
    });
  });

  describe("EtcdLearner", () => {
    it("refuses a learner whose peer URL is on another host: clear error, no extra member", async () => {
      const before = await memberList(d, voterEndpoints(d, ["master3"]));
      const inputs = learnerInputs(d, { peerURL: "https://10.250.0.105:2380" });
      const c = await learner.check({}, inputs);
      expect((c.failures ?? []).map((f) => f.reason).join("\n")).to.match(/points at 10\.250\.0\.105, but the learner is started on host 10\.250\.0\.103/);
      const after = await memberList(d, voterEndpoints(d, ["master3"]));
      expect(after.map((m) => m.ID).sort()).to.deep.equal(before.map((m) => m.ID).sort());
    });

    it("refuses a certificate that does not name the host (TLS SAN mismatch) before any change", async () => {
      // master3 has only its own pair; point the learner at a certificate for another address.
      await ssh(d, "master3", "cp /etc/kubernetes/ssl/kube-ca.pem /tmp/ca.pem && mkdir -p /tmp/wrong && cp /etc/kubernetes/ssl/kube-ca.pem /tmp/wrong/ca.pem");
      const node2Cert = fs.readFileSync(`${d.dir}/pki/kube-etcd-10-250-0-105.pem`, "utf8");
      await ssh(d, "master3", `cat > /tmp/wrong/cert.pem <<'EOF'\n${node2Cert}EOF\ncp /etc/kubernetes/ssl/kube-etcd-10-250-0-103-key.pem /tmp/wrong/key.pem`);
      const before = await memberList(d, voterEndpoints(d, ["master3"]));
      const e = await rejects(learner.create(learnerInputs(d, { tls: { caFile: "/tmp/wrong/ca.pem", certFile: "/tmp/wrong/cert.pem", keyFile: "/tmp/wrong/key.pem" } })));
      expect(e.message).to.match(/TLS SAN mismatch: \/tmp\/wrong\/cert\.pem on 10\.250\.0\.103 does not name 10\.250\.0\.103/);
      expect((await memberList(d, voterEndpoints(d, ["master3"]))).length).to.equal(before.length);
      expect(await containerNames(d, "master3")).to.not.include("etcd-learner");
    });

    it("rolls back a learner that fails to start (member, container, data dir) and names the cause", async () => {
      const e = await rejects(learner.create(learnerInputs(d, { extraFlags: ["--no-such-flag=1"], timeoutMs: 30_000 })));
      expect(e.message).to.match(/learner learner1 on 10\.250\.0\.103 failed/);
      expect(e.message).to.match(/Likely cause: an etcd flag is not known/);
      expect(e.message).to.match(/From the learner's log:[\s\S]*no-such-flag/);
      expect(e.message).to.include("Rolled back");
      const members = await memberList(d, voterEndpoints(d, ["master3"]));
      expect(members.map((m) => m.name || "(unstarted)").sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
      expect(await containerNames(d, "master3")).to.not.include("etcd-learner");
    });

    it("adds and starts a 3.5 learner on master3 that catches up with the 3.4 voters (the corrected re-run converges)", async () => {
      const r = await learner.create(learnerInputs(d));
      expect(r.outs.isLearner).to.equal(true);
      expect(r.outs.started).to.equal(true);
      // Independent checks: etcdctl member list and endpoint status, docker over ssh.
      const members = await memberList(d, voterEndpoints(d, ["master3"]));
      const l = members.find((m) => m.name === "learner1");
      expect(l?.isLearner).to.equal(true);
      expect(l?.peerURLs).to.deep.equal([M3]);
      expect(await containerNames(d, "master3")).to.include("etcd-learner");
      const st = await waitFor(async () => {
        const [mine, leader] = await Promise.all([endpointStatus(d, M3_CLIENT), endpointStatus(d, d.etcd.endpoints[0])]);
        return mine.raftAppliedIndex === leader.raftAppliedIndex ? mine : undefined;
      }, { timeoutMs: 30_000, what: "the learner's applied index to equal the voters'" });
      expect(st.isLearner).to.equal(true);
      expect(st.version).to.match(/^3\.5\./);
      const got = await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "get", "/registry/before/seed", "--consistency=s", "--print-value-only"]);
      expect(got.stdout.trim()).to.equal("written-before");
    });

    it("an update of its flags restarts the container on the same data dir and waits for catch-up", async () => {
      const before = await memberList(d, voterEndpoints(d, ["master3"]));
      const id = before.find((m) => m.name === "learner1")?.ID;
      const olds = { ...learnerInputs(d), memberId: id };
      const r = await learner.update("learner-learner1", olds, learnerInputs(d, { extraFlags: ["--snapshot-count=5000"] }));
      expect(r.outs.started).to.equal(true);
      const args = await ssh(d, "master3", "docker inspect -f '{{json .Args}}' etcd-learner");
      expect(args.stdout).to.include("--snapshot-count=5000");
      const after = await memberList(d, voterEndpoints(d, ["master3"]));
      expect(after.find((m) => m.name === "learner1")?.ID).to.equal(id);
      expect(after.find((m) => m.name === "learner1")?.isLearner).to.equal(true);
    });

    it("read reports the learner's state; a second create is refused while the slot is taken", async () => {
      const read = await learner.read("learner-learner1", learnerInputs(d));
      expect(read.props.present).to.equal(true);
      expect(read.props.isLearner).to.equal(true);
      expect(read.props.containerRunning).to.equal(true);
      expect(read.props.lag).to.be.within(0, 100);
      expect(String(read.props.version)).to.match(/^3\.5\./);
      const e = await rejects(learner.create(learnerInputs(d, { memberName: "learner2", peerURL: "https://10.250.0.105:2380", clientURL: "https://10.250.0.105:2379", host: hostProps(d, "node2") })));
      expect(e.message).to.match(/already has 1 learner.*at most 1/);
    });
  });

  describe("EtcdLearnerPromotion", () => {
    it("promotes the caught-up learner to a voter", async () => {
      const r = await promotion.create({ cluster: clusterProps(d, voterEndpoints(d, ["master3"])), memberName: "learner1" });
      expect(r.outs.isVoter).to.equal(true);
      const m = (await memberList(d, voterEndpoints(d, ["master3"]))).find((x) => x.name === "learner1");
      expect(m?.isLearner ?? false).to.equal(false);
      const st = await endpointStatus(d, M3_CLIENT);
      expect(st.isLearner ?? false).to.equal(false);
    });

    it("deleting the learner resource of a promoted member leaves the voter, its container and its data (a delete never takes a voter out)", async () => {
      await learner.delete("learner-learner1", learnerInputs(d));
      const members = await memberList(d, voterEndpoints(d, ["master3"]));
      expect(members.map((m) => `${m.name}:${m.isLearner === true ? "learner" : "voter"}`).sort()).to.deep.equal(["etcd-master1:voter", "etcd-master2:voter", "etcd-node1:voter", "learner1:voter"]);
      const c = await ssh(d, "master3", "docker inspect -f '{{.State.Running}}' etcd-learner; ls /var/lib/etcd");
      expect(c.stdout.split("\n")[0]).to.equal("true");
      expect(c.stdout).to.include("member");
      const got = await etcdctl(d, [`--endpoints=${d.etcd.endpoints[0]}`, "get", "/registry/before/seed", "--print-value-only"]);
      expect(got.stdout.trim()).to.equal("written-before");
    });
  });
});
