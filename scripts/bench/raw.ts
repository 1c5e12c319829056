/**
 * The seed's procedures by hand, scripted: what the benchmarks compare the
 * provider against. Debian's etcdctl and OpenSSH only; the container flags
 * come from the provider's own spec functions so both sides start the same
 * etcd, and the difference measured is the procedure around it.
 */
import type { Props } from "../../provider/impl/common";
import { buildCommand, shQuote } from "../../provider/lib/shell";
import { learnerCommand, learnerSettings } from "../../provider/impl/learnerConfig";
import type { LearnerSettings } from "../../provider/impl/learnerConfig";
import { drillEtcdCommand, drillRestoreContainer, drillSettings, drillToken, drillUrls, runDirOf, scratchPaths } from "../../provider/impl/restoreDrillScratch";
import { etcdctlArgs, parseCtlCount, parseCtlStatus, STATUS_ARGS } from "../../provider/impl/restore/ctlJson";
import { restoredEtcdCommand } from "../../provider/impl/restore/restoredEtcd";
import { restoreSettings } from "../../provider/impl/restore/settings";
import { restoreCommand } from "../../provider/impl/restore/snapshotRestore";
import { dirOf, etcdVolumes } from "../../provider/lib/paths";
import { parseEtcdVersion } from "../../provider/lib/versions";
import type { EtcdVersion } from "../../provider/lib/versions";
import { endpointStatuses, etcdctl, host, ssh } from "../../support/sandbox";
import type { SandboxDescription } from "../../support/sandbox";
import { waitFor } from "../../support/wait";

/** `etcdctl member add NAME --learner` through `endpoints`: the new member's ID (hex, as etcdctl prints it) and the `--initial-cluster` it gives. */
export async function memberAddLearner(d: SandboxDescription, endpoints: string[], name: string, peerURL: string): Promise<{ id: string; initialCluster: string }> {
  const add = await etcdctl(d, [`--endpoints=${endpoints.join(",")}`, "member", "add", name, "--learner", `--peer-urls=${peerURL}`]);
  const id = /Member\s+([0-9a-f]+)\s+added/.exec(add.stdout)?.[1] ?? "";
  const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1] ?? "";
  if (!id || !initialCluster) throw new Error(`unexpected member add output: ${add.stdout}`);
  return { id, initialCluster };
}

/** `docker run` over OpenSSH of the provider's learner container: same image, name, data dir, TLS folder and flags (`--initial-cluster-state=existing`). */
export async function runLearner(d: SandboxDescription, hostName: string, s: LearnerSettings, initialCluster: string): Promise<void> {
  const argv = [
    "docker", "run", "-d", "--name", s.containerName, "--restart", "always", "--net", "host",
    "-v", `${s.dataDir}:${s.dataDir}`, "-v", "/etc/kubernetes/ssl:/etc/kubernetes/ssl:ro",
    s.image, ...learnerCommand(s, initialCluster),
  ];
  await ssh(d, hostName, `${buildCommand(argv)} >/dev/null`);
}

/**
 * Polls `etcdctl endpoint status` every 100 ms until the member at
 * `clientURL` has applied the highest raft index `voters` report, less
 * `threshold` (0: all of it).
 */
export async function waitApplied(d: SandboxDescription, clientURL: string, voters: string[], opts: { threshold?: number; timeoutMs?: number } = {}): Promise<void> {
  await waitFor(async () => {
    const st = await endpointStatuses(d, [clientURL, ...voters]);
    const mine = st.find((x) => x.endpoint === clientURL);
    const theirs = st.filter((x) => x.endpoint !== clientURL);
    return mine !== undefined && theirs.length > 0 && mine.applied + (opts.threshold ?? 0) >= Math.max(...theirs.map((x) => x.raftIndex));
  }, { timeoutMs: opts.timeoutMs ?? 1_800_000, intervalMs: 100, what: `${clientURL} to apply the voters' index` });
}

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
  const { id, initialCluster } = await memberAddLearner(d, voters, s.memberName, s.peerURL);
  await runLearner(d, "master3", s, initialCluster);
  await waitApplied(d, s.clientURL, voters.slice(0, 1));
  const ms = Date.now() - t0;
  await ssh(d, "master3", `docker rm -f ${shQuote(s.containerName)} >/dev/null && rm -rf ${shQuote(`${s.dataDir}/member`)}`);
  await etcdctl(d, [`--endpoints=${voters.join(",")}`, "member", "remove", id]);
  return ms;
}

/** The etcd version of `image` on a host (`docker run --rm IMAGE etcd --version`): what an operator knows before typing the restore. */
export async function imageVersion(d: SandboxDescription, hostName: string, image: string, etcdBinary: string): Promise<EtcdVersion> {
  const v = parseEtcdVersion((await ssh(d, hostName, `docker run --rm ${shQuote(image)} ${shQuote(etcdBinary)} --version`)).stdout);
  if (!v) throw new Error(`could not tell the etcd version of ${image}`);
  return v;
}

/** `docker run --rm --network none` of a tool (the restore) in `image`, with its environment and bind mounts (`host:container[:ro]`). */
function toolRun(image: string, tool: { argv: string[]; env: Record<string, string> }, mounts: string[]): string[] {
  return ["docker", "run", "--rm", "--network", "none", ...Object.entries(tool.env).flatMap(([k, val]) => ["-e", `${k}=${val}`]), ...mounts.flatMap((m) => ["-v", m]), image, ...tool.argv];
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
 * the same tool and the same etcd command line (with the seed's timing: the
 * provider's fast first election is its own). `v` is the image's etcd
 * version, known beforehand (an operator knows which etcdctl their image
 * holds: it is not part of the procedure's time). Returns its phases, stamped
 * on the host between the steps: stop (docker stop and update), restore
 * (mkdir and the tool's run), start (docker run).
 */
export async function rawFailover(d: SandboxDescription, hostName: string, restoreInputs: Props, v: EtcdVersion): Promise<Phases> {
  // The seed's timing (heartbeat 500, election 5000), whatever the provider's side starts with.
  const s = { ...restoreSettings(restoreInputs), restoreDataDir: `${RAW_RESTORE_DIR}/data`, fastFirstElection: false };
  const token = "cluster-restore1";
  const bin = s.etcdBinary.slice(0, s.etcdBinary.lastIndexOf("/")) || "/";
  const tool = restoreCommand(v, bin, { db: s.sourceDb, dataDir: s.restoreDataDir, name: s.newMemberName, peerURL: s.learner.peerURL, token });
  const dbDir = s.sourceDb.slice(0, s.sourceDb.lastIndexOf("/"));
  const mark = (name: string): string => `echo "mark ${name} $(date +%s%N)"`;
  const script = [
    "set -e",
    mark("begin"),
    buildCommand(["docker", "stop", s.learner.containerName]) + " >/dev/null",
    buildCommand(["docker", "update", "--restart=no", s.learner.containerName]) + " >/dev/null",
    mark("stop"),
    buildCommand(["mkdir", "-p", RAW_RESTORE_DIR]),
    buildCommand(toolRun(s.image, tool, [`${dbDir}:${dbDir}:ro`, `${RAW_RESTORE_DIR}:${RAW_RESTORE_DIR}`])) + " >/dev/null",
    mark("restore"),
    buildCommand(["docker", "run", "-d", "--name", s.containerName, "--restart", "always", "--net", "host",
      "-v", `${s.restoreDataDir}:${s.restoreDataDir}`, "-v", "/etc/kubernetes/ssl:/etc/kubernetes/ssl:ro",
      s.image, ...restoredEtcdCommand(s, token)]) + " >/dev/null",
    mark("start"),
  ].join("\n");
  return phasesFromMarks((await ssh(d, hostName, script)).stdout);
}

/** Phases from the `mark <name> <ns>` lines a script printed: each mark's time since the one before, ms. */
export function phasesFromMarks(out: string): Phases {
  const marks = [...out.matchAll(/^mark (\S+) (\d+)$/gm)].map((m) => ({ name: m[1], ns: BigInt(m[2]) }));
  const t: Phases = {};
  for (let i = 1; i < marks.length; i++) t[marks[i].name] = Number((marks[i].ns - marks[i - 1].ns) / 1_000_000n);
  return t;
}

/** Phase times of a scripted procedure, ms, in the order they ran. */
export type Phases = Record<string, number>;

/** Runs `f` as phase `name` of `t`. */
async function phase<T>(t: Phases, name: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const r = await f();
  t[name] = (t[name] ?? 0) + Date.now() - t0;
  return r;
}

/** A suffix for what the raw steps set aside: `raw-<time in base 36>`. */
const asideStamp = (): string => `raw-${Date.now().toString(36)}`;

/** `etcdctl member promote ID` through `voters`, retried every 200 ms while etcd says the learner is not in sync yet. */
async function promoteWhenInSync(d: SandboxDescription, voters: string[], id: string): Promise<void> {
  await waitFor(async () => {
    const r = await etcdctl(d, [`--endpoints=${voters.join(",")}`, "member", "promote", id], { allowFailure: true });
    if (r.code === 0) return true;
    if (/in sync|not ready|unhealthy cluster/i.test(`${r.stderr}${r.stdout}`)) return false;
    throw new Error(`member promote ${id}: ${r.stderr.trim()}`);
  }, { timeoutMs: 600_000, intervalMs: 200, what: `member ${id} to be promoted`, stopOnError: true });
}

/** Adds a learner through `voters`, starts its container on `hostName` and waits until it has applied the voters' index: phases add, start, catch-up (prefixed). Returns its ID. */
async function addStartCatchUp(d: SandboxDescription, t: Phases, prefix: string, hostName: string, s: LearnerSettings, voters: string[]): Promise<string> {
  const added = await phase(t, `${prefix}add`, () => memberAddLearner(d, voters, s.memberName, s.peerURL));
  await phase(t, `${prefix}start`, () => runLearner(d, hostName, s, added.initialCluster));
  await phase(t, `${prefix}catch-up`, () => waitApplied(d, s.clientURL, voters));
  return added.id;
}

/**
 * The rebuild by hand, from the fenced failover resting point: for each
 * host, in order, its old `etcd` stopped and renamed and `/var/lib/etcd`
 * moved aside, `member add --learner` of RKE's member name, `docker run` of
 * etcd under RKE's container name and data dir with the provider's learner
 * flags and `image`, `endpoint status` until it has applied the voters'
 * index, `member promote` (retried while not in sync). Phases per host.
 */
export async function rawRebuild(d: SandboxDescription, hosts: string[], image: string, restoredClientURL: string): Promise<Phases> {
  const t: Phases = {};
  const voters = [restoredClientURL];
  for (const h of hosts) {
    const a = host(d, h).address;
    const s = learnerSettings({ memberName: `etcd-${h}`, peerURL: `https://${a}:2380`, clientURL: `https://${a}:2379`, image, containerName: "etcd", dataDir: "/var/lib/etcd" });
    const aside = asideStamp();
    await phase(t, `${h}: clean`, () => ssh(d, h, `docker stop etcd >/dev/null && docker rename etcd etcd-${aside} && mv /var/lib/etcd /var/lib/etcd.${aside}`));
    const id = await addStartCatchUp(d, t, `${h}: `, h, s, voters);
    await phase(t, `${h}: promote`, () => promoteWhenInSync(d, voters, id));
    voters.push(s.clientURL);
  }
  return t;
}

/**
 * Fail back by hand, from the rebuild's resting point: `move-leader` to the
 * first site-A voter when the restored member leads, `member remove` of it,
 * its `etcd` stopped for good and renamed, `/var/lib/etcd-restored` and the
 * old learner's data dir moved aside (its container renamed), then the
 * learner added, started and caught up as in the catch-up figure. Nothing of
 * Kubernetes: the report says what this leaves out.
 */
export async function rawFailback(d: SandboxDescription, siteA: string[], restoredClientURL: string, learner: { memberName: string; peerURL: string; clientURL: string }, image: string): Promise<Phases> {
  const t: Phases = {};
  const hostName = d.hosts.find((h) => learner.peerURL.includes(`//${h.address}:`))?.name ?? "master3";
  const restoredId = await phase(t, "move-leader", async () => {
    const st = await endpointStatuses(d, [restoredClientURL, siteA[0]]);
    const [mine, to] = [restoredClientURL, siteA[0]].map((e) => st.find((x) => x.endpoint === e));
    if (!mine || !to) throw new Error(`no status from ${mine ? siteA[0] : restoredClientURL}`);
    if (mine.leader === mine.id) await etcdctl(d, [`--endpoints=${restoredClientURL}`, "move-leader", to.id]);
    return mine.id;
  });
  await phase(t, "member remove", () => etcdctl(d, [`--endpoints=${siteA.join(",")}`, "member", "remove", restoredId]));
  const s = learnerSettings({ ...learner, image });
  const aside = asideStamp();
  await phase(t, "clean", () => ssh(d, hostName, [
    `docker stop etcd >/dev/null && docker update --restart=no etcd >/dev/null && docker rename etcd etcd-${aside}`,
    `mv /var/lib/etcd-restored /var/lib/etcd-restored.${aside}`,
    `if docker inspect ${shQuote(s.containerName)} >/dev/null 2>&1; then docker rename ${shQuote(s.containerName)} ${shQuote(`${s.containerName}-${aside}`)}; fi`,
    `if [ -e ${shQuote(`${s.dataDir}/member`)} ]; then mv ${shQuote(s.dataDir)} ${shQuote(`${s.dataDir}.${aside}`)}; fi`,
  ].join(" && ")));
  await addStartCatchUp(d, t, "", hostName, s, siteA);
  return t;
}

/** What the scripted drill found, and how long each step took. */
export interface RawDrill {
  /** The steps' wall time (the learner's catch-up is not waited for). */
  ms: number;
  phaseMs: Phases;
  /** restore + start + verify. */
  rtoMs: number;
  learnerDownMs: number;
  /** From the learner's stop until it had applied the voters' index again (less the provider's default threshold, 100 entries). */
  learnerAbsentMs: number;
  restored: { revision: number; keys: number };
}

/**
 * The drill by hand on the learner's host: `docker stop` of the learner,
 * `cp` of its `member/snap/db` into a scratch folder, `docker start` of it,
 * `etcdctl snapshot restore --skip-hash-check` of the copy (EtcdRestoreDrill's
 * tool and arguments, in a throwaway container of `image`), `docker run` of
 * a one-member scratch etcd (its command line too) until it answers
 * `endpoint status` as its own leader, its revision and key count read,
 * then the container and the folder removed. The learner's return is polled
 * beside the steps, not waited for.
 */
export async function rawDrill(d: SandboxDescription, learner: { memberName: string; peerURL: string; clientURL: string }, voters: string[], image: string): Promise<RawDrill> {
  const s = drillSettings({ learner, image, containerName: "etcd-raw-drill", scratchDir: "/var/lib/etcd-raw-drill" });
  const hostName = d.hosts.find((h) => learner.peerURL.includes(`//${h.address}:`))?.name ?? "master3";
  const v = await imageVersion(d, hostName, image, s.etcdBinary);
  const when = Date.now().toString(36);
  const runDir = runDirOf(s, when);
  const token = drillToken(when);
  const paths = scratchPaths(runDir);
  const { clientURL } = drillUrls(s);
  const lc = shQuote(s.learner.containerName);
  const ctl = (args: string[]): string => buildCommand(["docker", "exec", "-e", "ETCDCTL_API=3", s.containerName, ...etcdctlArgs(dirOf(s.etcdBinary), clientURL, s.learner.tls, args)]);
  const t: Phases = {};
  const t0 = Date.now();
  await phase(t, "learnerStop", () => ssh(d, hostName, `docker stop ${lc} >/dev/null`));
  const stoppedAt = Date.now();
  await phase(t, "copy", () => ssh(d, hostName, `mkdir -p ${shQuote(runDir)} && cp ${shQuote(`${s.learner.dataDir}/member/snap/db`)} ${shQuote(paths.db)}`));
  await phase(t, "learnerRestart", () => ssh(d, hostName, `docker start ${lc} >/dev/null`));
  const startedAt = Date.now();
  const back = waitApplied(d, s.learner.clientURL, voters, { threshold: 100, timeoutMs: 600_000 }).then(() => Date.now());
  back.catch(() => undefined);
  const tool = drillRestoreContainer(s, v, runDir, token);
  await phase(t, "restore", () => ssh(d, hostName, `${buildCommand(toolRun(image, { argv: tool.command, env: tool.env ?? {} }, [`${runDir}:${runDir}`]))} >/dev/null`));
  await phase(t, "start", async () => {
    const mounts = etcdVolumes(paths.data, s.learner.tls).flatMap((m) => ["-v", `${m.host}:${m.container}${m.ro ? ":ro" : ""}`]);
    await ssh(d, hostName, `${buildCommand(["docker", "run", "-d", "--name", s.containerName, "--net", "host", ...mounts, image, ...drillEtcdCommand(s, paths.data, token)])} >/dev/null`);
    await waitFor(async () => {
      const r = await ssh(d, hostName, ctl(STATUS_ARGS), { allowFailure: true });
      if (r.code !== 0) return false;
      const st = parseCtlStatus(r.stdout);
      return st.leaderId === st.memberId;
    }, { timeoutMs: 120_000, intervalMs: 100, what: "the scratch etcd to lead itself" });
  });
  const count = await phase(t, "verify", async () => parseCtlCount((await ssh(d, hostName, ctl(["get", "", "--prefix", "--keys-only", "--limit=1", "-w", "json"]))).stdout));
  await phase(t, "cleanup", () => ssh(d, hostName, `docker rm -f ${shQuote(s.containerName)} >/dev/null && rm -rf ${shQuote(runDir)}`));
  const ms = Date.now() - t0;
  const caughtUpAt = await back;
  return { ms, phaseMs: t, rtoMs: t.restore + t.start + t.verify, learnerDownMs: startedAt - stoppedAt, learnerAbsentMs: caughtUpAt - stoppedAt, restored: { revision: count.revision, keys: count.count } };
}
