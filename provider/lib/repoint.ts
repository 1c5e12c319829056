/**
 * Rewriting a container's command line and environment for its re-creation
 * (RKE's containers cannot be edited in place): set `--flag=value` flags and
 * environment variables, keeping everything else as it was.
 *
 * Pure module: no I/O.
 */
import { shownEnv } from "./errors";

/** The value of `--name` in `argv` (`--name=value` or `--name value`), or undefined. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
    if (argv[i] === `--${name}` && i + 1 < argv.length && !argv[i + 1].startsWith("-")) return argv[i + 1];
  }
  return undefined;
}

/**
 * `argv` with each flag of `flags` set to its value: every occurrence
 * (`--name=value` or `--name value`) rewritten as `--name=value`, and one
 * appended where the flag was absent.
 */
export function setFlags(argv: readonly string[], flags: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = Object.keys(flags).find((f) => a === `--${f}` || a.startsWith(`--${f}=`));
    if (name === undefined) {
      out.push(a);
      continue;
    }
    if (a === `--${name}` && i + 1 < argv.length && !argv[i + 1].startsWith("-")) i++;
    out.push(`--${name}=${flags[name]}`);
    seen.add(name);
  }
  for (const [name, value] of Object.entries(flags)) if (!seen.has(name)) out.push(`--${name}=${value}`);
  return out;
}

/**
 * The flags and variables of the wanted settings that differ from what a
 * container runs with. Flags show both values; an environment variable only
 * its name: its values never appear in drift, errors or progress lines.
 */
export function repointDrift(argv: readonly string[], env: Readonly<Record<string, string>>, want: { flags: Readonly<Record<string, string>>; env: Readonly<Record<string, string>> }): string[] {
  const drift: string[] = [];
  for (const [f, v] of Object.entries(want.flags)) {
    const now = flagValue(argv, f);
    if (now !== v) drift.push(`--${f} is ${now === undefined ? "absent" : JSON.stringify(now)}, not ${JSON.stringify(v)}`);
  }
  for (const [k, v] of Object.entries(want.env)) {
    if (env[k] !== v) drift.push(env[k] === undefined ? `${k} is unset, not the wanted value` : `${k} differs from the wanted value (values are not shown)`);
  }
  return drift;
}

/** The wanted settings as a progress line shows them: `--flag=value` for each flag, `NAME=<redacted>` for each variable. */
export function shownSettings(want: { flags: Readonly<Record<string, string>>; env: Readonly<Record<string, string>> }): string {
  return [...Object.entries(want.flags).map(([f, v]) => `--${f}=${v}`), ...shownEnv(want.env)].join(" ");
}
