/**
 * Pure input validators. Each returns an array of problem strings (empty when
 * the value is fine) so a provider's `check` can report every problem at once.
 * Every problem names the field, quotes the bad value and says what is allowed.
 *
 * No I/O; safe to capture in Pulumi closures.
 */
import { isIPv4, isIPv6 } from "node:net";

/** Quotes a value for a problem message, making control characters visible. */
export function quoteValue(value: unknown): string {
  if (typeof value === "string") {
    const shown = value.length > 200 ? `${value.slice(0, 200)}...` : value;
    return JSON.stringify(shown);
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function notString(field: string, value: unknown): string[] | undefined {
  return typeof value === "string" ? undefined : [`${field} ${quoteValue(value)} must be a string`];
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Docker container name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
 */
export function validateContainerName(value: unknown, field = "containerName"): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  const problems: string[] = [];
  if (!CONTAINER_NAME.test(v)) {
    problems.push(
      `${field} ${quoteValue(v)} is not a valid container name: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  if (v.length > 128) problems.push(`${field} ${quoteValue(v)} is ${v.length} characters long; at most 128 are allowed`);
  return problems;
}

const PATH_CHARS = /^[A-Za-z0-9._/@+=,-]+$/;

/** Options for {@link validateAbsolutePath}. */
export interface AbsolutePathOptions {
  /** Accept "/" itself (default false: a data directory must never be "/"). */
  allowRoot?: boolean;
}

/**
 * Absolute path: starts with "/", no "." or ".." segments, no "//", no trailing
 * slash, only `[A-Za-z0-9._/@+=,-]`, and not "/" itself unless `allowRoot`.
 */
export function validateAbsolutePath(value: unknown, field = "path", options: AbsolutePathOptions = {}): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  const q = quoteValue(v);
  const problems: string[] = [];
  if (!v.startsWith("/")) problems.push(`${field} ${q} must be an absolute path starting with "/"`);
  if (v === "/") {
    if (!options.allowRoot) problems.push(`${field} ${q} must not be "/" itself; give a dedicated directory`);
    return problems;
  }
  if (!PATH_CHARS.test(v)) {
    problems.push(`${field} ${q} contains characters that are not allowed; use only letters, digits and . _ / @ + = , -`);
  }
  if (v.includes("//")) problems.push(`${field} ${q} must not contain "//"`);
  if (v.length > 1 && v.endsWith("/")) problems.push(`${field} ${q} must not end with "/"`);
  const segments = v.split("/");
  if (segments.some((s) => s === "." || s === "..")) {
    problems.push(`${field} ${q} must not contain "." or ".." segments`);
  }
  if (v.length > 4096) problems.push(`${field} ${q} is longer than 4096 characters`);
  return problems;
}

const MEMBER_NAME = /^[A-Za-z0-9._-]+$/;

/** etcd member name: non-empty, `[A-Za-z0-9._-]`, at most 63 characters. */
export function validateMemberName(value: unknown, field = "memberName"): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  const q = quoteValue(v);
  if (v.length === 0) return [`${field} must not be empty; use letters, digits, ".", "_" and "-" (at most 63)`];
  const problems: string[] = [];
  if (!MEMBER_NAME.test(v)) problems.push(`${field} ${q} may contain only letters, digits, ".", "_" and "-"`);
  if (v.length > 63) problems.push(`${field} ${q} is ${v.length} characters long; at most 63 are allowed`);
  return problems;
}

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True when `host` is an IPv4 address, an IPv6 address (unbracketed) or a DNS name. */
export function isHostAddress(host: string): boolean {
  if (isIPv4(host) || isIPv6(host)) return true;
  if (host.length === 0 || host.length > 253) return false;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  const labels = name.split(".");
  // An all-numeric dotted name that is not a valid IPv4 address is a typo, not a DNS name.
  if (labels.every((l) => /^[0-9]+$/.test(l))) return false;
  return labels.every((l) => DNS_LABEL.test(l));
}

/** Host address: an IPv4 address, an IPv6 address (without brackets) or a DNS name. */
export function validateHostAddress(value: unknown, field = "host"): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  if (isHostAddress(v)) return [];
  return [`${field} ${quoteValue(v)} is not a valid host: give an IPv4 address, an IPv6 address or a DNS name`];
}

/** TCP port: an integer from 1 to 65535. */
export function validatePort(value: unknown, field = "port"): string[] {
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535) return [];
  return [`${field} ${quoteValue(value)} is not a valid port: give an integer from 1 to 65535`];
}

const URL_SHAPE = /^(https?):\/\/(\[[^\]/?#@]*\]|[^:/?#@[\]]*)(?::([0-9]{1,5}))?(.*)$/s;

function validateUrl(value: unknown, field: string, kind: string): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  const q = quoteValue(v);
  const allowed = `give ${kind} as http(s)://HOST:PORT with no path, query or credentials`;
  const m = URL_SHAPE.exec(v);
  if (!m) return [`${field} ${q} is not a valid ${kind}: ${allowed}`];
  const [, , rawHost, port, rest] = m;
  const problems: string[] = [];
  const host = rawHost.startsWith("[") ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith("[") ? !isIPv6(host) : !isHostAddress(host) || isIPv6(host)) {
    problems.push(`${field} ${q} has an invalid host ${quoteValue(rawHost)}: use an IPv4 address, [IPv6] or a DNS name`);
  }
  if (port === undefined) {
    problems.push(`${field} ${q} has no port: ${allowed}`);
  } else if (validatePort(Number(port)).length > 0) {
    problems.push(`${field} ${q} has an invalid port ${quoteValue(port)}: use 1 to 65535`);
  }
  if (rest !== "") problems.push(`${field} ${q} has a path, query, fragment or credentials: ${allowed}`);
  return problems;
}

/** etcd peer URL: `http(s)://host:port`, no path or query; host IPv4, [IPv6] or DNS name. */
export function validatePeerUrl(value: unknown, field = "peerUrl"): string[] {
  return validateUrl(value, field, "a peer URL");
}

/** etcd client URL: `http(s)://host:port`, no path or query; host IPv4, [IPv6] or DNS name. */
export function validateClientUrl(value: unknown, field = "clientUrl"): string[] {
  return validateUrl(value, field, "a client URL");
}

const IMAGE = /^[a-z0-9][a-zA-Z0-9._/:@-]*$/;

/** Docker image reference: starts with `[a-z0-9]`, then `[a-zA-Z0-9._/:@-]`, at most 255 characters. */
export function validateImage(value: unknown, field = "image"): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  const q = quoteValue(v);
  const problems: string[] = [];
  if (!IMAGE.test(v)) {
    problems.push(
      `${field} ${q} is not a valid image reference: start with a lowercase letter or digit, then use letters, digits and . _ / : @ -`,
    );
  }
  if (v.length > 255) problems.push(`${field} ${q} is ${v.length} characters long; at most 255 are allowed`);
  return problems;
}

const FLAG = /^--[a-z0-9][a-z0-9-]*(?:=([A-Za-z0-9._:/@+=,%-]*))?$/;

/**
 * An extra command-line flag such as `--flag` or `--flag=value`. The flag name
 * is lowercase letters, digits and "-"; the value may contain only
 * `[A-Za-z0-9._:/@+=,%-]`, so shell metacharacters, quotes, spaces and
 * newlines are rejected.
 */
export function validateExtraFlag(value: unknown, field = "extraFlag"): string[] {
  const bad = notString(field, value);
  if (bad) return bad;
  const v = value as string;
  if (v.length > 4096) return [`${field} ${quoteValue(v)} is longer than 4096 characters`];
  if (FLAG.test(v)) return [];
  const meta = /[;&|`$<>(){}[\]*?!~#'"\\\s]/.test(v) ? " (shell metacharacters, quotes and whitespace are not allowed)" : "";
  return [
    `${field} ${quoteValue(v)} is not an allowed flag${meta}: write --name or --name=value, name in lowercase letters, digits and "-", value in letters, digits and . _ : / @ + = , % -`,
  ];
}

/**
 * Validates a list of values with one validator, naming each element
 * `field[i]`. Convenience for arrays of flags, URLs and so on.
 */
export function validateEach(
  values: unknown,
  field: string,
  validator: (value: unknown, field: string) => string[],
): string[] {
  if (!Array.isArray(values)) return [`${field} ${quoteValue(values)} must be a list`];
  return (values as unknown[]).flatMap((v, i) => validator(v, `${field}[${i}]`));
}
