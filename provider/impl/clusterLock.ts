/**
 * One writer at a time, across stacks and backends: every mutating operation
 * holds a lease-backed lock in the cluster itself for its whole duration. A
 * second run waits (bounded), then fails naming the holder. A killed run's
 * lock goes with its lease (TTL {@link LOCK_TTL_SECONDS} s).
 *
 * The key lives under `/etcd-standby/`, outside Kubernetes' `/registry/`, and
 * the restore never counts it. In failover mode (no quorum) no lock can be
 * had; there the split-brain guard is the protection.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { EtcdSession } from "../connection/etcd";
import { progress } from "./common";

/** The prefix of etcd-standby's lock keys. */
export const LOCK_PREFIX = "/etcd-standby/lock/";
/** The cluster-wide lock. */
export const LOCK_KEY = `${LOCK_PREFIX}cluster`;
/** How long a holder's lease lives without keep-alives (a killed run). */
export const LOCK_TTL_SECONDS = 15;
/** How long an operation waits for another run's lock by default. */
export const DEFAULT_LOCK_WAIT_MS = 300_000;

/**
 * This provider process's run ID: one `pulumi up` (or preview, refresh,
 * destroy) runs one provider process. Containers it creates carry it as a
 * label, its log lines name it, and its rollbacks touch only what carries it.
 */
export const RUN_ID = randomBytes(6).toString("hex");

/** The label that carries {@link RUN_ID} on containers a run creates. */
export const RUN_LABEL = "io.etcd-standby.run";

/** The holders this process holds right now. */
const heldHere = new Set<string>();
/** Numbers this process's lock requests, so that no two are the same holder. */
let requests = 0;

/**
 * A holder of this very run that this process no longer holds: an earlier
 * operation's lock whose release was lost (the cluster had no quorum then).
 * It would otherwise block this run until its lease expires.
 */
function staleOwnHolder(holder: string): boolean {
  try {
    return (JSON.parse(holder) as { run?: unknown }).run === RUN_ID && !heldHere.has(holder);
  } catch {
    return false;
  }
}

/** Runs `fn` holding the cluster's lock; `what` names the operation for whoever waits. */
export async function withClusterLock<T>(etcd: EtcdSession, what: string, waitMs: number | undefined, fn: () => Promise<T>): Promise<T> {
  const holder = JSON.stringify({ run: RUN_ID, operation: what, machine: hostname(), pid: process.pid, since: new Date().toISOString(), request: ++requests });
  const release = await etcd.lock(LOCK_KEY, holder, {
    ttlSeconds: LOCK_TTL_SECONDS,
    waitMs: waitMs ?? DEFAULT_LOCK_WAIT_MS,
    onWait: (h) => progress("lock", `${what} waits for the cluster's lock, held by ${h}`),
    stale: staleOwnHolder,
  });
  heldHere.add(holder);
  try {
    return await fn();
  } finally {
    heldHere.delete(holder);
    await release();
  }
}
