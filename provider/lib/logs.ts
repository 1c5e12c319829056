/**
 * What an etcd log or a tool's output says when something failed: the likely
 * causes of a failed start, and the lines worth showing in an error. Shared
 * by every resource that starts etcd (learner, restore, drill).
 *
 * Pure module: no I/O.
 */

/** Known failure signatures in an etcd log, with what they usually mean. */
const DIAGNOSES: { pattern: RegExp; cause: string }[] = [
  { pattern: /flag provided but not defined|unknown flag|invalid value .* for flag/i, cause: "an etcd flag is not known to this etcd version or has a bad value (check extraFlags and the image's version)" },
  { pattern: /couldn't find local name|missing from --initial-cluster|not in the cluster|does not match/i, cause: "the member name or peer URL does not match what was added to the cluster (--name / --initial-advertise-peer-urls vs member add)" },
  { pattern: /member count is unequal|unmatched member while checking PeerURLs/i, cause: "--initial-cluster does not match the live member list" },
  { pattern: /x509: certificate is valid for|certificate is not valid for any names|doesn't contain any IP SANs|cannot validate certificate for/i, cause: "TLS certificate SAN mismatch: the certificate does not name the learner's address" },
  { pattern: /x509: certificate signed by unknown authority|bad certificate|certificate required|remote error: tls/i, cause: "TLS trust mismatch: the learner's certificate or CA is not the cluster's" },
  { pattern: /certificate has expired|not yet valid/i, cause: "a TLS certificate has expired or is not valid yet" },
  { pattern: /no space left on device|database space exceeded/i, cause: "the learner's disk is full" },
  { pattern: /already been bootstrapped|data-dir used by this member must be removed|member has already been bootstrapped/i, cause: "the data directory holds another member's data" },
  { pattern: /connection refused|i\/o timeout|no route to host|dial tcp/i, cause: "peers cannot be reached on their peer port (firewall, wrong address, or they are down)" },
  { pattern: /bind: address already in use/i, cause: "another process already listens on the learner's peer or client port" },
  { pattern: /permission denied/i, cause: "the container cannot read its TLS files or data directory" },
];

/** The likely causes of a failed learner start, from its log (most specific first); empty when unknown. */
export function diagnose(log: string): string[] {
  return DIAGNOSES.filter((d) => d.pattern.test(log)).map((d) => d.cause);
}

/**
 * The lines of a log worth showing in an error: those that read like errors
 * (the last `max` of them), or else the last `max` lines.
 */
export function logExcerpt(log: string, max = 15): string {
  return lastLinesPreferring(log.trim().split("\n"), /"level":"(error|fatal|panic)"|\b(error|fatal|panic|failed)\b|flag provided but not defined|^[EFC] \|/i, max);
}

/**
 * The last `max` non-blank lines of `lines` that match `pattern`, or the last
 * `max` non-blank lines when none does, joined with newlines.
 */
export function lastLinesPreferring(lines: readonly string[], pattern: RegExp, max: number): string {
  const shown = lines.filter((l) => l.trim() !== "");
  const matching = shown.filter((l) => pattern.test(l));
  return (matching.length > 0 ? matching : shown).slice(-max).join("\n");
}
