/**
 * Issue 24, secrets: an environment variable's value (RKE may pass S3
 * credentials in etcd-rolling-snapshots' environment) never appears in an
 * error or a progress line, wherever a command line or a container's
 * settings are quoted, while its name does; and the definition
 * RkeContainerCleanup records is kept on the host, root-only, where
 * EtcdRollingSnapshots finds it when state does not have it. Host scripts
 * run here in a real `sh`.
 */
import { expect } from "chai";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runArgv, runContainer, validateRunSpec } from "../../provider/connection/docker";
import type { RunContainerSpec } from "../../provider/connection/docker";
import { writeFileAtomic } from "../../provider/connection/hostfs";
import { commandFailed } from "../../provider/connection/ssh";
import type { RunOptions, RunResult, SshSession } from "../../provider/connection/ssh";
import { keepDefinitions, keptDefinitionFile, parseKeptDefinition, readKeptDefinition } from "../../provider/impl/keptDefinitions";
import { keptSpec } from "../../provider/impl/rollingSnapshots";
import { redactEnvArgv, redactEnvText, shownEnv } from "../../provider/lib/errors";
import { repointDrift, shownSettings } from "../../provider/lib/repoint";
import { buildCommand, shQuote } from "../../provider/lib/shell";
import { LocalSession } from "../support/localSession";
import { rejection, standbyRejection } from "../support/wait";

/** Looks like an S3 secret key; with a quote and a space, so shell quoting is exercised. */
const SECRET = "wJalrXUtnFEMI/K7MDENG bPxRfi'CYEXAMPLEKEY";

/** RKE's etcd-rolling-snapshots as `docker inspect` gives it, S3 credentials in its environment. */
const SNAPSHOTS: RunContainerSpec = {
  name: "etcd-rolling-snapshots",
  image: "rancher/rke-tools:v0.1.96",
  network: "host",
  restart: "always",
  volumes: [{ host: "/opt/rke/etcd-snapshots", container: "/backup", options: "z" }, { host: "/etc/kubernetes", container: "/etc/kubernetes", options: "z" }],
  env: { S3_ACCESS_KEY: "AKIAIOSFODNN7EXAMPLE", S3_SECRET_KEY: SECRET, ETCDCTL_API: "3" },
  command: ["/opt/rke-tools/rke-etcd-backup", "etcd-backup", "save", "--cacert", "/etc/kubernetes/ssl/kube-ca.pem", "--creation", "12h", "--retention", "72h", "--s3-backup=true"],
  labels: { "io.rancher.rke.container.name": "etcd-rolling-snapshots" },
};

/** The definition with one mount: its command line reaches the environment within the 300 characters an error quotes. */
const SHORT: RunContainerSpec = { ...SNAPSHOTS, volumes: SNAPSHOTS.volumes.slice(0, 1), labels: {} };

/** A session whose every command fails as the real one reports it (commandFailed, unless allowFailure). */
class FailingSession implements SshSession {
  readonly host = "10.0.0.3";
  readonly dockerCommand = ["docker"];
  readonly sudo = true;
  readonly hostKeyFingerprint = "SHA256:x";
  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const r: RunResult = { code: 125, signal: undefined, stdout: "", stderr: "docker: Error response from daemon: Conflict. The container name is already in use." };
    if (opts.allowFailure !== true) throw commandFailed(argv, r, { host: this.host, sudo: this.sudo, secrets: opts.secrets });
    return r;
  }
}

/** The names kept, the values gone. */
function expectRedacted(text: string): void {
  expect(text).to.include("S3_SECRET_KEY=<redacted>").and.include("S3_ACCESS_KEY=<redacted>");
  for (const part of [SECRET, "wJalrXUtnFEMI", "CYEXAMPLEKEY", "AKIAIOSFODNN7EXAMPLE"]) expect(text).not.to.include(part);
}

/** What `fn` prints as progress lines (console.log), and its result. */
async function printed<T>(fn: () => Promise<T>): Promise<{ out: string; result: T }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    return { result: await fn(), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

describe("secrets: environment values are never shown", () => {
  describe("redactEnvArgv, the one helper every quoted command line goes through", () => {
    it("hides the value of --env NAME=VALUE, -e NAME=VALUE, --env=NAME=VALUE and -e=NAME=VALUE, keeping names and everything else", () => {
      const argv = ["docker", "run", "--env", `S3_SECRET_KEY=${SECRET}`, "-e", "S3_ACCESS_KEY=AKIAIOSFODNN7EXAMPLE", "--env=A=1", "-e=B=", "--env", "HOME", "--label", "x=y", "img", "--s3-backup=true"];
      expect(redactEnvArgv(argv)).to.deep.equal(["docker", "run", "--env", "S3_SECRET_KEY=<redacted>", "-e", "S3_ACCESS_KEY=<redacted>", "--env=A=<redacted>", "-e=B=<redacted>", "--env", "HOME", "--label", "x=y", "img", "--s3-backup=true"]);
    });
    it("hides them inside an argument that holds a command line of its own (a script's argument), however quoted", () => {
      const inner = buildCommand(runArgv(new FailingSession(), SNAPSHOTS));
      expect(inner).to.include(shQuote(`S3_SECRET_KEY=${SECRET}`));
      const shown = redactEnvArgv(["sh", "-c", "exec $1", "sh", inner]);
      expectRedacted(shown.join(" "));
      expect(shown[4]).to.include("'--env' 'S3_SECRET_KEY=<redacted>'").and.include("'rancher/rke-tools:v0.1.96'");
      for (const t of [`--env S3_SECRET_KEY=${SECRET.replace(/[ ']/g, "")} x`, `-e "S3_SECRET_KEY=${SECRET.replace(/'/g, "")}" x`, `'--env=S3_SECRET_KEY=${SECRET.replace(/'/g, "'\\''")}' x`]) {
        expect(redactEnvText(t), t).to.match(/S3_SECRET_KEY=<redacted>["']? x$/);
      }
    });
    it("hides the rest of a text cut inside a quoted value", () => {
      expect(redactEnvText(`'docker' 'run' '--env' 'S3_SECRET_KEY=${SECRET.slice(0, 10)}`)).to.equal("'docker' 'run' '--env' 'S3_SECRET_KEY=<redacted>");
    });
    it("leaves words that only look alike", () => {
      const argv = ["grep", "-e", "^x", "--env-file", "/etc/env", "--environment=prod", "sh", "-c", "grep -e \"^$2\" x"];
      expect(redactEnvArgv(argv)).to.deep.equal(argv);
      expect(shownEnv({ B: "2", A: SECRET })).to.deep.equal(["A=<redacted>", "B=<redacted>"]);
    });
  });

  describe("errors that quote a docker command line", () => {
    it("commandFailed (what a failed command throws) shows NAME=<redacted>, never the value", () => {
      const failed = (spec: RunContainerSpec): string => commandFailed(runArgv(new FailingSession(), spec), { code: 125, signal: undefined, stdout: "", stderr: "docker: Error" }, { host: "10.0.0.3", sudo: true }).message;
      expect(failed(SHORT)).to.match(/^command 'sudo' '-n' 'docker' 'run' .* '--env' 'S3_SECRET_KEY=<redacted>' /);
      expectRedacted(failed(SHORT));
      // Longer than an error quotes: cut between words, never inside one.
      expect(failed(SNAPSHOTS)).to.match(/'S3_ACCESS_KEY=<redacted>' '--env' \.\.\. exited with status 125/).and.not.include("CYEXAMPLEKEY").and.not.include("AKIAIOSFODNN7EXAMPLE");
    });
    it("a failed docker run of the recorded etcd-rolling-snapshots definition (EtcdRollingSnapshots) does not print its credentials", async () => {
      const e = await standbyRejection(runContainer(new FailingSession(), { ...SHORT, labels: { "io.etcd-standby.run": "abc" } }));
      expect(e.code).to.equal("RemoteCommandFailed");
      expect(e.message).to.include("already in use");
      expectRedacted(e.message);
    });
    it("an env value that cannot be sent is named, not quoted; so is an argument with a NUL byte", async () => {
      const problems = validateRunSpec({ ...SNAPSHOTS, env: { S3_SECRET_KEY: `${SECRET}\n` } });
      expect(problems).to.deep.equal(["env.S3_SECRET_KEY must not contain NUL or line breaks (its value is not shown)"]);
      expect((await rejection(runContainer(new FailingSession(), { ...SNAPSHOTS, env: { S3_SECRET_KEY: `${SECRET}\n` } }))).message).not.to.include("CYEXAMPLEKEY");
      expect(() => shQuote(`S3_SECRET_KEY=${SECRET}\0`)).to.throw(/NUL byte at character 56/);
      expect((() => { try { shQuote(`${SECRET}\0`); } catch (e) { return (e as Error).message; } return ""; })()).not.to.include("CYEXAMPLEKEY");
    });
  });

  describe("RkeContainerRepoint's progress lines and drift", () => {
    it("show each variable's name, never its value, and flags as they are", () => {
      const want = { flags: { "etcd-servers": "https://10.0.0.3:2379" }, env: { CP_HOSTS: "10.0.0.3", S3_SECRET_KEY: SECRET } };
      const line = shownSettings(want);
      expect(line).to.equal("--etcd-servers=https://10.0.0.3:2379 CP_HOSTS=<redacted> S3_SECRET_KEY=<redacted>");
      const drift = repointDrift(["kube-apiserver"], { S3_SECRET_KEY: "old-secret" }, want);
      expect(drift).to.deep.equal(['--etcd-servers is absent, not "https://10.0.0.3:2379"', "CP_HOSTS is unset, not the wanted value", "S3_SECRET_KEY differs from the wanted value (values are not shown)"]);
    });
  });
});

describe("secrets: the recorded definition is kept on the host before the container goes", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kept-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writeFileAtomic: a new file 0600 in folders made 0700, replacing an older file of another mode whole, nothing left beside it", async () => {
    const file = path.join(dir, "a", "b", "x.json");
    await writeFileAtomic(new LocalSession(), file, "one", { makeParent: true });
    fs.chmodSync(file, 0o644);
    await writeFileAtomic(new LocalSession(), file, "two");
    expect(fs.readFileSync(file, "utf8")).to.equal("two");
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(fs.statSync(path.join(dir, "a")).mode & 0o777).to.equal(0o700);
    expect(fs.statSync(path.join(dir, "a", "b")).mode & 0o777).to.equal(0o700);
    expect(fs.readdirSync(path.join(dir, "a", "b"))).to.deep.equal(["x.json"]);
    // Without makeParent, a missing folder fails and leaves nothing.
    expect((await rejection(writeFileAtomic(new LocalSession(), path.join(dir, "none", "x"), "x"))).message).to.match(/exited 1/);
  });

  it("keepDefinitions writes each definition root-only; it reads back, and its dockerRun is the docker run command line", async () => {
    const s = new LocalSession();
    const { out, result: files } = await printed(() => keepDefinitions(s, [SNAPSHOTS], path.join(dir, "cleaned-containers")));
    expect(out).to.equal("");
    expect(files).to.deep.equal([keptDefinitionFile("etcd-rolling-snapshots", path.join(dir, "cleaned-containers"))]);
    expect(fs.statSync(files[0]).mode & 0o777).to.equal(0o600);
    expect(fs.statSync(path.join(dir, "cleaned-containers")).mode & 0o777).to.equal(0o700);
    const back = await readKeptDefinition(s, "etcd-rolling-snapshots", path.join(dir, "cleaned-containers"));
    expect(back && "spec" in back ? back.spec : undefined).to.deep.equal(SNAPSHOTS);
    const kept = JSON.parse(fs.readFileSync(files[0], "utf8")) as { dockerRun: string; host: string };
    const words = execFileSync("sh", ["-c", 'eval "set -- $1"; printf "%s\\n" "$@"', "sh", kept.dockerRun], { encoding: "utf8" });
    expect(words).to.equal(`${runArgv(s, SNAPSHOTS).join("\n")}\n`);
    expect(await readKeptDefinition(s, "etcd", path.join(dir, "cleaned-containers"))).to.equal(undefined);
  });

  it("a definition that cannot be kept stops the cleanup before anything is stopped, naming the file, never the values", async () => {
    fs.writeFileSync(path.join(dir, "file"), "");
    const e = await standbyRejection(keepDefinitions(new LocalSession(), [SNAPSHOTS], path.join(dir, "file", "sub")));
    expect(e.message).to.include(`${path.join(dir, "file", "sub")}/etcd-rolling-snapshots.json`).and.include("nothing was stopped");
    expectRedacted(`${e.message} S3_SECRET_KEY=<redacted> S3_ACCESS_KEY=<redacted>`);
  });

  it("EtcdRollingSnapshots without a definition in state takes the one kept on the host; a damaged or missing one is named, never quoted", async () => {
    // docker stand-in: `true` lists no renamed copies.
    const s = new LocalSession(["true"]);
    await keepDefinitions(s, [SNAPSHOTS], dir);
    const { out, result } = await printed(() => keptSpec(s, dir));
    expect(result).to.deep.equal(SNAPSHOTS);
    expect(out).to.include(`using the one kept on localhost in ${dir}/etcd-rolling-snapshots.json (recorded 20`);
    expectRedacted(`${out} S3_SECRET_KEY=<redacted> S3_ACCESS_KEY=<redacted>`);
    fs.writeFileSync(path.join(dir, "etcd-rolling-snapshots.json"), `{"container": "etcd-rolling-snapshots", "spec": {"env": {"S3_SECRET_KEY": "${SECRET}"`);
    const { out: warned, result: damaged } = await printed(() => standbyRejection(keptSpec(s, dir)));
    expect(damaged.code).to.equal("NotFound");
    expect(damaged.message).to.include("is not usable (it is not JSON").and.not.include("CYEXAMPLEKEY");
    expect(warned).to.include("WARNING: the definition of etcd-rolling-snapshots kept on localhost").and.not.include("CYEXAMPLEKEY");
    fs.rmSync(path.join(dir, "etcd-rolling-snapshots.json"));
    expect((await standbyRejection(keptSpec(s, dir))).message).to.include(`none is kept in ${dir}/etcd-rolling-snapshots.json and no renamed copy is on the host`);
  });

  it("parseKeptDefinition refuses another container's file and one without an image or command", () => {
    const text = (container: string, spec: object): string => JSON.stringify({ container, spec });
    expect(parseKeptDefinition(text("etcd", { ...SNAPSHOTS, name: "etcd" }), "etcd-rolling-snapshots")).to.deep.equal({ problem: 'it is not etcd-rolling-snapshots\'s (it names "etcd")' });
    expect(parseKeptDefinition(text("etcd-rolling-snapshots", { name: "etcd-rolling-snapshots", command: [] }), "etcd-rolling-snapshots")).to.deep.equal({ problem: "it has no image, command or volumes" });
  });
});
