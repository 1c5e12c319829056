/**
 * A one-shot container's answer remembered on the host by image ID: what an
 * image's own program prints about the image (its `--version`, say) can never
 * change for the same image ID (a content address), so the host keeps it in
 * a file and the next read is one `docker image inspect` instead of a
 * container start. The container runs the inspected ID, not the name, so a
 * tag moved meanwhile cannot be remembered under the wrong ID.
 */
import { oneShotArgv } from "./docker";
import type { OneShotSpec } from "./docker";
import type { RunResult, SshSession } from "./ssh";
import { EtcdStandbyError, redactEnvArgv } from "../lib/errors";
import { validateAbsolutePath } from "../lib/validate";

/** Where the answers are kept on a host, and which of them. */
export interface AnswerCache {
  /** The folder of the files (one per image ID), created when first written. */
  dir: string;
  /** What the answer is of, in the image (its first line, e.g. the program's path): another key is a miss. One line. */
  key: string;
  /** An extended regular expression (grep -E) the output must match to be kept: anything else is answered, never kept. */
  keepIf: string;
}

/** What {@link runOneShotRemembered} answered. */
export interface RememberedAnswer {
  /** The container's exit status and output, or the kept output (status 0). When `docker image inspect` failed, its answer (the image absent, say). */
  result: RunResult;
  /** The image's ID (`sha256:...`), when inspected. */
  imageId?: string;
  /** The output was the host's kept one: no container ran. */
  remembered: boolean;
}

/** Stands for the image in the container's argv: the script puts the inspected ID there. */
const IMAGE_ID_LATER = "@@etcd-standby-image-id@@";

/** The marker line before the answer: `<marker> <id> kept|ran`. */
const MARKER = "@@etcd-standby image";

/**
 * The script: arguments are the cache dir, the key, the keep pattern, the
 * image, the docker command's length n, then the docker command (n words)
 * and the container's arguments after it, the image as {@link IMAGE_ID_LATER}.
 * The output is the marker line, then the answer; a failed inspect answers
 * as itself (no marker). A kept file of another key, or whose answer no
 * longer matches the pattern (damaged), is a miss. The kept file is written whole (a temporary file
 * renamed), and only with status 0 and output matching the pattern; a file
 * that cannot be written is no error.
 */
export const REMEMBERED_SH = [
  'd=$1; k=$2; keep=$3; img=$4; n=$5; shift 5',
  // The image's ID, by the docker command alone (the first n arguments, rotated into place in a subshell's own list).
  'id=$(c=$#; i=0; while [ $i -lt $c ]; do a=$1; shift; [ $i -lt $n ] && set -- "$@" "$a"; i=$((i+1)); done; "$@" image inspect --format "{{.Id}}" "$img") || exit $?',
  'case $id in sha256:*) h=${id#sha256:} ;; *) h= ;; esac',
  'case $h in *[!0-9a-f]*) h= ;; esac',
  'f=$d/$h',
  // A kept file is answered only when it is of this key and its answer still matches the pattern (else it is run and written again).
  `if [ -n "$h" ] && [ -f "$f" ] && [ "$(head -n 1 "$f")" = "$k" ] && tail -n +2 "$f" | grep -Eq -- "$keep"; then echo "${MARKER} $id kept"; tail -n +2 "$f"; exit 0; fi`,
  // The container's argv with the inspected ID in place of the image.
  `c=$#; i=0; while [ $i -lt $c ]; do a=$1; shift; [ "$a" = '${IMAGE_ID_LATER}' ] && a=$id; set -- "$@" "$a"; i=$((i+1)); done`,
  `echo "${MARKER} $id ran"`,
  'out=$("$@"); r=$?',
  'printf "%s\\n" "$out"',
  'if [ $r -eq 0 ] && [ -n "$h" ] && printf "%s\\n" "$out" | grep -Eq -- "$keep"; then',
  '  { mkdir -p "$d" && t=$(mktemp "$d/.new.XXXXXX") && printf "%s\\n%s\\n" "$k" "$out" > "$t" && mv -f "$t" "$f"; } 2>/dev/null || rm -f "$t" 2>/dev/null',
  'fi',
  'exit $r',
].join("\n");

/**
 * Runs `spec` (a one-shot container, {@link OneShotSpec}) as the image's ID
 * and keeps its output on the host under that ID, or answers the kept output
 * without running anything. One SSH command either way. Validates the spec
 * and the cache first (InvalidInput, nothing run).
 */
export async function runOneShotRemembered(s: SshSession, spec: OneShotSpec, cache: AnswerCache, opts: { timeoutMs?: number } = {}): Promise<RememberedAnswer> {
  const problems = validateAbsolutePath(cache.dir, "cache.dir");
  if (typeof cache.key !== "string" || cache.key === "" || /[\0\r\n]/.test(cache.key)) problems.push("cache.key must be one non-empty line");
  if (typeof cache.keepIf !== "string" || cache.keepIf === "" || cache.keepIf.includes("\0")) problems.push("cache.keepIf must be a non-empty pattern");
  if (problems.length > 0) throw new EtcdStandbyError("InvalidInput", problems.join("; "), "fix the values above; nothing was run", { host: s.host });
  // Validated with the real image, run with the ID the script inspects.
  const argv = oneShotArgv(s, spec);
  const at = argv.length - spec.command.length - 1;
  if (argv[at] !== spec.image) throw new Error(`internal: the image is not where oneShotArgv puts it (${redactEnvArgv(argv).slice(-3).join(" ")})`);
  const run = [...argv.slice(0, at), IMAGE_ID_LATER, ...argv.slice(at + 1)];
  const dockerLength = s.dockerCommand.length;
  const r = await s.run(["sh", "-c", REMEMBERED_SH, "sh", cache.dir, cache.key, cache.keepIf, spec.image, String(dockerLength), ...run], {
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    allowFailure: true,
  });
  return answerOf(r);
}

/** Splits the script's output into the marker's facts and the answer (exported for the unit tests). */
export function answerOf(r: RunResult): RememberedAnswer {
  const m = new RegExp(`^${MARKER} (\\S+) (kept|ran)\\n`).exec(r.stdout);
  if (m === null) return { result: r, remembered: false };
  return { result: { ...r, stdout: r.stdout.slice(m[0].length) }, imageId: m[1], remembered: m[2] === "kept" };
}
