/** RESTORE_AND_MOVE: the restore tool and the move into place in one remote command, run here by a real `sh` (dash on Debian, as on the sandbox's hosts). */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RESTORE_AND_MOVE, restoreOutcome } from "../../provider/impl/restore/snapshotRestore";

/** Runs the script with `tool` (a shell snippet standing in for the tool's docker run; `$0` is the staging data dir). */
function run(src: string, dst: string, tool: string): { code: number | null; out: ReturnType<typeof restoreOutcome> } {
  const r = spawnSync("sh", ["-c", RESTORE_AND_MOVE, "sh", src, dst, "sh", "-c", tool, src], { encoding: "utf8" });
  return { code: r.status, out: restoreOutcome(r.stdout) };
}

describe("RESTORE_AND_MOVE: the restore tool and the move into place, one command", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "restore-move-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const writesDb = 'mkdir -p "$0/member/snap" && printf db > "$0/member/snap/db" && echo restored';

  it("moves a restore that wrote a db into place, after the tool's own output", () => {
    const src = path.join(dir, "staging", "data");
    const dst = path.join(dir, "restored");
    const r = run(src, dst, writesDb);
    expect(r.code).to.equal(0);
    expect(r.out.outcome).to.equal("moved");
    expect(r.out.output).to.equal("restored");
    expect(fs.readFileSync(path.join(dst, "member", "snap", "db"), "utf8")).to.equal("db");
    expect(fs.existsSync(src)).to.equal(false);
  });

  it("a failing tool: its status and output (even without a final newline), nothing moved", () => {
    const dst = path.join(dir, "restored");
    const r = run(path.join(dir, "staging", "data"), dst, 'printf "panic: assertion failed"; exit 2');
    expect([r.out.outcome, r.out.status, r.out.output]).to.deep.equal(["tool-exit", 2, "panic: assertion failed"]);
    expect(fs.existsSync(dst)).to.equal(false);
  });

  it("a tool that exits 0 without a db: no-db, nothing moved", () => {
    const dst = path.join(dir, "restored");
    const r = run(path.join(dir, "staging", "data"), dst, 'mkdir -p "$0"');
    expect(r.out.outcome).to.equal("no-db");
    expect(fs.existsSync(dst)).to.equal(false);
  });

  it("never moves over a target that exists: the restore stays in staging, the target unchanged", () => {
    const src = path.join(dir, "staging", "data");
    const dst = path.join(dir, "restored");
    fs.mkdirSync(dst);
    fs.writeFileSync(path.join(dst, "keep"), "k");
    const r = run(src, dst, writesDb);
    expect(r.out.outcome).to.equal("exists");
    expect(fs.readdirSync(dst)).to.deep.equal(["keep"]);
    expect(fs.existsSync(path.join(src, "member", "snap", "db"))).to.equal(true);
  });

  it("output without the outcome line (the command was killed) has no outcome", () => {
    expect(restoreOutcome("half a tool's output").outcome).to.equal("");
  });
});
