/**
 * Which cluster an etcd on a host belongs to, judged by identity, never by
 * who started it. After a full DR loop, site A's members are etcd-standby's
 * own containers (rebuild started them); when site A is lost again they are
 * as dangerous as RKE's were the first time. So a lost-site etcd is fenced
 * unless it belongs to the cluster that serves now:
 *
 * - it answers: its cluster ID (a status call's header) is the current one;
 * - it does not answer (down, restarting, restarted without a leader): the
 *   member its container was started as (`--name`, its own peer URL) is a
 *   member of the current cluster under that name and peer URL.
 *
 * Pure module: no I/O.
 */
import { sameUrl } from "./members";

/** The cluster that serves now, as the fence sees it. */
export interface CurrentCluster {
  /** Its ID (hex). */
  clusterId: string;
  /** Its members: name and peer URLs (from its member list). */
  members: readonly { name: string; peerURLs: readonly string[] }[];
}

/** What was seen of a host's etcd. */
export interface EtcdSeen {
  /** The cluster ID its client URL answered with; undefined when it did not answer. */
  answeredClusterId?: string;
  /** The member its container was started as: `--name` and `--initial-advertise-peer-urls` (undefined when no such container). */
  startedAs?: { name: string | undefined; peerURLs: string[] };
}

/** The verdict on a host's etcd. */
export interface Identity {
  /** True when it belongs to the current cluster (never fenced). */
  current: boolean;
  /** Why, for the operator. */
  why: string;
}

/** Judges a host's etcd against the current cluster (see the module's doc). */
export function identify(seen: EtcdSeen, cur: CurrentCluster): Identity {
  if (seen.answeredClusterId !== undefined) {
    return seen.answeredClusterId === cur.clusterId
      ? { current: true, why: `it answers as cluster ${seen.answeredClusterId}, the current one` }
      : { current: false, why: `it answers as cluster ${seen.answeredClusterId}, not the current ${cur.clusterId}` };
  }
  const s = seen.startedAs;
  if (s === undefined) return { current: false, why: "it does not answer and no etcd container says which member it is" };
  const match = cur.members.find((m) => s.name !== undefined && m.name === s.name && s.peerURLs.some((u) => m.peerURLs.some((p) => sameUrl(p, u))));
  return match
    ? { current: true, why: `it does not answer, but its container was started as ${s.name} (${s.peerURLs.join(", ")}), a member of the current cluster ${cur.clusterId}` }
    : { current: false, why: `it does not answer, and its container was started as ${s.name ?? "(no --name)"} (${s.peerURLs.join(", ") || "no peer URL"}), which is no member of the current cluster ${cur.clusterId}` };
}
