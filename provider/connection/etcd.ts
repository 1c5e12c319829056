/**
 * The etcd client layer: short-lived mTLS sessions over the `etcd3` package,
 * each call with its own deadline, bounded retries, and errors translated to
 * {@link EtcdStandbyError} naming the endpoint and the next step.
 *
 * Pulumi serialises dynamic-provider closures, so this module only imports
 * etcd3's *types* at the top; the library itself is `require`d inside
 * {@link withEtcd} when a client is actually needed.
 */
import { isIP } from "node:net";
import type * as Etcd3Lib from "etcd3";
import type { Etcd3, IOptions, IMember, IStatusResponse } from "etcd3";
import { EtcdStandbyError, describeError, isEtcdStandbyError } from "../lib/errors";
import type { EtcdStandbyErrorCode } from "../lib/errors";
import { fromRawMember, hexToId, idToHex, normaliseHexId } from "../lib/members";
import type { Member } from "../lib/members";
import { sleep } from "../lib/time";
import { validateClientUrl, validatePeerUrl } from "../lib/validate";
import { quietIpServernameWarning } from "../lib/warnings";
import { parseCertificate, validityProblem } from "../lib/x509";

/** How to reach a cluster: plain, already-resolved values (no Pulumi Outputs). */
export interface ClusterConnectionArgs {
  /** Client URLs, `https://host:port`. Requests go to any of them. */
  endpoints: string[];
  /** PEM of the CA that signed the etcd server certificates. */
  caPem: string;
  /** PEM of the client certificate (chain) presented to etcd. */
  certPem: string;
  /** PEM of the client certificate's private key. Never appears in errors. */
  keyPem: string;
  /** Deadline for each call, in milliseconds (default 10000). */
  timeoutMs?: number;
  /** How long a mutating operation waits for another run's cluster lock, in milliseconds (default 300000). */
  lockWaitMs?: number;
}

/** A member's view of itself, from the Maintenance/Status call. */
export interface EtcdStatus {
  /** The endpoint that answered. */
  endpoint: string;
  /** Hex ID of the answering member. */
  memberId: string;
  /** Hex ID of the leader as the answering member sees it ("0000000000000000" if none). */
  leaderId: string;
  /** Raft committed index. */
  raftIndex: number;
  /** Raft applied index (etcd 3.4+); undefined when the server does not report it. */
  raftAppliedIndex: number | undefined;
  /** Raft term. */
  raftTerm: number;
  /** Backend database size in bytes. */
  dbSize: number;
  /** Server version, e.g. "3.4.23". */
  version: string;
  /** True when the answering member is a learner (etcd 3.4+). */
  isLearner: boolean;
  /** Alarm and health messages reported by the member (etcd 3.4+). */
  errors: string[];
  /** The store's revision in the answer's header. */
  revision?: number;
  /** Hex ID of the answering member's cluster, from the answer's header. */
  clusterId?: string;
}

/** A counted range, from {@link EtcdSession.rangeCount}. */
export interface RangeCount {
  /** Keys in the range (at `revision` when one was asked for). */
  count: number;
  /** The store's current revision, from the answer's header. */
  revision: number;
  /** Hex ID of the member that answered. */
  memberId: string;
}

/** Options of {@link EtcdSession.rangeCount}. */
export interface RangeCountOptions {
  /** Count as of this revision (etcd refuses a future or compacted one). */
  revision?: number;
  /** A member-local read, as a learner serves it (default false: linearizable). */
  serializable?: boolean;
}

/** Health of one member, from {@link EtcdSession.memberHealth}. */
export interface MemberHealth {
  /** Hex member ID. */
  id: string;
  /** Member name ("" when never started). */
  name: string;
  /** True for a raft learner; learners are reported but never count as voters. */
  isLearner: boolean;
  /** True when a status call to one of its client URLs succeeded within the deadline. */
  healthy: boolean;
  /** The client URL that answered (healthy members only). */
  endpoint?: string;
  /** The status it returned (healthy members only). */
  status?: EtcdStatus;
  /** Why it is considered unhealthy (redacted). */
  error?: string;
}

/** A healthy member, from {@link EtcdSession.healthyMemberIds}. */
export interface HealthyMember {
  /** Hex member ID. */
  id: string;
  /** Member name. */
  name: string;
  /** True for a learner: healthy, but not a voter. */
  isLearner: boolean;
  /** The client URL that answered. */
  endpoint: string;
}

/** Result of {@link EtcdSession.memberAddLearner}. */
export interface AddLearnerResult {
  /** The new (unstarted) learner. */
  member: Member;
  /** All members after the addition. */
  members: Member[];
}

/** Result of {@link EtcdSession.moveLeader}. */
export interface MoveLeaderResult {
  /** Hex ID of the leader before the call. */
  previousLeaderId: string;
  /** Hex ID of the requested leader. */
  leaderId: string;
  /** False when the target was already the leader and nothing was sent. */
  moved: boolean;
}

/**
 * Operations on one cluster within a {@link withEtcd} session. Every call
 * carries its own deadline (`timeoutMs`) and throws {@link EtcdStandbyError}.
 * Member IDs are 16-digit lowercase hex strings throughout.
 */
export interface EtcdSession {
  /** The endpoints this session talks to. */
  readonly endpoints: readonly string[];
  /** Lists all members (linearizable where the server supports it, etcd 3.5+). */
  memberList(): Promise<Member[]>;
  /** The cluster ID (hex), from a member list response header. */
  clusterId(): Promise<string>;
  /** Status of the member behind `endpoint`, using a client for that endpoint alone. */
  statusOf(endpoint: string): Promise<EtcdStatus>;
  /** Health of every member: status of its client URLs in turn until one answers. */
  memberHealth(members: readonly Member[]): Promise<MemberHealth[]>;
  /** Members whose status call succeeded; learners included, flagged `isLearner`. */
  healthyMemberIds(members: readonly Member[]): Promise<HealthyMember[]>;
  /** Adds a raft learner with the given peer URLs (never retried). */
  memberAddLearner(peerURLs: string[]): Promise<AddLearnerResult>;
  /** Removes member `id` (hex); returns the remaining members (never retried). */
  memberRemove(id: string): Promise<Member[]>;
  /** Promotes learner `id` (hex) to voter; returns all members (never retried). */
  memberPromote(id: string): Promise<Member[]>;
  /** Transfers leadership to voter `targetId` (hex), sending the request to the current leader. */
  moveLeader(targetId: string): Promise<MoveLeaderResult>;
  /** Writes a key (for tests and markers); returns the revision it was written at. */
  put(key: string, value: string): Promise<number>;
  /** Reads a key as a string, or null when absent. */
  get(key: string): Promise<string | null>;
  /** Deletes a key (absent is fine). */
  delete(key: string): Promise<void>;
  /** Counts keys under a prefix. */
  getPrefixCount(prefix: string): Promise<number>;
  /**
   * Counts the keys under `prefix` ("" for every key) with the answer's
   * header: the store's revision and the member that answered. Serializable
   * when asked, so a learner answers it; at `revision` when given.
   */
  rangeCount(prefix: string, opts?: RangeCountOptions): Promise<RangeCount>;
  /**
   * Status of the member behind this session's endpoint, on the session's own
   * client (one connection for many calls; {@link statusOf} opens a client
   * per call). Meant for a session of one endpoint.
   */
  status(): Promise<EtcdStatus>;
  /** The server and cluster versions the member behind `endpoint` reports (`GET /version`). */
  versionOf(endpoint: string): Promise<EtcdVersions>;
  /** The Prometheus metrics of the member behind `endpoint` (`GET /metrics`), as text. */
  metricsOf(endpoint: string): Promise<string>;
  /**
   * Takes the cluster-wide lock `key` for `holder` (a lease-backed key, TTL
   * `ttlSeconds`, kept alive while held), waiting up to `waitMs` for another
   * holder to let go. Returns the release function. Throws Refused naming the
   * holder when the wait runs out.
   */
  lock(key: string, holder: string, opts: LockOptions): Promise<() => Promise<void>>;
}

/** Options of {@link EtcdSession.lock}. */
export interface LockOptions {
  /** The lease's TTL: how long a killed holder keeps the lock. */
  ttlSeconds: number;
  /** How long to wait for another holder. */
  waitMs: number;
  /** Called when a wait starts, and whenever the holder changes. */
  onWait?: (holder: string) => void;
  /** True for a holder known to be gone (this process's own lock whose release was lost): it is taken over. */
  stale?: (holder: string) => boolean;
}

/** What `GET /version` on a client URL answers. */
export interface EtcdVersions {
  /** The member's own version, e.g. "3.4.23". */
  server: string;
  /** The cluster version, e.g. "3.4.0" (empty when not decided yet). */
  cluster: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;

type FaultHandling = NonNullable<IOptions["faultHandling"]>;
type GlobalPolicy = NonNullable<FaultHandling["global"]>;

/** The few cockatiel exports used here (cockatiel is etcd3's own dependency). */
interface CockatielSubset {
  noop: GlobalPolicy;
  handleWhen(predicate: (e: Error) => boolean): unknown;
  retry(policy: unknown, opts: { maxAttempts: number; backoff?: unknown }): GlobalPolicy;
  ConstantBackoff: new (delayMs: number) => unknown;
}

interface Libraries {
  etcd3: typeof Etcd3Lib;
  cockatiel: CockatielSubset;
}

function loadLibraries(): Libraries {
  const etcd3 = require("etcd3") as typeof Etcd3Lib;
  // Load cockatiel as etcd3 itself resolves it, so the copy always matches.
  const { createRequire } = require("node:module") as typeof import("node:module");
  const cockatiel = createRequire(require.resolve("etcd3"))("cockatiel") as CockatielSubset;
  return { etcd3, cockatiel };
}

interface ResolvedConn {
  endpoints: string[];
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  timeoutMs: number;
  secrets: string[];
}

/**
 * A problem when the client certificate is outside its validity period: etcd
 * then only answers the TLS alert "bad certificate", which does not say why.
 * An unparsable certificate is left to the TLS setup to report.
 */
function certificateDateProblem(certPem: string, now = Date.now()): string | undefined {
  const cert = parseCertificate(certPem);
  if (cert === undefined) return undefined;
  const problem = validityProblem(cert, now);
  if (problem === undefined) return undefined;
  const who = `certPem (the client certificate ${cert.subject.replace(/\n/g, ", ")}, valid ${new Date(Date.parse(cert.validFrom)).toISOString()} to ${new Date(Date.parse(cert.validTo)).toISOString()})`;
  return problem === "expired"
    ? `${who} has expired, so etcd would refuse the TLS handshake ("bad certificate"): issue a new one from the cluster's CA`
    : `${who} is not valid yet, so etcd would refuse the TLS handshake: check this machine's clock, or the certificate's start date`;
}

function resolveConn(conn: ClusterConnectionArgs): ResolvedConn {
  const problems: string[] = [];
  if (!Array.isArray(conn.endpoints) || conn.endpoints.length === 0) {
    problems.push("endpoints must list at least one client URL such as https://10.0.0.5:2379");
  } else {
    conn.endpoints.forEach((e, i) => {
      const p = validateClientUrl(e, `endpoints[${i}]`);
      problems.push(...p);
      if (p.length === 0 && !e.startsWith("https://")) {
        problems.push(`endpoints[${i}] ${JSON.stringify(e)} must use https://; this client always uses mutual TLS`);
      }
    });
  }
  for (const f of ["caPem", "certPem", "keyPem"] as const) {
    if (typeof conn[f] !== "string" || conn[f].trim() === "") problems.push(`${f} must be a non-empty PEM string`);
  }
  if (typeof conn.certPem === "string" && conn.certPem.trim() !== "") {
    const dates = certificateDateProblem(conn.certPem);
    if (dates !== undefined) problems.push(dates);
  }
  const timeoutMs = conn.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) problems.push(`timeoutMs ${String(timeoutMs)} must be a positive integer`);
  const secrets = typeof conn.keyPem === "string" ? [conn.keyPem] : [];
  if (problems.length > 0) {
    throw new EtcdStandbyError("InvalidInput", `invalid etcd connection: ${problems.join("; ")}`, "fix the connection settings", {
      secrets,
    });
  }
  return {
    endpoints: [...conn.endpoints],
    ca: Buffer.from(conn.caPem),
    cert: Buffer.from(conn.certPem),
    key: Buffer.from(conn.keyPem),
    timeoutMs,
    secrets,
  };
}

function openClient(libs: Libraries, conn: ResolvedConn, endpoints: string[], retryOnce: boolean): Etcd3 {
  // Node's DEP0123 (an IP as TLS ServerName) would print from here: see quietIpServernameWarning.
  // (httpsGet passes no `servername` for an IP, so Node sends no SNI there.)
  quietIpServernameWarning();
  const { cockatiel } = libs;
  const isUnavailable = (e: Error): boolean => e instanceof libs.etcd3.GRPCUnavailableError;
  const global =
    retryOnce && endpoints.length > 1
      ? cockatiel.retry(cockatiel.handleWhen(isUnavailable), {
          maxAttempts: 1,
          backoff: new cockatiel.ConstantBackoff(100),
        })
      : cockatiel.noop;
  const options: IOptions = {
    hosts: endpoints,
    credentials: { rootCertificate: conn.ca, certChain: conn.cert, privateKey: conn.key },
    // etcd3 1.1.2 documents dialTimeout but does not act on it; the per-call
    // deadlines below are what bound connection time.
    dialTimeout: conn.timeoutMs,
    faultHandling: {
      host: () => cockatiel.noop,
      global,
    },
    grpcOptions: {
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 1000,
    },
  };
  try {
    return new libs.etcd3.Etcd3(options);
  } catch (e) {
    throw new EtcdStandbyError(
      "InvalidInput",
      `could not set up an etcd client for ${endpoints.join(", ")}: ${describeError(e, conn.secrets)}`,
      "check that caPem, certPem and keyPem are PEM-encoded and that the key matches the certificate",
      { host: endpoints.join(", "), secrets: conn.secrets },
    );
  }
}

const CONNECT_NEXT_STEP =
  "check that the endpoint is reachable from here, that it serves TLS on that port, and that the CA, client certificate and key belong to this cluster (the server certificate must be signed by the CA and name the endpoint's host or IP)";

/** Translates an etcd3/grpc error into an EtcdStandbyError naming the endpoint. */
function translate(e: unknown, action: string, endpoint: string, conn: ResolvedConn, member?: string): EtcdStandbyError {
  if (isEtcdStandbyError(e)) return e;
  // grpc-js appends an empty "Resolution note:" to connection errors.
  const msg = describeError(e, conn.secrets).replace(/\s*Resolution note:\s*$/, "");
  const kind = e instanceof Error ? e.constructor.name : "";
  let code: EtcdStandbyErrorCode;
  let next: string;
  if (/member not found|member ID not found/i.test(msg)) {
    code = "NotFound";
    next = "list the members again; the member may already have been removed";
  } else if (/not enough started members|unhealthy cluster|learner.*not.*sync|in sync with leader/i.test(msg)) {
    code = "QuorumRisk";
    next = /sync/i.test(msg)
      ? "wait for the learner to catch up with the leader (compare raft indexes) and try again"
      : "bring the unhealthy members back (check `etcdctl endpoint health --cluster`) before changing membership";
  } else if (kind === "GRPCDeadlineExceededError" || /deadline exceeded|request timed out/i.test(msg)) {
    code = "Timeout";
    next = `${CONNECT_NEXT_STEP}; or raise timeoutMs if the cluster is slow`;
  } else if (/etcdserver:/.test(msg) || kind === "EtcdError") {
    code = "Refused";
    next = /too many learner/i.test(msg)
      ? "promote or remove the existing learner first"
      : /already exists/i.test(msg)
        ? "a member with that peer URL already exists; reuse or remove it"
        : "read the etcd error above; the request reached etcd and was refused";
  } else if (kind === "GRPCUnauthenticatedError" || kind === "EtcdPermissionDeniedError" || /permission denied|unauthenticated/i.test(msg)) {
    code = "Refused";
    next = "the client certificate was not accepted; check it is signed by the cluster's client CA and its CN has the needed role";
  } else {
    code = "Unreachable";
    next = CONNECT_NEXT_STEP;
  }
  return new EtcdStandbyError(code, `etcd ${action} via ${endpoint} failed: ${msg}`, next, {
    host: endpoint,
    member,
    secrets: conn.secrets,
    cause: e,
  });
}

function toNumber(s: string | undefined): number {
  const n = Number(s ?? "0");
  return Number.isFinite(n) ? n : 0;
}

function toStatus(endpoint: string, r: IStatusResponse): EtcdStatus {
  const raftIndex = toNumber(r.raftIndex);
  const applied = toNumber(r.raftAppliedIndex);
  return {
    endpoint,
    memberId: idToHex(r.header?.member_id ?? "0"),
    leaderId: idToHex(r.leader ?? "0"),
    raftIndex,
    // Absent (pre-3.4) decodes as 0; a live member with committed entries has applied > 0.
    raftAppliedIndex: applied === 0 && raftIndex > 0 ? undefined : applied,
    raftTerm: toNumber(r.raftTerm),
    dbSize: toNumber(r.dbSize),
    version: r.version ?? "",
    isLearner: r.isLearner === true,
    errors: [...(r.errors ?? [])],
    revision: toNumber(r.header?.revision),
    clusterId: idToHex(r.header?.cluster_id ?? "0"),
  };
}

/**
 * The end of the range of keys that begin with `prefix` (etcd's
 * `clientv3.GetPrefixRangeEnd`): the prefix with its last byte below 0xff
 * incremented and what follows dropped; "\0" (every key from `prefix` on)
 * when there is none.
 */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function toMembers(raw: readonly IMember[] | undefined): Member[] {
  return (raw ?? []).map((m) => fromRawMember(m));
}

class Session implements EtcdSession {
  private mutator: Etcd3 | undefined;
  private readonly opened: Etcd3[] = [];

  public constructor(
    private readonly libs: Libraries,
    private readonly conn: ResolvedConn,
    private readonly main: Etcd3,
  ) {}

  public get endpoints(): readonly string[] {
    return this.conn.endpoints;
  }

  private get all(): string {
    return this.conn.endpoints.join(", ");
  }

  private deadline(): { deadline: Date } {
    return { deadline: new Date(Date.now() + this.conn.timeoutMs) };
  }

  /** A client for membership changes: never retried, so a change is sent at most once. */
  private mutationClient(): Etcd3 {
    if (this.mutator === undefined) {
      this.mutator = openClient(this.libs, this.conn, this.conn.endpoints, false);
      this.opened.push(this.mutator);
    }
    return this.mutator;
  }

  private async withEndpoint<T>(endpoint: string, fn: (c: Etcd3) => Promise<T>): Promise<T> {
    const problems = validateClientUrl(endpoint, "endpoint");
    if (problems.length === 0 && !endpoint.startsWith("https://")) {
      problems.push(`endpoint ${JSON.stringify(endpoint)} must use https://`);
    }
    if (problems.length > 0) {
      throw new EtcdStandbyError("InvalidInput", problems.join("; "), "give a client URL such as https://10.0.0.5:2379", {
        host: endpoint,
      });
    }
    const client = openClient(this.libs, this.conn, [endpoint], false);
    try {
      return await fn(client);
    } finally {
      client.close();
    }
  }

  /** Closes every client this session opened (the main one is closed by withEtcd). */
  public closeAll(): void {
    for (const c of this.opened.splice(0)) {
      try {
        c.close();
      } catch {
        // closing is best effort
      }
    }
  }

  public async memberList(): Promise<Member[]> {
    try {
      const r = await this.main.cluster.memberList({ linearizable: true }, this.deadline());
      return toMembers(r.members);
    } catch (e) {
      throw translate(e, "member list", this.all, this.conn);
    }
  }

  public async clusterId(): Promise<string> {
    try {
      const r = await this.main.cluster.memberList({ linearizable: true }, this.deadline());
      return idToHex(r.header.cluster_id);
    } catch (e) {
      throw translate(e, "member list (cluster ID)", this.all, this.conn);
    }
  }

  public async statusOf(endpoint: string): Promise<EtcdStatus> {
    return this.withEndpoint(endpoint, async (c) => {
      try {
        return toStatus(endpoint, await c.maintenance.status(this.deadline()));
      } catch (e) {
        throw translate(e, "status", endpoint, this.conn);
      }
    });
  }

  public async memberHealth(members: readonly Member[]): Promise<MemberHealth[]> {
    return Promise.all(
      members.map(async (m): Promise<MemberHealth> => {
        const base = { id: m.id, name: m.name, isLearner: m.isLearner };
        if (m.clientURLs.length === 0) {
          return { ...base, healthy: false, error: "member has no client URLs (never started)" };
        }
        const errors: string[] = [];
        for (const url of m.clientURLs) {
          try {
            const status = await this.statusOf(url);
            if (status.memberId !== m.id) {
              errors.push(`${url} answered as member ${status.memberId}, not ${m.id}`);
              continue;
            }
            return { ...base, healthy: true, endpoint: url, status };
          } catch (e) {
            errors.push(isEtcdStandbyError(e) ? e.summary : describeError(e, this.conn.secrets));
          }
        }
        return { ...base, healthy: false, error: errors.join("; ") };
      }),
    );
  }

  public async healthyMemberIds(members: readonly Member[]): Promise<HealthyMember[]> {
    const health = await this.memberHealth(members);
    return health
      .filter((h) => h.healthy && h.endpoint !== undefined)
      .map((h) => ({ id: h.id, name: h.name, isLearner: h.isLearner, endpoint: h.endpoint as string }));
  }

  public async memberAddLearner(peerURLs: string[]): Promise<AddLearnerResult> {
    const problems = Array.isArray(peerURLs) && peerURLs.length > 0
      ? peerURLs.flatMap((u, i) => validatePeerUrl(u, `peerURLs[${i}]`))
      : ["peerURLs must list at least one peer URL"];
    if (problems.length > 0) {
      throw new EtcdStandbyError("InvalidInput", problems.join("; "), "give the learner's peer URLs as https://HOST:2380");
    }
    try {
      const r = await this.mutationClient().cluster.memberAdd({ peerURLs, isLearner: true }, this.deadline());
      return { member: fromRawMember(r.member), members: toMembers(r.members) };
    } catch (e) {
      throw translate(e, `member add --learner ${peerURLs.join(",")}`, this.all, this.conn);
    }
  }

  public async memberRemove(id: string): Promise<Member[]> {
    const hex = normaliseHexId(id);
    try {
      const r = await this.mutationClient().cluster.memberRemove({ ID: hexToId(hex) }, this.deadline());
      return toMembers(r.members);
    } catch (e) {
      throw translate(e, `member remove ${hex}`, this.all, this.conn, hex);
    }
  }

  public async memberPromote(id: string): Promise<Member[]> {
    const hex = normaliseHexId(id);
    try {
      const r = await this.mutationClient().cluster.memberPromote({ ID: hexToId(hex) }, this.deadline());
      return toMembers(r.members);
    } catch (e) {
      throw translate(e, `member promote ${hex}`, this.all, this.conn, hex);
    }
  }

  public async moveLeader(targetId: string): Promise<MoveLeaderResult> {
    const target = normaliseHexId(targetId);
    const members = await this.memberList();
    const t = members.find((m) => m.id === target);
    if (t === undefined || t.isLearner || !t.started) {
      throw new EtcdStandbyError(
        t === undefined ? "NotFound" : "InvalidInput",
        t === undefined
          ? `cannot move leadership to ${target}: no such member`
          : `cannot move leadership to ${t.name || target}: it is ${t.isLearner ? "a learner" : "not started"}`,
        t === undefined ? "list the members and pick an existing voter" : "promote and start the member first",
        { member: target, host: this.all },
      );
    }
    let current: EtcdStatus;
    try {
      current = toStatus(this.all, await this.main.maintenance.status(this.deadline()));
    } catch (e) {
      throw translate(e, "status (find leader)", this.all, this.conn);
    }
    const leaderId = current.leaderId;
    if (leaderId === target) return { previousLeaderId: leaderId, leaderId: target, moved: false };
    const leader = members.find((m) => m.id === leaderId);
    if (leader === undefined || leader.clientURLs.length === 0) {
      throw new EtcdStandbyError(
        "NotFound",
        `the current leader ${leaderId} is not in the member list or has no client URLs`,
        "check cluster health with `etcdctl endpoint status --cluster` and retry",
        { member: leaderId, host: this.all },
      );
    }
    const failures: EtcdStandbyError[] = [];
    for (const url of leader.clientURLs) {
      try {
        await this.withEndpoint(url, async (c) => {
          try {
            await c.maintenance.moveLeader({ targetID: hexToId(target) }, this.deadline());
          } catch (e) {
            throw translate(e, `move-leader to ${t.name}`, url, this.conn, leader.name || leaderId);
          }
        });
        return { previousLeaderId: leaderId, leaderId: target, moved: true };
      } catch (e) {
        if (isEtcdStandbyError(e, "Unreachable")) {
          failures.push(e);
          continue;
        }
        throw e;
      }
    }
    throw new EtcdStandbyError(
      "Unreachable",
      `move-leader must be sent to the leader ${leader.name || leaderId}, but none of its client URLs answered: ${failures.map((f) => f.summary).join("; ")}`,
      CONNECT_NEXT_STEP,
      { member: leader.name || leaderId, host: leader.clientURLs.join(", "), secrets: this.conn.secrets },
    );
  }

  public async put(key: string, value: string): Promise<number> {
    try {
      const r = await this.main.put(key).value(value).options(this.deadline()).exec();
      return toNumber(r.header?.revision);
    } catch (e) {
      throw translate(e, "put", this.all, this.conn);
    }
  }

  public async get(key: string): Promise<string | null> {
    try {
      return await this.main.get(key).options(this.deadline()).string();
    } catch (e) {
      throw translate(e, "get", this.all, this.conn);
    }
  }

  public async delete(key: string): Promise<void> {
    try {
      await this.main.delete().key(key).options(this.deadline()).exec();
    } catch (e) {
      throw translate(e, "delete", this.all, this.conn);
    }
  }

  /** GET `path` on `base` (an https URL) with the session's client certificate; the body as text. */
  private async httpsGet(base: string, path: string, what: string): Promise<string> {
    const problems = validateClientUrl(base, "url");
    if (problems.length > 0 || !base.startsWith("https://")) {
      throw new EtcdStandbyError("InvalidInput", [...problems, `${JSON.stringify(base)} must be an https:// URL`].join("; "), "give a URL such as https://10.0.0.5:2379", { host: base });
    }
    const https = require("node:https") as typeof import("node:https");
    const url = new URL(path, base);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    return new Promise<string>((resolve, reject) => {
      const req = https.get(
        // agent: false: no kept-alive socket outlives the call (Node's global agent keeps them, and they hold the process open).
        { host, port: url.port, path: url.pathname, ca: this.conn.ca, cert: this.conn.cert, key: this.conn.key, timeout: this.conn.timeoutMs, agent: false, ...(isIP(host) ? {} : { servername: host }) },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            if (text.length < 1_048_576) text += c;
          });
          res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${String(res.statusCode)}`))));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.conn.timeoutMs} ms (deadline exceeded)`)));
      req.on("error", reject);
    }).catch((e: unknown) => {
      throw translate(e, what, base, this.conn);
    });
  }

  public async versionOf(endpoint: string): Promise<EtcdVersions> {
    const body = await this.httpsGet(endpoint, "/version", "GET /version");
    try {
      const v = JSON.parse(body) as { etcdserver?: string; etcdcluster?: string };
      return { server: String(v.etcdserver ?? ""), cluster: String(v.etcdcluster ?? "") };
    } catch {
      throw new EtcdStandbyError("RemoteCommandFailed", `GET ${endpoint}/version answered something that is not JSON: ${body.slice(0, 200)}`, "check that the endpoint is an etcd client URL", { host: endpoint });
    }
  }

  public async metricsOf(endpoint: string): Promise<string> {
    return this.httpsGet(endpoint, "/metrics", "GET /metrics");
  }

  public async lock(key: string, holder: string, opts: LockOptions): Promise<() => Promise<void>> {
    const lease = this.main.lease(opts.ttlSeconds, { autoKeepAlive: true });
    // A lost keep-alive (the cluster lost quorum, say) ends the lease; the holder learns at release.
    lease.on("lost", () => undefined);
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (e) {
      await lease.revoke().catch(() => undefined);
      throw translate(e, `lease grant for lock ${key}`, this.all, this.conn);
    }
    const deadline = Date.now() + opts.waitMs;
    let told = "";
    for (;;) {
      let current: string | null;
      try {
        const r = await this.main
          .if(key, "Create", "==", 0)
          .then(this.main.put(key).value(holder).lease(leaseId))
          .else(this.main.get(key))
          .options(this.deadline())
          .commit();
        if (r.succeeded) break;
        const kv = r.responses[0]?.response_range?.kvs?.[0];
        current = kv ? kv.value.toString() : null;
        // Our own put whose answer was lost (the call was retried): we hold it.
        if (current === holder) break;
      } catch (e) {
        await lease.revoke().catch(() => undefined);
        throw translate(e, `lock ${key}`, this.all, this.conn);
      }
      if (current === null) continue;
      if (opts.stale?.(current) === true) {
        try {
          await this.main.if(key, "Value", "==", current).then(this.main.delete().key(key)).options(this.deadline()).commit();
        } catch (e) {
          await lease.revoke().catch(() => undefined);
          throw translate(e, `lock ${key} (taking over a stale holder)`, this.all, this.conn);
        }
        continue;
      }
      if (Date.now() > deadline) {
        await lease.revoke().catch(() => undefined);
        throw new EtcdStandbyError(
          "Refused",
          `another etcd-standby run holds the cluster's lock ${key} and did not let go within ${Math.round(opts.waitMs / 1000)} s: ${current}`,
          "wait for that run to finish (it may be another stack or backend acting on the same cluster), then run pulumi up again; a killed run's lock expires by itself within its lease's TTL",
          { host: this.all },
        );
      }
      if (current !== told) {
        told = current;
        opts.onWait?.(current);
      }
      await sleep(500);
    }
    return async () => {
      await lease.revoke().catch(() => undefined);
    };
  }

  public async rangeCount(prefix: string, opts: RangeCountOptions = {}): Promise<RangeCount> {
    const key = prefix === "" ? Buffer.from([0]) : Buffer.from(prefix);
    const end = prefix === "" ? Buffer.from([0]) : prefixRangeEnd(key);
    try {
      // limit 1: the answer's count still covers the whole range, as etcdctl's `get --limit=1 -w json`.
      let b = this.main.getAll().inRange({ start: key, end }).limit(1).serializable(opts.serializable === true);
      if (opts.revision !== undefined) b = b.revision(opts.revision);
      const r = await b.options(this.deadline()).exec();
      return { count: toNumber(r.count), revision: toNumber(r.header?.revision), memberId: idToHex(r.header?.member_id ?? "0") };
    } catch (e) {
      throw translate(e, `count of ${JSON.stringify(prefix)}${opts.revision !== undefined ? ` at revision ${opts.revision}` : ""}`, this.all, this.conn);
    }
  }

  public async status(): Promise<EtcdStatus> {
    try {
      return toStatus(this.all, await this.main.maintenance.status(this.deadline()));
    } catch (e) {
      throw translate(e, "status", this.all, this.conn);
    }
  }

  public async getPrefixCount(prefix: string): Promise<number> {
    try {
      return await this.main.getAll().prefix(prefix).options(this.deadline()).count();
    } catch (e) {
      throw translate(e, "count", this.all, this.conn);
    }
  }
}

/**
 * Opens an mTLS etcd client for `conn`, runs `fn` with a session on it, and
 * always closes every client it opened, whether `fn` succeeds or throws.
 *
 * Reads are retried at most once, and only when a host was unavailable and
 * another endpoint exists; membership changes are never retried. Errors from
 * session calls are {@link EtcdStandbyError}s; errors thrown by `fn` itself
 * pass through unchanged.
 */
export async function withEtcd<T>(conn: ClusterConnectionArgs, fn: (c: EtcdSession) => Promise<T>): Promise<T> {
  const resolved = resolveConn(conn);
  const libs = loadLibraries();
  const main = openClient(libs, resolved, resolved.endpoints, true);
  const session = new Session(libs, resolved, main);
  try {
    return await fn(session);
  } finally {
    session.closeAll();
    main.close();
  }
}
