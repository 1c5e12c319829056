import { expect } from "chai";
import {
  buildInitialCluster,
  fromRawMember,
  hexToId,
  hostOfUrl,
  idToHex,
  normaliseHexId,
  normaliseUrl,
  resolveMember,
} from "../../provider/lib/members";
import type { Member } from "../../provider/lib/members";

function mem(id: string, name: string, peerURLs: string[], isLearner = false): Member {
  return { id, name, peerURLs, clientURLs: name ? peerURLs.map((u) => u.replace("2380", "2379")) : [], isLearner, started: name !== "" };
}

const A = mem("0000000000000001", "etcd-a", ["https://10.0.0.1:2380"]);
const B = mem("0000000000000002", "etcd-b", ["https://10.0.0.2:2380", "https://192.168.0.2:2380"]);
const C = mem("8e9e05c52164694d", "etcd-c", ["https://etcd-c.example.com:2380"]);

describe("members", () => {
  describe("ID conversion", () => {
    it("converts etcd3's decimal strings to 16-digit hex and back", () => {
      // 10276657743932975437 is etcd's classic default member ID 8e9e05c52164694d.
      expect(idToHex("10276657743932975437")).to.equal("8e9e05c52164694d");
      expect(hexToId("8e9e05c52164694d")).to.equal("10276657743932975437");
      expect(idToHex("1")).to.equal("0000000000000001");
      expect(idToHex("18446744073709551615")).to.equal("ffffffffffffffff");
    });
    it("accepts bigint, 0x strings and big-endian buffers", () => {
      expect(idToHex(255n)).to.equal("00000000000000ff");
      expect(idToHex("0xFF")).to.equal("00000000000000ff");
      expect(idToHex(Buffer.from("8e9e05c52164694d", "hex"))).to.equal("8e9e05c52164694d");
      expect(idToHex(Buffer.from([1, 0]))).to.equal("0000000000000100");
    });
    it("round-trips large IDs exactly (no float rounding)", () => {
      for (const hex of ["ffffffffffffffff", "8000000000000001", "0000000000000001", "1234567890abcdef"]) {
        expect(idToHex(hexToId(hex))).to.equal(hex);
      }
    });
    it("accepts unpadded and uppercase hex, as etcdctl prints", () => {
      expect(hexToId("FF")).to.equal("255");
      expect(normaliseHexId("8E9E05C52164694D")).to.equal("8e9e05c52164694d");
      expect(normaliseHexId("abc")).to.equal("0000000000000abc");
    });
    it("rejects out-of-range and malformed IDs", () => {
      expect(() => idToHex("18446744073709551616")).to.throw(/unsigned 64-bit/);
      expect(() => idToHex(-1n)).to.throw();
      expect(() => idToHex("12abc")).to.throw(/decimal/);
      expect(() => idToHex(Buffer.alloc(9))).to.throw();
      expect(() => hexToId("12345678901234567")).to.throw();
      expect(() => hexToId("xyz")).to.throw();
      expect(() => hexToId("")).to.throw();
    });
    it("fromRawMember converts etcd3's member record", () => {
      const m = fromRawMember({ ID: "10276657743932975437", name: "", peerURLs: ["https://x:2380"], clientURLs: [] });
      expect(m).to.deep.equal({
        id: "8e9e05c52164694d",
        name: "",
        peerURLs: ["https://x:2380"],
        clientURLs: [],
        isLearner: false,
        started: false,
      });
    });
  });

  describe("URLs", () => {
    it("normalises scheme/host case and keeps the port explicit", () => {
      expect(normaliseUrl("HTTPS://ETCD-A.Example.COM:2380")).to.equal("https://etcd-a.example.com:2380");
      expect(normaliseUrl("https://10.0.0.1:443")).to.equal("https://10.0.0.1:443");
      expect(normaliseUrl("https://10.0.0.1")).to.equal("https://10.0.0.1:443");
      expect(normaliseUrl("http://10.0.0.1")).to.equal("http://10.0.0.1:80");
      expect(normaliseUrl("https://10.0.0.1:2380/")).to.equal("https://10.0.0.1:2380");
      expect(normaliseUrl("https://[FE80::1]:2380")).to.equal("https://[fe80::1]:2380");
    });
    it("hostOfUrl strips brackets and lowercases", () => {
      expect(hostOfUrl("https://[FE80::1]:2380")).to.equal("fe80::1");
      expect(hostOfUrl("https://Etcd-A:2380")).to.equal("etcd-a");
      expect(hostOfUrl("https://10.0.0.1:2379")).to.equal("10.0.0.1");
      expect(() => hostOfUrl("not a url")).to.throw(/not a URL/);
    });
  });

  describe("resolveMember", () => {
    const members = [A, B, C];
    it("matches by name", () => {
      expect(resolveMember(members, { name: "etcd-b" })).to.equal(B);
    });
    it("matches by normalised peer URL, any of a member's URLs", () => {
      expect(resolveMember(members, { peerURL: "HTTPS://192.168.0.2:2380/" })).to.equal(B);
      expect(resolveMember(members, { peerURL: "https://ETCD-C.example.com:2380" })).to.equal(C);
    });
    it("returns undefined when nothing matches", () => {
      expect(resolveMember(members, { name: "nope" })).to.equal(undefined);
      expect(resolveMember(members, { peerURL: "https://10.9.9.9:2380" })).to.equal(undefined);
      expect(resolveMember(members, {})).to.equal(undefined);
    });
    it("never matches an unstarted member by its empty name", () => {
      const u = mem("0000000000000009", "", ["https://10.0.0.9:2380"]);
      expect(resolveMember([u], { name: "" })).to.equal(undefined);
      expect(resolveMember([u], { peerURL: "https://10.0.0.9:2380" })).to.equal(u);
    });
    it("accepts name and URL pointing at the same member", () => {
      expect(resolveMember(members, { name: "etcd-a", peerURL: "https://10.0.0.1:2380" })).to.equal(A);
    });
    it("refuses ambiguous matches", () => {
      expect(() => resolveMember(members, { name: "etcd-a", peerURL: "https://10.0.0.2:2380" })).to.throw(/matches member/);
      const dupName = [A, { ...B, name: "etcd-a" }];
      expect(() => resolveMember(dupName, { name: "etcd-a" })).to.throw(/2 members are named/);
      const dupUrl = [A, { ...B, peerURLs: ["https://10.0.0.1:2380"] }];
      expect(() => resolveMember(dupUrl, { peerURL: "https://10.0.0.1:2380" })).to.throw(/2 members use peer URL/);
    });
  });

  describe("buildInitialCluster", () => {
    const self = { name: "etcd-d", peerURL: "https://10.0.1.4:2380" };
    it("lists started members with all their peer URLs plus self, sorted by name", () => {
      expect(buildInitialCluster([C, B, A], self)).to.equal(
        [
          "etcd-a=https://10.0.0.1:2380",
          "etcd-b=https://10.0.0.2:2380",
          "etcd-b=https://192.168.0.2:2380",
          "etcd-c=https://etcd-c.example.com:2380",
          "etcd-d=https://10.0.1.4:2380",
        ].join(","),
      );
    });
    it("replaces self's own unstarted entry (just added as a learner)", () => {
      const justAdded = mem("00000000000000dd", "", ["https://10.0.1.4:2380"], true);
      expect(buildInitialCluster([A, justAdded], self)).to.equal("etcd-a=https://10.0.0.1:2380,etcd-d=https://10.0.1.4:2380");
    });
    it("throws naming an unstarted member other than self by ID", () => {
      const stray = mem("00000000000000ee", "", ["https://10.0.9.9:2380"]);
      expect(() => buildInitialCluster([A, stray], self)).to.throw(/00000000000000ee.*never started/s);
      try {
        buildInitialCluster([A, stray], self);
      } catch (e) {
        expect((e as Error).message).to.include("etcdctl member remove 00000000000000ee");
      }
    });
    it("throws when self's name is taken by another peer or its URL by another started member", () => {
      expect(() => buildInitialCluster([A], { name: "etcd-a", peerURL: "https://10.0.1.4:2380" })).to.throw(/already used/);
      expect(() => buildInitialCluster([A], { name: "etcd-z", peerURL: "https://10.0.0.1:2380" })).to.throw(/already used/);
    });
    it("validates self", () => {
      expect(() => buildInitialCluster([A], { name: "bad name", peerURL: "https://10.0.1.4:2380" })).to.throw(/self.name/);
      expect(() => buildInitialCluster([A], { name: "d", peerURL: "https://10.0.1.4" })).to.throw(/self.peerURL/);
    });
  });
});
