/**
 * A small runner of phases that overlap, driven by a table: each phase has a
 * name (the one its failure is reported under), the key of `phaseMs` it is
 * timed under, the phases it waits on, and the step at which it is awaited.
 * A phase starts as soon as every phase it waits on has succeeded; phases are
 * awaited step by step (the order they ran in before they overlapped), so a
 * failure is reported in that order, whatever ends first. The phases of one
 * step settle together, then the first failure in table order is reported.
 */
import { firstFailure, settle } from "./overlap";
import type { Settled } from "./overlap";

/**
 * Phase timings in ms, each phase's own duration. The guard, recording the
 * learner and the image check run side by side (and the cleanup beside the
 * last two once the guard has passed), so the phases add up to more than the
 * create took: `total` is its wall-clock time, `serving` when the restored
 * member first led itself (could take client writes), both from the create's
 * start. record and stop are those of the attempt that did them. start is
 * the last step of the restore's remote command, timed on the host's clock.
 */
export interface PhaseTimings {
  guard: number;
  cleanup: number;
  record: number;
  image: number;
  stop: number;
  restore: number;
  start: number;
  verify: number;
  serving: number;
  total: number;
}

/** Every phase at 0 ms. */
export function zeroTimings(): PhaseTimings {
  return { guard: 0, cleanup: 0, record: 0, image: 0, stop: 0, restore: 0, start: 0, verify: 0, serving: 0, total: 0 };
}

/** One phase of a table. */
export interface Phase<C, Id extends string> {
  readonly id: Id;
  /** What it is called in errors ("failed during <name>"). */
  readonly name: string;
  /** The key of `phaseMs` its own duration (start to end) goes to; none: not timed. */
  readonly timedAs?: keyof PhaseTimings;
  /** It starts once each of these has succeeded ([]: at once). */
  readonly after: readonly Id[];
  /** The step at which it is awaited and its failure reported (phases of one step settle together). */
  readonly awaited: number;
  /** The work; it reads what earlier phases left in the context and leaves its own result there. */
  readonly run: (c: C) => Promise<void>;
  /** Its time when not its own duration (work done by an earlier attempt). */
  readonly ms?: (c: C, ownMs: number) => number;
  /** True when the run ends with this phase (nothing after it starts). */
  readonly ends?: (c: C) => boolean;
}

/** A phase's failure, as the runner reports it. */
export class PhaseFailure<Id extends string = string> extends Error {
  public constructor(
    public readonly phase: { readonly id: Id; readonly name: string },
    public readonly error: unknown,
  ) {
    super(`${phase.name} failed`);
    this.name = "PhaseFailure";
  }
}

/**
 * Problems with a table: a phase awaited before (or with) one it waits on
 * could never be reported in order; a phase waiting on one that is not in
 * the table would never start.
 */
export function tableProblems<C, Id extends string>(table: readonly Phase<C, Id>[]): string[] {
  const byId = new Map(table.map((p) => [p.id, p] as const));
  const problems: string[] = [];
  for (const p of table) {
    for (const a of p.after) {
      const dep = byId.get(a);
      if (dep === undefined) problems.push(`${p.id} waits on ${a}, which is not in the table`);
      else if (dep.awaited >= p.awaited) problems.push(`${p.id} (step ${p.awaited}) waits on ${a}, awaited at step ${dep.awaited}`);
    }
  }
  return problems;
}

/** A run of a table: `done` (true when a phase ended it early), and each phase's outcome once it has settled. */
export interface PhaseRun<Id extends string> {
  readonly done: Promise<boolean>;
  /** Resolves once the phase has settled (at once when it never started). */
  settled(id: Id): Promise<void>;
}

/**
 * Runs `table` on `c`, each phase's time going to `t`. Phases waiting on
 * nothing start at once, in table order; the others as soon as what they
 * wait on has succeeded, in table order too. `done` rejects with a
 * {@link PhaseFailure} at the first failure by step; after a failure or an
 * early end no phase starts any more (those running go on).
 */
export function runPhases<C, Id extends string>(table: readonly Phase<C, Id>[], c: C, t: PhaseTimings): PhaseRun<Id> {
  const problems = tableProblems(table);
  if (problems.length > 0) throw new Error(`invalid phase table: ${problems.join("; ")}`);
  const outcomes = new Map<Id, Promise<Settled<void>>>();
  const passed = new Set<Id>();
  let halted = false;
  const startReady = (): void => {
    for (const p of table) {
      if (halted || outcomes.has(p.id) || !p.after.every((a) => passed.has(a))) continue;
      const since = Date.now();
      // Its run is an async function: a failure is a rejection, never a throw.
      const work = p.run(c);
      outcomes.set(
        p.id,
        settle(work, since).then((r) => {
          if (r.ok && !halted) {
            if (p.timedAs !== undefined) t[p.timedAs] = p.ms ? p.ms(c, r.ms) : r.ms;
            if (p.ends?.(c) === true) halted = true;
            passed.add(p.id);
            startReady();
          }
          return r;
        }),
      );
    }
  };
  const done = (async (): Promise<boolean> => {
    startReady();
    for (const step of [...new Set(table.map((p) => p.awaited))].sort((a, b) => a - b)) {
      const phases = table.filter((p) => p.awaited === step);
      const results = await Promise.all(phases.map((p) => outcomes.get(p.id) ?? Promise.reject(new Error(`phase ${p.id} never started`))));
      const failed = firstFailure(phases.map((p, i) => ({ phase: p.id, result: results[i] })));
      if (failed) {
        halted = true;
        const phase = phases.find((p) => p.id === failed.phase) as Phase<C, Id>;
        throw new PhaseFailure<Id>(phase, failed.error);
      }
      if (phases.some((p) => p.ends?.(c) === true)) return true;
    }
    return false;
  })();
  return {
    done,
    settled: async (id) => {
      await outcomes.get(id);
    },
  };
}
