/**
 * Remote scripts opened ahead of their moment. Starting a command over SSH
 * costs a channel, sshd's session and the user's login shell (0.15 to 0.5 s
 * on a busy host) before the command's first line runs; a step on a critical
 * path (the failover's stop, once the split-brain guard has said go) can pay
 * that beforehand: its script is started early, waits on its first input
 * line, and acts only on `go`. Anything else, or the input closing (the run
 * failed, the provider died, the connection dropped), ends it at once having
 * changed nothing.
 */
import { EtcdStandbyError, redactEnvArgv } from "../lib/errors";
import { commandFailed, succeeded } from "./ssh";
import type { RunOptions, RunResult, SshSession } from "./ssh";

/**
 * A script's first line for {@link Gate}: reads one line; unless it is `go`,
 * prints `@@etcd-standby held` and exits 0 (nothing else ran); then prints
 * `@@etcd-standby released`, before anything else runs. The rest of the
 * input is left to the script.
 */
export const GATE_LINE = 'IFS= read -r gate || gate=; if [ "$gate" != go ]; then printf "\\n@@etcd-standby held\\n"; exit 0; fi; printf "\\n@@etcd-standby released\\n"';

/** Whether a gated script's output says it was held (never released): it changed nothing. */
export function wasHeld(stdout: string): boolean {
  return /^@@etcd-standby held$/m.test(stdout);
}

/** Whether a gated script's output says it read its go: without that line it ran nothing past its gate. */
export function wasReleased(stdout: string): boolean {
  return /^@@etcd-standby released$/m.test(stdout);
}

/**
 * The input of a gated script (pass {@link Gate.input} as `stdin`): `go`
 * followed by the script's own input once released, or nothing once held.
 * The first of {@link Gate.go} and {@link Gate.hold} wins; later calls do
 * nothing.
 */
export class Gate {
  public readonly input: Promise<string>;
  private settle: (text: string) => void = () => undefined;
  private decided: "go" | "held" | undefined;

  public constructor() {
    this.input = new Promise<string>((resolve) => (this.settle = resolve));
  }

  /** Releases the script, with `rest` as the rest of its input (nothing once held). */
  public go(rest = ""): void {
    if (this.decided !== undefined) return;
    this.decided = "go";
    this.settle(`go\n${rest}`);
  }

  /** Ends the script unreleased: it changes nothing. */
  public hold(): void {
    if (this.decided !== undefined) return;
    this.decided = "held";
    this.settle("");
  }

  /** What was decided, if anything. */
  public get state(): "go" | "held" | "open" {
    return this.decided ?? "open";
  }
}

/**
 * A command opened on the host ahead of its moment: {@link armRun}'s, and
 * those built on it (the failover's stop, its restore and start, a learner's
 * `docker run`), which differ in what their go takes and gives.
 */
export interface Armed<Args extends unknown[] = [input?: string], Out = RunResult> {
  /**
   * Releases it; resolves with its outcome. For {@link armRun}'s: `input` is
   * the rest of its input, and it resolves with its run, as
   * {@link SshSession.run} would. When its channel ended before the go
   * (refused by sshd's session limit, dropped, timed out), or its output does
   * not say it read the go (`@@etcd-standby released`), the command runs on
   * a new channel instead: it had run nothing. Throws Refused once held.
   */
  go(...args: Args): Promise<Out>;
  /** Ends it unreleased: it runs nothing. Safe to call at any time, also after the go (then it does nothing). */
  hold(): void;
}

/**
 * Opens `argv` (a script that starts with {@link GATE_LINE}) on the host now,
 * waiting there for {@link Armed.go}: the go then costs a write on an open
 * channel, not a new SSH session.
 */
export function armRun(ssh: SshSession, argv: string[], opts: Omit<RunOptions, "stdin"> = {}): Armed {
  const gate = new Gate();
  let ended = false;
  // Its exit is judged after the go (a run that never read its go runs afresh, whatever its status).
  const ran = ssh.run(argv, { ...opts, allowFailure: true, stdin: gate.input });
  ran.then(
    () => (ended = true),
    () => (ended = true),
  );
  const afresh = (input: string): Promise<RunResult> => ssh.run(argv, { ...opts, stdin: `go\n${input}` });
  return {
    go: async (input = "") => {
      if (gate.state === "held") throw new EtcdStandbyError("Refused", `${shown(argv)} was held before it was released`, "run pulumi up again", { host: ssh.host });
      if (ended) {
        gate.hold();
        return afresh(input);
      }
      gate.go(input);
      const r = await ran;
      // Ended without reading its go (killed, or its channel closed, before the write arrived): it ran nothing.
      if (!wasReleased(r.stdout)) return afresh(input);
      if (!succeeded(r) && opts.allowFailure !== true) throw commandFailed(argv, r, { host: ssh.host, sudo: opts.sudo ?? ssh.sudo, secrets: opts.secrets });
      return r;
    },
    hold: () => gate.hold(),
  };
}

/** A command's first words, for messages (environment values never shown). */
function shown(argv: readonly string[]): string {
  return redactEnvArgv(argv).slice(0, 3).join(" ");
}

/**
 * Runs `$2...` once released, with each occurrence of `$1` (a placeholder) in
 * its arguments replaced by the input's second line: for a command whose one
 * late value (a member list known only after `member add`) arrives with its
 * go. The value is data to the shell, never evaluated.
 */
const EXEC_WITH_VALUE = [
  GATE_LINE,
  'IFS= read -r value || { printf "\\n@@etcd-standby held\\n"; exit 0; }',
  "ph=$1; shift; n=$#",
  'while [ "$n" -gt 0 ]; do a=$1; shift; case $a in *"$ph"*) a="${a%%"$ph"*}$value${a#*"$ph"}";; esac; set -- "$@" "$a"; n=$((n-1)); done',
  'exec "$@"',
].join("\n");

/** A command opened on the host ahead of its moment, waiting for one late value ({@link armCommand}): its go takes the placeholder's value (one line). */
export type ArmedCommand = Armed<[value: string]>;

/**
 * Opens `argv` on the host now, waiting for {@link ArmedCommand.go} with
 * the value of `placeholder` (which must occur in `argv`; the value must be
 * one line). The run throws as {@link SshSession.run} does (a non-zero exit
 * is RemoteCommandFailed).
 */
export function armCommand(ssh: SshSession, argv: string[], placeholder: string, opts: Omit<RunOptions, "stdin"> = {}): ArmedCommand {
  if (placeholder === "" || !argv.some((a) => a.includes(placeholder))) throw new Error(`placeholder ${JSON.stringify(placeholder)} is not in the command`);
  const armed = armRun(ssh, ["sh", "-c", EXEC_WITH_VALUE, "sh", placeholder, ...argv], opts);
  return {
    go: async (value) => {
      if (/[\n\r\0]/.test(value)) {
        armed.hold();
        throw new EtcdStandbyError("InvalidInput", `the value for ${shown(argv)} is not one line: ${JSON.stringify(value).slice(0, 200)}`, "check the member names and URLs in the cluster", { host: ssh.host });
      }
      return armed.go(`${value}\n`);
    },
    hold: () => armed.hold(),
  };
}
