/** Runs local commands for tests: the shared module (support/exec.ts). */
export * from "../../support/exec";

