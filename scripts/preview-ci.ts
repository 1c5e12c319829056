/**
 * `npm run preview:ci -- --stack NAME [--expect-no-changes] [--refresh]`:
 * runs `pulumi preview --diff --json` for a stack and prints a Markdown
 * summary fit for a pull-request comment. Exits 1 on errors, and 2 when
 * --expect-no-changes is given and the preview proposes changes (drift).
 */
import { spawnSync } from "child_process";
import { summarize } from "./preview-summary";
import type { PreviewJson } from "./preview-summary";
import { changes } from "./preview-summary";

function main(argv: string[]): number {
  const stackIdx = argv.indexOf("--stack");
  const stack = stackIdx >= 0 ? argv[stackIdx + 1] : undefined;
  if (!stack) {
    process.stderr.write("usage: npm run preview:ci -- --stack NAME [--expect-no-changes] [--refresh]\n");
    return 64;
  }
  const args = ["preview", "--stack", stack, "--diff", "--json", "--non-interactive"];
  if (argv.includes("--refresh")) args.push("--refresh");
  const r = spawnSync("pulumi", args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  let parsed: PreviewJson;
  try {
    parsed = JSON.parse(r.stdout) as PreviewJson;
  } catch {
    process.stdout.write(`### pulumi preview: \`${stack}\`\n\npulumi did not produce a preview:\n\n\`\`\`\n${(r.stderr || r.stdout).trim().slice(-4000)}\n\`\`\`\n`);
    return 1;
  }
  const mode = spawnSync("pulumi", ["config", "get", "topology.mode", "--stack", stack], { encoding: "utf8" });
  process.stdout.write(summarize(parsed, stack, mode.status === 0 ? mode.stdout.trim() : undefined));
  if (r.status !== 0) return 1;
  if (argv.includes("--expect-no-changes") && changes(parsed).length > 0) {
    process.stderr.write(`drift: the preview of ${stack} proposes changes\n`);
    return 2;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
