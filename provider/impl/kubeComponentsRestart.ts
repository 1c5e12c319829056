/**
 * KubeComponentsRestart: the Kubernetes components on a host were restarted
 * after their etcd changed (the seed restarts kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubelet and kube-proxy after the
 * restore, so they reconnect to the new cluster).
 *
 * create runs `docker restart` of each container that exists, all within one
 * deadline, and confirms each is running with a StartedAt newer than before.
 * Absent containers are reported, not fatal. A change of `trigger` (e.g. the
 * new cluster ID) replaces the resource, so it reruns only when the cluster
 * changes. read reports which are running; delete changes nothing.
 */
import { inspectState, restartContainer } from "../connection/docker";
import { withSsh } from "../connection/ssh";
import type { HostConnectionArgs, SshSession } from "../connection/ssh";
import { EtcdStandbyError } from "../lib/errors";
import { sleep } from "../lib/time";
import { checkContainerList, checkHost, hasUnknown, hostOf, positiveInt, Problems, progress, stored, typedProvider } from "./common";
import { diffByTable, recordedState, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "KubeComponentsRestart";

/** RKE's Kubernetes component containers, as the seed restarts them. */
export const DEFAULT_KUBE_CONTAINERS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"];

const TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A docker timestamp (RFC 3339, up to nanoseconds, e.g.
 * `2026-01-01T12:00:00.123456789Z`) as nanoseconds since the epoch; undefined
 * when it is not one or is docker's zero time (never started).
 */
export function dockerTimeNs(text: string): bigint | undefined {
  const m = TIME.exec(typeof text === "string" ? text.trim() : "");
  if (!m) return undefined;
  const secondsMs = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(secondsMs) || secondsMs <= Date.parse("0001-01-02T00:00:00Z")) return undefined;
  return BigInt(secondsMs) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** True when `after` is a later start than `before` (an unknown `before` counts as older). */
export function startedLater(before: string, after: string): boolean {
  const a = dockerTimeNs(after);
  if (a === undefined) return false;
  const b = dockerTimeNs(before);
  return b === undefined || a > b;
}

/** KubeComponentsRestart's inputs, resolved (documented on KubeComponentsRestartArgs). */
export type KubeComponentsRestartInputs = {
  host: HostConnectionArgs;
  containers?: string[];
  trigger?: string;
  graceSeconds?: number;
  timeoutMs?: number;
};

/** What KubeComponentsRestart reports. */
export type KubeComponentsRestartResult = {
  restarted: string[];
  absent: string[];
  previousStartedAt: Record<string, string>;
  startedAt: Record<string, string>;
  durationMs: number;
  /** Set by refresh: the containers that are running. */
  running?: string[];
};

/** KubeComponentsRestart's state: its inputs and what it reports. */
export type KubeComponentsRestartOutputs = KubeComponentsRestartInputs & KubeComponentsRestartResult;

/** Each input's default and what a change does: another trigger, container list or host restarts again (a new resource); the rest is recorded. */
export const KUBE_COMPONENTS_RESTART_FIELDS = {
  host: { effect: "record", replaceOn: ["host"] },
  trigger: { effect: "replace" },
  containers: { effect: "replace", default: DEFAULT_KUBE_CONTAINERS },
  timeoutMs: { effect: "record", default: 120_000 },
  graceSeconds: { effect: "record", default: 10 },
} as const satisfies Fields<KubeComponentsRestartInputs>;

function settings(props: KubeComponentsRestartInputs) {
  return withDefaults(KUBE_COMPONENTS_RESTART_FIELDS, props);
}

async function restartAll(ssh: SshSession, s: ReturnType<typeof settings>): Promise<KubeComponentsRestartResult> {
  const t0 = Date.now();
  const deadline = t0 + s.timeoutMs;
  const before: Record<string, string> = {};
  const absent: string[] = [];
  for (const name of s.containers) {
    const st = await inspectState(ssh, name);
    if (st.exists) before[name] = st.startedAt;
    else absent.push(name);
  }
  const present = Object.keys(before);
  if (absent.length > 0) progress(WHAT, `not on ${ssh.host} (skipped): ${absent.join(", ")}`);
  progress(WHAT, `docker restart ${present.join(" ")} on ${ssh.host}`);
  const failed: string[] = [];
  await Promise.all(
    present.map(async (name) => {
      const left = Math.max(1000, deadline - Date.now());
      try {
        if (!(await restartContainer(ssh, name, s.graceSeconds, left))) absent.push(name);
      } catch (e) {
        failed.push(`${name}: ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`);
      }
    }),
  );
  const startedAt: Record<string, string> = {};
  const pending = new Set(present.filter((n) => !absent.includes(n) && !failed.some((f) => f.startsWith(`${n}:`))));
  for (;;) {
    for (const name of [...pending]) {
      const st = await inspectState(ssh, name);
      if (st.running && startedLater(before[name], st.startedAt)) {
        startedAt[name] = st.startedAt;
        pending.delete(name);
      }
    }
    if (pending.size === 0 || Date.now() > deadline) break;
    await sleep(250);
  }
  for (const name of pending) failed.push(`${name}: not running with a newer StartedAt within ${s.timeoutMs} ms`);
  if (failed.length > 0) {
    throw new EtcdStandbyError(
      "Refused",
      `could not restart every Kubernetes component on ${ssh.host}: ${failed.join("; ")}`,
      "check those containers (docker ps -a, docker logs) and run pulumi up again",
      { host: ssh.host },
    );
  }
  const restarted = present.filter((n) => startedAt[n] !== undefined);
  progress(WHAT, `restarted ${restarted.join(", ")} on ${ssh.host} in ${Date.now() - t0} ms`);
  return { restarted, absent, previousStartedAt: before, startedAt, durationMs: Date.now() - t0 };
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<KubeComponentsRestartInputs, KubeComponentsRestartOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkContainerList(p, news.containers);
    if (news.trigger !== undefined && !hasUnknown(news.trigger) && typeof news.trigger !== "string") {
      p.add("trigger", news.trigger, [`trigger must be a string (e.g. the new cluster ID), got ${JSON.stringify(news.trigger)}`]);
    }
    for (const f of ["timeoutMs", "graceSeconds"] as const) if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    return p.result(news);
  },

  async diff(_id, olds, news) {
    return diffByTable(KUBE_COMPONENTS_RESTART_FIELDS, olds, news, { deleteBeforeReplace: true });
  },

  async create(inputs) {
    const s = settings(inputs);
    const outs = await withSsh(hostOf(inputs), (ssh) => restartAll(ssh, s));
    return { id: `kube-restart-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const s = settings(props);
    const running: string[] = [];
    try {
      await withSsh(hostOf(props), async (ssh) => {
        for (const name of s.containers) if ((await inspectState(ssh, name)).running) running.push(name);
      });
    } catch {
      // Host unreachable: nothing is known to be running.
    }
    return { id, props: { ...props, running } };
  },

  async update(_id, olds, news) {
    // Only the deadline or connection changed: nothing to restart.
    return { outs: recordedState(KUBE_COMPONENTS_RESTART_FIELDS, olds, news) };
  },

  async delete() {
    // Restarts are not undone.
  },
});
