/**
 * KubeRestart (the @pulumi/command component that restarts the standby
 * site's Kubernetes components after a failover): host key pinning, input
 * checks, the remote scripts run for real with stand-in `docker` and `curl`
 * commands, and the resources it declares (under Pulumi's mocks).
 */
import { expect } from "chai";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { hostProblems, KUBE_COMPONENTS, KubeRestart, parseRestartOutput, pinnedHostKey, readyzScript, restartScript, RKE_TLS } from "../../provider/components/kubeRestart";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEexampleEXAMPLEexampleEXAMPLEexample01";

/** Runs a script with bash, with `bin` first on PATH; never fails the promise. */
function runScript(script: string, bin: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH ?? ""}` }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/**
 * A stand-in `docker`: containers are files in $FAKE_DOCKER (content: "running startedAt");
 * `restart` writes a new start time unless the container's name is in $FAKE_DOCKER_BROKEN.
 */
const FAKE_DOCKER = `#!/bin/bash
state="$FAKE_DOCKER"; cmd="$1"; shift
case "$cmd" in
  inspect) fmt=""; while [ $# -gt 1 ]; do case "$1" in --format) fmt="$2"; shift 2 ;; *) shift ;; esac; done
    f="$state/$1"; [ -f "$f" ] || { echo "Error: No such container: $1" >&2; exit 1; }
    read -r running started < "$f"
    case "$fmt" in *Running*) echo "$running $started" ;; *) echo "$started" ;; esac ;;
  restart) while [ $# -gt 1 ]; do shift; done; f="$state/$1"; [ -f "$f" ] || exit 1
    case " $FAKE_DOCKER_BROKEN " in *" $1 "*) echo "Error response from daemon: cannot restart $1" >&2; exit 1 ;; esac
    echo "true 2026-01-01T00:00:00.$(date +%N)Z" > "$f" ;;
esac
`;

describe("KubeRestart (@pulumi/command component)", () => {
  describe("host keys", () => {
    it("pins the key type and key of a public key line or a known_hosts line", () => {
      expect(pinnedHostKey(`${ED} root@master3`)).to.equal(ED);
      expect(pinnedHostKey(`10.250.0.103 ${ED}`)).to.equal(ED);
      expect(pinnedHostKey(`  ${ED}\n`)).to.equal(ED);
      expect(pinnedHostKey("ecdsa-sha2-nistp256 AAAAE2VjZHNh=")).to.equal("ecdsa-sha2-nistp256 AAAAE2VjZHNh=");
    });
    it("refuses RSA (cannot be pinned against OpenSSH 9 by the plugin), fingerprints and junk", () => {
      expect(() => pinnedHostKey("ssh-rsa AAAAB3NzaC1yc2E=")).to.throw(/RSA host key cannot be pinned.*ed25519/);
      expect(() => pinnedHostKey("SHA256:abcdef")).to.throw(/not a host public key line/);
      expect(() => pinnedHostKey("")).to.throw(/not a host public key line/);
      expect(() => pinnedHostKey("ssh-ed25519 not;base64")).to.throw(/not a host public key line/);
    });
  });

  describe("input checks", () => {
    const ok = { name: "master3", address: "10.250.0.103", user: "root", privateKey: "k", hostKey: ED };
    it("accepts a good host and RKE's five components by default", () => {
      expect(hostProblems(ok, 0)).to.deep.equal([]);
      expect(KUBE_COMPONENTS).to.deep.equal(["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]);
    });
    it("reports every problem at once: hostile container names, names, addresses, ports, users, keys", () => {
      const p = hostProblems({ ...ok, name: "a b", address: "10.0.0.300", port: 70000, user: "root;id", hostKey: "", containers: ["kubelet", "x`id`"] }, 2);
      expect(p.join("\n")).to.match(/hosts\[2\]\.name/).and.match(/hosts\[2\]\.address/).and.match(/hosts\[2\]\.port/).and.match(/hosts\[2\]\.user/)
        .and.match(/hosts\[2\]\.hostKey/).and.match(/hosts\[2\]\.containers\[1\]/);
      expect(p).to.have.length(6);
      expect(hostProblems({ ...ok, containers: [] }, 0)).to.deep.equal(["hosts[0].containers must be a non-empty list of container names"]);
    });
    it("builds scripts only from validated names and values", () => {
      expect(() => restartScript(["kubelet", "$(reboot)"], { graceSeconds: 10, sudo: false })).to.throw(/not a valid container name/);
      expect(() => restartScript(["kubelet"], { graceSeconds: -1, sudo: false })).to.throw(/graceSeconds/);
      expect(() => readyzScript({ port: 6443, timeoutSeconds: 10, ...RKE_TLS, caFile: "/etc/x;id", sudo: false })).to.throw(/tls\.caFile/);
      expect(restartScript(["kube-apiserver"], { graceSeconds: 10, sudo: true })).to.include("sudo -n docker restart -t 10").and.include("for c in 'kube-apiserver'; do");
    });
  });

  describe("the restart script (run with a stand-in docker)", () => {
    let dir: string;
    let bin: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "esb-kuberestart-"));
      bin = path.join(dir, "bin");
      fs.mkdirSync(bin);
      fs.mkdirSync(path.join(dir, "state"));
      fs.writeFileSync(path.join(bin, "docker"), FAKE_DOCKER, { mode: 0o755 });
      for (const c of ["kube-apiserver", "kubelet", "kube-proxy"]) fs.writeFileSync(path.join(dir, "state", c), "true 2025-12-31T23:59:59.1Z\n");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("restarts the present components, reports the absent ones and succeeds", async () => {
      const r = await runScript(restartScript(KUBE_COMPONENTS, { graceSeconds: 10, sudo: false }), bin, { FAKE_DOCKER: path.join(dir, "state") });
      expect(r.code, r.stderr).to.equal(0);
      const rep = parseRestartOutput(r.stdout);
      expect(rep.restarted).to.deep.equal(["kube-apiserver", "kubelet", "kube-proxy"]);
      expect(rep.absent).to.deep.equal(["kube-controller-manager", "kube-scheduler"]);
      expect(rep.failed).to.deep.equal([]);
      expect(rep.startedAt.kubelet.before).to.equal("2025-12-31T23:59:59.1Z");
      expect(rep.startedAt.kubelet.after).to.match(/^2026-01-01T/);
      // one line per container, in the given order
      expect(r.stdout.trim().split("\n").map((l) => l.split(" ")[1])).to.deep.equal(KUBE_COMPONENTS);
    });

    it("fails, naming it, when a present component cannot be restarted", async () => {
      const r = await runScript(restartScript(KUBE_COMPONENTS, { graceSeconds: 10, sudo: false }), bin, { FAKE_DOCKER: path.join(dir, "state"), FAKE_DOCKER_BROKEN: "kubelet" });
      expect(r.code).to.equal(1);
      const rep = parseRestartOutput(r.stdout);
      expect(rep.failed).to.deep.equal(["kubelet"]);
      expect(rep.restarted).to.deep.equal(["kube-apiserver", "kube-proxy"]);
      expect(r.stdout).to.match(/^failed kubelet: Error response from daemon: cannot restart kubelet/m);
    });
  });

  describe("the /readyz check (run with a stand-in curl)", () => {
    let bin: string;
    beforeEach(() => {
      bin = fs.mkdtempSync(path.join(os.tmpdir(), "esb-readyz-"));
      // answers what $FAKE_CURL_BODY says, with status $FAKE_CURL_STATUS, as curl -w '\nHTTP %{http_code}' prints it
      fs.writeFileSync(path.join(bin, "curl"), `#!/bin/bash\nprintf '%b\\nHTTP %s' "$FAKE_CURL_BODY" "$FAKE_CURL_STATUS"\n`, { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(bin, { recursive: true, force: true }));

    it("passes when the API server is ready, printing its etcd check", async () => {
      const r = await runScript(readyzScript({ port: 6443, timeoutSeconds: 5, ...RKE_TLS, sudo: false }), bin, { FAKE_CURL_BODY: "[+]ping ok\\n[+]etcd ok\\nreadyz check passed", FAKE_CURL_STATUS: "200" });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^\[\+\]etcd ok$/m).and.match(/readyz check passed after \d+ s/);
    });

    it("fails after its deadline with the API server's last answer", async () => {
      const r = await runScript(readyzScript({ port: 6443, timeoutSeconds: 1, ...RKE_TLS, sudo: false }), bin, { FAKE_CURL_BODY: "[-]etcd failed: reason withheld\\nreadyz check failed", FAKE_CURL_STATUS: "500" });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/did not pass \/readyz within 1 s/).and.match(/\[-\]etcd failed/);
    });
  });

  describe("the resources it declares (Pulumi mocks)", () => {
    const declared: Array<{ type: string; name: string; inputs: Record<string, unknown> }> = [];
    before(async () => {
      await pulumi.runtime.setMocks({
        newResource: (args) => {
          declared.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
          return { id: `${args.name}-id`, state: { ...(args.inputs as Record<string, unknown>), stdout: "" } };
        },
        call: (args) => args.inputs as Record<string, unknown>,
      }, "project", "stack", false);
    });

    it("a restart per host and a /readyz check per control-plane host, pinned, triggered by the new cluster ID", async () => {
      const privateKey = pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----");
      const c = new KubeRestart("restart-kube", {
        trigger: "61101bcfdeaf1af3",
        hosts: [
          { name: "master3", address: "10.250.0.103", user: "root", privateKey, hostKey: `10.250.0.103 ${ED}`, apiServer: true },
          { name: "node2", address: "10.250.0.105", user: "root", privateKey, hostKey: ED },
        ],
      });
      await new Promise<void>((resolve) => c.restarts.apply(() => resolve()));
      const cmds = declared.filter((d) => d.type === "command:remote:Command");
      expect(cmds.map((d) => d.name).sort()).to.deep.equal(["apiserver-ready-master3", "restart-master3", "restart-node2"]);
      for (const d of cmds) {
        // The whole connection (with the private key) is a secret: Pulumi's secret signature wraps it.
        const wrapped = d.inputs.connection as { "4dabf18193072939515e22adb298388d"?: string; value?: Record<string, unknown> };
        expect(wrapped["4dabf18193072939515e22adb298388d"]).to.equal("1b47061264138c4ac30d75fd1eb44270");
        expect(wrapped.value?.hostKey).to.equal(ED);
        expect(wrapped.value?.user).to.equal("root");
        expect(d.inputs.triggers).to.deep.equal(["61101bcfdeaf1af3"]);
      }
      const byName = (n: string): string => String(cmds.find((d) => d.name === n)?.inputs.create);
      expect(byName("restart-node2")).to.include("docker restart -t 10");
      expect(byName("apiserver-ready-master3")).to.include("https://127.0.0.1:6443/readyz?verbose");
      expect(declared.find((d) => d.type === "etcdstandby:index:KubeRestart")?.name).to.equal("restart-kube");
    });

    it("refuses bad input at preview, before declaring anything", () => {
      expect(() => new KubeRestart("bad", { trigger: "x", hosts: [{ name: "m", address: "10.250.0.103", user: "root", privateKey: "k", hostKey: "ssh-rsa AAAAB3NzaC1yc2E=" }] }))
        .to.throw(/KubeRestart bad: hosts\[0\]\.hostKey: an RSA host key cannot be pinned/);
      expect(() => new KubeRestart("none", { trigger: "x", hosts: [] })).to.throw(/hosts must not be empty/);
    });
  });
});
