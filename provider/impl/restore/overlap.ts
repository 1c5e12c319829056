/**
 * What work running beside the split-brain guard needs, pure: the abort flag
 * a refusal sets, a promise's outcome with its duration, the guard's verdict
 * first, the first failure in a given order, and docker's name conflict.
 */

/** Set when the guard refuses: work running beside it stops at its next step. */
export interface AbortFlag {
  aborted: boolean;
}

/** Thrown by work beside the guard that stopped because the guard refused. */
export class AbortedByGuard extends Error {
  public constructor(what: string) {
    super(`${what} stopped: the split-brain guard refused`);
    this.name = "AbortedByGuard";
  }
}

/** Throws {@link AbortedByGuard} when `flag` is set. */
export function throwIfAborted(flag: AbortFlag, what: string): void {
  if (flag.aborted) throw new AbortedByGuard(what);
}

/** How a promise ended. */
export type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number };

/** `p`'s outcome, never a rejection, with how long it took from `since` (ms since the epoch). */
export function settle<T>(p: Promise<T>, since: number, now: () => number = Date.now): Promise<Settled<T>> {
  return p.then(
    (value): Settled<T> => ({ ok: true, value, ms: now() - since }),
    (error: unknown): Settled<T> => ({ ok: false, error, ms: now() - since }),
  );
}

/**
 * The guard's verdict first. While it is pending, nothing that runs beside
 * it is reported, whatever it does (a failure there waits for the verdict).
 * A refusal (the guard's rejection) sets `abort` and is thrown at once,
 * without waiting for the work beside it (a learner that never settles while
 * site A is alive must not hold the refusal back), which never becomes an
 * unhandled rejection. A pass returns the guard's value; the caller then
 * awaits the work beside it.
 */
export async function guardFirst<G>(guard: Promise<G>, beside: readonly Promise<unknown>[], abort: AbortFlag): Promise<G> {
  for (const b of beside) b.catch(() => undefined);
  try {
    return await guard;
  } catch (e) {
    abort.aborted = true;
    throw e;
  }
}

/** The first failure in the order given (the order the phases ran in before they overlapped), with its phase. */
export function firstFailure(results: readonly { phase: string; result: Settled<unknown> }[]): { phase: string; error: unknown } | undefined {
  for (const { phase, result } of results) if (!result.ok) return { phase, error: result.error };
  return undefined;
}
