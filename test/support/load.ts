/** Kubernetes-shaped data for the sandbox's etcd: the shared module (support/load.ts). */
export * from "../../support/load";
