/** Polling with a deadline (the shared module, support/wait.ts), and the rejection helpers only tests use. */
import { expect } from "chai";
import { EtcdStandbyError } from "../../provider/lib/errors";

export * from "../../support/wait";

/** The error `p` rejects with; fails the test when it succeeds instead. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection, but it succeeded");
}

/** The {@link EtcdStandbyError} `p` rejects with (printed when SHOW_ERRORS is set); fails the test on any other outcome. */
export async function standbyRejection(p: Promise<unknown>): Promise<EtcdStandbyError> {
  const e = await rejection(p);
  expect(e).to.be.instanceOf(EtcdStandbyError);
  if (process.env.SHOW_ERRORS) console.log(`      [${(e as EtcdStandbyError).code}] ${e.message}`);
  return e as EtcdStandbyError;
}
