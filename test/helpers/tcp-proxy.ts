/**
 * A TCP proxy in front of a server, for a network that fails under a client: everything (HTTP
 * probes, WebSocket upgrades) passes byte for byte until `cut()` resets every connection open
 * through it, on both sides, as a failing network link does; the server itself goes on. New
 * connections are taken again right after. (`ws-proxy.ts` is the one for message-level faults.)
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  /** `ws://127.0.0.1:<port>`: the server's URL through the proxy. */
  readonly url: string;
  /** Connections passed through so far. */
  readonly accepted: number;
  /** Resets every connection open now (both sides); resolves once both sides of each are closed. */
  cut(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  const server = createServer((inbound) => {
    accepted += 1;
    const outbound = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const cut = async () => {
    const closing = [...pairs].flatMap(([a, b]) => [a, b].map((socket) => closedOf(socket)));
    for (const [inbound, outbound] of pairs) {
      inbound.resetAndDestroy();
      outbound.resetAndDestroy();
    }
    await Promise.all(closing);
  };
  return {
    url: `ws://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    cut,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await cut();
      await closed;
    },
  };
}

function closedOf(socket: Socket): Promise<void> {
  return socket.destroyed && socket.closed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}
