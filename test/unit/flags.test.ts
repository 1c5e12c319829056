/**
 * The deny lists of lib/etcdFlags.ts: every flag that weakens TLS or
 * authentication or exposes internals is refused in `extraFlags`
 * (EtcdLearner, EtcdStandaloneRestore) and in RkeContainerRepoint's
 * `setFlags` and `setEnv`, in every form the parsers take, each refusal
 * naming the flag, why and what to do; harmless flags and safe values pass.
 */
import { expect } from "chai";
import { provider as repoint } from "../../provider/impl/containerRepoint";
import { LEARNER_OWNED_FLAGS } from "../../provider/impl/learnerConfig";
import { flagsIn, refusedExtraFlags, refusedSetEnv, refusedSetFlags } from "../../provider/lib/etcdFlags";
import { HOST_KEY, KEY } from "../support/unit";

/** Every way `--name=value` can be written to etcd (Go's flag) or Kubernetes (pflag): long or single dash, `=` or a separate word. */
function forms(name: string, value: string | undefined): string[][] {
  if (value === undefined) return [[`--${name}`], [`-${name}`], [`--${name.replace(/-/g, "_")}`]];
  return [[`--${name}=${value}`], [`-${name}=${value}`], [`--${name}`, value], [`-${name}`, value]];
}

/** etcd flags refused in extraFlags (none of them the learner's own), with a value that must be refused. */
const ETCD_REFUSED: [string, string | undefined][] = [
  ["experimental-peer-skip-client-san-verification", undefined],
  ["experimental-peer-skip-client-san-verification", "true"],
  ["peer-skip-client-san-verification", "1"],
  ["enable-pprof", undefined],
  ["enable-pprof", "true"],
  ["auto-tls", undefined],
  ["peer-auto-tls", "T"],
  ["enable-v2", "true"],
  ["experimental-enable-v2v3", "/v2/"],
  ["experimental-enable-distributed-tracing", "true"],
  ["enable-distributed-tracing", undefined],
  ["tls-min-version", "TLS1.0"],
  ["tls-min-version", "TLS1.1"],
  ["tls-max-version", "TLS1.1"],
  ["cipher-suites", "TLS_RSA_WITH_RC4_128_SHA"],
  ["listen-metrics-urls", "http://0.0.0.0:2381"],
  ["listen-metrics-urls", "http://127.0.0.1:2381,http://10.0.0.3:2381"],
  ["socket-reuse-port", undefined],
  ["client-cert-allowed-hostname", "x"],
  ["client-crl-file", "/tmp/crl"],
  ["discovery-insecure-skip-tls-verify", undefined],
  ["unsafe-no-fsync", undefined],
];

/** Kubernetes flags refused in setFlags, with a value that must be refused. */
const KUBE_REFUSED: [string, string][] = [
  ["anonymous-auth", "true"],
  ["insecure-port", "8080"],
  ["insecure-bind-address", "0.0.0.0"],
  ["authorization-mode", "AlwaysAllow"],
  ["authorization-mode", "Node,RBAC,AlwaysAllow"],
  ["authorization-mode", ""],
  ["profiling", "true"],
  ["kubelet-insecure-tls", "true"],
  ["kubelet-https", "false"],
  ["read-only-port", "10255"],
  ["etcd-servers", "http://10.0.0.3:2379"],
  ["etcd-servers", "https://10.0.0.3:2379,http://10.0.0.1:2379"],
  ["etcd-servers", ""],
  ["etcd-servers-overrides", "/events#http://10.0.0.9:2379"],
  ["etcd-cafile", "/tmp/other-ca.pem"],
  ["etcd-certfile", ""],
  ["etcd-keyfile", "/tmp/key.pem"],
  ["tls-cert-file", "/tmp/c.pem"],
  ["client-ca-file", "/tmp/ca.pem"],
  ["tls-min-version", "VersionTLS10"],
  ["requestheader-allowed-names", ""],
  ["token-auth-file", "/tmp/tokens.csv"],
  // etcd's own, when RKE's etcd is re-created.
  ["client-cert-auth", "false"],
  ["peer-client-cert-auth", "0"],
  ["experimental-peer-skip-client-san-verification", "true"],
  ["enable-pprof", "true"],
  ["force-new-cluster", "true"],
];

describe("flag deny lists: TLS, authentication and internals", () => {
  describe("extraFlags (EtcdLearner, EtcdStandaloneRestore)", () => {
    for (const [name, value] of ETCD_REFUSED) {
      it(`refuses --${name}${value === undefined ? "" : `=${value}`} in every form, saying why and what to do`, () => {
        for (const args of forms(name, value)) {
          const problems = refusedExtraFlags(["--log-level=info", ...args], LEARNER_OWNED_FLAGS);
          expect(problems, args.join(" ")).to.have.length(1);
          expect(problems[0]).to.include(`extraFlags[1] ${args.join(" ")} is not allowed: `).and.match(/; (leave it out|use)/);
        }
      });
    }
    it("refuses a boolean that must stay on when false is given in any of Go's spellings, or as a separate word", () => {
      for (const f of ["--client-cert-auth=false", "--client-cert-auth=0", "-client-cert-auth=F", "--peer-client-cert-auth=FALSE"]) {
        expect(refusedExtraFlags([f], []), f).to.have.length(1);
      }
      expect(refusedExtraFlags(["--client-cert-auth", "false"], [])[0]).to.match(/--client-cert-auth false is not allowed: client certificate authentication must stay on/);
      // The learner sets it itself: refused as its own.
      expect(refusedExtraFlags(["--client-cert-auth=false"], LEARNER_OWNED_FLAGS)[0]).to.match(/set by the resource itself/);
    });
    it("judges a boolean followed by a separate word as etcd does: true (the word is not its value)", () => {
      expect(refusedExtraFlags(["--enable-pprof", "false"], [])[0]).to.match(/^extraFlags\[0\] --enable-pprof is not allowed/);
    });
    it("accepts harmless flags, values that keep a guard on, and metrics on the loopback or over https", () => {
      const ok = ["--log-level=debug", "--quota-backend-bytes=8589934592", "--snapshot-count=10000", "--auto-tls=false", "--enable-pprof=false", "--experimental-peer-skip-client-san-verification=false",
        "--listen-metrics-urls=http://127.0.0.1:2381", "--listen-metrics-urls=http://localhost:2381,https://10.0.0.3:2381", "--listen-metrics-urls=http://[::1]:2381", "--metrics=extensive", "--enable-grpc-gateway=true"];
      expect(refusedExtraFlags(ok, LEARNER_OWNED_FLAGS)).to.deep.equal([]);
    });
    it("still refuses what it refused before: listeners, membership, the config file", () => {
      const problems = refusedExtraFlags(["--listen-client-http-urls=http://0.0.0.0:2382", "--initial-cluster-state=new", "--discovery-srv=example.com", "--config-file=/tmp/x", "--strict-reconfig-check=false"], []);
      expect(problems).to.have.length(5);
    });
  });

  describe("setFlags and setEnv (RkeContainerRepoint)", () => {
    for (const [name, value] of KUBE_REFUSED) {
      it(`refuses ${name}=${JSON.stringify(value)}, naming the flag, why and what to do`, () => {
        const problems = refusedSetFlags({ "etcd-servers": "https://10.0.0.3:2379", [name]: value });
        expect(problems, name).to.have.length(1);
        expect(problems[0]).to.include(`setFlags.${name} (--${name}=${value}) is not allowed: `).and.match(/leave it out|keep|https:\/\//);
      });
    }
    it("accepts what the stacks set and values that keep a guard on", () => {
      const ok = { "etcd-servers": "https://10.0.0.3:2379,https://10.0.0.1:2379", "anonymous-auth": "false", profiling: "false", "insecure-port": "0", "authorization-mode": "Node,RBAC", "read-only-port": "0", "client-cert-auth": "true", "audit-log-path": "/var/log/kube-audit/audit-log.json" };
      expect(refusedSetFlags(ok)).to.deep.equal([]);
    });
    it("catches a name written with dashes", () => {
      expect(refusedSetFlags({ "--anonymous-auth": "true" })[0]).to.match(/anonymous requests/);
    });
    it("refuses the ETCD_* variables etcd reads as those flags, naming the variable and flag, never the value", () => {
      const problems = refusedSetEnv({ ETCD_CLIENT_CERT_AUTH: "false", ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION: "true", ETCD_ENABLE_PPROF: "true", ETCD_LISTEN_METRICS_URLS: "http://0.0.0.0:2381", ETCDCTL_API: "3", CP_HOSTS: "10.0.0.3", ETCD_AUTO_TLS: "false" });
      expect(problems).to.have.length(4);
      expect(problems.join("\n")).to.include("setEnv.ETCD_CLIENT_CERT_AUTH sets etcd's --client-cert-auth").and.include("--experimental-peer-skip-client-san-verification").and.include("ETCD_ENABLE_PPROF");
      expect(problems.join("\n")).not.to.include("0.0.0.0");
    });
    it("is part of check, each flag judged once its value is known (preview)", async () => {
      const host = { host: "10.250.0.101", user: "root", privateKey: KEY, hostPublicKey: HOST_KEY };
      const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
      const r = await repoint.check({}, { host, container: "kube-apiserver", setFlags: { "etcd-servers": UNKNOWN, "anonymous-auth": "true" }, setEnv: { ETCD_AUTO_TLS: "true" } });
      const reasons = (r.failures ?? []).map((f) => `${f.property}: ${f.reason}`);
      expect(reasons).to.have.length(2);
      expect(reasons.join("\n")).to.match(/^setFlags: setFlags\.anonymous-auth/m).and.match(/^setEnv: setEnv\.ETCD_AUTO_TLS/m);
      expect((await repoint.check({}, { host, container: "kube-apiserver", setFlags: { "etcd-servers": "https://10.250.0.103:2379" } })).failures ?? []).to.deep.equal([]);
    });
  });

  it("flagsIn reads each flag's name, =value and the word after it", () => {
    expect(flagsIn(["--a=1=2", "-b", "x", "--c", "--D_e", 7, "e"])).to.deep.equal([
      { index: 0, written: "--a", name: "a", value: "1=2", next: undefined },
      { index: 1, written: "-b", name: "b", value: undefined, next: "x" },
      { index: 3, written: "--c", name: "c", value: undefined, next: undefined },
      { index: 4, written: "--D_e", name: "D_e", value: undefined, next: undefined },
    ]);
  });
});
