/** Rewriting a container's flags and environment for its re-creation after a failover. */
import { expect } from "chai";
import { keptCopies, provider } from "../../provider/impl/containerRepoint";
import { flagValue, repointDrift, setFlags } from "../../provider/lib/repoint";
import { HOST_KEY, KEY } from "../support/unit";

describe("repoint: flags and environment of a re-created container", () => {
  const apiserver = ["kube-apiserver", "--etcd-servers=https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379", "--secure-port", "6443", "--etcd-cafile=/etc/kubernetes/ssl/kube-ca.pem"];
  it("reads a flag in either form", () => {
    expect(flagValue(apiserver, "etcd-servers")).to.equal("https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379");
    expect(flagValue(apiserver, "secure-port")).to.equal("6443");
    expect(flagValue(apiserver, "absent")).to.equal(undefined);
  });
  it("sets a flag in place, keeps everything else, and appends an absent one", () => {
    const out = setFlags(apiserver, { "etcd-servers": "https://10.0.0.3:2379", "secure-port": "7443", "new-flag": "x" });
    expect(out).to.deep.equal(["kube-apiserver", "--etcd-servers=https://10.0.0.3:2379", "--secure-port=7443", "--etcd-cafile=/etc/kubernetes/ssl/kube-ca.pem", "--new-flag=x"]);
  });
  it("reports what differs, flags and environment", () => {
    expect(repointDrift(apiserver, { CP_HOSTS: "10.0.0.1,10.0.0.3" }, { flags: { "etcd-servers": "https://10.0.0.3:2379" }, env: { CP_HOSTS: "10.0.0.3" } })).to.have.length(2);
    expect(repointDrift(setFlags(apiserver, { "etcd-servers": "https://10.0.0.3:2379" }), { CP_HOSTS: "10.0.0.3" }, { flags: { "etcd-servers": "https://10.0.0.3:2379" }, env: { CP_HOSTS: "10.0.0.3" } })).to.deep.equal([]);
  });

  describe("RkeContainerRepoint check and diff: readyz and restartPolicy", () => {
    const host = { host: "10.250.0.101", user: "root", privateKey: KEY, hostPublicKey: HOST_KEY };
    const base = { host, container: "kube-apiserver", setFlags: { "etcd-servers": "https://10.250.0.101:2379" } };
    it("accepts RKE's defaults ({}) and a full readyz, and every docker restart policy", async () => {
      for (const readyz of [{}, { port: 6443, caFile: "/etc/kubernetes/ssl/kube-ca.pem", certFile: "/etc/kubernetes/ssl/kube-node.pem", keyFile: "/etc/kubernetes/ssl/kube-node-key.pem", timeoutSeconds: 60 }]) {
        expect((await provider.check({}, { ...base, readyz, restartPolicy: "always" })).failures ?? []).to.deep.equal([]);
      }
    });
    it("refuses a bad port, a relative or hostile path, a timeout out of range, unknown fields and an unknown restart policy, all at once", async () => {
      const r = await provider.check({}, { ...base, readyz: { port: 70000, caFile: "ca.pem", keyFile: "/x;rm -rf /", timeoutSeconds: 0, url: "http://x" }, restartPolicy: "sometimes" });
      const reasons = (r.failures ?? []).map((f) => `${f.property}: ${f.reason}`).join("\n");
      expect(reasons).to.match(/readyz\.port/).and.match(/readyz\.caFile/).and.match(/readyz\.keyFile/).and.match(/timeoutSeconds/).and.match(/unknown fields url/).and.match(/restartPolicy must be one of/);
    });
    it("a new restart policy or readiness check is an update, not a replacement", async () => {
      const d = await provider.diff("x", { ...base, drift: [] }, { ...base, restartPolicy: "always", readyz: {} });
      expect([d.changes, d.replaces]).to.deep.equal([true, []]);
      expect((await provider.diff("x", { ...base, drift: [] }, base)).changes).to.equal(false);
    });
    it("dropping restartPolicy from the inputs keeps the container's own: no change (fail back, then learner-standby)", async () => {
      expect((await provider.diff("x", { ...base, restartPolicy: "always", drift: [] }, base)).changes).to.equal(false);
      expect((await provider.diff("x", { ...base, restartPolicy: "always", drift: [] }, { ...base, restartPolicy: "no" })).changes).to.equal(true);
    });
  });
});

describe("RkeContainerRepoint's kept copies", () => {
  it("finds the copies a re-creation kept for this container only, newest first", () => {
    const names = ["kube-apiserver", "kube-apiserver-pre-20261207t203103z", "kube-apiserver-pre-20261208t010203z", "kube-apiserver-pre-x", "nginx-proxy-pre-20261207t203103z", "kube-apiserver-previous", "xkube-apiserver-pre-20261207t203103z"];
    expect(keptCopies(names, "kube-apiserver")).to.deep.equal(["kube-apiserver-pre-20261208t010203z", "kube-apiserver-pre-20261207t203103z"]);
    expect(keptCopies(names, "nginx-proxy")).to.deep.equal(["nginx-proxy-pre-20261207t203103z"]);
    expect(keptCopies(["a.b-pre-20261207t203103z", "axb-pre-20261207t203103z"], "a.b")).to.deep.equal(["a.b-pre-20261207t203103z"]);
  });
});
