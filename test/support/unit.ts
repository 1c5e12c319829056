/** What the unit tests of the resource implementations share: placeholder PEMs, a pinned host key, a parsed version, the inputs of a resource that works from site B's learner. */
import type { Props } from "../../provider/impl/common";
import { parseEtcdVersion } from "../../provider/lib/versions";
import type { EtcdVersion } from "../../provider/lib/versions";

/** The version in `text`; throws when there is none. */
export function version(text: string): EtcdVersion {
  const p = parseEtcdVersion(text);
  if (!p) throw new Error(`no version in ${text}`);
  return p;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A well-formed ed25519 public key line, to pin as a host key. */
export const HOST_KEY = `ssh-ed25519 ${Buffer.concat([u32(11), Buffer.from("ssh-ed25519"), u32(32), Buffer.alloc(32, 7)]).toString("base64")}`;
/** Text shaped like a PEM certificate (not a parsable one). */
export const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
/** Text shaped like a PEM private key (not a parsable one). */
export const KEY = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

/** The learner `memberName` on master3 (10.250.0.103), as a `learner` input. */
export function learnerRef(memberName: string): { memberName: string; peerURL: string; clientURL: string } {
  return { memberName, peerURL: "https://10.250.0.103:2380", clientURL: "https://10.250.0.103:2379" };
}

/** Inputs of a resource that works from `learner` on master3: its host, site A's voters, the learner, then `rest`. */
export function learnerResourceInputs(learner: Props, rest: Props): Props {
  return {
    host: { host: "10.250.0.103", user: "root", privateKey: KEY, hostPublicKey: HOST_KEY },
    cluster: { endpoints: ["https://10.250.0.101:2379", "https://10.250.0.102:2379", "https://10.250.0.104:2379"], caPem: PEM, certPem: PEM, keyPem: KEY },
    learner,
    ...rest,
  };
}
