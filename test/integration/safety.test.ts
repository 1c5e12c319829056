/**
 * Every destructive step proves its target (issue: safety), on the live
 * sandbox with master3's /var/lib/etcd on its own filesystem, as on real
 * nodes. The suite is ordered: it walks the seed on master3 (removal,
 * cleanup, learner, image change), and at each step first tries what a wrong
 * config or a wrong host would do. Each refusal is checked with etcdctl and
 * docker over OpenSSH: the member list, every container and the data dir are
 * exactly as before.
 */
import { expect } from "chai";
import { hostOf } from "../../provider/impl/common";
import type { Props } from "../../provider/impl/common";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as learner } from "../../provider/impl/learner";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { provider as restore } from "../../provider/impl/standaloneRestore";
import { withSsh } from "../../provider/connection/ssh";
import { readImageEtcdVersion, VERSION_CACHE_DIR } from "../../provider/impl/imageVersion";
import { sleep } from "../../provider/lib/time";
import { clusterProps, hostProps, learnerInputs as masterLearnerInputs, M3, M3_CLIENT, voterEndpoints } from "../support/fixtures";
import { endpointsHealthy, etcdctl, freshSandbox, memberList, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { rejection, waitFor } from "../support/wait";

/** What a refusal must leave exactly as it was: members, containers (name, image, state) and the data dir's listing. */
async function world(d: SandboxDescription, hosts: string[]): Promise<string> {
  const members = (await memberList(d, voterEndpoints(d, ["master3"]))).map((m) => `${m.ID} ${m.name} ${m.peerURLs.join(",")} ${m.isLearner === true}`).sort();
  const out = [members.join("\n")];
  for (const h of hosts) {
    const c = await ssh(d, h, "docker ps -a --format '{{.Names}} {{.Image}} {{.Label \"io.etcd-standby.run\"}}' | sort; ls -A /var/lib/etcd 2>/dev/null | sort");
    out.push(`${h}:\n${c.stdout}`);
  }
  return out.join("\n");
}

describe("safety: every destructive step proves its target (ordered)", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  const voters = (): string[] => voterEndpoints(d, ["master3"]);
  const learnerInputs = (overrides: Props = {}): Props => masterLearnerInputs(d, { memberName: "learner-master3", ...overrides });

  before(async () => {
    d = await freshSandbox({ ETCD_STANDBY_ETCD_DISKS: "master3" });
  });
  after(async () => {
    await sandbox(["down"]);
  });

  it("the sandbox gives master3 a dedicated etcd disk (a mount point with lost+found)", async () => {
    expect(d.hosts.find((h) => h.name === "master3")).to.have.property("etcdDisk", true);
    const r = await ssh(d, "master3", "mountpoint -q /var/lib/etcd && echo mounted; ls -A /var/lib/etcd");
    expect(r.stdout).to.match(/^mounted/).and.match(/lost\+found/).and.match(/member/);
  });

  it("EtcdMemberRemoval refuses another voter's name for master3 (etcd-node1, site A's voter), changing nothing", async () => {
    const before = await world(d, ["master3", "node1"]);
    const e = await rejection(removal.create({ cluster: clusterProps(d), memberName: "etcd-node1", peerURL: M3 }));
    expect(e.message).to.match(/refusing to remove etcd-node1 \/ https:\/\/10\.250\.0\.103:2380/);
    expect(e.message).to.match(/config says member etcd-node1 has peer URL https:\/\/10\.250\.0\.103:2380/);
    expect(e.message).to.match(/voter etcd-node1 \([0-9a-f]{16}\) at https:\/\/10\.250\.0\.104:2380/);
    expect(e.message).to.match(/Next: /);
    expect(await world(d, ["master3", "node1"])).to.equal(before);
  });

  it("EtcdMemberRemoval removes master3's voter when name and peer URL agree", async () => {
    const out = await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3", peerURL: M3 });
    expect(out.outs.alreadyAbsent).to.equal(false);
    expect((await memberList(d, voters())).map((m) => m.name)).to.not.include("etcd-master3");
  });

  it("RkeContainerCleanup resolves a member's host name on the host: https://master3:2380 is master3, so it refuses", async () => {
    await etcdctl(d, [`--endpoints=${voters().join(",")}`, "member", "add", "by-name", "--learner", "--peer-urls=https://master3:2380"]);
    try {
      const before = await world(d, ["master3"]);
      const e = await rejection(cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voters()) }));
      expect(e.message).to.match(/refusing to clean 10\.250\.0\.103: member \(unstarted\) \([0-9a-f]{16}, https:\/\/master3:2380\) of the cluster still has a peer URL on this host/);
      expect(e.message).to.match(/nothing was changed/);
      expect(await world(d, ["master3"])).to.equal(before);
    } finally {
      const added = (await memberList(d, voters())).find((m) => m.peerURLs.includes("https://master3:2380"));
      if (added) await etcdctl(d, [`--endpoints=${voters().join(",")}`, "member", "remove", added.ID]);
    }
  });

  it("RkeContainerCleanup refuses an `etcd` container of another cluster (a wrong address), and leaves it running", async () => {
    // node2 runs an etcd of its own cluster under RKE's name.
    await ssh(d, "node2", `docker run -d --name etcd --net=host ${d.etcd.images["v3.4"]} /usr/local/bin/etcd --name=foreign --data-dir=/tmp/foreign --listen-client-urls=http://127.0.0.1:12379 --advertise-client-urls=http://127.0.0.1:12379 --listen-peer-urls=http://10.250.0.105:12380 --initial-advertise-peer-urls=http://10.250.0.105:12380 --initial-cluster=foreign=http://10.250.0.105:12380 --initial-cluster-token=foreign`);
    try {
      await waitFor(async () => (await ssh(d, "node2", "docker inspect -f '{{.State.Running}}' etcd")).stdout.trim() === "true", { timeoutMs: 20_000, what: "the foreign etcd" });
      const before = await world(d, ["node2"]);
      const e = await rejection(cleanup.create({ host: hostProps(d, "node2"), cluster: clusterProps(d, voters()) }));
      expect(e.message).to.match(/container etcd runs an etcd \(foreign, --initial-cluster=foreign=http:\/\/10\.250\.0\.105:12380\) that names no current member of this cluster/);
      expect(e.message).to.match(/Next: check the host's address/);
      expect(await world(d, ["node2"])).to.equal(before);
      expect((await ssh(d, "node2", "docker inspect -f '{{.State.Running}}' etcd")).stdout.trim()).to.equal("true");
    } finally {
      await ssh(d, "node2", "docker rm -f etcd", { allowFailure: true });
    }
  });

  it("RkeContainerCleanup on a dedicated disk archives inside it (no `Device or resource busy`), the mount intact", async () => {
    const out = await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voters()), ignoreMembers: ["learner-master3"] });
    expect(out.outs.dataDirArchivedTo).to.match(/^\/var\/lib\/etcd\/\.etcd-standby-etcd\.removed-\d{8}T\d{6}Z$/);
    const r = await ssh(d, "master3", "mountpoint -q /var/lib/etcd && echo mounted; ls -A /var/lib/etcd; docker ps -a --format '{{.Names}}'");
    expect(r.stdout).to.match(/^mounted/);
    expect(r.stdout).to.match(/\.etcd-standby-etcd\.removed-/).and.match(/lost\+found/);
    expect(r.stdout).to.not.match(/^member$/m);
    expect(r.stdout).to.not.match(/^etcd(-rolling-snapshots)?$/m);
    const archived = await ssh(d, "master3", `ls ${out.outs.dataDirArchivedTo as string}`);
    expect(archived.stdout.trim()).to.equal("member");
  });

  it("EtcdLearner check refuses extra flags that override what it sets or weaken TLS, auth or membership", async () => {
    const hostile = ["--client-cert-auth=false", "--listen-client-urls=http://0.0.0.0:2379", "--name=etcd-node1", "--force-new-cluster", "--initial-cluster-state=new", "--auto-tls"];
    const r = await learner.check({}, learnerInputs({ extraFlags: hostile }));
    const text = (r.failures ?? []).map((f) => f.reason).join("\n");
    for (const f of hostile) expect(text).to.contain(f.split("=")[0]);
    const ok = await learner.check({}, learnerInputs({ extraFlags: ["--log-level=info", "--quota-backend-bytes=4294967296"] }));
    expect(ok.failures ?? []).to.deep.equal([]);
  });

  it("EtcdLearner refuses a 3.6 image beside 3.4 voters before any change; every voter stays healthy for 30 s", async () => {
    const before = await world(d, ["master3"]);
    const e = await rejection(learner.create(learnerInputs({ image: d.etcd.images["v3.6"] })));
    expect(e.message).to.match(/refusing learner learner-master3 on 10\.250\.0\.103: image rancher\/mirrored-coreos-etcd:v3\.6\.\d+ runs etcd 3\.6\.\d+/);
    expect(e.message).to.match(/cluster version 3\.4/).and.match(/etcd-master1 runs etcd 3\.4\.23/).and.match(/Nothing was changed/);
    expect(e.message).to.match(/Next: use an image of etcd 3\.4/);
    expect(await world(d, ["master3"])).to.equal(before);
    for (let end = Date.now() + 30_000; Date.now() < end;) {
      expect(await endpointsHealthy(d, voters()), "every voter healthy").to.equal(true);
      await sleep(2000);
    }
  });

  it("an image's version is kept on its host under the image's ID: read again with no container; its tag moved to 3.6 is read afresh and refused", async () => {
    const moved = "rancher/mirrored-coreos-etcd:moved";
    const on = async (cmd: string): Promise<string> => (await ssh(d, "master3", cmd)).stdout.trim();
    const read = (): ReturnType<typeof readImageEtcdVersion> =>
      withSsh(hostOf({ host: hostProps(d, "master3") }), (s) => readImageEtcdVersion(s, moved, "/usr/local/bin/etcd", { name: "etcd-standby-test-version", labels: {} }));
    // Docker's own record of the containers created between two moments of the host's clock.
    const created = async (since: string, until: string): Promise<string[]> =>
      (await on(`docker events --since ${since} --until ${until} --filter type=container --filter event=create --format '{{.Actor.Attributes.name}}'`)).split("\n").filter(Boolean);
    await on(`docker tag ${d.etcd.images["v3.5"]} ${moved}`);
    const id35 = await on(`docker image inspect -f '{{.Id}}' ${moved}`);
    const t0 = await on("date +%s.%N");
    const first = await read();
    const t1 = await on("date +%s.%N");
    const second = await read();
    const t2 = await on("date +%s.%N");
    for (const r of [first, second]) expect(r.present && r.version.text).to.match(/^3\.5\.\d+$/);
    expect(await created(t0, t1)).to.deep.equal(["etcd-standby-test-version"]);
    expect(await created(t1, t2), "the second read starts no container").to.deep.equal([]);
    expect(await on(`cat ${VERSION_CACHE_DIR}/${id35.replace(/^sha256:/, "")}`)).to.match(/^\/usr\/local\/bin\/etcd\netcd Version: 3\.5\.\d+/);
    // The tag now names the 3.6 image: a new ID, so a new read, and the learner is refused as 3.6, changing nothing.
    await on(`docker tag ${d.etcd.images["v3.6"]} ${moved}`);
    expect(await on(`docker image inspect -f '{{.Id}}' ${moved}`)).to.not.equal(id35);
    const before = await world(d, ["master3"]);
    const e = await rejection(learner.create(learnerInputs({ image: moved })));
    expect(e.message).to.match(/image rancher\/mirrored-coreos-etcd:moved runs etcd 3\.6\.\d+/).and.match(/Nothing was changed/);
    expect(await world(d, ["master3"])).to.equal(before);
    await on(`docker rmi ${moved} >/dev/null`);
  });

  it("EtcdLearner refuses an image that is not on the host (never pulled: docker run --pull never), naming it, before any change", async () => {
    const before = await world(d, ["master3"]);
    const absent = d.etcd.images["v3.5"].replace(/:v[\d.]+$/, ":v3.5.999");
    const e = await rejection(learner.create(learnerInputs({ image: absent })));
    expect(e.message).to.include(`image ${absent} is not present on 10.250.0.103`);
    expect(e.message).to.match(/load it there first/);
    expect(await world(d, ["master3"])).to.equal(before);
    // Docker's own answer, read independently: the image is still not there (nothing pulled it).
    expect((await ssh(d, "master3", `docker image inspect ${absent}`, { allowFailure: true })).code).to.not.equal(0);
  });

  let learnerOuts: Props = {};

  it("EtcdLearner starts on the dedicated disk (the archive folder and lost+found do not make it non-empty)", async () => {
    const out = await learner.create(learnerInputs());
    learnerOuts = out.outs;
    expect(out.outs.isLearner).to.equal(true);
    const m = (await memberList(d, voters())).find((x) => x.name === "learner-master3");
    expect(m?.isLearner).to.equal(true);
    expect((await ssh(d, "master3", "ls -A /var/lib/etcd")).stdout).to.match(/member/).and.match(/\.etcd-standby-etcd\.removed-/);
  });

  it("a failed image change is rolled back: the old container (old image) runs again, same member, caught up", async () => {
    // An image whose etcd says 3.5.17 but cannot start a member: it passes the version check and fails after the switch.
    await ssh(d, "master3", [
      "docker rm -f broken-build >/dev/null 2>&1;",
      `docker run --name broken-build --net=none --entrypoint /bin/sh ${d.etcd.images["v3.5"]} -c`,
      `'mv /usr/local/bin/etcd /usr/local/bin/etcd.real && busybox printf "%s\\n" "#!/bin/sh" "[ \\"\\$1\\" = --version ] && exec /usr/local/bin/etcd.real --version" "echo broken etcd >&2; exit 1" > /usr/local/bin/etcd && busybox chmod +x /usr/local/bin/etcd'`,
      "&& docker commit broken-build rancher/mirrored-coreos-etcd:broken >/dev/null && docker rm broken-build >/dev/null",
    ].join(" "));
    const olds = learnerOuts;
    const memberBefore = (await memberList(d, voters())).find((x) => x.name === "learner-master3")?.ID;
    const e = await rejection(learner.update("learner-learner-master3", olds, learnerInputs({ image: "rancher/mirrored-coreos-etcd:broken", timeoutMs: 20_000 })));
    expect(e.message).to.match(/did not come back with the new settings \(image rancher\/mirrored-coreos-etcd:broken\)/);
    expect(e.message).to.match(/Rolled back: the old container \(image rancher\/mirrored-coreos-etcd:v3\.5\.\d+\) runs again and is caught up/);
    const r = await ssh(d, "master3", "docker inspect -f '{{.Config.Image}} {{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' etcd-learner; docker ps -a --format '{{.Names}}'");
    expect(r.stdout.split("\n")[0]).to.match(/^rancher\/mirrored-coreos-etcd:v3\.5\.\d+ true always$/);
    expect(r.stdout).to.not.match(/etcd-learner-previous/);
    const after = (await memberList(d, voters())).find((x) => x.name === "learner-master3");
    expect(after?.ID).to.equal(memberBefore);
    expect(after?.isLearner).to.equal(true);
  });

  it("the failover guard asks the learner who the voters are: a mistyped site-A address in config still refuses while site A answers", async () => {
    const before = await world(d, ["master3"]);
    const e = await rejection(restore.create({
      host: hostProps(d, "master3"),
      cluster: clusterProps(d, voters()),
      learner: { memberName: "learner-master3", peerURL: M3, clientURL: M3_CLIENT },
      image: d.etcd.images["v3.5"],
      oldVoterEndpoints: ["https://10.250.0.111:2379"], // a typo for .101; the others left out
      timeoutMs: 60_000,
    }));
    console.log(`      guard: ${e.message.split("\n")[0]}`);
    expect(e.message).to.match(/refusing to restore: site A may still be alive/);
    // The learner named the real voters; they were probed and answer.
    expect(e.message).to.match(/old voter\(s\) [^;]*https:\/\/10\.250\.0\.101:2379[^;]* still answer status calls/);
    // And the learner still hears from the live leader.
    expect(e.message).to.match(/the learner still hears from peer\(s\) [0-9a-f]+/);
    expect(await world(d, ["master3"])).to.equal(before);
  });
});
