/**
 * State compatibility across package versions. Stacks written by an older
 * etcd-standby hold that version's facade by value in `__provider`, and the
 * engine runs it for `refresh` and `destroy` (and for `read` until an update
 * rewrites it). For each base commit below: its provider is built from
 * `git archive` in a scratch folder (with its own `npm ci` unless its lockfile
 * is this tree's), a program creates the seed's resources on the sandbox with
 * it (master3's voter removed, its RKE containers cleaned, a learner), then
 * the program's folder is switched to this build (`dist` and `node_modules`,
 * as `git pull && npm ci && npm run build` would) and:
 * - round 1: refresh, a preview with no changes, destroy, all through the
 *   old facade loading this build's implementation;
 * - round 2 (created again with the old package): an update (a new
 *   `timeoutMs`) through the new facade, which replaces the old one in the
 *   state; refresh; destroy.
 * Every step is checked with etcdctl and docker over SSH.
 *
 * When a later change touches the facade, the implementations' inputs or
 * outputs, or where the compiled files live, add the commit before it to
 * BASES.
 */
import { expect } from "chai";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run } from "../support/exec";
import { initSandboxStack, programWorkspace, pulumi, removeWorkspace, Workspace } from "../support/pulumi";
import { freshSandbox, memberList, ROOT, sandbox, SandboxDescription, ssh } from "../support/sandbox";

/**
 * The newest commit whose facade still searches the file system for
 * `dist/provider/impl/<name>.js`: the parent of the commit that brought the
 * facade that requires by package name, or HEAD while that is not committed.
 */
function lastFileSystemFacade(): string | undefined {
  const git = (...args: string[]): string => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const touching = git("rev-list", "--reverse", "HEAD", "--", "provider/resources/lazy.ts").split("\n").filter(Boolean);
    const byName = touching.find((c) => git("show", `${c}:provider/resources/lazy.ts`).includes("etcd-standby/dist/provider/impl/"));
    return git("rev-parse", byName ? `${byName}^` : "HEAD");
  } catch {
    return undefined;
  }
}

/**
 * Commits whose package wrote state this build must keep serving: 28d1e93
 * (where this test started) and the last commit with the file-system facade.
 * `ESB_COMPAT_BASES` (comma-separated commits) replaces the list.
 */
const BASES = process.env.ESB_COMPAT_BASES
  ? process.env.ESB_COMPAT_BASES.split(",").filter(Boolean)
  : [...new Set(["28d1e93656fb82854a5f1fd4d4e684d709de7b11", lastFileSystemFacade()].filter((c): c is string => Boolean(c)))];

/**
 * A program every base's API accepts (only inputs the oldest base knows).
 * The test writes the non-secret inputs to inputs.json; the keys are config
 * secrets.
 */
const PROGRAM = `
const pulumi = require("@pulumi/pulumi");
const esb = require("./dist/provider");
const config = new pulumi.Config();
const inputs = JSON.parse(require("fs").readFileSync("inputs.json", "utf8"));
const cluster = { ...inputs.cluster, keyPem: config.requireSecret("etcdKey") };
const host = { ...inputs.host, privateKey: config.requireSecret("sshKey") };
const removal = new esb.EtcdMemberRemoval("remove-master3", { cluster, memberName: "etcd-master3" });
const cleanup = new esb.RkeContainerCleanup("clean-master3", { cluster, host }, { dependsOn: [removal] });
const learner = new esb.EtcdLearner("learner-master3", { cluster, host, ...inputs.learner, timeoutMs: config.requireNumber("learnerTimeoutMs") }, { dependsOn: [cleanup] });
exports.learnerId = learner.memberId;
`;

/** The program's non-secret inputs for the sandbox: master3 becomes a learner joining through the other voters. */
function programInputs(d: SandboxDescription): object {
  const m3 = d.hosts.find((h) => h.name === "master3");
  if (!m3) throw new Error("no master3 in the sandbox");
  return {
    cluster: {
      endpoints: d.hosts.filter((h) => h.roles.includes("etcd") && h.name !== "master3").map((h) => `https://${h.address}:2379`),
      caPem: fs.readFileSync(d.etcd.caFile, "utf8"),
      certPem: fs.readFileSync(d.etcd.certFile, "utf8"),
    },
    host: { host: m3.address, user: d.ssh.user, hostPublicKey: m3.hostPublicKey },
    learner: { memberName: "learner1", peerURL: `https://${m3.address}:2380`, clientURL: `https://${m3.address}:2379`, image: d.etcd.images["v3.5"] },
  };
}

interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

/** The facade written by the package at the bases: it searches the file system from the working directory. */
const isOldFacade = (p: unknown): boolean => typeof p === "string" && p.includes("existsSync") && p.includes("dist");
/** This package's facade: the implementation by package name. */
const isNewFacade = (p: unknown): boolean => typeof p === "string" && p.includes("etcd-standby/dist/provider/impl/") && !p.includes("existsSync");

/** Builds the provider of `commit` in `dir` (a `git archive` of it); returns its `dist` and `node_modules`. */
async function buildBase(commit: string, dir: string): Promise<{ dist: string; nodeModules: string }> {
  fs.mkdirSync(dir, { recursive: true });
  await run(["bash", "-c", 'set -o pipefail; git -C "$1" archive --format=tar "$2" | tar -x -C "$3"', "archive", ROOT, commit, dir], { timeoutMs: 120_000 });
  const sameLock = fs.readFileSync(path.join(dir, "package-lock.json"), "utf8") === fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8");
  if (sameLock) {
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  } else {
    // Its own dependencies, as that commit locked them (from the npm cache where it can).
    await run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, timeoutMs: 600_000 });
  }
  // Only the provider: that commit's tests and scripts are not needed.
  fs.writeFileSync(path.join(dir, "tsconfig.compat.json"), JSON.stringify({ extends: "./tsconfig.json", include: ["provider/**/*.ts"] }));
  // A commit may not type-check on its own (here: resources committed before
  // the ImplName entries they use); tsc still emits the JavaScript, which is
  // what ran. Only missing output is an error.
  const tsc = await run([path.join(dir, "node_modules", ".bin", "tsc"), "-p", "tsconfig.compat.json"], { cwd: dir, timeoutMs: 300_000, allowFailure: true });
  for (const f of ["index.js", "resources/lazy.js", "impl/learner.js"]) {
    if (!fs.existsSync(path.join(dir, "dist", "provider", f))) throw new Error(`building ${commit} made no dist/provider/${f}:\n${tsc.stdout}${tsc.stderr}`);
  }
  return { dist: path.join(dir, "dist"), nodeModules: path.join(dir, "node_modules") };
}

for (const base of BASES) {
  describe(`state written by the package at ${base.slice(0, 7)} keeps working with this one`, function () {
    this.timeout(1_200_000);
    let d: SandboxDescription;
    let ws: Workspace;
    let scratch: string;
    let old: { dist: string; nodeModules: string };
    const newOutput = { text: "" };

    const siteAVoters = (): string[] => d.etcd.endpoints.filter((e) => !e.includes(".103:"));
    const learnerMember = async (): Promise<{ ID: string; isLearner?: boolean } | undefined> => (await memberList(d, siteAVoters())).find((m) => m.name === "learner1");
    const masterThree = async (): Promise<string[]> => (await ssh(d, "master3", "docker ps -a --format '{{.Names}} {{.State}}'")).stdout.trim().split("\n").filter(Boolean);
    const state = async (): Promise<Map<string, StateResource>> => {
      const r = await pulumi(ws, ["stack", "export"]);
      const resources = (JSON.parse(r.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? [];
      return new Map(resources.map((x) => [x.urn.split("::").pop() ?? x.urn, x]));
    };
    /** Points the program's folder at a build: what a checkout looks like before or after an upgrade. */
    const use = (build: { dist: string; nodeModules: string }): void => {
      for (const [link, target] of [["dist", build.dist], ["node_modules", build.nodeModules]]) {
        fs.rmSync(path.join(ws.dir, link), { force: true });
        fs.symlinkSync(target, path.join(ws.dir, link), "dir");
      }
    };
    const current = { dist: path.join(ROOT, "dist"), nodeModules: path.join(ROOT, "node_modules") };
    const withNew = async (args: string[], opts: { allowFailure?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> => {
      const r = await pulumi(ws, args, { timeoutMs: 600_000, ...opts });
      newOutput.text += r.stdout + r.stderr;
      return r;
    };

    /** The seed's resources, created with the old package; checks the cluster and the state. */
    const createWithOld = async (): Promise<string> => {
      if (fs.existsSync(`${old.dist}.parked`)) fs.renameSync(`${old.dist}.parked`, old.dist);
      use(old);
      await pulumi(ws, ["config", "set", "learnerTimeoutMs", "120000"]);
      await pulumi(ws, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000 });
      const members = await memberList(d, siteAVoters());
      expect(members.filter((m) => !m.isLearner).map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
      const learner = members.find((m) => m.name === "learner1");
      expect(learner?.isLearner).to.equal(true);
      expect(await masterThree()).to.include("etcd-learner running");
      const s = await state();
      for (const name of ["remove-master3", "clean-master3", "learner-master3"]) expect(isOldFacade(s.get(name)?.outputs?.__provider), `${name} holds the old facade`).to.equal(true);
      use(current);
      // Out of reach from here on: whatever runs must be this build.
      fs.renameSync(old.dist, `${old.dist}.parked`);
      return learner?.ID ?? "";
    };
    const expectDestroyed = async (): Promise<void> => {
      const members = await memberList(d, siteAVoters());
      expect(members.map((m) => m.name).sort()).to.deep.equal(["etcd-master1", "etcd-master2", "etcd-node1"]);
      expect((await masterThree()).map((l) => l.split(" ")[0])).to.not.include("etcd-learner");
      expect((await state()).size).to.equal(0);
    };

    before(async () => {
      scratch = fs.mkdtempSync(path.join(os.tmpdir(), "esb-compat-base-"));
      old = await buildBase(base, scratch);
      d = await freshSandbox();
      ws = programWorkspace("compat", PROGRAM);
      fs.writeFileSync(path.join(ws.dir, "inputs.json"), JSON.stringify(programInputs(d)));
      await initSandboxStack(ws, d, { sandboxConfig: false });
    });
    after(async () => {
      if (ws) removeWorkspace(ws);
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
      await sandbox(["down"]);
    });

    it("every implementation the old facades name is still at dist/provider/impl/<name>.js with a `provider`", () => {
      const dir = path.join(scratch, "provider", "resources");
      const names = fs.readdirSync(dir).flatMap((f) => [...fs.readFileSync(path.join(dir, f), "utf8").matchAll(/lazyProvider\("(\w+)"\)/g)].map((m) => m[1]));
      expect(names).to.include("learner");
      for (const name of names) {
        const mod = require(path.join(ROOT, "dist", "provider", "impl", `${name}.js`)) as { provider?: Record<string, unknown> };
        for (const method of ["check", "diff", "create", "read", "update", "delete"]) expect(typeof mod.provider?.[method], `${name}.provider.${method}`).to.equal("function");
      }
    });

    let roundOneId = "";
    it("the old package creates the learner (state holds its facade)", async () => {
      roundOneId = await createWithOld();
    });

    it("refresh with this package: the old facade reads through this build's implementation", async () => {
      await withNew(["refresh", "--yes"]);
      const s = await state();
      const learner = s.get("learner-master3");
      expect(learner?.outputs?.present).to.equal(true);
      expect(learner?.outputs?.isLearner).to.equal(true);
      expect(learner?.outputs?.memberId).to.equal(roundOneId);
      expect(isOldFacade(learner?.outputs?.__provider), "refresh keeps the facade in the state").to.equal(true);
      expect((await learnerMember())?.ID).to.equal(roundOneId);
      expect(await masterThree()).to.include("etcd-learner running");
    });

    it("a preview with this package plans no change: an upgrade alone does not touch the cluster", async () => {
      const r = await withNew(["preview", "--json"]);
      const steps = (JSON.parse(r.stdout) as { steps: { op: string; urn: string }[] }).steps;
      expect(steps.filter((x) => x.op !== "same").map((x) => `${x.op} ${x.urn.split("::").pop()}`)).to.deep.equal([]);
    });

    it("destroy with this package: the old facade deletes through this build's implementation", async () => {
      await withNew(["destroy", "--yes", "--skip-preview"]);
      await expectDestroyed();
    });

    let roundTwoId = "";
    it("created again with the old package", async () => {
      roundTwoId = await createWithOld();
      expect(roundTwoId).to.not.equal(roundOneId);
    });

    it("an update with this package changes timeoutMs in place and writes the new facade", async () => {
      await pulumi(ws, ["config", "set", "learnerTimeoutMs", "150000"]);
      const preview = await withNew(["preview", "--json"]);
      const steps = (JSON.parse(preview.stdout) as { steps: { op: string; urn: string }[] }).steps;
      expect(steps.filter((x) => x.op !== "same").map((x) => `${x.op} ${x.urn.split("::").pop()}`)).to.deep.equal(["update learner-master3"]);
      await withNew(["up", "--yes", "--skip-preview"]);
      const s = await state();
      const learner = s.get("learner-master3");
      expect(learner?.inputs?.timeoutMs).to.equal(150000);
      expect(learner?.outputs?.memberId).to.equal(roundTwoId);
      expect(isNewFacade(learner?.outputs?.__provider), "the update wrote the new facade").to.equal(true);
      // Unchanged resources keep the facade they were written with.
      expect(isOldFacade(s.get("clean-master3")?.outputs?.__provider)).to.equal(true);
      const member = await learnerMember();
      expect(member?.ID).to.equal(roundTwoId);
      expect(member?.isLearner).to.equal(true);
      expect(await masterThree()).to.include("etcd-learner running");
    });

    it("refresh and destroy with this package after the update", async () => {
      await withNew(["refresh", "--yes"]);
      expect((await state()).get("learner-master3")?.outputs?.present).to.equal(true);
      expect((await learnerMember())?.ID).to.equal(roundTwoId);
      await withNew(["destroy", "--yes", "--skip-preview"]);
      await expectDestroyed();
    });

    it("this package's runs print none of Node's DEP0123 warnings", () => {
      expect(newOutput.text).to.include("learner-master3");
      expect(newOutput.text).to.not.include("DEP0123");
    });
  });
}
