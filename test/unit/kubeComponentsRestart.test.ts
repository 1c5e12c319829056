import { expect } from "chai";
import type { Props } from "../../provider/impl/common";
import { DEFAULT_KUBE_CONTAINERS, dockerTimeNs, provider, startedLater } from "../../provider/impl/kubeComponentsRestart";

describe("KubeComponentsRestart (pure parts)", () => {
  it("restarts the five components the seed names by default", () => {
    expect(DEFAULT_KUBE_CONTAINERS).to.deep.equal(["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]);
  });

  describe("docker timestamps", () => {
    it("reads nanoseconds exactly", () => {
      expect(dockerTimeNs("2026-01-01T12:00:00.123456789Z")).to.equal(BigInt(Date.parse("2026-01-01T12:00:00Z")) * 1_000_000n + 123_456_789n);
      expect(dockerTimeNs("2026-01-01T12:00:00Z")).to.equal(BigInt(Date.parse("2026-01-01T12:00:00Z")) * 1_000_000n);
      expect(dockerTimeNs("2026-01-01T14:00:00.5+02:00")).to.equal(BigInt(Date.parse("2026-01-01T12:00:00Z")) * 1_000_000n + 500_000_000n);
    });
    it("treats docker's zero time and junk as unknown", () => {
      expect(dockerTimeNs("0001-01-01T00:00:00Z")).to.equal(undefined);
      expect(dockerTimeNs("")).to.equal(undefined);
      expect(dockerTimeNs("yesterday")).to.equal(undefined);
    });
    it("compares starts within the same millisecond", () => {
      expect(startedLater("2026-01-01T12:00:00.123456789Z", "2026-01-01T12:00:00.123456790Z")).to.equal(true);
      expect(startedLater("2026-01-01T12:00:00.123456789Z", "2026-01-01T12:00:00.123456789Z")).to.equal(false);
      expect(startedLater("2026-01-01T12:00:01Z", "2026-01-01T12:00:00.999999999Z")).to.equal(false);
      expect(startedLater("0001-01-01T00:00:00Z", "2026-01-01T12:00:00Z")).to.equal(true);
      expect(startedLater("2026-01-01T12:00:00Z", "0001-01-01T00:00:00Z")).to.equal(false);
    });
  });

  describe("check and diff", () => {
    const host = { host: "10.250.0.103", user: "root", privateKey: "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----", insecureIgnoreHostKey: true };
    it("refuses hostile container names and a non-string trigger", async () => {
      const r = await provider.check({}, { host, containers: ["kubelet", "x`id`"], trigger: 5 });
      expect((r.failures ?? []).map((f) => f.property)).to.include.members(["containers[1]", "trigger"]);
    });
    it("reruns (replaces) only when the trigger, the containers or the host change", async () => {
      const olds: Props = { host, trigger: "cluster-a", restarted: ["kubelet"] };
      expect((await provider.diff("x", olds, { host, trigger: "cluster-b" })).replaces).to.deep.equal(["trigger"]);
      expect((await provider.diff("x", olds, { host, trigger: "cluster-a" })).changes).to.equal(false);
      expect((await provider.diff("x", olds, { host, trigger: "cluster-a", timeoutMs: 5000 })).replaces).to.deep.equal([]);
      expect((await provider.diff("x", olds, { host: { ...host, host: "10.250.0.105" }, trigger: "cluster-a" })).replaces).to.deep.equal(["host"]);
    });
  });
});
