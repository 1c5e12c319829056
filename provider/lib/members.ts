/**
 * etcd member records and the pure logic on them: ID conversion, URL
 * normalisation, lookup, and building `--initial-cluster`.
 *
 * Pure module: no I/O, safe to capture in Pulumi closures.
 */
import { EtcdStandbyError } from "./errors";
import { validateMemberName, validatePeerUrl } from "./validate";

/** One etcd cluster member, in the provider's own representation. */
export interface Member {
  /** Member ID as a 16-digit lowercase hex string (zero-padded), e.g. "8e9e05c52164694d". */
  id: string;
  /** Member name; empty for a member that was added but has never started. */
  name: string;
  /** Peer URLs as reported by etcd. */
  peerURLs: string[];
  /** Client URLs as reported by etcd; empty for a member that has never started. */
  clientURLs: string[];
  /** True for a raft learner (non-voting member). */
  isLearner: boolean;
  /** True once the member has started and published its name (`name !== ""`). */
  started: boolean;
}

/** The shape etcd3 uses for a member (`IMember`), with `ID` as a decimal string. */
export interface RawMember {
  /** uint64 member ID, decimal digits (etcd3 represents uint64 as strings). */
  ID: string;
  /** Member name, empty when not started. */
  name: string;
  /** Peer URLs. */
  peerURLs: string[];
  /** Client URLs, empty when not started. */
  clientURLs: string[];
  /** Raft learner flag (absent on etcd older than 3.4). */
  isLearner?: boolean;
}

const UINT64_MAX = (1n << 64n) - 1n;

/** The leader ID a member reports when it sees no leader. */
export const NO_LEADER = "0000000000000000";

/**
 * Converts a member ID to the canonical 16-digit lowercase hex string.
 *
 * - `bigint`: the numeric value;
 * - `string`: decimal digits (etcd3's uint64 representation), or `0x`-prefixed hex;
 * - `Buffer`: big-endian unsigned integer of at most 8 bytes.
 *
 * Throws InvalidInput for anything else or a value outside uint64.
 */
export function idToHex(id: bigint | string | Buffer): string {
  let n: bigint;
  if (typeof id === "bigint") {
    n = id;
  } else if (typeof id === "string") {
    if (/^[0-9]{1,20}$/.test(id)) n = BigInt(id);
    else if (/^0x[0-9a-fA-F]{1,16}$/.test(id)) n = BigInt(id);
    else throw badId(id, "a decimal string or 0x-prefixed hex");
  } else if (Buffer.isBuffer(id)) {
    if (id.length === 0 || id.length > 8) throw badId(`<${id.length}-byte buffer>`, "a buffer of 1 to 8 bytes");
    n = BigInt(`0x${id.toString("hex")}`);
  } else {
    throw badId(String(id), "a bigint, string or Buffer");
  }
  if (n < 0n || n > UINT64_MAX) throw badId(String(id), "an unsigned 64-bit integer");
  return n.toString(16).padStart(16, "0");
}

/**
 * Converts a hex member ID (1 to 16 hex digits, any case, optional `0x`;
 * etcdctl prints IDs unpadded) to the decimal string etcd3's API expects.
 */
export function hexToId(hex: string): string {
  if (typeof hex !== "string" || !/^(?:0x)?[0-9a-fA-F]{1,16}$/.test(hex)) {
    throw badId(String(hex), "1 to 16 hex digits");
  }
  return BigInt(hex.startsWith("0x") ? hex : `0x${hex}`).toString(10);
}

/** Canonicalises a hex member ID (any case, padded or not) to 16 lowercase digits. */
export function normaliseHexId(hex: string): string {
  return idToHex(BigInt(`0x${hexOnly(hex)}`));
}

function hexOnly(hex: string): string {
  if (typeof hex !== "string" || !/^(?:0x)?[0-9a-fA-F]{1,16}$/.test(hex)) throw badId(String(hex), "1 to 16 hex digits");
  return hex.startsWith("0x") ? hex.slice(2) : hex;
}

function badId(shown: string, allowed: string): EtcdStandbyError {
  return new EtcdStandbyError(
    "InvalidInput",
    `member ID ${JSON.stringify(shown)} is not valid; expected ${allowed}`,
    "pass the member ID as printed by `etcdctl member list -w table` (hex)",
  );
}

/** Converts etcd3's raw member record to a {@link Member}. */
export function fromRawMember(raw: RawMember): Member {
  return {
    id: idToHex(raw.ID),
    name: raw.name ?? "",
    peerURLs: [...(raw.peerURLs ?? [])],
    clientURLs: [...(raw.clientURLs ?? [])],
    isLearner: raw.isLearner === true,
    started: (raw.name ?? "") !== "",
  };
}

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

/**
 * Normalises a URL for comparison: lowercase scheme and host, port always
 * explicit (the scheme's default when absent, and kept when it is the
 * default), no trailing slash. Returns the input trimmed when it is not a URL.
 */
export function normaliseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return url.trim();
  }
  // WHATWG URL drops a default port; recover an explicitly written one.
  const port = u.port !== "" ? u.port : (DEFAULT_PORTS[u.protocol] ?? "");
  const host = u.hostname.toLowerCase();
  const path = u.pathname === "/" ? "" : u.pathname;
  return `${u.protocol.toLowerCase()}//${host}${port !== "" ? `:${port}` : ""}${path}${u.search}`;
}

/** True when two URLs are the same after {@link normaliseUrl}. */
export function sameUrl(a: string, b: string): boolean {
  return normaliseUrl(a) === normaliseUrl(b);
}

/**
 * Host part of a URL, lowercase, IPv6 without brackets:
 * `https://[FE80::1]:2380` → `fe80::1`. Throws InvalidInput when not a URL.
 */
export function hostOfUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new EtcdStandbyError(
      "InvalidInput",
      `${JSON.stringify(url)} is not a URL`,
      "give a URL such as https://10.0.0.5:2380",
    );
  }
  const h = u.hostname.toLowerCase();
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** What to look a member up by in {@link resolveMember}. */
export interface MemberSelector {
  /** Member name (exact match; never matches an unstarted member's empty name). */
  name?: string;
  /** Peer URL (matched after {@link normaliseUrl} against all of a member's peer URLs). */
  peerURL?: string;
}

/**
 * Finds the member matching `by.name` or `by.peerURL`. Returns undefined when
 * nothing matches. Throws InvalidInput when the match is ambiguous: several
 * members match, or the name and the peer URL point at different members.
 */
export function resolveMember(members: readonly Member[], by: MemberSelector): Member | undefined {
  const byName =
    by.name !== undefined && by.name !== "" ? members.filter((m) => m.started && m.name === by.name) : [];
  const byUrl =
    by.peerURL !== undefined && by.peerURL !== ""
      ? members.filter((m) => m.peerURLs.some((u) => sameUrl(u, by.peerURL as string)))
      : [];
  const describe = (ms: Member[]): string => ms.map((m) => `${m.name || "(unstarted)"} ${m.id}`).join(", ");
  if (byName.length > 1) {
    throw new EtcdStandbyError(
      "InvalidInput",
      `${byName.length} members are named ${JSON.stringify(by.name)}: ${describe(byName)}`,
      "remove the duplicate member with `etcdctl member remove <id>` before continuing",
      { member: by.name },
    );
  }
  if (byUrl.length > 1) {
    throw new EtcdStandbyError(
      "InvalidInput",
      `${byUrl.length} members use peer URL ${by.peerURL}: ${describe(byUrl)}`,
      "remove the duplicate member with `etcdctl member remove <id>` before continuing",
      { member: by.name },
    );
  }
  const a = byName[0];
  const b = byUrl[0];
  if (a !== undefined && b !== undefined && a.id !== b.id) {
    throw new EtcdStandbyError(
      "InvalidInput",
      `name ${JSON.stringify(by.name)} matches member ${a.id} but peer URL ${by.peerURL} matches member ${b.name || "(unstarted)"} ${b.id}`,
      "check which member you mean; the name and peer URL must describe the same member",
      { member: by.name },
    );
  }
  return a ?? b;
}

/** The member being started, for {@link buildInitialCluster}. */
export interface SelfMember {
  /** The name the new member will start with (`--name`). */
  name: string;
  /** Its advertised peer URL (`--initial-advertise-peer-urls`). */
  peerURL: string;
}

/**
 * Builds the `--initial-cluster` value for a member joining an existing
 * cluster: `name=url` pairs, sorted by name (then URL), from every started
 * member's name and all its peer URLs, plus `self`.
 *
 * The list entry for `self` itself (matched by peer URL; unstarted because it
 * was just added) is replaced by `self`. Throws InvalidInput when another
 * member was added but never started (its name is empty, so it cannot be
 * listed correctly), or when a started member already uses `self.name` with a
 * different peer URL.
 */
export function buildInitialCluster(members: readonly Member[], self: SelfMember): string {
  const problems = [...validateMemberName(self.name, "self.name"), ...validatePeerUrl(self.peerURL, "self.peerURL")];
  if (problems.length > 0) {
    throw new EtcdStandbyError("InvalidInput", problems.join("; "), "fix the member name and peer URL");
  }
  const entries: Array<[string, string]> = [[self.name, self.peerURL]];
  for (const m of members) {
    const isSelfByUrl = m.peerURLs.some((u) => sameUrl(u, self.peerURL));
    if (!m.started) {
      if (isSelfByUrl) continue;
      throw new EtcdStandbyError(
        "InvalidInput",
        `member ${m.id} (peer URLs ${m.peerURLs.join(", ") || "none"}) was added but never started, so its name is empty and --initial-cluster cannot list it correctly`,
        `start that member, or remove it with \`etcdctl member remove ${m.id}\` if it is a leftover`,
        { member: m.id },
      );
    }
    if (m.name === self.name) {
      if (isSelfByUrl) continue;
      throw new EtcdStandbyError(
        "InvalidInput",
        `member name ${JSON.stringify(self.name)} is already used by member ${m.id} with peer URLs ${m.peerURLs.join(", ")}, not ${self.peerURL}`,
        "choose another name, or remove the old member first",
        { member: self.name },
      );
    }
    if (isSelfByUrl) {
      throw new EtcdStandbyError(
        "InvalidInput",
        `peer URL ${self.peerURL} is already used by started member ${m.name} (${m.id})`,
        "use the peer URL of the host being added, or remove the old member first",
        { member: self.name },
      );
    }
    for (const u of m.peerURLs) entries.push([m.name, u]);
  }
  entries.sort((x, y) => (x[0] === y[0] ? cmp(x[1], y[1]) : cmp(x[0], y[0])));
  return entries.map(([n, u]) => `${n}=${u}`).join(",");
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The verdict of {@link resolveExactMember}. */
export type ExactMatch =
  | { kind: "found"; member: Member }
  | { kind: "absent"; note?: string }
  | { kind: "mismatch"; problem: string; next: string };

/**
 * Finds the one member a destructive step may act on: its name and its peer
 * URL must agree with the live member list. With both given:
 *
 * - a started member with that name whose peer URLs include the URL: found;
 * - a member with that name elsewhere, or a voter with another name at the
 *   URL: a mismatch, described from both views (config and cluster);
 * - a learner with another name at the URL (the standby learner that took the
 *   host's place), or nothing: absent.
 *
 * With only one of them, the plain lookup of {@link resolveMember}.
 */
export function resolveExactMember(members: readonly Member[], by: MemberSelector): ExactMatch {
  const name = by.name !== undefined && by.name !== "" ? by.name : undefined;
  const url = by.peerURL !== undefined && by.peerURL !== "" ? by.peerURL : undefined;
  if (name === undefined || url === undefined) {
    const m = resolveMember(members, by);
    return m ? { kind: "found", member: m } : { kind: "absent" };
  }
  const describe = (m: Member): string => `${m.isLearner ? "learner" : "voter"} ${m.name || "(unstarted)"} (${m.id}) at ${m.peerURLs.join(", ") || "no peer URL"}`;
  const config = `the config says member ${name} has peer URL ${url}`;
  const named = members.filter((m) => m.started && m.name === name);
  const atUrl = members.filter((m) => m.peerURLs.some((u) => sameUrl(u, url)));
  if (named.length > 1 || atUrl.length > 1) {
    return { kind: "mismatch", problem: `${config}, but the cluster has ${[...new Set([...named, ...atUrl])].map(describe).join(" and ")}`, next: "remove the duplicate member with `etcdctl member remove <id>` before continuing" };
  }
  const [n] = named;
  const [u] = atUrl;
  if (n !== undefined) {
    if (u !== undefined && u.id === n.id) return { kind: "found", member: n };
    return {
      kind: "mismatch",
      problem: `${config}, but in the cluster ${name} is ${describe(n)}${u ? `, and ${url} belongs to ${describe(u)}` : ""}: the name belongs to another host`,
      next: `check the host's memberName in the config against \`etcdctl member list\`: set it to the name of the member whose peer URL is ${url}`,
    };
  }
  if (u !== undefined && !u.isLearner) {
    return {
      kind: "mismatch",
      problem: `${config}, but the cluster's ${describe(u)} has another name`,
      next: u.started ? `if ${u.name} is the host's RKE voter, set the host's memberName to ${u.name} in the config; otherwise correct the host's address` : `the voter at ${url} was added but never started: remove it with \`etcdctl member remove ${u.id}\` if it is a leftover`,
    };
  }
  return u !== undefined ? { kind: "absent", note: `${url} now belongs to ${describe(u)}, not to ${name}` } : { kind: "absent" };
}
