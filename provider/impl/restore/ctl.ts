/**
 * Reads of the member serving at the learner's client URL (the learner, then
 * the restored member): through the provider's etcd client, else etcdctl
 * inside the container over SSH; its status, and key counts less
 * etcd-standby's own lock keys.
 */
import { execInContainer } from "../../connection/docker";
import type { EtcdSession } from "../../connection/etcd";
import type { SshSession } from "../../connection/ssh";
import { describeError, EtcdStandbyError, isEtcdStandbyError } from "../../lib/errors";
import { dirOf } from "../../lib/paths";
import { LOCK_PREFIX } from "../clusterLock";
import { progress } from "../common";
import type { LearnerTls } from "../learnerConfig";
import { COUNT_ALL_ARGS, countPrefixArgs, ctlStatusOf, etcdctlArgs, parseCtlCount, parseCtlStatus, STATUS_ARGS } from "./ctlJson";
import type { CtlStatus } from "./ctlJson";
import { throwIfAborted } from "./overlap";
import type { AbortFlag } from "./overlap";
import { WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/** Deadline of each read of the learner (or the restored member) through the provider's etcd client. */
export const MEMBER_READ_MS = 5_000;

/** Deadline of each etcdctl call run in a container over SSH. */
const CTL_TIMEOUT_MS = 30_000;

/** etcdctl (in `binDir`) inside a container, against `endpoint`, with the host's TLS files (mounted there at the same paths). */
export function ctlAt(ssh: SshSession, container: string, binDir: string, endpoint: string, tls: LearnerTls, args: string[], allowFailure = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return execInContainer(ssh, container, etcdctlArgs(binDir, endpoint, tls, args), { env: { ETCDCTL_API: "3" }, timeoutMs: CTL_TIMEOUT_MS, allowFailure });
}

/** etcdctl inside a container, against the learner's client URL (where the restored member serves too). */
function ctl(ssh: SshSession, container: string, s: RestoreSettings, args: string[], allowFailure = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ctlAt(ssh, container, dirOf(s.etcdBinary), s.learner.clientURL, s.learner.tls, args, allowFailure);
}

/** The status of the member at the learner's client URL, through etcdctl in `container`. */
export async function statusVia(ssh: SshSession, container: string, s: RestoreSettings): Promise<CtlStatus> {
  const r = await ctl(ssh, container, s, STATUS_ARGS);
  try {
    return parseCtlStatus(r.stdout);
  } catch (e) {
    throw new EtcdStandbyError("RemoteCommandFailed", `could not read the status of ${s.learner.clientURL} via ${container}: ${describeError(e)}`, "check etcdctl in the container", { host: ssh.host });
  }
}

/** A key count: the store's current revision, the keys (less etcd-standby's lock keys), the member that answered. */
export interface KeyCount {
  revision: number;
  count: number;
  memberId: string;
}

/**
 * The key count, less etcd-standby's lock keys (a lock held at the cut expires
 * with its lease after the restore), at revision `atRevision` when given (the
 * restored keyspace as the learner had it, whatever clients such as the host's
 * own kube-apiserver have written since); `revision` is always the current one.
 * Through etcdctl in the container: the fallback of {@link MemberReads}.
 */
async function countVia(ssh: SshSession, container: string, s: RestoreSettings, atRevision?: number): Promise<KeyCount> {
  const parse = (stdout: string): ReturnType<typeof parseCtlCount> => {
    try {
      return parseCtlCount(stdout);
    } catch (e) {
      throw new EtcdStandbyError("RemoteCommandFailed", `could not count the keys at ${s.learner.clientURL} via ${container}: ${describeError(e)}`, "check etcdctl in the container", { host: ssh.host });
    }
  };
  // At a revision the store has not reached (a stale db) etcd refuses: then the current count stands, and the verdict says "behind".
  const [now, locksNow, atRev, locksAtRev] = await Promise.all([
    ctl(ssh, container, s, COUNT_ALL_ARGS),
    ctl(ssh, container, s, countPrefixArgs(LOCK_PREFIX)),
    atRevision === undefined ? undefined : ctl(ssh, container, s, countPrefixArgs("", atRevision), true),
    atRevision === undefined ? undefined : ctl(ssh, container, s, countPrefixArgs(LOCK_PREFIX, atRevision), true),
  ]);
  const current = parse(now.stdout);
  if (atRev?.code === 0 && locksAtRev?.code === 0) return { ...current, count: parse(atRev.stdout).count - parse(locksAtRev.stdout).count };
  let held = parse(locksNow.stdout).count;
  // Rarely any: then counted again at exactly the total's revision.
  if (held > 0) held = parse((await ctl(ssh, container, s, countPrefixArgs(LOCK_PREFIX, current.revision))).stdout).count;
  return { ...current, count: current.count - held };
}

/** {@link countVia}'s count through the provider's etcd client (serializable reads: a learner serves them). */
async function countWith(e: EtcdSession, atRevision?: number): Promise<KeyCount> {
  const serializable = true;
  const [now, locksNow, atRev, locksAtRev] = await Promise.all([
    e.rangeCount("", { serializable }),
    e.rangeCount(LOCK_PREFIX, { serializable }),
    atRevision === undefined ? undefined : e.rangeCount("", { serializable, revision: atRevision }).catch(() => undefined),
    atRevision === undefined ? undefined : e.rangeCount(LOCK_PREFIX, { serializable, revision: atRevision }).catch(() => undefined),
  ]);
  const current = { revision: now.revision, memberId: now.memberId };
  if (atRev !== undefined && locksAtRev !== undefined) return { ...current, count: atRev.count - locksAtRev.count };
  let held = locksNow.count;
  if (held > 0) held = (await e.rangeCount(LOCK_PREFIX, { serializable, revision: now.revision })).count;
  return { ...current, count: now.count - held };
}

/**
 * Status and key counts of the member serving at the learner's client URL:
 * through the provider's etcd client (one connection, a few ms a read) while
 * it reaches the endpoint; after its first failure, through `docker exec ...
 * etcdctl` in `container` on the host, as before (about 170 ms a read here),
 * but only once `runs` says the container runs, and never after `abort`.
 */
export class MemberReads {
  private fellBack = false;

  public constructor(
    private readonly ssh: SshSession,
    private readonly s: RestoreSettings,
    private readonly container: string,
    private readonly etcd: EtcdSession,
    private readonly what: string,
    private readonly runs: Promise<boolean> = Promise.resolve(true),
    private readonly abort: AbortFlag = { aborted: false },
  ) {}

  private async read<T>(client: (e: EtcdSession) => Promise<T>, viaCtl: () => Promise<T>): Promise<T> {
    if (!this.fellBack) {
      try {
        return await client(this.etcd);
      } catch (e) {
        if (this.abort.aborted || !(await this.runs)) throw e;
        if (!this.fellBack) {
          this.fellBack = true;
          const why = isEtcdStandbyError(e) ? e.summary : describeError(e);
          progress(WHAT, `${this.what}: the etcd client could not read ${this.s.learner.clientURL} from here (${why.slice(0, 200)}); reading through etcdctl in ${this.container} on ${this.ssh.host} instead`);
        }
      }
    }
    throwIfAborted(this.abort, this.what);
    return viaCtl();
  }

  public status(): Promise<CtlStatus> {
    return this.read(async (e) => ctlStatusOf(await e.status()), () => statusVia(this.ssh, this.container, this.s));
  }

  public count(atRevision?: number): Promise<KeyCount> {
    return this.read((e) => countWith(e, atRevision), () => countVia(this.ssh, this.container, this.s, atRevision));
  }
}
