/**
 * The sample CI workflow never hands secrets to untrusted code: no job that a
 * pull request can trigger references a secret or the protected environment,
 * and `pull_request_target` (which runs with secrets) is not used at all.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..", "..", "..");

type Job = Record<string, unknown> & { if?: unknown };

/** Whether a job's `if` keeps it from running on pull requests. */
function excludesPullRequests(job: Job): boolean {
  const cond = typeof job.if === "string" ? job.if : "";
  return /github\.event_name\s*!=\s*'pull_request'/.test(cond) || /github\.event_name\s*==\s*'(push|schedule|workflow_dispatch)'/.test(cond);
}

/** Jobs of a workflow a pull request can trigger that reach for secrets. */
export function jobsLeakingSecrets(text: string): string[] {
  const wf = parse(text) as { on?: unknown; true?: unknown; jobs?: Record<string, Job> };
  const on = wf.on ?? wf.true; // YAML 1.1 readers take `on` for a boolean
  const triggers = typeof on === "string" ? [on] : Array.isArray(on) ? on.map(String) : Object.keys((on ?? {}));
  const problems: string[] = [];
  if (triggers.includes("pull_request_target")) problems.push("the workflow uses pull_request_target, which runs pull-request code with secrets");
  if (!triggers.includes("pull_request") && !triggers.includes("pull_request_target")) return problems;
  for (const [name, job] of Object.entries(wf.jobs ?? {})) {
    if (excludesPullRequests(job)) continue;
    const body = JSON.stringify(job);
    if (/secrets\./.test(body)) problems.push(`job ${name} runs on pull requests and references secrets`);
    if (job.environment !== undefined) problems.push(`job ${name} runs on pull requests and uses environment ${JSON.stringify(job.environment)}`);
    if (/self-hosted/.test(JSON.stringify(job["runs-on"] ?? ""))) problems.push(`job ${name} runs pull-request code on a self-hosted runner (next to production)`);
  }
  return problems;
}

describe("sample CI workflow: no secrets for pull-request code", () => {
  it("gives no job a pull request can trigger a secret, the production environment or a self-hosted runner", () => {
    const text = fs.readFileSync(path.join(ROOT, ".github", "workflows", "preview.yml"), "utf8");
    expect(jobsLeakingSecrets(text)).to.deep.equal([]);
  });

  it("the check itself catches the old workflow's shape (secrets in a job pull requests run)", () => {
    const old = `
on:
  pull_request:
jobs:
  preview:
    runs-on: [self-hosted, linux]
    env:
      PULUMI_CONFIG_PASSPHRASE: \${{ secrets.PULUMI_CONFIG_PASSPHRASE }}
    steps:
      - run: npm ci
`;
    expect(jobsLeakingSecrets(old).join("\n")).to.match(/preview runs on pull requests and references secrets/).and.match(/self-hosted/);
    expect(jobsLeakingSecrets("on: [pull_request_target]\njobs: {}\n")).to.have.length(1);
  });
});
