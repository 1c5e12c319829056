/** Polling with a deadline: the only way the tests and the benchmarks wait for a condition. */

/** Options for {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this many milliseconds. */
  timeoutMs: number;
  /** Poll interval in milliseconds (default 250). */
  intervalMs?: number;
  /** Says what is awaited, for the timeout error. */
  what: string;
  /** True: an error thrown by the probe ends the wait at once (a process that exited early, say); by default it is retried until the deadline. */
  stopOnError?: boolean;
}

/**
 * Calls `probe` until it returns a value other than `undefined`/`false`, and
 * returns that value; throws naming `what` and the last error when the
 * deadline passes (or the probe's error, with `stopOnError`).
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      if (opts.stopOnError === true) throw e;
      last = e;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: last error: ${last.message}` : "";
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
