/**
 * EtcdLearner's host-side preflight in two commands: the file survey with the
 * container's `docker inspect` as its last step (run here by a real `sh`,
 * with a stand-in docker script), and the image's presence told by the
 * version read (its `docker image inspect`, then `docker run --pull never`
 * of the image's ID unless the host kept its answer).
 */
import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalSession } from "../support/localSession";
import { containerInfoOf, inspectArgv, inspectContainer, oneShotArgv } from "../../provider/connection/docker";
import { surveyPaths } from "../../provider/connection/hostfs";
import type { RunResult, SshSession } from "../../provider/connection/ssh";
import { isEtcdStandbyError } from "../../provider/lib/errors";
import { imageEtcdVersion, readImageEtcdVersion } from "../../provider/impl/imageVersion";
import { rejection as rejects } from "../support/wait";


/** Answers each command with the next of `answers` and records its argv. */
class ScriptedSession implements SshSession {
  readonly host = "10.0.0.9";
  readonly dockerCommand = ["sudo", "-n", "docker"];
  readonly sudo = false;
  readonly hostKeyFingerprint = "SHA256:x";
  readonly argvs: string[][] = [];
  constructor(private readonly answers: Partial<RunResult>[]) {}
  async run(argv: string[]): Promise<RunResult> {
    this.argvs.push(argv);
    return { code: 0, signal: undefined, stdout: "", stderr: "", ...(this.answers[this.argvs.length - 1] ?? {}) };
  }
}

describe("EtcdLearner's host facts: the survey's docker step and the version read's image check", () => {
  let dir: string;
  let fakeDocker: string;
  const json = JSON.stringify({ Id: "abc", Name: "/etcd-learner", State: { Status: "running", Running: true }, Config: { Image: "etcd:v3.5.17", Labels: { a: "b" } }, RestartCount: 2 });
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostfacts-"));
    fs.writeFileSync(path.join(dir, "cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    fs.mkdirSync(path.join(dir, "data"));
    fs.writeFileSync(path.join(dir, "inspect.json"), `${json}\n`);
    // A stand-in for the docker CLI: the one container it knows is etcd-learner; "$1 $2 $3" must be "inspect --type container".
    fakeDocker = path.join(dir, "fake docker");
    fs.writeFileSync(
      fakeDocker,
      `#!/bin/sh\n[ "$1 $2 $3 $4 $5" = "inspect --type container --format {{json .}}" ] || { echo "unexpected: $*" >&2; exit 2; }\n` +
        `if [ "$6" = etcd-learner ]; then cat "${path.join(dir, "inspect.json")}"; else echo "Error: No such container: $6" >&2; exit 1; fi\n`,
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("surveyPaths runs `then` last in the same shell, its stdout, stderr and status kept apart", async () => {
    const s = new LocalSession(["docker"], "pyenv: rehash noise\n");
    const got = await surveyPaths(s, { readable: [path.join(dir, "cert.pem")], read: [path.join(dir, "cert.pem")], states: [path.join(dir, "data")], then: ["sh", "-c", 'printf "out\\nE%s 0\\n$1" x; echo "err $1" >&2; exit 3', "sh", "a b;'$(c)"] });
    expect(s.argvs).to.have.length(1);
    expect(got.readable).to.deep.equal([true]);
    expect(got.contents[0]).to.match(/^-----BEGIN CERTIFICATE-----/);
    expect(got.states).to.deep.equal(["empty-dir"]);
    expect(got.then).to.deep.equal({ code: 3, signal: undefined, stdout: "out\nEx 0\na b;'$(c)", stderr: "err a b;'$(c)" });
    expect((await surveyPaths(s, { readable: [], read: [], states: [] })).then).to.equal(undefined);
  });

  it("surveyPaths refuses an empty `then`, running nothing", async () => {
    const s = new LocalSession(["docker"], "pyenv: rehash noise\n");
    expect((await rejects(surveyPaths(s, { readable: [], read: [], states: [], then: [] }))).message).to.match(/non-empty list/);
    expect(s.argvs).to.deep.equal([]);
  });

  it("the container's docker inspect read in the survey says what inspectContainer says: one command, the same facts", async () => {
    for (const name of ["etcd-learner", "other"]) {
      const s = new LocalSession([fakeDocker], "pyenv: rehash noise\n");
      const argv = inspectArgv(s, name);
      const survey = await surveyPaths(s, { readable: [], read: [], states: [path.join(dir, "data")], then: argv });
      const info = containerInfoOf(s, name, survey.then);
      expect(s.argvs, name).to.have.length(1);
      expect(info, name).to.deep.equal(await inspectContainer(new LocalSession([fakeDocker], "pyenv: rehash noise\n"), name));
      expect(info.exists, name).to.equal(name === "etcd-learner");
    }
    const s = new LocalSession([fakeDocker], "pyenv: rehash noise\n");
    expect((await inspectContainer(s, "etcd-learner")).restartCount).to.equal(2);
  });

  it("inspectArgv refuses a container name that is not one, running nothing", () => {
    const s = new ScriptedSession([]);
    expect(() => inspectArgv(s, "--help")).to.throw(/container name/);
    expect(inspectArgv(s, "etcd-learner")).to.deep.equal(["sudo", "-n", "docker", "inspect", "--type", "container", "--format", "{{json .}}", "etcd-learner"]);
  });

  it("oneShotArgv: --pull never when asked, nothing when not; an unknown policy is refused", () => {
    const s = new ScriptedSession([]);
    const spec = { name: "v", image: "etcd:v3.5.17", volumes: [], command: ["etcd", "--version"] };
    expect(oneShotArgv(s, { ...spec, pull: "never" })).to.deep.equal(["sudo", "-n", "docker", "run", "--rm", "--name", "v", "--network", "none", "--pull", "never", "etcd:v3.5.17", "etcd", "--version"]);
    expect(oneShotArgv(s, spec)).to.not.include("--pull");
    expect(() => oneShotArgv(s, { ...spec, pull: "always" as "never" })).to.throw(/pull/);
  });

  const container = { name: "etcd-learner-version-r1", labels: { "io.etcd-standby.managed": "EtcdLearnerTool" } };

  it("the version read runs the image's ID with --pull never (one command, kept under the ID in root's /var/lib) and reads its version", async () => {
    const s = new ScriptedSession([{ stdout: `@@etcd-standby image sha256:${"c".repeat(64)} ran\netcd Version: 3.5.17\nGit SHA: x\n`, stderr: "pyenv: noise\n" }]);
    const r = await readImageEtcdVersion(s, "etcd:v3.5.17", "/usr/local/bin/etcd", container);
    expect(r).to.deep.include({ present: true });
    expect(r.present && r.version.text).to.equal("3.5.17");
    expect(s.argvs).to.have.length(1);
    const argv = s.argvs[0];
    expect(argv.slice(0, 2)).to.deep.equal(["sh", "-c"]);
    expect(argv.slice(3, 20)).to.deep.equal(["sh", "/var/lib/etcd-standby/image-versions", "/usr/local/bin/etcd", "^etcd Version: [0-9]+\\.[0-9]+\\.[0-9]+", "etcd:v3.5.17", "3", "sudo", "-n", "docker", "run", "--rm", "--name", "etcd-learner-version-r1", "--network", "host", "--pull", "never"]);
    expect(argv.slice(-3)).to.deep.equal(["@@etcd-standby-image-id@@", "/usr/local/bin/etcd", "--version"]);
  });

  it("an image docker says is absent is a fact (present: false), thrown by imageEtcdVersion as judgeHost's error", async () => {
    const absent = { code: 125, stderr: "pyenv: noise\ndocker: Error response from daemon: No such image: etcd:v9.9.9.\nSee 'docker run --help'.\n" };
    expect(await readImageEtcdVersion(new ScriptedSession([absent]), "etcd:v9.9.9", "/usr/local/bin/etcd", container)).to.deep.equal({ present: false });
    const e = await rejects(imageEtcdVersion(new ScriptedSession([absent]), "etcd:v9.9.9", "/usr/local/bin/etcd", container));
    expect(isEtcdStandbyError(e, "InvalidInput")).to.equal(true);
    expect(e.message).to.contain("image etcd:v9.9.9 is not present on 10.0.0.9").and.contain("load it there first (docker load / docker pull etcd:v9.9.9)");
  });

  it("any other failure of the version read is still 'could not tell the etcd version'", async () => {
    const e = await rejects(imageEtcdVersion(new ScriptedSession([{ code: 127, stderr: "exec: /usr/local/bin/etcd: not found" }]), "etcd:v3.5.17", "/usr/local/bin/etcd", container));
    expect(e.message).to.match(/could not tell the etcd version of image etcd:v3.5.17 on 10.0.0.9 .*exited 127.*not found/);
  });

  it("a docker CLI without --pull (before 20.10): docker image inspect, then the run without the flag", async () => {
    const old = { code: 125, stderr: "unknown flag: --pull\nSee 'docker run --help'.\n" };
    const s = new ScriptedSession([old, { stdout: "sha256:abc\n" }, { stdout: "etcd Version: 3.4.23\n" }]);
    const r = await readImageEtcdVersion(s, "etcd:v3.4.23", "/usr/local/bin/etcd", container);
    expect(r.present && r.version.text).to.equal("3.4.23");
    expect(s.argvs[1].slice(3)).to.deep.equal(["image", "inspect", "--format", "{{.Id}}", "etcd:v3.4.23"]);
    expect(s.argvs[2]).to.not.include("--pull");
    const gone = new ScriptedSession([old, { code: 1, stderr: "Error: No such image: etcd:v3.4.23\n" }]);
    expect(await readImageEtcdVersion(gone, "etcd:v3.4.23", "/usr/local/bin/etcd", container)).to.deep.equal({ present: false });
    expect(gone.argvs).to.have.length(2);
  });
});
