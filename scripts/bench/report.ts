/** The benchmark report: what was measured, as JSON, and as the Markdown table a reader skims. */
import type { Stats } from "./stats";
import { fmtMB, fmtN, fmtS, fmtStats, ratio, stats } from "./stats";

/**
 * How site A is powered off (`sandbox.sh power-off A [--blackhole]`): `kill`
 * SIGKILLs its processes, and its addresses then refuse at once (TCP resets);
 * `blackhole` first makes its addresses drop every packet, so callers wait
 * for their own timeouts, as with a site that loses power behind a router.
 */
export type PowerOffKind = "blackhole" | "kill";
export const POWER_OFF_KINDS: readonly PowerOffKind[] = ["blackhole", "kill"];

/** One failover (either procedure) on a fresh sandbox, under the paced writer. */
export interface FailoverRun {
  procedure: "provider" | "raw";
  /** How site A was powered off. */
  powerOff: PowerOffKind;
  /** How long `sandbox power-off A` took (SIGKILL of every site-A process, after the blackhole when asked). */
  powerOffMs: number;
  /** From the end of the power-off to the first write acknowledged by the restored cluster. */
  rtoMs: number;
  /** The procedure's own time: EtcdStandaloneRestore create, or the scripted commands. */
  procedureMs: number;
  /** EtcdStandaloneRestore's phase timings (provider only). */
  phaseMs?: Record<string, number>;
  /** Revisions the learner had but the restore lacks (provider only; should be 0). */
  dataLossWindow?: number;
  /**
   * Provider only: EtcdStandaloneRestore's create called while site A still
   * answered (under the writer, just before the cut): whether its split-brain
   * guard refused, how long the refusal took, and its first line.
   */
  guardWhileSiteAUp?: { refused: boolean; ms: number; message: string };
  /**
   * The restored member's first election, from its log: from etcd's
   * fast-forward of its election ticks to "became leader" (a random 1 to
   * electionTicks ticks: 0.5 to 5 s with the seed's 500/5000 ms on the raw
   * side, 0.1 to 0.5 s with the provider's fast first election, 100/500 ms).
   */
  firstElectionMs?: number;
  /** Acknowledged puts per second in the steady window before the cut. */
  writesPerSec: number;
  acked: number;
  /** Acknowledged puts absent after the restore. */
  ackedLost: number;
  /** From the earliest lost acknowledgement to the last acknowledgement before the cut (0 when nothing is lost). */
  lostMs: number;
  /** The learner's lag in steady state. */
  lagEntries: Stats;
  lagMs: Stats;
  /** The learner's lag in the last sample before the cut. */
  lagAtCut: { entries: number; ms: number };
}

/** A `pulumi up` of the stack program in failover mode with site A powered off. */
export interface StackFailoverRun {
  powerOff: PowerOffKind;
  /** `pulumi up` to learner-standby from the seed's four voters (the run's setup, timed too). */
  upLearnerStandbyMs: number;
  /** `pulumi up` in failover mode, wall time. */
  upFailoverMs: number;
  /** EtcdStandaloneRestore's own wall time inside that up (its `phaseMs.total`: the phases overlap). */
  restorePhasesMs: number;
}

/** Where a size's data came from, and what it cost. */
export interface DataResult {
  /** `kept`: copied into each fresh sandbox from a folder built once (`built` says whether this run built it); `fill-each`: every fresh sandbox filled anew. */
  source: "kept" | "fill-each";
  built?: boolean;
  folder?: string;
  /** The fill that made the kept folder (maybe an earlier run's), with how many clients in parallel. */
  fillMs?: number;
  fillClients?: number;
  /** Stopping the members and copying their data dirs into the folder. */
  saveMs?: number;
  savedBytes?: number;
  /** Per fresh sandbox: the slowest host's copy into its data dir (the copies run in parallel). */
  seedMs?: Stats;
  /** Per fresh sandbox: `sandbox.sh up` wall time, copies included. */
  upMs?: Stats;
  /** Per fresh sandbox: a rolling snapshot taken on every etcd host at once and awaited, before anything is measured. */
  snapshotMs?: Stats;
  /** How many of those host snapshots did not complete (etcdctl's 20 s deadline in RKE's container; that host's next is an interval later). */
  snapshotsMissed?: number;
  /** Per fresh sandbox with fill-each: the fill. */
  fillEachMs?: Stats;
}

/** The transitions after a failover, and the drill: each measured as the provider does it and as the raw etcdctl/docker steps it replaces. */
export type TransitionKind = "rebuild" | "failback" | "drill";
export const TRANSITIONS: readonly TransitionKind[] = ["rebuild", "failback", "drill"];

/** One transition (either procedure) from its resting point. */
export interface TransitionRun {
  procedure: "provider" | "raw";
  /** Wall time: the `pulumi up` (rebuild, fail back) or EtcdRestoreDrill's create call, or the scripted commands. */
  ms: number;
  /** Time per phase, ms, in the order they ran; `<host>: <phase>` for per-host phases. A provider's steps may overlap. */
  phaseMs: Record<string, number>;
  /** Drill: restore + start + verify of the scratch cluster (EtcdRestoreDrill's rtoMs; the same phases of the raw steps). */
  rtoMs?: number;
  /** Drill: from the learner's stop until it was caught up again. */
  learnerAbsentMs?: number;
  /** Drill: from the learner's stop until it was started again. */
  learnerDownMs?: number;
  /** Drill: the writer on site A while it ran: puts acknowledged and failed. */
  writes?: { acked: number; failed: number };
  /** Drill: the revision and key count the scratch cluster showed. */
  restored?: { revision: number; keys: number };
}

/** A transition's runs, or why it has none. */
export type TransitionRuns = { provider: TransitionRun[]; raw: TransitionRun[] } | string;

/** Every figure for one database size. */
export interface SizeResult {
  targetMB: number;
  dbSizeBytes?: number;
  keys?: number;
  loadMs?: number;
  data?: DataResult | string;
  learnerCreate?: Stats | string;
  rawCatchUp?: Stats | string;
  failover?: { provider: FailoverRun[]; raw: FailoverRun[] } | string;
  stackFailover?: StackFailoverRun[] | string;
  /** Rebuild, fail back and the drill, provider against raw. */
  transitions?: Partial<Record<TransitionKind, TransitionRuns>> | string;
}

/** The steady-state preview figures. */
export interface PreviewResult {
  resources: number;
  converged?: Stats | string;
  convergedRefresh?: Stats | string;
  empty?: Stats | string;
  /** Peak resident memory (MiB) of each process kind during the converged previews. */
  peakMiB?: Record<string, Stats>;
}

/** The whole run. */
export interface Report {
  machine: Record<string, string | number>;
  command: string;
  startedAt: string;
  totalMs: number;
  runs: number;
  writer: { rate: number; clients: number; steadyMs: number };
  heartbeatMs: number;
  /** Added between the sites, each way. */
  latencyMs: number;
  /** How site A was powered off for the failover figures; the first is the one the targets are checked on. */
  powerOff: PowerOffKind[];
  /** Seconds between RKE's rolling snapshots on every etcd host (ETCD_STANDBY_SNAPSHOT_INTERVAL). */
  snapshotIntervalS: number;
  sizes: SizeResult[];
  preview: PreviewResult;
  /** The writer on site A during the drills. */
  drillWriter?: { rate: number; clients: number };
}

const pick = (runs: FailoverRun[], f: (r: FailoverRun) => number): Stats | string => (runs.length ? stats(runs.map(f)) : "no run");

const x = (r: number | undefined): string => (r === undefined ? "-" : `${r.toFixed(2)}x`);
const sizeOf = (s: SizeResult): string => (s.dbSizeBytes ? fmtMB(s.dbSizeBytes) : `~${s.targetMB} MB`);
const kindsOf = (r: Report): PowerOffKind[] => (r.powerOff?.length ? r.powerOff : ["kill"]);
const failoverRuns = (s: SizeResult, kind: PowerOffKind): { provider: FailoverRun[]; raw: FailoverRun[] } | undefined => {
  if (typeof s.failover !== "object") return undefined;
  const of = (runs: FailoverRun[]): FailoverRun[] => runs.filter((y) => (y.powerOff ?? "kill") === kind);
  const out = { provider: of(s.failover.provider), raw: of(s.failover.raw) };
  return out.provider.length || out.raw.length ? out : undefined;
};

/** A transition's runs of one size, when measured. */
const transitionRuns = (s: SizeResult, t: TransitionKind): { provider: TransitionRun[]; raw: TransitionRun[] } | undefined => {
  const r = typeof s.transitions === "object" ? s.transitions[t] : undefined;
  return typeof r === "object" && (r.provider.length > 0 || r.raw.length > 0) ? r : undefined;
};

/** The provider against raw on one figure of a transition (undefined when either side has no run with it). */
export function transitionComparison(s: SizeResult, t: TransitionKind, f: (r: TransitionRun) => number | undefined): Comparison | undefined {
  const r = transitionRuns(s, t);
  if (!r) return undefined;
  const of = (runs: TransitionRun[]): Stats | string => {
    const xs = runs.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return xs.length ? stats(xs) : "no run";
  };
  return compare(of(r.provider), of(r.raw));
}

/**
 * The phases of a transition's runs with each side's median, in the order
 * they ran: the provider's first, and a phase only one run has goes right
 * after the phase that run had before it (the raw `start` beside `add`).
 */
export function phaseTable(runs: { provider: TransitionRun[]; raw: TransitionRun[] }): { phase: string; provider?: Stats; raw?: Stats }[] {
  const order: string[] = [];
  for (const r of [...runs.provider, ...runs.raw]) {
    let at = -1;
    for (const k of Object.keys(r.phaseMs)) {
      if (!order.includes(k)) order.splice(at + 1, 0, k);
      at = order.indexOf(k);
    }
  }
  const side = (xs: TransitionRun[], k: string): Stats | undefined => {
    const v = xs.map((r) => r.phaseMs[k]).filter((y): y is number => typeof y === "number");
    return v.length ? stats(v) : undefined;
  };
  return order.map((phase) => ({ phase, provider: side(runs.provider, phase), raw: side(runs.raw, phase) }));
}

/** The provider against the raw procedure on one figure: medians, ratio and difference, and their range run by run. */
export interface Comparison {
  provider: Stats;
  raw: Stats;
  /** median(provider) / median(raw). */
  ratio: number;
  /** The lowest and highest provider / raw of the runs, paired in the order they ran. */
  ratioMin: number;
  ratioMax: number;
  /** median(provider) - median(raw), ms. */
  diffMs: number;
  /** The lowest and highest provider - raw of the paired runs, ms. */
  diffMinMs: number;
  diffMaxMs: number;
}

/** Compares two figures (undefined when either was not measured). */
export function compare(p: Stats | string | undefined, w: Stats | string | undefined): Comparison | undefined {
  if (typeof p !== "object" || typeof w !== "object" || !(w.median > 0)) return undefined;
  const n = Math.min(p.runs.length, w.runs.length);
  const pairs = Array.from({ length: n }, (_, i) => [p.runs[i], w.runs[i]]);
  const ratios = pairs.filter(([, b]) => b > 0).map(([a, b]) => a / b);
  const diffs = pairs.map(([a, b]) => a - b);
  return {
    provider: p,
    raw: w,
    ratio: p.median / w.median,
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    diffMs: p.median - w.median,
    diffMinMs: Math.min(...diffs),
    diffMaxMs: Math.max(...diffs),
  };
}

/** One of issue #13's targets, checked on one size. */
export interface TargetCheck {
  id: "catch-up" | "catch-up-diff" | "rto" | "rto-diff" | "rpo" | "lag" | "guard" | "preview";
  /** What the target says. */
  target: string;
  size: string;
  /** The failover figures' power-off (rto, rpo, lag). */
  powerOff?: PowerOffKind;
  /** How the figure is judged. */
  rule: string;
  limit: number;
  unit: "x" | "revisions" | "entries" | "s" | "refusals";
  /** The figure: its median (for a ratio, the ratio of the medians) and the range over the runs; undefined when not measured. */
  value?: { median: number; min: number; max: number; runs: number };
  /** Undefined when not measured. */
  pass?: boolean;
}

/** The targets of issue #13 (performance), as the README states them. */
export const TARGETS = {
  /** median(EtcdLearner create) / median(raw), checked at about 1 GB. */
  catchUpRatio: 1.15,
  /** median(EtcdLearner create) - median(raw), ms, at every size. */
  catchUpDiffMs: 300,
  /** median(provider RTO) / median(raw RTO), checked at about 1 GB. */
  rtoRatio: 1.2,
  /** median(provider RTO) - median(raw RTO), ms, at every size. */
  rtoDiffMs: 1000,
  /** The sizes (target MB) the ratios are checked at: about 1 GB. */
  ratioFromMB: 1000,
  /** `pulumi preview` of the converged stack over the empty program's, per resource, ms. */
  previewPerResourceMs: 200,
  /** Acknowledged writes the learner had applied that the restore lost (EtcdStandaloneRestore's dataLossWindow). */
  dataLossWindow: 0,
  /** The learner's lag at the cut, in heartbeats of writes at the achieved rate. */
  lagHeartbeats: 1,
};

/** Every target on every size, pass or fail (undefined: not measured). */
export function targetChecks(r: Report): TargetCheck[] {
  const out: TargetCheck[] = [];
  const kinds = kindsOf(r);
  const secs = (ms: number): number => ms / 1000;
  for (const s of r.sizes) {
    const size = sizeOf(s);
    const large = s.targetMB >= TARGETS.ratioFromMB;
    const c = compare(s.learnerCreate, s.rawCatchUp);
    out.push({
      id: "catch-up-diff", target: `learner catch-up: median(EtcdLearner create) - median(raw procedure) <= ${secs(TARGETS.catchUpDiffMs)} s`, size,
      rule: "difference of the medians", limit: secs(TARGETS.catchUpDiffMs), unit: "s",
      value: c && { median: secs(c.diffMs), min: secs(c.diffMinMs), max: secs(c.diffMaxMs), runs: c.provider.runs.length },
      pass: c && c.diffMs <= TARGETS.catchUpDiffMs,
    });
    if (large) {
      out.push({
        id: "catch-up", target: `learner catch-up at about 1 GB: EtcdLearner create / raw procedure <= ${TARGETS.catchUpRatio}`, size,
        rule: "ratio of the medians", limit: TARGETS.catchUpRatio, unit: "x",
        value: c && { median: c.ratio, min: c.ratioMin, max: c.ratioMax, runs: c.provider.runs.length },
        pass: c && c.ratio <= TARGETS.catchUpRatio,
      });
    }
    for (const kind of kinds) {
      const f = failoverRuns(s, kind);
      const rto = f && compare(pick(f.provider, (y) => y.rtoMs), pick(f.raw, (y) => y.rtoMs));
      out.push({
        id: "rto-diff", target: `failover RTO, power-off to first write: median(EtcdStandaloneRestore) - median(the seed's commands) <= ${secs(TARGETS.rtoDiffMs)} s`, size, powerOff: kind,
        rule: "difference of the medians", limit: secs(TARGETS.rtoDiffMs), unit: "s",
        value: rto && { median: secs(rto.diffMs), min: secs(rto.diffMinMs), max: secs(rto.diffMaxMs), runs: rto.provider.runs.length },
        pass: rto && rto.diffMs <= TARGETS.rtoDiffMs,
      });
      if (large) {
        out.push({
          id: "rto", target: `failover RTO at about 1 GB: EtcdStandaloneRestore / the seed's commands <= ${TARGETS.rtoRatio}`, size, powerOff: kind,
          rule: "ratio of the medians", limit: TARGETS.rtoRatio, unit: "x",
          value: rto && { median: rto.ratio, min: rto.ratioMin, max: rto.ratioMax, runs: rto.provider.runs.length },
          pass: rto && rto.ratio <= TARGETS.rtoRatio,
        });
      }
      const guards = (f?.provider ?? []).map((y) => y.guardWhileSiteAUp).filter((g): g is NonNullable<typeof g> => g !== undefined);
      out.push({
        id: "guard", target: "the split-brain guard refuses while site A answers (EtcdStandaloneRestore create before the cut, under the writer)", size, powerOff: kind,
        rule: "every run refused", limit: guards.length, unit: "refusals",
        value: guards.length ? { median: guards.filter((g) => g.refused).length, min: guards.filter((g) => g.refused).length, max: guards.filter((g) => g.refused).length, runs: guards.length } : undefined,
        pass: guards.length ? guards.every((g) => g.refused) : undefined,
      });
      const windows = (f?.provider ?? []).map((y) => y.dataLossWindow ?? NaN).filter(Number.isFinite);
      const w = windows.length ? stats(windows) : undefined;
      out.push({
        id: "rpo", target: "no acknowledged write the learner had applied is lost (EtcdStandaloneRestore's dataLossWindow = 0)", size, powerOff: kind,
        rule: "every run", limit: TARGETS.dataLossWindow, unit: "revisions",
        value: w && { median: w.median, min: w.min, max: w.max, runs: windows.length },
        pass: w && w.max <= TARGETS.dataLossWindow,
      });
      const all = [...(f?.provider ?? []), ...(f?.raw ?? [])].filter((y) => Number.isFinite(y.lagAtCut.entries));
      const lag = all.length ? stats(all.map((y) => y.lagAtCut.entries)) : undefined;
      const beat = all.length ? (stats(all.map((y) => y.writesPerSec)).median * r.heartbeatMs * TARGETS.lagHeartbeats) / 1000 : NaN;
      out.push({
        id: "lag", target: `the learner's lag at the cut within ${TARGETS.lagHeartbeats} heartbeat (${r.heartbeatMs} ms) of writes at the achieved rate`, size, powerOff: kind,
        rule: "every run (both procedures)", limit: Math.round(beat), unit: "entries",
        value: lag && { median: lag.median, min: lag.min, max: lag.max, runs: all.length },
        pass: lag && lag.max <= beat,
      });
    }
  }
  const pv = r.preview;
  if (pv.converged !== undefined) {
    const per = typeof pv.converged === "object" && typeof pv.empty === "object" && pv.resources > 0 ? (pv.converged.median - pv.empty.median) / pv.resources : undefined;
    out.push({
      id: "preview", target: `steady-state \`pulumi preview\` of the converged stack: (median - the empty program's median) / resources <= ${secs(TARGETS.previewPerResourceMs)} s`, size: `stack, ${pv.resources} resources`,
      rule: "difference of the medians per resource", limit: secs(TARGETS.previewPerResourceMs), unit: "s",
      value: per === undefined ? undefined : { median: secs(per), min: secs(per), max: secs(per), runs: typeof pv.converged === "object" ? pv.converged.runs.length : 0 },
      pass: per === undefined ? undefined : per <= TARGETS.previewPerResourceMs,
    });
  }
  return out;
}

/** The headline of the JSON report: per size, the provider against the raw procedure, and every target checked. */
export interface Headline {
  /** The failover figures' power-off the RTO target counts on (the others are checked too). */
  powerOff: PowerOffKind;
  snapshotIntervalS: number;
  sizes: {
    size: string;
    targetMB: number;
    catchUp?: Comparison;
    /** Per power-off kind measured. */
    rto: Partial<Record<PowerOffKind, Comparison>>;
    /** The same, less the restored member's first election (a random wait on either side); not a target. */
    rtoLessFirstElection: Partial<Record<PowerOffKind, Comparison>>;
    /** Per transition measured: the wall time, provider against raw. */
    transitions: Partial<Record<TransitionKind, Comparison>>;
  }[];
  targets: TargetCheck[];
  passed: number;
  failed: number;
  notMeasured: number;
}

/** The figures a README quotes: per size, ratios and differences, and every target checked. */
export function headline(r: Report): Headline {
  const kinds = kindsOf(r);
  const targets = targetChecks(r);
  return {
    powerOff: kinds[0],
    snapshotIntervalS: r.snapshotIntervalS,
    sizes: r.sizes.map((s) => {
      const rto: Partial<Record<PowerOffKind, Comparison>> = {};
      const rtoLessFirstElection: Partial<Record<PowerOffKind, Comparison>> = {};
      for (const kind of kinds) {
        const f = failoverRuns(s, kind);
        const c = f && compare(pick(f.provider, (y) => y.rtoMs), pick(f.raw, (y) => y.rtoMs));
        if (c) rto[kind] = c;
        const e = f && rtoLessElection(f);
        if (e) rtoLessFirstElection[kind] = e;
      }
      const transitions: Partial<Record<TransitionKind, Comparison>> = {};
      for (const t of TRANSITIONS) {
        const c = transitionComparison(s, t, (y) => y.ms);
        if (c) transitions[t] = c;
      }
      return { size: sizeOf(s), targetMB: s.targetMB, catchUp: compare(s.learnerCreate, s.rawCatchUp), rto, rtoLessFirstElection, transitions };
    }),
    targets,
    passed: targets.filter((t) => t.pass === true).length,
    failed: targets.filter((t) => t.pass === false).length,
    notMeasured: targets.filter((t) => t.pass === undefined).length,
  };
}

const fmtTargetValue = (t: TargetCheck): string => {
  if (!t.value) return "not measured";
  const f = (v: number): string => (t.unit === "x" ? `${v.toFixed(2)}x` : t.unit === "s" ? `${v >= 0 ? "+" : ""}${v.toFixed(2)} s` : fmtN(v));
  return t.value.runs === 1 ? `${f(t.value.median)} (1 run)` : `${f(t.value.median)} (${f(t.value.min)} to ${f(t.value.max)}, ${t.value.runs} runs)`;
};

/** A difference in ms as signed seconds. */
const fmtD = (ms: number): string => (Number.isFinite(ms) ? `${ms >= 0 ? "+" : "-"}${fmtS(Math.abs(ms))}` : "-");

const fmtDiff = (c: Comparison | undefined): string =>
  c ? `${fmtS(c.provider.median)} / ${fmtS(c.raw.median)} = **${c.ratio.toFixed(2)}x** (${c.ratioMin.toFixed(2)} to ${c.ratioMax.toFixed(2)}); ${fmtD(c.diffMs)} (${fmtD(c.diffMinMs)} to ${fmtD(c.diffMaxMs)})` : "not measured";

const hasElection = (y: FailoverRun): boolean => y.firstElectionMs !== undefined;

/** RTO less the restored member's first election (runs whose log said it), provider against raw. */
export function rtoLessElection(f: { provider: FailoverRun[]; raw: FailoverRun[] }): Comparison | undefined {
  return compare(pick(f.provider.filter(hasElection), (y) => y.rtoMs - (y.firstElectionMs as number)), pick(f.raw.filter(hasElection), (y) => y.rtoMs - (y.firstElectionMs as number)));
}

/** The failover phases of both procedures, each side's median, provider's order first. */
export function failoverPhaseTable(f: { provider: FailoverRun[]; raw: FailoverRun[] }): { phase: string; provider?: Stats; raw?: Stats }[] {
  const order: string[] = [];
  for (const y of [...f.provider, ...f.raw]) for (const k of Object.keys(y.phaseMs ?? {})) if (!order.includes(k)) order.push(k);
  const side = (runs: FailoverRun[], k: string): Stats | undefined => {
    const xs = runs.map((y) => y.phaseMs?.[k]).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    return xs.length ? stats(xs) : undefined;
  };
  // total last
  const phases = [...order.filter((k) => k !== "total"), ...(order.includes("total") ? ["total"] : [])];
  return phases.map((phase) => ({ phase, provider: side(f.provider, phase), raw: side(f.raw, phase) }));
}

/** The Markdown report. */
export function markdown(r: Report): string {
  const m = r.machine;
  const L: string[] = [];
  const beat = (rate: number): number => (rate * r.heartbeatMs) / 1000;
  L.push("# Benchmarks on the sandbox", "");
  L.push(`Run ${r.startedAt} (commit ${m.commit}), \`${r.command}\`, ${(r.totalMs / 60000).toFixed(1)} min in all. Each figure: median of ${r.runs} runs (min to max).`, "");
  L.push(`Machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB, kernel ${m.kernel}, ${m.os}, disk ${m.disk}; Node ${m.node}, Pulumi ${m.pulumi}. All five sandbox hosts share these cores and this disk; voters: ${m.voters}; learner: ${m.learnerImage}. Between the sites: ${r.latencyMs ? `${r.latencyMs} ms each way (\`sandbox.sh latency\`, a user-space relay)` : "no added latency"}.`, "");
  const kinds = kindsOf(r);
  const kindText = (k: PowerOffKind): string => (k === "blackhole"
    ? "`power-off A --blackhole` (site A's addresses drop every packet, then its processes are killed: callers time out)"
    : "`power-off A` (site A's processes are killed; its addresses refuse at once with TCP resets)");
  L.push(`Power-off of site A for the failover figures: ${kinds.map(kindText).join("; and, as a second series, ")}. RKE's rolling snapshots every ${r.snapshotIntervalS} s on each etcd host (\`ETCD_STANDBY_SNAPSHOT_INTERVAL\`; in each fresh sandbox one is taken on every etcd host and awaited before measuring, so the next comes ${r.snapshotIntervalS} s later).`, "");
  const data = r.sizes.map((s) => {
    const dr = s.data;
    if (dr === undefined) return undefined;
    if (typeof dr === "string") return `${sizeOf(s)}: ${dr}`;
    if (dr.source === "fill-each") return `${sizeOf(s)}: filled in each fresh sandbox, ${fmtStats(dr.fillEachMs)}`;
    const mb = dr.savedBytes ? `${(dr.savedBytes / 1e9).toFixed(2)} GB of data dirs` : "data dirs";
    return `${sizeOf(s)}: ${dr.built ? "built by this run" : "kept from an earlier run"} (fill ${fmtS(dr.fillMs ?? NaN)} with ${dr.fillClients ?? "?"} clients in parallel, save ${fmtS(dr.saveMs ?? NaN)}, ${mb}); copied into each fresh sandbox's four data dirs: ${fmtStats(dr.seedMs)}, \`sandbox.sh up\` with the copies ${fmtStats(dr.upMs)}, a rolling snapshot on every etcd host ${fmtStats(dr.snapshotMs)}${dr.snapshotsMissed ? ` (${dr.snapshotsMissed} of them did not complete within etcdctl's 20 s)` : ""}`;
  }).filter((y): y is string => y !== undefined);
  if (data.length) L.push(`Data: ${data.join("; ")}.`, "");

  const h = headline(r);
  L.push("## Issue #13's targets", "");
  L.push(`${h.passed} passed, ${h.failed} failed, ${h.notMeasured} not measured. A ratio is the provider's median over the raw procedure's, with the lowest and highest of the runs paired in order.`, "");
  L.push("| target | db size | power-off | rule | measured: median (min to max) | limit | result |", "| --- | --- | --- | --- | --- | --- | --- |");
  for (const t of h.targets) {
    const limit = t.unit === "x" ? `<= ${t.limit}` : t.unit === "refusals" ? `${t.limit} of ${t.limit}` : `<= ${t.limit} ${t.unit}`;
    L.push(`| ${t.target} | ${t.size} | ${t.powerOff ?? "-"} | ${t.rule} | ${fmtTargetValue(t)} | ${limit} | ${t.pass === undefined ? "not measured" : t.pass ? "PASS" : "**FAIL**"} |`);
  }
  L.push("", "Provider against raw, per size: median / median = ratio (lowest to highest of the paired runs); provider - raw, median difference (lowest to highest):", "");
  const measured = TRANSITIONS.filter((t) => h.sizes.some((s) => s.transitions[t] !== undefined));
  const cols = [...kinds.map((k) => `failover RTO (${k})`), ...measured.map((t) => TRANSITION_LABEL[t])];
  L.push(`| db size | learner catch-up | ${cols.join(" | ")} |`, `| --- | --- | ${cols.map(() => "---").join(" | ")} |`);
  for (const s of h.sizes) L.push(`| ${s.size} | ${fmtDiff(s.catchUp)} | ${[...kinds.map((k) => fmtDiff(s.rto[k])), ...measured.map((t) => fmtDiff(s.transitions[t]))].join(" | ")} |`);
  L.push("");

  L.push(`## 1. Learner catch-up: EtcdLearner create vs the raw procedure (targets: provider - raw <= ${TARGETS.catchUpDiffMs / 1000} s at every size, ratio <= ${TARGETS.catchUpRatio} at about 1 GB)`, "");
  L.push("| db size (leader) | keys | EtcdLearner create | raw: member add + docker run + poll | ratio |", "| --- | --- | --- | --- | --- |");
  for (const s of r.sizes) L.push(`| ${sizeOf(s)} | ${s.keys ?? "-"} | ${fmtStats(s.learnerCreate)} | ${fmtStats(s.rawCatchUp)} | ${x(ratio(s.learnerCreate, s.rawCatchUp))} |`);

  L.push("", `## 2. Failover (RTO): site A powered off to the first write on site B (targets: provider - raw <= ${TARGETS.rtoDiffMs / 1000} s at every size, ratio <= ${TARGETS.rtoRatio} at about 1 GB)`, "");
  L.push("| db size | power-off | EtcdStandaloneRestore: RTO | its create call | raw: the seed's commands scripted: RTO | ratio | difference |", "| --- | --- | --- | --- | --- | --- | --- |");
  for (const s of r.sizes) {
    if (typeof s.failover !== "object") {
      L.push(`| ${sizeOf(s)} | | ${s.failover ?? "not measured"} | | | | |`);
      continue;
    }
    for (const kind of kinds) {
      const f = failoverRuns(s, kind);
      if (!f) continue;
      const p = pick(f.provider, (y) => y.rtoMs);
      const w = pick(f.raw, (y) => y.rtoMs);
      const c = compare(p, w);
      L.push(`| ${sizeOf(s)} | ${kind} | ${fmtStats(p)} | ${fmtStats(pick(f.provider, (y) => y.procedureMs))} | ${fmtStats(w)} | ${x(ratio(p, w))} | ${c ? `${fmtD(c.diffMs)} (${fmtD(c.diffMinMs)} to ${fmtD(c.diffMaxMs)})` : "-"} |`);
    }
  }
  const withElection = r.sizes.some((s) => typeof s.failover === "object" && [...s.failover.provider, ...s.failover.raw].some((y) => y.firstElectionMs !== undefined));
  if (withElection) {
    L.push("", "The restored member's first election is a random wait (etcd fast-forwards a single member's election ticks, then raft waits its randomised timeout: 1 to electionMs/heartbeatMs ticks): 0.5 to 5 s on the raw side (the seed's 500/5000 ms), 0.1 to 0.5 s on the provider's (its fast first election, 100/500 ms, until rebuild mode restarts it with the cluster's timing). Read from the restored etcd's log; the RTO without it is the procedures' own difference (not a target, the targets count the whole RTO):", "");
    L.push("| db size | power-off | first election: EtcdStandaloneRestore | first election: raw | RTO without it: EtcdStandaloneRestore | RTO without it: raw | difference |", "| --- | --- | --- | --- | --- | --- | --- |");
    for (const s of r.sizes) for (const kind of kinds) {
      const f = failoverRuns(s, kind);
      if (!f) continue;
      const c = rtoLessElection(f);
      L.push(`| ${sizeOf(s)} | ${kind} | ${fmtStats(pick(f.provider.filter(hasElection), (y) => y.firstElectionMs as number))} | ${fmtStats(pick(f.raw.filter(hasElection), (y) => y.firstElectionMs as number))} | ${c ? fmtStats(c.provider) : "-"} | ${c ? fmtStats(c.raw) : "-"} | ${c ? `${fmtD(c.diffMs)} (${fmtD(c.diffMinMs)} to ${fmtD(c.diffMaxMs)})` : "-"} |`);
    }
  }
  for (const s of r.sizes) for (const kind of kinds) {
    const f = failoverRuns(s, kind);
    if (!f || f.provider.length + f.raw.length === 0) continue;
    const table = failoverPhaseTable(f);
    L.push("", `Phases at ${sizeOf(s)}, power-off ${kind}: median (min to max). EtcdStandaloneRestore's overlap (the guard runs beside the record and the image check; \`serving\` is from its call to the restored member serving; \`total\` its whole create); the raw script's are stamped on the host between its steps, its \`total\` the whole OpenSSH call:`, "");
    L.push("| phase | EtcdStandaloneRestore | raw: the seed's commands |", "| --- | --- | --- |");
    for (const row of table) L.push(`| ${row.phase} | ${row.provider ? fmtStats(row.provider) : "-"} | ${row.raw ? fmtStats(row.raw) : "-"} |`);
    const guards = f.provider.map((y) => y.guardWhileSiteAUp).filter((g): g is NonNullable<typeof g> => g !== undefined);
    if (guards.length) {
      L.push("", `The split-brain guard with site A still up (EtcdStandaloneRestore create under the writer, before the cut): refused in ${guards.filter((g) => g.refused).length} of ${guards.length} runs, in ${fmtStats(stats(guards.map((g) => g.ms)))}; "${guards[0].message.slice(0, 160)}".`);
    }
  }
  L.push("", `The full \`pulumi up\` in \`failover\` mode (stack program, site A powered off: ${kinds[0]}):`, "");
  L.push("| db size | `pulumi up` wall time | EtcdStandaloneRestore inside it (its total) | the rest: engine, program, KubeComponentsRestart, state | engine share | (setup: `pulumi up` to learner-standby) |", "| --- | --- | --- | --- | --- | --- |");
  for (const s of r.sizes) {
    const sf = s.stackFailover;
    if (typeof sf !== "object") {
      L.push(`| ${sizeOf(s)} | ${sf ?? "not measured"} | | | | |`);
      continue;
    }
    const up = stats(sf.map((y) => y.upFailoverMs));
    const rest = stats(sf.map((y) => y.upFailoverMs - y.restorePhasesMs));
    const share = stats(sf.map((y) => (100 * (y.upFailoverMs - y.restorePhasesMs)) / y.upFailoverMs));
    L.push(`| ${sizeOf(s)} | ${fmtStats(up)} | ${fmtStats(stats(sf.map((y) => y.restorePhasesMs)))} | ${fmtStats(rest)} | ${fmtStats(share, (v) => `${v.toFixed(0)} %`)} | ${fmtStats(stats(sf.map((y) => y.upLearnerStandbyMs)))} |`);
  }

  L.push("", `## 3. Data loss (RPO) under a paced write load cut by a power-off of site A`, "");
  L.push(`Writer: ${r.writer.clients} clients, target ${r.writer.rate} puts/s of 1-4 KB pods, ${fmtS(r.writer.steadyMs)} of steady state before the cut. One heartbeat (${r.heartbeatMs} ms) of writes at the achieved rate is the lag budget.`, "");
  L.push("| db size | power-off | procedure | achieved puts/s | acknowledged | acknowledged but lost | lost, as ms of writes | learner lag, steady (entries) | (ms) | lag at the cut (entries / ms) | one heartbeat of writes (entries) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const s of r.sizes) for (const kind of kinds) {
    const f = failoverRuns(s, kind);
    if (!f) continue;
    for (const [name, runs] of [["EtcdStandaloneRestore", f.provider], ["raw", f.raw]] as const) {
      if (runs.length === 0) continue;
      const rate = stats(runs.map((y) => y.writesPerSec));
      const lagE = stats(runs.map((y) => y.lagEntries.median));
      const lagEMax = Math.max(...runs.map((y) => y.lagEntries.max));
      const lagM = stats(runs.map((y) => y.lagMs.median));
      const lagMMax = Math.max(...runs.map((y) => y.lagMs.max));
      const cutE = stats(runs.map((y) => y.lagAtCut.entries));
      const cutM = stats(runs.map((y) => y.lagAtCut.ms));
      L.push(`| ${sizeOf(s)} | ${kind} | ${name} | ${fmtStats(rate, fmtN)} | ${fmtStats(stats(runs.map((y) => y.acked)), fmtN)} | ${fmtStats(stats(runs.map((y) => y.ackedLost)), fmtN)} | ${fmtStats(stats(runs.map((y) => y.lostMs)), fmtN)} | median ${fmtStats(lagE, fmtN)}, max ${fmtN(lagEMax)} | median ${fmtStats(lagM, fmtN)}, max ${fmtN(lagMMax)} | ${fmtStats(cutE, fmtN)} / ${fmtStats(cutM, fmtN)} | ${fmtN(beat(rate.median))} |`);
    }
  }
  const windows = r.sizes.flatMap((s) => (typeof s.failover === "object" ? s.failover.provider.map((y) => y.dataLossWindow ?? NaN) : []));
  if (windows.length) L.push("", `EtcdStandaloneRestore's own \`dataLossWindow\` output (revisions the learner had applied but the restore lacks): ${windows.map(fmtN).join(", ")}.`);

  const pv = r.preview;
  L.push("", "## 4. Steady-state preview", "");
  L.push("| what | wall time |", "| --- | --- |");
  L.push(`| \`pulumi preview\` of the converged stack program (sandbox stack, ${pv.resources} resources) | ${fmtStats(pv.converged)} |`);
  L.push(`| \`pulumi preview --refresh\` of the same (reads each resource: etcd and SSH) | ${fmtStats(pv.convergedRefresh)} |`);
  L.push(`| \`pulumi preview\` of an empty program (the engine's floor) | ${fmtStats(pv.empty)} |`);
  const added = (a: Stats | string | undefined): string =>
    typeof a === "object" && typeof pv.empty === "object" && pv.resources > 0 ? fmtS((a.median - pv.empty.median) / pv.resources) : "-";
  L.push(`| provider's added time per resource, preview: (converged - empty) / ${pv.resources} | ${added(pv.converged)} |`);
  L.push(`| provider's added time per resource, preview --refresh | ${added(pv.convergedRefresh)} |`);
  L.push(`| ratio converged / empty | ${x(ratio(pv.converged, pv.empty))} |`);
  for (const [k, v] of Object.entries(pv.peakMiB ?? {})) L.push(`| peak memory (VmHWM) of the ${k} process | ${fmtStats(v, (y) => `${y.toFixed(0)} MiB`)} |`);

  transitionsSection(r, L);

  L.push("", "## How it was measured", "");
  L.push(
    "- Data: Kubernetes-shaped keys `/registry/etcd-standby.bench/pods/<namespace>/<name>` (where a custom resource's objects live; not `pods`, which the sandbox's three kube-apiservers, on the same cores and memory, would cache and decode: about 4 GB each at 600 MB) with 1-4 KB JSON pod values, written through site A's voters (several etcd3 clients in parallel) until the leader's db reached the size. Each size, and each failover run, on a freshly built sandbox (master3's voter removed and its RKE containers cleaned first, as the seed does). The data is written once per size on a sandbox of the same shape, every member's data dir saved (`sandbox.sh save-etcd`, all members stopped first), and copied into each fresh sandbox's four data dirs before its members first start (`ETCD_STANDBY_ETCD_DATA`): etcd derives member and cluster IDs from the names, peer URLs and token, so the members restart as that cluster; each copy is checked (member IDs, key count, db size). `--fill-each` fills every sandbox instead.",
    "- Power-off: `sandbox.sh power-off A` SIGKILLs every process of site A's hosts; the kernel of their network namespaces lives on and answers with TCP resets, so a probe of a site-A address fails at once. With `--blackhole` each site-A namespace first gets iptables rules that drop every packet in and out (ARP still answers), so the FINs of the killed sockets never leave and every later packet goes unanswered: connects and requests run into their own timeouts, as with a site that lost power behind its router. `power-on A` lifts it.",
    "- EtcdLearner create: the provider's implementation called directly with `catchUpThreshold: 0`, from the call to its return (preflight, member add, docker run, polling until the learner's applied index reaches the leader's). Deleted between runs (data dir archived). Its preflight's image check reads the image's etcd version in a throwaway container once per image ID and host, and the host keeps it (`/var/lib/etcd-standby/image-versions`): each size's fresh sandbox starts without it, so the first run reads it in a container and the later runs from the host's file.",
    "- Raw catch-up: Debian's etcdctl 3.4 `member add --learner`, the same `docker run` (same image and flags, `--initial-cluster` from member add's output) over OpenSSH, then `etcdctl endpoint status` every 100 ms until the learner's applied index reaches the leader's raft index. Runs interleaved with the provider's.",
    "- Failover: a caught-up learner on master3; the paced writer puts pods through site A's voters while a sampler asks the voters and the learner for their status every 50 ms; then `sandbox.sh power-off A` (SIGKILL of every site-A process; with `--blackhole` after its addresses go silent). The procedure starts as soon as the power-off returns (no detection time counted). RTO ends at the first `etcdctl put` acknowledged by the restored one-member cluster on master3, polled from the end of the power-off on, beside either procedure (one put at a time, 50 ms after a failure; a dial gives up after 300 ms, a request that reached a member waits up to 5 s), so a write that lands before the procedure returns counts when it lands. Before the cut, in each provider run, EtcdStandaloneRestore's create is called once while site A still answers, under the writer (in its own process too): its guard must refuse and leave the learner running as a learner (the refusal time is the call's own). EtcdStandaloneRestore: its create called in a Node process of its own, loaded before the cut (as Pulumi's dynamic-provider process runs it; the writer and samplers run in the bench's process), its time the call's own (split-brain guard, record, graceful stop, restore, start, verification). Raw: one OpenSSH script with the seed's commands (the image's etcd version, which picks etcdctl or etcdutl, read before the cut: an operator knows it): `docker stop`, `etcdctl snapshot restore .../member/snap/db --skip-hash-check` with a new name and token, `docker run` of etcd with `--initial-cluster-state=new` (the same tool and command line as the provider's); no guard and no verification.",
    "- RPO: the acknowledged puts absent from the restored cluster (read with etcdctl), and the time from the earliest such acknowledgement to the last acknowledgement the old cluster gave. A learner does not vote, so the voters acknowledge writes it has not received yet: what was in flight to it at the cut (its lag) can be lost, and nothing it had applied may be (`dataLossWindow`). Lag: the leader's committed index minus the learner's applied index in each sample; in ms, how long before the sample the leader had committed what the learner had applied (interpolated between the two leader samples around that moment, 50 ms apart).",
    "- `pulumi up` in failover mode: the stack program of `stacks/` on the sandbox config, converged to learner-standby first, then site A powered off, `topology.mode` set to `failover`, and `pulumi up` timed; EtcdStandaloneRestore's share is its `failoverReport.phaseMs.total` (its phases overlap).",
    "- Transitions (section 5): per run and procedure one fresh sandbox from the size's kept data, taken by the stack program to learner-standby (`pulumi up`), where the drill runs under a paced writer on site A; then the learner caught up, site A powered off (the failover figures' kind), `pulumi up` in failover mode, `power-on A --isolated`, site A's old cluster seen serving, `pulumi up` (fences it), `reconnect A`: the fenced resting point. From there rebuild, and from the rebuild's resting point fail back, each timed as a whole: the provider's `pulumi up` (engine events streamed with `--json`, each stamped as it arrives: a step runs from its resource's pre event to its outputs event, and EtcdLearner's progress lines split its step into preflight, member add and start + catch-up), or the raw steps scripted with Debian's etcdctl and OpenSSH (the provider's image and etcd flags). The raw fail back starts from the raw rebuild's resting point (the same members, names, containers and data dirs; the provider's rebuild also re-pointed master3's kube-apiserver). The drill: EtcdRestoreDrill's create called directly (the stack declares none), or the raw steps; the raw side does not wait for the learner to catch up before restoring, so its absence is polled beside it and reported, not counted in its wall time.",
    "- Preview: wall time of the `pulumi` process, local file backend, the stack program on the sandbox config after `pulumi up` converged it; the empty program only loads `@pulumi/pulumi`. Peak memory: each process's VmHWM from procfs, polled every 50 ms.",
  );
  return `${L.join("\n")}\n`;
}


/** How each transition is named in the tables. */
const TRANSITION_LABEL: Record<TransitionKind, string> = { rebuild: "rebuild", failback: "fail back", drill: "drill" };

/** What each side runs, and what the raw steps leave out that the provider does. */
const TRANSITION_TEXT: Record<TransitionKind, { provider: string; raw: string; omits: string }> = {
  rebuild: {
    provider: "`pulumi up` in `rebuild` mode from the fenced failover resting point",
    raw: "per site-A etcd host, one at a time: stop and rename its old `etcd`, move `/var/lib/etcd` aside, `etcdctl member add --learner`, `docker run` of etcd with `--initial-cluster-state=existing` (the provider's learner flags, RKE's names and paths), `endpoint status` every 100 ms until it has applied the leader's index, `member promote` (retried while \"not in sync\")",
    omits: "the provider's preflight of each host and of the cluster (lineage of the old container, TLS files and certificate, image version, free slot, quorum at each step), the cluster lock, the rollback of a learner that fails to start, re-pointing master3's kube-apiserver at every new voter once the last host votes, and the engine's own work (program, state, refresh of the stack's other resources)",
  },
  failback: {
    provider: "`pulumi up` in `failback` mode from the rebuild's resting point",
    raw: "`etcdctl move-leader` when master3 leads, `member remove new-cluster`, stop and rename master3's restored `etcd`, move `/var/lib/etcd-restored` and the old learner's data dir aside (the old `etcd-learner` container renamed), `member add --learner`, `docker run` of the learner, `endpoint status` until it has applied the leader's index",
    omits: "every Kubernetes step: re-creating each kube-apiserver with `--etcd-servers` at site A's voters and restart policy `always`, one host at a time, each checked by `/readyz`; node2's nginx-proxy `CP_HOSTS`; restarting site A's controller manager, scheduler, kubelet, kube-proxy and `etcd-rolling-snapshots` (KubeRestart); stopping master3's `etcd-rolling-snapshots` and archiving the restore's record; the checks (name and peer URL, quorum, the cluster ID the learner joins) and the cluster lock",
  },
  drill: {
    provider: "EtcdRestoreDrill's create on learner-standby, a paced writer on site A",
    raw: "`docker stop` the learner, `cp` its `member/snap/db`, `docker start` it, `etcdctl snapshot restore --skip-hash-check` (the provider's tool and flags, in a throwaway container) into a scratch folder, `docker run` of a one-member scratch etcd on 127.0.0.1:12379/12380 until it answers `endpoint status` as its own leader, read its revision and key count, `docker rm -f` it and the folder",
    omits: "the preflight (learner caught up, voters healthy, ports, disk room, image able to open the data), the record of the learner's revision and key count before the stop, waiting for the learner to catch up again before restoring (its absence is reported either way), the verification (one member, the same key count at the recorded revision, a probe write), the leftovers of a killed drill, the cluster lock",
  },
};

/** Section 5: rebuild, fail back and the drill, provider against raw, with phases and what the raw side omits. */
function transitionsSection(r: Report, L: string[]): void {
  if (!r.sizes.some((s) => s.transitions !== undefined)) return;
  L.push("", "## 5. Transitions after a failover, and the drill: the provider against the raw etcdctl steps it replaces", "");
  L.push(`Each run from its own fresh sandbox of the size (site A powered off with \`${kindsOf(r)[0]}\` for the failover that precedes rebuild and fail back). Wall time median (min to max); ratio provider / raw of the medians; difference provider - raw (lowest to highest of the paired runs).${r.drillWriter ? ` During the drill a paced writer puts ${r.drillWriter.rate} pods/s through site A's voters (${r.drillWriter.clients} clients).` : ""}`, "");
  L.push("| db size | transition | provider | raw steps | ratio | difference |", "| --- | --- | --- | --- | --- | --- |");
  const rows: [TransitionKind, string, (y: TransitionRun) => number | undefined][] = [
    ["rebuild", "rebuild: wall time", (y) => y.ms],
    ["failback", "fail back: wall time", (y) => y.ms],
    ["drill", "drill: wall time", (y) => y.ms],
    ["drill", "drill: RTO (restore + start + verify)", (y) => y.rtoMs],
    ["drill", "drill: learner absent (stop to caught up)", (y) => y.learnerAbsentMs],
  ];
  for (const s of r.sizes) {
    if (typeof s.transitions !== "object") {
      L.push(`| ${sizeOf(s)} | | ${s.transitions ?? "not measured"} | | | |`);
      continue;
    }
    for (const [t, label, f] of rows) {
      const runs = s.transitions[t];
      if (runs === undefined) continue;
      if (typeof runs === "string") {
        if (label.endsWith("wall time")) L.push(`| ${sizeOf(s)} | ${label} | ${runs} | | | |`);
        continue;
      }
      const side = (xs: TransitionRun[]): Stats | string => {
        const v = xs.map(f).filter((y): y is number => y !== undefined && Number.isFinite(y));
        return v.length ? stats(v) : "no run";
      };
      const c = compare(side(runs.provider), side(runs.raw));
      L.push(`| ${sizeOf(s)} | ${label} | ${fmtStats(side(runs.provider))} | ${fmtStats(side(runs.raw))} | ${x(c?.ratio)} | ${c ? `${fmtD(c.diffMs)} (${fmtD(c.diffMinMs)} to ${fmtD(c.diffMaxMs)})` : "-"} |`);
    }
  }
  for (const t of TRANSITIONS) {
    const text = TRANSITION_TEXT[t];
    const sized = r.sizes.map((s) => [s, transitionRuns(s, t)] as const).filter((e): e is readonly [SizeResult, { provider: TransitionRun[]; raw: TransitionRun[] }] => e[1] !== undefined);
    if (!r.sizes.some((s) => typeof s.transitions === "object" && s.transitions[t] !== undefined)) continue;
    L.push("", `### ${TRANSITION_LABEL[t][0].toUpperCase()}${TRANSITION_LABEL[t].slice(1)}`, "");
    L.push(`Provider: ${text.provider}. Raw: ${text.raw}. The raw steps leave out: ${text.omits}.`);
    if (sized.length === 0) continue;
    L.push("", "| db size | phase | provider (median) | raw (median) |", "| --- | --- | --- | --- |");
    for (const [s, runs] of sized) for (const p of phaseTable(runs)) L.push(`| ${sizeOf(s)} | ${p.phase} | ${p.provider ? fmtStats(p.provider) : "-"} | ${p.raw ? fmtStats(p.raw) : "-"} |`);
    if (t === "drill") {
      for (const [s, runs] of sized) {
        const line = (name: string, xs: TransitionRun[]): string => xs.map((y) => `${y.writes ? `${y.writes.acked} puts acknowledged and ${y.writes.failed} failed on site A` : "no writer"}, learner down ${fmtS(y.learnerDownMs ?? NaN)}${y.restored ? `, scratch cluster at revision ${y.restored.revision} with ${y.restored.keys} keys` : ""}`).map((v, i) => `${name} run ${i + 1}: ${v}`).join("; ");
        L.push("", `${sizeOf(s)}: ${[line("provider", runs.provider), line("raw", runs.raw)].filter(Boolean).join("; ")}.`);
      }
    }
  }
}
