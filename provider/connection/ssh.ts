/**
 * The SSH layer: short-lived sessions over the `ssh2` package with a pinned
 * host key, a handshake timeout, and a deadline on every command. Commands are
 * argv arrays rendered with lib/shell.ts, never concatenated strings.
 *
 * Pulumi serialises dynamic-provider closures, so this module only imports
 * ssh2's *types* at the top; the library is `require`d inside {@link withSsh}.
 */
import type * as Ssh2Lib from "ssh2";
import type { Client, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import { createHash, timingSafeEqual } from "node:crypto";
import { EtcdStandbyError, describeError, isEtcdStandbyError, redact, redactEnvArgv } from "../lib/errors";
import { DEFAULT_SUDO, buildCommand, renderRemoteCommand } from "../lib/shell";
import { validateHostAddress, validatePort } from "../lib/validate";

/** How to reach and authenticate to a host: plain, already-resolved values. */
export interface HostConnectionArgs {
  /** Host address (IPv4, IPv6 or DNS name). */
  host: string;
  /** SSH port (default 22). */
  port?: number;
  /** Login user. */
  user: string;
  /** Unencrypted private key, PEM or OpenSSH format. Never appears in errors. */
  privateKey: string;
  /**
   * The pinned host key: an OpenSSH public key line (`ssh-ed25519 AAAA... comment`)
   * or a known_hosts line (`host ssh-ed25519 AAAA...`).
   */
  hostPublicKey?: string;
  /** Accept any host key (default false). Only for throwaway test hosts. */
  insecureIgnoreHostKey?: boolean;
  /** Run commands through `sudo -n` (default false: the user is already root). */
  sudo?: boolean;
  /** How to invoke docker on the host (default `["docker"]`). */
  dockerCommand?: string[];
  /** Handshake timeout, and the default deadline of each command, in ms (default 30000). */
  timeoutMs?: number;
}

/** Options for one {@link SshSession.run}. */
export interface RunOptions {
  /** Deadline for this command in ms (default: the host's timeoutMs). */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing RemoteCommandFailed (default false). */
  allowFailure?: boolean;
  /**
   * Text written to the command's standard input, then closed. A promise
   * opens the channel at once and writes its text when it resolves (a
   * rejection closes the input empty): a command that first waits for its
   * input pays its session's start (sshd, the login shell) before it is
   * needed. The deadline then counts from the write.
   */
  stdin?: string | Promise<string>;
  /** Override the host's `sudo` setting for this command. */
  sudo?: boolean;
  /** Extra strings to redact from any error message (e.g. a value passed in argv). */
  secrets?: string[];
}

/** What a remote command produced. */
export interface RunResult {
  /** Exit status; null when the command was killed by a signal. */
  code: number | null;
  /** Signal name when killed by a signal. */
  signal: string | undefined;
  /** Standard output (UTF-8). */
  stdout: string;
  /** Standard error (UTF-8). */
  stderr: string;
}

/** True when a command exited 0 (not killed). */
export function succeeded(r: RunResult): boolean {
  return r.code === 0 && r.signal === undefined;
}

/**
 * A command as errors show it: quoted as sent (with its sudo prefix), every
 * environment variable's value shown as `<redacted>` ({@link redactEnvArgv}),
 * `secrets` redacted, cut at a space before 300 characters. Validates argv
 * (InvalidInput).
 */
function shownCommand(argv: readonly string[], sudo: boolean, secrets: readonly string[]): string {
  buildCommand([...argv]); // validates the argv as sent; its error never quotes an argument
  // Secrets go before the cut, so a secret cut in half cannot show its first half.
  const plain = redact(renderRemoteCommand({ argv: redactEnvArgv(argv), sudo }, { sudo: DEFAULT_SUDO }), [...secrets]);
  // Cut at the last space before 300 characters, so no word (a <redacted>) is cut in half.
  return plain.length > 300 ? `${plain.slice(0, Math.max(plain.lastIndexOf(" ", 300), 200))} ...` : plain;
}

/**
 * The RemoteCommandFailed error for a command that exited non-zero or was
 * killed: the command as shown by {@link shownCommand} (environment values
 * never shown), its status, and the tail of its stderr (else stdout), with
 * `secrets` redacted throughout. What {@link SshSession.run} throws; for a
 * caller that judged the exit itself.
 */
export function commandFailed(argv: readonly string[], result: RunResult, where: { host: string; sudo?: boolean; secrets?: readonly string[] }): EtcdStandbyError {
  const secrets = [...(where.secrets ?? [])];
  const tail = result.stderr.trim().slice(-2000) || result.stdout.trim().slice(-2000);
  return new EtcdStandbyError(
    "RemoteCommandFailed",
    `command ${shownCommand(argv, where.sudo === true, secrets)} ${result.signal !== undefined ? `was killed by signal ${result.signal}` : `exited with status ${String(result.code)}`}${tail ? `: ${tail}` : ""}`,
    "read the command output above and fix the cause on the host",
    { host: where.host, secrets },
  );
}

/** A connected, authenticated SSH session, valid only inside {@link withSsh}. */
export interface SshSession {
  /** The host as given. */
  readonly host: string;
  /** How to invoke docker on this host. */
  readonly dockerCommand: readonly string[];
  /** Whether commands run through sudo by default. */
  readonly sudo: boolean;
  /** SHA256 fingerprint of the host key the server presented. */
  readonly hostKeyFingerprint: string;
  /**
   * Runs `argv` (each element one argument, quoted), with a deadline after
   * which the channel is closed and a Timeout error thrown. Throws
   * RemoteCommandFailed on a non-zero exit unless `allowFailure`.
   */
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Prints the shell's PID as the first stderr line, then execs the real command (same PID). */
const PID_WRAPPER = 'printf "etcd-standby-pid:%s\\n" "$$" >&2; exec "$@"';

/** Kills process group "-$1" (else process "$1"): TERM, then KILL after a second. */
const KILL_SCRIPT =
  'kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || exit 0; sleep 1; kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null; exit 0';

type ExecOutcome =
  | { kind: "done"; result: RunResult }
  | { kind: "timeout"; pid: number | undefined }
  | { kind: "error"; error: unknown }
  | { kind: "dropped" };
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
/** How long a command may wait for input given as a promise before its channel is closed (the caller settles it long before). */
const MAX_INPUT_WAIT_MS = 600_000;

/** A parsed pinned host key. */
export interface PinnedHostKey {
  /** Key type, e.g. "ssh-ed25519". */
  type: string;
  /** The SSH wire-format public key blob (what the server presents). */
  blob: Buffer;
  /** Its SHA256 fingerprint, `SHA256:...` as ssh-keygen prints it. */
  fingerprint: string;
}

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ssh-dss",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
]);

/** SHA256 fingerprint of an SSH public key blob, formatted like `ssh-keygen -l`: `SHA256:<base64, no padding>`. */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Parses an OpenSSH public key line or a known_hosts line into a
 * {@link PinnedHostKey}. Throws InvalidInput when it is neither, when it uses a
 * known_hosts marker (`@cert-authority`, `@revoked`), or when the blob does
 * not encode the key type it claims.
 */
export function parsePinnedHostKey(line: string, host = ""): PinnedHostKey {
  const fail = (why: string): EtcdStandbyError =>
    new EtcdStandbyError(
      "InvalidInput",
      `hostPublicKey is not usable: ${why}`,
      `record the host key with \`ssh-keyscan -t ed25519 ${host || "HOST"}\` (check its fingerprint out of band) and pass that line as hostPublicKey`,
      { host },
    );
  if (typeof line !== "string" || line.trim() === "") throw fail("it is empty");
  const tokens = line.trim().split(/\s+/);
  if (tokens[0].startsWith("@")) throw fail(`known_hosts markers such as ${tokens[0]} are not supported`);
  const i = tokens.findIndex((t) => KEY_TYPES.has(t));
  if (i < 0 || i > 1 || i + 1 >= tokens.length) {
    throw fail("expected `ssh-ed25519 AAAA...` or `host ssh-ed25519 AAAA...`");
  }
  const type = tokens[i];
  const b64 = tokens[i + 1];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw fail("the key is not base64");
  const blob = Buffer.from(b64, "base64");
  if (blob.length < 4) throw fail("the key blob is too short");
  const len = blob.readUInt32BE(0);
  if (len + 4 > blob.length || blob.subarray(4, 4 + len).toString("latin1") !== type) {
    throw fail(`the key blob does not encode a ${type} key`);
  }
  return { type, blob, fingerprint: fingerprintSha256(blob) };
}

function hostKeyAlgorithms(type: string): ServerHostKeyAlgorithm[] {
  if (type === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [type as ServerHostKeyAlgorithm];
}

interface ResolvedHost {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  pinned: PinnedHostKey | undefined;
  sudo: boolean;
  dockerCommand: string[];
  timeoutMs: number;
  secrets: string[];
  label: string;
}

function resolveHost(args: HostConnectionArgs, ssh2: typeof Ssh2Lib): ResolvedHost {
  const secrets = typeof args.privateKey === "string" && args.privateKey !== "" ? [args.privateKey] : [];
  const port = args.port ?? 22;
  const problems = [...validateHostAddress(args.host, "host"), ...validatePort(port, "port")];
  if (typeof args.user !== "string" || !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(args.user)) {
    problems.push(`user ${JSON.stringify(args.user)} is not a valid login name: use letters, digits, "_", "." and "-", at most 32`);
  }
  const dockerCommand = args.dockerCommand ?? ["docker"];
  if (!Array.isArray(dockerCommand) || dockerCommand.length === 0 || dockerCommand.some((a) => typeof a !== "string" || a === "" || /[\0\n\r]/.test(a))) {
    problems.push(`dockerCommand ${JSON.stringify(dockerCommand)} must be a non-empty list of non-empty single-line arguments`);
  }
  const timeoutMs = args.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) problems.push(`timeoutMs ${String(timeoutMs)} must be a positive integer`);
  if (typeof args.privateKey !== "string" || args.privateKey.trim() === "") {
    problems.push("privateKey must be a non-empty PEM or OpenSSH private key");
  } else {
    const parsed = ssh2.utils.parseKey(args.privateKey);
    const key = Array.isArray(parsed) ? (parsed[0] as Ssh2Lib.ParsedKey | Error | undefined) : parsed;
    if (key === undefined || key instanceof Error) {
      problems.push(
        `privateKey could not be parsed (${key instanceof Error ? redact(key.message, secrets) : "no key found"}); give an unencrypted PEM or OpenSSH private key`,
      );
    } else if (!key.isPrivateKey()) {
      problems.push("privateKey is a public key; give the private key");
    }
  }
  const label = `${args.user}@${args.host}:${port}`;
  if (problems.length > 0) {
    throw new EtcdStandbyError("InvalidInput", `invalid SSH connection settings: ${problems.join("; ")}`, "fix the host connection settings", {
      host: JSON.stringify(String(args.host)),
      secrets,
    });
  }
  let pinned: PinnedHostKey | undefined;
  if (args.hostPublicKey !== undefined && args.hostPublicKey !== "") {
    pinned = parsePinnedHostKey(args.hostPublicKey, args.host);
  } else if (args.insecureIgnoreHostKey !== true) {
    throw new EtcdStandbyError(
      "InvalidInput",
      "no SSH host key is pinned, so the server cannot be authenticated",
      `record the host key with \`ssh-keyscan -t ed25519 ${args.host}\` (check its fingerprint out of band) and pass the line as hostPublicKey`,
      { host: args.host },
    );
  }
  return {
    host: args.host,
    port,
    user: args.user,
    privateKey: args.privateKey,
    pinned,
    sudo: args.sudo === true,
    dockerCommand: [...dockerCommand],
    timeoutMs,
    secrets,
    label,
  };
}

interface HandshakeState {
  seenFingerprint: string | undefined;
  mismatch: boolean;
}

function connect(ssh2: typeof Ssh2Lib, h: ResolvedHost, state: HandshakeState): Promise<Client> {
  const client = new ssh2.Client();
  const verifier = (key: Buffer): boolean => {
    state.seenFingerprint = fingerprintSha256(key);
    if (h.pinned === undefined) return true; // insecureIgnoreHostKey, checked in resolveHost
    const ok = key.length === h.pinned.blob.length && timingSafeEqual(key, h.pinned.blob);
    state.mismatch = !ok;
    return ok;
  };
  const config: ConnectConfig = {
    host: h.host,
    port: h.port,
    username: h.user,
    privateKey: h.privateKey,
    readyTimeout: h.timeoutMs,
    hostVerifier: verifier,
    // Only negotiate the pinned key's type, so the server presents that key.
    ...(h.pinned ? { algorithms: { serverHostKey: hostKeyAlgorithms(h.pinned.type) } } : {}),
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
  };
  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const done = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      if (err) {
        client.end();
        reject(err);
      } else {
        resolve(client);
      }
    };
    client.once("ready", () => done(undefined));
    client.on("error", (err: Error) => done(err));
    client.once("close", () => done(new Error("connection closed during the SSH handshake")));
    try {
      client.connect(config);
      // Without it, Nagle's algorithm holds each small SSH packet until the peer's delayed ACK (about 40 ms):
      // the handshake's round trips took 0.2 s instead of 0.03 s, and every command paid it again.
      client.setNoDelay(true);
    } catch (e) {
      done(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

function translateConnectError(e: unknown, h: ResolvedHost, state: HandshakeState): EtcdStandbyError {
  if (isEtcdStandbyError(e)) return e;
  if (state.mismatch && h.pinned) {
    return new EtcdStandbyError(
      "HostKeyMismatch",
      `the SSH host key of ${h.host} does not match the pinned key: the server presented ${state.seenFingerprint ?? "an unknown key"}, expected ${h.pinned.fingerprint} (${h.pinned.type}); nothing was run`,
      `if the host was legitimately reinstalled, verify the new key out of band (ssh-keyscan -t ${h.pinned.type.startsWith("ecdsa") ? "ecdsa" : h.pinned.type.replace(/^ssh-/, "")} ${h.host} | ssh-keygen -lf -) and update hostPublicKey; otherwise treat this as a possible man-in-the-middle`,
      { host: h.label },
    );
  }
  const msg = describeError(e, h.secrets);
  const level = typeof e === "object" && e !== null && "level" in e ? String(e.level) : "";
  const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
  if (level === "client-timeout" || /timed out/i.test(msg)) {
    return new EtcdStandbyError("Timeout", `SSH handshake with ${h.label} did not finish within ${h.timeoutMs} ms: ${msg}`, "check that the host is up, the port is sshd's and no firewall drops the traffic; or raise timeoutMs", { host: h.label, secrets: h.secrets, cause: e });
  }
  if (level === "client-authentication") {
    return new EtcdStandbyError("Refused", `SSH authentication as ${h.user} on ${h.host} was refused: ${msg}`, `check that the public half of privateKey is in ~${h.user}/.ssh/authorized_keys on the host and that the user may log in`, { host: h.label, secrets: h.secrets, cause: e });
  }
  return new EtcdStandbyError("Unreachable", `could not open an SSH connection to ${h.label}: ${msg}${code ? ` (${code})` : ""}`, "check the address and port, that sshd is running and reachable from here", { host: h.label, secrets: h.secrets, cause: e });
}

class Session implements SshSession {
  public constructor(
    private readonly client: Client,
    private readonly h: ResolvedHost,
    public readonly hostKeyFingerprint: string,
  ) {}

  public get host(): string {
    return this.h.host;
  }

  public get dockerCommand(): readonly string[] {
    return this.h.dockerCommand;
  }

  public get sudo(): boolean {
    return this.h.sudo;
  }

  public async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const secrets = [...this.h.secrets, ...(opts.secrets ?? [])];
    const sudo = opts.sudo ?? this.h.sudo;
    // Validates argv (throws InvalidInput, nothing sent, for an empty argv or a NUL byte).
    const shown = shownCommand(argv, sudo, secrets);
    const timeoutMs = opts.timeoutMs ?? this.h.timeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new EtcdStandbyError("InvalidInput", `timeoutMs ${String(timeoutMs)} must be a positive integer`, "pass a positive number of milliseconds", { host: this.h.label });
    }
    // An unprivileged wrapper reports the PID on the first stderr line, then
    // execs the command (with its sudo prefix, so sudoers rules only need to
    // allow the command itself), keeping that PID so a timed-out command can
    // be killed. SSH "signal" requests are not reliable: OpenSSH refuses them
    // for some sessions, and ssh2 cannot send one after stdin is closed.
    const wrapped = buildCommand(["sh", "-c", PID_WRAPPER, "sh", ...(sudo ? DEFAULT_SUDO : []), ...argv]);
    const outcome = await this.exec(wrapped, timeoutMs, opts.stdin, true);
    if (outcome.kind === "timeout") {
      if (outcome.pid !== undefined) await this.killRemote(outcome.pid);
      throw new EtcdStandbyError(
        "Timeout",
        `command ${shown} did not finish within ${timeoutMs} ms; its channel was closed${outcome.pid !== undefined ? ` and process ${outcome.pid} killed` : ""}`,
        "check what the command waits for on the host (docker daemon, sudo, disk), or raise timeoutMs",
        { host: this.h.label, secrets },
      );
    }
    if (outcome.kind === "error") {
      throw new EtcdStandbyError("Unreachable", `could not run command ${shown}: ${describeError(outcome.error, secrets)}`, "check the SSH connection to the host and that sshd allows exec sessions for this user", { host: this.h.label, secrets });
    }
    if (outcome.kind === "dropped") {
      throw new EtcdStandbyError(
        "Unreachable",
        `the SSH connection to ${this.h.label} dropped while running ${shown}: no exit status came back, so whether the command took effect is unknown`,
        "check that the host and its sshd are up, then run again (the next run looks at what is on the host)",
        { host: this.h.label, secrets },
      );
    }
    const result = outcome.result;
    if (!succeeded(result) && opts.allowFailure !== true) throw commandFailed(argv, result, { host: this.h.label, sudo, secrets });
    return result;
  }

  /**
   * Best-effort kill of a timed-out command, bounded to 5 s: SIGTERM to its
   * process group (or the process), which sudo relays to a privileged child,
   * then SIGKILL a second later. Runs unprivileged.
   */
  private async killRemote(pid: number): Promise<void> {
    const cmd = buildCommand(["sh", "-c", KILL_SCRIPT, "sh", String(pid)]);
    await this.exec(cmd, 5_000, undefined, false);
  }

  /** Runs one command line on a new channel; never rejects. */
  private exec(command: string, timeoutMs: number, stdin: string | Promise<string> | undefined, pidHeader: boolean): Promise<ExecOutcome> {
    return new Promise<ExecOutcome>((resolve) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      let code: number | null = null;
      let signal: string | undefined;
      let pid: number | undefined;
      let header = pidHeader ? "" : undefined; // stderr until the PID line is complete
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      const keepErr = (d: Buffer): void => {
        if (errBytes < MAX_OUTPUT_BYTES) err.push(d);
        errBytes += d.length;
      };
      const finish = (o: ExecOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const expire = (): void => {
        channel?.close();
        finish({ kind: "timeout", pid });
      };
      // A command that waits for its input has its deadline from the write on.
      let timer = setTimeout(expire, typeof stdin === "object" ? MAX_INPUT_WAIT_MS : timeoutMs);
      try {
        this.client.exec(command, (execErr, ch) => {
          if (execErr) {
            finish({ kind: "error", error: execErr });
            return;
          }
          channel = ch;
          if (settled) {
            ch.close();
            return;
          }
          ch.on("data", (d: Buffer) => {
            if (outBytes < MAX_OUTPUT_BYTES) out.push(d);
            outBytes += d.length;
          });
          ch.stderr.on("data", (d: Buffer) => {
            if (header === undefined) {
              keepErr(d);
              return;
            }
            header += d.toString("latin1");
            const nl = header.indexOf("\n");
            if (nl < 0 && header.length < 64) return;
            const m = /^etcd-standby-pid:([0-9]+)$/.exec(nl < 0 ? "" : header.slice(0, nl));
            if (m) pid = Number(m[1]);
            const rest = m ? header.slice(nl + 1) : header;
            header = undefined;
            if (rest !== "") keepErr(Buffer.from(rest, "latin1"));
          });
          ch.on("exit", (c: number | null, sig?: string) => {
            code = c;
            signal = sig ?? undefined;
          });
          ch.on("close", () => {
            if (header !== undefined && header !== "") keepErr(Buffer.from(header, "latin1"));
            // sshd always sends exit-status or exit-signal before closing a
            // channel; neither means the connection (or sshd) went away.
            if (code === null && signal === undefined) {
              finish({ kind: "dropped" });
              return;
            }
            finish({
              kind: "done",
              result: {
                code,
                signal,
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
              },
            });
          });
          if (typeof stdin !== "object") {
            ch.end(stdin ?? undefined);
            return;
          }
          const write = (text: string): void => {
            if (settled) return;
            clearTimeout(timer);
            timer = setTimeout(expire, timeoutMs);
            ch.end(text);
          };
          stdin.then(write, () => write(""));
        });
      } catch (e) {
        finish({ kind: "error", error: e });
      }
    });
  }
}

/**
 * Connects to `host` over SSH (host key pinned, handshake bounded by
 * timeoutMs), runs `fn` with a session, and always ends the connection.
 *
 * Refuses before authenticating, with HostKeyMismatch, when the presented host
 * key differs from `hostPublicKey`; refuses with InvalidInput when no key is
 * pinned and `insecureIgnoreHostKey` is not set. Errors thrown by `fn` itself
 * pass through unchanged.
 */
export async function withSsh<T>(host: HostConnectionArgs, fn: (s: SshSession) => Promise<T>): Promise<T> {
  const open = await connectSsh(host);
  try {
    return await fn(open.session);
  } finally {
    open.end();
  }
}

/** An SSH connection opened by {@link connectSsh}: its session, and its end (the caller's to call, always). */
export interface OpenSsh {
  readonly session: SshSession;
  end(): void;
}

/**
 * {@link withSsh} without the scope: connects (host key pinned, handshake
 * bounded), for a caller that starts the connection beside other work (an
 * etcd lock, say) and ends it itself, in a `finally`.
 */
export async function connectSsh(host: HostConnectionArgs): Promise<OpenSsh> {
  const ssh2 = require("ssh2") as typeof Ssh2Lib;
  const h = resolveHost(host, ssh2);
  const state: HandshakeState = { seenFingerprint: undefined, mismatch: false };
  let client: Client;
  try {
    client = await connect(ssh2, h, state);
  } catch (e) {
    throw translateConnectError(e, h, state);
  }
  // Errors after the handshake (e.g. a dropped connection) surface through
  // the running command; keep them from becoming unhandled 'error' events.
  client.on("error", () => undefined);
  return { session: new Session(client, h, state.seenFingerprint ?? ""), end: () => client.end() };
}
