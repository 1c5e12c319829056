/**
 * Building remote shell command lines from argv arrays.
 *
 * Remote commands run through the login shell of an SSH session, so every
 * argument is POSIX single-quoted here. Commands are only ever built from argv
 * arrays; nothing in the provider concatenates user input into a command line.
 *
 * Pure module: no I/O, safe to capture in Pulumi closures.
 */
import { EtcdStandbyError } from "./errors";

/**
 * POSIX single-quote quoting: wraps `arg` in single quotes and writes each
 * embedded `'` as `'\''`. The result is one word to any POSIX shell, with no
 * expansion of `$`, backticks, globs, newlines or anything else.
 * Throws InvalidInput for a NUL byte, which no argv element can carry.
 */
export function shQuote(arg: string): string {
  if (typeof arg !== "string") {
    throw new EtcdStandbyError("InvalidInput", `command argument ${String(arg)} is not a string`, "pass strings only");
  }
  if (arg.includes("\0")) {
    // Not quoted: the argument may be an environment variable's value or another secret.
    throw new EtcdStandbyError(
      "InvalidInput",
      `a command argument (${arg.length} characters) contains a NUL byte at character ${arg.indexOf("\0") + 1}`,
      "remove the NUL byte from the value",
    );
  }
  // Always quote, even plain words: an unquoted first word like FOO=bar
  // would be a shell variable assignment rather than the program to run.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argv array into one shell command line, quoting every argument with {@link shQuote}. */
export function buildCommand(argv: readonly string[]): string {
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new EtcdStandbyError("InvalidInput", "a remote command needs at least one argument", "pass a non-empty argv");
  }
  return argv.map(shQuote).join(" ");
}

/** A command to run on a remote host, as an argv array. */
export interface RemoteCommand {
  /** Program and arguments; each element becomes exactly one argument remotely. */
  argv: string[];
  /** Run it through the host's sudo prefix (see {@link renderRemoteCommand}). */
  sudo?: boolean;
}

/** Default sudo prefix: non-interactive, so a missing sudoers rule fails instead of hanging. */
export const DEFAULT_SUDO: readonly string[] = ["sudo", "-n"];

/**
 * Renders a {@link RemoteCommand} to a quoted command line. When `cmd.sudo` is
 * true the sudo argv is prefixed: `opts.sudo` if given (an empty array means
 * "already privileged, no prefix"), otherwise {@link DEFAULT_SUDO}.
 */
export function renderRemoteCommand(cmd: RemoteCommand, opts: { sudo: readonly string[] | undefined }): string {
  const prefix = cmd.sudo === true ? (opts.sudo ?? DEFAULT_SUDO) : [];
  return buildCommand([...prefix, ...cmd.argv]);
}
