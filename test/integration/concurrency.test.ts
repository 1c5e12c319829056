/**
 * One writer at a time, across backends: two `pulumi up` runs from two
 * workspaces (separate file:// backends, as two clones would have) declare
 * the same learner on master3 at the same time. With 100 ms each way between
 * the sites, the first run's create holds the cluster's lock for seconds;
 * the second waits for it, names the holder, then adopts the learner the
 * first one started. Neither rolls back the other's work: one learner, one
 * container, both stacks agree on its member ID. (Without the lock the
 * second `member add --learner` is refused, and its rollback used to remove
 * the first run's container.)
 */
import { expect } from "chai";
import { provider as cleanup } from "../../provider/impl/containerCleanup";
import { provider as removal } from "../../provider/impl/memberRemoval";
import { clusterProps, hostProps, voterEndpoints } from "../support/fixtures";
import { initSandboxStack, programWorkspace, pulumi, removeWorkspace, Workspace } from "../support/pulumi";
import { etcdctl, freshSandbox, memberList, sandbox, SandboxDescription, ssh } from "../support/sandbox";

const PROGRAM = `
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const esb = require("./dist/provider");
const config = new pulumi.Config();
const d = JSON.parse(fs.readFileSync(config.require("sandbox"), "utf8"));
const h = d.hosts.find((x) => x.name === "master3");
const voters = d.hosts.filter((x) => x.roles.includes("etcd") && x.name !== "master3").map((x) => "https://" + x.address + ":2379");
const learner = new esb.EtcdLearner("learner-master3", {
  cluster: { endpoints: voters, caPem: fs.readFileSync(d.etcd.caFile, "utf8"), certPem: fs.readFileSync(d.etcd.certFile, "utf8"), keyPem: config.requireSecret("etcdKey"), lockWaitMs: 180000 },
  host: { host: h.address, user: d.ssh.user, privateKey: config.requireSecret("sshKey"), hostPublicKey: h.hostPublicKey },
  memberName: "learner-master3",
  peerURL: "https://" + h.address + ":2380", clientURL: "https://" + h.address + ":2379",
  image: d.etcd.images["v3.5"], timeoutMs: 180000,
});
exports.learnerId = learner.memberId;
`;

describe("two runs from two backends at once: one writer at a time (the cluster's lock)", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  const wss: Workspace[] = [];

  before(async () => {
    d = await freshSandbox();
    await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3", peerURL: "https://10.250.0.103:2380" });
    await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, voterEndpoints(d, ["master3"])) });
    for (const name of ["clone-a", "clone-b"]) {
      const ws = programWorkspace(name, PROGRAM, { linkDist: true });
      await initSandboxStack(ws, d);
      wss.push(ws);
    }
    await sandbox(["latency", "100"]);
  });
  after(async () => {
    for (const ws of wss) removeWorkspace(ws);
    await sandbox(["down"]);
  });

  it("both converge: the second waits for the first's lock, then adopts its learner; nothing is rolled back", async () => {
    const runs = await Promise.all(wss.map((ws) => pulumi(ws, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000, allowFailure: true })));
    const text = runs.map((r) => r.stdout + r.stderr);
    for (const [i, r] of runs.entries()) expect(r.code, `run ${i} failed:\n${text[i].slice(-3000)}`).to.equal(0);
    expect(text.join("\n")).to.match(/waits for the cluster's lock, held by \{"run":"[0-9a-f]{12}","operation":"EtcdLearner learner-master3 on 10\.250\.0\.103"/);
    expect(text.join("\n")).to.match(/adopting learner [0-9a-f]{16}/);
    expect(text.join("\n")).to.not.match(/Rolled back|rollback/i);
    const learners = (await memberList(d, voterEndpoints(d, ["master3"]))).filter((m) => m.isLearner);
    expect(learners.map((m) => m.name)).to.deep.equal(["learner-master3"]);
    const ids = await Promise.all(wss.map(async (ws) => (await pulumi(ws, ["stack", "output", "learnerId"])).stdout.trim()));
    expect(ids).to.deep.equal([learners[0].ID, learners[0].ID]);
    const ps = await ssh(d, "master3", "docker ps -a --format '{{.Names}} {{.State}}'");
    expect(ps.stdout.trim().split("\n").filter((l) => l.startsWith("etcd-learner"))).to.deep.equal(["etcd-learner running"]);
  });

  it("the lock is gone afterwards (released, outside /registry/)", async () => {
    const keys = await etcdctl(d, [`--endpoints=${voterEndpoints(d, ["master3"]).join(",")}`, "get", "/etcd-standby/", "--prefix", "--keys-only"]);
    expect(keys.stdout.trim()).to.equal("");
  });
});
