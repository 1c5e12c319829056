/** Command-line arguments of the scripts (`--name value`). */

/** The value after `--name` in `argv`, else `dflt`; throws "missing --name" when neither is there. */
export function arg(argv: string[], name: string, dflt?: string): string {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1];
  if (dflt !== undefined) return dflt;
  throw new Error(`missing --${name}`);
}
