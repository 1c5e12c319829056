/**
 * Traffic for the RPO benchmark: a paced writer of Kubernetes-shaped pods
 * (many clients, a target rate, every acknowledgement timed) and a sampler
 * of the learner's lag behind the leader. Both use the etcd3 library
 * directly, not the provider's code, and both stop by themselves when told.
 */
import type { Etcd3 } from "etcd3";
import { client, kubeObject, prng } from "../../support/load";
import type { LoadTarget } from "../../support/load";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A writer running in the background. */
export interface PacedWriter {
  /** Acknowledged puts: key to the time (ms since the epoch) the acknowledgement arrived. */
  readonly acked: Map<string, number>;
  /** Puts that failed or ran past their deadline. */
  failed(): number;
  /** When the writer started (ms since the epoch). */
  readonly startedAt: number;
  /** Per acknowledged key: the revision and cluster ID (hex) in the acknowledgement's header. */
  readonly acks: Map<string, { revision: number; clusterId: string }>;
  /**
   * From now on, puts go to `endpoints` (as a kube-apiserver re-pointed by the
   * stack): each worker gets a new client; the old ones are closed once their
   * puts in flight are past their deadline.
   */
  retarget(endpoints: string[]): void;
  /** Stops issuing puts and waits for those in flight (each has a deadline); closes the clients. */
  stop(): Promise<void>;
}

/**
 * Starts `clients` workers, each with its own etcd3 client, that together put
 * `rate` pods a second on a fixed schedule (a worker that falls behind puts
 * at once, so a saturated cluster sets the pace). Each put has a deadline of
 * `deadlineMs`; a failed put is counted and the worker pauses 100 ms.
 * `small`: pods without kubectl's last-applied annotation (about 500 bytes),
 * for writers that run for many minutes. `skipMissed`: slots missed while
 * the cluster did not answer are skipped, not put in a burst afterwards.
 */
export function pacedWriter(t: LoadTarget, opts: { rate: number; clients: number; tag: string; deadlineMs?: number; small?: boolean; skipMissed?: boolean }): PacedWriter {
  let clients: Etcd3[] = Array.from({ length: opts.clients }, () => client(t));
  const retired: Etcd3[] = [];
  const acked = new Map<string, number>();
  const acks = new Map<string, { revision: number; clusterId: string }>();
  const startedAt = Date.now();
  const deadlineMs = opts.deadlineMs ?? 3000;
  let stopped = false;
  let failed = 0;
  const worker = async (w: number): Promise<void> => {
    const rand = prng(1000 + w);
    for (let k = 0; !stopped; k++) {
      // skipMissed: after an outage, go on at the rate from now instead of putting the missed slots at once.
      if (opts.skipMissed === true) k = Math.max(k, Math.floor((((Date.now() - startedAt) * opts.rate) / 1000 - w) / opts.clients));
      const i = k * opts.clients + w;
      const wait = startedAt + (i * 1000) / opts.rate - Date.now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      const { key, value } = kubeObject(i, rand, "pods", opts.tag, opts.small !== true);
      try {
        const r = await clients[w].put(key).value(value).options({ deadline: new Date(Date.now() + deadlineMs) }).exec();
        acked.set(key, Date.now());
        acks.set(key, { revision: Number(r.header.revision), clusterId: BigInt(r.header.cluster_id).toString(16) });
      } catch {
        failed++;
        await sleep(100);
      }
    }
  };
  const running = clients.map((_c, w) => worker(w));
  return {
    acked,
    acks,
    failed: () => failed,
    startedAt,
    retarget(endpoints: string[]): void {
      const old = clients;
      clients = old.map(() => client({ ...t, endpoints }));
      retired.push(...old);
      setTimeout(() => {
        for (const c of old) c.close();
      }, deadlineMs + 1000).unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(running);
      for (const c of [...clients, ...retired]) c.close();
    },
  };
}

/** One look at the leader and the learner, taken at `at`. */
export interface LagSample {
  at: number;
  /** The highest committed index any voter reported. */
  leaderIndex: number;
  /** The learner's applied index. */
  learnerApplied: number;
}

/** A sampler running in the background. */
export interface LagSampler {
  readonly samples: LagSample[];
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`, asks each voter and the learner for their status at
 * once (one client per endpoint, 1 s deadline) and records the leader's
 * committed index and the learner's applied index. A round in which no voter
 * or the learner answers records nothing.
 */
export function lagSampler(t: LoadTarget, voters: string[], learner: string, intervalMs = 50): LagSampler {
  const voterClients = voters.map((e) => client({ ...t, endpoints: [e] }));
  const learnerClient = client({ ...t, endpoints: [learner] });
  const samples: LagSample[] = [];
  let stopped = false;
  const status = (c: Etcd3): Promise<{ raftIndex?: string; raftAppliedIndex?: string }> =>
    Promise.race([c.maintenance.status(), sleep(1000).then(() => Promise.reject(new Error("status timed out")))]);
  const loop = (async (): Promise<void> => {
    while (!stopped) {
      const at = Date.now();
      const [ls, ...vs] = await Promise.allSettled([status(learnerClient), ...voterClients.map(status)]);
      const leaderIndex = Math.max(0, ...vs.map((v) => (v.status === "fulfilled" ? Number(v.value.raftIndex ?? 0) : 0)));
      if (ls.status === "fulfilled" && leaderIndex > 0) samples.push({ at, leaderIndex, learnerApplied: Number(ls.value.raftAppliedIndex ?? 0) });
      const rest = at + intervalMs - Date.now();
      if (rest > 0) await sleep(rest);
    }
  })();
  return {
    samples,
    async stop(): Promise<void> {
      stopped = true;
      await loop;
      for (const c of [...voterClients, learnerClient]) c.close();
    },
  };
}

/** The learner's lag in a sample: entries behind, and how long ago the leader had committed what the learner has applied. */
export interface Lag {
  entries: number;
  /** Interpolated between the two leader samples around the moment the leader reached the learner's index; NaN before the series covers it. */
  ms: number;
}

/** The lag of each sample, measured against the leader's history in the same series (samples in time order). */
export function lags(samples: readonly LagSample[]): Lag[] {
  return samples.map((s) => {
    const entries = Math.max(0, s.leaderIndex - s.learnerApplied);
    if (entries === 0) return { entries, ms: 0 };
    const i = samples.findIndex((x) => x.leaderIndex >= s.learnerApplied);
    if (i <= 0) return { entries, ms: NaN };
    const before = samples[i - 1];
    const reached = samples[i];
    const span = reached.leaderIndex - before.leaderIndex;
    const at = span > 0 ? before.at + ((s.learnerApplied - before.leaderIndex) / span) * (reached.at - before.at) : reached.at;
    return { entries, ms: Math.max(0, s.at - at) };
  });
}
