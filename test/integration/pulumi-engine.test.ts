/**
 * The real Pulumi engine, as the bootstrap built it, runs a Node.js program
 * with a dynamic resource on a local file backend: up, a no-op second up,
 * and destroy.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { run } from "../support/exec";
import { backendText, makeWorkspace, pulumi, removeWorkspace, Workspace } from "../support/pulumi";

const PINNED = "v3.259.0";

describe("pulumi engine (built from its Go modules)", function () {
  this.timeout(300_000);
  let ws: Workspace;

  before(() => {
    ws = makeWorkspace("engine");
    fs.writeFileSync(path.join(ws.dir, "Pulumi.yaml"), "name: engine-check\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n");
    fs.writeFileSync(path.join(ws.dir, "package.json"), JSON.stringify({ name: "engine-check", private: true }));
    fs.writeFileSync(
      path.join(ws.dir, "index.js"),
      `const pulumi = require("@pulumi/pulumi");
const config = new pulumi.Config();
const provider = {
  async create(inputs) { return { id: "fixed-id", outs: { n: inputs.n, doubled: inputs.n * 2, secret: inputs.secret } }; },
  async diff(_id, olds, news) { return { changes: olds.n !== news.n }; },
  async update(_id, _olds, news) { return { outs: { n: news.n, doubled: news.n * 2, secret: news.secret } }; },
};
class Doubler extends pulumi.dynamic.Resource {
  constructor(name, args, opts) { super(provider, name, { doubled: undefined, ...args }, opts); }
}
const d = new Doubler("d", { n: config.requireNumber("n"), secret: config.requireSecret("token") });
exports.doubled = d.doubled;
`,
    );
  });
  after(() => removeWorkspace(ws));

  it(`pulumi version is the pinned ${PINNED}`, async () => {
    const r = await run(["pulumi", "version"], { env: ws.env });
    expect(r.stdout.trim()).to.equal(PINNED);
  });

  it("up creates the dynamic resource and exports its output", async () => {
    await pulumi(ws, ["stack", "init", "test"]);
    await pulumi(ws, ["config", "set", "n", "21"]);
    await pulumi(ws, ["config", "set", "--secret", "token", "s3cr3t-engine-token"]);
    await pulumi(ws, ["up", "--yes", "--skip-preview"]);
    const out = await pulumi(ws, ["stack", "output", "doubled"]);
    expect(out.stdout.trim()).to.equal("42");
    expect(backendText(ws)).to.not.include("s3cr3t-engine-token");
  });

  it("a second up changes nothing", async () => {
    const r = await pulumi(ws, ["preview", "--expect-no-changes"]);
    expect(r.code).to.equal(0);
  });

  it("destroy removes the resource", async () => {
    await pulumi(ws, ["destroy", "--yes", "--skip-preview"]);
    const st = await pulumi(ws, ["stack", "export"]);
    const dep = JSON.parse(st.stdout) as { deployment: { resources?: unknown[] } };
    expect(dep.deployment.resources ?? []).to.have.length(0);
  });
});
