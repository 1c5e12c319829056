/**
 * What every resource implementation shares: reading connection inputs out of
 * the property bags Pulumi hands a dynamic provider, validating them (all
 * problems at once, unknown preview values skipped), progress output, and the
 * error shape that lets the engine record a half-done create.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ClusterConnectionArgs, EtcdStatus } from "../connection/etcd";
import type { HostConnectionArgs } from "../connection/ssh";
import { parsePinnedHostKey } from "../connection/ssh";
import { describeError } from "../lib/errors";
import { hostOfUrl } from "../lib/members";
import { validateAbsolutePath, validateClientUrl, validateContainerName, validateEach, validateHostAddress, validateMemberName, validatePeerUrl, validatePort } from "../lib/validate";

/** The property bag a dynamic provider receives (inputs or outputs). */
export type Props = Record<string, unknown>;

/**
 * What each implementation module exports as `provider`: every CRUD method,
 * typed with property bags instead of the SDK's `any`.
 */
export interface ProviderImpl {
  check(olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult>;
  diff(id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult>;
  create(inputs: Props): Promise<{ id: string; outs: Props }>;
  read(id: string, props: Props): Promise<{ id: string; props: Props }>;
  update(id: string, olds: Props, news: Props): Promise<{ outs: Props }>;
  delete(id: string, props: Props): Promise<void>;
}

/**
 * A resource's implementation typed with its own Inputs and Outputs (the
 * outputs are the inputs plus what the resource reports, as stored in
 * state): Pulumi's `ResourceProvider<Inputs, Outputs>` with every method
 * present and every result complete.
 */
export interface TypedProvider<I extends Props, O extends Props> extends pulumi.dynamic.ResourceProvider<I, O> {
  check(olds: I, news: I): Promise<pulumi.dynamic.CheckResult<I>>;
  diff(id: string, olds: O, news: I): Promise<pulumi.dynamic.DiffResult>;
  create(inputs: I): Promise<{ id: string; outs: O }>;
  read(id: string, props?: O): Promise<{ id: string; props: O }>;
  update(id: string, olds: O, news: I): Promise<{ outs: O }>;
  delete(id: string, props: O): Promise<void>;
}

/**
 * What a typed implementation module exports as `provider`: its
 * {@link TypedProvider}, still callable with a property bag as a
 * {@link ProviderImpl} (tests and scripts pass partial inputs and stored
 * states of older shapes).
 */
export type ExportedProvider<I extends Props, O extends Props> = TypedProvider<I, O> & Omit<ProviderImpl, "read"> & { read(id: string, props?: Props): Promise<{ id: string; props: Props }> };

/** Declares a typed implementation (no conversion: the object is returned as is). */
export function typedProvider<I extends Props, O extends Props>(impl: TypedProvider<I, O>): ExportedProvider<I, O> {
  return impl;
}

/** The state `read` is given: the engine always passes it, though the SDK's signature leaves it optional. */
export function stored<O>(props: O | undefined): O {
  if (props === undefined) throw new Error("read was called without the resource's stored state");
  return props;
}

/** The value Pulumi's dynamic provider runtime passes for a value not known during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** True when `v` (or anything inside it) is not known yet (preview). */
export function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v !== null && typeof v === "object") return Object.values(v as Props).some(hasUnknown);
  return false;
}

/** Collects validation problems under property names, for `check`. */
export class Problems {
  readonly failures: pulumi.dynamic.CheckFailure[] = [];

  /** Adds each reason under `property` unless the value is unknown (preview). */
  add(property: string, value: unknown, reasons: string[]): void {
    if (hasUnknown(value)) return;
    for (const reason of reasons) this.failures.push({ property, reason });
  }

  /** The `check` result: the inputs as given, and every problem found. */
  result(inputs: Props): pulumi.dynamic.CheckResult {
    return this.failures.length > 0 ? { inputs, failures: this.failures } : { inputs };
  }
}

function isObject(v: unknown): v is Props {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function optional(p: Problems, field: string, v: unknown, validate: (v: unknown, f: string) => string[]): void {
  if (v !== undefined && v !== null) p.add(field, v, validate(v, field));
}

function pem(p: Problems, field: string, v: unknown, kind: "certificate" | "private key"): void {
  if (hasUnknown(v)) return;
  if (typeof v !== "string" || !v.includes("-----BEGIN")) {
    // Never echo the value: it may be a key.
    p.add(field, v, [`${field} must be a PEM ${kind} (text starting with -----BEGIN)`]);
  }
}

/** Validates a cluster connection input (`cluster`): endpoints, CA, client certificate and key. */
export function checkCluster(p: Problems, v: unknown, field = "cluster"): void {
  if (hasUnknown(v)) return;
  if (!isObject(v)) {
    p.add(field, v, [`${field} is required: { endpoints, caPem, certPem, keyPem }`]);
    return;
  }
  const eps = v.endpoints;
  if (!hasUnknown(eps) && (!Array.isArray(eps) || eps.length === 0)) {
    p.add(`${field}.endpoints`, eps, [`${field}.endpoints must list at least one client URL such as https://10.0.0.1:2379`]);
  } else {
    p.add(`${field}.endpoints`, eps, validateEach(eps, `${field}.endpoints`, validateClientUrl));
  }
  pem(p, `${field}.caPem`, v.caPem, "certificate");
  pem(p, `${field}.certPem`, v.certPem, "certificate");
  pem(p, `${field}.keyPem`, v.keyPem, "private key");
  optional(p, `${field}.timeoutMs`, v.timeoutMs, positiveInt);
  optional(p, `${field}.lockWaitMs`, v.lockWaitMs, positiveInt);
}

/** Validates a host connection input (`host`): address, user, key, and a pinned host key unless opted out. */
export function checkHost(p: Problems, v: unknown, field = "host"): void {
  if (hasUnknown(v)) return;
  if (!isObject(v)) {
    p.add(field, v, [`${field} is required: { host, user, privateKey, hostPublicKey }`]);
    return;
  }
  p.add(`${field}.host`, v.host, validateHostAddress(v.host, `${field}.host`));
  optional(p, `${field}.port`, v.port, validatePort);
  if (!hasUnknown(v.user) && (typeof v.user !== "string" || !/^[a-z_][a-z0-9_.-]{0,31}$/i.test(v.user))) {
    p.add(`${field}.user`, v.user, [`${field}.user must be a login name (letters, digits, _ . -)`]);
  }
  pem(p, `${field}.privateKey`, v.privateKey, "private key");
  if (v.insecureIgnoreHostKey !== true) {
    if (v.hostPublicKey === undefined || v.hostPublicKey === null || v.hostPublicKey === "") {
      p.add(`${field}.hostPublicKey`, v.hostPublicKey, [
        `${field}.hostPublicKey is required to verify the host: record it with \`ssh-keyscan -t ed25519 ${String(v.host)}\` and pass the key line (or set insecureIgnoreHostKey: true for a throwaway test host)`,
      ]);
    } else if (!hasUnknown(v.hostPublicKey)) {
      try {
        if (typeof v.hostPublicKey !== "string") throw new Error("hostPublicKey must be a string");
        parsePinnedHostKey(v.hostPublicKey, typeof v.host === "string" ? v.host : "");
      } catch (e) {
        p.add(`${field}.hostPublicKey`, v.hostPublicKey, [describeError(e)]);
      }
    }
  }
  if (v.dockerCommand !== undefined && !hasUnknown(v.dockerCommand)) {
    const dc = v.dockerCommand;
    if (!Array.isArray(dc) || dc.length === 0 || dc.some((a) => typeof a !== "string" || !/^[A-Za-z0-9._\/=:-]+$/.test(a))) {
      p.add(`${field}.dockerCommand`, dc, [`${field}.dockerCommand must be a non-empty list of plain words such as ["docker"] or ["/usr/bin/docker", "--host=unix:///run/docker.sock"]`]);
    }
  }
  optional(p, `${field}.timeoutMs`, v.timeoutMs, positiveInt);
}

/** Validates a member selector: a name, a peer URL, or both. */
export function checkMemberSelector(p: Problems, name: unknown, peerURL: unknown): void {
  if (hasUnknown(name) || hasUnknown(peerURL)) return;
  if ((name === undefined || name === null || name === "") && (peerURL === undefined || peerURL === null || peerURL === "")) {
    p.add("memberName", name, ["give memberName or peerURL (or both) to say which member"]);
    return;
  }
  optional(p, "memberName", name === "" ? undefined : name, validateMemberName);
  optional(p, "peerURL", peerURL === "" ? undefined : peerURL, validatePeerUrl);
}

/** The member a resource addresses (`memberName`, `peerURL`, or both), from its props. */
export function memberSelector(props: Props): { name?: string; peerURL?: string } {
  return {
    name: typeof props.memberName === "string" && props.memberName !== "" ? props.memberName : undefined,
    peerURL: typeof props.peerURL === "string" && props.peerURL !== "" ? props.peerURL : undefined,
  };
}

/** The inputs of a resource that addresses one member of a cluster (checked by {@link checkMemberResource}). */
export type MemberResourceInputs = {
  cluster: ClusterConnectionArgs;
  /** The member's name. */
  memberName?: string;
  /** The member's peer URL. */
  peerURL?: string;
  /** How long the change may retry, in ms. */
  timeoutMs?: number;
};

/** `check` of a resource that addresses one member of a cluster: cluster, selector, optional timeoutMs. */
export function checkMemberResource(news: Props, more?: (p: Problems) => void): pulumi.dynamic.CheckResult {
  const p = new Problems();
  checkCluster(p, news.cluster);
  checkMemberSelector(p, news.memberName, news.peerURL);
  if (news.timeoutMs !== undefined) p.add("timeoutMs", news.timeoutMs, positiveInt(news.timeoutMs, "timeoutMs"));
  more?.(p);
  return p.result(news);
}

/** A positive whole number. */
export function positiveInt(v: unknown, field: string): string[] {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? [] : [`${field} must be a positive whole number, got ${JSON.stringify(v)}`];
}

/** A whole number of raft entries, 0 or more (a catch-up threshold). */
export function entryCount(v: unknown, field: string): string[] {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? [] : [`${field} must be a whole number of entries, 0 or more`];
}

/** A member's applied raft index (etcd 3.4+), or its committed index from a server that does not report it. */
export function appliedIndexOf(st: EtcdStatus): number {
  return st.raftAppliedIndex ?? st.raftIndex;
}

/** Validates container names and an absolute path in one go. */
export function checkNamesAndPath(p: Problems, names: { field: string; value: unknown }[], paths: { field: string; value: unknown }[]): void {
  for (const n of names) optional(p, n.field, n.value, validateContainerName);
  for (const d of paths) optional(p, d.field, d.value, (v, f) => validateAbsolutePath(v, f, { allowRoot: false }));
}

/** Validates an optional `containers` input (a non-empty list of container names) and `paths` as {@link checkNamesAndPath} does. */
export function checkContainerList(p: Problems, containers: unknown, paths: { field: string; value: unknown }[] = []): void {
  if (containers !== undefined && (!Array.isArray(containers) || containers.length === 0)) {
    p.add("containers", containers, ["containers must be a non-empty list of container names"]);
  }
  checkNamesAndPath(p, (Array.isArray(containers) ? (containers as unknown[]) : []).map((value, i) => ({ field: `containers[${i}]`, value })), paths);
}

/** Validates etcd's raft timings: `electionMs` at least 5 times `heartbeatMs` (defaults 500 and 5000 ms), or etcd refuses to start. */
export function checkRaftTimings(p: Problems, news: Props): void {
  const hb = news.heartbeatMs ?? 500;
  const el = news.electionMs ?? 5000;
  if (typeof hb === "number" && typeof el === "number" && !hasUnknown(hb) && !hasUnknown(el) && el < 5 * hb) {
    p.add("electionMs", el, [`electionMs (${el}) should be at least 5 times heartbeatMs (${hb}); etcd refuses less`]);
  }
}

/**
 * Validates the `learner` input of a resource that works from site B's
 * learner (`{ memberName, peerURL, clientURL, containerName?, dataDir?, tls? }`):
 * `purpose` ends the message when it is missing ("to drill"), and when the
 * host's address is known, the learner's URLs must point at it, since
 * `runner` ("the drill") runs there.
 */
export function checkLearnerRef(p: Problems, v: unknown, hostAddr: unknown, purpose: string, runner: string): void {
  if (hasUnknown(v)) return;
  if (!isObject(v)) {
    p.add("learner", v, [`learner is required: { memberName, peerURL, clientURL } of the learner ${purpose}`]);
    return;
  }
  p.add("learner.memberName", v.memberName, validateMemberName(v.memberName, "learner.memberName"));
  p.add("learner.peerURL", v.peerURL, validatePeerUrl(v.peerURL, "learner.peerURL"));
  p.add("learner.clientURL", v.clientURL, validateClientUrl(v.clientURL, "learner.clientURL"));
  const tls = (v.tls ?? {}) as Props;
  checkNamesAndPath(p, [{ field: "learner.containerName", value: v.containerName }], [
    { field: "learner.dataDir", value: v.dataDir },
    { field: "learner.tls.caFile", value: tls.caFile },
    { field: "learner.tls.certFile", value: tls.certFile },
    { field: "learner.tls.keyFile", value: tls.keyFile },
  ]);
  if (typeof hostAddr !== "string" || hasUnknown(hostAddr)) return;
  for (const f of ["peerURL", "clientURL"] as const) {
    const u = v[f];
    if (typeof u === "string" && !hasUnknown(u) && validatePeerUrl(u).length === 0 && hostOfUrl(u) !== hostAddr) {
      p.add(`learner.${f}`, u, [`learner.${f} ${u} points at ${hostOfUrl(u)}, but ${runner} runs on host ${hostAddr}: the learner must be on that host`]);
    }
  }
}

/** The plain cluster connection from validated props. */
export function clusterOf(props: Props, field = "cluster"): ClusterConnectionArgs {
  const c = props[field] as Props;
  return {
    endpoints: c.endpoints as string[],
    caPem: c.caPem as string,
    certPem: c.certPem as string,
    keyPem: c.keyPem as string,
    timeoutMs: c.timeoutMs as number | undefined,
    lockWaitMs: c.lockWaitMs as number | undefined,
  };
}

/** The plain host connection from validated props. */
export function hostOf(props: Props, field = "host"): HostConnectionArgs {
  const h = props[field] as Props;
  return {
    host: h.host as string,
    port: h.port as number | undefined,
    user: h.user as string,
    privateKey: h.privateKey as string,
    hostPublicKey: h.hostPublicKey as string | undefined,
    insecureIgnoreHostKey: h.insecureIgnoreHostKey as boolean | undefined,
    sudo: h.sudo as boolean | undefined,
    dockerCommand: h.dockerCommand as string[] | undefined,
    timeoutMs: h.timeoutMs as number | undefined,
  };
}

/** Progress for the Pulumi output: `console.log` from a dynamic provider reaches the engine's output. */
export function progress(resource: string, message: string): void {
  console.log(`[etcd-standby] ${resource}: ${message}`);
}

/**
 * An error for a create that got part of the way: the engine records `id` and
 * `properties` (which must carry `__provider`), so the next `pulumi up` can
 * update or clean up what exists instead of losing track of it.
 */
export class PartialCreateError extends Error {
  readonly id: string;
  readonly properties: Props;
  readonly reasons: string[];

  constructor(message: string, id: string, properties: Props) {
    super(message);
    this.name = "PartialCreateError";
    this.id = id;
    this.properties = properties;
    this.reasons = [message];
  }
}

/** Shallow equality of JSON-like values, for diffs. */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * A diff from lists of fields: those that changed and need a replacement, and
 * those that changed and can be updated in place.
 */
export function diffFields(olds: Props, news: Props, replaceOn: string[], updateOn: string[]): pulumi.dynamic.DiffResult {
  const replaces = replaceOn.filter((f) => !sameValue(olds[f], news[f]));
  const updates = updateOn.filter((f) => !sameValue(olds[f], news[f]));
  return {
    changes: replaces.length + updates.length > 0,
    replaces,
    deleteBeforeReplace: replaces.length > 0,
  };
}

/** The `learner` fields that name another learner: a change means another resource. */
export const LEARNER_IDENTITY: readonly string[] = ["memberName", "peerURL", "clientURL", "containerName", "dataDir"];

/** What a resource working from a learner (`host`, `learner`) replaces on: another host, or another learner ({@link LEARNER_IDENTITY}). */
export function learnerReplaces(olds: Props, news: Props): string[] {
  const ol = (olds.learner ?? {}) as Props;
  const nl = (news.learner ?? {}) as Props;
  const replaces: string[] = [];
  if (((olds.host ?? {}) as Props).host !== ((news.host ?? {}) as Props).host) replaces.push("host");
  for (const f of LEARNER_IDENTITY) if (!sameValue(ol[f], nl[f])) replaces.push(`learner.${f}`);
  return replaces;
}

/** True when the host connection or the learner's TLS files changed: recorded as an update. */
export function learnerConnectionChanged(olds: Props, news: Props): boolean {
  return !sameValue(olds.host, news.host) || !sameValue(((olds.learner ?? {}) as Props).tls, ((news.learner ?? {}) as Props).tls);
}

/**
 * The diff of a resource that addresses one member by `memberName` and/or
 * `peerURL`: a changed selector replaces, except a peer URL added beside an
 * unchanged name (state written before the stack passed both), which narrows
 * the same member and is an update.
 */
export function diffMemberSelector(olds: Props, news: Props, updateOn: string[]): pulumi.dynamic.DiffResult {
  const urlAdded = (olds.peerURL === undefined || olds.peerURL === "") && typeof news.peerURL === "string" && olds.memberName !== undefined && sameValue(olds.memberName, news.memberName);
  return urlAdded ? diffFields(olds, news, ["memberName"], [...updateOn, "peerURL"]) : diffFields(olds, news, ["memberName", "peerURL"], updateOn);
}

/** The current time as a compact UTC stamp for backup names: 20260101T120000Z. */
export function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
