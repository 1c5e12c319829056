/**
 * The one error type the provider throws, and redaction of secrets from any
 * text that may end up in an error message or a log.
 *
 * Pure module: no I/O, safe to capture in Pulumi closures.
 */

/**
 * What kind of failure an {@link EtcdStandbyError} reports.
 *
 * - `InvalidInput`: a value given by the user is malformed; nothing was done.
 * - `QuorumRisk`: the operation was refused because it could lose etcd quorum.
 * - `HostKeyMismatch`: the SSH host key presented does not match the pinned one.
 * - `Timeout`: an operation did not finish within its deadline.
 * - `NotFound`: a member, container or file that was expected is absent.
 * - `Refused`: the remote side answered but refused the operation.
 * - `Unreachable`: no connection could be made (network, TLS or auth handshake).
 * - `RemoteCommandFailed`: a remote command exited with a non-zero status.
 */
export type EtcdStandbyErrorCode =
  | "InvalidInput"
  | "QuorumRisk"
  | "HostKeyMismatch"
  | "Timeout"
  | "NotFound"
  | "Refused"
  | "Unreachable"
  | "RemoteCommandFailed";

/** Optional context attached to an {@link EtcdStandbyError}. */
export interface EtcdStandbyErrorOptions {
  /** The etcd member concerned (name or hex ID), if any. */
  member?: string;
  /** The host or endpoint concerned, if any. */
  host?: string;
  /** Strings that must never appear in the message (keys, tokens); see {@link redact}. */
  secrets?: readonly string[];
  /** The underlying error, kept for debugging (its message is not re-exposed unredacted). */
  cause?: unknown;
}

/**
 * An error with a machine-readable code and a human next step.
 *
 * The message reads `<what happened> (member X, host Y). Next: <nextStep>`;
 * the parenthesised part lists only the context that is known. The message is
 * always passed through {@link redact}, so PEM private keys and any given
 * secrets never appear in it.
 */
export class EtcdStandbyError extends Error {
  /** Machine-readable failure kind. */
  public readonly code: EtcdStandbyErrorCode;
  /** The etcd member concerned, if known. */
  public readonly member: string | undefined;
  /** The host or endpoint concerned, if known. */
  public readonly host: string | undefined;
  /** What the user should do about it. */
  public readonly nextStep: string;
  /** The redacted "what happened" part of the message, without context or next step. */
  public readonly summary: string;

  /**
   * @param code failure kind
   * @param what what happened (may include remote output; it is redacted)
   * @param nextStep what the user should do next
   * @param options member/host context, secrets to redact, underlying cause
   */
  public constructor(
    code: EtcdStandbyErrorCode,
    what: string,
    nextStep: string,
    options: EtcdStandbyErrorOptions = {},
  ) {
    const secrets = options.secrets ?? [];
    const summary = redact(what, secrets);
    const next = redact(nextStep, secrets);
    const context: string[] = [];
    if (options.member !== undefined && options.member !== "") context.push(`member ${options.member}`);
    if (options.host !== undefined && options.host !== "") context.push(`host ${options.host}`);
    const where = context.length > 0 ? ` (${context.join(", ")})` : "";
    super(`${summary}${where}. Next: ${next}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EtcdStandbyError";
    this.code = code;
    this.member = options.member;
    this.host = options.host;
    this.nextStep = next;
    this.summary = summary;
  }
}

/** True when `e` is an {@link EtcdStandbyError} (optionally of the given code). */
export function isEtcdStandbyError(e: unknown, code?: EtcdStandbyErrorCode): e is EtcdStandbyError {
  return e instanceof EtcdStandbyError && (code === undefined || e.code === code);
}

/** The placeholder that replaces redacted text. */
export const REDACTED = "[secret]";

/**
 * Matches a PEM private key block of any kind (RSA, EC, OPENSSH, ENCRYPTED,
 * plain PKCS#8), including a truncated block that never reaches its END line.
 */
const PEM_PRIVATE_KEY =
  /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;

/**
 * Replaces every PEM private key block and every occurrence of each given
 * secret in `text` with `[secret]`. Empty secrets are ignored. Secrets are
 * also matched with CRLF line endings and with surrounding whitespace trimmed,
 * so a key echoed back by a remote tool is still caught.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(PEM_PRIVATE_KEY, REDACTED);
  const variants = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== "string") continue;
    for (const v of [s, s.trim(), s.replace(/\r?\n/g, "\r\n").trim()]) {
      if (v.length > 0) variants.add(v);
    }
  }
  // Longest first so a secret that contains another is replaced whole.
  for (const v of [...variants].sort((a, b) => b.length - a.length)) {
    out = out.split(v).join(REDACTED);
  }
  return out;
}

/**
 * Best-effort message of an unknown thrown value, redacted. Use when wrapping
 * a library error into an {@link EtcdStandbyError}.
 */
export function describeError(e: unknown, secrets: readonly string[] = []): string {
  let msg: string;
  if (e instanceof Error) msg = e.message;
  else if (typeof e === "string") msg = e;
  else {
    try {
      msg = JSON.stringify(e) ?? String(e);
    } catch {
      msg = String(e);
    }
  }
  return redact(msg, secrets);
}

/** What an environment variable's value shows as wherever a command line or a container's settings are quoted. */
export const REDACTED_ENV_VALUE = "<redacted>";

const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=/;

/** `NAME=value` as `NAME=<redacted>`; anything else (`NAME` alone: docker passes the caller's own) as it is. */
export function redactEnvAssignment(word: string): string {
  const m = ENV_ASSIGNMENT.exec(word);
  return m ? `${m[1]}=${REDACTED_ENV_VALUE}` : word;
}

/** An environment as errors and progress lines show it: `NAME=<redacted>` for each variable, names sorted. */
export function shownEnv(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env).sort().map((k) => `${k}=${REDACTED_ENV_VALUE}`);
}

/**
 * An environment flag inside a command line written out as text (one level
 * of shell quoting, as lib/shell.ts's buildCommand writes one, or plain):
 * `--env NAME=`, `-e NAME=`, `--env=NAME=`, quoted or not. Groups: the
 * flag's quote, the separator, the value's quote, the name.
 */
const ENV_FLAG_IN_TEXT = /(?<=^|[\s;&|(])(['"]?)(?:--env|-e)(?:\1(\s+)(['"]?)|=)([A-Za-z_][A-Za-z0-9_]*)=/g;

/** Where a value that starts at `from`, inside quote `q` ("" for none), ends in `text`; the end of `text` when it never does (cut short). */
function quotedValueEnd(text: string, from: number, q: string): number {
  if (q === "") {
    const m = /\s/.exec(text.slice(from));
    return m ? from + m.index : text.length;
  }
  let i = from;
  for (;;) {
    const j = text.indexOf(q, i);
    if (j < 0) return text.length;
    // '\'' is a single quote inside a single-quoted word (shQuote), \" one inside a double-quoted word.
    if (q === "'" && text.startsWith("\\''", j + 1)) i = j + 4;
    else if (q === '"' && text[j - 1] === "\\") i = j + 1;
    else return j;
  }
}

/**
 * `text` (a command line, or a script holding one) with the value of each
 * environment flag shown as `<redacted>` ({@link ENV_FLAG_IN_TEXT}); a
 * value whose quote never closes is hidden to the end of the text.
 */
export function redactEnvText(text: string): string {
  let out = "";
  let at = 0;
  ENV_FLAG_IN_TEXT.lastIndex = 0;
  for (let m = ENV_FLAG_IN_TEXT.exec(text); m !== null; m = ENV_FLAG_IN_TEXT.exec(text)) {
    const quote = m[2] !== undefined ? m[3] : m[1];
    const start = m.index + m[0].length;
    const end = quotedValueEnd(text, start, quote);
    out += `${text.slice(at, start)}${REDACTED_ENV_VALUE}`;
    at = end;
    ENV_FLAG_IN_TEXT.lastIndex = Math.max(end, start);
  }
  return out + text.slice(at);
}

/**
 * `argv` as errors and progress lines may quote it: each environment
 * variable a docker command line sets (`--env NAME=VALUE`, `-e NAME=VALUE`,
 * `--env=NAME=VALUE`) as `NAME=<redacted>`, the name kept and the value
 * never shown (RKE may pass S3 credentials in `etcd-rolling-snapshots`'
 * environment); an argument that holds a command line of its own (a script's
 * argument) gets the same inside it ({@link redactEnvText}). Every place
 * that quotes a command line goes through this.
 */
export function redactEnvArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (typeof a !== "string") {
      out.push(a);
    } else if ((a === "--env" || a === "-e") && i + 1 < argv.length && typeof argv[i + 1] === "string") {
      out.push(a, redactEnvAssignment(argv[++i]));
    } else {
      const m = /^(--env=|-e=)([\s\S]*)$/.exec(a);
      out.push(m ? `${m[1]}${redactEnvAssignment(m[2])}` : redactEnvText(a));
    }
  }
  return out;
}
