/**
 * Paths on a host and the folders an etcd container mounts. Expects
 * validated absolute paths. Pure module: no I/O.
 */
import type { VolumeSpec } from "../connection/docker";

/** The folder part of a path ("/" for top-level entries). */
export function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** True when `path` is `dir` or lies inside it. */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** The TLS file paths an etcd member reads on its host. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** An etcd container's mounts: its data dir, and the folders of its TLS files read-only, each at the same path inside. */
export function etcdVolumes(dataDir: string, tls: TlsFiles): VolumeSpec[] {
  const tlsDirs = [...new Set([tls.caFile, tls.certFile, tls.keyFile].map(dirOf))].sort();
  return [{ host: dataDir, container: dataDir }, ...tlsDirs.map((d) => ({ host: d, container: d, ro: true }))];
}
