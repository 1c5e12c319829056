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
 * A container that already runs as wanted is left alone. read reports
 * drift (e.g. `rke up` put the old flags back); delete changes nothing.
 */
import { inspectContainer, inspectRunSpec, removeContainer, renameContainer, runContainer, setRestartPolicy, startContainer, stopForGood } from "../connection/docker";
import type { RunContainerSpec } from "../connection/docker";
import { withSsh } from "../connection/ssh";
import type { SshSession } from "../connection/ssh";
import { describeError, EtcdStandbyError } from "../lib/errors";
import { repointDrift, setFlags } from "../lib/repoint";
import { quoteValue } from "../lib/validate";
import { RUN_ID, RUN_LABEL } from "./clusterLock";
import { checkHost, checkNamesAndPath, hasUnknown, hostOf, Problems, progress, sameValue, stamp } from "./common";
import type { ProviderImpl, Props } from "./common";

const WHAT = "RkeContainerRepoint";
/** How long the new container must stay running, unrestarted, to count as started. */
const STEADY_MS = 4000;

interface Want {
  container: string;
  flags: Record<string, string>;
  env: Record<string, string>;
}

function want(props: Props): Want {
  return {
    container: String(props.container),
    flags: (props.setFlags ?? {}) as Record<string, string>,
    env: (props.setEnv ?? {}) as Record<string, string>,
  };
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
  };
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

async function repoint(props: Props): Promise<Props> {
  const w = want(props);
  const host = hostOf(props);
  return withSsh(host, async (ssh) => {
    const spec = await inspectRunSpec(ssh, w.container);
    if (!spec) {
      throw new EtcdStandbyError("NotFound", `container ${w.container} does not exist on ${host.host}`, `start it first (rke up), or drop this resource for ${host.host}`, { host: host.host });
    }
    const before = repointDrift(argvOf(spec), spec.env ?? {}, w);
    const running = (await inspectContainer(ssh, w.container)).running;
    if (before.length === 0 && running) {
      progress(WHAT, `${w.container} on ${host.host} already runs as wanted`);
      return { argv: argvOf(spec), previousContainer: "", drift: [] as string[] };
    }
    const next = repointed(spec, w);
    const previous = `${w.container}-pre-${stamp().toLowerCase()}`;
    progress(WHAT, `re-creating ${w.container} on ${host.host} (${before.join("; ") || "not running"}); the old one is kept as ${previous} (run ${RUN_ID})`);
    await stopForGood(ssh, w.container, 30);
    await renameContainer(ssh, w.container, previous);
    try {
      await runContainer(ssh, next);
      await steady(ssh, w.container);
      const now = await inspectRunSpec(ssh, w.container);
      const left = now ? repointDrift(argvOf(now), now.env ?? {}, w) : ["the container is gone"];
      if (left.length > 0) throw new EtcdStandbyError("Refused", `${w.container} on ${host.host} does not run as wanted after re-creation: ${left.join("; ")}`, "check the container by hand", { host: host.host });
      progress(WHAT, `${w.container} on ${host.host} runs with ${[...Object.entries(w.flags).map(([f, v]) => `--${f}=${v}`), ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`)].join(" ")}`);
      return { argv: argvOf(now as RunContainerSpec), previousContainer: previous, drift: [] as string[] };
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
      throw new EtcdStandbyError("Refused", `re-creating ${w.container} on ${host.host} failed: ${describeError(e)}; ${back}`, "read the error, fix the cause and run pulumi up again", { host: host.host });
    }
  });
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

/** The provider implementation, loaded by the serialised facade. */
export const provider: ProviderImpl = {
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    checkNamesAndPath(p, [{ field: "container", value: news.container }], []);
    if (news.container === undefined) p.add("container", news.container, ["container is required, e.g. \"kube-apiserver\""]);
    checkValues(p, "setFlags", news.setFlags, /^[a-z0-9][a-z0-9-]*$/, "flag");
    checkValues(p, "setEnv", news.setEnv, /^[A-Za-z_][A-Za-z0-9_]*$/, "environment variable");
    if (news.setFlags === undefined && news.setEnv === undefined) p.add("setFlags", news.setFlags, ["give setFlags or setEnv: what the container should run with"]);
    return p.result(news);
  },

  async diff(_id, olds, news) {
    const changed = ["container", "setFlags", "setEnv", "trigger"].filter((f) => !sameValue(olds[f], news[f]));
    const hostChanged = !sameValue((olds.host as Props | undefined)?.host, (news.host as Props | undefined)?.host);
    const drift = Array.isArray(olds.drift) && olds.drift.length > 0;
    const replaces = [...(changed.includes("container") ? ["container"] : []), ...(hostChanged ? ["host"] : [])];
    return { changes: changed.length > 0 || hostChanged || drift, replaces, deleteBeforeReplace: false };
  },

  async create(inputs) {
    const outs = await repoint(inputs);
    return { id: `repoint-${String(inputs.container)}-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, props) {
    const w = want(props);
    const drift = await withSsh(hostOf(props), async (ssh) => {
      const spec = await inspectRunSpec(ssh, w.container);
      if (!spec) return [`${w.container} is gone`];
      const d = repointDrift(argvOf(spec), spec.env ?? {}, w);
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
};
