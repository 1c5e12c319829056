/**
 * Latency between the sandbox's sites, in user space (the kernel here has no
 * netem): a TCP relay that holds every chunk it passes, in either direction,
 * for a fixed delay, keeping the order.
 *
 *   node latencyRelay.js DELAY_MS LISTEN_PORT=DEST_ADDRESS:DEST_PORT ...
 *
 * It listens on 127.0.0.1 at each LISTEN_PORT and relays each connection to
 * its destination. `sandbox.sh latency MS` runs one relay per host, in the
 * host's network namespace and as an unprivileged user, and redirects that
 * host's outgoing connections to the other site's etcd ports (2379, 2380)
 * into it with iptables; the relay's own connections are exempt by their
 * user. TLS passes through untouched: both ends see each other's addresses
 * and certificates as before.
 */
import * as net from "net";

/** Bytes a direction may hold before it stops reading its source. */
const HIGH_WATER = 8 * 1024 * 1024;

/** One `LISTEN_PORT=ADDRESS:PORT` argument. */
export interface Route {
  listenPort: number;
  host: string;
  port: number;
}

/** Parses the command line; throws saying what is wrong. */
export function parseArgs(argv: string[]): { delayMs: number; routes: Route[] } {
  const [delay, ...rest] = argv;
  const delayMs = Number(delay);
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 10_000) throw new Error(`DELAY_MS must be a whole number of milliseconds from 0 to 10000, not ${JSON.stringify(delay)}`);
  if (rest.length === 0) throw new Error("give at least one LISTEN_PORT=ADDRESS:PORT");
  const routes = rest.map((r) => {
    const m = /^(\d{1,5})=([0-9.]+):(\d{1,5})$/.exec(r);
    if (!m || net.isIPv4(m[2]) === false) throw new Error(`not LISTEN_PORT=IPV4:PORT: ${JSON.stringify(r)}`);
    return { listenPort: Number(m[1]), host: m[2], port: Number(m[3]) };
  });
  return { delayMs, routes };
}

/** Copies `from` to `to`, each chunk `delayMs` late; the end and errors travel the same way. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number): void {
  let held = 0;
  from.on("data", (chunk: Buffer) => {
    held += chunk.length;
    if (held > HIGH_WATER) from.pause();
    setTimeout(() => {
      held -= chunk.length;
      if (!to.destroyed) to.write(chunk);
      if (held <= HIGH_WATER && from.isPaused()) from.resume();
    }, delayMs);
  });
  from.on("end", () => setTimeout(() => to.end(), delayMs));
  from.on("error", () => setTimeout(() => to.destroy(), delayMs));
}

/** Starts listening on every route; resolves once all listen. */
export async function relay(delayMs: number, routes: Route[]): Promise<net.Server[]> {
  return Promise.all(
    routes.map(
      (r) =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer((inbound) => {
            inbound.pause();
            const outbound = net.connect({ host: r.host, port: r.port }, () => {
              delayedPipe(inbound, outbound, delayMs);
              delayedPipe(outbound, inbound, delayMs);
              inbound.resume();
            });
            outbound.on("error", () => inbound.destroy());
            inbound.on("error", () => outbound.destroy());
          });
          server.once("error", reject);
          server.listen(r.listenPort, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
}

if (require.main === module) {
  try {
    const { delayMs, routes } = parseArgs(process.argv.slice(2));
    relay(delayMs, routes).then(
      () => process.stdout.write(`relaying with ${delayMs} ms each way: ${routes.map((r) => `127.0.0.1:${r.listenPort} -> ${r.host}:${r.port}`).join(", ")}\n`),
      (e: unknown) => {
        process.stderr.write(`latency relay: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  } catch (e) {
    process.stderr.write(`latency relay: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}
