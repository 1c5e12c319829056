/**
 * The docker and host-file helpers EtcdStandaloneRestore and
 * KubeComponentsRestart added, with a fake SSH session that records argv:
 * one argument per element, and nothing run when a value is invalid.
 */
import { expect } from "chai";
import { execInContainer, inspectState, inspectStates, restartContainer, runOneShot } from "../../provider/connection/docker";
import { fileStat, removeEmptyDir, writeFileAtomic } from "../../provider/connection/hostfs";
import type { RunOptions, RunResult, SshSession } from "../../provider/connection/ssh";
import { rejection as rejects } from "../support/wait";

class FakeSession implements SshSession {
  readonly host = "10.0.0.9";
  readonly dockerCommand = ["docker"];
  readonly sudo = false;
  readonly hostKeyFingerprint = "SHA256:x";
  readonly calls: Array<{ argv: string[]; opts: RunOptions }> = [];
  constructor(private readonly answer: Partial<RunResult> = {}) {}
  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv, opts });
    return { code: 0, signal: undefined, stdout: "", stderr: "", ...this.answer };
  }
}

describe("docker and host-file helpers (fake session)", () => {
  it("execInContainer: docker exec with sorted env, each element one argument", async () => {
    const s = new FakeSession();
    await execInContainer(s, "etcd", ["/usr/local/bin/etcdctl", "get", "", "--prefix"], { env: { ETCDCTL_API: "3" }, timeoutMs: 5000 });
    expect(s.calls[0].argv).to.deep.equal(["docker", "exec", "--env", "ETCDCTL_API=3", "etcd", "/usr/local/bin/etcdctl", "get", "", "--prefix"]);
    expect(s.calls[0].opts).to.deep.equal({ timeoutMs: 5000, allowFailure: false });
  });

  it("execInContainer refuses a hostile name, an empty argv or a bad env name, running nothing", async () => {
    const s = new FakeSession();
    expect((await rejects(execInContainer(s, "etcd; reboot", ["true"]))).message).to.match(/not a valid container name/);
    expect((await rejects(execInContainer(s, "etcd", []))).message).to.match(/non-empty list/);
    expect((await rejects(execInContainer(s, "etcd", ["a\nb"]))).message).to.match(/line breaks/);
    expect((await rejects(execInContainer(s, "etcd", ["true"], { env: { "A;B": "1" } }))).message).to.match(/env name/);
    expect(s.calls).to.deep.equal([]);
  });

  it("runOneShot: docker run --rm --network none with read-only mounts", async () => {
    const s = new FakeSession();
    await runOneShot(s, {
      name: "etcd-standby-restore",
      image: "rancher/mirrored-coreos-etcd:v3.5.17",
      volumes: [{ host: "/var/lib/etcd/member/snap", container: "/var/lib/etcd/member/snap", ro: true }, { host: "/var/lib/x.staging", container: "/var/lib/x.staging" }],
      env: { ETCDCTL_API: "3" },
      labels: { "io.etcd-standby.resource": "t" },
      command: ["/usr/local/bin/etcdctl", "snapshot", "restore", "/var/lib/etcd/member/snap/db"],
    }, { timeoutMs: 1000, allowFailure: true });
    expect(s.calls[0].argv).to.deep.equal([
      "docker", "run", "--rm", "--name", "etcd-standby-restore", "--network", "none",
      "--volume", "/var/lib/etcd/member/snap:/var/lib/etcd/member/snap:ro", "--volume", "/var/lib/x.staging:/var/lib/x.staging",
      "--env", "ETCDCTL_API=3", "--label", "io.etcd-standby.resource=t",
      "rancher/mirrored-coreos-etcd:v3.5.17", "/usr/local/bin/etcdctl", "snapshot", "restore", "/var/lib/etcd/member/snap/db",
    ]);
    expect(s.calls[0].opts).to.deep.equal({ timeoutMs: 1000, allowFailure: true });
  });

  it("runOneShot refuses a relative or odd mount, an empty command and a bad image, running nothing", async () => {
    const s = new FakeSession();
    const base = { name: "x", image: "img", volumes: [], command: ["true"] };
    expect((await rejects(runOneShot(s, { ...base, volumes: [{ host: "var/lib", container: "/x" }] }))).message).to.match(/absolute/);
    expect((await rejects(runOneShot(s, { ...base, volumes: [{ host: "/a:/b", container: "/x" }] }))).message).to.match(/characters|separators/);
    expect((await rejects(runOneShot(s, { ...base, command: [] }))).message).to.match(/must not be empty/);
    expect((await rejects(runOneShot(s, { ...base, image: "Bad Image" }))).message).to.match(/image/);
    expect(s.calls).to.deep.equal([]);
  });

  it("restartContainer: docker restart --time, false when absent", async () => {
    const s = new FakeSession();
    expect(await restartContainer(s, "kubelet", 10, 5000)).to.equal(true);
    expect(s.calls[0].argv).to.deep.equal(["docker", "restart", "--time", "10", "kubelet"]);
    const absent = new FakeSession({ code: 1, stderr: "Error response from daemon: No such container: kubelet" });
    expect(await restartContainer(absent, "kubelet")).to.equal(false);
    expect((await rejects(restartContainer(s, "kubelet", -1))).message).to.match(/graceSeconds/);
  });

  it("inspectState reads times, exit code, restart policy and labels; absent is not an error", async () => {
    const s = new FakeSession({
      stdout: JSON.stringify({ Id: "abc", Name: "/etcd-learner", State: { Status: "exited", Running: false, StartedAt: "2026-01-01T00:00:00.1Z", FinishedAt: "2026-01-01T00:01:00Z", ExitCode: 143 }, HostConfig: { RestartPolicy: { Name: "" } }, Config: { Labels: { a: "b" } }, RestartCount: 2 }),
    });
    expect(await inspectState(s, "etcd-learner")).to.deep.equal({
      exists: true, id: "abc", running: false, status: "exited", startedAt: "2026-01-01T00:00:00.1Z", finishedAt: "2026-01-01T00:01:00Z", exitCode: 143, restartPolicy: "no", restartCount: 2, labels: { a: "b" },
    });
    const absent = new FakeSession({ code: 1, stderr: "Error: No such object: etcd" });
    expect((await inspectState(absent, "etcd")).exists).to.equal(false);
  });

  it("inspectStates: one docker inspect for several names, each matched by its name; absent ones and only those are not an error", async () => {
    const line = (id: string, name: string, running: boolean): string => JSON.stringify({ Id: id, Name: `/${name}`, State: { Running: running, Status: running ? "running" : "exited" } });
    const s = new FakeSession({ code: 1, stdout: `${line("b2", "etcd", false)}\n${line("a1", "etcd-learner", true)}\n`, stderr: "Error: No such container: etcd-restore-tool\n" });
    const [learner, target, tool] = await inspectStates(s, ["etcd-learner", "etcd", "etcd-restore-tool"]);
    expect(s.calls).to.have.length(1);
    expect(s.calls[0].argv).to.deep.equal(["docker", "inspect", "--type", "container", "--format", "{{json .}}", "etcd-learner", "etcd", "etcd-restore-tool"]);
    expect([learner.id, learner.running, target.id, target.running, tool.exists]).to.deep.equal(["a1", true, "b2", false, false]);
    // a container docker found under another name (an ID prefix) is not the one asked for
    expect((await inspectStates(new FakeSession({ stdout: `${line("c3", "other", true)}\n` }), ["c3"]))[0].exists).to.equal(false);
    // the host's shell may add its own lines to stderr (seen on the sandbox: a login profile's pyenv rehash); docker's answer counts
    const noisy = new FakeSession({ code: 1, stderr: "rm: cannot remove '/root/.pyenv/shims/tmp.x': No such file or directory\npyenv: cannot rehash: /root/.pyenv/shims isn't writable\nError response from daemon: No such container: kube-scheduler\n" });
    expect((await inspectStates(noisy, ["kube-scheduler"]))[0].exists).to.equal(false);
    expect((await inspectState(noisy, "kube-scheduler")).exists).to.equal(false);
    // any other failure is one: a name docker neither printed nor said it lacks
    expect((await rejects(inspectStates(new FakeSession({ code: 1, stderr: "Cannot connect to the Docker daemon" }), ["etcd"]))).message).to.match(/Docker daemon/);
    expect((await rejects(inspectStates(new FakeSession({ code: 1, stderr: "Error: No such container: a\npermission denied" }), ["a", "b"]))).message).to.match(/permission denied/);
    expect((await rejects(inspectStates(new FakeSession({ code: 1, stderr: "Error: No such container: etcd-learner" }), ["etcd"]))).message).to.match(/failed with status 1/);
  });

  it("writeFileAtomic, fileStat and removeEmptyDir pass paths as arguments, never in the script", async () => {
    const s = new FakeSession({ stdout: "4096 1700000000\n" });
    await writeFileAtomic(s, "/var/lib/etcd-restored.restore-record.json", "{}\n");
    expect(s.calls[0].argv.slice(-3)).to.deep.equal(["sh", "/var/lib/etcd-restored.restore-record.json", ""]);
    expect(s.calls[0].opts.stdin).to.equal("{}\n");
    expect(await fileStat(s, "/var/lib/etcd/member/snap/db")).to.deep.equal({ size: 4096, mtime: 1700000000 });
    expect(await fileStat(new FakeSession({ stdout: "absent\n" }), "/x/y")).to.equal(null);
    await removeEmptyDir(s, "/var/lib/etcd-restored.staging");
    expect(s.calls[2].argv[2]).to.not.include("/var/lib");
    expect((await rejects(writeFileAtomic(s, "/var/lib/../etc/passwd", "x"))).message).to.match(/\.\./);
    expect((await rejects(removeEmptyDir(s, "/"))).message).to.match(/must not be "\/"/);
  });
});
