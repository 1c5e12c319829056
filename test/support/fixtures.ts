/** Connection props for the provider implementations: the shared module (support/fixtures.ts), and the learner on master3 the suites create. */
import type { Props } from "../../provider/impl/common";
import { clusterProps, hostProps, voterEndpoints } from "../../support/fixtures";
import type { SandboxDescription } from "../../support/sandbox";

export * from "../../support/fixtures";

/** master3's peer URL: where the seed's learner (site B) lives. */
export const M3 = "https://10.250.0.103:2380";
/** master3's client URL. */
export const M3_CLIENT = "https://10.250.0.103:2379";

/** EtcdLearner's inputs for the seed's learner on master3 (etcd 3.5, site A's voters as the cluster), then `overrides`. */
export function learnerInputs(d: SandboxDescription, overrides: Props = {}): Props {
  return {
    cluster: clusterProps(d, voterEndpoints(d, ["master3"])),
    host: hostProps(d, "master3"),
    memberName: "learner1",
    peerURL: M3,
    clientURL: M3_CLIENT,
    image: d.etcd.images["v3.5"],
    timeoutMs: 120_000,
    ...overrides,
  };
}

/** EtcdStandaloneRestore's inputs for a failover to master3's learner (etcd 3.5 image, site A's voters as the old ones), then `overrides`. */
export function restoreInputs(d: SandboxDescription, overrides: Props = {}): Props {
  return {
    host: hostProps(d, "master3"),
    cluster: clusterProps(d, voterEndpoints(d, ["master3"])),
    learner: { memberName: "learner1", peerURL: M3, clientURL: M3_CLIENT },
    image: d.etcd.images["v3.5"],
    oldVoterEndpoints: voterEndpoints(d, ["master3"]),
    timeoutMs: 120_000,
    ...overrides,
  };
}
