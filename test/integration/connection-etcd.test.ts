/**
 * Integration test of provider/connection/etcd.ts against a real single-member
 * etcd (Debian's /usr/bin/etcd) on 127.0.0.1 with mutual TLS. Certificates are
 * generated with openssl into a temporary directory that after() deletes.
 */
import { expect } from "chai";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { withEtcd } from "../../provider/connection/etcd";
import type { ClusterConnectionArgs } from "../../provider/connection/etcd";
import { freePort } from "../support/net";
import { standbyRejection, waitFor } from "../support/wait";

const ETCD = "/usr/bin/etcd";

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: "127.0.0.1", port });
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/** Creates a CA (`name`-ca.{key,crt}) in dir. */
function makeCa(dir: string, name: string): void {
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", `/CN=${name}-ca`, "-keyout", `${name}-ca.key`, "-out", `${name}-ca.crt`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
}

/** Creates `name`.{key,crt} signed by `ca`, for 127.0.0.1, usable as server and client. */
function makeCert(dir: string, ca: string, name: string): void {
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${name}`,
    "-keyout", `${name}.key`, "-out", `${name}.csr`]);
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
  );
  openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}-ca.crt`, "-CAkey", `${ca}-ca.key`, "-CAcreateserial",
    "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`]);
}

describe("connection/etcd against a real etcd (loopback, mTLS)", function () {
  this.timeout(240_000);

  let dir = "";
  let etcd: ChildProcess | undefined;
  let clientPort = 0;
  let peerPort = 0;
  let conn: ClusterConnectionArgs;
  let blackhole: net.Server | undefined;
  const held: net.Socket[] = [];
  let log = "";

  before(async function () {
    // The etcd package may still be installing in the background.
    await waitFor(() => fs.existsSync(ETCD), { what: `${ETCD} to be installed`, timeoutMs: 200_000, stopOnError: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-standby-etcd-"));
    makeCa(dir, "good");
    makeCa(dir, "wrong");
    makeCert(dir, "good", "server");
    makeCert(dir, "good", "client");
    clientPort = await freePort();
    peerPort = await freePort();
    const peer = `http://127.0.0.1:${peerPort}`;
    const client = `https://127.0.0.1:${clientPort}`;
    etcd = spawn(
      ETCD,
      [
        "--name", "itest",
        "--data-dir", path.join(dir, "data"),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", `itest=${peer}`,
        "--initial-cluster-state", "new",
        "--cert-file", path.join(dir, "server.crt"),
        "--key-file", path.join(dir, "server.key"),
        "--trusted-ca-file", path.join(dir, "good-ca.crt"),
        "--client-cert-auth",
        "--logger", "zap",
        "--log-outputs", "stderr",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    etcd.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    etcd.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    conn = {
      endpoints: [client],
      caPem: fs.readFileSync(path.join(dir, "good-ca.crt"), "utf8"),
      certPem: fs.readFileSync(path.join(dir, "client.crt"), "utf8"),
      keyPem: fs.readFileSync(path.join(dir, "client.key"), "utf8"),
      timeoutMs: 5000,
    };
    await waitFor(async () => {
      if (etcd?.exitCode !== null) throw new Error(`etcd exited early:\n${log.slice(-3000)}`);
      if (!(await tcpOpen(clientPort))) return false;
      try {
        await withEtcd(conn, (c) => c.statusOf(conn.endpoints[0]));
        return true;
      } catch {
        return false;
      }
    }, { what: "etcd to accept TLS clients", timeoutMs: 60_000, stopOnError: true });
  });

  after(async function () {
    for (const s of held) s.destroy();
    blackhole?.close();
    if (etcd && etcd.exitCode === null) {
      const exited = new Promise((r) => etcd?.once("exit", r));
      etcd.kill("SIGTERM");
      const t = setTimeout(() => etcd?.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lists the single member", async () => {
    const members = await withEtcd(conn, (c) => c.memberList());
    expect(members).to.have.length(1);
    const m = members[0];
    expect(m.name).to.equal("itest");
    expect(m.id).to.match(/^[0-9a-f]{16}$/);
    expect(m.started).to.equal(true);
    expect(m.isLearner).to.equal(false);
    expect(m.peerURLs).to.deep.equal([`http://127.0.0.1:${peerPort}`]);
    expect(m.clientURLs).to.deep.equal([`https://127.0.0.1:${clientPort}`]);
  });

  it("reads the member's status and cluster ID", async () => {
    const [members, status, clusterId] = await withEtcd(conn, async (c) => [
      await c.memberList(),
      await c.statusOf(conn.endpoints[0]),
      await c.clusterId(),
    ] as const);
    expect(status.memberId).to.equal(members[0].id);
    expect(status.leaderId).to.equal(members[0].id);
    expect(status.version).to.equal("3.4.23");
    expect(status.raftIndex).to.be.greaterThan(0);
    expect(status.raftAppliedIndex).to.be.a("number").and.greaterThan(0);
    expect(status.raftTerm).to.be.greaterThan(0);
    expect(status.dbSize).to.be.greaterThan(0);
    expect(status.isLearner).to.equal(false);
    expect(status.errors).to.deep.equal([]);
    expect(clusterId).to.match(/^[0-9a-f]{16}$/);
  });

  it("puts, gets and counts keys", async () => {
    const count = await withEtcd(conn, async (c) => {
      for (let i = 0; i < 3; i++) await c.put(`/itest/k${i}`, `v${i}`);
      await c.put("/other", "x");
      expect(await c.get("/itest/k1")).to.equal("v1");
      expect(await c.get("/itest/missing")).to.equal(null);
      return c.getPrefixCount("/itest/");
    });
    expect(count).to.equal(3);
  });

  it("reports health, and moveLeader to the current leader is a no-op", async () => {
    await withEtcd(conn, async (c) => {
      const members = await c.memberList();
      const healthy = await c.healthyMemberIds(members);
      expect(healthy.map((h) => h.id)).to.deep.equal([members[0].id]);
      expect(healthy[0].isLearner).to.equal(false);
      const r = await c.moveLeader(members[0].id);
      expect(r).to.deep.equal({ previousLeaderId: members[0].id, leaderId: members[0].id, moved: false });
    });
  });

  it("adds a learner, refuses to promote it while it is not running, and removes it", async () => {
    const learnerPeer = `https://127.0.0.1:${await freePort()}`;
    await withEtcd(conn, async (c) => {
      const { member, members } = await c.memberAddLearner([learnerPeer]);
      expect(member.isLearner).to.equal(true);
      expect(member.started).to.equal(false);
      expect(member.peerURLs).to.deep.equal([learnerPeer]);
      expect(members.map((m) => m.id)).to.include(member.id);
      try {
        const health = await c.memberHealth(members);
        const lh = health.find((h) => h.id === member.id);
        expect(lh?.healthy).to.equal(false);
        expect(lh?.isLearner).to.equal(true);

        const promote = await standbyRejection(c.memberPromote(member.id));
        expect(promote.code).to.equal("QuorumRisk");
        expect(promote.message).to.include("in sync");
      } finally {
        const after = await c.memberRemove(member.id);
        expect(after.map((m) => m.id)).not.to.include(member.id);
      }
      const missing = await standbyRejection(c.memberRemove(member.id));
      expect(missing.code).to.equal("NotFound");
    });
  });

  it("refuses a server whose certificate is not signed by the given CA, without leaking the key", async () => {
    const wrong = { ...conn, caPem: fs.readFileSync(path.join(dir, "wrong-ca.crt"), "utf8") };
    const e = await standbyRejection(withEtcd(wrong, (c) => c.memberList()));
    expect(e.code).to.be.oneOf(["Unreachable", "Timeout"]);
    expect(e.host).to.include(`127.0.0.1:${clientPort}`);
    expect(e.message).to.include(`https://127.0.0.1:${clientPort}`);
    expect(e.message).to.include("CA");
    const keyBody = conn.keyPem.split("\n").filter((l) => l && !l.startsWith("-----"));
    for (const line of keyBody) expect(e.message).not.to.include(line);
    expect(e.message).not.to.include("PRIVATE KEY");
  });

  it("times out against an endpoint that accepts TCP but never answers", async () => {
    blackhole = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => blackhole?.listen(0, "127.0.0.1", () => r()));
    const port = (blackhole.address() as net.AddressInfo).port;
    const dead = { ...conn, endpoints: [`https://127.0.0.1:${port}`], timeoutMs: 1500 };
    const e = await standbyRejection(withEtcd(dead, (c) => c.memberList()));
    expect(e.code).to.equal("Timeout");
    expect(e.message).to.include(`https://127.0.0.1:${port}`);
    expect(e.nextStep).to.include("reachable");
  });

  it("reports a closed port as unreachable", async () => {
    const port = await freePort();
    const e = await standbyRejection(withEtcd({ ...conn, endpoints: [`https://127.0.0.1:${port}`], timeoutMs: 3000 }, (c) => c.statusOf(`https://127.0.0.1:${port}`)));
    expect(e.code).to.be.oneOf(["Unreachable", "Timeout"]);
    expect(e.message).to.include(`127.0.0.1:${port}`);
  });

  it("rejects invalid connection settings before connecting", async () => {
    const e = await standbyRejection(withEtcd({ ...conn, endpoints: [`http://127.0.0.1:${clientPort}`] }, (c) => c.memberList()));
    expect(e.code).to.equal("InvalidInput");
    expect(e.message).to.include("https://");
    const e2 = await standbyRejection(withEtcd({ ...conn, endpoints: [] }, (c) => c.memberList()));
    expect(e2.code).to.equal("InvalidInput");
  });

  it("passes errors thrown by the callback through unchanged and still closes", async () => {
    const boom = new Error("boom");
    try {
      await withEtcd(conn, () => Promise.reject(boom));
      expect.fail("should have thrown");
    } catch (e) {
      expect(e).to.equal(boom);
    }
  });
});
