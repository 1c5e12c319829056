import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { buildCommand, renderRemoteCommand, shQuote } from "../../provider/lib/shell";

const HOSTILE = [
  "etcd; rm -rf /",
  "$(reboot)",
  "`reboot`",
  "a\nb",
  "line1\nline2; touch /tmp/pwned",
  "../../etc/passwd",
  "it's",
  "''",
  "'",
  '"double" quotes',
  "\\backslash\\",
  "$HOME ${PATH} $1 $@",
  "* ? [a-z] ~",
  "a|b&c>d<e",
  "tab\there",
  "-n",
  "FOO=bar",
  "",
  "ünïcødé ✓",
  "!history",
];

/** Runs a command line through /bin/sh locally and returns stdout. */
function sh(commandLine: string): string {
  return execFileSync("/bin/sh", ["-c", commandLine], { encoding: "utf8" });
}

describe("shell", () => {
  describe("shQuote", () => {
    it("always single-quotes", () => {
      expect(shQuote("etcd")).to.equal("'etcd'");
      expect(shQuote("")).to.equal("''");
      expect(shQuote("it's")).to.equal(`'it'\\''s'`);
    });

    it("round-trips hostile strings through /bin/sh literally", () => {
      for (const s of HOSTILE) {
        expect(sh(`printf %s ${shQuote(s)}`), JSON.stringify(s)).to.equal(s);
      }
    });

    it("keeps each argument a single word", () => {
      // printf repeats its format for each argument: one line per argument.
      const out = sh(buildCommand(["printf", "%s\\n", ...HOSTILE.filter((s) => !s.includes("\n"))]));
      expect(out.split("\n").slice(0, -1)).to.deep.equal(HOSTILE.filter((s) => !s.includes("\n")));
    });

    it("does not execute command substitutions", () => {
      const marker = `/tmp/etcd-standby-shell-test-${process.pid}`;
      const out = sh(buildCommand(["printf", "%s", `$(touch ${marker})`, `\`touch ${marker}\``]));
      expect(out).to.equal(`$(touch ${marker})\`touch ${marker}\``);
      expect(() => execFileSync("test", ["-e", marker])).to.throw();
    });

    it("refuses NUL bytes", () => {
      expect(() => shQuote("a\0b")).to.throw(/NUL/);
    });
  });

  describe("buildCommand", () => {
    it("quotes every argument", () => {
      expect(buildCommand(["docker", "rm", "etcd; rm -rf /"])).to.equal(`'docker' 'rm' 'etcd; rm -rf /'`);
    });
    it("treats FOO=bar as a program name, not an assignment", () => {
      expect(() => execFileSync("/bin/sh", ["-c", buildCommand(["FOO=bar"])], { stdio: "pipe" })).to.throw();
    });
    it("refuses an empty argv", () => {
      expect(() => buildCommand([])).to.throw(/at least one argument/);
    });
  });

  describe("renderRemoteCommand", () => {
    it("adds no prefix without sudo", () => {
      expect(renderRemoteCommand({ argv: ["id"] }, { sudo: ["sudo", "-n"] })).to.equal("'id'");
      expect(renderRemoteCommand({ argv: ["id"], sudo: false }, { sudo: undefined })).to.equal("'id'");
    });
    it("prefixes the sudo argv when asked", () => {
      expect(renderRemoteCommand({ argv: ["docker", "ps"], sudo: true }, { sudo: ["sudo", "-n"] })).to.equal(
        "'sudo' '-n' 'docker' 'ps'",
      );
      expect(renderRemoteCommand({ argv: ["id"], sudo: true }, { sudo: undefined })).to.equal("'sudo' '-n' 'id'");
      expect(renderRemoteCommand({ argv: ["id"], sudo: true }, { sudo: [] })).to.equal("'id'");
    });
  });
});
