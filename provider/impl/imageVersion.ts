/**
 * The etcd version an image runs, read by running its etcd with `--version`
 * in a throwaway container (`--pull never`: an image that is not on the host
 * is reported as such at once, and no registry is asked), and remembered on
 * the host under the image's ID ({@link VERSION_CACHE_DIR}): an image ID is a
 * content address, so the same ID always runs the same etcd, and a later read
 * of it is one `docker image inspect`.
 */
import { imageExists, runOneShot } from "../connection/docker";
import type { OneShotSpec } from "../connection/docker";
import { runOneShotRemembered } from "../connection/imageAnswer";
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

/**
 * Where a host keeps the versions read, one file per image ID (root's, like
 * the data dirs beside it; a host where it cannot be written reads every time).
 * Removing it only makes the next read start a container again.
 */
export const VERSION_CACHE_DIR = "/var/lib/etcd-standby/image-versions";

/** What `etcd --version` prints first: only such an answer is kept. */
const VERSION_LINE = "^etcd Version: [0-9]+\\.[0-9]+\\.[0-9]+";

/** The error for an image that is not on the host, the same wherever that is found. */
export function imageAbsentError(image: string, host: string): EtcdStandbyError {
  return new EtcdStandbyError("InvalidInput", `image ${image} is not present on ${host}`, `load it there first (docker load / docker pull ${image})`, { host });
}

/**
 * `etcdBinary --version` of `image` on the host: the version the host kept
 * for the image's ID, else what the image's etcd prints in a throwaway
 * container (the host's network, which the member it vets runs on too, as a
 * new network namespace costs a tenth of a second; never pulled; removed
 * afterwards), then kept. `present: false` when docker says the image is not
 * there. Any other failure throws InvalidInput. A docker CLI without
 * `--pull` (before 20.10) is asked whether the image is there first, then
 * runs it without the flag (and keeps nothing). `cacheDir` is for tests.
 */
export async function readImageEtcdVersion(ssh: SshSession, image: string, etcdBinary: string, container: VersionContainer, cacheDir = VERSION_CACHE_DIR): Promise<ImageVersionRead> {
  const spec: OneShotSpec = { name: container.name, image, volumes: [], labels: container.labels, command: [etcdBinary, "--version"], network: "host" };
  const run = (pull: Pick<OneShotSpec, "pull">): Promise<RunResult> => runOneShot(ssh, { ...spec, ...pull }, { timeoutMs: 60_000, allowFailure: true });
  let r = (await runOneShotRemembered(ssh, { ...spec, pull: "never" }, { dir: cacheDir, key: etcdBinary, keepIf: VERSION_LINE }, { timeoutMs: 60_000 })).result;
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
