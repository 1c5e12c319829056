/**
 * Keeping Kubernetes' guarantees across a restore: `snapshot restore
 * --bump-revision N --mark-compacted` (etcd issue 16028, Kubernetes issue
 * 118501).
 *
 * A restore from site B's learner starts the new cluster at the learner's
 * revision, which is usually a little behind site A's last one. Without a
 * bump the new cluster hands out the revisions in between again, for other
 * writes, and a watcher that resumes from a resourceVersion it saw on site A
 * silently misses every change made until the new cluster passes it. With
 * the bump the first new revision lies far above anything site A gave out,
 * and with the mark every revision from before the restore reads as
 * compacted: every watcher is told "compacted" and relists.
 *
 * Pure module: no I/O.
 */
import type { EtcdVersion } from "./versions";

/** The bump etcd's own disaster-recovery guide uses: far above any revision a client could have seen since the learner fell behind. */
export const DEFAULT_REVISION_BUMP = 1_000_000_000;

/** The first patch release of each minor version whose restore tool has `--bump-revision` and `--mark-compacted` (3.6 and later: all). */
export const BUMP_SINCE: Readonly<Record<string, number>> = { "3.4": 27, "3.5": 10 };

/** The minimum versions, as an operator reads them. */
export const BUMP_MINIMUM_TEXT = "etcd 3.4.27, 3.5.10 or 3.6";

/** Whether the restore tool of an image of etcd `v` has `--bump-revision` and `--mark-compacted`. */
export function bumpSupported(v: EtcdVersion): boolean {
  if (v.major !== 3) return v.major > 3;
  if (v.minor >= 6) return true;
  const since = BUMP_SINCE[`${v.major}.${v.minor}`];
  return since !== undefined && v.patch >= since;
}

/** The flags of a restore with bump `amount` (none for 0). */
export function bumpFlags(amount: number): string[] {
  return amount > 0 ? [`--bump-revision=${amount}`, "--mark-compacted"] : [];
}

/**
 * What it means to restore without the bump, for the operator (the warning
 * of a failover or a drill whose image lacks the flags, and of EtcdLearner's
 * preflight in peacetime).
 */
export function noBumpWarning(image: string, v: EtcdVersion): string {
  return (
    `WARNING: ${image} runs etcd ${v.text}, whose snapshot restore has no --bump-revision/--mark-compacted (needs ${BUMP_MINIMUM_TEXT}): ` +
    "after a failover the new cluster hands out again revisions that site A already gave out, and Kubernetes watchers are not told to relist. " +
    "Restart every Kubernetes client after the failover (kube-apiserver, controller manager, scheduler, kubelets, operators); until then informers can miss changes. " +
    "Use a learner image of one of those versions to avoid this"
  );
}

/** What the restore tool said of its bump: the db's revision, the amount, the new revision (compacted). */
export interface BumpSeen {
  latest: number;
  amount: number;
  bumped: number;
}

/**
 * The restore tool's "bumping latest revision" log line (etcdutl's and
 * etcdctl's, console or JSON encoded): the revision the db held, the bump
 * and the new latest revision. Undefined when the tool did not say.
 */
export function parseBumpLog(output: string): BumpSeen | undefined {
  for (const line of output.split("\n")) {
    if (!line.includes("bumping latest revision")) continue;
    const num = (key: string): number | undefined => {
      const m = new RegExp(`"${key}"\\s*:\\s*(\\d+)`).exec(line);
      return m ? Number(m[1]) : undefined;
    };
    const latest = num("latest-revision");
    const amount = num("bump-amount");
    const bumped = num("new-latest-revision");
    if (latest !== undefined && amount !== undefined && bumped !== undefined && bumped === latest + amount) return { latest, amount, bumped };
  }
  return undefined;
}

/** The largest bump accepted: revisions are int64 in etcd, and JavaScript counts exactly to 2^53. */
export const MAX_REVISION_BUMP = 1e15;

/** Problems with a `revisionBump` input: a whole number from 0 to {@link MAX_REVISION_BUMP}. */
export function validateRevisionBump(v: unknown, field = "revisionBump"): string[] {
  if (v === undefined) return [];
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_REVISION_BUMP) return [];
  return [`${field} must be a whole number from 0 (no bump) to ${MAX_REVISION_BUMP}, got ${JSON.stringify(v)}; the default 1000000000 is what etcd's recovery guide uses`];
}
