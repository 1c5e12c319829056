import { expect } from "chai";
import type { EtcdStatus, MemberHealth } from "../../provider/connection/etcd";
import { promotionLag, provider } from "../../provider/impl/learnerPromotion";

const status = (id: string, leaderId: string, raftIndex: number, raftAppliedIndex?: number): EtcdStatus =>
  ({ endpoint: `https://${id}:2379`, memberId: id, leaderId, raftIndex, raftAppliedIndex, raftTerm: 2, dbSize: 1, version: "3.5.17" }) as EtcdStatus;
const health = (id: string, isLearner: boolean, st?: EtcdStatus): MemberHealth => ({ id, name: id, isLearner, healthy: st !== undefined, status: st });

describe("EtcdLearnerPromotion: promote only a learner that has caught up", () => {
  it("measures the learner's lag against the leader's commit index", () => {
    const h = [health("a", false, status("a", "b", 1000, 1000)), health("b", false, status("b", "b", 1010, 1009)), health("l", true, status("l", "b", 1010, 400))];
    expect(promotionLag(h, "l")).to.equal(610);
    expect(promotionLag([h[0], h[1], health("l", true, status("l", "b", 1010, 1010))], "l")).to.equal(0);
  });
  it("knows nothing when the learner or the leader did not answer (etcd's own check decides then)", () => {
    expect(promotionLag([health("a", false, status("a", "b", 1000)), health("b", false), health("l", true, status("l", "b", 1000, 900))], "l")).to.equal(undefined);
    expect(promotionLag([health("b", false, status("b", "b", 1000)), health("l", true)], "l")).to.equal(undefined);
    expect(promotionLag([health("b", false, status("b", "0000000000000000", 1000)), health("l", true, status("l", "b", 1000, 1))], "l")).to.equal(undefined);
  });
  it("check takes a whole catchUpThreshold of 0 or more and refuses anything else", async () => {
    const base = { cluster: { endpoints: ["https://10.0.0.1:2379"], caPem: "-----BEGIN CERTIFICATE-----", certPem: "-----BEGIN CERTIFICATE-----", keyPem: "-----BEGIN PRIVATE KEY-----" }, memberName: "learner-master3" };
    for (const ok of [undefined, 0, 100]) expect((await provider.check({}, { ...base, catchUpThreshold: ok })).failures ?? [], String(ok)).to.deep.equal([]);
    for (const bad of [-1, 1.5]) expect((await provider.check({}, { ...base, catchUpThreshold: bad })).failures?.map((f) => f.property), String(bad)).to.deep.equal(["catchUpThreshold"]);
  });
});
