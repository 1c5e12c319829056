import { expect } from "chai";
import type { Member } from "../../provider/lib/members";
import { canTolerate, checkAddLearner, checkPromotion, checkRemoval, quorumSize } from "../../provider/lib/quorum";

function m(n: number, name: string, isLearner = false): Member {
  return {
    id: n.toString(16).padStart(16, "0"),
    name,
    peerURLs: [`https://10.0.0.${n}:2380`],
    clientURLs: name === "" ? [] : [`https://10.0.0.${n}:2379`],
    isLearner,
    started: name !== "",
  };
}
const id = (n: number): string => n.toString(16).padStart(16, "0");

describe("quorum", () => {
  it("quorumSize and canTolerate", () => {
    const table: Array<[number, number, number]> = [
      [0, 0, 0],
      [1, 1, 0],
      [2, 2, 0],
      [3, 2, 1],
      [4, 3, 1],
      [5, 3, 2],
      [6, 4, 2],
      [7, 4, 3],
    ];
    for (const [n, q, t] of table) {
      expect(quorumSize(n), `quorumSize(${n})`).to.equal(q);
      expect(canTolerate(n), `canTolerate(${n})`).to.equal(t);
    }
    expect(() => quorumSize(-1)).to.throw(RangeError);
    expect(() => canTolerate(1.5)).to.throw(RangeError);
  });

  describe("checkRemoval", () => {
    const five = [m(1, "etcd-master1"), m(2, "etcd-master2"), m(3, "etcd-master3"), m(4, "etcd-master4"), m(5, "etcd-master5")];

    it("allows removal when a healthy majority remains and says the numbers", () => {
      const d = checkRemoval(five.slice(0, 4), [id(1), id(2), id(3)], id(3));
      expect(d.ok).to.equal(true);
      expect(d.voters).to.equal(3);
      expect(d.healthyVoters).to.equal(2);
      expect(d.needed).to.equal(2);
      expect(d.reason).to.equal(
        "after removing etcd-master3 there would be 3 voters of which 2 are healthy; 2 is a majority of 3",
      );
    });

    it("refuses removal that would leave no healthy majority", () => {
      const d = checkRemoval(five.slice(0, 4), [id(1), id(3)], id(3));
      expect(d.ok).to.equal(false);
      expect(d.reason).to.equal(
        "after removing etcd-master3 there would be 3 voters of which 1 is healthy; 1 is not a majority (need 2) of 3",
      );
    });

    it("removing an unhealthy voter can be safe even with another one down", () => {
      // 5 voters, 2 down (4 and 5): remove 5 -> 4 voters, 3 healthy, need 3.
      const d = checkRemoval(five, [id(1), id(2), id(3)], id(5));
      expect(d.ok).to.equal(true);
      expect(d.reason).to.include("4 voters of which 3 are healthy; 3 is a majority of 4");
    });

    it("refuses when remaining healthy voters are exactly half", () => {
      // 5 voters, remove healthy 1 while 4 and 5 are down: 4 voters, 2 healthy.
      const d = checkRemoval(five, [id(1), id(2), id(3)], id(1));
      expect(d.ok).to.equal(false);
      expect(d.reason).to.include("2 is not a majority (need 3) of 4");
    });

    it("never counts learners as voters", () => {
      const members = [m(1, "a"), m(2, "b"), m(3, "c"), m(9, "learner", true)];
      const d = checkRemoval(members, [id(1), id(9)], id(3));
      expect(d.voters).to.equal(2);
      expect(d.healthyVoters).to.equal(1);
      expect(d.ok).to.equal(false);
    });

    it("removing a learner is always quorum-safe", () => {
      const d = checkRemoval([m(1, "a"), m(2, "b"), m(3, "c"), m(9, "l", true)], [id(1), id(2), id(3)], id(9));
      expect(d.ok).to.equal(true);
      expect(d.reason).to.include("is a learner");
    });

    it("refuses removing the last voter and unknown members", () => {
      expect(checkRemoval([m(1, "a")], [id(1)], id(1)).ok).to.equal(false);
      const d = checkRemoval([m(1, "a")], [id(1)], id(7));
      expect(d.ok).to.equal(false);
      expect(d.reason).to.include("not in the member list");
    });

    it("names unstarted members by ID", () => {
      const d = checkRemoval([m(1, "a"), m(2, "b"), m(3, "")], [id(1), id(2)], id(3));
      expect(d.reason).to.include(`unstarted member ${id(3)}`);
    });
  });

  describe("checkPromotion", () => {
    it("counts the learner as a voter after promotion", () => {
      const members = [m(1, "a"), m(2, "b"), m(9, "l", true)];
      const d = checkPromotion(members, [id(1), id(2), id(9)], id(9));
      expect(d.ok).to.equal(true);
      expect(d.reason).to.equal("after promoting l there would be 3 voters of which 3 are healthy; 3 is a majority of 3");
    });
    it("refuses promoting an unhealthy learner when that loses the majority", () => {
      // 2 voters, 1 healthy; promoting an unhealthy learner -> 3 voters, 1 healthy.
      const d = checkPromotion([m(1, "a"), m(2, "b"), m(9, "l", true)], [id(1)], id(9));
      expect(d.ok).to.equal(false);
    });
    it("refuses voters and unknown IDs", () => {
      expect(checkPromotion([m(1, "a")], [id(1)], id(1)).reason).to.include("already a voter");
      expect(checkPromotion([m(1, "a")], [id(1)], id(5)).reason).to.include("not in the member list");
    });
  });

  describe("checkAddLearner", () => {
    it("allows the first learner", () => {
      const d = checkAddLearner([m(1, "a"), m(2, "b")]);
      expect(d.ok).to.equal(true);
      expect(d.learners).to.equal(0);
      expect(d.maxLearners).to.equal(1);
    });
    it("refuses a second learner by default and names the existing one", () => {
      const d = checkAddLearner([m(1, "a"), m(9, "site-b", true)]);
      expect(d.ok).to.equal(false);
      expect(d.reason).to.include("site-b").and.include("at most 1");
    });
    it("honours maxLearners", () => {
      expect(checkAddLearner([m(1, "a"), m(9, "l", true)], 2).ok).to.equal(true);
      expect(() => checkAddLearner([], -1)).to.throw(RangeError);
    });
  });
});
