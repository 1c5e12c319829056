/**
 * Benchmarks on the sandbox (not part of `npm test`):
 *   npm run bench [-- --large] [--runs N] [--sizes 10,100] [--only learner|failover|stack|preview]
 *                 [--rate 1000] [--clients 64] [--steady-ms 10000] [--latency 1]
 *
 * For each database size (about 10 MB and 100 MB of Kubernetes-shaped keys,
 * 1 GB more with --large):
 *  1. learner catch-up: EtcdLearner create against the raw procedure
 *     (scripts/bench/raw.ts), runs interleaved on one sandbox;
 *  2. failover RTO: EtcdStandaloneRestore against the seed's commands
 *     scripted, each run on a fresh sandbox cut by a power-off of site A;
 *     and the full `pulumi up` in failover mode with the provider's share;
 *  3. RPO under a paced write load (64 clients, 1,000 puts/s), with the
 *     learner's lag sampled in steady state, for both procedures;
 * and once, on the first size: 4. steady-state `pulumi preview` of the
 * converged stack against an empty program's, with peak memory.
 *
 * Every sandbox gets --latency ms (default 1) each way between the sites, as
 * the seed's two data centres are about a millisecond apart.
 * Each figure is the median of --runs runs (default 3) with min and max.
 * Writes bench/results/latest.json and latest.md. Needs root; takes the
 * sandbox down before and after.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Props } from "../provider/impl/common";
import { provider as cleanup } from "../provider/impl/containerCleanup";
import { provider as learner } from "../provider/impl/learner";
import { provider as removal } from "../provider/impl/memberRemoval";
import { provider as restore } from "../provider/impl/standaloneRestore";
import { clusterProps, hostProps, voterEndpoints } from "../test/support/fixtures";
import { loadKubeShaped } from "../test/support/load";
import type { LoadTarget } from "../test/support/load";
import { makeWorkspace, pulumi, removeWorkspace, sandboxStackWorkspace } from "../test/support/pulumi";
import { describe as describeSandbox, endpointStatuses, endpointsHealthy, etcdctl, memberList, ROOT, sandbox } from "../test/support/sandbox";
import type { SandboxDescription } from "../test/support/sandbox";
import { waitFor } from "../test/support/wait";
import { withPeakMemory } from "./bench/memory";
import type { Watched } from "./bench/memory";
import { rawCatchUp, rawFailover } from "./bench/raw";
import { headline, markdown } from "./bench/report";
import type { FailoverRun, PreviewResult, Report, SizeResult, StackFailoverRun } from "./bench/report";
import { fmtMB, stats } from "./bench/stats";
import { lagSampler, lags, pacedWriter } from "./bench/traffic";

const M3 = "https://10.250.0.103:2380";
const M3_CLIENT = "https://10.250.0.103:2379";
const RESULTS = path.join(ROOT, "bench", "results");
const HEARTBEAT_MS = 500;

/** The command line's settings. */
interface Options {
  runs: number;
  sizes: number[];
  only: string;
  rate: number;
  clients: number;
  steadyMs: number;
  /** Added between the sites, each way (`sandbox.sh latency`). */
  latencyMs: number;
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await f();
  return Date.now() - t0;
}

/** Runs `f` with the provider's progress lines (console.log) silenced. */
async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = (): void => undefined;
  try {
    return await f();
  } finally {
    console.log = original;
  }
}

// ------------------------------------------------------------ sandbox ----

const siteA = (d: SandboxDescription): string[] => voterEndpoints(d, ["master3"]);

function target(d: SandboxDescription, endpoints = siteA(d)): LoadTarget {
  return { endpoints, caFile: d.etcd.caFile, certFile: d.etcd.certFile, keyFile: d.etcd.keyFile };
}

/** A freshly built sandbox: the seed's four started, healthy voters, `latencyMs` apart (each way). */
async function freshSandbox(latencyMs: number): Promise<SandboxDescription> {
  await sandbox(["down"]);
  await sandbox(["up"]);
  if (latencyMs > 0) await sandbox(["latency", String(latencyMs)]);
  const d = describeSandbox();
  await waitFor(async () => (await memberList(d)).every((m) => m.name !== "") && (await endpointsHealthy(d, d.etcd.endpoints)), { timeoutMs: 90_000, what: "four healthy voters" });
  return d;
}

/** A fresh sandbox with master3's voter removed and its RKE containers cleaned, as the seed starts. */
async function freshSeed(latencyMs: number): Promise<SandboxDescription> {
  const d = await freshSandbox(latencyMs);
  await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3" });
  await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, siteA(d)) });
  return d;
}

/** Writes Kubernetes-shaped objects in chunks until the leader's database is at least `mb` MB. */
async function fillTo(d: SandboxDescription, mb: number, endpoints = siteA(d)): Promise<{ keys: number; ms: number; dbSize: number }> {
  const t0 = Date.now();
  let keys = 0;
  const chunk = Math.max(1e6, Math.min(20e6, (mb * 1e6) / 10));
  for (let i = 0; ; i++) {
    const db = Math.max(0, ...(await endpointStatuses(d, endpoints)).map((s) => s.dbSize));
    if (db >= mb * 1e6) return { keys, ms: Date.now() - t0, dbSize: db };
    keys += (await loadKubeShaped(target(d, endpoints), chunk, { tag: `bench${i}`, seed: 1000 + i })).keys;
  }
}

const learnerInputs = (d: SandboxDescription): Props => ({
  cluster: clusterProps(d, siteA(d)),
  host: hostProps(d, "master3"),
  memberName: "learner1",
  peerURL: M3,
  clientURL: M3_CLIENT,
  image: d.etcd.images["v3.5"],
  catchUpThreshold: 0,
  timeoutMs: 1_800_000,
});

const restoreInputs = (d: SandboxDescription): Props => ({
  host: hostProps(d, "master3"),
  cluster: clusterProps(d, siteA(d)),
  learner: { memberName: "learner1", peerURL: M3, clientURL: M3_CLIENT },
  image: d.etcd.images["v3.5"],
  oldVoterEndpoints: siteA(d),
  timeoutMs: 1_800_000,
});

// ---------------------------------------------------- 1. catch-up ----

/** EtcdLearner create until caught up (lag 0); returns ms. The learner is deleted afterwards. */
async function providerCatchUp(d: SandboxDescription): Promise<number> {
  const inputs = learnerInputs(d);
  const ms = await timed(() => quietly(() => learner.create(inputs)));
  await quietly(() => learner.delete("learner-learner1", inputs));
  return ms;
}

// ---------------------------------------------- 2 and 3. failover ----

/** The keys under /registry/pods/ on an endpoint (serializable read). */
async function podKeys(d: SandboxDescription, endpoint: string): Promise<Set<string>> {
  const r = await etcdctl(d, [`--endpoints=${endpoint}`, "get", "/registry/pods/", "--prefix", "--keys-only", "--consistency=s"], { timeoutMs: 300_000 });
  return new Set(r.stdout.split("\n").filter(Boolean));
}

/**
 * One failover on a freshly built sandbox of `mb` MB with a caught-up
 * learner: the paced writer and the lag sampler run for the steady window,
 * site A is powered off, and `procedure` restores site B; RTO ends at the
 * first write the restored cluster acknowledges.
 */
async function failoverOnce(mb: number, procedure: "provider" | "raw", o: Options, tag: string): Promise<FailoverRun> {
  const d = await freshSeed(o.latencyMs);
  await fillTo(d, mb);
  await quietly(() => learner.create(learnerInputs(d)));
  const writer = pacedWriter(target(d), { rate: o.rate, clients: o.clients, tag });
  const sampler = lagSampler(target(d), siteA(d), M3_CLIENT);
  await sleep(o.steadyMs);
  const ackedBeforeCut = writer.acked.size;
  const cutAt = Date.now();
  await sandbox(["power-off", "A"]);
  const offAt = Date.now();
  const stopped = Promise.all([writer.stop(), sampler.stop()]);
  let phaseMs: Record<string, number> | undefined;
  let dataLossWindow: number | undefined;
  const procedureMs = await timed(async () => {
    if (procedure === "raw") return rawFailover(d, "master3", restoreInputs(d));
    const outs = (await quietly(() => restore.create(restoreInputs(d)))).outs;
    phaseMs = outs.phaseMs as Record<string, number>;
    dataLossWindow = Number(outs.dataLossWindow);
  });
  await waitFor(async () => (await etcdctl(d, [`--endpoints=${M3_CLIENT}`, "put", "/registry/bench/first-write", String(Date.now())], { allowFailure: true, timeoutMs: 5000 })).code === 0, { timeoutMs: 300_000, intervalMs: 50, what: "a write on the restored cluster" });
  const rtoMs = Date.now() - offAt;
  await stopped;
  const restored = await podKeys(d, M3_CLIENT);
  const lost = [...writer.acked].filter(([k]) => !restored.has(k));
  const steady = sampler.samples.filter((s) => s.at < cutAt);
  const lag = lags(steady);
  const last = lag[lag.length - 1] ?? { entries: NaN, ms: NaN };
  return {
    procedure,
    powerOffMs: offAt - cutAt,
    rtoMs,
    procedureMs,
    phaseMs,
    dataLossWindow,
    writesPerSec: (ackedBeforeCut * 1000) / (cutAt - writer.startedAt),
    acked: writer.acked.size,
    ackedLost: lost.length,
    // The last acknowledgement the old cluster gave marks the power cut (acks still arrive while power-off runs).
    lostMs: lost.length ? Math.max(...writer.acked.values()) - Math.min(...lost.map(([, at]) => at)) : 0,
    lagEntries: stats(lag.map((l) => l.entries)),
    lagMs: stats(lag.map((l) => l.ms).filter(Number.isFinite)),
    lagAtCut: last,
  };
}

/** The stack program: `pulumi up` to learner-standby, site A powered off, then `pulumi up` in failover mode. */
async function stackFailoverOnce(mb: number, latencyMs: number): Promise<StackFailoverRun> {
  const d = await freshSandbox(latencyMs);
  await fillTo(d, mb, d.etcd.endpoints);
  const ws = await sandboxStackWorkspace("bench-failover", d.etcd.keyFile);
  try {
    const up = (): Promise<number> => timed(() => pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 1_800_000 }));
    const upLearnerStandbyMs = await up();
    await waitFor(async () => {
      const st = await endpointStatuses(d, [M3_CLIENT, siteA(d)[0]]);
      return st.length === 2 && st[0].applied >= st[1].raftIndex;
    }, { timeoutMs: 600_000, intervalMs: 100, what: "the stack's learner to catch up" });
    await sandbox(["power-off", "A"]);
    await pulumi(ws, ["config", "set", "topology.mode", "failover", "--stack", "sandbox"]);
    const upFailoverMs = await up();
    const out = JSON.parse((await pulumi(ws, ["stack", "output", "failoverReport", "--json", "--stack", "sandbox"])).stdout) as { phaseMs: Record<string, number> };
    const restorePhasesMs = Object.values(out.phaseMs).reduce((a, b) => a + b, 0);
    return { upLearnerStandbyMs, upFailoverMs, restorePhasesMs };
  } finally {
    removeWorkspace(ws);
  }
}

// ------------------------------------------------------ 4. preview ----

/** Process kinds whose peak memory a preview reports. */
const WATCHED: Watched[] = [
  { name: "program (Node: the stack program)", matches: (cl) => cl.includes("cmd/run") && cl.includes("node") },
  { name: "dynamic provider (Node)", matches: (cl) => cl.includes("cmd/dynamic-provider") },
  { name: "engine (pulumi CLI)", matches: (cl) => /(^|\/)pulumi preview /.test(cl) },
];

/** Steady-state preview of the converged stack program, with and without --refresh, and of an empty program. */
async function previews(d: SandboxDescription, runs: number): Promise<PreviewResult> {
  const out: PreviewResult = { resources: 3 };
  const ws = await sandboxStackWorkspace("bench-preview", d.etcd.keyFile);
  try {
    const upMs = await timed(() => pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 1_800_000 }));
    log(`stack converged (pulumi up) in ${upMs} ms`);
    const plain: number[] = [];
    const refresh: number[] = [];
    const peaks: Record<string, number[]> = {};
    for (let i = 0; i < runs; i++) {
      const { result, peakMiB } = await withPeakMemory(WATCHED, () => timed(() => pulumi(ws, ["preview", "--expect-no-changes", "--stack", "sandbox"])));
      plain.push(result);
      for (const [k, v] of Object.entries(peakMiB)) (peaks[k] ??= []).push(v);
      refresh.push(await timed(() => pulumi(ws, ["preview", "--refresh", "--expect-no-changes", "--stack", "sandbox"])));
    }
    out.converged = stats(plain);
    out.convergedRefresh = stats(refresh);
    out.peakMiB = Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, stats(v)]));
  } catch (e) {
    out.converged = `failed: ${errorText(e)}`;
  } finally {
    removeWorkspace(ws);
  }
  const empty = makeWorkspace("bench-empty");
  try {
    fs.writeFileSync(path.join(empty.dir, "Pulumi.yaml"), "name: empty\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n");
    fs.writeFileSync(path.join(empty.dir, "package.json"), JSON.stringify({ name: "empty", private: true }));
    fs.writeFileSync(path.join(empty.dir, "index.js"), 'require("@pulumi/pulumi");\n');
    await pulumi(empty, ["stack", "init", "test"]);
    await pulumi(empty, ["up", "--yes", "--skip-preview"]);
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) xs.push(await timed(() => pulumi(empty, ["preview", "--expect-no-changes"])));
    out.empty = stats(xs);
  } catch (e) {
    out.empty = `failed: ${errorText(e)}`;
  } finally {
    removeWorkspace(empty);
  }
  return out;
}

// ------------------------------------------------------------ main ----

function machine(): Record<string, string | number> {
  const sh = (argv: string[]): string => {
    try {
      return execFileSync(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      return "?";
    }
  };
  return {
    cpus: Number(sh(["nproc"])),
    cpuModel: os.cpus()[0]?.model ?? "?",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: sh(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
    disk: sh(["sh", "-c", "df -h --output=source,fstype,size /srv | tail -1 | tr -s ' '"]),
    node: process.version,
    pulumi: sh(["pulumi", "version"]),
    voters: "etcd 3.4.23 (Debian) x3 in site A",
    learnerImage: "etcd 3.5 (built from go.etcd.io/etcd/server/v3)",
    commit: sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
  };
}

function options(args: string[]): Options {
  const value = (flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const num = (flag: string, dflt: number): number => {
    const v = Number(value(flag) ?? dflt);
    if (!(v > 0)) throw new Error(`${flag} takes a positive number`);
    return v;
  };
  const sizes = (value("--sizes") ?? "10,100").split(",").map(Number).filter((x) => x > 0);
  if (args.includes("--large")) sizes.push(1000);
  const only = value("--only") ?? "";
  if (only && !["learner", "failover", "stack", "preview"].includes(only)) throw new Error("--only takes learner, failover, stack or preview");
  const latencyMs = Number(value("--latency") ?? 1);
  if (!Number.isInteger(latencyMs) || latencyMs < 0) throw new Error("--latency takes whole milliseconds (0: none)");
  return { runs: num("--runs", 3), sizes, only, rate: num("--rate", 1000), clients: num("--clients", 64), steadyMs: num("--steady-ms", 10_000), latencyMs };
}

/** Runs `f` for one figure; a failure becomes the figure's text, and the run goes on. */
async function figure<T>(what: string, f: () => Promise<T>): Promise<T | string> {
  try {
    return await f();
  } catch (e) {
    const full = e instanceof Error ? e.message : String(e);
    log(`${what} failed: ${full.length > 6000 ? `${full.slice(0, 2000)}\n...\n${full.slice(-4000)}` : full}`);
    return `failed: ${errorText(e)}`;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const o = options(args);
  const wants = (part: string): boolean => o.only === "" || o.only === part;
  const started = Date.now();
  const report: Report = {
    machine: machine(),
    command: `npm run bench -- ${args.join(" ")}`.trim(),
    startedAt: new Date().toISOString(),
    totalMs: 0,
    runs: o.runs,
    writer: { rate: o.rate, clients: o.clients, steadyMs: o.steadyMs },
    heartbeatMs: HEARTBEAT_MS,
    latencyMs: o.latencyMs,
    sizes: [],
    preview: { resources: 3 },
  };
  for (const size of o.sizes) {
    const res: SizeResult = { targetMB: size };
    report.sizes.push(res);
    if (wants("learner") || (wants("preview") && size === o.sizes[0])) {
      const done = await figure(`~${size} MB catch-up`, async () => {
        log(`~${size} MB: fresh sandbox, seed steps, data`);
        const d = await freshSeed(o.latencyMs);
        const load = await fillTo(d, size);
        Object.assign(res, { dbSizeBytes: load.dbSize, keys: load.keys, loadMs: load.ms });
        log(`~${size} MB: ${load.keys} keys, db ${fmtMB(load.dbSize)}, written in ${load.ms} ms`);
        if (wants("learner")) {
          const p: number[] = [];
          const raw: number[] = [];
          for (let i = 0; i < o.runs; i++) {
            p.push(await providerCatchUp(d));
            raw.push(await rawCatchUp(d, learnerInputs(d), siteA(d)));
            log(`~${size} MB catch-up ${i + 1}: EtcdLearner ${p[i]} ms, raw ${raw[i]} ms`);
          }
          res.learnerCreate = stats(p);
          res.rawCatchUp = stats(raw);
        }
        if (wants("preview") && size === o.sizes[0]) {
          log("preview: converged stack vs empty program");
          report.preview = await previews(d, o.runs);
        }
      });
      if (typeof done === "string" && res.learnerCreate === undefined) res.learnerCreate = done;
    }
    if (wants("failover")) {
      res.failover = await figure(`~${size} MB failover`, async () => {
        const runs: { provider: FailoverRun[]; raw: FailoverRun[] } = { provider: [], raw: [] };
        for (let i = 0; i < o.runs; i++) {
          for (const p of ["provider", "raw"] as const) {
            const r = await failoverOnce(size, p, o, `rpo${i}${p[0]}`);
            runs[p].push(r);
            log(`~${size} MB failover ${i + 1} (${p}): RTO ${r.rtoMs} ms (procedure ${r.procedureMs} ms), ${r.writesPerSec.toFixed(0)} puts/s, ${r.ackedLost} of ${r.acked} acknowledged lost, lag at cut ${r.lagAtCut.entries} entries / ${r.lagAtCut.ms} ms`);
          }
        }
        return runs;
      });
    }
    if (wants("stack") || wants("failover")) {
      res.stackFailover = await figure(`~${size} MB stack failover`, async () => {
        const runs: StackFailoverRun[] = [];
        for (let i = 0; i < o.runs; i++) {
          runs.push(await stackFailoverOnce(size, o.latencyMs));
          log(`~${size} MB pulumi up failover ${i + 1}: ${runs[i].upFailoverMs} ms, restore phases ${runs[i].restorePhasesMs} ms`);
        }
        return runs;
      });
    }
  }
  await sandbox(["down"]);
  report.totalMs = Date.now() - started;
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, "latest.json"), `${JSON.stringify({ ...report, headline: headline(report) }, null, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS, "latest.md"), markdown(report));
  process.stdout.write(markdown(report));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
