/**
 * The resources under the real Pulumi engine: a tiny stack walks the seed
 * (removal, cleanup, learner), a second up changes nothing, an out-of-band
 * removal of the learner is seen by refresh and repaired by up, and destroy
 * removes the learner. Secrets (TLS key, SSH key) never appear in the state
 * file or in the engine's output.
 */
import { expect } from "chai";
import * as fs from "fs";
import { backendText, initSandboxStack, programWorkspace, pulumi, removeWorkspace, Workspace } from "../support/pulumi";
import { etcdctl, freshSandbox, memberList, sandbox, SandboxDescription, ssh } from "../support/sandbox";

const PROGRAM = `
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const esb = require("./dist/provider");
const config = new pulumi.Config();
const d = JSON.parse(fs.readFileSync(config.require("sandbox"), "utf8"));
const h = d.hosts.find((x) => x.name === "master3");
const voters = d.hosts.filter((x) => x.roles.includes("etcd") && x.name !== "master3").map((x) => "https://" + x.address + ":2379");
const cluster = {
  endpoints: voters,
  caPem: fs.readFileSync(d.etcd.caFile, "utf8"),
  certPem: fs.readFileSync(d.etcd.certFile, "utf8"),
  keyPem: config.requireSecret("etcdKey"),
};
const host = { host: h.address, user: d.ssh.user, privateKey: config.requireSecret("sshKey"), hostPublicKey: h.hostPublicKey };
const removal = new esb.EtcdMemberRemoval("remove-master3", { cluster, memberName: "etcd-master3" });
const cleanup = new esb.RkeContainerCleanup("clean-master3", { cluster, host }, { dependsOn: [removal] });
const learner = new esb.EtcdLearner("learner-master3", {
  cluster, host, memberName: "learner1",
  peerURL: "https://" + h.address + ":2380", clientURL: "https://" + h.address + ":2379",
  image: d.etcd.images["v3.5"], timeoutMs: 120000,
}, { dependsOn: [cleanup] });
exports.learnerId = learner.memberId;
exports.learnerLag = learner.lag;
`;

describe("resources under the real Pulumi engine (pulumi up / refresh / destroy)", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  let ws: Workspace;
  let etcdKey: string;
  let sshKey: string;

  before(async () => {
    d = await freshSandbox();
    // The provider loads its implementation from dist/ under the project root.
    ws = programWorkspace("resources", PROGRAM, { linkDist: true });
    etcdKey = fs.readFileSync(d.etcd.keyFile, "utf8");
    sshKey = fs.readFileSync(d.ssh.privateKeyFile, "utf8");
    await initSandboxStack(ws, d);
  });
  after(async () => {
    removeWorkspace(ws);
    await sandbox(["down"]);
  });

  const keyLines = (pem: string): string[] => pem.split("\n").filter((l) => l.length > 40 && !l.startsWith("-----"));
  const output = { text: "" };

  it("pulumi up converges master3 from voter to a started learner", async () => {
    const r = await pulumi(ws, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000 });
    output.text += r.stdout + r.stderr;
    const members = await memberList(d, d.etcd.endpoints.filter((e) => !e.includes(".103:")));
    expect(members.filter((m) => !m.isLearner).map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    const l = members.find((m) => m.name === "learner1");
    expect(l?.isLearner).to.equal(true);
    const ps = await ssh(d, "master3", "docker ps --format '{{.Names}}'");
    expect(ps.stdout).to.include("etcd-learner");
    expect(ps.stdout.split("\n")).to.not.include("etcd");
    const out = await pulumi(ws, ["stack", "output", "learnerId"]);
    expect(out.stdout.trim()).to.equal(l?.ID);
  });

  it("a second preview shows no changes", async () => {
    const r = await pulumi(ws, ["preview", "--expect-no-changes", "--diff"]);
    output.text += r.stdout + r.stderr;
    expect(r.code).to.equal(0);
  });

  it("refresh sees a learner removed behind Pulumi's back, and up brings it back", async () => {
    const before = (await memberList(d, d.etcd.endpoints.filter((e) => !e.includes(".103:")))).find((m) => m.name === "learner1");
    await etcdctl(d, [`--endpoints=${d.etcd.endpoints[0]}`, "member", "remove", before?.ID ?? ""]);
    const refresh = await pulumi(ws, ["refresh", "--yes", "--diff"]);
    output.text += refresh.stdout + refresh.stderr;
    expect(refresh.stdout).to.match(/present\s*:\s*true\s*=>\s*false|~\s*present/);
    const preview = await pulumi(ws, ["preview", "--expect-no-changes"], { allowFailure: true });
    expect(preview.code).to.not.equal(0);
    expect(preview.stdout).to.match(/replace/);
    const up = await pulumi(ws, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000 });
    output.text += up.stdout + up.stderr;
    const after = (await memberList(d, d.etcd.endpoints.filter((e) => !e.includes(".103:")))).find((m) => m.name === "learner1");
    expect(after?.isLearner).to.equal(true);
    expect(after?.ID).to.not.equal(before?.ID);
  });

  it("never writes the TLS key or the SSH key in plaintext to the state or the output", () => {
    const state = backendText(ws);
    for (const line of [...keyLines(etcdKey), ...keyLines(sshKey)]) {
      expect(state.includes(line), "state contains key material").to.equal(false);
      expect(output.text.includes(line), "output contains key material").to.equal(false);
    }
    expect(state).to.include("learner1");
  });

  it("destroy removes the learner, and leaves the removal in place", async () => {
    const r = await pulumi(ws, ["destroy", "--yes", "--skip-preview"], { timeoutMs: 600_000 });
    output.text += r.stdout + r.stderr;
    const members = await memberList(d, d.etcd.endpoints.filter((e) => !e.includes(".103:")));
    expect(members.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    const ps = await ssh(d, "master3", "docker ps -a --format '{{.Names}}'");
    expect(ps.stdout).to.not.include("etcd-learner");
  });
});
