/**
 * Writes a workload of Kubernetes-shaped keys (/registry/<kind>/<ns>/<name>)
 * through etcd's client API, as a demo and benchmark load. Prints JSON
 * {written, prefix, bytes, ms}. Every acknowledged key is counted.
 *
 *   node dist/scripts/workload.js --endpoints URL[,URL] --ca F --cert F --key F [--count N] [--size BYTES] [--concurrency C]
 */
import * as fs from "fs";
import { withEtcd } from "../provider/connection/etcd";
import { arg } from "./cli";

const KINDS = ["pods", "configmaps", "secrets", "services/specs", "deployments", "events"];

/** A JSON-ish value of about `size` bytes, like a Kubernetes object. */
export function objectValue(kind: string, ns: string, name: string, size: number): string {
  const head = JSON.stringify({ kind, apiVersion: "v1", metadata: { name, namespace: ns, uid: `${name}-uid` } });
  return head + " ".repeat(Math.max(0, size - head.length));
}

async function main(argv: string[]): Promise<void> {
  const count = Number(arg(argv, "count", "2000"));
  const size = Number(arg(argv, "size", "1024"));
  const concurrency = Number(arg(argv, "concurrency", "32"));
  const conn = {
    endpoints: arg(argv, "endpoints").split(","),
    caPem: fs.readFileSync(arg(argv, "ca"), "utf8"),
    certPem: fs.readFileSync(arg(argv, "cert"), "utf8"),
    keyPem: fs.readFileSync(arg(argv, "key"), "utf8"),
    timeoutMs: 20_000,
  };
  const started = Date.now();
  let next = 0;
  let written = 0;
  await withEtcd(conn, async (etcd) => {
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const kind = KINDS[i % KINDS.length];
        const ns = `ns-${i % 10}`;
        const name = `obj-${i}`;
        await etcd.put(`/registry/${kind}/${ns}/${name}`, objectValue(kind, ns, name, size));
        written++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  });
  process.stdout.write(`${JSON.stringify({ written, prefix: "/registry/", bytes: written * size, ms: Date.now() - started })}\n`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
