/**
 * Benchmarks on the sandbox (not part of `npm test`):
 *   npm run bench [-- --large] [--runs N] [--sizes 10,100] [--only learner|failover|stack|preview|transitions|data]
 *                 [--rate 1000] [--clients 64] [--steady-ms 10000] [--latency 1]
 *                 [--power-off blackhole|kill|both] [--snapshot-interval 300]
 *                 [--out DIR] [--data-dir DIR] [--fill-clients 4] [--fill-each] [--rebuild-data]
 *
 * For each database size (about 10 MB and 100 MB of Kubernetes-shaped keys,
 * 1 GB more with --large):
 *  1. learner catch-up: EtcdLearner create against the raw procedure
 *     (scripts/bench/raw.ts), runs interleaved on one sandbox;
 *  2. failover RTO: EtcdStandaloneRestore against the seed's commands
 *     scripted, each run on a fresh sandbox cut by a power-off of site A
 *     (`--blackhole` by default: its addresses go silent, callers time out;
 *     `kill`: its processes die and its addresses refuse at once; `both`);
 *     and the full `pulumi up` in failover mode with the provider's share;
 *  3. RPO under a paced write load (64 clients, 1,000 puts/s), with the
 *     learner's lag sampled in steady state, for both procedures;
 * and once, on the first size: 4. steady-state `pulumi preview` of the
 * converged stack against an empty program's, with peak memory;
 *  5. with --only transitions (its own report: --out bench/results/transitions):
 *     the transitions after a failover, and the drill: rebuild and fail back
 *     (`pulumi up` of the stack program) and EtcdRestoreDrill against the raw
 *     etcdctl/docker steps they replace, one fresh sandbox per procedure and
 *     run (scripts/bench/transitions.ts).
 * `--only data` builds (or checks) each size's data and times one fresh
 * sandbox started from it, nothing else.
 *
 * Data: each size is written once (several clients in parallel) on a sandbox
 * of the same shape, every member's data dir is kept (--data-dir, default
 * ETCD_STANDBY_BENCH_DATA or the machine's build cache) and copied into each
 * fresh sandbox before its members start (scripts/bench/data.ts says why that
 * is the same cluster). --fill-each fills every fresh sandbox instead;
 * --rebuild-data writes the kept data again.
 *
 * Every sandbox gets --latency ms (default 1) each way between the sites, as
 * the seed's two data centres are about a millisecond apart, and RKE's
 * rolling snapshots every --snapshot-interval s (default 300; the sandbox's
 * own default, 30 s, would snapshot a 1 GB db on four hosts twice a minute).
 * Each figure is the median of --runs runs (default 3) with min and max.
 * Writes latest.json and latest.md to --out (default ETCD_STANDBY_BENCH_OUT,
 * else bench/results). Needs root; takes the sandbox down before and after.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Props } from "../provider/impl/common";
import { provider as cleanup } from "../provider/impl/containerCleanup";
import { provider as learner } from "../provider/impl/learner";
import { provider as removal } from "../provider/impl/memberRemoval";
import type { EtcdVersion } from "../provider/lib/versions";
import { learnerSettings } from "../provider/impl/learnerConfig";
import { restoreSettings } from "../provider/impl/restore/settings";
import { clusterProps, hostProps, voterEndpoints } from "../support/fixtures";
import type { LoadTarget } from "../support/load";
import { makeWorkspace, pulumi, removeWorkspace, sandboxStackWorkspace } from "../support/pulumi";
import { describe as describeSandbox, endpointStatuses, endpointsHealthy, etcdctl, memberList, ROOT, sandbox, ssh } from "../support/sandbox";
import type { SandboxDescription } from "../support/sandbox";
import { waitFor } from "../support/wait";
import { buildData, checkSeeded, defaultDataDir, fillTo, folderFor, loadTarget, readManifest, seedTimesMs } from "./bench/data";
import type { DataManifest } from "./bench/data";
import { withPeakMemory } from "./bench/memory";
import type { Watched } from "./bench/memory";
import { imageVersion, rawCatchUp, rawFailover } from "./bench/raw";
import { headline, markdown, POWER_OFF_KINDS, TRANSITIONS } from "./bench/report";
import type { DataResult, FailoverRun, PowerOffKind, PreviewResult, Report, SizeResult, StackFailoverRun, TransitionKind, TransitionRun } from "./bench/report";
import { fmtMB, fmtS, stats } from "./bench/stats";
import { lagSampler, lags, pacedWriter } from "./bench/traffic";
import { DRILL_WRITER, transitionChain } from "./bench/transitions";
import { errorText, log, powerOffArgs, providerProcess, quietly, sleep, timed } from "./bench/util";

const M3 = "https://10.250.0.103:2380";
const M3_CLIENT = "https://10.250.0.103:2379";
const RESULTS = path.join(ROOT, "bench", "results");
const HEARTBEAT_MS = 500;
const PARTS = ["learner", "failover", "stack", "preview", "transitions", "data"];

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
  /** How site A is powered off for the failover figures, the first kind first. */
  powerOff: PowerOffKind[];
  /** Seconds between RKE's rolling snapshots (ETCD_STANDBY_SNAPSHOT_INTERVAL at `sandbox.sh up`). */
  snapshotIntervalS: number;
  /** Where latest.json and latest.md go. */
  out: string;
  /** Where each size's data is kept between runs. */
  dataDir: string;
  /** Clients writing in parallel when data is written. */
  fillClients: number;
  /** Fill every fresh sandbox instead of copying kept data into it. */
  fillEach: boolean;
  /** Write the kept data again even when it is there. */
  rebuildData: boolean;
}

// ------------------------------------------------------------ sandbox ----

const siteA = (d: SandboxDescription): string[] => voterEndpoints(d, ["master3"]);

function target(d: SandboxDescription, endpoints = siteA(d)): LoadTarget {
  return loadTarget(d, endpoints);
}

/** Each size's data: where it comes from, and what building and copying it cost in this run. */
class SizeData {
  manifest?: DataManifest;
  built = false;
  readonly seedMs: number[] = [];
  readonly upMs: number[] = [];
  readonly snapshotMs: number[] = [];
  /** Hosts whose rolling snapshot did not complete when a fresh sandbox asked for one (one entry per miss). */
  readonly snapshotsMissed: string[] = [];
  readonly fillEachMs: number[] = [];
  /** The last fill with --fill-each. */
  lastFill?: { keys: number; ms: number; dbSize: number };
  private buildFailed?: string;
  constructor(readonly mb: number, readonly o: Options) {}

  /** The kept data for this size, built now when missing (or asked to); undefined with --fill-each. */
  async ensure(): Promise<DataManifest | undefined> {
    if (this.o.fillEach) return undefined;
    if (this.manifest) return this.manifest;
    // one attempt per size and run: a figure after a failed build fails the same way instead of building again
    if (this.buildFailed) throw new Error(`the kept data could not be built: ${this.buildFailed}`);
    try {
      return await this.load();
    } catch (e) {
      this.buildFailed = errorText(e);
      throw e;
    }
  }

  private async load(): Promise<DataManifest> {
    const kept = this.o.rebuildData ? undefined : readManifest(this.o.dataDir, this.mb);
    if (kept) {
      log(`~${this.mb} MB: data kept in ${folderFor(this.o.dataDir, this.mb)} (filled in ${fmtS(kept.fillMs)} on ${kept.builtAt})`);
      return (this.manifest = kept);
    }
    log(`~${this.mb} MB: writing the data once (${this.o.fillClients} clients in parallel) into ${folderFor(this.o.dataDir, this.mb)}`);
    // no latency and no rolling snapshot while filling: neither changes the data, both slow the fill
    const { d } = await this.sandboxFrom(undefined, 0, { snapshotIntervalS: 86_400, record: false });
    this.manifest = await buildData(d, this.o.dataDir, this.mb, siteA(d), this.o.fillClients, (msg) => log(`~${this.mb} MB: ${msg}`));
    this.built = true;
    log(`~${this.mb} MB: ${this.manifest.keys} keys, db ${fmtMB(this.manifest.dbSize)}, filled in ${fmtS(this.manifest.fillMs)}, saved (${(this.manifest.savedBytes / 1e9).toFixed(2)} GB) in ${fmtS(this.manifest.saveMs)}`);
    return this.manifest;
  }

  /** A freshly built sandbox: the seed's four started, healthy voters, `latencyMs` apart, from `data` when given. */
  async sandboxFrom(data: DataManifest | undefined, latencyMs: number, opts = { snapshotIntervalS: this.o.snapshotIntervalS, record: true }): Promise<{ d: SandboxDescription; upMs: number }> {
    await sandbox(["down"]);
    const env: NodeJS.ProcessEnv = { ETCD_STANDBY_SNAPSHOT_INTERVAL: String(opts.snapshotIntervalS) };
    if (data) env.ETCD_STANDBY_ETCD_DATA = folderFor(this.o.dataDir, data.targetMB);
    const t0 = Date.now();
    const up = await sandbox(["up"], 1_800_000, env);
    const upMs = Date.now() - t0;
    if (data) log(`~${this.mb} MB: sandbox up from the kept data in ${fmtS(upMs)} (copies: ${seedTimesMs(up.stderr).map(fmtS).join(", ")})`);
    if (latencyMs > 0) await sandbox(["latency", String(latencyMs)]);
    const d = describeSandbox();
    await waitFor(async () => (await memberList(d)).every((m) => m.name !== "") && (await endpointsHealthy(d, d.etcd.endpoints)), { timeoutMs: 180_000, what: "four healthy voters" });
    if (data) {
      await checkSeeded(d, data, d.etcd.endpoints);
      this.seedMs.push(Math.max(0, ...seedTimesMs(up.stderr)));
      this.upMs.push(upMs);
    }
    if (opts.record) {
      const t0s = Date.now();
      const missed = await freshRollingSnapshots(d);
      this.snapshotMs.push(Date.now() - t0s);
      if (missed.length) {
        this.snapshotsMissed.push(...missed);
        log(`~${this.mb} MB: no rolling snapshot on ${missed.join(", ")} this time (etcdctl's 20 s deadline); the next comes in ${this.o.snapshotIntervalS} s`);
      }
    }
    return { d, upMs };
  }

  /** A fresh sandbox holding this size's data, written through `endpoints` (site A's voters by default) with --fill-each. */
  async fresh(endpoints?: (d: SandboxDescription) => string[]): Promise<SandboxDescription> {
    const data = await this.ensure();
    const { d } = await this.sandboxFrom(data, this.o.latencyMs);
    if (!data) await this.fill(d, (endpoints ?? siteA)(d));
    return d;
  }

  /** A fresh sandbox with master3's voter removed and its RKE containers cleaned, as the seed starts, holding the data. */
  async freshSeed(): Promise<SandboxDescription> {
    const data = await this.ensure();
    const { d } = await this.sandboxFrom(data, this.o.latencyMs);
    await removal.create({ cluster: clusterProps(d), memberName: "etcd-master3" });
    await cleanup.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, siteA(d)) });
    if (!data) await this.fill(d, siteA(d));
    return d;
  }

  private async fill(d: SandboxDescription, endpoints: string[]): Promise<void> {
    this.lastFill = await fillTo(d, this.mb, endpoints, this.o.fillClients);
    this.fillEachMs.push(this.lastFill.ms);
  }

  result(): DataResult {
    if (this.o.fillEach) return { source: "fill-each", fillEachMs: stats(this.fillEachMs), snapshotMs: stats(this.snapshotMs), snapshotsMissed: this.snapshotsMissed.length };
    const m = this.manifest;
    return {
      source: "kept",
      built: this.built,
      folder: folderFor(this.o.dataDir, this.mb),
      fillMs: m?.fillMs,
      fillClients: m?.fillClients,
      saveMs: m?.saveMs,
      savedBytes: m?.savedBytes,
      seedMs: stats(this.seedMs),
      upMs: stats(this.upMs),
      snapshotMs: stats(this.snapshotMs),
      snapshotsMissed: this.snapshotsMissed.length,
    };
  }
}

/**
 * RKE's rolling snapshots, taken now and awaited: each etcd host's
 * `etcd-rolling-snapshots` is restarted, so that its snapshot is taken now
 * and the next comes a whole interval later, not in the middle of a
 * measurement at a moment that depends on how long `up` took (the attempt it
 * makes as `up` starts it may find its member not serving yet). One host at
 * a time: RKE's container gives etcdctl 20 s, and four 1 GB snapshots at once
 * on these shared cores and disk do not make it (one alone takes about 13 s);
 * so the hosts' snapshots stay staggered, as on real nodes. A host is done
 * when it has a snapshot newer than its restart, or its attempt is over (no
 * `.part` file once etcdctl's deadlines, 2 s to dial and 20 s for the
 * command, have passed). Returns the hosts without a new snapshot.
 */
async function freshRollingSnapshots(d: SandboxDescription): Promise<string[]> {
  const missed: string[] = [];
  for (const h of d.hosts.filter((x) => x.roles.includes("etcd")).map((x) => x.name)) {
    const since = Math.floor(Date.now() / 1000);
    await ssh(d, h, "docker restart -t 5 etcd-rolling-snapshots >/dev/null");
    const fresh = await waitFor(async () => {
      const r = await ssh(d, h, "stat -c '%Y %n' /opt/rke/etcd-snapshots/* 2>/dev/null; true", { allowFailure: true });
      const files = r.stdout.split("\n").filter(Boolean).map((l) => ({ mtime: Number(l.split(" ")[0]), name: l.slice(l.indexOf(" ") + 1) }));
      if (r.code !== 0 || files.some((f) => f.name.includes(".part"))) return undefined;
      if (files.some((f) => f.name.endsWith(".db") && f.mtime >= since)) return "yes";
      return Date.now() / 1000 - since >= 25 ? "no" : undefined;
    }, { timeoutMs: 300_000, intervalMs: 500, what: `the rolling snapshot on ${h}` });
    if (fresh === "no") missed.push(h);
  }
  return missed;
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
  // As the stack's failover mode declares it (rebuild mode restarts it with the cluster's timing).
  fastFirstElection: true,
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
 * EtcdStandaloneRestore's create while site A still answers: its split-brain
 * guard must refuse (QuorumRisk) and change nothing; the learner must still
 * run as a learner afterwards. Timed from the call to the refusal.
 */
async function refusalWhileSiteAUp(d: SandboxDescription): Promise<{ refused: boolean; ms: number; message: string }> {
  // In a process of its own, as Pulumi runs it: not in the writer's event loop.
  const r = await (await providerProcess("standaloneRestore", "create", [restoreInputs(d)])).go();
  let refused = !r.ok && r.code === "QuorumRisk";
  let message = r.ok ? "created: the guard did not refuse" : (r.message ?? "").split("\n")[0].slice(0, 300);
  const ms = r.ms;
  const l = learnerSettings(learnerInputs(d));
  const state = await ssh(d, "master3", `docker inspect -f '{{.State.Running}}' ${l.containerName}`, { allowFailure: true });
  const learnerStill = (await memberList(d, siteA(d))).some((m) => m.name === l.memberName && m.isLearner);
  if (state.stdout.trim() !== "true" || !learnerStill) {
    refused = false;
    message = `the refusal changed something: ${l.containerName} on master3 running: ${state.stdout.trim() || "?"}, ${l.memberName} still a learner: ${learnerStill}; ${message}`;
  }
  log(`split-brain guard with site A up: ${refused ? "refused" : "NOT refused"} in ${ms} ms (${message.slice(0, 120)})`);
  return { refused, ms, message };
}

/**
 * The restored member's first election, from its own log: etcd fast-forwards
 * a single member's election ticks ("fast-forwarding election ticks") and it
 * then waits a random 1 to electionTicks ticks before it "became leader"
 * (0.5 to 5 s with RKE's 500/5000 ms on the raw side; 0.1 to 0.5 s with the
 * provider's fast first election). Undefined when the log does not say.
 */
async function firstElectionWait(d: SandboxDescription, hostName: string, container: string): Promise<number | undefined> {
  const r = await ssh(d, hostName, `docker logs ${container} 2>&1 | grep -E 'fast-forwarding election ticks|became leader at term' | head -n 2`, { allowFailure: true });
  const ts = (re: RegExp): number | undefined => {
    const line = r.stdout.split("\n").find((l) => re.test(l));
    const m = line && /"ts":"([^"]+)"/.exec(line);
    return m ? Date.parse(m[1]) : undefined;
  };
  const from = ts(/fast-forwarding election ticks/);
  const to = ts(/became leader at term/);
  return from !== undefined && to !== undefined && to >= from ? to - from : undefined;
}

/**
 * The first write the restored cluster at `endpoint` acknowledges, polled
 * from now on with `etcdctl put`: a new attempt 50 ms after each failure, and
 * also once the latest has been out for {@link ATTEMPT_OVERLAP_MS} without an
 * answer (it is left running: at most {@link MAX_ATTEMPTS_OUT} at a time),
 * as a fleet of clients would keep trying. A dial gives up after 300 ms (the
 * member is down: the next try comes soon); a request that reached a member
 * waits up to 5 s (a put made during the first election is acknowledged once
 * it is elected), so one request caught by the learner's shutdown (accepted,
 * never answered) no longer hides the restored member for its 5 s. `at` is
 * when the first etcdctl returned success; `stop` ends the polling (a
 * procedure that failed).
 */
function firstWriteFrom(d: SandboxDescription, endpoint: string, deadlineMs = 300_000): { at: Promise<number>; stop: () => void } {
  let stopped = false;
  const at = (async (): Promise<number> => {
    const until = Date.now() + deadlineMs;
    let acked: number | undefined;
    const out = new Set<Promise<void>>();
    while (!stopped && acked === undefined && Date.now() < until) {
      if (out.size < MAX_ATTEMPTS_OUT) {
        const attempt: Promise<void> = etcdctl(d, [`--endpoints=${endpoint}`, "--dial-timeout=300ms", "--command-timeout=5s", "put", "/registry/bench/first-write", String(Date.now())], { allowFailure: true, timeoutMs: 10_000 })
          .then((r) => {
            if (r.code === 0 && acked === undefined) acked = Date.now();
          })
          .finally(() => out.delete(attempt));
        out.add(attempt);
        // The next attempt: 50 ms after this one fails, or once it has been out for ATTEMPT_OVERLAP_MS.
        const failedFast = await Promise.race([attempt.then(() => true), sleep(ATTEMPT_OVERLAP_MS).then(() => false)]);
        if (failedFast && acked === undefined) await sleep(50);
      } else {
        await Promise.race(out);
      }
    }
    if (acked !== undefined) return acked;
    throw new Error(stopped ? "polling for the first write stopped" : `no write acknowledged at ${endpoint} within ${deadlineMs} ms`);
  })();
  at.catch(() => undefined);
  return { at, stop: () => (stopped = true) };
}

/** How long the first-write poller's latest attempt may go unanswered before the next one starts beside it. */
const ATTEMPT_OVERLAP_MS = 400;
/** The first-write poller's attempts out at once, at most. */
const MAX_ATTEMPTS_OUT = 16;

/**
 * One failover on a freshly built sandbox of `mb` MB with a caught-up
 * learner: the paced writer and the lag sampler run for the steady window,
 * site A is powered off, and `procedure` restores site B; RTO ends at the
 * first write the restored cluster acknowledges.
 */
async function failoverOnce(data: SizeData, procedure: "provider" | "raw", kind: PowerOffKind, o: Options, tag: string): Promise<FailoverRun> {
  const d = await data.freshSeed();
  await quietly(() => learner.create(learnerInputs(d)));
  // The raw side knows its image's etcd version beforehand (which etcdctl to run): not part of its time.
  const rs = restoreSettings(restoreInputs(d));
  const version = procedure === "raw" ? await imageVersion(d, "master3", rs.image, rs.etcdBinary) : undefined;
  const writer = pacedWriter(target(d), { rate: o.rate, clients: o.clients, tag });
  const sampler = lagSampler(target(d), siteA(d), M3_CLIENT);
  await sleep(o.steadyMs);
  // The split-brain guard still refuses while site A answers (under the writer): its refusal, timed.
  const guardWhileSiteAUp = procedure === "provider" ? await refusalWhileSiteAUp(d) : undefined;
  // The provider's create runs in a process of its own (as Pulumi's dynamic-provider process), loaded before the cut.
  const call = procedure === "provider" ? await providerProcess("standaloneRestore", "create", [restoreInputs(d)]) : undefined;
  const ackedBeforeCut = writer.acked.size;
  const cutAt = Date.now();
  await sandbox(powerOffArgs(kind));
  const offAt = Date.now();
  const stopped = Promise.all([writer.stop(), sampler.stop()]);
  // Polled from the power-off on, beside either procedure: the first write can land before the procedure returns.
  const firstWrite = firstWriteFrom(d, M3_CLIENT);
  let phaseMs: Record<string, number> | undefined;
  let dataLossWindow: number | undefined;
  let procedureMs: number;
  try {
    procedureMs = await timed(async () => {
      if (procedure === "raw") {
        phaseMs = await rawFailover(d, "master3", restoreInputs(d), version as EtcdVersion);
        return;
      }
      const r = await (call as Awaited<ReturnType<typeof providerProcess>>).go();
      if (!r.ok || r.result?.outs === undefined) throw new Error(`EtcdStandaloneRestore create failed: ${r.message ?? "no outputs"}`);
      const outs = r.result.outs;
      phaseMs = outs.phaseMs as Record<string, number>;
      dataLossWindow = Number(outs.dataLossWindow);
    });
  } catch (e) {
    firstWrite.stop();
    await firstWrite.at.catch(() => undefined);
    throw e;
  }
  const rtoMs = (await firstWrite.at) - offAt;
  const firstElectionMs = await firstElectionWait(d, "master3", restoreSettings(restoreInputs(d)).containerName);
  await stopped;
  const restored = await podKeys(d, M3_CLIENT);
  const lost = [...writer.acked].filter(([k]) => !restored.has(k));
  const steady = sampler.samples.filter((s) => s.at < cutAt);
  const lag = lags(steady);
  const last = lag[lag.length - 1] ?? { entries: NaN, ms: NaN };
  return {
    procedure,
    powerOff: kind,
    powerOffMs: offAt - cutAt,
    rtoMs,
    procedureMs,
    phaseMs: phaseMs && { ...phaseMs, total: phaseMs.total ?? procedureMs },
    dataLossWindow,
    guardWhileSiteAUp,
    firstElectionMs,
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
async function stackFailoverOnce(data: SizeData, kind: PowerOffKind): Promise<StackFailoverRun> {
  const d = await data.fresh((x) => x.etcd.endpoints);
  const ws = await sandboxStackWorkspace("bench-failover", d.etcd.keyFile);
  try {
    const up = (): Promise<number> => timed(() => pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 1_800_000 }));
    const upLearnerStandbyMs = await up();
    await waitFor(async () => {
      const st = await endpointStatuses(d, [M3_CLIENT, siteA(d)[0]]);
      return st.length === 2 && st[0].applied >= st[1].raftIndex;
    }, { timeoutMs: 600_000, intervalMs: 100, what: "the stack's learner to catch up" });
    await sandbox(powerOffArgs(kind));
    await pulumi(ws, ["config", "set", "topology.mode", "failover", "--stack", "sandbox"]);
    const upFailoverMs = await up();
    const out = JSON.parse((await pulumi(ws, ["stack", "output", "failoverReport", "--json", "--stack", "sandbox"])).stdout) as { phaseMs: Record<string, number> };
    // The phases overlap (the guard runs beside the record): the restore's own wall time is its total.
    const restorePhasesMs = out.phaseMs.total;
    return { powerOff: kind, upLearnerStandbyMs, upFailoverMs, restorePhasesMs };
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

/** The resources a stack's state holds that the program declares: every one but the stack itself and the providers. */
async function stackResources(ws: Parameters<typeof pulumi>[0]): Promise<number> {
  const state = JSON.parse((await pulumi(ws, ["stack", "export", "--stack", "sandbox"])).stdout) as { deployment: { resources?: { type: string }[] } };
  return (state.deployment.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack" && !r.type.startsWith("pulumi:providers:")).length;
}

/** Steady-state preview of the converged stack program, with and without --refresh, and of an empty program. */
async function previews(d: SandboxDescription, runs: number): Promise<PreviewResult> {
  const out: PreviewResult = { resources: 0 };
  const ws = await sandboxStackWorkspace("bench-preview", d.etcd.keyFile);
  try {
    const upMs = await timed(() => pulumi(ws, ["up", "--yes", "--skip-preview", "--stack", "sandbox"], { timeoutMs: 1_800_000 }));
    out.resources = await stackResources(ws);
    log(`stack converged (pulumi up) in ${upMs} ms: ${out.resources} resources`);
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
  if (only && !PARTS.includes(only)) throw new Error(`--only takes ${PARTS.join(", ")}`);
  const latencyMs = Number(value("--latency") ?? 1);
  if (!Number.isInteger(latencyMs) || latencyMs < 0) throw new Error("--latency takes whole milliseconds (0: none)");
  const po = value("--power-off") ?? "blackhole";
  const powerOff: PowerOffKind[] = po === "both" ? [...POWER_OFF_KINDS] : POWER_OFF_KINDS.includes(po as PowerOffKind) ? [po as PowerOffKind] : [];
  if (powerOff.length === 0) throw new Error("--power-off takes blackhole, kill or both");
  const snapshotIntervalS = num("--snapshot-interval", 300);
  if (!Number.isInteger(snapshotIntervalS)) throw new Error("--snapshot-interval takes whole seconds");
  return {
    runs: num("--runs", 3), sizes, only, rate: num("--rate", 1000), clients: num("--clients", 64), steadyMs: num("--steady-ms", 10_000), latencyMs,
    powerOff, snapshotIntervalS,
    out: path.resolve(value("--out") ?? process.env.ETCD_STANDBY_BENCH_OUT ?? RESULTS),
    dataDir: path.resolve(value("--data-dir") ?? defaultDataDir()),
    fillClients: num("--fill-clients", 4),
    fillEach: args.includes("--fill-each"),
    rebuildData: args.includes("--rebuild-data"),
  };
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
  // Transitions write their own report (--only transitions --out bench/results/transitions); data only builds.
  const wants = (part: string): boolean => (o.only === "" && part !== "data" && part !== "transitions") || o.only === part;
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
    powerOff: o.powerOff,
    snapshotIntervalS: o.snapshotIntervalS,
    sizes: [],
    preview: { resources: 0 },
    ...(wants("transitions") ? { drillWriter: DRILL_WRITER } : {}),
  };
  const [mainKind] = o.powerOff;
  for (const size of o.sizes) {
    const res: SizeResult = { targetMB: size };
    report.sizes.push(res);
    const data = new SizeData(size, o);
    if (wants("data")) {
      await figure(`~${size} MB data`, async () => {
        const m = await data.ensure();
        if (!m) throw new Error("--only data keeps data: drop --fill-each");
        log(`~${size} MB: a fresh sandbox from the kept data`);
        await data.fresh();
        log(`~${size} MB: copied into four data dirs in ${fmtS(data.seedMs[data.seedMs.length - 1])} (slowest host), sandbox up ${fmtS(data.upMs[data.upMs.length - 1])}, a rolling snapshot on every etcd host ${fmtS(data.snapshotMs[data.snapshotMs.length - 1])}`);
        Object.assign(res, { dbSizeBytes: m.dbSize, keys: m.keys, loadMs: m.fillMs });
      });
    }
    if (wants("learner") || (wants("preview") && size === o.sizes[0])) {
      const done = await figure(`~${size} MB catch-up`, async () => {
        log(`~${size} MB: fresh sandbox, seed steps, data`);
        const d = await data.freshSeed();
        const db = Math.max(0, ...(await endpointStatuses(d, siteA(d))).map((x) => x.dbSize));
        const keys = data.manifest?.keys ?? data.lastFill?.keys;
        Object.assign(res, { dbSizeBytes: db, keys, loadMs: data.manifest?.fillMs ?? data.lastFill?.ms });
        log(`~${size} MB: ${keys} keys, db ${fmtMB(db)}`);
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
        for (const kind of o.powerOff) {
          for (let i = 0; i < o.runs; i++) {
            for (const p of ["provider", "raw"] as const) {
              const r = await failoverOnce(data, p, kind, o, `rpo${i}${p[0]}${kind[0]}`);
              runs[p].push(r);
              log(`~${size} MB failover ${i + 1} (${p}, power-off ${kind}): RTO ${r.rtoMs} ms (procedure ${r.procedureMs} ms), ${r.writesPerSec.toFixed(0)} puts/s, ${r.ackedLost} of ${r.acked} acknowledged lost, lag at cut ${r.lagAtCut.entries} entries / ${r.lagAtCut.ms} ms`);
            }
          }
        }
        return runs;
      });
    }
    if (wants("stack") || wants("failover")) {
      res.stackFailover = await figure(`~${size} MB stack failover`, async () => {
        const runs: StackFailoverRun[] = [];
        for (let i = 0; i < o.runs; i++) {
          runs.push(await stackFailoverOnce(data, mainKind));
          log(`~${size} MB pulumi up failover ${i + 1} (power-off ${mainKind}): ${runs[i].upFailoverMs} ms, restore phases ${runs[i].restorePhasesMs} ms`);
        }
        return runs;
      });
    }
    if (wants("transitions")) {
      res.transitions = await figure(`~${size} MB transitions`, async () => {
        const runs = Object.fromEntries(TRANSITIONS.map((t) => [t, { provider: [] as TransitionRun[], raw: [] as TransitionRun[], failed: [] as string[] }]));
        for (let i = 0; i < o.runs; i++) {
          for (const p of ["provider", "raw"] as const) {
            log(`~${size} MB transitions ${i + 1} (${p}): fresh sandbox, learner-standby, drill, failover, fence, rebuild, fail back`);
            const chain = await transitionChain(() => data.fresh((x) => x.etcd.endpoints), p, mainKind, `tr${i}${p[0]}`);
            for (const t of TRANSITIONS) {
              const r = chain[t];
              if (typeof r === "string") runs[t].failed.push(`${p} run ${i + 1}: ${r}`);
              else runs[t][p].push(r);
              log(`~${size} MB ${t} ${i + 1} (${p}): ${typeof r === "string" ? r : `${r.ms} ms; ${Object.entries(r.phaseMs).map(([k, v]) => `${k} ${v}`).join(", ")}`}`);
            }
          }
        }
        return Object.fromEntries(TRANSITIONS.map((t) => {
          const r = runs[t];
          return [t, r.provider.length && r.raw.length ? { provider: r.provider, raw: r.raw } : r.failed.join("; ") || "no run"];
        })) as Record<TransitionKind, { provider: TransitionRun[]; raw: TransitionRun[] } | string>;
      });
    }
    res.data = data.result();
    res.dbSizeBytes ??= data.manifest?.dbSize;
    res.keys ??= data.manifest?.keys;
  }
  await sandbox(["down"]);
  report.totalMs = Date.now() - started;
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, "latest.json"), `${JSON.stringify({ ...report, headline: headline(report) }, null, 2)}\n`);
  fs.writeFileSync(path.join(o.out, "latest.md"), markdown(report));
  process.stdout.write(markdown(report));
  log(`report: ${path.join(o.out, "latest.md")} and latest.json`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
