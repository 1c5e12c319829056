/**
 * RkeContainerRepoint: an RKE container runs with some flags and environment
 * variables set to given values (after a failover: kube-apiserver's
 * `--etcd-servers` the new cluster's endpoint only, nginx-proxy's `CP_HOSTS`
 * the surviving control-plane hosts only).
 *
 * RKE's containers cannot be edited in place, so create/update re-create the
 * container from its own `docker inspect` with only those values changed:
 * the old one is stopped (restart policy off) and kept, renamed
 * `<name>-pre-<stamp>`, for forensics; the new one must run and keep running
 * for a few seconds with the wanted values, read back with `docker inspect`;
 * otherwise it is removed and the old one started again under its name.
 * With `readyz`, the new kube-apiserver must also answer its `/readyz`
 * (curl on the host, with RKE's kube-node certificate) within the deadline,
 * else it is rolled back the same way: a stack that re-points several API
 * servers one after another keeps all but one serving at every moment.
 * A container that already runs as wanted is left alone. read reports
 * drift (e.g. `rke up` put the old flags back); delete changes nothing.
 *
 * check refuses `setFlags` that weaken TLS or authentication or expose
 * internals, and `setEnv` `ETCD_*` variables that set such an etcd flag
 * (lib/etcdFlags.ts). Environment values never appear in a progress line,
 * drift or an error (names do).
 */
import { inspectContainer, inspectRunSpec, listContainers, removeContainer, renameContainer, runContainer, setRestartPolicy, startContainer, stopForGood } from "../connection/docker";
import { RESTART_POLICIES } from "../connection/docker";
import type { RestartPolicy, RunContainerSpec } from "../connection/docker";
import { withSsh } from "../connection/ssh";
import type { HostConnectionArgs, SshSession } from "../connection/ssh";
import { describeError, EtcdStandbyError } from "../lib/errors";
import { refusedSetEnv, refusedSetFlags } from "../lib/etcdFlags";
import { repointDrift, setFlags, shownSettings } from "../lib/repoint";
import { RKE_APISERVER_PORT, RKE_TLS } from "../lib/rke";
import { quoteValue, validateAbsolutePath, validatePort } from "../lib/validate";
import { RUN_ID, RUN_LABEL } from "./clusterLock";
import { checkHost, checkNamesAndPath, hasUnknown, hostOf, Problems, progress, stamp, stored, typedProvider } from "./common";
import type { Props } from "./common";
import { diffByTable, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "RkeContainerRepoint";
/** How long the new container must stay running, unrestarted, to count as started. */
const STEADY_MS = 4000;

/** RkeContainerRepoint's inputs, resolved (documented on RkeContainerRepointArgs). */
export type ContainerRepointInputs = {
  host: HostConnectionArgs;
  container: string;
  setFlags?: Record<string, string>;
  setEnv?: Record<string, string>;
  readyz?: { port?: number; caFile?: string; certFile?: string; keyFile?: string; timeoutSeconds?: number };
  /** The restart policy to run with (e.g. RKE's "always" back on a container a fence set to "no"); absent keeps the container's. */
  restartPolicy?: RestartPolicy;
  trigger?: string;
};

/** What RkeContainerRepoint reports. */
export type ContainerRepointResult = {
  argv: string[];
  previousContainer: string;
  /** Set by refresh: how the container differs from what is wanted. */
  drift: string[];
};

/** RkeContainerRepoint's state: its inputs and what it reports. */
export type ContainerRepointOutputs = ContainerRepointInputs & ContainerRepointResult;

/**
 * Each input's default and what a change does: another container or host is
 * another resource (the old one is left as it runs); new values re-create the
 * container; a restart policy left out keeps the container's own.
 */
export const CONTAINER_REPOINT_FIELDS = {
  host: { effect: "none", replaceOn: ["host"] },
  container: { effect: "replace" },
  setFlags: { effect: "update", default: {} },
  setEnv: { effect: "update", default: {} },
  readyz: { effect: "update" },
  restartPolicy: { effect: "update", unsetKeeps: true },
  trigger: { effect: "update" },
} as const satisfies Fields<ContainerRepointInputs>;

/** The readiness check after re-creation (kube-apiserver's `/readyz`). */
interface Readyz {
  port: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  timeoutMs: number;
}

/** RKE's defaults for the `/readyz` check: port 6443, kube-ca and the kube-node client pair present on every node. */
export const READYZ_DEFAULTS = { port: RKE_APISERVER_PORT, ...RKE_TLS, timeoutSeconds: 120 };

function readyzOf(v: unknown): Readyz | undefined {
  if (v === undefined || v === null || v === false) return undefined;
  const r = (typeof v === "object" ? v : {}) as Props;
  return {
    port: r.port === undefined ? READYZ_DEFAULTS.port : Number(r.port),
    caFile: typeof r.caFile === "string" ? r.caFile : READYZ_DEFAULTS.caFile,
    certFile: typeof r.certFile === "string" ? r.certFile : READYZ_DEFAULTS.certFile,
    keyFile: typeof r.keyFile === "string" ? r.keyFile : READYZ_DEFAULTS.keyFile,
    timeoutMs: (r.timeoutSeconds === undefined ? READYZ_DEFAULTS.timeoutSeconds : Number(r.timeoutSeconds)) * 1000,
  };
}

/** What the container should run with. */
function want(props: ContainerRepointInputs) {
  const s = withDefaults(CONTAINER_REPOINT_FIELDS, props);
  return { container: s.container, flags: s.setFlags, env: s.setEnv, readyz: readyzOf(s.readyz), restartPolicy: s.restartPolicy ?? undefined };
}

type Want = ReturnType<typeof want>;

/**
 * Waits until the kube-apiserver on the host answers `/readyz` with 200
 * (curl on the host, its own certificate), within the deadline; throws with
 * the last answer otherwise. Returns how long it took.
 */
async function ready(ssh: SshSession, r: Readyz): Promise<number> {
  const t0 = Date.now();
  const argv = ["curl", "-sS", "--max-time", "5", "--cacert", r.caFile, "--cert", r.certFile, "--key", r.keyFile, "-o", "/dev/null", "-w", "%{http_code}", `https://127.0.0.1:${r.port}/readyz`];
  let last = "";
  for (;;) {
    const res = await ssh.run(argv, { allowFailure: true, timeoutMs: 15_000 });
    if (res.code === 0 && res.stdout.trim() === "200") return Date.now() - t0;
    last = `${res.stdout.trim() ? `HTTP ${res.stdout.trim()}` : ""} ${res.stderr.trim()}`.trim() || `curl exit ${String(res.code)}`;
    if (res.code === 127) {
      throw new EtcdStandbyError("Refused", `curl is not installed on ${ssh.host}: the /readyz check needs it`, "install curl there (apt-get install curl) and run pulumi up again", { host: ssh.host });
    }
    if (Date.now() - t0 >= r.timeoutMs) {
      throw new EtcdStandbyError("Timeout", `kube-apiserver on ${ssh.host} did not answer /readyz on port ${r.port} within ${r.timeoutMs / 1000} s (last: ${last})`, `see its log: docker logs kube-apiserver on ${ssh.host}`, { host: ssh.host });
    }
    await new Promise((res2) => setTimeout(res2, 500));
  }
}

/** The command line a spec runs (entry point arguments and command). */
function argvOf(spec: RunContainerSpec): string[] {
  return [...(spec.entrypoint ?? []), ...spec.command];
}

/** The spec with the wanted flags set: in the command, or in the entry point's arguments when they hold the flag. */
function repointed(spec: RunContainerSpec, w: Want): RunContainerSpec {
  const ep = spec.entrypoint ?? [];
  const inEntrypoint = Object.keys(w.flags).filter((f) => ep.some((a) => a === `--${f}` || a.startsWith(`--${f}=`)));
  const epFlags = Object.fromEntries(inEntrypoint.map((f) => [f, w.flags[f]]));
  const cmdFlags = Object.fromEntries(Object.entries(w.flags).filter(([f]) => !inEntrypoint.includes(f)));
  return {
    ...spec,
    ...(spec.entrypoint ? { entrypoint: setFlags(ep, epFlags) } : {}),
    command: setFlags(spec.command, cmdFlags),
    env: { ...(spec.env ?? {}), ...w.env },
    labels: { ...(spec.labels ?? {}), [RUN_LABEL]: RUN_ID, "io.etcd-standby.repointed": "RkeContainerRepoint" },
    ...(w.restartPolicy !== undefined ? { restart: w.restartPolicy } : {}),
  };
}

/** How a container differs from what is wanted: flags, environment and restart policy. */
function driftOf(spec: RunContainerSpec, w: Want): string[] {
  const d = repointDrift(argvOf(spec), spec.env ?? {}, w);
  if (w.restartPolicy !== undefined && (spec.restart ?? "no") !== w.restartPolicy) d.push(`restart policy is ${JSON.stringify(spec.restart ?? "no")}, not ${JSON.stringify(w.restartPolicy)}`);
  return d;
}

/** Waits until the container has run for {@link STEADY_MS} without a restart; throws with its state otherwise. */
async function steady(ssh: SshSession, name: string): Promise<void> {
  const until = Date.now() + STEADY_MS;
  for (;;) {
    const info = await inspectContainer(ssh, name);
    if (!info.exists || !info.running || info.restartCount > 0) {
      throw new EtcdStandbyError("Refused", `the re-created ${name} on ${ssh.host} is ${info.exists ? `${info.state} (restarted ${info.restartCount} times)` : "gone"}`, "see its log: docker logs " + name, { host: ssh.host });
    }
    if (Date.now() >= until) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The copies a re-creation keeps (`<name>-pre-<stamp>`), newest first (the stamp sorts as text). */
export function keptCopies(names: readonly string[], container: string): string[] {
  const re = new RegExp(`^${container.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-pre-[0-9]{8}t[0-9]{6}z$`);
  return names.filter((n) => re.test(n)).sort().reverse();
}

/**
 * A run killed between the rename of the old container and the start of the
 * new one leaves no `name` and its newest kept copy, stopped: that copy is
 * the container to re-create from (it stays kept; a failure puts it back).
 * Undefined when there is no such copy.
 */
async function interruptedCopy(ssh: SshSession, container: string): Promise<{ name: string; spec: RunContainerSpec } | undefined> {
  const [newest] = keptCopies(await listContainers(ssh), container);
  if (newest === undefined) return undefined;
  const info = await inspectContainer(ssh, newest);
  const spec = await inspectRunSpec(ssh, newest);
  if (!info.exists || info.running || spec === undefined) return undefined;
  return { name: newest, spec };
}

async function repoint(props: ContainerRepointInputs): Promise<ContainerRepointResult> {
  const w = want(props);
  const host = hostOf(props);
  return withSsh(host, async (ssh) => {
    const spec = await inspectRunSpec(ssh, w.container);
    if (!spec) {
      const kept = await interruptedCopy(ssh, w.container);
      if (kept === undefined) {
        throw new EtcdStandbyError("NotFound", `container ${w.container} does not exist on ${host.host}, and no stopped copy ${w.container}-pre-<stamp> is kept there`, `start it first (rke up), or drop this resource for ${host.host}`, { host: host.host });
      }
      // Stopping it cleared its restart policy: RKE runs its containers with "always".
      const restart = kept.spec.restart === undefined || kept.spec.restart === "no" ? "always" : kept.spec.restart;
      progress(WHAT, `${w.container} is missing on ${host.host} but ${kept.name} is kept, stopped: an earlier re-creation stopped after renaming it; re-creating ${w.container} from it with restart policy ${w.restartPolicy ?? restart} (run ${RUN_ID})`);
      return recreate(ssh, host.host, w, { ...kept.spec, name: w.container, restart }, kept.name);
    }
    const before = driftOf(spec, w);
    const running = (await inspectContainer(ssh, w.container)).running;
    if (before.length === 0 && running) {
      progress(WHAT, `${w.container} on ${host.host} already runs as wanted`);
      return { argv: argvOf(spec), previousContainer: "", drift: [] };
    }
    const previous = `${w.container}-pre-${stamp().toLowerCase()}`;
    progress(WHAT, `re-creating ${w.container} on ${host.host} (${before.join("; ") || "not running"}); the old one is kept as ${previous} (run ${RUN_ID})`);
    await stopForGood(ssh, w.container, 30);
    await renameContainer(ssh, w.container, previous);
    progress(WHAT, `${w.container} on ${host.host} stopped and kept as ${previous}; starting the new one`);
    return recreate(ssh, host.host, w, spec, previous);
  });
}

/**
 * Starts `w.container` anew from `spec` (the old container's, kept stopped
 * as `previous`), checks it, and on failure puts the kept one back.
 */
async function recreate(ssh: SshSession, host: string, w: Want, spec: RunContainerSpec, previous: string): Promise<ContainerRepointResult> {
  try {
    await runContainer(ssh, repointed(spec, w));
    await steady(ssh, w.container);
    if (w.readyz) progress(WHAT, `${w.container} on ${host} answers /readyz after ${(await ready(ssh, w.readyz)) / 1000} s`);
    const now = await inspectRunSpec(ssh, w.container);
    const left = now ? driftOf(now, w) : ["the container is gone"];
    if (left.length > 0) throw new EtcdStandbyError("Refused", `${w.container} on ${host} does not run as wanted after re-creation: ${left.join("; ")}`, "check the container by hand", { host });
    progress(WHAT, `${w.container} on ${host} runs with ${shownSettings(w)}`);
    return { argv: argvOf(now as RunContainerSpec), previousContainer: previous, drift: [] };
  } catch (e) {
    let back: string;
    try {
      const failed = await inspectContainer(ssh, w.container);
      if (failed.exists && failed.labels[RUN_LABEL] === RUN_ID) await removeContainer(ssh, w.container, { force: true });
      await renameContainer(ssh, previous, w.container);
      await setRestartPolicy(ssh, w.container, spec.restart ?? "no");
      await startContainer(ssh, w.container);
      back = `the old ${w.container} runs again`;
    } catch (e2) {
      back = `putting the old one back failed too (${describeError(e2)}): it is kept as ${previous}`;
    }
    throw new EtcdStandbyError("Refused", `re-creating ${w.container} on ${host} failed: ${describeError(e)}; ${back}`, "read the error, fix the cause and run pulumi up again", { host });
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function checkValues(p: Problems, field: string, v: unknown, key: RegExp, what: string): void {
  if (v === undefined || hasUnknown(v)) return;
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    p.add(field, v, [`${field} must map ${what} names to values`]);
    return;
  }
  for (const [k, val] of Object.entries(v as Props)) {
    if (hasUnknown(val)) continue;
    if (!key.test(k)) p.add(field, v, [`${field} name ${quoteValue(k)} is not a valid ${what} name`]);
    if (typeof val !== "string" || /[\0\r\n]/.test(val)) p.add(field, v, [`${field}.${k} must be a string without line breaks`]);
  }
}

function checkReadyz(p: Problems, v: unknown): void {
  if (v === undefined || v === null || v === false || hasUnknown(v)) return;
  if (typeof v !== "object" || Array.isArray(v)) {
    p.add("readyz", v, ["readyz must be an object ({} for RKE's defaults) with port, caFile, certFile, keyFile, timeoutSeconds"]);
    return;
  }
  const r = v as Props;
  const problems = [
    ...(r.port === undefined ? [] : validatePort(r.port, "readyz.port")),
    ...(["caFile", "certFile", "keyFile"] as const).flatMap((f) => (r[f] === undefined ? [] : validateAbsolutePath(r[f], `readyz.${f}`))),
  ];
  const t = r.timeoutSeconds;
  if (t !== undefined && (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > 3600)) problems.push(`readyz.timeoutSeconds ${JSON.stringify(t)} must be an integer from 1 to 3600`);
  const unknown = Object.keys(r).filter((k) => !["port", "caFile", "certFile", "keyFile", "timeoutSeconds"].includes(k));
  if (unknown.length > 0) problems.push(`readyz has unknown fields ${unknown.join(", ")}`);
  if (problems.length > 0) p.add("readyz", v, problems);
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<ContainerRepointInputs, ContainerRepointOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkNamesAndPath(p, [{ field: "container", value: news.container }], []);
    if (news.container === undefined) p.add("container", news.container, ["container is required, e.g. \"kube-apiserver\""]);
    checkValues(p, "setFlags", news.setFlags, /^[a-z0-9][a-z0-9-]*$/, "flag");
    checkValues(p, "setEnv", news.setEnv, /^[A-Za-z_][A-Za-z0-9_]*$/, "environment variable");
    // Flags that weaken TLS or authentication or expose internals, each judged once its value is known.
    for (const [k, v] of Object.entries(isMap(news.setFlags) ? news.setFlags : {})) p.add("setFlags", v, refusedSetFlags({ [k]: v }));
    for (const [k, v] of Object.entries(isMap(news.setEnv) ? news.setEnv : {})) p.add("setEnv", v, refusedSetEnv({ [k]: v }));
    if (news.setFlags === undefined && news.setEnv === undefined) p.add("setFlags", news.setFlags, ["give setFlags or setEnv: what the container should run with"]);
    checkReadyz(p, news.readyz);
    if (news.restartPolicy !== undefined && !hasUnknown(news.restartPolicy) && !RESTART_POLICIES.includes(news.restartPolicy)) {
      p.add("restartPolicy", news.restartPolicy, [`restartPolicy must be one of ${RESTART_POLICIES.join(", ")}`]);
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    // Drift seen by refresh: re-create.
    return diffByTable(CONTAINER_REPOINT_FIELDS, olds, news, { deleteBeforeReplace: false, pending: Array.isArray(olds.drift) && olds.drift.length > 0 });
  },

  async create(inputs) {
    const outs = await repoint(inputs);
    return { id: `repoint-${inputs.container}-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const w = want(props);
    const drift = await withSsh(hostOf(props), async (ssh) => {
      const spec = await inspectRunSpec(ssh, w.container);
      if (!spec) return [`${w.container} is gone`];
      const d = driftOf(spec, w);
      return (await inspectContainer(ssh, w.container)).running ? d : [...d, `${w.container} is not running`];
    });
    return { id, props: { ...props, drift } };
  },

  async update(_id, _olds, news) {
    return { outs: { ...news, ...(await repoint(news)) } };
  },

  async delete() {
    // The container keeps running as it is; the old one stays renamed.
  },
});
