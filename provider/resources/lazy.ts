/**
 * The provider object Pulumi serialises into state as `__provider`.
 *
 * Pulumi's closure serialiser copies a dynamic provider's functions, and
 * everything they reach, into the state by value; deep implementation code
 * (SSH sessions, timers, gRPC clients) trips it and would bloat every
 * resource. So the serialised object is this small facade: each method loads
 * the real implementation by package name when it runs,
 * `require("etcd-standby/dist/provider/impl/<name>.js")`. Nothing is captured
 * but the implementation's name: no path of the machine that wrote the state.
 *
 * How that name resolves (checked under the real engine, @pulumi/pulumi
 * 3.248.0; test/integration/package-consumer.test.ts and
 * package-compat.test.ts):
 * - The dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`)
 *   evaluates `__provider` with `require-from-string` and no file name, so a
 *   bare `require` in these functions searches the `node_modules` folders of
 *   the provider process's working directory and its parents. That directory
 *   is the program's folder (the folder of Pulumi.yaml's `main` when it names
 *   a file: `dist/stacks` for this repo's stack).
 * - A program that installed the package (`npm install etcd-standby-*.tgz`)
 *   finds its own `node_modules/etcd-standby`; package.json's `exports`
 *   allows the `./dist/provider/impl/*` subpath. Another checkout or version
 *   lying above the program is never picked up.
 * - This repo's own stack and the test workspaces (which link the repo's
 *   `node_modules`) find `node_modules/etcd-standby`, a link to the repo
 *   itself that `npm run build` makes. Node's package self-reference does not
 *   help here: it needs the requiring module's file name to find its
 *   package.json, and the deserialised facade has none.
 *
 * State written before this facade (28d1e93 and the commits around it)
 * holds the older one, which looks for `dist/provider/impl/<name>.js` (or
 * `provider/impl/<name>.js`) from the working directory upwards; `refresh`
 * and `destroy` run it until an update writes this one. The compiled
 * implementations therefore stay at `dist/provider/impl/<name>.js`, each
 * exporting `provider` (test/integration/package-compat.test.ts).
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ProviderImpl, Props } from "../impl/common";

/** Names of the implementation modules under `dist/provider/impl/`. */
export type ImplName = "memberRemoval" | "containerCleanup" | "learner" | "learnerPromotion" | "standaloneRestore" | "kubeComponentsRestart" | "containerRepoint" | "siteFence" | "rollingSnapshots" | "restoreDrill";

/** Builds the serialisable facade for one resource type. Call once per type and reuse it. */
export function lazyProvider(impl: ImplName): pulumi.dynamic.ResourceProvider {
  // Only `impl` (a string) is captured; `require` is the deserialised
  // module's own (Pulumi never captures it), so it resolves as described above.
  const load = (): ProviderImpl => {
    const id = `etcd-standby/dist/provider/impl/${impl}.js`;
    try {
      return (require(id) as { provider: ProviderImpl }).provider;
    } catch (e) {
      // Only "the package is not there" gets the advice below; an error from
      // inside the implementation (a missing dependency, a bug) stays as is.
      const { code, message } = e as { code?: unknown; message?: string };
      const notFound = code === "MODULE_NOT_FOUND" && String(message).startsWith(`Cannot find module '${id}'`);
      if (!notFound && code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
      throw new Error(
        `etcd-standby: cannot load ${id} from ${process.cwd()} (${String(message).split("\n")[0]}). ` +
          "Install the package in the Pulumi program (npm install <path>/etcd-standby-<version>.tgz), " +
          "or, in a checkout of etcd-standby, run `npm run build` (it links node_modules/etcd-standby to the checkout).",
      );
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
