/**
 * A split-brain sampler: every `intervalMs`, a put to each endpoint on its
 * own (one etcd3 client per endpoint, so nothing is retried elsewhere), with
 * a deadline; records which endpoints accepted it, the cluster ID in each
 * answer's header and how long the acknowledgement took. Two cluster IDs
 * accepting writes in one sample is a split brain; no endpoint accepting is a
 * sample without quorum.
 *
 * Rounds do not wait for each other: a put in flight does not hold back the
 * next round, so the deadline can be long enough to tell a cluster without
 * quorum (which never acknowledges: etcd gives up after its request timeout)
 * from one that is only slow (a loaded 2-core sandbox can take over a second).
 */
import type { Etcd3 } from "etcd3";
import { client } from "../../support/load";
import type { LoadTarget } from "../../support/load";

/** One round: when it started, and per endpoint the accepting cluster's ID (absent: refused or no answer). */
export interface SplitBrainSample {
  at: number;
  accepted: Record<string, string>;
  /** Per accepting endpoint: ms from the round's start to the acknowledgement. */
  latencyMs: Record<string, number>;
}

/** A sampler running in the background. */
export interface SplitBrainSampler {
  readonly samples: SplitBrainSample[];
  stop(): Promise<void>;
}

/** Samples whose accepting endpoints belong to more than one cluster. */
export function splitBrains(samples: readonly SplitBrainSample[]): SplitBrainSample[] {
  return samples.filter((s) => new Set(Object.values(s.accepted)).size > 1);
}

/** Samples in which no endpoint accepted the put. */
export function withoutQuorum(samples: readonly SplitBrainSample[]): SplitBrainSample[] {
  return samples.filter((s) => Object.keys(s.accepted).length === 0);
}

/** Starts sampling `endpoints` (see the module comment); the probe key is `/etcd-standby/split-brain-probe`. Samples are complete once `stop()` resolves. */
export function splitBrainSampler(t: LoadTarget, endpoints: string[], opts: { intervalMs?: number; deadlineMs?: number } = {}): SplitBrainSampler {
  const intervalMs = opts.intervalMs ?? 100;
  const deadlineMs = opts.deadlineMs ?? 1000;
  const clients = new Map<string, Etcd3>(endpoints.map((e) => [e, client({ ...t, endpoints: [e] })]));
  const samples: SplitBrainSample[] = [];
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const sample: SplitBrainSample = { at, accepted: {}, latencyMs: {} };
      samples.push(sample);
      for (const [e, c] of clients) {
        const p = (async () => {
          try {
            const r = await c.put("/etcd-standby/split-brain-probe").value(String(at)).options({ deadline: new Date(at + deadlineMs) }).exec();
            sample.accepted[e] = String(r.header.cluster_id);
            sample.latencyMs[e] = Date.now() - at;
          } catch {
            // refused, or no answer within the deadline
          }
        })();
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      const wait = at + intervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    samples,
    async stop(): Promise<void> {
      stopped = true;
      await loop;
      await Promise.all([...inFlight]);
      for (const c of clients.values()) c.close();
    },
  };
}

/** The slowest acknowledgement in each sample that had one, in ms (for reporting). */
export function ackLatencies(samples: readonly SplitBrainSample[]): number[] {
  return samples.map((s) => Math.max(0, ...Object.values(s.latencyMs))).filter((x) => x > 0);
}
