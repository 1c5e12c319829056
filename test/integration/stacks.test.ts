/**
 * The stack program on the sandbox with the real engine: the planned steps
 * in preview, convergence to learner-standby, a no-op second up, drift seen
 * by refresh and repaired, the round trip learner-standby -> stretched ->
 * learner-standby with no data lost, the CI preview summary, and config
 * mistakes refused at preview. Checked with etcdctl and docker over ssh.
 * Ordered: each test starts where the previous one left the stack (one
 * sandbox, one stack for the whole file); counts are taken within each test.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { run } from "../support/exec";
import { backendText, pulumi, removeWorkspace, sandboxStackWorkspace, Workspace } from "../support/pulumi";
import { describe as describeSandbox, etcdctl, memberList, ROOT, sandbox, SandboxDescription, ssh } from "../support/sandbox";
import { waitFor } from "../support/wait";

describe("stack program on the sandbox (real engine, ordered)", function () {
  this.timeout(1_200_000);
  let d: SandboxDescription;
  let ws: Workspace;
  let etcdKey: string;
  const transcript = { text: "" };
  const siteA = (): string[] => d.etcd.endpoints.filter((e) => !e.includes(".103:"));

  async function up(...extra: string[]): Promise<string> {
    const r = await pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox", ...extra], { timeoutMs: 900_000 });
    transcript.text += r.stdout + r.stderr;
    return r.stdout;
  }

  /** The keys under /registry/configmaps/default/ through `endpoint` (serializable on a learner). */
  async function configMaps(endpoint: string, consistency: "l" | "s" = "l"): Promise<string[]> {
    const keys = await etcdctl(d, [`--endpoints=${endpoint}`, "get", "/registry/configmaps/default/", "--prefix", "--keys-only", `--consistency=${consistency}`]);
    return keys.stdout.split("\n").filter(Boolean);
  }

  async function learnerState(): Promise<{ voters: string[]; learner?: { name: string; isLearner: boolean } }> {
    const ms = await memberList(d, siteA());
    const l = ms.find((m) => m.name === "learner-master3");
    return { voters: ms.filter((m) => !m.isLearner).map((m) => m.name).sort(), learner: l ? { name: l.name, isLearner: l.isLearner === true } : undefined };
  }

  before(async () => {
    await sandbox(["down"]);
    await sandbox(["up"]);
    d = describeSandbox();
    await waitFor(async () => (await memberList(d)).every((m) => m.name !== ""), { timeoutMs: 60_000, what: "four started voters" });
    for (let i = 0; i < 50; i++) await etcdctl(d, [`--endpoints=${d.etcd.endpoints[0]}`, "put", `/registry/configmaps/default/before-${i}`, `value-${i}`]);
    etcdKey = fs.readFileSync(d.etcd.keyFile, "utf8");
    ws = await sandboxStackWorkspace("stacks", d.etcd.keyFile);
  });
  after(async () => {
    if (ws) removeWorkspace(ws);
    await sandbox(["down"]);
  });

  it("preview --diff lists exactly the planned steps, in the seed's order", async () => {
    const r = await pulumi(ws, ["preview", "--diff", "--stack", "sandbox"]);
    transcript.text += r.stdout;
    const creates = [...r.stdout.matchAll(/\+ pulumi-nodejs:dynamic\/etcdstandby:(\w+): \(create\)/g)].map((m) => m[1]);
    // every kube-apiserver at the voters first (site B's, then site A's, one at a time), then the seed's three steps
    expect(creates).to.deep.equal(["RkeContainerRepoint", "RkeContainerRepoint", "RkeContainerRepoint", "EtcdMemberRemoval", "RkeContainerCleanup", "EtcdLearner"]);
    expect([...r.stdout.matchAll(/urn=urn:pulumi:sandbox::etcd-standby::pulumi-nodejs:dynamic\/etcdstandby:RkeContainerRepoint::(\S+)\]/g)].map((m) => m[1])).to.deep.equal(["repoint-apiserver-master3", "repoint-apiserver-master1", "repoint-apiserver-master2"]);
    expect(r.stdout).to.include('memberName: "etcd-master3"');
    expect(r.stdout).to.include('memberName   : "learner-master3"');
    // the six resources, plus the stack itself on its first update
    expect(r.stdout).to.match(/\+ 7 to create/);
  });

  it("up converges to learner-standby: three voters and a started learner on master3", async () => {
    await up();
    const st = await learnerState();
    expect(st.voters).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    expect(st.learner?.isLearner).to.equal(true);
    const ps = await ssh(d, "master3", "docker ps --format '{{.Names}}'");
    expect(ps.stdout.split("\n")).to.include("etcd-learner");
    expect(ps.stdout.split("\n")).to.not.include("etcd");
    const out = await pulumi(ws, ["stack", "output", "--json", "--stack", "sandbox"]);
    const o = JSON.parse(out.stdout) as { endpoints: string[]; members: { name: string; role: string }[] };
    expect(o.endpoints).to.deep.equal(siteA());
    expect(o.members.map((m) => `${m.name}:${m.role}`)).to.include("learner-master3:learner");
  });

  it("a second up changes nothing, and preview:ci agrees", async () => {
    const r = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(r.code).to.equal(0);
    const ci = await run(["node", path.join(ROOT, "dist", "scripts", "preview-ci.js"), "--stack", "sandbox", "--expect-no-changes"], { cwd: ws.dir, env: ws.env });
    expect(ci.stdout).to.include("No changes");
  });

  it("drift: a learner removed with etcdctl is seen by refresh and brought back by up", async () => {
    const before = (await memberList(d, siteA())).find((m) => m.name === "learner-master3");
    await etcdctl(d, [`--endpoints=${siteA()[0]}`, "member", "remove", before?.ID ?? ""]);
    const refresh = await pulumi(ws, ["refresh", "--yes", "--stack", "sandbox"]);
    transcript.text += refresh.stdout;
    expect(refresh.stdout).to.match(/learner-master3/);
    const ci = await run(["node", path.join(ROOT, "dist", "scripts", "preview-ci.js"), "--stack", "sandbox", "--expect-no-changes"], { cwd: ws.dir, env: ws.env, allowFailure: true });
    expect(ci.code).to.equal(2);
    expect(ci.stdout).to.match(/\| learner-master3 \| EtcdLearner \| replace/);
    await up();
    const after = (await memberList(d, siteA())).find((m) => m.name === "learner-master3");
    expect(after?.isLearner).to.equal(true);
    expect(after?.ID).to.not.equal(before?.ID);
  });

  it("drift: an etcd container re-created on master3 by hand shows the cleanup again; up removes it and keeps the learner", async () => {
    await ssh(d, "master3", "docker run -d --name etcd rancher/hyperkube:placeholder /bin/sh -c 'sleep 3600'");
    const r = await pulumi(ws, ["preview", "--refresh", "--diff", "--stack", "sandbox"]);
    expect(r.stdout).to.match(/etcdstandby:RkeContainerCleanup: \(update\)/);
    await up("--refresh");
    const ps = await ssh(d, "master3", "docker ps -a --format '{{.Names}}'");
    expect(ps.stdout.split("\n")).to.not.include("etcd");
    expect(ps.stdout.split("\n")).to.include("etcd-learner");
    expect((await learnerState()).learner?.isLearner).to.equal(true);
  });

  it("learner-standby -> stretched -> learner-standby round-trips with no data lost", async () => {
    const before = await configMaps(siteA()[0]);
    await pulumi(ws, ["config", "set", "topology.mode", "stretched", "--stack", "sandbox"]);
    await up();
    let st = await learnerState();
    expect(st.voters).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1", "learner-master3"]);
    await etcdctl(d, [`--endpoints=${siteA()[0]}`, "put", "/registry/configmaps/default/while-stretched", "yes"]);
    await pulumi(ws, ["config", "set", "topology.mode", "learner-standby", "--stack", "sandbox"]);
    await up();
    st = await learnerState();
    expect(st.voters).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    expect(st.learner?.isLearner).to.equal(true);
    expect(await configMaps(siteA()[0]), "every key from before, and the one written while stretched").to.deep.equal([...before, "/registry/configmaps/default/while-stretched"].sort());
    const onLearner = await etcdctl(d, ["--endpoints=https://10.250.0.103:2379", "get", "/registry/configmaps/default/while-stretched", "--consistency=s", "--print-value-only"]);
    expect(onLearner.stdout.trim()).to.equal("yes");
    const r = await pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"]);
    expect(r.code).to.equal(0);
  });

  it("refuses config mistakes at preview with one message, changing nothing", async () => {
    const before = await memberList(d, siteA());
    await pulumi(ws, ["config", "set", "--path", "topology.learners[0]", "master1", "--stack", "sandbox"]);
    await pulumi(ws, ["config", "set", "--path", "etcd.learnerImage", "Not An Image", "--stack", "sandbox"]);
    const r = await pulumi(ws, ["preview", "--stack", "sandbox"], { allowFailure: true });
    expect(r.code).to.not.equal(0);
    const all = r.stdout + r.stderr;
    expect(all).to.match(/the stack config has 2 problems/);
    expect(all).to.match(/learners names master1 in site A/);
    expect(all).to.match(/learnerImage "Not An Image"/);
    await pulumi(ws, ["config", "rm", "--path", "topology.learners", "--stack", "sandbox"]);
    await pulumi(ws, ["config", "set", "--path", "etcd.learnerImage", d.etcd.images["v3.5"], "--stack", "sandbox"]);
    expect((await memberList(d, siteA())).map((m) => m.ID).sort()).to.deep.equal(before.map((m) => m.ID).sort());
  });

  it("failover mode: with site A powered off, up makes site B a writable one-member cluster holding every key", async () => {
    await etcdctl(d, [`--endpoints=${siteA()[0]}`, "put", "/registry/configmaps/default/last-before-cut", "yes"]);
    await waitFor(async () => {
      const r = await etcdctl(d, ["--endpoints=https://10.250.0.103:2379", "get", "/registry/configmaps/default/last-before-cut", "--consistency=s", "--print-value-only"], { allowFailure: true });
      return r.stdout.trim() === "yes";
    }, { timeoutMs: 30_000, what: "the learner to apply the last key" });
    const beforeCut = await configMaps(siteA()[0]);
    await sandbox(["power-off", "A"]);
    await pulumi(ws, ["config", "set", "topology.mode", "failover", "--stack", "sandbox"]);
    const out = await up();
    expect(out).to.match(/EtcdStandaloneRestore/);
    const ms = await memberList(d, ["https://10.250.0.103:2379"]);
    expect(ms.map((m) => m.name)).to.deep.equal(["new-cluster"]);
    expect(await configMaps("https://10.250.0.103:2379"), "every key site A had at the cut").to.deep.equal(beforeCut);
    await etcdctl(d, ["--endpoints=https://10.250.0.103:2379", "put", "/registry/configmaps/default/after-failover", "yes"]);
    const o = JSON.parse((await pulumi(ws, ["stack", "output", "--json", "--stack", "sandbox"])).stdout) as { endpoints: string[]; failoverReport: { dataLossWindow: number } };
    expect(o.endpoints).to.deep.equal(["https://10.250.0.103:2379"]);
    expect(o.failoverReport.dataLossWindow).to.equal(0);
    // A second preview in failover mode needs no site A, and shows only the fences still owed to it (site A is off).
    const again = await pulumi(ws, ["preview", "--diff", "--stack", "sandbox"]);
    const steps = [...again.stdout.matchAll(/([~+-]) pulumi-nodejs:dynamic\/etcdstandby:(\w+): \((\w+)\)/g)].map((m) => `${m[2]}:${m[3]}`);
    expect(steps.length).to.be.greaterThan(0);
    expect([...new Set(steps)]).to.deep.equal(["SiteFence:update"]);
  });

  it("never shows the etcd key or the SSH key in plaintext in the state or the output", () => {
    const lines = [...etcdKey.split("\n"), ...fs.readFileSync(d.ssh.privateKeyFile, "utf8").split("\n")].filter((l) => l.length > 40 && !l.startsWith("-----"));
    const state = backendText(ws);
    for (const l of lines) {
      expect(state.includes(l), "state").to.equal(false);
      expect(transcript.text.includes(l), "output").to.equal(false);
    }
  });
});
