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
