/**
 * The seed's procedures by hand, scripted: what the benchmarks compare the
 * provider against. Debian's etcdctl and OpenSSH only; the container flags
 * come from the provider's own spec functions so both sides start the same
 * etcd, and the difference measured is the procedure around it.
 */
import type { Props } from "../../provider/impl/common";
import { buildCommand, shQuote } from "../../provider/lib/shell";
import { learnerCommand, learnerSettings } from "../../provider/impl/learnerSpec";
import { restoreCommand, restoredEtcdCommand, restoreSettings } from "../../provider/impl/standaloneRestoreSpec";
import { parseEtcdVersion } from "../../provider/lib/versions";
import { endpointStatuses, etcdctl, ssh } from "../../support/sandbox";
import type { SandboxDescription } from "../../support/sandbox";
import { waitFor } from "../../support/wait";


/**
 * Learner catch-up by hand: `etcdctl member add --learner`, `docker run` of
 * the provider's container (same image and flags, `--initial-cluster` from
 * member add's output) over OpenSSH, then `etcdctl endpoint status` every
 * 100 ms until the learner has applied the leader's index. Returns the ms
 * that took; removes the container, its data and the member afterwards.
 */
export async function rawCatchUp(d: SandboxDescription, inputs: Props, voters: string[]): Promise<number> {
  const s = learnerSettings(inputs);
  const t0 = Date.now();
  const add = await etcdctl(d, [`--endpoints=${voters.join(",")}`, "member", "add", s.memberName, "--learner", `--peer-urls=${s.peerURL}`]);
  const id = /Member\s+([0-9a-f]+)\s+added/.exec(add.stdout)?.[1] ?? "";
  const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1] ?? "";
  if (!id || !initialCluster) throw new Error(`unexpected member add output: ${add.stdout}`);
  const argv = [
    "docker", "run", "-d", "--name", s.containerName, "--restart", "always", "--net", "host",
    "-v", `${s.dataDir}:${s.dataDir}`, "-v", "/etc/kubernetes/ssl:/etc/kubernetes/ssl:ro",
    s.image, ...learnerCommand(s, initialCluster),
  ];
  await ssh(d, "master3", buildCommand(argv));
  await waitFor(async () => {
    const st = await endpointStatuses(d, [s.clientURL, voters[0]]);
    const mine = st.find((x) => x.endpoint === s.clientURL);
    const leader = st.find((x) => x.endpoint === voters[0]);
    return mine !== undefined && leader !== undefined && mine.applied >= leader.raftIndex;
  }, { timeoutMs: 1_800_000, intervalMs: 100, what: "the raw learner to apply the leader's index" });
  const ms = Date.now() - t0;
  await ssh(d, "master3", `docker rm -f ${shQuote(s.containerName)} >/dev/null && rm -rf ${shQuote(`${s.dataDir}/member`)}`);
  await etcdctl(d, [`--endpoints=${voters.join(",")}`, "member", "remove", id]);
  return ms;
}

/** The data dir the scripted failover restores into (beside the provider's default, never the same). */
export const RAW_RESTORE_DIR = "/var/lib/etcd-raw-restore";

/**
 * The seed's failover by hand, as one script over OpenSSH on the learner's
 * host: `docker stop` the learner, `etcdctl snapshot restore <data
 * dir>/member/snap/db --skip-hash-check` into a new data dir with a new name
 * and token, `docker run` the one-member cluster with the seed's flags
 * (`--initial-cluster-state=new`). No guard, no verification: the seed has
 * none. `restoreInputs` are EtcdStandaloneRestore's inputs, so both sides run
 * the same tool and the same etcd command line.
 */
export async function rawFailover(d: SandboxDescription, hostName: string, restoreInputs: Props): Promise<void> {
  const s = { ...restoreSettings(restoreInputs), restoreDataDir: `${RAW_RESTORE_DIR}/data` };
  const token = "cluster-restore1";
  const v = parseEtcdVersion((await ssh(d, hostName, `docker run --rm ${shQuote(s.image)} ${shQuote(s.etcdBinary)} --version`)).stdout);
  if (!v) throw new Error(`could not tell the etcd version of ${s.image}`);
  const bin = s.etcdBinary.slice(0, s.etcdBinary.lastIndexOf("/")) || "/";
  const tool = restoreCommand(v, bin, { db: s.sourceDb, dataDir: s.restoreDataDir, name: s.newMemberName, peerURL: s.learner.peerURL, token });
  const dbDir = s.sourceDb.slice(0, s.sourceDb.lastIndexOf("/"));
  const script = [
    "set -e",
    buildCommand(["docker", "stop", s.learner.containerName]) + " >/dev/null",
    buildCommand(["docker", "update", "--restart=no", s.learner.containerName]) + " >/dev/null",
    buildCommand(["mkdir", "-p", RAW_RESTORE_DIR]),
    buildCommand(["docker", "run", "--rm", "--network", "none", ...Object.entries(tool.env).flatMap(([k, val]) => ["-e", `${k}=${val}`]),
      "-v", `${dbDir}:${dbDir}:ro`, "-v", `${RAW_RESTORE_DIR}:${RAW_RESTORE_DIR}`, s.image, ...tool.argv]) + " >/dev/null",
    buildCommand(["docker", "run", "-d", "--name", s.containerName, "--restart", "always", "--net", "host",
      "-v", `${s.restoreDataDir}:${s.restoreDataDir}`, "-v", "/etc/kubernetes/ssl:/etc/kubernetes/ssl:ro",
      s.image, ...restoredEtcdCommand(s, token)]) + " >/dev/null",
  ].join("\n");
  await ssh(d, hostName, script);
}
