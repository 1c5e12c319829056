import { expect } from "chai";
import { EtcdStandbyError, REDACTED, describeError, isEtcdStandbyError, redact } from "../../provider/lib/errors";

const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF",
  "-----END PRIVATE KEY-----",
].join("\n");

describe("errors", () => {
  describe("EtcdStandbyError", () => {
    it("formats what happened, context and next step", () => {
      const e = new EtcdStandbyError("QuorumRisk", "refusing to remove", "bring a voter back", {
        member: "etcd-master3",
        host: "10.0.0.3",
      });
      expect(e.message).to.equal("refusing to remove (member etcd-master3, host 10.0.0.3). Next: bring a voter back");
      expect(e.code).to.equal("QuorumRisk");
      expect(e.member).to.equal("etcd-master3");
      expect(e.host).to.equal("10.0.0.3");
      expect(e.nextStep).to.equal("bring a voter back");
      expect(e).to.be.instanceOf(Error);
      expect(e.name).to.equal("EtcdStandbyError");
    });

    it("omits unknown context", () => {
      expect(new EtcdStandbyError("Timeout", "slow", "wait").message).to.equal("slow. Next: wait");
      expect(new EtcdStandbyError("Timeout", "slow", "wait", { host: "h" }).message).to.equal("slow (host h). Next: wait");
    });

    it("always redacts PEM keys and given secrets from the message", () => {
      const e = new EtcdStandbyError("RemoteCommandFailed", `output: ${PEM} token=hunter22`, "retry", {
        secrets: ["hunter22"],
      });
      expect(e.message).not.to.include("MC4CAQAw");
      expect(e.message).not.to.include("hunter22");
      expect(e.message).to.include(REDACTED);
    });

    it("isEtcdStandbyError checks the code", () => {
      const e = new EtcdStandbyError("NotFound", "x", "y");
      expect(isEtcdStandbyError(e)).to.equal(true);
      expect(isEtcdStandbyError(e, "NotFound")).to.equal(true);
      expect(isEtcdStandbyError(e, "Timeout")).to.equal(false);
      expect(isEtcdStandbyError(new Error("x"))).to.equal(false);
    });
  });

  describe("redact", () => {
    it("replaces every occurrence of each secret", () => {
      expect(redact("a s3cret b s3cret", ["s3cret"])).to.equal(`a ${REDACTED} b ${REDACTED}`);
    });

    it("ignores empty secrets", () => {
      expect(redact("abc", ["", "zzz"])).to.equal("abc");
    });

    it("replaces the longest secret first", () => {
      expect(redact("xx abcdef yy", ["abc", "abcdef"])).to.equal(`xx ${REDACTED} yy`);
    });

    it("removes PEM private key blocks of any kind", () => {
      for (const kind of ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "]) {
        const block = `-----BEGIN ${kind}PRIVATE KEY-----\nAAAAsecretbody\n-----END ${kind}PRIVATE KEY-----`;
        const out = redact(`before\n${block}\nafter`, []);
        expect(out).to.equal(`before\n${REDACTED}\nafter`);
      }
    });

    it("removes a truncated PEM key block to the end of the text", () => {
      expect(redact("x -----BEGIN RSA PRIVATE KEY-----\nAAAApartial", [])).to.equal(`x ${REDACTED}`);
    });

    it("keeps certificates (public) intact", () => {
      const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
      expect(redact(cert, [])).to.equal(cert);
    });

    it("catches a multi-line secret echoed back with CRLF line endings", () => {
      const secret = "line1\nline2\nline3";
      expect(redact("got: line1\r\nline2\r\nline3", [secret])).to.equal(`got: ${REDACTED}`);
    });

    it("describeError redacts too", () => {
      expect(describeError(new Error("key is topsecret"), ["topsecret"])).to.equal(`key is ${REDACTED}`);
      expect(describeError("plain")).to.equal("plain");
    });
  });
});
