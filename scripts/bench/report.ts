/** The benchmark report: what was measured, as JSON, and as the Markdown table a reader skims. */
import type { Stats } from "./stats";
import { fmtMB, fmtN, fmtS, fmtStats, ratio, stats } from "./stats";

/** One failover (either procedure) on a fresh sandbox, under the paced writer. */
export interface FailoverRun {
  procedure: "provider" | "raw";
  /** How long `sandbox power-off A` took (SIGKILL of every site-A process). */
  powerOffMs: number;
  /** From the end of the power-off to the first write acknowledged by the restored cluster. */
  rtoMs: number;
  /** The procedure's own time: EtcdStandaloneRestore create, or the scripted commands. */
  procedureMs: number;
  /** EtcdStandaloneRestore's phase timings (provider only). */
  phaseMs?: Record<string, number>;
  /** Revisions the learner had but the restore lacks (provider only; should be 0). */
  dataLossWindow?: number;
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
  /** `pulumi up` to learner-standby from the seed's four voters (the run's setup, timed too). */
  upLearnerStandbyMs: number;
  /** `pulumi up` in failover mode, wall time. */
  upFailoverMs: number;
  /** The sum of EtcdStandaloneRestore's phases (its own work inside that up). */
  restorePhasesMs: number;
}

/** Every figure for one database size. */
export interface SizeResult {
  targetMB: number;
  dbSizeBytes?: number;
  keys?: number;
  loadMs?: number;
  learnerCreate?: Stats | string;
  rawCatchUp?: Stats | string;
  failover?: { provider: FailoverRun[]; raw: FailoverRun[] } | string;
  stackFailover?: StackFailoverRun[] | string;
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
  sizes: SizeResult[];
  preview: PreviewResult;
}

const pick = (runs: FailoverRun[], f: (r: FailoverRun) => number): Stats | string => (runs.length ? stats(runs.map(f)) : "no run");

const x = (r: number | undefined): string => (r === undefined ? "-" : `${r.toFixed(2)}x`);
const sizeOf = (s: SizeResult): string => (s.dbSizeBytes ? fmtMB(s.dbSizeBytes) : `~${s.targetMB} MB`);

/** The figures a README quotes: the median ratios per size. */
export function headline(r: Report): { size: string; catchUp?: number; rto?: number }[] {
  return r.sizes.map((s) => {
    const f = typeof s.failover === "object" ? s.failover : undefined;
    return {
      size: sizeOf(s),
      catchUp: ratio(s.learnerCreate, s.rawCatchUp),
      rto: f ? ratio(pick(f.provider, (y) => y.rtoMs), pick(f.raw, (y) => y.rtoMs)) : undefined,
    };
  });
}

/** The Markdown report. */
export function markdown(r: Report): string {
  const m = r.machine;
  const L: string[] = [];
  const beat = (rate: number): number => (rate * r.heartbeatMs) / 1000;
  L.push("# Benchmarks on the sandbox", "");
  L.push(`Run ${r.startedAt} (commit ${m.commit}), \`${r.command}\`, ${(r.totalMs / 60000).toFixed(1)} min in all. Each figure: median of ${r.runs} runs (min to max).`, "");
  L.push(`Machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB, kernel ${m.kernel}, ${m.os}, disk ${m.disk}; Node ${m.node}, Pulumi ${m.pulumi}. All five sandbox hosts share these cores and this disk; voters: ${m.voters}; learner: ${m.learnerImage}. Between the sites: ${r.latencyMs ? `${r.latencyMs} ms each way (\`sandbox.sh latency\`, a user-space relay)` : "no added latency"}.`, "");

  L.push("## 1. Learner catch-up: EtcdLearner create vs the raw procedure (target ratio <= 1.15)", "");
  L.push("| db size (leader) | keys | EtcdLearner create | raw: member add + docker run + poll | ratio |", "| --- | --- | --- | --- | --- |");
  for (const s of r.sizes) L.push(`| ${sizeOf(s)} | ${s.keys ?? "-"} | ${fmtStats(s.learnerCreate)} | ${fmtStats(s.rawCatchUp)} | ${x(ratio(s.learnerCreate, s.rawCatchUp))} |`);

  L.push("", "## 2. Failover (RTO): site A powered off to the first write on site B (target ratio <= 1.2)", "");
  L.push("| db size | EtcdStandaloneRestore: RTO | its create call | raw: the seed's commands scripted: RTO | ratio |", "| --- | --- | --- | --- | --- |");
  for (const s of r.sizes) {
    const f = s.failover;
    if (typeof f !== "object") {
      L.push(`| ${sizeOf(s)} | ${f ?? "not measured"} | | | |`);
      continue;
    }
    const p = pick(f.provider, (y) => y.rtoMs);
    const w = pick(f.raw, (y) => y.rtoMs);
    L.push(`| ${sizeOf(s)} | ${fmtStats(p)} | ${fmtStats(pick(f.provider, (y) => y.procedureMs))} | ${fmtStats(w)} | ${x(ratio(p, w))} |`);
  }
  const phases = r.sizes.flatMap((s) => {
    if (typeof s.failover !== "object" || s.failover.provider.length === 0) return [];
    const runs = s.failover.provider;
    const keys = Object.keys(runs[0].phaseMs ?? {});
    return [`${sizeOf(s)}: ${keys.map((k) => `${k} ${fmtS(stats(runs.map((y) => Number(y.phaseMs?.[k] ?? NaN))).median)}`).join(", ")}`];
  });
  if (phases.length) L.push("", `EtcdStandaloneRestore's phases (medians): ${phases.join("; ")}.`);
  L.push("", "The full `pulumi up` in `failover` mode (stack program, site A powered off):", "");
  L.push("| db size | `pulumi up` wall time | EtcdStandaloneRestore's phases inside it | the rest: engine, program, KubeComponentsRestart, state | engine share | (setup: `pulumi up` to learner-standby) |", "| --- | --- | --- | --- | --- | --- |");
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
  L.push("| db size | procedure | achieved puts/s | acknowledged | acknowledged but lost | lost, as ms of writes | learner lag, steady (entries) | (ms) | lag at the cut (entries / ms) | one heartbeat of writes (entries) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const s of r.sizes) {
    const f = s.failover;
    if (typeof f !== "object") continue;
    for (const [name, runs] of [["EtcdStandaloneRestore", f.provider], ["raw", f.raw]] as const) {
      if (runs.length === 0) continue;
      const rate = stats(runs.map((y) => y.writesPerSec));
      const lagE = stats(runs.map((y) => y.lagEntries.median));
      const lagEMax = Math.max(...runs.map((y) => y.lagEntries.max));
      const lagM = stats(runs.map((y) => y.lagMs.median));
      const lagMMax = Math.max(...runs.map((y) => y.lagMs.max));
      const cutE = stats(runs.map((y) => y.lagAtCut.entries));
      const cutM = stats(runs.map((y) => y.lagAtCut.ms));
      L.push(`| ${sizeOf(s)} | ${name} | ${fmtStats(rate, fmtN)} | ${fmtStats(stats(runs.map((y) => y.acked)), fmtN)} | ${fmtStats(stats(runs.map((y) => y.ackedLost)), fmtN)} | ${fmtStats(stats(runs.map((y) => y.lostMs)), fmtN)} | median ${fmtStats(lagE, fmtN)}, max ${fmtN(lagEMax)} | median ${fmtStats(lagM, fmtN)}, max ${fmtN(lagMMax)} | ${fmtStats(cutE, fmtN)} / ${fmtStats(cutM, fmtN)} | ${fmtN(beat(rate.median))} |`);
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
    typeof a === "object" && typeof pv.empty === "object" ? fmtS((a.median - pv.empty.median) / pv.resources) : "-";
  L.push(`| provider's added time per resource, preview: (converged - empty) / ${pv.resources} | ${added(pv.converged)} |`);
  L.push(`| provider's added time per resource, preview --refresh | ${added(pv.convergedRefresh)} |`);
  L.push(`| ratio converged / empty | ${x(ratio(pv.converged, pv.empty))} |`);
  for (const [k, v] of Object.entries(pv.peakMiB ?? {})) L.push(`| peak memory (VmHWM) of the ${k} process | ${fmtStats(v, (y) => `${y.toFixed(0)} MiB`)} |`);

  L.push("", "## How it was measured", "");
  L.push(
    "- Data: Kubernetes-shaped keys `/registry/pods/<namespace>/<name>` with 1-4 KB JSON values, written through site A's voters until the leader's db reached the size. Each size, and each failover run, on a freshly built sandbox (master3's voter removed and its RKE containers cleaned first, as the seed does).",
    "- EtcdLearner create: the provider's implementation called directly with `catchUpThreshold: 0`, from the call to its return (preflight, member add, docker run, polling until the learner's applied index reaches the leader's). Deleted between runs (data dir archived).",
    "- Raw catch-up: Debian's etcdctl 3.4 `member add --learner`, the same `docker run` (same image and flags, `--initial-cluster` from member add's output) over OpenSSH, then `etcdctl endpoint status` every 100 ms until the learner's applied index reaches the leader's raft index. Runs interleaved with the provider's.",
    "- Failover: a caught-up learner on master3; the paced writer puts pods through site A's voters while a sampler asks the voters and the learner for their status every 50 ms; then `sandbox.sh power-off A` (SIGKILL of every site-A process). The procedure starts as soon as the power-off returns (no detection time counted). RTO ends at the first `etcdctl put` acknowledged by the restored one-member cluster on master3 (polled every 50 ms). EtcdStandaloneRestore: its create called directly (split-brain guard, record, graceful stop, restore, start, verification). Raw: one OpenSSH script with the seed's commands: `docker stop`, `etcdctl snapshot restore .../member/snap/db --skip-hash-check` with a new name and token, `docker run` of etcd with `--initial-cluster-state=new` (the same tool and command line as the provider's); no guard and no verification.",
    "- RPO: the acknowledged puts absent from the restored cluster (read with etcdctl), and the time from the earliest such acknowledgement to the last acknowledgement the old cluster gave. A learner does not vote, so the voters acknowledge writes it has not received yet: what was in flight to it at the cut (its lag) can be lost, and nothing it had applied may be (`dataLossWindow`). Lag: the leader's committed index minus the learner's applied index in each sample; in ms, how long before the sample the leader had committed what the learner had applied (interpolated between the two leader samples around that moment, 50 ms apart).",
    "- `pulumi up` in failover mode: the stack program of `stacks/` on the sandbox config, converged to learner-standby first, then site A powered off, `topology.mode` set to `failover`, and `pulumi up` timed; EtcdStandaloneRestore's share is the sum of its `failoverReport.phaseMs`.",
    "- Preview: wall time of the `pulumi` process, local file backend, the stack program on the sandbox config after `pulumi up` converged it; the empty program only loads `@pulumi/pulumi`. Peak memory: each process's VmHWM from procfs, polled every 50 ms.",
  );
  return `${L.join("\n")}\n`;
}
