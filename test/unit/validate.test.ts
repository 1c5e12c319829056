import { expect } from "chai";
import {
  validateAbsolutePath,
  validateClientUrl,
  validateContainerName,
  validateEach,
  validateExtraFlag,
  validateHostAddress,
  validateImage,
  validateMemberName,
  validatePeerUrl,
  validatePort,
} from "../../provider/lib/validate";

const HOSTILE = ["etcd; rm -rf /", "$(reboot)", "`id`", "a\nb", "../x", "it's", 'say "hi"', "a|b", "a&b", "a>b"];

describe("validate", () => {
  describe("validateContainerName", () => {
    it("accepts docker names", () => {
      for (const n of ["etcd", "etcd-standby", "Etcd_1.old", "0abc"]) expect(validateContainerName(n)).to.deep.equal([]);
      expect(validateContainerName("a".repeat(128))).to.deep.equal([]);
    });
    it("rejects bad names, naming the field and quoting the value", () => {
      for (const n of ["", "-etcd", ".etcd", "_etcd", "et cd", "/etcd", ...HOSTILE]) {
        const p = validateContainerName(n, "containerName");
        expect(p, n).to.have.length.greaterThan(0);
        expect(p[0]).to.include("containerName");
        expect(p[0]).to.include(JSON.stringify(n));
      }
      expect(validateContainerName("a".repeat(129))[0]).to.include("at most 128");
    });
    it("rejects non-strings", () => {
      expect(validateContainerName(42)).to.have.length(1);
      expect(validateContainerName(undefined)).to.have.length(1);
    });
  });

  describe("validateAbsolutePath", () => {
    it("accepts clean absolute paths", () => {
      for (const p of ["/var/lib/etcd", "/opt/rke/etc/kubernetes/ssl", "/a/b@c+d=e,f-g_h.i"]) {
        expect(validateAbsolutePath(p, "dataDir")).to.deep.equal([]);
      }
    });
    it("rejects relative, dot segments, double slashes, trailing slash and odd characters", () => {
      const cases: Array<[string, string]> = [
        ["var/lib/etcd", "absolute"],
        ["/var/../etc", '".."'],
        ["/var/./lib", '".."'],
        ["/var//lib", '"//"'],
        ["/var/lib/", 'end with "/"'],
        ["/var/lib etcd", "characters"],
        ["/var/$(reboot)", "characters"],
        ["/var/lib\n/etc", "characters"],
        ["/var/lib;rm", "characters"],
      ];
      for (const [p, msg] of cases) {
        const problems = validateAbsolutePath(p, "dataDir");
        expect(problems.join(" | "), p).to.include(msg);
        expect(problems[0]).to.include("dataDir");
      }
    });
    it("rejects / itself unless allowed", () => {
      expect(validateAbsolutePath("/", "dataDir")[0]).to.include('must not be "/"');
      expect(validateAbsolutePath("/", "root", { allowRoot: true })).to.deep.equal([]);
    });
  });

  describe("validateMemberName", () => {
    it("accepts etcd-style names", () => {
      for (const n of ["etcd-master1", "etcd-10.0.0.5", "a_b", "A"]) expect(validateMemberName(n)).to.deep.equal([]);
    });
    it("rejects empty, long and odd names", () => {
      expect(validateMemberName("")[0]).to.include("must not be empty");
      expect(validateMemberName("a".repeat(64))[0]).to.include("at most 63");
      for (const n of HOSTILE) expect(validateMemberName(n, "name"), n).to.have.length.greaterThan(0);
    });
  });

  describe("validatePeerUrl / validateClientUrl", () => {
    it("accepts host:port URLs with IPv4, IPv6 and DNS hosts", () => {
      for (const u of ["https://10.0.0.5:2380", "http://etcd-1.example.com:2380", "https://[fe80::1]:2380", "https://localhost:1"]) {
        expect(validatePeerUrl(u), u).to.deep.equal([]);
        expect(validateClientUrl(u), u).to.deep.equal([]);
      }
    });
    it("rejects paths, queries, missing ports, bad schemes and hosts", () => {
      const bad = [
        "https://10.0.0.5",
        "https://10.0.0.5:2380/",
        "https://10.0.0.5:2380/x",
        "https://10.0.0.5:2380?a=b",
        "ftp://10.0.0.5:2380",
        "10.0.0.5:2380",
        "https://user@10.0.0.5:2380",
        "https://10.0.0.5:99999",
        "https://10.0.0.5:0",
        "https://999.1.1.1:2380",
        "https://fe80::1:2380",
        "https://[not-ipv6]:2380",
        "https://a_b:2380",
        "https://$(reboot):2380",
      ];
      for (const u of bad) {
        const p = validatePeerUrl(u, "peerUrl");
        expect(p, u).to.have.length.greaterThan(0);
        expect(p[0]).to.include("peerUrl").and.include(JSON.stringify(u));
      }
    });
  });

  describe("validateImage", () => {
    it("accepts image references", () => {
      for (const i of ["rancher/mirrored-coreos-etcd:v3.5.9", "quay.io/coreos/etcd:v3.4.23", "etcd@sha256:abc123", "localhost:5000/etcd"]) {
        expect(validateImage(i), i).to.deep.equal([]);
      }
    });
    it("rejects bad references", () => {
      for (const i of ["", "Etcd", "-etcd", "etcd latest", ...HOSTILE]) expect(validateImage(i), i).to.have.length.greaterThan(0);
      expect(validateImage(`a${"b".repeat(255)}`)[0]).to.include("at most 255");
    });
  });

  describe("validateExtraFlag", () => {
    it("accepts --flag and --flag=value with a safe value", () => {
      for (const f of ["--debug", "--quota-backend-bytes=8589934592", "--log-outputs=stderr", "--cipher-suites=TLS_A,TLS_B", "--listen-metrics-urls=http://127.0.0.1:2381", "--x="]) {
        expect(validateExtraFlag(f), f).to.deep.equal([]);
      }
    });
    it("rejects non-flags and shell metacharacters", () => {
      for (const f of ["debug", "-d", "--", "--Debug", "--a b", "--a=b c", "--a=$(reboot)", "--a=`id`", "--a=x;rm -rf /", "--a=x\nb", "--a='q'", "--a=x|y", "--a=x&"]) {
        const p = validateExtraFlag(f, "extraFlags[0]");
        expect(p, f).to.have.length(1);
        expect(p[0]).to.include("extraFlags[0]").and.include(JSON.stringify(f));
      }
      expect(validateExtraFlag("--a=$(reboot)")[0]).to.include("shell metacharacters");
    });
  });

  describe("validateHostAddress", () => {
    it("accepts IPs and DNS names", () => {
      for (const h of ["10.0.0.5", "::1", "fe80::1", "node-1.example.com", "localhost", "a.b."]) {
        expect(validateHostAddress(h), h).to.deep.equal([]);
      }
    });
    it("rejects the rest", () => {
      for (const h of ["", "10.0.0.256", "1.2.3", "[::1]", "a..b", "-a.com", "a_b.com", "a b", `${"a".repeat(64)}.com`, ...HOSTILE]) {
        expect(validateHostAddress(h, "host"), h).to.have.length(1);
      }
    });
  });

  describe("validatePort", () => {
    it("accepts 1..65535 integers only", () => {
      expect(validatePort(22)).to.deep.equal([]);
      expect(validatePort(65535)).to.deep.equal([]);
      for (const p of [0, 65536, 22.5, -1, "22", NaN]) expect(validatePort(p, "port"), String(p)).to.have.length(1);
    });
  });

  describe("validateEach", () => {
    it("indexes each problem", () => {
      const p = validateEach(["--ok", "bad"], "extraFlags", validateExtraFlag);
      expect(p).to.have.length(1);
      expect(p[0]).to.include("extraFlags[1]");
      expect(validateEach("nope", "extraFlags", validateExtraFlag)[0]).to.include("must be a list");
    });
  });
});
