/**
 * Process warnings that say nothing about this project's connections.
 *
 * Node's DEP0123 ("Setting the TLS ServerName to an IP address is not
 * permitted by RFC 6066") comes from every etcd3 client: @grpc/grpc-js (1.14,
 * under etcd3) always passes the target's host to tls.connect as
 * `servername`, and etcd endpoints are IPs (grpc/grpc-node#1919, open). No
 * channel option avoids it: `grpc.ssl_target_name_override` would also change
 * the name the server certificate is checked against. Nothing is wrong with
 * the connection (etcd ignores SNI; Node checks the certificate against the
 * IP). Node's own `https` sends no SNI for an IP when no `servername` is
 * given, so plain HTTPS calls never print it.
 */

const QUIET = Symbol.for("etcd-standby.quietDep0123");

/**
 * Drops exactly Node's DEP0123 warning from this process, once installed;
 * every other warning, and the same text with another code, still prints.
 * Call it before an etcd3 client connects (idempotent, also across copies of
 * this module).
 */
export function quietIpServernameWarning(): void {
  const proc = process as NodeJS.Process & { [QUIET]?: true };
  if (proc[QUIET]) return;
  proc[QUIET] = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  const codeOf = (args: unknown[]): unknown => {
    const [warning, typeOrOptions, code] = args;
    if (typeof code === "string") return code;
    if (typeOrOptions !== null && typeof typeOrOptions === "object") return (typeOrOptions as { code?: unknown }).code;
    return warning instanceof Error ? (warning as Error & { code?: unknown }).code : undefined;
  };
  process.emitWarning = (...args: unknown[]): void => {
    if (codeOf(args) !== "DEP0123") emitWarning(...args);
  };
}
