/**
 * Turns `pulumi preview --json` into a short Markdown summary for a pull
 * request: one row per resource step with its operation, the fields that
 * change, and whether it replaces. Pure; used by scripts/preview-ci.ts.
 */

/** One step of `pulumi preview --json` (the fields used here). */
export interface PreviewStep {
  op: string;
  urn: string;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }> | null;
  newState?: { type?: string };
  oldState?: { type?: string };
}

/** The parts of `pulumi preview --json` output used here. */
export interface PreviewJson {
  steps?: PreviewStep[];
  changeSummary?: Record<string, number>;
  diagnostics?: { severity?: string; message?: string; urn?: string }[];
}

/** Steps that change something (not "same", not the stack itself when unchanged). */
export function changes(p: PreviewJson): PreviewStep[] {
  return (p.steps ?? []).filter((s) => s.op !== "same" && s.op !== "read");
}

function nameOf(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

function typeOf(s: PreviewStep): string {
  const t = s.newState?.type ?? s.oldState?.type ?? s.urn.split("::")[2] ?? "";
  return t.replace(/^pulumi-nodejs:dynamic\/etcdstandby:/, "").replace(/^pulumi-nodejs:dynamic:Resource$/, "dynamic");
}

/** What each `topology.mode` converges to, for the summary's reader. */
export const MODE_NOTES: Readonly<Record<string, string>> = {
  "learner-standby": "voters in the primary site, a learner on each standby etcd host; every kube-apiserver at the voters",
  stretched: "every etcd host votes (the standby learners promoted)",
  failover: "the primary site is lost: the standby learner restored as a one-member cluster; the lost site fenced",
  rebuild: "after a failover: the primary site's etcd hosts join the new cluster, one learner at a time, each promoted",
  failback: "after a rebuild: the learner-standby layout again in the new cluster (the standby voter removed and re-added as a learner); then set learner-standby, which only forgets the failover",
};

/** The Markdown summary: a headline (with the mode, when known), a table of changing resources, and errors if any. */
export function summarize(p: PreviewJson, stack: string, mode?: string): string {
  const rows = changes(p);
  const errors = (p.diagnostics ?? []).filter((d) => d.severity === "error");
  const lines: string[] = [];
  const counts = Object.entries(p.changeSummary ?? {})
    .filter(([op]) => op !== "same")
    .map(([op, n]) => `${n} to ${op}`)
    .join(", ");
  lines.push(`### pulumi preview: \`${stack}\``);
  lines.push("");
  if (mode !== undefined && mode !== "") lines.push(`Mode \`${mode}\`: ${MODE_NOTES[mode] ?? "not a mode this version knows"}.`, "");
  lines.push(rows.length === 0 ? "No changes: the live cluster matches the declared topology." : `${rows.length} change${rows.length === 1 ? "" : "s"} (${counts}).`);
  if (rows.length > 0) {
    lines.push("", "| resource | type | operation | fields | replaces |", "| --- | --- | --- | --- | --- |");
    for (const s of rows) {
      const fields = [...new Set([...(s.diffReasons ?? []), ...Object.keys(s.detailedDiff ?? {})])].sort();
      const replace = s.op.includes("replace") || (s.replaceReasons ?? []).length > 0;
      lines.push(`| ${nameOf(s.urn)} | ${typeOf(s)} | ${s.op} | ${fields.join(", ") || "-"} | ${replace ? `yes (${(s.replaceReasons ?? []).join(", ") || "replace"})` : "no"} |`);
    }
  }
  if (errors.length > 0) {
    lines.push("", "**Errors**", "");
    for (const e of errors) lines.push("```", (e.message ?? "").trim(), "```");
  }
  return lines.join("\n") + "\n";
}
