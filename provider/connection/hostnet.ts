/**
 * What a host itself says about addresses: its own IP addresses, and what
 * names resolve to there (its /etc/hosts and DNS, not ours). Used to decide
 * whether a URL such as `https://master3:2380` points at the host. One SSH
 * command; names are validated before they are sent.
 */
import { isIP } from "node:net";
import { EtcdStandbyError } from "../lib/errors";
import { isHostAddress } from "../lib/validate";
import type { SshSession } from "./ssh";

/** The host's own addresses and the addresses each name resolves to there. */
export interface HostAddressView {
  /** Every address configured on the host (IPv4 and IPv6, loopback included). */
  own: string[];
  /** Name (as asked) to the addresses it resolves to on the host; an IP maps to itself; [] when it does not resolve. */
  resolved: Record<string, string[]>;
}

const SCRIPT = [
  'if command -v ip >/dev/null 2>&1; then ip -o addr show | awk \'{ split($4, a, "/"); print "own " a[1] }\'; ',
  'else for a in $(hostname -I 2>/dev/null); do echo "own $a"; done; echo "own 127.0.0.1"; echo "own ::1"; fi; ',
  'for n in "$@"; do getent ahosts "$n" 2>/dev/null | awk -v n="$n" \'{ print "resolve " n " " $1 }\'; done',
].join("");

/** Reads the host's addresses and resolves `names` on the host. */
export async function hostAddressView(s: SshSession, names: readonly string[]): Promise<HostAddressView> {
  const bad = names.filter((n) => typeof n !== "string" || !isHostAddress(n));
  if (bad.length > 0) {
    throw new EtcdStandbyError("InvalidInput", `cannot resolve ${bad.map((b) => JSON.stringify(b)).join(", ")}: not host names or addresses`, "pass host names or IP addresses; nothing was run", { host: s.host });
  }
  const toAsk = [...new Set(names.filter((n) => isIP(n) === 0))];
  const r = await s.run(["sh", "-c", SCRIPT, "sh", ...toAsk]);
  const own = new Set<string>();
  const resolved: Record<string, string[]> = {};
  for (const n of names) resolved[n] = isIP(n) !== 0 ? [n.toLowerCase()] : [];
  for (const line of r.stdout.split("\n")) {
    const p = line.trim().split(/\s+/);
    if (p[0] === "own" && p[1]) own.add(p[1].toLowerCase());
    else if (p[0] === "resolve" && p[1] && p[2] && resolved[p[1]] !== undefined && !resolved[p[1]].includes(p[2].toLowerCase())) resolved[p[1]].push(p[2].toLowerCase());
  }
  return { own: [...own], resolved };
}

/** True when `name` (a host name or address) resolves, on the host, to one of the host's own addresses (loopback aside). */
export function pointsAtHost(view: HostAddressView, name: string): boolean {
  const own = view.own.filter((a) => a !== "127.0.0.1" && a !== "::1");
  return (view.resolved[name] ?? []).some((a) => own.includes(a));
}
