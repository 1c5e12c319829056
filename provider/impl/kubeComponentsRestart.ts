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
import type { SshSession } from "../connection/ssh";
import { EtcdStandbyError } from "../lib/errors";
import { sleep } from "../lib/time";
import { checkContainerList, checkHost, diffFields, hasUnknown, hostOf, positiveInt, Problems, progress } from "./common";
import type { ProviderImpl, Props } from "./common";

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

interface Settings {
  containers: string[];
  graceSeconds: number;
  timeoutMs: number;
}

function settings(props: Props): Settings {
  return {
    containers: Array.isArray(props.containers) ? (props.containers as string[]) : DEFAULT_KUBE_CONTAINERS,
    graceSeconds: typeof props.graceSeconds === "number" ? props.graceSeconds : 10,
    timeoutMs: typeof props.timeoutMs === "number" ? props.timeoutMs : 120_000,
  };
}

async function restartAll(ssh: SshSession, s: Settings): Promise<Props> {
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
export const provider: ProviderImpl = {
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkContainerList(p, news.containers);
    if (news.trigger !== undefined && !hasUnknown(news.trigger) && typeof news.trigger !== "string") {
      p.add("trigger", news.trigger, [`trigger must be a string (e.g. the new cluster ID), got ${JSON.stringify(news.trigger)}`]);
    }
    for (const f of ["timeoutMs", "graceSeconds"]) if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    return p.result(news);
  },

  async diff(_id, olds, news) {
    const d = diffFields(olds, news, ["trigger", "containers"], ["timeoutMs", "graceSeconds"]);
    const replaces = [...(d.replaces ?? [])];
    if (((olds.host ?? {}) as Props).host !== ((news.host ?? {}) as Props).host) replaces.push("host");
    const changes = d.changes || replaces.length > 0 || JSON.stringify(olds.host ?? null) !== JSON.stringify(news.host ?? null);
    return { changes, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const s = settings(inputs);
    const outs = await withSsh(hostOf(inputs), (ssh) => restartAll(ssh, s));
    return { id: `kube-restart-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, props) {
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
    return { outs: { ...olds, ...news } };
  },

  async delete() {
    // Restarts are not undone.
  },
};
