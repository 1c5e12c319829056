/** surveyPaths: several file reads in one shell command, run here by a real `sh` (dash on Debian, as on the sandbox's hosts). */
import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalSession } from "../support/localSession";
import { fileReadable, pathState, readPublicFile, surveyPaths } from "../../provider/connection/hostfs";


describe("surveyPaths: one command for several file reads", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "survey-"));
    fs.writeFileSync(path.join(dir, "cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    fs.writeFileSync(path.join(dir, "no-newline"), "C\nN\nlast line without newline");
    fs.writeFileSync(path.join(dir, "odd,name=@+"), "x");
    fs.mkdirSync(path.join(dir, "empty"));
    fs.mkdirSync(path.join(dir, "archived-only"));
    fs.mkdirSync(path.join(dir, "archived-only", ".etcd-standby-etcd.removed-1"));
    fs.mkdirSync(path.join(dir, "data"));
    fs.writeFileSync(path.join(dir, "data", "member"), "");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("says the same as fileReadable, readPublicFile and pathState one by one, in one command", async () => {
    const p = (n: string): string => path.join(dir, n);
    const readable = [p("cert.pem"), p("missing"), p("odd,name=@+")];
    const read = [p("cert.pem"), p("missing"), p("no-newline"), p("empty")];
    const states = [p("missing"), p("empty"), p("archived-only"), p("data"), p("cert.pem")];
    const one = new LocalSession();
    const got = await surveyPaths(one, { readable, read, states });
    expect(one.calls).to.equal(1);
    const each = new LocalSession();
    expect(got.readable).to.deep.equal(await Promise.all(readable.map((f) => fileReadable(each, f))));
    expect(got.contents).to.deep.equal(await Promise.all(read.map((f) => readPublicFile(each, f))));
    expect(got.states).to.deep.equal(await Promise.all(states.map((f) => pathState(each, f))));
    expect(got.readable).to.deep.equal([true, false, true]);
    expect(got.contents[2]).to.equal("C\nN\nlast line without newline");
    expect(got.states).to.deep.equal(["absent", "empty-dir", "empty-dir", "non-empty-dir", "file"]);
  });

  it("refuses a path that is not absolute and clean, or holds shell characters, running nothing", async () => {
    for (const bad of ["relative/path", "/var/lib/../etc", "/tmp/x $(touch y)", "/tmp/a'b"]) {
      const s = new LocalSession();
      let err: unknown;
      try {
        await surveyPaths(s, { readable: [], read: [], states: ["/var/lib/etcd", bad] });
      } catch (e) {
        err = e;
      }
      expect(String(err), bad).to.match(/absolute|not allowed|\.\./);
      expect(s.calls).to.equal(0);
    }
  });
});
