/**
 * Kubernetes-shaped data for the sandbox's etcd: keys such as
 * `/registry/pods/<namespace>/<name>` with 1-4 KB JSON-ish values, written
 * with the etcd3 library directly (not the provider's code), many at a time.
 * Used by the integration suites and by the benchmarks.
 */
import * as fs from "fs";
import type { Etcd3 } from "etcd3";
import { quietIpServernameWarning } from "../provider/lib/warnings";

/** Where and how to write. */
export interface LoadTarget {
  endpoints: string[];
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** What a load wrote. */
export interface LoadResult {
  keys: number;
  valueBytes: number;
  ms: number;
}

const NAMESPACES = ["default", "kube-system", "monitoring", "ingress-nginx", "cattle-system", "apps", "batch", "logging"];

/** A small deterministic PRNG (mulberry32), so runs write the same shapes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The i-th Kubernetes-shaped key and value under `resource` (pods by default); the value is 1-4 KB, or about 500 bytes unpadded (no last-applied annotation). */
export function kubeObject(i: number, rand: () => number, resource = "pods", tag = "load", padded = true): { key: string; value: string } {
  const ns = NAMESPACES[i % NAMESPACES.length];
  const name = `${tag}-${i.toString(36)}-${Math.floor(rand() * 1e9).toString(36)}`;
  const target = 1024 + Math.floor(rand() * 3072);
  const obj = {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      name,
      namespace: ns,
      uid: `${Math.floor(rand() * 1e16).toString(16)}-${i}`,
      resourceVersion: String(1000 + i),
      labels: { app: tag, "pod-template-hash": Math.floor(rand() * 1e10).toString(36) },
      annotations: { "etcd-standby/test": "true" } as Record<string, string>,
    },
    spec: {
      nodeName: `node${(i % 5) + 1}`,
      containers: [{ name: "app", image: "rancher/hello-world:latest", resources: { requests: { cpu: "100m", memory: "64Mi" } } }],
    },
    status: { phase: "Running", podIP: `10.42.${i % 250}.${(i >> 8) % 250}` },
  };
  let value = JSON.stringify(obj);
  if (padded && value.length < target) {
    // kubectl's last-applied-configuration annotation makes real objects this large.
    obj.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] = "x".repeat(target - value.length - 60);
    value = JSON.stringify(obj);
  }
  return { key: `/registry/${resource}/${ns}/${name}`, value };
}

/** An etcd3 client on the target (mTLS), without Node's DEP0123 warning (as the provider's). Close it when done. */
export function client(t: LoadTarget): Etcd3 {
  const { Etcd3: Client } = require("etcd3") as typeof import("etcd3");
  quietIpServernameWarning();
  return new Client({
    hosts: t.endpoints,
    credentials: { rootCertificate: fs.readFileSync(t.caFile), certChain: fs.readFileSync(t.certFile), privateKey: fs.readFileSync(t.keyFile) },
  });
}

/**
 * Writes Kubernetes-shaped objects until about `bytes` of values are written,
 * `concurrency` puts at a time, each with a deadline. Returns what it wrote.
 */
export async function loadKubeShaped(t: LoadTarget, bytes: number, opts: { tag?: string; resource?: string; concurrency?: number; seed?: number } = {}): Promise<LoadResult> {
  const c = client(t);
  const rand = prng(opts.seed ?? 42);
  const started = Date.now();
  let next = 0;
  let written = 0;
  let keys = 0;
  try {
    const worker = async (): Promise<void> => {
      while (written < bytes) {
        const { key, value } = kubeObject(next++, rand, opts.resource, opts.tag);
        written += value.length;
        await c.put(key).value(value).options({ deadline: new Date(Date.now() + 30_000) }).exec();
        keys++;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 32 }, worker));
  } finally {
    c.close();
  }
  return { keys, valueBytes: written, ms: Date.now() - started };
}
