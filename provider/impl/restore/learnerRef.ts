/**
 * The `learner` input of the resources that work from site B's learner
 * (EtcdStandaloneRestore, EtcdRestoreDrill): its type, its defaults (EtcdLearner's
 * own), and the diff of a resource that takes one. Pure.
 */
import type * as pulumi from "@pulumi/pulumi";
import { hostOfUrl } from "../../lib/members";
import { sameValue } from "../common";
import type { Props } from "../common";
import { changedFields } from "../fields";
import type { Fields } from "../fields";
import { LEARNER_FIELDS, rkeTls } from "../learnerConfig";
import type { LearnerTls } from "../learnerConfig";

/** The `learner` input, resolved (documented on StandaloneRestoreLearner). */
export type LearnerRefInputs = {
  memberName: string;
  peerURL: string;
  clientURL: string;
  containerName?: string;
  dataDir?: string;
  tls?: Partial<LearnerTls>;
};

/** How to find the learner on its host, defaults applied. */
export interface LearnerRef {
  memberName: string;
  peerURL: string;
  clientURL: string;
  containerName: string;
  dataDir: string;
  tls: LearnerTls;
}

/** The `learner` fields that name another learner: a change means another resource (the `learner` row's `replaceOn`). */
export const LEARNER_IDENTITY = ["memberName", "peerURL", "clientURL", "containerName", "dataDir"] as const;

/** The learner as EtcdLearner describes it: container `etcd-learner`, data dir `/var/lib/etcd` (its table's defaults), RKE's TLS files for its peer URL's host. */
export function learnerRefOf(learner: unknown): LearnerRef {
  const l = (learner ?? {}) as Props;
  const peerURL = String(l.peerURL);
  const tlsIn = (l.tls ?? {}) as Partial<LearnerTls>;
  const rke = rkeTls(hostOfUrl(peerURL));
  return {
    memberName: String(l.memberName),
    peerURL,
    clientURL: String(l.clientURL),
    containerName: typeof l.containerName === "string" ? l.containerName : LEARNER_FIELDS.containerName.default,
    dataDir: typeof l.dataDir === "string" ? l.dataDir : LEARNER_FIELDS.dataDir.default,
    tls: { caFile: tlsIn.caFile ?? rke.caFile, certFile: tlsIn.certFile ?? rke.certFile, keyFile: tlsIn.keyFile ?? rke.keyFile },
  };
}

/**
 * The diff by `fields` of a resource that works from a learner: as
 * {@link diffByTable}, but a replacement because of the learner names the
 * learner's fields that changed (`learner.peerURL`), as the preview shows them.
 */
export function diffFromLearner<I extends { learner: LearnerRefInputs }>(
  fields: Fields<I>,
  olds: Props,
  news: I,
  opts: { deleteBeforeReplace: boolean; pending?: boolean },
): pulumi.dynamic.DiffResult & { replaces: string[] } {
  const c = changedFields(fields, olds, news);
  const ol = (olds.learner ?? {}) as Props;
  const nl = (news.learner ?? {}) as Props;
  const named = (k: string): string[] => (k === "learner" ? (fields.learner.replaceOn ?? []).filter((f) => !sameValue(ol[f], nl[f])).map((f) => `learner.${f}`) : [k]);
  const replaces = c.replaces.flatMap(named);
  const changes = replaces.length + c.updates.length + c.records.length > 0 || opts.pending === true;
  return { changes, replaces, deleteBeforeReplace: opts.deleteBeforeReplace && replaces.length > 0 };
}
