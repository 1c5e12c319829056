/** The etcd version an image runs, read by running its etcd with `--version` in a throwaway container. */
import { runOneShot } from "../connection/docker";
import type { SshSession } from "../connection/ssh";
import { EtcdStandbyError } from "../lib/errors";
import { parseEtcdVersion } from "../lib/versions";
import type { EtcdVersion } from "../lib/versions";

/** Runs `etcdBinary --version` from `image` on the host (no network, removed afterwards) and parses it. */
export async function imageEtcdVersion(ssh: SshSession, image: string, etcdBinary: string, container: { name: string; labels: Record<string, string> }): Promise<EtcdVersion> {
  const r = await runOneShot(ssh, { name: container.name, image, volumes: [], labels: container.labels, command: [etcdBinary, "--version"] }, { timeoutMs: 60_000, allowFailure: true });
  const v = parseEtcdVersion(r.stdout);
  if (r.code !== 0 || v === undefined) {
    throw new EtcdStandbyError(
      "InvalidInput",
      `could not tell the etcd version of image ${image} on ${ssh.host} (${etcdBinary} --version exited ${String(r.code)}): ${(r.stderr || r.stdout).trim().slice(-500)}`,
      "check that the image is on the host and that etcdBinary is its etcd; nothing was changed",
      { host: ssh.host },
    );
  }
  return v;
}
