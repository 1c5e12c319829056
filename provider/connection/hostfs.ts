/**
 * File-system checks and moves on a host over an {@link SshSession}: is a data
 * directory absent or empty, archive it by renaming, read a (public) file such
 * as a certificate, write and read back a root-only file. Every path is
 * validated (absolute, clean) before any command is built; commands are argv
 * arrays, never concatenated strings.
 */
import { randomBytes } from "crypto";
import { EtcdStandbyError } from "../lib/errors";
import { validateAbsolutePath } from "../lib/validate";
import type { RunResult, SshSession } from "./ssh";

/** What is at a path on the host. */
export type PathState = "absent" | "empty-dir" | "non-empty-dir" | "file";

function checkPath(s: SshSession, path: string, field: string): void {
  const problems = validateAbsolutePath(path, field, { allowRoot: false });
  if (problems.length > 0) {
    throw new EtcdStandbyError("InvalidInput", problems.join("; "), "pass an absolute, clean path; nothing was run", { host: s.host });
  }
}

/**
 * The prefix of what an in-place archive leaves inside a data dir that is a
 * mount point (see {@link archivePath}); a dir holding only such entries
 * (and a filesystem's own `lost+found`) counts as empty, and etcd ignores
 * them (it logs "found invalid file").
 */
export const IN_PLACE_ARCHIVE_PREFIX = ".etcd-standby-";

/** The shell test behind {@link pathState} of "$1" (`$2`: the in-place archive prefix): prints its state. `ls -A` lists a directory's entries (none when empty); in-place archives do not count. */
const PATH_STATE_SH = 'if [ ! -e "$1" ]; then echo absent; elif [ -d "$1" ]; then if [ -z "$(ls -A "$1" | grep -v -e "^$2" -e "^lost+found\$")" ]; then echo empty-dir; else echo non-empty-dir; fi; else echo file; fi';

function parsePathState(s: SshSession, path: string, out: string): PathState {
  const state = out.trim();
  if (state === "absent" || state === "empty-dir" || state === "non-empty-dir" || state === "file") return state;
  throw new EtcdStandbyError("RemoteCommandFailed", `could not tell what is at ${path}: ${state.slice(0, 200)}`, "check the host's shell", { host: s.host });
}

/** Says whether `path` is absent, an empty directory, a directory with entries, or something else. */
export async function pathState(s: SshSession, path: string): Promise<PathState> {
  checkPath(s, path, "path");
  const r = await s.run(["sh", "-c", PATH_STATE_SH, "sh", path, IN_PLACE_ARCHIVE_PREFIX]);
  return parsePathState(s, path, r.stdout);
}

/** What {@link surveyPaths} found, in the order asked. */
export interface PathSurvey {
  readable: boolean[];
  /** Each file's content (at most 1 MiB), null when unreadable. */
  contents: (string | null)[];
  states: PathState[];
  /** What the command asked as `then` answered (its own stdout, stderr and exit status); undefined when none was asked. */
  then: RunResult | undefined;
}

/** What {@link surveyPaths} reads. */
export interface SurveyQuery {
  /** Files whose readability is tested (never read). */
  readable: string[];
  /** Public files (such as certificates) to read. */
  read: string[];
  /** Paths whose {@link PathState} is wanted. */
  states: string[];
  /**
   * A command (argv, each element one argument) to run after the reads, in
   * the same shell, such as a `docker inspect` of the host's own: its
   * stdout, stderr and exit status are kept apart from the shell's own.
   */
  then?: readonly string[];
}

/** The survey's script: arguments are the nonce, the three counts, the in-place archive prefix, the paths, then the `then` command's argv. */
const SURVEY_SH = [
  'm=$1; nr=$2; nc=$3; ns=$4; pre=$5; shift 5',
  'i=0; while [ $i -lt $nr ]; do if [ -r "$1" ]; then echo R1; else echo R0; fi; shift; i=$((i+1)); done',
  'i=0; while [ $i -lt $nc ]; do if [ -r "$1" ] && head -c 1048576 -- "$1"; then echo; echo "C$m"; else echo; echo "N$m"; fi; shift; i=$((i+1)); done',
  `st() { ${PATH_STATE_SH}; }`,
  'i=0; while [ $i -lt $ns ]; do st "$1" "$pre"; shift; i=$((i+1)); done',
  // What is left is the `then` command: its stdout as is, then a marker with its status, then its stderr (caught apart from the shell's own).
  '[ $# -eq 0 ] && exit 0',
  'echo "T$m"; { e=$("$@" 2>&1 >&3 3>&-); c=$?; } 3>&1; echo; echo "E$m $c"; printf "%s" "$e"',
].join("\n");

function thenProblems(then: readonly string[] | undefined): string[] {
  if (then === undefined) return [];
  if (!Array.isArray(then) || then.length === 0) return ["then must be a non-empty list of arguments"];
  return then.flatMap((a, i) => (typeof a !== "string" || a.includes("\0") ? [`then[${i}] must be a string without NUL`] : []));
}

/**
 * Several reads of a host's files in one command (one SSH channel, one
 * shell): whether each of `readable` is readable (never read), the content of
 * each of `read` (public files such as certificates: at most 1 MiB, null when
 * unreadable), and the {@link pathState} of each of `states`. The same as
 * {@link fileReadable}, {@link readPublicFile} and {@link pathState} one by
 * one; the paths are arguments, never in the script, and each content ends
 * at a marker line made of a random nonce. With `then`, that command runs
 * last, in the same shell, and its answer is returned as `then`.
 */
export async function surveyPaths(s: SshSession, q: SurveyQuery & { then: readonly string[] }): Promise<PathSurvey & { then: RunResult }>;
export async function surveyPaths(s: SshSession, q: SurveyQuery): Promise<PathSurvey>;
export async function surveyPaths(s: SshSession, q: SurveyQuery): Promise<PathSurvey> {
  for (const p of [...q.readable, ...q.read, ...q.states]) checkPath(s, p, "path");
  const bad = thenProblems(q.then);
  if (bad.length > 0) throw new EtcdStandbyError("InvalidInput", bad.join("; "), "pass the command as a list of arguments; nothing was run", { host: s.host });
  const nonce = randomBytes(12).toString("hex");
  const r = await s.run(["sh", "-c", SURVEY_SH, "sh", nonce, String(q.readable.length), String(q.read.length), String(q.states.length), IN_PLACE_ARCHIVE_PREFIX, ...q.readable, ...q.read, ...q.states, ...(q.then ?? [])]);
  let rest = r.stdout;
  const cutShort = (what: string): EtcdStandbyError => new EtcdStandbyError("RemoteCommandFailed", `could not read ${what}: the host's output was cut short`, "check the host's shell", { host: s.host });
  const line = (): string => {
    const i = rest.indexOf("\n");
    const l = i < 0 ? rest : rest.slice(0, i);
    rest = i < 0 ? "" : rest.slice(i + 1);
    return l;
  };
  const readable = q.readable.map(() => line() === "R1");
  const contents = q.read.map((path) => {
    const ends = [`\nC${nonce}\n`, `\nN${nonce}\n`].map((m) => [m, rest.indexOf(m)] as const).filter(([, i]) => i >= 0).sort((a, b) => a[1] - b[1]);
    if (ends.length === 0) throw cutShort(path);
    const [marker, at] = ends[0];
    const content = rest.slice(0, at);
    rest = rest.slice(at + marker.length);
    return marker.startsWith("\nC") ? content : null;
  });
  const states = q.states.map((path) => parsePathState(s, path, line()));
  return { readable, contents, states, then: q.then === undefined ? undefined : thenAnswer(rest, nonce, () => cutShort(`what ${q.then?.[0] ?? ""} answered`)) };
}

/** The `then` command's answer in what is left of the survey's output: `T<nonce>`, its stdout, `E<nonce> <status>`, its stderr. */
function thenAnswer(rest: string, nonce: string, cutShort: () => EtcdStandbyError): RunResult {
  const start = `T${nonce}\n`;
  const end = new RegExp(`\\nE${nonce} (\\d+)\\n`).exec(rest);
  if (!rest.startsWith(start) || end === null) throw cutShort();
  return { code: Number(end[1]), signal: undefined, stdout: rest.slice(start.length, end.index), stderr: rest.slice(end.index + end[0].length) };
}

/** Where {@link archivePath} put things. */
export interface Archived {
  /** False when `path` was absent. */
  moved: boolean;
  /** Where the contents are now. */
  to: string;
  /** True when `path` is a mount point (its own disk): its contents were moved into a folder inside it. */
  inPlace: boolean;
}

/** True when `path` is a mount point on the host (its own filesystem, e.g. a dedicated etcd disk). */
export async function isMountPoint(s: SshSession, path: string): Promise<boolean> {
  checkPath(s, path, "path");
  const r = await s.run(["sh", "-c", MOUNT_POINT_SH + 'if is_mount "$1"; then echo yes; else echo no; fi', "sh", path]);
  return r.stdout.trim() === "yes";
}

// A mount point is listed in the host's mountinfo (bind mounts too); without procfs, a device change from the parent.
const MOUNT_POINT_SH = 'is_mount() { if [ -r /proc/self/mountinfo ]; then awk -v p="$1" \'$5 == p { f = 1 } END { exit !f }\' /proc/self/mountinfo; else [ "$(stat -c %d "$1")" != "$(stat -c %d "$1/..")" ]; fi; }; ';

/**
 * Archives `path` as `to` (both absolute) by renaming it; refuses to overwrite
 * an existing `to`. When `path` is a mount point (a dedicated disk cannot be
 * renamed: "Device or resource busy"), its entries are moved instead into a
 * folder inside it, `<path>/.etcd-standby-<name of to>`, on the same
 * filesystem, so nothing is copied and the mount stays (its `lost+found`
 * stays where it is).
 */
export async function archivePath(s: SshSession, path: string, to: string): Promise<Archived> {
  checkPath(s, path, "path");
  checkPath(s, to, "archive path");
  const inPlace = `${path}/${IN_PLACE_ARCHIVE_PREFIX}${to.slice(to.lastIndexOf("/") + 1)}`;
  const r = await s.run([
    "sh", "-c",
    MOUNT_POINT_SH +
      'if [ ! -e "$1" ]; then echo absent; exit 0; fi; ' +
      'if is_mount "$1"; then if [ -e "$3" ]; then echo "exists: $3" >&2; exit 3; fi; mkdir -m 0700 -- "$3" || exit 4; ' +
      'for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do [ -e "$e" ] || continue; case "${e##*/}" in "$4"*|lost+found) continue ;; esac; mv -- "$e" "$3/" || exit 5; done; echo in-place; exit 0; fi; ' +
      'if [ -e "$2" ]; then echo "exists: $2" >&2; exit 3; fi; mv -- "$1" "$2" && echo moved',
    "sh", path, to, inPlace, IN_PLACE_ARCHIVE_PREFIX,
  ]);
  const out = r.stdout.trim();
  if (out === "in-place") return { moved: true, to: inPlace, inPlace: true };
  return { moved: out === "moved", to, inPlace: false };
}

/**
 * Problems that would stop {@link archivePath} half-way, found before
 * anything changes: the folder that receives the archive must be writable.
 */
export async function archiveProblem(s: SshSession, path: string): Promise<string | undefined> {
  checkPath(s, path, "path");
  const r = await s.run(["sh", "-c", MOUNT_POINT_SH + 'if [ ! -e "$1" ]; then echo ok; elif is_mount "$1"; then if [ -w "$1" ]; then echo ok; else echo "mount-not-writable"; fi; elif [ -w "$(dirname "$1")" ]; then echo ok; else echo "parent-not-writable"; fi', "sh", path]);
  const out = r.stdout.trim();
  if (out === "ok") return undefined;
  return out === "mount-not-writable"
    ? `${path} is a mount point that is not writable, so its contents cannot be archived inside it`
    : `the folder holding ${path} is not writable, so ${path} cannot be archived beside it`;
}

/** Creates directory `path` (and parents) with mode 0700 when missing. */
export async function makeDir(s: SshSession, path: string): Promise<void> {
  checkPath(s, path, "path");
  await s.run(["mkdir", "-p", "-m", "0700", "--", path]);
}

/** Reads a small, non-secret file such as a certificate (at most 1 MiB). Null when unreadable or absent. */
export async function readPublicFile(s: SshSession, path: string): Promise<string | null> {
  checkPath(s, path, "path");
  const r = await s.run(["sh", "-c", 'test -r "$1" && head -c 1048576 -- "$1"', "sh", path], { allowFailure: true });
  return r.code === 0 ? r.stdout : null;
}

/**
 * Reads a small file etcd-standby keeps on the host, readable by root only
 * (at most 1 MiB), such as a container's recorded definition: its content
 * is returned to the caller, never put in an error (it may hold
 * credentials). Null when unreadable or absent.
 */
export async function readPrivateFile(s: SshSession, path: string): Promise<string | null> {
  return readPublicFile(s, path);
}

/** True when `path` is a readable file on the host. The content is never read. */
export async function fileReadable(s: SshSession, path: string): Promise<boolean> {
  checkPath(s, path, "path");
  const r = await s.run(["test", "-r", path], { allowFailure: true });
  return r.code === 0;
}

/**
 * The script of {@link writeFileAtomic}: `$1` the path, `$2` non-empty to
 * create its folder. Under umask 077 (what it creates is the owner's only:
 * folders 0700, the file 0600), the content goes to a new temporary file
 * beside the path (`mktemp`: never an existing file, whose mode would stay)
 * that is then renamed over it; a failed write removes the temporary file.
 */
const WRITE_ATOMIC_SH = 'umask 077; if [ -n "$2" ]; then mkdir -p -- "${1%/*}" || exit 1; fi; t=$(mktemp "$1.tmp.XXXXXX") || exit 1; if cat > "$t" && mv -f -- "$t" "$1"; then exit 0; fi; rm -f -- "$t"; exit 1';

/**
 * Writes `content` (at most 1 MiB) to `path` atomically, readable by its
 * owner only (mode 0600; root, when the session is root or uses sudo): a
 * new temporary file beside it, then a rename, so a reader sees the old
 * content or the new, never a part. The parent directory must exist, unless
 * `makeParent` (created, with any missing parents, mode 0700).
 */
export async function writeFileAtomic(s: SshSession, path: string, content: string, opts: { makeParent?: boolean } = {}): Promise<void> {
  checkPath(s, path, "path");
  if (typeof content !== "string" || Buffer.byteLength(content) > 1_048_576) {
    throw new EtcdStandbyError("InvalidInput", `content for ${path} must be a string of at most 1 MiB`, "write less; nothing was run", { host: s.host });
  }
  await s.run(["sh", "-c", WRITE_ATOMIC_SH, "sh", path, opts.makeParent === true ? "1" : ""], { stdin: content });
}

/** Size in bytes and modification time (whole seconds since the epoch) of a file; null when absent. */
export async function fileStat(s: SshSession, path: string): Promise<{ size: number; mtime: number } | null> {
  checkPath(s, path, "path");
  const r = await s.run(["sh", "-c", 'if [ -f "$1" ]; then stat -c "%s %Y" -- "$1"; else echo absent; fi', "sh", path]);
  const out = r.stdout.trim();
  if (out === "absent") return null;
  const m = /^(\d+) (\d+)$/.exec(out);
  if (!m) throw new EtcdStandbyError("RemoteCommandFailed", `could not read the size and time of ${path}: ${out.slice(0, 200)}`, "check the host's stat command", { host: s.host });
  return { size: Number(m[1]), mtime: Number(m[2]) };
}

/** Removes `path` when it is an empty directory (`rmdir`); false when absent. Never removes content: throws when not empty. */
export async function removeEmptyDir(s: SshSession, path: string): Promise<boolean> {
  checkPath(s, path, "path");
  const r = await s.run(["sh", "-c", 'if [ ! -e "$1" ]; then echo absent; exit 0; fi; rmdir -- "$1" && echo removed', "sh", path]);
  return r.stdout.trim() === "removed";
}
