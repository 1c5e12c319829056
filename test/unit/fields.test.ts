import { expect } from "chai";
import type * as pulumi from "@pulumi/pulumi";
import type { Props } from "../../provider/impl/common";
import { changedFields, diffByTable, fieldsWith, recordedState, withDefaults } from "../../provider/impl/fields";
import type { ArgsMatch, Effect } from "../../provider/impl/fields";
import { CONTAINER_CLEANUP_FIELDS, DEFAULT_CONTAINERS, DEFAULT_DATA_DIR, provider as cleanup } from "../../provider/impl/containerCleanup";
import type { ContainerCleanupInputs } from "../../provider/impl/containerCleanup";
import { CONTAINER_REPOINT_FIELDS } from "../../provider/impl/containerRepoint";
import type { ContainerRepointInputs } from "../../provider/impl/containerRepoint";
import { DEFAULT_KUBE_CONTAINERS, KUBE_COMPONENTS_RESTART_FIELDS } from "../../provider/impl/kubeComponentsRestart";
import type { KubeComponentsRestartInputs } from "../../provider/impl/kubeComponentsRestart";
import { provider as learner } from "../../provider/impl/learner";
import { LEARNER_PROMOTION_FIELDS, provider as promotion } from "../../provider/impl/learnerPromotion";
import type { LearnerPromotionInputs } from "../../provider/impl/learnerPromotion";
import { LEARNER_FIELDS, learnerSettings } from "../../provider/impl/learnerConfig";
import type { LearnerInputs } from "../../provider/impl/learnerConfig";
import { MEMBER_REMOVAL_FIELDS } from "../../provider/impl/memberRemoval";
import type { MemberRemovalInputs } from "../../provider/impl/memberRemoval";
import { provider as rolling, ROLLING_SNAPSHOTS_FIELDS } from "../../provider/impl/rollingSnapshots";
import type { RollingSnapshotsInputs } from "../../provider/impl/rollingSnapshots";
import { FENCE_CONTAINERS, provider as fence, SITE_FENCE_FIELDS } from "../../provider/impl/siteFence";
import type { SiteFenceInputs } from "../../provider/impl/siteFence";
import { STANDALONE_RESTORE_FIELDS } from "../../provider/impl/restore/settings";
import type { StandaloneRestoreInputs } from "../../provider/impl/restore/settings";
import { RESTORE_DRILL_FIELDS } from "../../provider/impl/restoreDrillScratch";
import type { RestoreDrillInputs } from "../../provider/impl/restoreDrillScratch";

/** Every input name of `I`, as a record: the compiler refuses a missing or an extra name. */
type Names<I> = Record<keyof I, true>;

/** A table's row, whatever the input's type. */
type Row = { readonly effect: Effect; readonly default?: unknown; readonly replaceOn?: readonly string[] };

/** The table's rows by effect, and each row's default. */
function shape(fields: Record<string, Row>): { byEffect: Record<Effect, string[]>; defaults: Props } {
  const byEffect: Record<Effect, string[]> = { replace: [], update: [], record: [], none: [] };
  const defaults: Props = {};
  for (const [k, row] of Object.entries(fields)) {
    byEffect[row.effect].push(k);
    if (row.default !== undefined) defaults[k] = row.default;
  }
  return { byEffect, defaults };
}

const tables: { name: string; fields: Record<string, Row>; inputs: Names<unknown> }[] = [
  { name: "EtcdMemberRemoval", fields: MEMBER_REMOVAL_FIELDS, inputs: { cluster: true, memberName: true, peerURL: true, timeoutMs: true } satisfies Names<MemberRemovalInputs> },
  { name: "EtcdLearnerPromotion", fields: LEARNER_PROMOTION_FIELDS, inputs: { cluster: true, memberName: true, peerURL: true, timeoutMs: true, catchUpThreshold: true } satisfies Names<LearnerPromotionInputs> },
  {
    name: "EtcdRollingSnapshots",
    fields: ROLLING_SNAPSHOTS_FIELDS,
    inputs: { host: true, cluster: true, endpoint: true, spec: true, image: true, etcdBinary: true, tls: true, snapshotDir: true, trigger: true } satisfies Names<RollingSnapshotsInputs>,
  },
  { name: "SiteFence", fields: SITE_FENCE_FIELDS, inputs: { host: true, cluster: true, current: true, oldEndpoints: true, containers: true, connectTimeoutMs: true, trigger: true } satisfies Names<SiteFenceInputs> },
  {
    name: "RkeContainerCleanup",
    fields: CONTAINER_CLEANUP_FIELDS,
    inputs: { host: true, cluster: true, containers: true, mode: true, dataDir: true, archiveDataDir: true, ignoreMembers: true, restoredMember: true, force: true } satisfies Names<ContainerCleanupInputs>,
  },
  { name: "RkeContainerRepoint", fields: CONTAINER_REPOINT_FIELDS, inputs: { host: true, container: true, setFlags: true, setEnv: true, readyz: true, restartPolicy: true, trigger: true } satisfies Names<ContainerRepointInputs> },
  {
    name: "EtcdLearner",
    fields: LEARNER_FIELDS,
    inputs: {
      ...{ cluster: true, host: true, memberName: true, peerURL: true, clientURL: true, image: true, etcdBinary: true, containerName: true, dataDir: true, tls: true },
      ...{ heartbeatMs: true, electionMs: true, extraFlags: true, catchUpThreshold: true, timeoutMs: true, maxLearners: true, allowPromoted: true, joinClusterId: true },
    } satisfies Names<LearnerInputs>,
  },
  { name: "KubeComponentsRestart", fields: KUBE_COMPONENTS_RESTART_FIELDS, inputs: { host: true, containers: true, trigger: true, graceSeconds: true, timeoutMs: true } satisfies Names<KubeComponentsRestartInputs> },
  {
    name: "EtcdStandaloneRestore",
    fields: STANDALONE_RESTORE_FIELDS,
    inputs: {
      ...{ host: true, cluster: true, learner: true, image: true, etcdBinary: true, newMemberName: true, newClusterToken: true, containerName: true, restoreDataDir: true },
      ...{ sourceDb: true, oldVoterEndpoints: true, force: true, heartbeatMs: true, electionMs: true, extraFlags: true, timeoutMs: true, failedBack: true, fastFirstElection: true, revisionBump: true },
    } satisfies Names<StandaloneRestoreInputs>,
  },
  {
    name: "EtcdRestoreDrill",
    fields: RESTORE_DRILL_FIELDS,
    inputs: {
      ...{ host: true, cluster: true, learner: true, trigger: true, image: true, etcdBinary: true, containerName: true, memberName: true, listenAddress: true },
      ...{ clientPort: true, peerPort: true, scratchDir: true, heartbeatMs: true, electionMs: true, catchUpThreshold: true, timeoutMs: true, revisionBump: true },
    } satisfies Names<RestoreDrillInputs>,
  },
];

describe("field tables", () => {
  for (const t of tables) {
    it(`${t.name}: a row for every input, and only for inputs`, () => {
      expect(Object.keys(t.fields).sort()).to.deep.equal(Object.keys(t.inputs).sort());
    });
  }

  it("keep each resource's replace / update / record decisions and defaults", () => {
    const byName = Object.fromEntries(tables.map((t) => [t.name, shape(t.fields)]));
    expect(byName.EtcdMemberRemoval).to.deep.equal({ byEffect: { replace: ["memberName", "peerURL"], update: ["cluster"], record: [], none: ["timeoutMs"] }, defaults: { timeoutMs: 60_000 } });
    expect(byName.EtcdLearnerPromotion).to.deep.equal({ byEffect: { replace: ["memberName", "peerURL"], update: [], record: ["cluster", "timeoutMs", "catchUpThreshold"], none: [] }, defaults: { timeoutMs: 300_000, catchUpThreshold: 100 } });
    expect(byName.EtcdRollingSnapshots).to.deep.equal({
      byEffect: { replace: [], update: ["endpoint", "spec", "image", "tls", "snapshotDir", "trigger"], record: [], none: ["host", "cluster", "etcdBinary"] },
      defaults: { etcdBinary: "/usr/local/bin/etcd", snapshotDir: "/opt/rke/etcd-snapshots" },
    });
    expect(byName.SiteFence).to.deep.equal({
      byEffect: { replace: [], update: ["current", "oldEndpoints", "containers", "trigger"], record: [], none: ["host", "cluster", "connectTimeoutMs"] },
      defaults: { oldEndpoints: [], containers: FENCE_CONTAINERS, connectTimeoutMs: 5000 },
    });
    expect(byName.RkeContainerCleanup).to.deep.equal({
      byEffect: { replace: ["host", "containers", "dataDir"], update: [], record: ["cluster", "mode", "archiveDataDir", "ignoreMembers", "restoredMember", "force"], none: [] },
      defaults: { containers: DEFAULT_CONTAINERS, mode: "remove", dataDir: DEFAULT_DATA_DIR, archiveDataDir: true, ignoreMembers: [], force: false },
    });
    expect(byName.RkeContainerRepoint).to.deep.equal({
      byEffect: { replace: ["container"], update: ["setFlags", "setEnv", "readyz", "restartPolicy", "trigger"], record: [], none: ["host"] },
      defaults: { setFlags: {}, setEnv: {} },
    });
    expect(byName.EtcdLearner.byEffect).to.deep.equal({
      replace: ["memberName", "peerURL", "clientURL", "dataDir", "containerName"],
      update: ["image", "etcdBinary", "tls", "heartbeatMs", "electionMs", "extraFlags"],
      record: ["cluster", "host", "catchUpThreshold", "timeoutMs", "maxLearners", "allowPromoted", "joinClusterId"],
      none: [],
    });
    expect(byName.KubeComponentsRestart).to.deep.equal({
      byEffect: { replace: ["trigger", "containers"], update: [], record: ["host", "timeoutMs", "graceSeconds"], none: [] },
      defaults: { containers: DEFAULT_KUBE_CONTAINERS, timeoutMs: 120_000, graceSeconds: 10 },
    });
    expect(byName.EtcdStandaloneRestore).to.deep.equal({
      byEffect: {
        replace: [],
        update: ["fastFirstElection"],
        record: ["host", "cluster", "learner", "image", "etcdBinary", "newMemberName", "newClusterToken", "containerName", "restoreDataDir", "sourceDb", "oldVoterEndpoints", "force", "heartbeatMs", "electionMs", "extraFlags", "timeoutMs", "failedBack", "revisionBump"],
        none: [],
      },
      defaults: { etcdBinary: "/usr/local/bin/etcd", newMemberName: "new-cluster", containerName: "etcd", restoreDataDir: "/var/lib/etcd-restored", force: false, heartbeatMs: 500, electionMs: 5000, extraFlags: [], timeoutMs: 300_000, failedBack: false, fastFirstElection: false, revisionBump: 1_000_000_000 },
    });
    expect(byName.EtcdRestoreDrill).to.deep.equal({
      byEffect: {
        replace: [],
        update: ["trigger"],
        record: ["host", "cluster", "learner", "image", "etcdBinary", "containerName", "memberName", "listenAddress", "clientPort", "peerPort", "scratchDir", "heartbeatMs", "electionMs", "catchUpThreshold", "timeoutMs", "revisionBump"],
        none: [],
      },
      defaults: {
        trigger: "",
        etcdBinary: "/usr/local/bin/etcd",
        containerName: "etcd-standby-drill",
        memberName: "etcd-standby-drill",
        listenAddress: "127.0.0.1",
        clientPort: 12379,
        peerPort: 12380,
        scratchDir: "/var/lib/etcd-standby-drill",
        heartbeatMs: 500,
        electionMs: 5000,
        catchUpThreshold: 100,
        timeoutMs: 300_000,
        revisionBump: 1_000_000_000,
      },
    });
    // A newClusterToken made at create is not undone by leaving it out.
    expect(STANDALONE_RESTORE_FIELDS.newClusterToken.unsetKeeps).to.equal(true);
    // Connections whose address names another target replace on it; so does another learner.
    for (const f of [ROLLING_SNAPSHOTS_FIELDS, SITE_FENCE_FIELDS, CONTAINER_REPOINT_FIELDS, LEARNER_FIELDS, KUBE_COMPONENTS_RESTART_FIELDS, STANDALONE_RESTORE_FIELDS, RESTORE_DRILL_FIELDS]) expect(f.host.replaceOn).to.deep.equal(["host"]);
    for (const f of [STANDALONE_RESTORE_FIELDS, RESTORE_DRILL_FIELDS]) expect(f.learner.replaceOn).to.deep.equal(["memberName", "peerURL", "clientURL", "containerName", "dataDir"]);
    // The member resources' replacements are the member selector's (diffMemberSelector).
    expect(fieldsWith(MEMBER_REMOVAL_FIELDS, "replace")).to.deep.equal(["memberName", "peerURL"]);
    expect(fieldsWith(LEARNER_PROMOTION_FIELDS, "replace")).to.deep.equal(["memberName", "peerURL"]);
  });

  it("EtcdLearner's settings: the table's defaults, RKE's TLS names, a normalised cluster ID", () => {
    const s = learnerSettings({ memberName: "l", peerURL: "https://10.0.0.3:2380", clientURL: "https://10.0.0.3:2379", image: "etcd:v3.5.4", joinClusterId: "ABC" });
    expect(s).to.deep.include({ etcdBinary: "/usr/local/bin/etcd", containerName: "etcd-learner", dataDir: "/var/lib/etcd", heartbeatMs: 500, electionMs: 5000, extraFlags: [], catchUpThreshold: 100, timeoutMs: 300_000, maxLearners: 1 });
    expect(s.joinClusterId).to.equal("0000000000000abc");
    expect(learnerSettings({ memberName: "l", peerURL: "https://10.0.0.3:2380", clientURL: "x", image: "x", tls: { caFile: "/ca.pem" }, heartbeatMs: 100 })).to.deep.include({
      heartbeatMs: 100,
      tls: { caFile: "/ca.pem", certFile: "/etc/kubernetes/ssl/kube-etcd-10-0-0-3.pem", keyFile: "/etc/kubernetes/ssl/kube-etcd-10-0-0-3-key.pem" },
    });
  });

  it("defaults fill absent (undefined or null) inputs only", () => {
    const fields = { a: { effect: "record", default: 1 }, b: { effect: "record" } } as const;
    expect(withDefaults<{ a?: number; b?: string }, typeof fields>(fields, { b: "x" })).to.deep.equal({ a: 1, b: "x" });
    expect(withDefaults<Props, typeof fields>(fields, { a: null })).to.deep.equal({ a: 1 });
    expect(withDefaults<{ a?: number; b?: string }, typeof fields>(fields, { a: 0 })).to.deep.equal({ a: 0 });
  });

  it("sorts changes by the table: whole replaces first, then an address inside a connection; unset kept values are no change", () => {
    const fields = { host: { effect: "none", replaceOn: ["host"] }, name: { effect: "replace" }, image: { effect: "update" }, note: { effect: "record" }, policy: { effect: "update", unsetKeeps: true } } as const;
    type I = { host: { host: string; user: string }; name: string; image?: string; note?: string; policy?: string };
    const olds = { host: { host: "a", user: "u" }, name: "n", image: "i", note: "x", policy: "always" };
    const c = (news: I) => changedFields(fields, olds, news);
    expect(c({ ...olds, host: { host: "b", user: "u" }, name: "m" })).to.deep.equal({ replaces: ["name", "host"], updates: [], records: [] });
    expect(c({ ...olds, host: { host: "a", user: "v" } })).to.deep.equal({ replaces: [], updates: [], records: [] });
    expect(c({ ...olds, image: "j", note: "y", policy: undefined })).to.deep.equal({ replaces: [], updates: ["image"], records: ["note"] });
    expect(diffByTable(fields, olds, { ...olds, name: "m" }, { deleteBeforeReplace: true })).to.deep.equal({ changes: true, replaces: ["name"], deleteBeforeReplace: true });
    expect(diffByTable(fields, olds, olds, { deleteBeforeReplace: true, pending: true })).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("compile-time: ArgsMatch tells exact Args from near misses", () => {
    const exact: ArgsMatch<{ a: pulumi.Input<string>; b?: pulumi.Input<number[]> }, { a: string; b?: number[] }> = true;
    const optionalDiffers: ArgsMatch<{ a?: pulumi.Input<string> }, { a: string }> = false;
    const missingOptional: ArgsMatch<{ a: pulumi.Input<string> }, { a: string; b?: number }> = false;
    const extra: ArgsMatch<{ a: pulumi.Input<string>; b?: pulumi.Input<number> }, { a: string }> = false;
    const typeDiffers: ArgsMatch<{ a: pulumi.Input<number> }, { a: string }> = false;
    expect([exact, optionalDiffers, missingOptional, extra, typeDiffers]).to.deep.equal([true, false, false, false, false]);
  });
});

describe("diff decisions derived from the tables", () => {
  const host = { host: "10.0.0.3", user: "root", privateKey: "k" };
  it("a connection's other settings: nothing for EtcdRollingSnapshots and SiteFence, recorded by EtcdLearner; its address replaces", async () => {
    const olds: Props = { host, image: "etcd", running: true, fenced: true, unfenced: [], oldEndpointsServe: false };
    const key = { host: { ...host, privateKey: "k2" }, image: "etcd" };
    expect((await rolling.diff("x", olds, key)).changes).to.equal(false);
    expect((await fence.diff("x", olds, key)).changes).to.equal(false);
    expect(await rolling.diff("x", olds, { host: { ...host, host: "10.0.0.4" }, image: "etcd" })).to.deep.equal({ changes: true, replaces: ["host"], deleteBeforeReplace: false });
    expect(await rolling.diff("x", { ...olds, running: false }, { host, image: "etcd" })).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    const l = { memberName: "l", peerURL: "https://10.0.0.3:2380", image: "etcd:v3.5.4", host };
    expect(await learner.diff("x", l, { ...l, host: { ...host, privateKey: "k2" } })).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(await learner.diff("x", l, { ...l, containerName: "other" })).to.deep.equal({ changes: true, replaces: ["containerName"], deleteBeforeReplace: true });
  });

  it("RkeContainerCleanup: a new host, container list or data dir replaces, deleting first; settings are recorded; reappeared containers clean again", async () => {
    const olds: Props = { host, containers: ["etcd"], reappeared: [] };
    expect(await cleanup.diff("x", olds, { host, containers: ["etcd"], mode: "rename", force: true })).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(await cleanup.diff("x", olds, { host, containers: ["etcd", "etcd-rolling-snapshots"], dataDir: "/d" })).to.deep.equal({ changes: true, replaces: ["containers", "dataDir"], deleteBeforeReplace: true });
    expect(await cleanup.diff("x", { ...olds, reappeared: ["etcd"] }, { host, containers: ["etcd"] })).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect((await cleanup.diff("x", olds, { host, containers: ["etcd"] })).changes).to.equal(false);
  });

  it("EtcdLearnerPromotion: a new timeout or connection is recorded; another member replaces", async () => {
    const cluster = { endpoints: ["https://10.0.0.1:2379"], caPem: "c", certPem: "c", keyPem: "k" };
    const olds: Props = { cluster, memberName: "l", isVoter: true };
    expect(await promotion.diff("x", olds, { cluster, memberName: "l", timeoutMs: 5 })).to.deep.equal({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(await promotion.diff("x", olds, { cluster, memberName: "m" })).to.deep.equal({ changes: true, replaces: ["memberName"], deleteBeforeReplace: true });
  });
});

describe("recordedState: an update that only records", () => {
  it("takes every input from the new inputs, drops one no longer given, and keeps the outputs", async () => {
    const olds = { memberName: "learner-master3", joinClusterId: "00000000000000ab", timeoutMs: 5, memberId: "m1", lag: 0 };
    expect(recordedState(LEARNER_FIELDS, olds, { memberName: "learner-master3", timeoutMs: 6 })).to.deep.equal({ memberName: "learner-master3", timeoutMs: 6, memberId: "m1", lag: 0 });
    // and so the next diff sees nothing: fail back's joinClusterId, dropped in learner-standby, is not proposed again
    const cluster = { endpoints: ["https://10.0.0.1:2379"], caPem: "c", certPem: "c", keyPem: "k" };
    const host = { host: "10.0.0.3", user: "root", privateKey: "k", hostPublicKey: "h" };
    const news = { cluster, host, memberName: "learner-master3", peerURL: "https://10.0.0.3:2380", clientURL: "https://10.0.0.3:2379", image: "etcd:v3.5" };
    const state = recordedState(LEARNER_FIELDS, { ...news, joinClusterId: "00000000000000ab", memberId: "m1", present: true }, news);
    expect((await learner.diff("x", state as never, news)).changes).to.equal(false);
  });
});
