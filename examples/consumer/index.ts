/**
 * A Pulumi program that uses etcd-standby as a user would: installed from the
 * tarball `npm pack` makes, imported by package name. On the local two-site
 * sandbox (`npm run sandbox -- up` in the project) it walks the seed for one
 * host: the host's voter is removed, RKE's etcd containers on it are cleaned,
 * and a raft learner is started in their place.
 *
 * Config (namespace `etcd-standby-consumer`):
 * - `sandbox`: path of the sandbox description (/srv/etcd-standby-sandbox/sandbox.json)
 * - `etcdKey` (secret): the etcd client key, the one named by the description's `etcd.keyFile`
 * - `sshKey` (secret): the SSH key, the one named by `ssh.privateKeyFile`
 * - `host` (optional): the site-B etcd host to turn into a learner (default master3)
 * - `learnerTimeoutMs` (optional): how long the learner may take to catch up (default 120000)
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { EtcdLearner, EtcdMemberRemoval, RkeContainerCleanup } from "etcd-standby";
import type { ClusterConnection, HostConnection } from "etcd-standby";

/** The parts of the sandbox description this program reads. */
interface SandboxDescription {
  etcd: { caFile: string; certFile: string; images: Record<string, string> };
  ssh: { user: string; port: number };
  hosts: { name: string; site: string; address: string; roles: string[]; hostPublicKey: string; etcdMember: string | null }[];
}

const config = new pulumi.Config();
const sandbox = JSON.parse(fs.readFileSync(config.require("sandbox"), "utf8")) as SandboxDescription;
const hostName = config.get("host") ?? "master3";
const target = sandbox.hosts.find((h) => h.name === hostName);
if (!target?.etcdMember) throw new Error(`${hostName} is not an etcd host of the sandbox`);

// The learner joins through the other voters; its own host's voter is removed first.
const cluster: ClusterConnection = {
  endpoints: sandbox.hosts.filter((h) => h.roles.includes("etcd") && h.name !== target.name).map((h) => `https://${h.address}:2379`),
  caPem: fs.readFileSync(sandbox.etcd.caFile, "utf8"),
  certPem: fs.readFileSync(sandbox.etcd.certFile, "utf8"),
  keyPem: config.requireSecret("etcdKey"),
};
const host: HostConnection = {
  host: target.address,
  port: sandbox.ssh.port,
  user: sandbox.ssh.user,
  privateKey: config.requireSecret("sshKey"),
  hostPublicKey: target.hostPublicKey,
};
const learnerName = `learner-${target.name}`;

const removal = new EtcdMemberRemoval(`remove-${target.name}`, { cluster, memberName: target.etcdMember });
const cleanup = new RkeContainerCleanup(`clean-${target.name}`, { cluster, host, ignoreMembers: [learnerName] }, { dependsOn: [removal] });
const learner = new EtcdLearner(
  learnerName,
  {
    cluster,
    host,
    memberName: learnerName,
    peerURL: `https://${target.address}:2380`,
    clientURL: `https://${target.address}:2379`,
    image: sandbox.etcd.images["v3.5"],
    timeoutMs: config.getNumber("learnerTimeoutMs") ?? 120_000,
  },
  { dependsOn: [cleanup] },
);

export const removedMemberId = removal.removedMemberId;
export const learnerId = learner.memberId;
export const learnerLag = learner.lag;
