/**
 * Reading an etcd server's identity off a container: its flags (command line
 * and `ETCD_*` environment), the peer URLs it was started with, and whether
 * those place it in a given cluster. Used before a container is stopped, so
 * that a wrong address never stops another cluster's member.
 *
 * Pure module: no I/O.
 */
import { hostOfUrl, normaliseUrl } from "./members";

/** The etcd flags a container runs with: `--flag=value`, `--flag value` and `ETCD_FLAG=value`; the command line wins. */
export function etcdFlagsOf(argv: readonly string[], env: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const e of env) {
    const m = /^ETCD_([A-Z0-9_]+)=(.*)$/s.exec(e);
    if (m && !m[1].startsWith("CTL") ) flags[m[1].toLowerCase().replace(/_/g, "-")] = m[2];
  }
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z0-9][a-z0-9-]*)(?:=(.*))?$/s.exec(argv[i]);
    if (!m) continue;
    if (m[2] !== undefined) flags[m[1]] = m[2];
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("-")) flags[m[1]] = argv[++i];
    else flags[m[1]] = "true";
  }
  return flags;
}

/** True when the flags are an etcd server's (it names itself, its data dir or its cluster). */
export function isEtcdServer(argv: readonly string[], flags: Record<string, string>): boolean {
  const runsEtcd = argv.some((a) => /(^|\/)etcd$/.test(a));
  return runsEtcd || ["initial-cluster", "initial-advertise-peer-urls", "listen-peer-urls"].some((f) => flags[f] !== undefined);
}

/** Every peer URL an etcd server's flags name: `--initial-cluster` entries and its advertised peer URLs. */
export function peerUrlsOf(flags: Record<string, string>): { name: string; url: string }[] {
  const out: { name: string; url: string }[] = [];
  for (const entry of (flags["initial-cluster"] ?? "").split(",")) {
    const i = entry.indexOf("=");
    if (i > 0) out.push({ name: entry.slice(0, i).trim(), url: entry.slice(i + 1).trim() });
  }
  for (const url of (flags["initial-advertise-peer-urls"] ?? "").split(",")) {
    if (url.trim() !== "") out.push({ name: flags.name ?? "", url: url.trim() });
  }
  return out;
}

/** A URL's port (the scheme's default when absent); "" when not a URL. */
export function portOfUrl(url: string): string {
  const m = /:(\d+)$/.exec(normaliseUrl(url));
  return m ? m[1] : "";
}

/**
 * Whether an etcd server started with `peers` belongs to a cluster whose
 * members have `memberPeerURLs`: some peer it names (a host other than
 * `self`, matched by the addresses its host resolves to and the port) is a
 * member now. `resolve` gives the addresses a URL's host resolves to.
 */
export function belongsToCluster(
  peers: readonly { name: string; url: string }[],
  memberPeerURLs: readonly string[],
  resolve: (host: string) => readonly string[],
  self: (host: string) => boolean,
): { belongs: boolean; matched?: string } {
  const key = (url: string): { addrs: readonly string[]; port: string } => ({ addrs: resolve(safeHost(url)), port: portOfUrl(url) });
  const members = memberPeerURLs.map((u) => ({ url: u, ...key(u) }));
  for (const p of peers) {
    const h = safeHost(p.url);
    if (h === "" || self(h)) continue;
    const k = key(p.url);
    const hit = members.find((m) => m.port === k.port && m.addrs.some((a) => k.addrs.includes(a)));
    if (hit) return { belongs: true, matched: `${p.name}=${p.url} is member peer URL ${hit.url}` };
  }
  return { belongs: false };
}

function safeHost(url: string): string {
  try {
    return hostOfUrl(url);
  } catch {
    return "";
  }
}
