/**
 * SiteFence: a host of the lost site can never serve again. After a failover,
 * the old site's etcd voters, if they come back (power returns, RKE starts
 * its containers with restart=always), are a healthy cluster with the same CA
 * and the old data: a second writable cluster, and its kube-apiservers serve
 * stale objects. Fencing stops them for good.
 *
 * create/update: the host's old etcd endpoint is probed first (a put and a
 * linearizable get, 3 s each): if it serves, that is said loudly and the
 * fence goes first. Then, over SSH with a short connect deadline, each of the
 * host's etcd, etcd-rolling-snapshots and control-plane containers is
 * stopped for good (docker stop, restart policy "no"); data dirs are kept.
 * Afterwards the endpoint must refuse both calls. A host that does not answer
 * SSH (still powered off) is recorded as not fenced yet: that is not an
 * error, unless its old endpoint serves, and the next `pulumi up` tries again
 * (diff reports a change while the host is not fenced). read reports a
 * returned, unfenced host (containers running, or set to restart) as drift.
 * delete changes nothing.
 */
import { inspectContainer, inspectState, stopForGood } from "../connection/docker";
import { withEtcd } from "../connection/etcd";
import type { ClusterConnectionArgs } from "../connection/etcd";
import { withSsh } from "../connection/ssh";
import type { HostConnectionArgs, SshSession } from "../connection/ssh";
import { identify } from "../lib/clusterIdentity";
import type { CurrentCluster, EtcdSeen, Identity } from "../lib/clusterIdentity";
import { etcdFlagsOf } from "../lib/etcdContainer";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../lib/errors";
import { validateClientUrl, validateContainerName, validateEach } from "../lib/validate";
import { RUN_ID } from "./clusterLock";
import { checkCluster, checkHost, clusterOf, hasUnknown, hostOf, positiveInt, Problems, progress, stored, typedProvider } from "./common";
import { MANAGED_LABEL } from "./learnerConfig";
import { diffByTable, withDefaults } from "./fields";
import type { Fields } from "./fields";

const WHAT = "SiteFence";
/** RKE's containers that serve etcd or the Kubernetes API from a host. */
export const FENCE_CONTAINERS = ["etcd", "etcd-rolling-snapshots", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];
/** Where the probe writes on the old cluster (outside /registry/). */
export const FENCE_PROBE_KEY = "/etcd-standby/fence-probe";
const PROBE_MS = 3000;
/** A status header without a cluster ID. */
const NO_CLUSTER = "0000000000000000";
const CONNECT_MS = 5000;

/** The cluster that serves now: its ID and where to reach it (with `cluster`'s TLS material). */
export type CurrentClusterRef = { clusterId: string; endpoints: string[] };

/** SiteFence's inputs, resolved (documented on SiteFenceArgs). */
export type SiteFenceInputs = {
  host: HostConnectionArgs;
  cluster?: ClusterConnectionArgs;
  current?: CurrentClusterRef;
  oldEndpoints?: string[];
  containers?: string[];
  connectTimeoutMs?: number;
  trigger?: string;
};

/** What SiteFence reports. */
export type SiteFenceResult = {
  reachable: boolean;
  fenced: boolean;
  stopped: string[];
  unfenced: string[];
  oldEndpointsServe: boolean;
};

/** SiteFence's state: its inputs and what it reports. */
export type SiteFenceOutputs = SiteFenceInputs & SiteFenceResult;

const NO_ENDPOINTS: string[] = [];

/** Each input's default and what a change does: another host is another fence; other containers, endpoints or trigger fence again. */
export const SITE_FENCE_FIELDS = {
  host: { effect: "none", replaceOn: ["host"] },
  cluster: { effect: "none" },
  current: { effect: "update" },
  oldEndpoints: { effect: "update", default: NO_ENDPOINTS },
  containers: { effect: "update", default: FENCE_CONTAINERS },
  connectTimeoutMs: { effect: "none", default: CONNECT_MS },
  trigger: { effect: "update" },
} as const satisfies Fields<SiteFenceInputs>;

function settings(props: SiteFenceInputs) {
  return withDefaults(SITE_FENCE_FIELDS, props);
}

type Settings = ReturnType<typeof settings>;

/**
 * Whether an old endpoint still serves: a put and a linearizable get, each
 * within 3 s. An endpoint that answers as the current cluster (`currentId`)
 * is not the old cluster serving: it is never written to, and does not count.
 */
async function serves(conn: ClusterConnectionArgs, endpoint: string, host: string, currentId: string | undefined): Promise<{ serves: boolean; why: string }> {
  try {
    return await withEtcd({ ...conn, endpoints: [endpoint], timeoutMs: PROBE_MS }, async (e) => {
      if (currentId !== undefined && (await e.statusOf(endpoint)).clusterId === currentId) return { serves: false, why: `it answers as the current cluster ${currentId}` };
      await e.put(FENCE_PROBE_KEY, `${host} ${new Date().toISOString()} run ${RUN_ID}`);
      await e.get(FENCE_PROBE_KEY);
      return { serves: true, why: "accepted a put and a linearizable get" };
    });
  } catch (e) {
    return { serves: false, why: isEtcdStandbyError(e) ? e.summary.slice(0, 200) : describeError(e) };
  }
}

async function probeAll(props: SiteFenceInputs, s: Settings, host: string): Promise<{ endpoint: string; serves: boolean; why: string }[]> {
  if (props.cluster === undefined || props.cluster === null || s.oldEndpoints.length === 0) return [];
  const conn = clusterOf(props);
  const currentId = props.current?.clusterId;
  return Promise.all(s.oldEndpoints.map(async (endpoint) => ({ endpoint, ...(await serves(conn, endpoint, host, currentId)) })));
}

function ours(st: { labels: Record<string, string> }): boolean {
  return st.labels[MANAGED_LABEL] !== undefined;
}

/** The containers that are the host's etcd member and its backups. */
const ETCD_CONTAINERS = ["etcd", "etcd-rolling-snapshots"];

/**
 * Which of the host's containers the fence leaves alone. With `current`
 * known: only what belongs to the current cluster (its etcd and backups when
 * the host's etcd is the current cluster's, and etcd-standby's own
 * containers beside it); anything else is fenced, whoever started it. Without
 * it (a fence declared without `current`): etcd-standby's own containers, as
 * before.
 */
function exempt(name: string, st: { labels: Record<string, string> }, identity: Identity | undefined): boolean {
  if (identity === undefined) return ours(st);
  return identity.current && (ours(st) || ETCD_CONTAINERS.includes(name));
}

/** The cluster ID the host's etcd answers with at one of `oldEndpoints` (a status call, 3 s); undefined when none answers. */
async function answeredClusterId(props: SiteFenceInputs, s: Settings): Promise<string | undefined> {
  if (props.cluster === undefined || props.cluster === null) return undefined;
  const conn = clusterOf(props);
  for (const endpoint of s.oldEndpoints) {
    try {
      const st = await withEtcd({ ...conn, endpoints: [endpoint], timeoutMs: PROBE_MS }, (e) => e.statusOf(endpoint));
      if (st.clusterId !== undefined && st.clusterId !== NO_CLUSTER) return st.clusterId;
    } catch {
      // does not answer: the container's flags tell
    }
  }
  return undefined;
}

/** The current cluster's members (its member list at `current.endpoints`); empty when it cannot be read (then nothing that does not answer counts as current). */
async function currentMembers(props: SiteFenceInputs, cur: CurrentClusterRef): Promise<CurrentCluster["members"]> {
  if (props.cluster === undefined || props.cluster === null) return [];
  try {
    return await withEtcd({ ...clusterOf(props), endpoints: cur.endpoints, timeoutMs: PROBE_MS }, (e) => e.memberList());
  } catch {
    return [];
  }
}

/**
 * The host's etcd, judged against the current cluster ({@link identify}):
 * its answer's cluster ID, else the member its `etcd` container was started
 * as against the current cluster's members. Undefined without `current`.
 */
async function identifyHostEtcd(props: SiteFenceInputs, s: Settings, ssh: SshSession): Promise<Identity | undefined> {
  const cur = props.current ?? undefined;
  if (cur === undefined) return undefined;
  const [clusterId, info] = await Promise.all([answeredClusterId(props, s), inspectContainer(ssh, "etcd")]);
  const seen: EtcdSeen = { answeredClusterId: clusterId };
  if (info.exists) {
    const flags = etcdFlagsOf(info.argv, info.env);
    seen.startedAs = { name: flags.name, peerURLs: (flags["initial-advertise-peer-urls"] ?? "").split(",").filter((u) => u !== "") };
  }
  const members = clusterId === undefined && seen.startedAs !== undefined ? await currentMembers(props, cur) : [];
  return identify(seen, { clusterId: cur.clusterId, members });
}

function unreachable(e: unknown): boolean {
  return isEtcdStandbyError(e, "Unreachable") || isEtcdStandbyError(e, "Timeout");
}

async function fence(props: SiteFenceInputs): Promise<SiteFenceResult> {
  const s = settings(props);
  const h = hostOf(props);
  const before = await probeAll(props, s, h.host);
  const serving = before.filter((p) => p.serves);
  if (serving.length > 0) {
    progress(WHAT, `WARNING: the old cluster SERVES at ${serving.map((p) => p.endpoint).join(", ")} (${serving[0].why}): two writable clusters exist; fencing ${h.host} now`);
  }
  const conn: HostConnectionArgs = { ...h, timeoutMs: Math.min(h.timeoutMs ?? s.connectTimeoutMs, s.connectTimeoutMs) };
  let stopped: string[];
  try {
    stopped = await withSsh(conn, async (ssh) => {
      const [states, identity] = await Promise.all([Promise.all(s.containers.map(async (name) => ({ name, st: await inspectState(ssh, name) }))), identifyHostEtcd(props, s, ssh)]);
      if (identity) progress(WHAT, `${h.host}'s etcd ${identity.current ? "belongs to the current cluster: left alone" : "is not the current cluster's: fenced whoever started it"} (${identity.why})`);
      const out: string[] = [];
      for (const { name, st } of states) {
        // What belongs to the current cluster (a member rebuilt into it) is never fenced; anything else is.
        if (!st.exists || exempt(name, st, identity) || (!st.running && st.restartPolicy === "no")) continue;
        progress(WHAT, `stopping ${name} on ${h.host} for good (it was ${st.status}, restart ${st.restartPolicy}); its data stays (run ${RUN_ID})`);
        await stopForGood(ssh, name, 10);
        out.push(name);
      }
      const after = await Promise.all(s.containers.map(async (name) => ({ name, st: await inspectState(ssh, name) })));
      const live = after.filter(({ name, st }) => st.exists && !exempt(name, st, identity) && (st.running || st.restartPolicy !== "no"));
      if (live.length > 0) {
        throw new EtcdStandbyError("Refused", `containers ${live.map((l) => `${l.name} (${l.st.status}, restart ${l.st.restartPolicy})`).join(", ")} on ${h.host} are still up after fencing`, "stop them by hand (docker update --restart=no NAME && docker stop NAME) and run pulumi up again", { host: h.host });
      }
      return out;
    });
  } catch (e) {
    if (!unreachable(e)) throw e;
    if (serving.length > 0) {
      throw new EtcdStandbyError(
        "Refused",
        `the old cluster serves at ${serving.map((p) => p.endpoint).join(", ")} but ${h.host} cannot be reached over SSH to fence it (${isEtcdStandbyError(e) ? e.summary : describeError(e)})`,
        `cut the old site's network off from clients now (or power it off), then fix SSH to ${h.host} and run pulumi up again`,
        { host: h.host },
      );
    }
    progress(WHAT, `${h.host} does not answer SSH (${isEtcdStandbyError(e) ? e.summary.slice(0, 160) : describeError(e)}): not fenced yet; the next pulumi up tries again`);
    return { reachable: false, fenced: false, stopped: [], unfenced: [], oldEndpointsServe: false };
  }
  const after = await probeAll(props, s, h.host);
  const still = after.filter((p) => p.serves);
  if (still.length > 0) {
    throw new EtcdStandbyError("Refused", `${h.host} is fenced (its containers are stopped) but the old cluster still serves at ${still.map((p) => p.endpoint).join(", ")}`, "find what else serves there (an etcd outside docker?) and stop it; cut the old site's network meanwhile", { host: h.host });
  }
  progress(WHAT, `${h.host} fenced: stopped [${stopped.join(", ")}]${s.oldEndpoints.length ? `; ${s.oldEndpoints.join(", ")} refuses a put and a get` : ""}`);
  return { reachable: true, fenced: true, stopped, unfenced: [], oldEndpointsServe: false };
}

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<SiteFenceInputs, SiteFenceOutputs>({
  async check(_olds, news) {
    const p = new Problems();
    checkHost(p, news.host);
    if (news.cluster !== undefined) checkCluster(p, news.cluster);
    if (news.containers !== undefined) p.add("containers", news.containers, validateEach(news.containers, "containers", validateContainerName));
    if (news.oldEndpoints !== undefined) p.add("oldEndpoints", news.oldEndpoints, validateEach(news.oldEndpoints, "oldEndpoints", validateClientUrl));
    if (Array.isArray(news.oldEndpoints) && news.oldEndpoints.length > 0 && news.cluster === undefined && !hasUnknown(news.oldEndpoints)) {
      p.add("cluster", news.cluster, ["cluster (the CA and client certificate) is needed to probe oldEndpoints"]);
    }
    if (news.connectTimeoutMs !== undefined) p.add("connectTimeoutMs", news.connectTimeoutMs, positiveInt(news.connectTimeoutMs, "connectTimeoutMs"));
    const cur: unknown = news.current;
    if (cur !== undefined && cur !== null && !hasUnknown(cur)) {
      const c = cur as Partial<CurrentClusterRef>;
      const problems = [
        ...(typeof c.clusterId === "string" && /^[0-9a-f]{1,16}$/.test(c.clusterId) ? [] : [`current.clusterId must be the current cluster's ID in hex (EtcdStandaloneRestore's newClusterId), got ${JSON.stringify(c.clusterId)}`]),
        ...(Array.isArray(c.endpoints) && c.endpoints.length > 0 ? validateEach(c.endpoints, "current.endpoints", validateClientUrl) : ["current.endpoints must list the current cluster's client URLs"]),
      ];
      p.add("current", "(value)", problems);
      if (news.cluster === undefined) p.add("cluster", news.cluster, ["cluster (the CA and client certificate) is needed to ask the current cluster who its members are"]);
    }
    return p.result(news);
  },

  async diff(_id, olds, news) {
    // Not fenced yet (the host was off), or seen back up by refresh: fence on this up.
    const pending = olds.fenced !== true || (Array.isArray(olds.unfenced) && olds.unfenced.length > 0) || olds.oldEndpointsServe === true;
    return diffByTable(SITE_FENCE_FIELDS, olds, news, { deleteBeforeReplace: false, pending });
  },

  async create(inputs) {
    return { id: `fence-${hostOf(inputs).host}`, outs: { ...inputs, ...(await fence(inputs)) } };
  },

  async read(id, state) {
    const props = stored(state);
    const s = settings(props);
    const h = hostOf(props);
    const probes = await probeAll(props, s, h.host);
    let unfenced: string[] = [];
    let reachable = false;
    try {
      unfenced = await withSsh({ ...h, timeoutMs: Math.min(h.timeoutMs ?? s.connectTimeoutMs, s.connectTimeoutMs) }, async (ssh) => {
        const [states, identity] = await Promise.all([Promise.all(s.containers.map(async (name) => ({ name, st: await inspectState(ssh, name) }))), identifyHostEtcd(props, s, ssh)]);
        return states.filter(({ name, st }) => st.exists && !exempt(name, st, identity) && (st.running || st.restartPolicy !== "no")).map(({ name }) => name);
      });
      reachable = true;
    } catch (e) {
      if (!unreachable(e)) throw e;
    }
    const serving = probes.some((p) => p.serves);
    const fenced = reachable ? unfenced.length === 0 && !serving : props.fenced === true && !serving;
    return { id, props: { ...props, reachable, unfenced, oldEndpointsServe: serving, fenced } };
  },

  async update(_id, _olds, news) {
    return { outs: { ...news, ...(await fence(news)) } };
  },

  async delete() {
    // Unfencing is a decision for the rebuild, not for deleting this resource.
  },
});
