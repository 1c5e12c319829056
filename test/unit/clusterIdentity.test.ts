/** Fencing by identity (issue 24): which cluster a lost-site etcd belongs to, whoever started it. */
import { expect } from "chai";
import { identify } from "../../provider/lib/clusterIdentity";

const CURRENT = { clusterId: "b34e8534b628f34d", members: [{ name: "new-cluster", peerURLs: ["https://10.250.0.103:2380"] }, { name: "etcd-master1", peerURLs: ["https://10.250.0.101:2380"] }] };

describe("cluster identity of a lost-site etcd", () => {
  it("an etcd that answers is judged by its cluster ID alone", () => {
    expect(identify({ answeredClusterId: "b34e8534b628f34d", startedAs: { name: "etcd-master2", peerURLs: ["https://10.250.0.102:2380"] } }, CURRENT)).to.include({ current: true });
    const old = identify({ answeredClusterId: "cdf818194e3a8c32", startedAs: { name: "etcd-master1", peerURLs: ["https://10.250.0.101:2380"] } }, CURRENT);
    expect(old.current).to.equal(false);
    expect(old.why).to.match(/answers as cluster cdf818194e3a8c32, not the current b34e8534b628f34d/);
  });

  it("one that does not answer is the current cluster's only when its container's name and peer URL are a current member's", () => {
    expect(identify({ startedAs: { name: "etcd-master1", peerURLs: ["https://10.250.0.101:2380"] } }, CURRENT).current).to.equal(true);
    // The same name at another address, or the same address under another name: another member, fenced.
    expect(identify({ startedAs: { name: "etcd-master1", peerURLs: ["https://10.250.0.102:2380"] } }, CURRENT).current).to.equal(false);
    expect(identify({ startedAs: { name: "etcd-master9", peerURLs: ["https://10.250.0.101:2380"] } }, CURRENT).current).to.equal(false);
    expect(identify({ startedAs: { name: undefined, peerURLs: ["https://10.250.0.101:2380"] } }, CURRENT).current).to.equal(false);
    // The last loop's member, the current cluster's members unreadable: fenced (the safe side on a lost site).
    expect(identify({ startedAs: { name: "etcd-master1", peerURLs: ["https://10.250.0.101:2380"] } }, { ...CURRENT, members: [] }).current).to.equal(false);
  });

  it("nothing that answers and no etcd container: not the current cluster's", () => {
    const v = identify({}, CURRENT);
    expect(v.current).to.equal(false);
    expect(v.why).to.match(/does not answer and no etcd container/);
  });
});
