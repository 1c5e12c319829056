/**
 * The transitions after a failover, and the drill, each measured as the
 * provider does it and as the raw etcdctl/docker steps it replaces (issue
 * #12): rebuild (site A's etcd hosts join the restored cluster), fail back
 * (master3 a learner again) and EtcdRestoreDrill.
 *
 * One chain per procedure and run, on a fresh sandbox of the size: the stack
 * program to learner-standby, the drill under a paced writer on site A, then
 * the failover and the fence (as test/integration/after-failover.test.ts
 * reaches them), then rebuild, then fail back. The provider's `pulumi up` is
 * run with `--json`, its engine events stamped as they arrive, so each step
 * (and EtcdLearner's member add and start inside its step) gets a time.
 */
import { spawn } from "child_process";
import * as readline from "readline";
import { provider as drill } from "../../provider/impl/restoreDrill";
import { clusterProps, hostProps, voterEndpoints } from "../../support/fixtures";
import { pulumi, removeWorkspace, sandboxStackWorkspace } from "../../support/pulumi";
import type { Workspace } from "../../support/pulumi";
import { etcdctl, sandbox, ssh } from "../../support/sandbox";
import type { SandboxDescription } from "../../support/sandbox";
import { waitFor } from "../../support/wait";
import { loadTarget } from "./data";
import { rawDrill, rawFailback, rawRebuild, waitApplied } from "./raw";
import type { Phases } from "./raw";
import type { PowerOffKind, TransitionKind, TransitionRun } from "./report";
import { pacedWriter } from "./traffic";
import { errorText, log, powerOffArgs, quietly } from "./util";

const M3 = "https://10.250.0.103:2380";
const M3_CLIENT = "https://10.250.0.103:2379";
/** The stack's learner on master3 (`etcd.learnerNamePrefix` + host). */
const LEARNER = { memberName: "learner-master3", peerURL: M3, clientURL: M3_CLIENT };
/** The paced writer on site A while the drill runs (as test/integration/drill.test.ts). */
export const DRILL_WRITER = { rate: 400, clients: 6 };
/** Site A's etcd hosts, in the stack config's order: the order rebuild takes them. */
const SITE_A_ETCD = ["master1", "master2", "node1"];

// ------------------------------------------------------- engine events ----

/** One engine event of `pulumi up --json`, stamped when it arrived (ms since the epoch). */
export interface EngineEvent {
  at: number;
  kind: "pre" | "outputs" | "failed" | "diag";
  /** The resource's name (the URN's last part). */
  name?: string;
  /** The resource's type, e.g. `pulumi-nodejs:dynamic/etcdstandby:EtcdLearner`. */
  type?: string;
  op?: string;
  /** A custom resource (not a component or the stack). */
  custom?: boolean;
  message?: string;
  severity?: string;
}

interface RawMeta { op?: string; urn?: string; type?: string; new?: { custom?: boolean } | null; old?: { custom?: boolean } | null }
interface RawEvent { resourcePreEvent?: { metadata?: RawMeta }; resOutputsEvent?: { metadata?: RawMeta }; resOpFailedEvent?: { metadata?: RawMeta }; diagnosticEvent?: { message?: string; severity?: string } }

/** Parses one line of `pulumi up --json` (debug messages and other events are left out). */
export function parseEngineEvent(line: string, at: number): EngineEvent | undefined {
  let e: RawEvent;
  try {
    e = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  if (e === null || typeof e !== "object") return undefined;
  const [kind, meta] = e.resourcePreEvent ? ["pre", e.resourcePreEvent.metadata] as const : e.resOutputsEvent ? ["outputs", e.resOutputsEvent.metadata] as const : e.resOpFailedEvent ? ["failed", e.resOpFailedEvent.metadata] as const : [undefined, undefined];
  if (kind && meta) return { at, kind, name: String(meta.urn ?? "").split("::").pop(), type: meta.type, op: meta.op, custom: (meta.new ?? meta.old)?.custom === true };
  const diag = e.diagnosticEvent;
  if (diag && diag.severity !== "debug") return { at, kind: "diag", message: String(diag.message ?? "").trim(), severity: diag.severity };
  return undefined;
}

/** A resource step of an update: from its pre event to its outputs (or failure) event. */
export interface Step {
  name: string;
  type: string;
  op: string;
  start: number;
  end: number;
}

/** The operations that change something (steps that only read or keep a resource are left out). */
const CHANGES = ["create", "update", "delete", "replace", "create-replacement", "delete-replaced"];

/** The custom resources' changing steps, in the order they started. */
export function stepsOf(events: EngineEvent[]): Step[] {
  const out: Step[] = [];
  events.forEach((e, i) => {
    if (e.kind !== "pre" || !e.custom || !CHANGES.includes(e.op ?? "") || !e.name) return;
    const done = events.slice(i + 1).find((x) => (x.kind === "outputs" || x.kind === "failed") && x.name === e.name && x.op === e.op);
    if (done) out.push({ name: e.name, type: e.type ?? "", op: e.op ?? "", start: e.at, end: done.at });
  });
  return out;
}

/** Milliseconds covered by at least one of the intervals. */
export function covered(intervals: { start: number; end: number }[]): number {
  let total = 0;
  let reach = -Infinity;
  for (const iv of [...intervals].sort((a, b) => a.start - b.start)) {
    const from = Math.max(iv.start, reach);
    if (iv.end > from) total += iv.end - from;
    reach = Math.max(reach, iv.end);
  }
  return total;
}

/** The phase name of a step the raw steps have too (`<host>: clean`, `member remove`, ...), or undefined. */
function knownPhase(step: Step): { key: string; learner: boolean } | undefined {
  const rebuild = /^rebuild-(clean|learner|promote)-(.+)$/.exec(step.name);
  if (rebuild && step.op === "create") return { key: `${rebuild[2]}: ${rebuild[1] === "learner" ? "" : rebuild[1]}`, learner: rebuild[1] === "learner" };
  if (/^failback-remove-/.test(step.name)) return { key: "member remove", learner: false };
  if (/^failback-clean-/.test(step.name)) return { key: "clean", learner: false };
  if (/^learner-/.test(step.name) && step.type.endsWith(":EtcdLearner")) return { key: "", learner: true };
  return undefined;
}

/** A step shorter than this that no raw phase matches is summed into {@link OTHER_STEPS}. */
const SHORT_STEP_MS = 500;
export const OTHER_STEPS = "other steps, each under 0.5 s (summed)";

/**
 * The provider's phases from the stamped engine events of one `pulumi up`:
 * each changing step by name (the rebuild's and fail back's etcd steps named
 * as the raw steps' phases), an EtcdLearner step split at its progress lines
 * into preflight, add (member add) and start+catch-up, the steps under
 * 0.5 s that no raw phase matches summed in one line, and the time no step
 * covered (engine, program, state, refreshes).
 */
export function providerPhases(events: EngineEvent[], totalMs: number): Phases {
  const steps = stepsOf(events);
  const t: Phases = {};
  const shortType = (type: string): string => type.slice(type.lastIndexOf(":") + 1);
  for (const st of steps) {
    const known = knownPhase(st);
    if (!known) {
      // Steps that only record new inputs (the rebuild's resources in fail back, say) are summed in one line.
      const key = st.end - st.start < SHORT_STEP_MS ? OTHER_STEPS : `${st.name} (${shortType(st.type)} ${st.op})`;
      t[key] = (t[key] ?? 0) + st.end - st.start;
      continue;
    }
    if (!known.learner) {
      t[known.key] = st.end - st.start;
      continue;
    }
    const inside = events.filter((e) => e.kind === "diag" && e.at >= st.start && e.at <= st.end);
    const add = inside.find((e) => /EtcdLearner: member add --learner /.test(e.message ?? ""))?.at;
    const run = inside.find((e) => /EtcdLearner: starting \S+ on /.test(e.message ?? ""))?.at;
    if (add === undefined || run === undefined) {
      t[`${known.key}learner`] = st.end - st.start;
      continue;
    }
    t[`${known.key}preflight`] = add - st.start;
    t[`${known.key}add`] = run - add;
    t[`${known.key}start+catch-up`] = st.end - run;
  }
  t["outside any step (engine, program, state)"] = Math.max(0, totalMs - covered(steps));
  return t;
}

/** `pulumi ARGS --json` in a workspace, each engine event stamped as it arrives; throws with the error diagnostics on failure. */
export function pulumiEvents(ws: Workspace, args: string[], timeoutMs = 1_800_000): Promise<{ ms: number; events: EngineEvent[] }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn("pulumi", [...args, "--json", "--non-interactive"], { cwd: ws.dir, env: ws.env, stdio: ["ignore", "pipe", "pipe"] });
    const events: EngineEvent[] = [];
    let stderr = "";
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const e = parseEngineEvent(line, Date.now());
      if (e) events.push(e);
    });
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ ms: Date.now() - t0, events });
      const errors = events.filter((e) => e.kind === "diag" && e.severity === "error").map((e) => e.message).join("\n");
      reject(new Error(`pulumi ${args.join(" ")} exited ${String(code)}: ${errors || stderr.trim().slice(-2000)}`));
    });
  });
}

// ------------------------------------------------------------ the chain ----

const siteA = (d: SandboxDescription): string[] => voterEndpoints(d, ["master3"]);
const UP = ["up", "--yes", "--skip-preview", "--stack", "sandbox"];

async function setMode(ws: Workspace, mode: string): Promise<void> {
  await pulumi(ws, ["config", "set", "topology.mode", mode, "--stack", "sandbox"]);
}

/** The image a container on a host runs. */
async function imageOf(d: SandboxDescription, hostName: string, container: string): Promise<string> {
  return (await ssh(d, hostName, `docker inspect -f '{{.Config.Image}}' ${container}`)).stdout.trim();
}

/** The drill under a paced writer on site A, by the provider (EtcdRestoreDrill create) or by hand. */
async function drillOnce(d: SandboxDescription, procedure: "provider" | "raw", tag: string): Promise<TransitionRun> {
  const writer = pacedWriter(loadTarget(d, siteA(d)), { ...DRILL_WRITER, tag, deadlineMs: 5000 });
  try {
    await waitFor(() => writer.acked.size >= 2 * DRILL_WRITER.rate || undefined, { timeoutMs: 60_000, what: "the writer to get going" });
    const [acked, failed] = [writer.acked.size, writer.failed()];
    const writes = (): { acked: number; failed: number } => ({ acked: writer.acked.size - acked, failed: writer.failed() - failed });
    if (procedure === "raw") {
      const r = await rawDrill(d, LEARNER, siteA(d), await imageOf(d, "master3", "etcd-learner"));
      return { procedure, ms: r.ms, phaseMs: r.phaseMs, rtoMs: r.rtoMs, learnerAbsentMs: r.learnerAbsentMs, learnerDownMs: r.learnerDownMs, writes: writes(), restored: r.restored };
    }
    const t0 = Date.now();
    const outs = (await quietly(() => drill.create({ host: hostProps(d, "master3"), cluster: clusterProps(d, siteA(d)), learner: LEARNER, trigger: tag, timeoutMs: 600_000 }))).outs;
    const ms = Date.now() - t0;
    const phaseMs = Object.fromEntries(Object.entries(outs.phaseMs as Record<string, number>).filter(([k]) => k !== "total"));
    return {
      procedure, ms, phaseMs, rtoMs: Number(outs.rtoMs), learnerAbsentMs: Number(outs.learnerAbsentMs), learnerDownMs: Number(outs.learnerDownMs), writes: writes(),
      restored: { revision: Number(outs.restoredRevision), keys: Number(outs.restoredKeys) },
    };
  } finally {
    await writer.stop();
  }
}

/** `pulumi up` in `mode`, timed, with its phases. */
async function providerUp(ws: Workspace, mode: string): Promise<TransitionRun> {
  await setMode(ws, mode);
  const { ms, events } = await pulumiEvents(ws, UP);
  return { procedure: "provider", ms, phaseMs: providerPhases(events, ms) };
}

/** A raw procedure's phases as a run: its wall time is theirs added up (they run one after another). */
async function rawRun(f: () => Promise<Phases>): Promise<TransitionRun> {
  const t0 = Date.now();
  const phaseMs = await f();
  return { procedure: "raw", ms: Date.now() - t0, phaseMs };
}

/** Runs one transition; a failure is its result text, logged in full. */
async function attempt(what: string, f: () => Promise<TransitionRun>): Promise<TransitionRun | string> {
  try {
    return await f();
  } catch (e) {
    log(`${what} failed: ${e instanceof Error ? e.message.slice(0, 4000) : String(e)}`);
    return `failed: ${errorText(e)}`;
  }
}

/**
 * One chain on a fresh sandbox (`fresh`: the size's data, the seed's four
 * voters): learner-standby by the stack program, the drill, the failover
 * with site A powered off (`kind`), site A powered on isolated and fenced,
 * reconnected; then rebuild and fail back, each by `procedure`.
 */
export async function transitionChain(fresh: () => Promise<SandboxDescription>, procedure: "provider" | "raw", kind: PowerOffKind, tag: string): Promise<Record<TransitionKind, TransitionRun | string>> {
  const d = await fresh();
  const ws = await sandboxStackWorkspace(`bench-transitions-${procedure}`, d.etcd.keyFile);
  const out: Partial<Record<TransitionKind, TransitionRun | string>> = {};
  try {
    const up = (): Promise<unknown> => pulumi(ws, UP, { timeoutMs: 1_800_000 });
    await up();
    await waitApplied(d, M3_CLIENT, siteA(d), { timeoutMs: 600_000 });
    out.drill = await attempt(`${tag} drill (${procedure})`, () => drillOnce(d, procedure, `${tag}-drill`));
    // The failover's starting point: the learner caught up, as in the failover figures.
    await waitApplied(d, M3_CLIENT, siteA(d), { timeoutMs: 600_000 });
    await sandbox(powerOffArgs(kind));
    await setMode(ws, "failover");
    await up();
    await sandbox(["power-on", "A", "--isolated"]);
    await waitFor(async () => (await etcdctl(d, [`--endpoints=${siteA(d)[0]}`, "--command-timeout=3s", "put", "/etcd-standby/bench-probe", "x"], { allowFailure: true })).code === 0, { timeoutMs: 180_000, intervalMs: 500, what: "site A's old cluster to serve again (RKE restarts it)" });
    await up();
    await sandbox(["reconnect", "A"]);
    log(`${tag} (${procedure}): at the fenced failover resting point`);
    out.rebuild = await attempt(`${tag} rebuild (${procedure})`, () => (procedure === "provider"
      ? providerUp(ws, "rebuild")
      : rawRun(async () => rawRebuild(d, SITE_A_ETCD, await imageOf(d, "master3", "etcd"), M3_CLIENT))));
    out.failback = typeof out.rebuild === "string"
      ? "not run: the rebuild failed"
      : await attempt(`${tag} fail back (${procedure})`, () => (procedure === "provider"
        ? providerUp(ws, "failback")
        : rawRun(async () => rawFailback(d, siteA(d), M3_CLIENT, LEARNER, await imageOf(d, "master3", "etcd")))));
  } catch (e) {
    log(`${tag} (${procedure}) chain failed: ${e instanceof Error ? e.message.slice(0, 4000) : String(e)}`);
    const why = `failed before it ran: ${errorText(e)}`;
    for (const t of ["drill", "rebuild", "failback"] as const) out[t] ??= why;
  } finally {
    removeWorkspace(ws);
  }
  return out as Record<TransitionKind, TransitionRun | string>;
}
