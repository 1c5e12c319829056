/** Connection props for the provider implementations, built from the sandbox description. */
import * as fs from "fs";
import type { Props } from "../provider/impl/common";
import { host as hostOf } from "./sandbox";
import type { SandboxDescription } from "./sandbox";

/** The cluster connection as the provider receives it (plain values). */
export function clusterProps(d: SandboxDescription, endpoints = d.etcd.endpoints): Props {
  return {
    endpoints,
    caPem: fs.readFileSync(d.etcd.caFile, "utf8"),
    certPem: fs.readFileSync(d.etcd.certFile, "utf8"),
    keyPem: fs.readFileSync(d.etcd.keyFile, "utf8"),
    timeoutMs: 5000,
  };
}

/** The host connection for a sandbox host, its host key pinned. */
export function hostProps(d: SandboxDescription, name: string, overrides: Props = {}): Props {
  const h = hostOf(d, name);
  return {
    host: h.address,
    user: d.ssh.user,
    privateKey: fs.readFileSync(d.ssh.privateKeyFile, "utf8"),
    hostPublicKey: h.hostPublicKey,
    timeoutMs: 20_000,
    ...overrides,
  };
}

/** The voters' client URLs, without the given hosts' (e.g. the member being removed). */
export function voterEndpoints(d: SandboxDescription, without: string[] = []): string[] {
  return d.hosts.filter((h) => h.roles.includes("etcd") && !without.includes(h.name)).map((h) => `https://${h.address}:2379`);
}
