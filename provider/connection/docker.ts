/**
 * Docker helpers over an {@link SshSession}. Every command is an argv array
 * built from validated values; an invalid name, image or path throws
 * InvalidInput before anything is sent to the host.
 */
import { EtcdStandbyError } from "../lib/errors";
import { quoteValue, validateAbsolutePath, validateContainerName, validateImage } from "../lib/validate";
import type { RunResult, SshSession } from "./ssh";

/** What `docker inspect` says about a container. */
export interface ContainerInfo {
  /** False when no container has that name (all other fields are then empty). */
  exists: boolean;
  /** True when the container is running. */
  running: boolean;
  /** Full container ID. */
  id: string;
  /** The image reference the container was created from (Config.Image). */
  image: string;
  /** Container name without the leading "/". */
  name: string;
  /** Creation time (RFC 3339, as docker reports it). */
  createdAt: string;
  /** Docker state: "created", "running", "exited", "paused", "restarting", "dead" or "" when absent. */
  state: string;
  /** The container's labels ({} when absent). */
  labels: Record<string, string>;
  /** How many times the daemon restarted it (restart policy). */
  restartCount: number;
  /** Host paths bind-mounted into it. */
  mountSources: string[];
  /** Bind mounts: host path and path inside the container. */
  mounts: { source: string; destination: string }[];
  /** The command it runs: entry point and arguments (`Path` then `Args`). */
  argv: string[];
  /** Its environment, `NAME=value` lines. */
  env: string[];
}

/** A bind mount for {@link runContainer}. */
export interface VolumeSpec {
  /** Absolute path on the host. */
  host: string;
  /** Absolute path inside the container. */
  container: string;
  /** Mount read-only. */
  ro?: boolean;
  /** Other mount options as docker takes them after the second colon (e.g. "z", "rslave"), kept when a container is re-created. */
  options?: string;
}

/** Docker restart policies accepted by {@link runContainer}. */
export type RestartPolicy = "no" | "always" | "unless-stopped" | "on-failure";

/** A container to start with {@link runContainer}. */
export interface RunContainerSpec {
  /** Container name. */
  name: string;
  /** Image reference. */
  image: string;
  /** Restart policy (default: docker's own default, "no"). */
  restart?: RestartPolicy;
  /** Network mode; only host networking is used for etcd. */
  network: "host";
  /** Bind mounts. */
  volumes: VolumeSpec[];
  /** Environment variables (names `[A-Za-z_][A-Za-z0-9_]*`). */
  env?: Record<string, string>;
  /** Command and arguments after the image (each one argument). */
  command: string[];
  /** Labels (names `[a-z0-9.-]`, values without line breaks). */
  labels?: Record<string, string>;
  /** Overrides the image's entry point: the first element is `--entrypoint`, the rest go before `command`. */
  entrypoint?: string[];
  /** Runs privileged (as RKE runs some of its containers). */
  privileged?: boolean;
  /** "host": the host's PID namespace. */
  pid?: "host";
}

export const RESTART_POLICIES: readonly RestartPolicy[] = ["no", "always", "unless-stopped", "on-failure"];

function check(problems: string[], host: string): void {
  if (problems.length > 0) {
    throw new EtcdStandbyError("InvalidInput", problems.join("; "), "fix the values above; nothing was run", { host });
  }
}

function docker(s: SshSession, ...args: string[]): string[] {
  return [...s.dockerCommand, ...args];
}

const NO_SUCH = /no such (container|object)/i;

function argvProblems(values: readonly string[], field: string, allowLineBreaks = false): string[] {
  return values.flatMap((v, i) =>
    typeof v !== "string"
      ? [`${field}[${i}] ${quoteValue(v)} must be a string`]
      : (allowLineBreaks ? /\0/ : /[\0\r\n]/).test(v)
        ? [`${field}[${i}] ${quoteValue(v)} must not contain NUL${allowLineBreaks ? "" : " or line breaks"}`]
        : [],
  );
}

interface RawInspect {
  Id?: string;
  Name?: string;
  Created?: string;
  Path?: string;
  Args?: string[] | null;
  Config?: { Image?: string; Labels?: Record<string, string> | null; Env?: string[] | null };
  State?: { Status?: string; Running?: boolean };
  RestartCount?: number;
  Mounts?: { Source?: string; Destination?: string }[] | null;
}

/** Inspects container `name`; an absent container gives `exists: false`, not an error. */
export async function inspectContainer(s: SshSession, name: string): Promise<ContainerInfo> {
  return containerInfoOf(s, name, await s.run(inspectArgv(s, name), { allowFailure: true }));
}

/** The command line {@link inspectContainer} runs (for a caller that runs it inside a script of its own); validates `name` first. */
export function inspectArgv(s: SshSession, name: string): string[] {
  check(validateContainerName(name, "container name"), s.host);
  return docker(s, "inspect", "--type", "container", "--format", "{{json .}}", name);
}

/** What {@link inspectArgv}'s answer `r` says of container `name` (absent: `exists: false`). */
export function containerInfoOf(s: SshSession, name: string, r: RunResult): ContainerInfo {
  if (r.code !== 0) {
    if (NO_SUCH.test(r.stderr)) {
      return { exists: false, running: false, id: "", image: "", name, createdAt: "", state: "", labels: {}, restartCount: 0, mountSources: [], mounts: [], argv: [], env: [] };
    }
    throw new EtcdStandbyError(
      "RemoteCommandFailed",
      `docker inspect ${name} failed with status ${String(r.code)}: ${r.stderr.trim().slice(-1000)}`,
      "check that docker is running on the host and the user may use it (or set sudo)",
      { host: s.host },
    );
  }
  let raw: RawInspect;
  try {
    raw = JSON.parse(r.stdout.trim()) as RawInspect;
  } catch {
    throw new EtcdStandbyError(
      "RemoteCommandFailed",
      `docker inspect ${name} printed something that is not JSON: ${r.stdout.trim().slice(0, 200)}`,
      "check that dockerCommand runs the docker CLI",
      { host: s.host },
    );
  }
  return {
    exists: true,
    running: raw.State?.Running === true,
    id: raw.Id ?? "",
    image: raw.Config?.Image ?? "",
    name: (raw.Name ?? name).replace(/^\//, ""),
    createdAt: raw.Created ?? "",
    state: raw.State?.Status ?? "",
    labels: raw.Config?.Labels ?? {},
    restartCount: raw.RestartCount ?? 0,
    mountSources: (raw.Mounts ?? []).map((m) => m.Source ?? "").filter((x) => x !== ""),
    mounts: (raw.Mounts ?? []).filter((m) => m.Source && m.Destination).map((m) => ({ source: m.Source as string, destination: m.Destination as string })),
    argv: [...(raw.Path ? [raw.Path] : []), ...(raw.Args ?? [])],
    env: raw.Config?.Env ?? [],
  };
}

/** Problems with the arguments of a stop or restart: the container name, and a grace period of 0 to 3600 s. */
function stopProblems(name: string, graceSeconds: number): string[] {
  const problems = validateContainerName(name, "container name");
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 3600) {
    problems.push(`graceSeconds ${quoteValue(graceSeconds)} must be an integer from 0 to 3600`);
  }
  return problems;
}

/**
 * Stops container `name` (docker stop with a grace period in seconds, default 30).
 * Returns false when no such container exists.
 */
export async function stopContainer(s: SshSession, name: string, graceSeconds = 30): Promise<boolean> {
  const problems = stopProblems(name, graceSeconds);
  check(problems, s.host);
  return absentIsFalse(s, name, "stop", ["stop", "--time", String(graceSeconds), name], graceSeconds * 1000 + 30_000);
}

/**
 * Removes container `name` (`force` also removes a running one).
 * Returns false when no such container exists.
 */
export async function removeContainer(s: SshSession, name: string, opts: { force?: boolean } = {}): Promise<boolean> {
  check(validateContainerName(name, "container name"), s.host);
  return absentIsFalse(s, name, "rm", ["rm", ...(opts.force ? ["--force"] : []), name]);
}

/**
 * Changes container `name`'s restart policy (`docker update --restart`), e.g.
 * to "no" before stopping an RKE container so the daemon does not restart it.
 * Returns false when no such container exists.
 */
export async function setRestartPolicy(s: SshSession, name: string, policy: RestartPolicy): Promise<boolean> {
  const problems = validateContainerName(name, "container name");
  if (!RESTART_POLICIES.includes(policy)) problems.push(`restart policy ${quoteValue(policy)} must be one of ${RESTART_POLICIES.join(", ")}`);
  check(problems, s.host);
  return absentIsFalse(s, name, "update", ["update", "--restart", policy, name]);
}

/**
 * Stops container `name` for good: `docker stop` (which also ends a restart
 * loop), then restart policy "no", so a dockerd restart does not bring it
 * back either. In this order because `docker update` fails on a container
 * caught between two restarts of a crash loop ("container not running"), as
 * RKE's etcd is once its member has been removed. Returns false when no such
 * container exists.
 */
export async function stopForGood(s: SshSession, name: string, graceSeconds = 30): Promise<boolean> {
  if (!(await stopContainer(s, name, graceSeconds))) return false;
  return setRestartPolicy(s, name, "no");
}

/** Starts a stopped container `name` (`docker start`). Returns false when no such container exists. */
export async function startContainer(s: SshSession, name: string): Promise<boolean> {
  check(validateContainerName(name, "container name"), s.host);
  return absentIsFalse(s, name, "start", ["start", name]);
}

/** Renames container `from` to `to`. Throws NotFound when `from` does not exist. */
export async function renameContainer(s: SshSession, from: string, to: string): Promise<void> {
  check([...validateContainerName(from, "container name"), ...validateContainerName(to, "new container name")], s.host);
  const ok = await absentIsFalse(s, from, "rename", ["rename", from, to]);
  if (!ok) {
    throw new EtcdStandbyError("NotFound", `cannot rename container ${from}: it does not exist`, "list containers with `docker ps -a`", {
      host: s.host,
    });
  }
}

async function absentIsFalse(
  s: SshSession,
  name: string,
  verb: string,
  args: string[],
  timeoutMs?: number,
): Promise<boolean> {
  const r = await s.run(docker(s, ...args), { allowFailure: true, ...(timeoutMs ? { timeoutMs } : {}) });
  if (r.code === 0) return true;
  if (NO_SUCH.test(r.stderr)) return false;
  throw new EtcdStandbyError(
    "RemoteCommandFailed",
    `docker ${verb} ${name} failed with status ${String(r.code)}: ${r.stderr.trim().slice(-1000)}`,
    "read docker's message above; check the docker daemon on the host",
    { host: s.host },
  );
}

/** Validates a {@link RunContainerSpec}, returning every problem. */
export function validateRunSpec(spec: RunContainerSpec): string[] {
  const problems = [...validateContainerName(spec.name, "name"), ...validateImage(spec.image, "image")];
  if (spec.restart !== undefined && !RESTART_POLICIES.includes(spec.restart)) {
    problems.push(`restart ${quoteValue(spec.restart)} must be one of ${RESTART_POLICIES.join(", ")}`);
  }
  if (spec.network !== "host") problems.push(`network ${quoteValue(spec.network)} must be "host"`);
  if (!Array.isArray(spec.volumes)) {
    problems.push("volumes must be a list");
  } else {
    spec.volumes.forEach((v, i) => {
      problems.push(
        ...validateAbsolutePath(v.host, `volumes[${i}].host`),
        ...validateAbsolutePath(v.container, `volumes[${i}].container`),
      );
      if (/[:,]/.test(v.host) || /[:,]/.test(v.container)) {
        problems.push(`volumes[${i}] paths must not contain ":" or "," (docker's --volume separators)`);
      }
      if (v.options !== undefined && !/^[a-z]+(,[a-z]+)*$/.test(v.options)) problems.push(`volumes[${i}].options ${quoteValue(v.options)} must be docker mount options such as "z" or "rslave"`);
    });
  }
  problems.push(...envProblems(spec.env));
  for (const [k, v] of Object.entries(spec.labels ?? {})) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(k)) problems.push(`label name ${quoteValue(k)} must match [a-z0-9][a-z0-9.-]*`);
    problems.push(...argvProblems([v], `labels.${k}`));
  }
  // Arguments may span lines (a container re-created as `docker inspect` shows it may run `sh -c` with a script):
  // each is one shell-quoted word on the command line, so a line break in it is data, not a new command.
  if (!Array.isArray(spec.command)) problems.push("command must be a list of arguments");
  else problems.push(...argvProblems(spec.command, "command", true));
  if (spec.entrypoint !== undefined) {
    if (!Array.isArray(spec.entrypoint) || spec.entrypoint.length === 0) problems.push("entrypoint, when given, must be a non-empty list");
    else problems.push(...argvProblems(spec.entrypoint, "entrypoint", true));
  }
  if (spec.pid !== undefined && spec.pid !== "host") problems.push(`pid ${quoteValue(spec.pid)} must be "host"`);
  return problems;
}

/**
 * Creates and starts a detached container from `spec` and returns its ID.
 * Validates the whole spec first; nothing is run when any value is invalid.
 */
export async function runContainer(s: SshSession, spec: RunContainerSpec, opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await s.run(runArgv(s, spec), { ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  return r.stdout.trim().split("\n").pop() ?? "";
}

/**
 * The command line {@link runContainer} runs (for a caller that runs it
 * inside a script of its own). Validates the whole spec first; throws
 * InvalidInput when any value is invalid.
 */
export function runArgv(s: SshSession, spec: RunContainerSpec): string[] {
  check(validateRunSpec(spec), s.host);
  const args = ["run", "--detach", "--name", spec.name, "--network", "host"];
  if (spec.restart !== undefined) args.push("--restart", spec.restart);
  if (spec.privileged === true) args.push("--privileged");
  if (spec.pid === "host") args.push("--pid", "host");
  if (spec.entrypoint !== undefined) args.push("--entrypoint", spec.entrypoint[0]);
  for (const v of spec.volumes) args.push("--volume", volumeArg(v));
  for (const [k, v] of Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    args.push("--env", `${k}=${v}`);
  }
  for (const [k, v] of Object.entries(spec.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    args.push("--label", `${k}=${v}`);
  }
  args.push(spec.image, ...(spec.entrypoint?.slice(1) ?? []), ...spec.command);
  return docker(s, ...args);
}

function volumeArg(v: VolumeSpec): string {
  const opts = [...(v.ro ? ["ro"] : []), ...(v.options ? [v.options] : [])].join(",");
  return `${v.host}:${v.container}${opts ? `:${opts}` : ""}`;
}

interface RawRunSpec {
  Config?: { Image?: string; Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[] | null; Labels?: Record<string, string> | null };
  HostConfig?: { Binds?: string[] | null; NetworkMode?: string; RestartPolicy?: { Name?: string }; Privileged?: boolean; PidMode?: string };
}

/**
 * How container `name` was started, as a {@link RunContainerSpec} that starts
 * the same container again: image, entry point, command, environment, bind
 * mounts, labels, restart policy, privileged and PID mode. Undefined when no
 * such container exists. Throws InvalidInput for what cannot be re-created
 * faithfully (a network other than the host's, mounts that are not binds).
 */
export async function inspectRunSpec(s: SshSession, name: string): Promise<RunContainerSpec | undefined> {
  check(validateContainerName(name, "container name"), s.host);
  const r = await s.run(docker(s, "inspect", "--type", "container", "--format", "{{json .}}", name), { allowFailure: true });
  if (r.code !== 0) {
    if (NO_SUCH.test(r.stderr)) return undefined;
    throw new EtcdStandbyError("RemoteCommandFailed", `docker inspect ${name} failed with status ${String(r.code)}: ${r.stderr.trim().slice(-1000)}`, "check the docker daemon on the host", { host: s.host });
  }
  let raw: RawRunSpec;
  try {
    raw = JSON.parse(r.stdout.trim()) as RawRunSpec;
  } catch {
    // Not quoted: the answer holds the container's environment.
    throw new EtcdStandbyError("RemoteCommandFailed", `docker inspect ${name} printed something that is not JSON (${r.stdout.length} characters, not shown: they may hold the container's environment)`, "check that dockerCommand runs the docker CLI", { host: s.host });
  }
  const hc = raw.HostConfig ?? {};
  if (hc.NetworkMode !== "host") {
    throw new EtcdStandbyError("InvalidInput", `container ${name} on ${s.host} uses network ${JSON.stringify(hc.NetworkMode)}, not the host's: it cannot be re-created faithfully`, "re-create it by hand (rke up)", { host: s.host });
  }
  const volumes = (hc.Binds ?? []).map((b): VolumeSpec => {
    const [host, container, mode] = b.split(":");
    const opts = (mode ?? "").split(",").filter((o) => o !== "");
    const other = opts.filter((o) => o !== "ro" && o !== "rw");
    return { host, container, ...(opts.includes("ro") ? { ro: true } : {}), ...(other.length ? { options: other.join(",") } : {}) };
  });
  const env: Record<string, string> = {};
  for (const line of raw.Config?.Env ?? []) {
    const i = line.indexOf("=");
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  const policy = hc.RestartPolicy?.Name ?? "";
  return {
    name,
    image: raw.Config?.Image ?? "",
    network: "host",
    volumes,
    env,
    command: raw.Config?.Cmd ?? [],
    labels: raw.Config?.Labels ?? {},
    ...(raw.Config?.Entrypoint && raw.Config.Entrypoint.length > 0 ? { entrypoint: raw.Config.Entrypoint } : {}),
    ...(RESTART_POLICIES.includes(policy as RestartPolicy) ? { restart: policy as RestartPolicy } : {}),
    ...(hc.Privileged === true ? { privileged: true } : {}),
    ...(hc.PidMode === "host" ? { pid: "host" as const } : {}),
  };
}

/** The last `lines` lines of a container's logs (stdout and stderr together). */
export async function containerLogsTail(s: SshSession, name: string, lines = 50): Promise<string> {
  const problems = validateContainerName(name, "container name");
  if (!Number.isInteger(lines) || lines < 1 || lines > 100_000) problems.push(`lines ${quoteValue(lines)} must be an integer from 1 to 100000`);
  check(problems, s.host);
  const r = await s.run(docker(s, "logs", "--tail", String(lines), name));
  return [r.stdout, r.stderr].filter((x) => x !== "").join("");
}

/** True when image `image` is present on the host. */
export async function imageExists(s: SshSession, image: string): Promise<boolean> {
  check(validateImage(image, "image"), s.host);
  const r = await s.run(docker(s, "image", "inspect", "--format", "{{.Id}}", image), { allowFailure: true });
  if (r.code === 0) return true;
  if (/no such image/i.test(r.stderr)) return false;
  throw new EtcdStandbyError("RemoteCommandFailed", `docker image inspect ${image} failed with status ${String(r.code)}: ${r.stderr.trim().slice(-1000)}`, "check the docker daemon on the host", { host: s.host });
}

/** Names of all containers on the host, running or not. */
export async function listContainers(s: SshSession, opts: { label?: string } = {}): Promise<string[]> {
  if (opts.label !== undefined && !/^[a-z0-9][a-z0-9.-]*$/.test(opts.label)) check([`label ${quoteValue(opts.label)} must match [a-z0-9][a-z0-9.-]*`], s.host);
  const r = await s.run(docker(s, "ps", "--all", ...(opts.label !== undefined ? ["--filter", `label=${opts.label}`] : []), "--format", "{{.Names}}"));
  return r.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** A container's runtime state, from {@link inspectState}. */
export interface ContainerState {
  /** False when no container has that name (all other fields are then empty). */
  exists: boolean;
  /** Full container ID. */
  id: string;
  /** True when the container is running. */
  running: boolean;
  /** Docker state: "created", "running", "exited", "restarting", ... or "" when absent. */
  status: string;
  /** When the container last started (RFC 3339 with nanoseconds, as docker reports it). */
  startedAt: string;
  /** When the container last stopped ("0001-01-01T00:00:00Z" if never). */
  finishedAt: string;
  /** Exit code of the last run. */
  exitCode: number;
  /** The restart policy's name ("no", "always", ...). */
  restartPolicy: string;
  /** How many times the daemon restarted it (restart policy). */
  restartCount: number;
  /** The container's labels ({} when absent). */
  labels: Record<string, string>;
}

interface RawState {
  Id?: string;
  State?: { Status?: string; Running?: boolean; StartedAt?: string; FinishedAt?: string; ExitCode?: number };
  HostConfig?: { RestartPolicy?: { Name?: string } };
  Config?: { Labels?: Record<string, string> | null };
  RestartCount?: number;
}

/** What {@link inspectState} says of a container that does not exist. */
const ABSENT: ContainerState = { exists: false, id: "", running: false, status: "", startedAt: "", finishedAt: "", exitCode: 0, restartPolicy: "", restartCount: 0, labels: {} };

/** Runtime state of container `name` (start/finish times, exit code, restart policy); absent gives `exists: false`. */
export async function inspectState(s: SshSession, name: string): Promise<ContainerState> {
  return (await inspectStates(s, [name]))[0];
}

/**
 * {@link inspectState} of each of `names`, in the order given, with one
 * `docker inspect` ({@link inspectStatesArgv}, read by {@link statesOf}).
 */
export async function inspectStates(s: SshSession, names: readonly string[]): Promise<ContainerState[]> {
  if (names.length === 0) return [];
  return statesOf(s, names, await s.run(inspectStatesArgv(s, names), { allowFailure: true }));
}

/** The argv of {@link inspectStates}' one `docker inspect` of `names` (validated; at least one). */
export function inspectStatesArgv(s: SshSession, names: readonly string[]): string[] {
  check(names.flatMap((name) => validateContainerName(name, "container name")), s.host);
  if (names.length === 0) check(["no container name to inspect"], s.host);
  return docker(s, "inspect", "--type", "container", "--format", "{{json .}}", ...names);
}

/**
 * What {@link inspectStatesArgv}'s answer `r` says of each of `names`:
 * docker prints one JSON line per container it found (each matched to its
 * name) and "No such container" for each other, and then exits 1; any other
 * failure throws.
 */
export function statesOf(s: SshSession, names: readonly string[], r: RunResult): ContainerState[] {
  const failed = (): EtcdStandbyError =>
    new EtcdStandbyError("RemoteCommandFailed", `docker inspect ${names.join(" ")} failed with status ${String(r.code)}: ${r.stderr.trim().slice(-1000)}`, "check that docker is running on the host and the user may use it (or set sudo)", { host: s.host });
  const found = new Map<string, RawState>();
  for (const line of r.stdout.split("\n").filter((l) => l.trim() !== "")) {
    let raw: RawState & { Name?: string };
    try {
      raw = JSON.parse(line) as RawState & { Name?: string };
    } catch {
      throw new EtcdStandbyError("RemoteCommandFailed", `docker inspect ${names.join(" ")} printed something that is not JSON: ${line.slice(0, 200)}`, "check that dockerCommand runs the docker CLI", { host: s.host });
    }
    found.set((raw.Name ?? "").replace(/^\//, ""), raw);
  }
  // A name docker did not print is absent only when docker said so for it ("No such container: <name>"); the host's
  // shell may add lines of its own to stderr (a login profile's noise), which are not docker's answer.
  const absent = (name: string): boolean => r.stderr.split("\n").some((l) => NO_SUCH.test(l) && l.trimEnd().endsWith(`: ${name}`));
  if (r.code !== 0 && names.some((name) => !found.has(name) && !absent(name))) throw failed();
  return names.map((name) => {
    const raw = found.get(name);
    return raw === undefined ? { ...ABSENT, labels: {} } : stateOf(raw);
  });
}

/** The state docker inspect reported. */
function stateOf(raw: RawState): ContainerState {
  return {
    exists: true,
    id: raw.Id ?? "",
    running: raw.State?.Running === true,
    status: raw.State?.Status ?? "",
    startedAt: raw.State?.StartedAt ?? "",
    finishedAt: raw.State?.FinishedAt ?? "",
    exitCode: raw.State?.ExitCode ?? 0,
    restartPolicy: raw.HostConfig?.RestartPolicy?.Name || "no",
    restartCount: raw.RestartCount ?? 0,
    labels: raw.Config?.Labels ?? {},
  };
}

/**
 * Restarts container `name` (`docker restart --time graceSeconds`), bounded
 * by `timeoutMs` (default: grace + 30 s). Returns false when no such container exists.
 */
export async function restartContainer(s: SshSession, name: string, graceSeconds = 10, timeoutMs?: number): Promise<boolean> {
  const problems = stopProblems(name, graceSeconds);
  if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs <= 0)) problems.push(`timeoutMs ${quoteValue(timeoutMs)} must be a positive integer`);
  check(problems, s.host);
  return absentIsFalse(s, name, "restart", ["restart", "--time", String(graceSeconds), name], timeoutMs ?? graceSeconds * 1000 + 30_000);
}

/** Problems with an environment: names, and values that are not one line (named, never quoted: a value may be a credential). */
function envProblems(env: Record<string, string> | undefined): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push(`env name ${quoteValue(k)} must match [A-Za-z_][A-Za-z0-9_]*`);
    if (typeof v !== "string") problems.push(`env.${k} must be a string (its value is not shown)`);
    else if (/[\0\r\n]/.test(v)) problems.push(`env.${k} must not contain NUL or line breaks (its value is not shown)`);
  }
  return problems;
}

function sortedEnv(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([k, v]) => ["--env", `${k}=${v}`]);
}

/** Options for {@link execInContainer} and {@link runOneShot}. */
export interface ExecOptions {
  /** Environment variables for the command. */
  env?: Record<string, string>;
  /** Deadline in ms (default: the host's). */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing (default false). */
  allowFailure?: boolean;
}

/**
 * Runs `argv` inside running container `name` (`docker exec`), each element
 * one argument. Validates the name, argv and env first; nothing is run when
 * any is invalid.
 */
export async function execInContainer(s: SshSession, name: string, argv: string[], opts: ExecOptions = {}): Promise<RunResult> {
  const problems = validateContainerName(name, "container name");
  if (!Array.isArray(argv) || argv.length === 0) problems.push("argv must be a non-empty list of arguments");
  else problems.push(...argvProblems(argv, "argv"));
  problems.push(...envProblems(opts.env));
  check(problems, s.host);
  return s.run(docker(s, "exec", ...sortedEnv(opts.env), name, ...argv), {
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    allowFailure: opts.allowFailure === true,
  });
}

/** A short-lived container for {@link runOneShot}: no network, removed when it exits. */
export interface OneShotSpec {
  /** Container name (lets a leftover from a killed run be found and removed). */
  name: string;
  /** Image reference. */
  image: string;
  /** Bind mounts. */
  volumes: VolumeSpec[];
  /** Environment variables. */
  env?: Record<string, string>;
  /** Labels (names `[a-z0-9.-]`). */
  labels?: Record<string, string>;
  /** Command and arguments after the image (each one argument). */
  command: string[];
  /** "none" (default: a tool that needs no network) or "host" (a client of a service on the host). */
  network?: "none" | "host";
  /**
   * Docker's pull policy (`docker run --pull`, docker 20.10 and later); default: docker's own, "missing".
   * "never" fails fast on an absent image ("No such image") instead of asking a registry.
   */
  pull?: "missing" | "never";
}

/**
 * Runs a container to completion in the foreground (`docker run --rm
 * --network none`) and returns its exit status and output. Validates the
 * whole spec first; nothing is run when any value is invalid.
 */
export async function runOneShot(s: SshSession, spec: OneShotSpec, opts: Omit<ExecOptions, "env"> = {}): Promise<RunResult> {
  return s.run(oneShotArgv(s, spec), { ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), allowFailure: opts.allowFailure === true });
}

/**
 * The command line {@link runOneShot} runs (for a caller that runs it inside
 * a script of its own). Validates the whole spec first; throws InvalidInput
 * when any value is invalid.
 */
export function oneShotArgv(s: SshSession, spec: OneShotSpec): string[] {
  const problems = validateRunSpec({ ...spec, network: "host" });
  if (Array.isArray(spec.command) && spec.command.length === 0) problems.push("command must not be empty");
  if (spec.pull !== undefined && spec.pull !== "missing" && spec.pull !== "never") problems.push(`pull ${quoteValue(spec.pull)} must be "missing" or "never"`);
  check(problems, s.host);
  const args = ["run", "--rm", "--name", spec.name, "--network", spec.network === "host" ? "host" : "none"];
  if (spec.pull !== undefined) args.push("--pull", spec.pull);
  for (const v of spec.volumes) args.push("--volume", `${v.host}:${v.container}${v.ro ? ":ro" : ""}`);
  args.push(...sortedEnv(spec.env));
  for (const [k, v] of Object.entries(spec.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    args.push("--label", `${k}=${v}`);
  }
  args.push(spec.image, ...spec.command);
  return docker(s, ...args);
}
