/** Rewriting a container's flags and environment for its re-creation after a failover. */
import { expect } from "chai";
import { flagValue, repointDrift, setFlags } from "../../provider/lib/repoint";

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
});
