/**
 * etcd versions and the rules for running them side by side.
 *
 * etcd supports a mixed-version cluster only during a rolling upgrade: every
 * member at most one minor version apart, never a member older than the
 * cluster version, and for 3.6 only beside 3.5 members at or above the patch
 * release etcd's upgrade guide names ("Before upgrading to 3.6, make sure that
 * all of your 3.5 members are updated to 3.5.26 or later",
 * etcd.io/docs/latest/upgrades/upgrade_3_6). A 3.6 learner beside 3.4 voters
 * makes them crash (`panic: not implemented`): the quorum goes.
 *
 * Pure module: no I/O.
 */

/** A parsed etcd version. */
export interface EtcdVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

/** Parses "3.5.17", "v3.5.17" or `etcd --version` output ("etcd Version: 3.5.17"); undefined when none is found. */
export function parseEtcdVersion(text: string): EtcdVersion | undefined {
  const m = /(?:etcd Version:\s*|^\s*v?)(\d+)\.(\d+)\.(\d+)/m.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: `${m[1]}.${m[2]}.${m[3]}` };
}

/** The etcd version an image's tag names (`rancher/mirrored-coreos-etcd:v3.5.17`); undefined when the tag is not a version (or there is none, or a digest). */
export function taggedEtcdVersion(image: string): EtcdVersion | undefined {
  if (image.includes("@")) return undefined;
  const last = image.slice(image.lastIndexOf("/") + 1);
  const colon = last.lastIndexOf(":");
  if (colon < 0) return undefined;
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+._a-zA-Z0-9]*)$/.exec(last.slice(colon + 1));
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: `${m[1]}.${m[2]}.${m[3]}` } : undefined;
}

/** Parses a cluster version ("3.4.0" or "3.4"): major and minor only. */
export function parseClusterVersion(text: string): EtcdVersion | undefined {
  const m = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: `${m[1]}.${m[2]}` };
}

/** The lowest 3.5 patch release etcd's guide allows beside 3.6 members. */
export const MIN_35_PATCH_FOR_36 = 26;

/** What the cluster runs, as read by a preflight. */
export interface ClusterVersions {
  /** The cluster version (`/version`'s `etcdcluster`, e.g. "3.4.0"); undefined when not reported. */
  cluster: string | undefined;
  /** Every member that answered: its name and server version. */
  members: { name: string; version: string }[];
}

/** The verdict on a new member's version beside a cluster. */
export interface VersionVerdict {
  ok: boolean;
  /** Every rule broken, each naming the member and versions. */
  problems: string[];
  /** What to do instead, when not ok. */
  safePath: string;
}

function minor(v: EtcdVersion): string {
  return `${v.major}.${v.minor}`;
}

/** Minor versions apart (positive when `a` is newer); majors count as 100 minors. */
function minorsAhead(a: EtcdVersion, b: EtcdVersion): number {
  return (a.major - b.major) * 100 + (a.minor - b.minor);
}

/**
 * Whether a member running `image` may join a cluster: never older than the
 * cluster version, at most one minor version ahead of the cluster version and
 * of every member, and 3.6 only beside 3.5 members at 3.5.26 or later.
 */
export function checkJoinVersion(image: EtcdVersion, live: ClusterVersions): VersionVerdict {
  const problems: string[] = [];
  const cluster = live.cluster !== undefined ? parseClusterVersion(live.cluster) : undefined;
  const members = live.members.map((m) => ({ name: m.name, v: parseEtcdVersion(m.version) }));
  const lowest = members.reduce<EtcdVersion | undefined>((lo, m) => (m.v && (!lo || minorsAhead(m.v, lo) < 0 || (minorsAhead(m.v, lo) === 0 && m.v.patch < lo.patch)) ? m.v : lo), undefined);
  // Without a reported cluster version, the lowest member's minor version is what the cluster runs.
  const effective = cluster ?? lowest;
  if (effective === undefined) {
    problems.push("the cluster's version could not be read (no member reported one)");
  } else {
    if (minorsAhead(image, effective) < 0) {
      problems.push(`etcd ${image.text} is older than the cluster version ${minor(effective)}: an older etcd cannot join (etcd never downgrades)`);
    } else if (minorsAhead(image, effective) > 1) {
      problems.push(`etcd ${image.text} is ${minorsAhead(image, effective)} minor versions ahead of the cluster version ${minor(effective)}: etcd supports one minor version ahead at most`);
    }
  }
  for (const m of members) {
    if (!m.v) continue;
    if (minorsAhead(image, m.v) > 1) {
      problems.push(`member ${m.name || "(unnamed)"} runs etcd ${m.v.text}, more than one minor version behind ${image.text}`);
    } else if (image.major === 3 && image.minor === 6 && m.v.major === 3 && m.v.minor === 5 && m.v.patch < MIN_35_PATCH_FOR_36) {
      problems.push(`member ${m.name || "(unnamed)"} runs etcd ${m.v.text}: etcd 3.6 may join 3.5 members only from 3.5.${MIN_35_PATCH_FOR_36} on (etcd's upgrade guide)`);
    }
  }
  const ok = problems.length === 0;
  const safePath = ok
    ? ""
    : effective === undefined
      ? "check that the voters answer `etcdctl endpoint status`, then run pulumi up again"
      : `use an image of etcd ${minor(effective)} (the cluster's version) or ${effective.major}.${effective.minor + 1} where every member allows it; to go further, upgrade the voters one minor version at a time first (${effective.major}.${effective.minor} -> ${effective.major}.${effective.minor + 1}${effective.minor + 1 === 5 ? `, at 3.5.${MIN_35_PATCH_FOR_36} or later before 3.6` : ""})`;
  return { ok, problems, safePath };
}
