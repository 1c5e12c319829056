/**
 * EtcdStandaloneRestore: when site A is gone, the site-B learner becomes a new
 * one-member cluster (the seed's restore section, automated).
 *
 * The provider object and its wiring; create's phases are in
 * `restore/create.ts` (their table in the order they start), its pieces in
 * `restore/` (settings and field table, the split-brain guard, the record,
 * the preflight, leftovers, the stop, the restore proper, the restored etcd,
 * verification). A verified restore found by create (state lost, or a
 * replacement) is adopted and never redone: it may already hold new writes.
 * read reports health and the cluster ID; update records the settings, and
 * when `fastFirstElection` goes from true to false restarts the restored
 * member once with the cluster's timing (`restore/retime.ts`); delete
 * changes nothing. State written by earlier versions loads this module
 * (`dist/provider/impl/standaloneRestore.js`) and uses its `provider`.
 */
import { withEtcd } from "../connection/etcd";
import { refusedExtraFlags } from "../lib/etcdFlags";
import { NO_LEADER } from "../lib/members";
import { validateRevisionBump } from "../lib/revisionBump";
import { validateAbsolutePath, validateClientUrl, validateContainerName, validateEach, validateExtraFlag, validateImage, validateMemberName } from "../lib/validate";
import { checkCluster, checkHost, checkLearnerRef, checkRaftTimings, clusterOf, hasUnknown, hostOf, positiveInt, Problems, progress, stored, typedProvider } from "./common";
import type { Props } from "./common";
import { recordedState } from "./fields";
import { restore } from "./restore/create";
import { diffFromLearner } from "./restore/learnerRef";
import { retime } from "./restore/retime";
import { failedBackProblems, MANAGED_FLAGS, pathConflicts, restoreSettings, STANDALONE_RESTORE_FIELDS, startTiming, WHAT } from "./restore/settings";
import type { StandaloneRestoreInputs, StandaloneRestoreOutputs } from "./restore/settings";

/** The provider implementation, loaded by the serialised facade. */
export const provider = typedProvider<StandaloneRestoreInputs, StandaloneRestoreOutputs>({
  async check(olds, news) {
    const p = new Problems();
    const n = news as Props;
    checkHost(p, news.host);
    checkCluster(p, news.cluster);
    const h: Partial<StandaloneRestoreInputs["host"]> = news.host ?? {};
    p.add("failedBack", news.failedBack, failedBackProblems(olds, n));
    checkLearnerRef(p, news.learner, h.host, "to restore from", "the restore");
    p.add("image", news.image, validateImage(news.image, "image"));
    if (news.newMemberName !== undefined) p.add("newMemberName", news.newMemberName, validateMemberName(news.newMemberName, "newMemberName"));
    if (news.newClusterToken !== undefined && !hasUnknown(news.newClusterToken) && (typeof news.newClusterToken !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(news.newClusterToken))) {
      p.add("newClusterToken", news.newClusterToken, ["newClusterToken must be 1 to 64 letters, digits, \".\", \"_\" or \"-\""]);
    }
    if (news.containerName !== undefined) p.add("containerName", news.containerName, validateContainerName(news.containerName, "containerName"));
    for (const f of ["restoreDataDir", "sourceDb", "etcdBinary"] as const) {
      if (news[f] !== undefined) p.add(f, news[f], validateAbsolutePath(news[f], f, { allowRoot: false }));
    }
    if (news.oldVoterEndpoints !== undefined) p.add("oldVoterEndpoints", news.oldVoterEndpoints, validateEach(news.oldVoterEndpoints, "oldVoterEndpoints", validateClientUrl));
    for (const f of ["force", "failedBack", "fastFirstElection"] as const) {
      if (news[f] !== undefined && !hasUnknown(news[f]) && typeof news[f] !== "boolean") p.add(f, news[f], [`${f} must be true or false`]);
    }
    for (const f of ["heartbeatMs", "electionMs", "timeoutMs"] as const) {
      if (news[f] !== undefined) p.add(f, news[f], positiveInt(news[f], f));
    }
    if (news.revisionBump !== undefined && !hasUnknown(news.revisionBump)) p.add("revisionBump", news.revisionBump, validateRevisionBump(news.revisionBump));
    checkRaftTimings(p, n);
    if (news.extraFlags !== undefined) {
      p.add("extraFlags", news.extraFlags, [...validateEach(news.extraFlags, "extraFlags", validateExtraFlag), ...refusedExtraFlags(news.extraFlags, MANAGED_FLAGS)]);
    }
    // Cross-field checks, once every value involved is known and valid.
    if (p.failures.length === 0 && !hasUnknown(news)) {
      const s = restoreSettings(n);
      for (const problem of pathConflicts(s)) p.add("restoreDataDir", s.restoreDataDir, [problem]);
      if (s.oldVoterEndpoints.some((e) => e === s.learner.clientURL)) {
        p.add("oldVoterEndpoints", s.oldVoterEndpoints, [`oldVoterEndpoints must not list the learner's own client URL ${s.learner.clientURL}`]);
      }
      if (s.oldVoterEndpoints.length === 0 && !s.force) {
        p.add("oldVoterEndpoints", news.oldVoterEndpoints, ["oldVoterEndpoints must list site A's voters (client URLs) so the split-brain guard can check they are gone; or set force: true"]);
      }
    }
    return p.result(n);
  },

  async diff(_id, olds, news) {
    // Another host or learner replaces (deleting first); the rest is recorded (newClusterToken: only a given value counts).
    return diffFromLearner(STANDALONE_RESTORE_FIELDS, olds, news, { deleteBeforeReplace: true });
  },

  async create(inputs) {
    const outs = await restore(inputs);
    return { id: `standalone-restore-${hostOf(inputs).host}`, outs: { ...inputs, ...outs } };
  },

  async read(id, state) {
    const props = stored(state);
    const s = restoreSettings(props);
    let healthy = false;
    let observedClusterId = "";
    try {
      const seen = await withEtcd({ ...clusterOf(props), endpoints: [s.learner.clientURL] }, async (e) => ({ status: await e.statusOf(s.learner.clientURL), clusterId: await e.clusterId() }));
      healthy = seen.status.leaderId !== NO_LEADER && seen.status.errors.length === 0;
      observedClusterId = seen.clusterId;
    } catch {
      healthy = false;
    }
    return { id, props: { ...props, healthy, observedClusterId } };
  },

  async update(_id, olds, news) {
    const was = restoreSettings(olds);
    const now = restoreSettings(news);
    // Fast first election off (rebuild mode, before other members join): the restored member once more on the cluster's timing.
    if (was.fastFirstElection && !now.fastFirstElection && olds.failedBack !== true) {
      await retime(hostOf(news), clusterOf(news), { ...now, containerName: was.containerName, newMemberName: was.newMemberName, restoreDataDir: was.restoreDataDir }, startTiming(now));
    } else if (!was.fastFirstElection && now.fastFirstElection) {
      progress(WHAT, "fastFirstElection recorded: it only shapes a restore's start, and the restored member keeps the cluster's timing");
    }
    progress(WHAT, "settings recorded; the restored cluster is not restored again (never over live data)");
    // The token made at create stays when none is given.
    return { outs: { ...recordedState(STANDALONE_RESTORE_FIELDS, olds, news), newClusterToken: news.newClusterToken ?? olds.newClusterToken } };
  },

  async delete() {
    // Never tears down a production cluster: the restored etcd, its data dir
    // and the stopped learner stay as they are.
    progress(WHAT, "delete leaves the restored cluster, its data dir and the stopped learner as they are");
  },
});
