/**
 * etcd-standby: Pulumi dynamic resources that keep a two-site etcd cluster in
 * a declared shape. See README.md for what each resource does and refuses.
 */
export { EtcdMemberRemoval } from "./resources/memberRemoval";
export type { EtcdMemberRemovalArgs } from "./resources/memberRemoval";
export { RkeContainerCleanup } from "./resources/containerCleanup";
export type { RkeContainerCleanupArgs } from "./resources/containerCleanup";
export { EtcdLearner } from "./resources/learner";
export type { EtcdLearnerArgs, LearnerTlsFiles } from "./resources/learner";
export { EtcdLearnerPromotion } from "./resources/learnerPromotion";
export type { EtcdLearnerPromotionArgs } from "./resources/learnerPromotion";
export { EtcdStandaloneRestore } from "./resources/standaloneRestore";
export type { EtcdStandaloneRestoreArgs, StandaloneRestoreLearner, StandaloneRestorePhases } from "./resources/standaloneRestore";
export { KubeComponentsRestart } from "./resources/kubeComponentsRestart";
export type { KubeComponentsRestartArgs } from "./resources/kubeComponentsRestart";
export { KubeRestart, KUBE_COMPONENTS } from "./components/kubeRestart";
export type { KubeRestartArgs, KubeRestartHost } from "./components/kubeRestart";
export { RkeContainerRepoint } from "./resources/containerRepoint";
export type { RkeContainerRepointArgs } from "./resources/containerRepoint";
export { SiteFence } from "./resources/siteFence";
export type { SiteFenceArgs } from "./resources/siteFence";
export { EtcdRollingSnapshots } from "./resources/rollingSnapshots";
export type { EtcdRollingSnapshotsArgs } from "./resources/rollingSnapshots";
export { EtcdRestoreDrill } from "./resources/restoreDrill";
export type { EtcdRestoreDrillArgs, RestoreDrillPhases } from "./resources/restoreDrill";
export type { ClusterConnection, ContainerSpec, HostConnection, MemberInfo } from "./resources/types";
