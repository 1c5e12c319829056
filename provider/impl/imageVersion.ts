/**
 * The etcd version an image runs, read by running its etcd with `--version`
 * in a throwaway container (`--pull never`: an image that is not on the host
 * is reported as such at once, and no registry is asked).
 */
import { imageExists, runOneShot } from "../connection/docker";
import type { OneShotSpec } from "../connection/docker";
import type { RunResult, SshSession } from "../connection/ssh";
import { EtcdStandbyError } from "../lib/errors";
import { parseEtcdVersion } from "../lib/versions";
import type { EtcdVersion } from "../lib/versions";

/** What {@link readImageEtcdVersion} found: the image's etcd version, or that the image is not on the host. */
export type ImageVersionRead = { present: true; version: EtcdVersion } | { present: false };

/** The throwaway container's name and labels (a leftover from a killed run can then be found and removed). */
export interface VersionContainer {
  name: string;
  labels: Record<string, string>;
}

/** What docker says (stderr) when the image is not on the host: `--pull never`'s answer, or the default policy's before it pulls. */
const IMAGE_ABSENT = /no such image|unable to find image/i;

/** What a docker CLI older than 20.10 says of `docker run --pull`. */
const NO_PULL_FLAG = /unknown flag: --pull/i;

/** The error for an image that is not on the host, the same wherever that is found. */
export function imageAbsentError(image: string, host: string): EtcdStandbyError {
  return new EtcdStandbyError("InvalidInput", `image ${image} is not present on ${host}`, `load it there first (docker load / docker pull ${image})`, { host });
}

/**
 * Runs `etcdBinary --version` from `image` on the host (no network, never
 * pulled, removed afterwards): the version it prints, or `present: false`
 * when docker says the image is not there. Any other failure throws
 * InvalidInput. A docker CLI without `--pull` (before 20.10) is asked
 * whether the image is there first, then runs it without the flag.
 */
export async function readImageEtcdVersion(ssh: SshSession, image: string, etcdBinary: string, container: VersionContainer): Promise<ImageVersionRead> {
  const spec: OneShotSpec = { name: container.name, image, volumes: [], labels: container.labels, command: [etcdBinary, "--version"] };
  const run = (pull: Pick<OneShotSpec, "pull">): Promise<RunResult> => runOneShot(ssh, { ...spec, ...pull }, { timeoutMs: 60_000, allowFailure: true });
  let r = await run({ pull: "never" });
  if (r.code !== 0 && NO_PULL_FLAG.test(r.stderr)) {
    if (!(await imageExists(ssh, image))) return { present: false };
    r = await run({});
  }
  if (r.code !== 0 && IMAGE_ABSENT.test(r.stderr)) return { present: false };
  const v = parseEtcdVersion(r.stdout);
  if (r.code !== 0 || v === undefined) {
    throw new EtcdStandbyError(
      "InvalidInput",
      `could not tell the etcd version of image ${image} on ${ssh.host} (${etcdBinary} --version exited ${String(r.code)}): ${(r.stderr || r.stdout).trim().slice(-500)}`,
      "check that the image is on the host and that etcdBinary is its etcd; nothing was changed",
      { host: ssh.host },
    );
  }
  return { present: true, version: v };
}

/** {@link readImageEtcdVersion}, with an image that is not on the host thrown as {@link imageAbsentError}. */
export async function imageEtcdVersion(ssh: SshSession, image: string, etcdBinary: string, container: VersionContainer): Promise<EtcdVersion> {
  const r = await readImageEtcdVersion(ssh, image, etcdBinary, container);
  if (!r.present) throw imageAbsentError(image, ssh.host);
  return r.version;
}
