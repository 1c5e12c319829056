/**
 * How each RKE container RkeContainerCleanup cleans was started (its
 * definition, a RunContainerSpec), kept on the host itself besides Pulumi
 * state: one JSON file per container,
 * `/var/lib/etcd-standby/cleaned-containers/<container>.json`, readable by
 * root only (folder 0700, file 0600) and written whole (a temporary file
 * renamed), before the container is stopped.
 *
 * Why: Pulumi saves the cleanup's outputs (`containerSpecs`, a secret) only
 * when the cleanup ends. A run killed between a container's removal and
 * that save would lose its definition, RKE's `etcd-rolling-snapshots` (its
 * schedule, its S3 settings and credentials) among them, and
 * EtcdRollingSnapshots could not start it again after a failover. It reads
 * the file when its `spec` input is absent.
 *
 * The file: `{ container, host, recordedAt, run, spec, dockerRun }`;
 * `dockerRun` is the `docker run` command line that starts the container
 * again, quoted for sh (absent when the definition cannot be run as it is).
 * By hand, as root: `jq -r .dockerRun <file> | sh` (with jq), or read
 * `spec` (image, entrypoint, command, env, volumes, labels, restart).
 * Environment values are in it: it is never printed by etcd-standby.
 */
import { runArgv } from "../connection/docker";
import type { RunContainerSpec } from "../connection/docker";
import { readPrivateFile, writeFileAtomic } from "../connection/hostfs";
import type { SshSession } from "../connection/ssh";
import { describeError, EtcdStandbyError } from "../lib/errors";
import { buildCommand } from "../lib/shell";
import { validateContainerName } from "../lib/validate";
import { RUN_ID } from "./clusterLock";

/** The folder of the kept definitions on a host. */
export const KEPT_DEFINITIONS_DIR = "/var/lib/etcd-standby/cleaned-containers";

/** The file that keeps container `name`'s definition on its host (in `dir`: the tests' own folder). */
export function keptDefinitionFile(name: string, dir = KEPT_DEFINITIONS_DIR): string {
  return `${dir}/${name}.json`;
}

/** What a kept definition file holds. */
export interface KeptDefinition {
  container: string;
  host: string;
  /** When it was recorded (ISO 8601). */
  recordedAt: string;
  /** The etcd-standby run that recorded it. */
  run: string;
  spec: RunContainerSpec;
  /** The `docker run` command line that starts it again, quoted for sh; absent when the definition cannot be run as it is. */
  dockerRun?: string;
}

/** The file's text for `spec` recorded on `ssh`'s host now (pure but for the clock and the run's ID). */
export function keptDefinitionText(ssh: SshSession, spec: RunContainerSpec, at = new Date()): string {
  let dockerRun: string | undefined;
  try {
    dockerRun = buildCommand(runArgv(ssh, spec));
  } catch {
    // Not runnable as it is (runArgv validates it): the spec is kept all the same.
    dockerRun = undefined;
  }
  const kept: KeptDefinition = { container: spec.name, host: ssh.host, recordedAt: at.toISOString(), run: RUN_ID, spec, ...(dockerRun !== undefined ? { dockerRun } : {}) };
  return `${JSON.stringify(kept, null, 2)}\n`;
}

/**
 * The definition of container `name` in a kept file's `text`, or why it is
 * not usable (not JSON, another container's, no image or command). Never
 * quotes the text: it holds the container's environment.
 */
export function parseKeptDefinition(text: string, name: string): { spec: RunContainerSpec; recordedAt: string } | { problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { problem: `it is not JSON (${text.length} characters)` };
  }
  const d = (typeof v === "object" && v !== null ? v : {}) as Partial<KeptDefinition>;
  const spec = (typeof d.spec === "object" && d.spec !== null ? d.spec : {}) as Partial<RunContainerSpec>;
  if (d.container !== name || spec.name !== name) return { problem: `it is not ${name}'s (it names ${JSON.stringify(d.container ?? spec.name ?? null)})` };
  if (typeof spec.image !== "string" || spec.image === "" || !Array.isArray(spec.command) || spec.command.some((a) => typeof a !== "string") || !Array.isArray(spec.volumes)) {
    return { problem: "it has no image, command or volumes" };
  }
  return { spec: spec as RunContainerSpec, recordedAt: typeof d.recordedAt === "string" ? d.recordedAt : "unknown" };
}

/**
 * Keeps each of `specs` on the host ({@link keptDefinitionFile}), one file
 * each, before anything is stopped; returns the files written. Throws
 * (naming the host, the file and what to check) when one cannot be
 * written: the caller changes nothing then.
 */
export async function keepDefinitions(ssh: SshSession, specs: readonly RunContainerSpec[], dir = KEPT_DEFINITIONS_DIR): Promise<string[]> {
  const files: string[] = [];
  for (const spec of specs) {
    const file = keptDefinitionFile(spec.name, dir);
    try {
      await writeFileAtomic(ssh, file, keptDefinitionText(ssh, spec), { makeParent: true });
    } catch (e) {
      throw new EtcdStandbyError(
        "RemoteCommandFailed",
        `could not keep the definition of ${spec.name} in ${file} on ${ssh.host} before stopping it (${describeError(e)}); nothing was stopped`,
        `check ${dir} on the host (space, permissions, a read-only /var/lib) and run pulumi up again`,
        { host: ssh.host },
      );
    }
    files.push(file);
  }
  return files;
}

/**
 * The definition of container `name` kept on the host, if its file is
 * there: `{ spec, recordedAt, file }`, or `{ problem, file }` when the file
 * is there but not usable; undefined when there is none.
 */
export async function readKeptDefinition(ssh: SshSession, name: string, dir = KEPT_DEFINITIONS_DIR): Promise<({ spec: RunContainerSpec; recordedAt: string } | { problem: string }) & { file: string } | undefined> {
  if (validateContainerName(name).length > 0) return undefined;
  const file = keptDefinitionFile(name, dir);
  const text = await readPrivateFile(ssh, file);
  return text === null ? undefined : { ...parseKeptDefinition(text, name), file };
}
