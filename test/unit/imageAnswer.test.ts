/** runOneShotRemembered: a one-shot container's answer kept on the host by image ID, its script run here by a real `sh` against a scripted docker. */
import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalSession } from "../support/localSession";
import { runOneShotRemembered } from "../../provider/connection/imageAnswer";
import type { OneShotSpec } from "../../provider/connection/docker";
import { readImageEtcdVersion } from "../../provider/impl/imageVersion";

/** A docker CLI as a script: `image inspect` answers the ID in `id` (none: "No such image"), `run` prints `out` and exits with `code`; every call is logged, one per line. */
const FAKE_DOCKER = [
  'd=$(dirname "$0")',
  'printf "%s\\n" "$*" >> "$d/calls"',
  'if [ "$1 $2" = "image inspect" ]; then',
  '  [ -f "$d/id" ] || { echo "Error: No such image: $5" >&2; exit 1; }',
  '  cat "$d/id"; exit 0',
  "fi",
  'if [ "$1" = run ]; then cat "$d/out"; exit "$(cat "$d/code")"; fi',
  "exit 9",
].join("\n");


const ID_A = `sha256:${"a".repeat(64)}`;
const ID_B = `sha256:${"b".repeat(64)}`;

describe("runOneShotRemembered: an image's answer kept on the host under its ID", () => {
  let dir: string;
  let cacheDir: string;
  let session: LocalSession;
  const spec: OneShotSpec = { name: "etcd-learner-version-x", image: "example/etcd:v3.5", volumes: [], labels: { "etcd-standby.run": "x" }, command: ["/usr/local/bin/etcd", "--version"], network: "host", pull: "never" };
  const cache = (key = "/usr/local/bin/etcd"): { dir: string; key: string; keepIf: string } => ({ dir: cacheDir, key, keepIf: "^etcd Version: [0-9]+\\.[0-9]+\\.[0-9]+" });
  const calls = (): string[] => (fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").split("\n").filter(Boolean) : []);
  const answer = (id: string | undefined, out: string, code = 0): void => {
    if (id === undefined) fs.rmSync(path.join(dir, "id"), { force: true });
    else fs.writeFileSync(path.join(dir, "id"), `${id}\n`);
    fs.writeFileSync(path.join(dir, "out"), out);
    fs.writeFileSync(path.join(dir, "code"), String(code));
    fs.rmSync(path.join(dir, "calls"), { force: true });
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "image-answer-"));
    cacheDir = path.join(dir, "kept", "image-versions");
    fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER);
    session = new LocalSession(["sh", path.join(dir, "docker")]);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs the inspected ID (not the name) once, then answers from the kept file with no container", async () => {
    answer(ID_A, "etcd Version: 3.5.17\nGit SHA: abc\n");
    const first = await runOneShotRemembered(session, spec, cache());
    expect(first).to.deep.include({ imageId: ID_A, remembered: false });
    expect(first.result.stdout).to.equal("etcd Version: 3.5.17\nGit SHA: abc\n");
    const ran = calls().filter((c) => c.startsWith("run "));
    expect(ran).to.have.length(1);
    expect(ran[0]).to.contain(` ${ID_A} /usr/local/bin/etcd --version`).and.not.contain("example/etcd");
    expect(fs.readFileSync(path.join(cacheDir, "a".repeat(64)), "utf8")).to.equal("/usr/local/bin/etcd\netcd Version: 3.5.17\nGit SHA: abc\n");

    answer(ID_A, "etcd Version: 9.9.9\n");
    const second = await runOneShotRemembered(session, spec, cache());
    expect(second).to.deep.include({ imageId: ID_A, remembered: true });
    expect(second.result).to.deep.include({ code: 0, stdout: "etcd Version: 3.5.17\nGit SHA: abc\n" });
    expect(calls().filter((c) => c.startsWith("run "))).to.have.length(0);
  });

  it("runs again for another ID (the tag moved) or another key (another binary)", async () => {
    answer(ID_A, "etcd Version: 3.5.17\n");
    await runOneShotRemembered(session, spec, cache());
    answer(ID_B, "etcd Version: 3.6.5\n");
    const moved = await runOneShotRemembered(session, spec, cache());
    expect(moved).to.deep.include({ imageId: ID_B, remembered: false });
    expect(moved.result.stdout).to.equal("etcd Version: 3.6.5\n");
    answer(ID_A, "etcd Version: 3.5.18\n");
    const hostile = `/opt/etcd $(touch ${dir}/pwned)'"`;
    const other = await runOneShotRemembered(session, spec, cache(hostile));
    expect(other.remembered).to.equal(false);
    expect(other.result.stdout).to.equal("etcd Version: 3.5.18\n");
    expect((await runOneShotRemembered(session, spec, cache(hostile))).remembered).to.equal(true);
    expect(fs.existsSync(path.join(dir, "pwned"))).to.equal(false);
  });

  it("keeps nothing that failed or does not match, and answers it as it was", async () => {
    answer(ID_A, "exec: no such file\n", 127);
    const failed = await runOneShotRemembered(session, spec, cache());
    expect(failed.result.code).to.equal(127);
    answer(ID_A, "something else\n");
    const odd = await runOneShotRemembered(session, spec, cache());
    expect(odd.result).to.deep.include({ code: 0, stdout: "something else\n" });
    expect(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : []).to.deep.equal([]);
  });

  it("runs again, and writes it again, when the kept file is damaged", async () => {
    answer(ID_A, "etcd Version: 3.5.17\n");
    await runOneShotRemembered(session, spec, cache());
    const f = path.join(cacheDir, "a".repeat(64));
    fs.writeFileSync(f, "/usr/local/bin/etcd\netcd Vers");
    answer(ID_A, "etcd Version: 3.5.17\n");
    const r = await runOneShotRemembered(session, spec, cache());
    expect(r.remembered).to.equal(false);
    expect(r.result.stdout).to.equal("etcd Version: 3.5.17\n");
    expect(fs.readFileSync(f, "utf8")).to.equal("/usr/local/bin/etcd\netcd Version: 3.5.17\n");
  });

  it("answers an absent image as docker said it, without a marker or a container", async () => {
    answer(undefined, "");
    const r = await runOneShotRemembered(session, spec, cache());
    expect(r.remembered).to.equal(false);
    expect(r.imageId).to.equal(undefined);
    expect(r.result.code).to.equal(1);
    expect(r.result.stderr).to.match(/No such image/);
    expect(calls().filter((c) => c.startsWith("run "))).to.have.length(0);
  });

  it("answers, keeping nothing, when the cache dir cannot be written", async () => {
    fs.writeFileSync(path.join(dir, "kept"), "a file where the dir would be");
    answer(ID_A, "etcd Version: 3.5.17\n");
    const r = await runOneShotRemembered(session, spec, cache());
    expect(r.result).to.deep.include({ code: 0, stdout: "etcd Version: 3.5.17\n" });
    expect(r.remembered).to.equal(false);
  });

  it("refuses a cache key of more than one line or a relative dir, running nothing", async () => {
    for (const c of [{ ...cache(), key: "a\nb" }, { ...cache(), dir: "relative/dir" }]) {
      const s = new LocalSession(["sh", path.join(dir, "docker")]);
      let err: unknown;
      await runOneShotRemembered(s, spec, c).catch((e: unknown) => (err = e));
      expect(String(err)).to.match(/InvalidInput|must/);
      expect(s.calls).to.equal(0);
    }
  });

  it("readImageEtcdVersion: the version, then the same from the host's file; an absent image as absent", async () => {
    answer(ID_A, "etcd Version: 3.5.17\n");
    const read = (): ReturnType<typeof readImageEtcdVersion> => readImageEtcdVersion(session, "example/etcd:v3.5", "/usr/local/bin/etcd", { name: "v", labels: {} }, cacheDir);
    const v = { present: true, version: { major: 3, minor: 5, patch: 17, text: "3.5.17" } };
    expect(await read()).to.deep.equal(v);
    answer(ID_A, "etcd Version: 3.4.23\n");
    expect(await read()).to.deep.equal(v);
    expect(calls().filter((c) => c.startsWith("run "))).to.have.length(0);
    answer(undefined, "");
    expect(await read()).to.deep.equal({ present: false });
  });
});
