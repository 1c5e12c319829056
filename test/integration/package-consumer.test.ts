/**
 * etcd-standby as a package: `npm pack` of this build, installed from the
 * tarball into a copy of examples/consumer (its own package.json and
 * node_modules, nothing linked to this checkout), compiled with its own tsc
 * against the package's types, and run by the real engine on the sandbox:
 * preview, up, refresh, destroy, each checked with etcdctl and docker over
 * SSH. The state's serialised provider must load the implementation by
 * package name and name no path of this checkout or of the program.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { run } from "../support/exec";
import { initSandboxStack, makeWorkspace, pulumi, removeWorkspace, Workspace } from "../support/pulumi";
import { freshSandbox, memberList, ROOT, sandbox, SandboxDescription, ssh } from "../support/sandbox";

const EXAMPLE = path.join(ROOT, "examples", "consumer");
/** The example's own files (not its node_modules, build output or a tarball left there). */
const EXAMPLE_FILES = ["package.json", ".npmrc", "Pulumi.yaml", "tsconfig.json", "index.ts"];

interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

describe("etcd-standby as an installed package (examples/consumer)", function () {
  this.timeout(900_000);
  let d: SandboxDescription;
  let ws: Workspace;
  let tarball: string;
  const output = { text: "" };

  const siteAVoters = (): string[] => d.etcd.endpoints.filter((e) => !e.includes(".103:"));
  const masterThreePs = async (): Promise<string[]> => (await ssh(d, "master3", "docker ps -a --format '{{.Names}} {{.State}}'")).stdout.trim().split("\n").filter(Boolean);
  const stateResources = async (): Promise<StateResource[]> => {
    const r = await pulumi(ws, ["stack", "export"]);
    return (JSON.parse(r.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? [];
  };
  const logged = async <T extends { stdout: string; stderr: string }>(p: Promise<T>): Promise<T> => {
    const r = await p;
    output.text += r.stdout + r.stderr;
    return r;
  };

  before(async () => {
    d = await freshSandbox();

    // A scratch program folder with its own node_modules: drop the link to
    // this repo's node_modules that makeWorkspace makes.
    ws = makeWorkspace("consumer");
    fs.unlinkSync(path.join(ws.dir, "node_modules"));
    for (const f of EXAMPLE_FILES) fs.copyFileSync(path.join(EXAMPLE, f), path.join(ws.dir, f));

    // What a user does: pack the built package, install the tarball, build.
    const pack = await run(["npm", "pack", "--json", "--pack-destination", ws.dir], { cwd: ROOT, timeoutMs: 120_000 });
    const packed = (JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[])[0];
    tarball = path.join(ws.dir, packed.filename);
    const files = packed.files.map((f) => f.path);
    expect(files).to.include.members(["package.json", "dist/provider/index.js", "dist/provider/index.d.ts", "dist/provider/impl/learner.js"]);
    expect(files.filter((f) => /^(dist\/(test|stacks|scripts|sandbox)|test|bench|stacks|sandbox|scripts)\//.test(f)), "only the provider is shipped").to.deep.equal([]);
    await run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", `./${packed.filename}`], { cwd: ws.dir, timeoutMs: 600_000 });
    const installed = path.join(ws.dir, "node_modules", "etcd-standby");
    expect(fs.lstatSync(installed).isSymbolicLink(), "installed as a copy, not a link").to.equal(false);
    await run(["npm", "run", "build"], { cwd: ws.dir, timeoutMs: 120_000 });

    await initSandboxStack(ws, d);
  });
  after(async () => {
    if (ws) removeWorkspace(ws);
    await sandbox(["down"]);
  });

  it("the package's entry point and types are the provider, not the stack program", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ws.dir, "node_modules", "etcd-standby", "package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.main).to.equal("dist/provider/index.js");
    expect(pkg.types).to.equal("dist/provider/index.d.ts");
    expect(fs.existsSync(path.join(ws.dir, "dist", "index.js")), "the consumer compiled against the package's types").to.equal(true);
    expect(fs.existsSync(tarball)).to.equal(true);
  });

  it("pulumi preview plans the three resources and changes nothing", async () => {
    const r = await logged(pulumi(ws, ["preview", "--json"]));
    const steps = (JSON.parse(r.stdout) as { steps: { op: string; urn: string }[] }).steps;
    const creates = steps.filter((s) => s.op === "create").map((s) => s.urn.split("::").pop());
    expect(creates).to.include.members(["remove-master3", "clean-master3", "learner-master3"]);
    expect(steps.filter((s) => s.op !== "create" && s.op !== "same")).to.deep.equal([]);
    const members = await memberList(d);
    expect(members.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-master3", "etcd-node1"]);
    expect(members.some((m) => m.isLearner)).to.equal(false);
    expect(await masterThreePs()).to.include("etcd running");
  });

  it("pulumi up removes master3's voter, cleans its containers and starts a caught-up learner", async () => {
    await logged(pulumi(ws, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000 }));
    const members = await memberList(d, siteAVoters());
    expect(members.filter((m) => !m.isLearner).map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    const learner = members.find((m) => m.name === "learner-master3");
    expect(learner?.isLearner).to.equal(true);
    const ps = await masterThreePs();
    expect(ps).to.include("etcd-learner running");
    expect(ps.map((l) => l.split(" ")[0])).to.not.include.members(["etcd", "etcd-rolling-snapshots"]);
    expect((await pulumi(ws, ["stack", "output", "learnerId"])).stdout.trim()).to.equal(learner?.ID);
  });

  it("the state's provider loads the implementation by package name and names no local path", async () => {
    const resources = await stateResources();
    const learner = resources.find((r) => r.urn.endsWith("::learner-master3"));
    const facade = learner?.outputs?.__provider;
    expect(facade, "the learner's __provider").to.be.a("string");
    const text = facade as string;
    expect(text).to.include("require(id)");
    expect(text).to.include("`etcd-standby/dist/provider/impl/${impl}.js`");
    expect(text).to.include('impl: "learner"');
    // Nothing of where it was written (this checkout, the program's folder, a
    // node_modules path), and no search of the file system (the old facade's).
    for (const p of [ROOT, ws.dir, fs.realpathSync(ws.dir), "/node_modules/", "existsSync", "dirname"]) expect(text.includes(p), `__provider contains ${p}`).to.equal(false);
    // Small: the facade, not the implementation (which would carry SSH and gRPC code).
    expect(text.length).to.be.below(8_000);
    for (const r of resources.filter((x) => x.type.startsWith("pulumi-nodejs:dynamic"))) {
      expect(String(r.outputs?.__provider)).to.include("etcd-standby/dist/provider/impl/");
    }
  });

  it("pulumi refresh reads the live state through the installed package and changes nothing", async () => {
    const before = (await memberList(d, siteAVoters())).find((m) => m.name === "learner-master3");
    await logged(pulumi(ws, ["refresh", "--yes"]));
    const learner = (await stateResources()).find((r) => r.urn.endsWith("::learner-master3"));
    expect(learner?.outputs?.present).to.equal(true);
    expect(learner?.outputs?.isLearner).to.equal(true);
    expect(learner?.outputs?.memberId).to.equal(before?.ID);
    const after = (await memberList(d, siteAVoters())).find((m) => m.name === "learner-master3");
    expect(after?.ID).to.equal(before?.ID);
    expect(await masterThreePs()).to.include("etcd-learner running");
    const preview = await logged(pulumi(ws, ["preview", "--expect-no-changes"], { allowFailure: true }));
    expect(preview.code, preview.stdout + preview.stderr).to.equal(0);
  });

  it("pulumi destroy removes the learner and leaves the removal in place", async () => {
    await logged(pulumi(ws, ["destroy", "--yes", "--skip-preview"], { timeoutMs: 600_000 }));
    const members = await memberList(d, siteAVoters());
    expect(members.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
    expect((await masterThreePs()).map((l) => l.split(" ")[0])).to.not.include("etcd-learner");
    expect(await stateResources()).to.deep.equal([]);
  });

  it("prints none of Node's DEP0123 warnings", () => {
    expect(output.text).to.include("learner-master3");
    expect(output.text).to.not.include("DEP0123");
    expect(output.text).to.not.include("RFC 6066");
  });
});
