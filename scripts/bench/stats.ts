/** Summaries of repeated measurements, and how the report prints them. */

/** Median, min and max of some runs, with the runs themselves. */
export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** The median (mean of the middle two for an even count), min and max of `xs`. */
export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN, runs: xs };
}

/** Milliseconds as seconds with two decimals, or "-". */
export const fmtS = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "-");

/** Whole numbers. */
export const fmtN = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : "-");

/** "median (min to max)", or the reason a figure is missing. */
export function fmtStats(s: Stats | string | undefined, f: (x: number) => string = fmtS): string {
  if (s === undefined) return "not measured";
  if (typeof s === "string") return s;
  return s.runs.length === 1 ? `${f(s.median)} (1 run)` : `${f(s.median)} (${f(s.min)} to ${f(s.max)})`;
}

/** Bytes as MB with one decimal. */
export const fmtMB = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;

/** The ratio of two medians, as "1.23x". */
export function ratio(a: Stats | string | undefined, b: Stats | string | undefined): number | undefined {
  if (typeof a !== "object" || typeof b !== "object" || !(b.median > 0)) return undefined;
  return a.median / b.median;
}
