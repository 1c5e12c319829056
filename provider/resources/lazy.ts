/**
 * The provider object Pulumi serialises into state as `__provider`.
 *
 * Pulumi's closure serialiser copies a dynamic provider's code, and every
 * function it reaches, into the state file; deep implementation code (SSH
 * sessions, timers, gRPC clients) trips it and would bloat every resource.
 * So the serialised object is this small facade: each method loads the real
 * implementation from the project's compiled `dist/provider/impl/` at run time,
 * found from the provider process's working directory (the program's folder)
 * upwards. Nothing secret or machine-specific
 * is captured: only the implementation's relative file name.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ProviderImpl, Props } from "../impl/common";

/** Names of the implementation modules under `dist/provider/impl/`. */
export type ImplName = "memberRemoval" | "containerCleanup" | "learner" | "learnerPromotion" | "standaloneRestore" | "kubeComponentsRestart";

/** Builds the serialisable facade for one resource type. Call once per type and reuse it. */
export function lazyProvider(impl: ImplName): pulumi.dynamic.ResourceProvider {
  const load = (): ProviderImpl => {
    const path = require("path") as typeof import("path");
    const fs = require("fs") as typeof import("fs");
    // The provider process runs in the program's folder (the project root, or
    // dist/stacks for the stack program): look upwards for the compiled code.
    for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
      for (const file of [path.join(dir, "dist", "provider", "impl", `${impl}.js`), path.join(dir, "provider", "impl", `${impl}.js`)]) {
        if (fs.existsSync(file)) return (require(file) as { provider: ProviderImpl }).provider;
      }
      if (path.dirname(dir) === dir) {
        throw new Error(`etcd-standby: cannot find the compiled provider (provider/impl/${impl}.js) above ${process.cwd()}; run \`npm run build\` and run pulumi from the project`);
      }
    }
  };
  return {
    check: (olds: Props, news: Props) => load().check(olds, news),
    diff: (id: string, olds: Props, news: Props) => load().diff(id, olds, news),
    create: (inputs: Props) => load().create(inputs),
    read: (id: string, props: Props) => load().read(id, props),
    update: (id: string, olds: Props, news: Props) => load().update(id, olds, news),
    delete: (id: string, props: Props) => load().delete(id, props),
  };
}
