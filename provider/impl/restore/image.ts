/**
 * The image's etcd version, pure and read: which tool restores a db of a
 * version, whether an image may open the learner's data, and the image's own
 * version (`etcd --version` in a throwaway container).
 */
import type { SshSession } from "../../connection/ssh";
import { EtcdStandbyError } from "../../lib/errors";
import { parseEtcdVersion } from "../../lib/versions";
import type { EtcdVersion } from "../../lib/versions";
import { RUN_ID, RUN_LABEL } from "../clusterLock";
import { imageEtcdVersion } from "../imageVersion";
import { MANAGED_LABEL } from "../learnerConfig";
import type { RestoreRecord } from "./record";
import { RESTORE_TOOL_VALUE, TOOL_NAMES } from "./settings";
import type { RestoreSettings } from "./settings";

/** The tool that restores a db: etcdctl up to 3.5, etcdutl from 3.6 (3.6's etcdctl has no `snapshot restore`). */
export function restoreTool(v: EtcdVersion): "etcdctl" | "etcdutl" {
  return v.major > 3 || (v.major === 3 && v.minor >= 6) ? "etcdutl" : "etcdctl";
}

/**
 * Whether the restore image may open the learner's data: the same minor
 * version or the next one (etcd upgrades one minor at a time and never
 * downgrades data). Returns the problem, or undefined when fine.
 */
export function versionProblem(learner: EtcdVersion, image: EtcdVersion): string | undefined {
  if (image.major !== learner.major) return `the image runs etcd ${image.text} but the learner ran ${learner.text}: a different major version cannot open its data`;
  if (image.minor < learner.minor) return `the image runs etcd ${image.text}, older than the learner's ${learner.text}: etcd cannot downgrade data`;
  if (image.minor > learner.minor + 1) return `the image runs etcd ${image.text} but the learner ran ${learner.text}: etcd upgrades one minor version at a time`;
  return undefined;
}

/** {@link versionProblem} from the version the learner reported (its status); undefined when that is not a version. */
export function learnerVersionProblem(learnerVersion: string, image: EtcdVersion): string | undefined {
  const learner = parseEtcdVersion(learnerVersion);
  return learner ? versionProblem(learner, image) : undefined;
}

let versionReads = 0;

/**
 * The etcd version of an image (`etcd --version` in a throwaway container).
 * The container's name is this read's own (`etcd-standby-restore-version-<run>-<n>`,
 * labelled with the run): it reads nothing another run changes and no
 * leftover can hold its name, so it starts with the create, beside the
 * guard; `docker run --rm` removes it.
 */
export function imageVersion(ssh: SshSession, s: RestoreSettings): Promise<EtcdVersion> {
  return imageEtcdVersion(ssh, s.image, s.etcdBinary, { name: `${TOOL_NAMES[1]}-${RUN_ID}-${++versionReads}`, labels: { [MANAGED_LABEL]: RESTORE_TOOL_VALUE, [RUN_LABEL]: RUN_ID } });
}

/** The image's etcd version checked against the learner's (recorded while it ran). */
export function checkImageVersion(ssh: SshSession, rec: RestoreRecord, v: EtcdVersion): EtcdVersion {
  const problem = learnerVersionProblem(rec.learnerVersion, v);
  if (problem) throw new EtcdStandbyError("InvalidInput", problem, "use an image of the learner's etcd version (or the next minor version)", { host: ssh.host });
  return v;
}
