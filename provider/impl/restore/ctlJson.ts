/**
 * etcdctl's side of a restore, pure: its TLS and endpoint flags, the
 * arguments of the counts and the status call, and parsing of its JSON (IDs
 * above 2^53 kept exact); an etcd client's status read in the same shape.
 */
import type { EtcdStatus } from "../../connection/etcd";
import { idToHex, NO_LEADER } from "../../lib/members";
import type { LearnerTls } from "../learnerConfig";

/** etcdctl's TLS and endpoint flags for a client URL, using the host's TLS files (mounted in the container). */
export function etcdctlArgs(binDir: string, endpoint: string, tls: LearnerTls, args: string[]): string[] {
  return [
    `${binDir === "/" ? "" : binDir}/etcdctl`,
    `--endpoints=${endpoint}`,
    `--cacert=${tls.caFile}`,
    `--cert=${tls.certFile}`,
    `--key=${tls.keyFile}`,
    "--dial-timeout=3s",
    "--command-timeout=10s",
    ...args,
  ];
}

/** Arguments of a serializable count of every key: `count` covers the whole range, `--limit=1` keeps the answer small. */
export const COUNT_ALL_ARGS = ["get", "", "--prefix", "--keys-only", "--limit=1", "--consistency=s", "-w", "json"];

/**
 * Arguments of a serializable count of the keys under `prefix` (etcd-standby's
 * own lock keys, which the key counts leave out), at revision `rev` when given.
 */
export function countPrefixArgs(prefix: string, rev?: number): string[] {
  return ["get", prefix, "--prefix", "--keys-only", "--limit=1", "--consistency=s", ...(rev !== undefined ? [`--rev=${rev}`] : []), "-w", "json"];
}
/** Arguments of `endpoint status` as JSON. */
export const STATUS_ARGS = ["endpoint", "status", "-w", "json"];

/**
 * JSON.parse that keeps uint64 values (member and cluster IDs, above 2^53)
 * exact by reading every integer of 16 digits or more as a string.
 */
export function parseJsonExact<T>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as T;
}

function num(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function hex(v: unknown): string {
  if (v === undefined || v === null || v === "" || v === 0) return NO_LEADER;
  if (typeof v === "number") return idToHex(BigInt(v));
  if (typeof v === "string") return idToHex(v);
  return NO_LEADER;
}

/** A member's status as `etcdctl endpoint status -w json` reports it. */
export interface CtlStatus {
  endpoint: string;
  clusterId: string;
  memberId: string;
  leaderId: string;
  revision: number;
  raftIndex: number;
  raftAppliedIndex: number;
  raftTerm: number;
  version: string;
  isLearner: boolean;
  dbSize: number;
  errors: string[];
}

interface RawCtlStatus {
  Endpoint?: string;
  Status?: {
    header?: { cluster_id?: unknown; member_id?: unknown; revision?: unknown; raft_term?: unknown };
    version?: string;
    dbSize?: unknown;
    leader?: unknown;
    raftIndex?: unknown;
    raftTerm?: unknown;
    raftAppliedIndex?: unknown;
    isLearner?: boolean;
    errors?: string[];
  };
}

/** Parses `etcdctl endpoint status -w json` (one endpoint). Throws when it is not that. */
export function parseCtlStatus(text: string): CtlStatus {
  const arr = parseJsonExact<RawCtlStatus[]>(text.trim());
  const first = Array.isArray(arr) ? arr[0] : undefined;
  if (!first?.Status) throw new Error(`not an endpoint status answer: ${text.trim().slice(0, 200)}`);
  const st = first.Status;
  return {
    endpoint: first.Endpoint ?? "",
    clusterId: hex(st.header?.cluster_id),
    memberId: hex(st.header?.member_id),
    leaderId: hex(st.leader),
    revision: num(st.header?.revision),
    raftIndex: num(st.raftIndex),
    // Absent before 3.4; treat as applied up to the committed index then.
    raftAppliedIndex: st.raftAppliedIndex === undefined ? num(st.raftIndex) : num(st.raftAppliedIndex),
    raftTerm: num(st.raftTerm ?? st.header?.raft_term),
    version: st.version ?? "",
    isLearner: st.isLearner === true,
    dbSize: num(st.dbSize),
    errors: Array.isArray(st.errors) ? st.errors : [],
  };
}

/** Revision and number of keys from a `get` answer with `-w json` (count covers the whole range, whatever the limit). */
export function parseCtlCount(text: string): { revision: number; count: number; memberId: string } {
  const r = parseJsonExact<{ header?: { revision?: unknown; member_id?: unknown }; count?: unknown }>(text.trim());
  if (r === null || typeof r !== "object" || r.header === undefined) throw new Error(`not a get answer: ${text.trim().slice(0, 200)}`);
  return { revision: num(r.header.revision), count: num(r.count), memberId: hex(r.header.member_id) };
}

/** An etcd client's status answer in the shape etcdctl's gives (the answer's header carries revision and cluster ID). */
export function ctlStatusOf(st: EtcdStatus): CtlStatus {
  return {
    endpoint: st.endpoint,
    clusterId: st.clusterId ?? NO_LEADER,
    memberId: st.memberId,
    leaderId: st.leaderId,
    revision: st.revision ?? 0,
    raftIndex: st.raftIndex,
    // Absent before 3.4; treat as applied up to the committed index then (as parseCtlStatus).
    raftAppliedIndex: st.raftAppliedIndex ?? st.raftIndex,
    raftTerm: st.raftTerm,
    version: st.version,
    isLearner: st.isLearner,
    dbSize: st.dbSize,
    errors: [...st.errors],
  };
}
