/** An SshSession that runs each argv on this machine, as sshd would run the quoted command on a host: for unit tests of host scripts in a real `sh`. */
import { spawnSync } from "child_process";
import type { RunOptions, RunResult, SshSession } from "../../provider/connection/ssh";

export class LocalSession implements SshSession {
  readonly host = "localhost";
  readonly sudo = false;
  readonly hostKeyFingerprint = "SHA256:x";
  /** Every argv run, in order. */
  readonly argvs: string[][] = [];
  /**
   * @param dockerCommand how docker is invoked (a stand-in script, say)
   * @param stderrNoise put before every stderr, as a host's login profile would
   */
  constructor(readonly dockerCommand: readonly string[] = ["docker"], private readonly stderrNoise = "") {}
  /** How many commands ran. */
  get calls(): number {
    return this.argvs.length;
  }
  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.argvs.push(argv);
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", input: await opts.stdin });
    if (r.status !== 0 && opts.allowFailure !== true) throw new Error(`${argv[0]} exited ${String(r.status)}: ${r.stderr}`);
    return { code: r.status, signal: undefined, stdout: r.stdout, stderr: `${this.stderrNoise}${r.stderr}` };
  }
}
