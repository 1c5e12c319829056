/**
 * RESTORE_AND_START and STOP_AND_LOOK: the restore's host-side steps as one
 * remote command each, run here by a real `sh` (dash on Debian, as on the
 * sandbox's hosts), with shell snippets standing in for docker.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { wasHeld, wasReleased } from "../../provider/connection/gate";
import { parseStopLook, STOP_AND_LOOK, stopped } from "../../provider/impl/restore/learnerStop";
import { restoreSettings } from "../../provider/impl/restore/settings";
import { markMs, RESTORE_AND_START, restoreOutcome } from "../../provider/impl/restore/snapshotRestore";

describe("RESTORE_AND_START: record, restore, move into place and start, one command", () => {
  let dir: string;
  let src: string;
  let dst: string;
  let rec: string;
  let stg: string;
  let started: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "restore-start-"));
    stg = path.join(dir, "restored.staging");
    fs.mkdirSync(stg);
    src = path.join(stg, "data");
    dst = path.join(dir, "restored");
    rec = path.join(dir, "restored.restore-record.json");
    started = path.join(dir, "started");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const writesDb = 'mkdir -p "$0/member/snap" && printf db > "$0/member/snap/db" && echo restored';
  /** Runs the script: `tool` stands in for the tool's docker run (`$0` the staging data dir), `start` for the restored etcd's. */
  const run = (tool: string, opts: { start?: string; record?: string; gate?: string } = {}): ReturnType<typeof restoreOutcome> & { code: number | null } => {
    const start = opts.start ?? `touch '${started}' && echo 0123abcd`;
    const r = spawnSync("sh", ["-c", RESTORE_AND_START, "sh", src, dst, opts.record === undefined ? "" : rec, stg, start, "sh", "-c", tool, src], { encoding: "utf8", input: opts.gate ?? `go\n${opts.record ?? ""}` });
    return { code: r.status, ...restoreOutcome(r.stdout) };
  };

  it("keeps the record first, moves a restore that wrote a db into place, starts, removes the empty staging dir; the host's marks time each step", () => {
    const r = run(writesDb, { record: '{"version":1}\n' });
    expect([r.code, r.outcome]).to.deep.equal([0, "started"]);
    expect(r.output).to.equal("restored\n0123abcd");
    expect(fs.readFileSync(rec, "utf8")).to.equal('{"version":1}\n');
    expect(fs.existsSync(`${rec}.tmp`)).to.equal(false);
    expect(fs.readFileSync(path.join(dst, "member", "snap", "db"), "utf8")).to.equal("db");
    expect(fs.existsSync(started)).to.equal(true);
    expect(fs.existsSync(stg)).to.equal(false);
    expect(Object.keys(r.marks)).to.deep.equal(["begin", "recorded", "restored", "started"]);
    expect(markMs(r.marks, "restored", "started")).to.be.a("number").and.at.least(0);
    expect(markMs(r.marks, "started", "begin")).to.equal(undefined);
  });

  it("without a record to keep, writes none", () => {
    expect(run(writesDb).outcome).to.equal("started");
    expect(fs.existsSync(rec)).to.equal(false);
  });

  it("a failing tool: its status and output (even without a final newline), nothing moved, nothing started; the record is kept", () => {
    const r = run('printf "panic: assertion failed"; exit 2', { record: "{}\n" });
    expect([r.outcome, r.status, r.output]).to.deep.equal(["tool-exit", 2, "panic: assertion failed"]);
    expect([fs.existsSync(dst), fs.existsSync(started), fs.existsSync(rec)]).to.deep.equal([false, false, true]);
  });

  it("a tool that exits 0 without a db: no-db, nothing moved or started", () => {
    const r = run('mkdir -p "$0"');
    expect(r.outcome).to.equal("no-db");
    expect([fs.existsSync(dst), fs.existsSync(started)]).to.deep.equal([false, false]);
  });

  it("never moves over a target that exists: the restore stays in staging, the target unchanged, nothing started", () => {
    fs.mkdirSync(dst);
    fs.writeFileSync(path.join(dst, "keep"), "k");
    const r = run(writesDb);
    expect(r.outcome).to.equal("exists");
    expect(fs.readdirSync(dst)).to.deep.equal(["keep"]);
    expect(fs.existsSync(path.join(src, "member", "snap", "db"))).to.equal(true);
    expect(fs.existsSync(started)).to.equal(false);
  });

  it("a start that fails: its status, the restore in place, the staging dir kept", () => {
    const r = run(writesDb, { start: "echo 'docker: Error response from daemon: Conflict' >&2; exit 125" });
    expect([r.outcome, r.status]).to.deep.equal(["start-exit", 125]);
    expect(fs.existsSync(path.join(dst, "member", "snap", "db"))).to.equal(true);
    expect(fs.existsSync(stg)).to.equal(true);
  });

  it("a record that cannot be written: record-failed before anything else", () => {
    const r = spawnSync("sh", ["-c", RESTORE_AND_START, "sh", src, dst, path.join(dir, "no-such-dir", "rec.json"), stg, "true", "sh", "-c", writesDb, src], { encoding: "utf8", input: "go\n{}" });
    expect(restoreOutcome(r.stdout).outcome).to.equal("record-failed");
    expect(fs.existsSync(src)).to.equal(false);
  });

  for (const [why, gate] of [["its input closing empty (held, or the connection dropped)", ""], ["a first line other than go", "no\n{}\n"], ["go without its line's end", "go"]] as const) {
    it(`waits for its go: ${why} ends it having run nothing, said as held`, () => {
      const r = run(writesDb, { record: "{}\n", gate });
      expect(r.outcome).to.equal("held");
      expect(wasHeld(`x\n@@etcd-standby ${r.outcome}\n`)).to.equal(true);
      expect([fs.existsSync(rec), fs.existsSync(dst), fs.existsSync(started), fs.existsSync(src)]).to.deep.equal([false, false, false, false]);
      expect(r.marks).to.deep.equal({});
    });
  }

  it("output without an outcome line (the command was killed) has no outcome", () => {
    expect(restoreOutcome("half a tool's output").outcome).to.equal("");
  });
});

describe("STOP_AND_LOOK: the learner's stop and a look at it, one command", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stop-look-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  /** A stand-in for docker: logs each call; `stop` exits `stopRc`; `inspect` prints `running`; `update` fails `updateFails` times. */
  const fakeDocker = (stopRc: number, running: string, updateFails = 0): string => {
    const f = path.join(dir, "docker");
    fs.writeFileSync(
      f,
      `#!/bin/sh\necho "$*" >> '${dir}/calls'\ncase "$1" in\n stop) sleep 0.1; exit ${stopRc};;\n inspect) echo ${running};;\n update) n=$(cat '${dir}/uf' 2>/dev/null || echo 0); if [ "$n" -lt ${updateFails} ]; then echo $((n+1)) > '${dir}/uf'; exit 1; fi;;\nesac\n`,
      { mode: 0o755 },
    );
    return f;
  };
  const look = (docker: string, db: string, gate = "go\n"): ReturnType<typeof parseStopLook> => parseStopLook(spawnSync("sh", ["-c", STOP_AND_LOOK, "sh", "etcd-learner", db, docker], { encoding: "utf8", input: gate }).stdout);

  it("waits for its go: without it (input closed, or another line) nothing is called and it says held", () => {
    for (const gate of ["", "stop\n", "go"]) {
      const r = spawnSync("sh", ["-c", STOP_AND_LOOK, "sh", "etcd-learner", path.join(dir, "db"), fakeDocker(0, "false")], { encoding: "utf8", input: gate });
      expect([r.status, wasHeld(r.stdout), wasReleased(r.stdout), parseStopLook(r.stdout)]).to.deep.equal([0, true, false, undefined]);
      expect(fs.existsSync(path.join(dir, "calls"))).to.equal(false);
    }
  });

  it("stops with the restart policy cleared beside it, then reports the state and the db's size and mtime", () => {
    const db = path.join(dir, "db");
    fs.writeFileSync(db, "12345");
    const l = look(fakeDocker(0, "false"), db);
    expect(l).to.deep.include({ stopStatus: 0, updateStatus: 0, running: false });
    expect(l?.db?.size).to.equal(5);
    expect(Math.abs((l?.db?.mtime ?? 0) - fs.statSync(db).mtimeMs / 1000)).to.be.below(2);
    const calls = fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n").sort();
    expect(calls).to.deep.equal(["inspect --type container --format {{.State.Running}} etcd-learner", "stop -t 60 etcd-learner", "update --restart=no etcd-learner"]);
    // It says it read its go before anything ran (a run without that line is run afresh: it did nothing).
    const out = spawnSync("sh", ["-c", STOP_AND_LOOK, "sh", "etcd-learner", db, fakeDocker(0, "false")], { encoding: "utf8", input: "go\n" }).stdout;
    expect(wasReleased(out)).to.equal(true);
    expect(out.indexOf("@@etcd-standby released")).to.be.below(out.indexOf("@@etcd-standby mark go"));
  });

  it("clears the policy again after the stop when it did not take beside it", () => {
    const l = look(fakeDocker(0, "false", 1), path.join(dir, "absent-db"));
    expect(l).to.deep.include({ updateStatus: 0, db: null });
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8").match(/update/g)).to.have.length(2);
  });

  it("the record says when it stopped; a failed stop, a policy that would not clear, a running learner or a missing db refuse with the learner named", () => {
    const s = restoreSettings({ host: { host: "10.0.0.3" }, cluster: {}, learner: { memberName: "learner1", peerURL: "https://10.0.0.3:2380", clientURL: "https://10.0.0.3:2379" }, image: "etcd:v3.5.17" });
    const base = { stopStatus: 0, updateStatus: 0, running: false, db: { size: 9, mtime: 7 } };
    expect(stopped("h", s, base, "", new Date(0))).to.deep.equal({ stoppedAt: "1970-01-01T00:00:00.000Z", dbSize: 9, dbMtime: 7 });
    expect(() => stopped("h", s, undefined, "ssh: connection lost")).to.throw(/stopping etcd-learner did not finish: ssh: connection lost/);
    expect(() => stopped("h", s, { ...base, stopStatus: 1 })).to.throw(/docker stop etcd-learner failed with status 1/);
    expect(() => stopped("h", s, { ...base, updateStatus: 1 })).to.throw(/docker update --restart=no etcd-learner failed/);
    expect(() => stopped("h", s, { ...base, running: true })).to.throw(/etcd-learner is still running after docker stop/);
    expect(() => stopped("h", s, { ...base, running: undefined })).to.throw(/unknown state/);
    expect(() => stopped("h", s, { ...base, db: null })).to.throw(/member\/snap\/db is missing/);
  });
});
