/**
 * The exec server: an HTTP server that upgrades any path to a WebSocket (one Connection each) and
 * answers `GET /readyz` and `GET /metrics`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { Connection } from './connection.js';
import { admitUpgrade, bearerMatches, refuseUpgrade } from './http-auth.js';
import { formatWsUrl } from './listen-url.js';
import { METRICS_CONTENT_TYPE, ServerMetrics } from './metrics.js';
import { fileSystemOf, type ServerRuntime } from './runtime-port.js';
import { resolveServerOptions, type ServerOptions } from './server-options.js';
import { SessionRegistry } from './session-registry.js';

export interface ExecServer {
  /** `ws://<ip>:<port>` with the bound port. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * Stops accepting, closes every connection and session (their processes are terminated) and,
   * if the server created its runtime, closes that too.
   */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<ExecServer> {
  const resolved = resolveServerOptions(options);
  const { logger } = resolved;
  const ownsRuntime = resolved.runtime === undefined;
  const runtime: ServerRuntime = resolved.runtime ?? (await ExecRuntime.create({ logger }));
  const metrics = new ServerMetrics(() => runtime.stats());
  const registry = new SessionRegistry(runtime, resolved.detachTtlMs, logger, metrics);
  const fileSystem = fileSystemOf(runtime);
  const connections = new Set<Connection>();
  let closing: Promise<void> | null = null;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: resolved.maxMessageBytes,
    perMessageDeflate: false,
  });

  const http = createServer((request, response) => {
    serveHttp(request, response);
  });

  function serveHttp(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/readyz') return closing === null ? reply(200, 'ok') : reply(503, 'shutting down');
    if (path === '/metrics') {
      if (resolved.token !== null && !bearerMatches(request.headers.authorization, resolved.token)) {
        return reply(401, 'missing or wrong bearer token\n');
      }
      return void metrics.render().then((text) => reply(200, text, METRICS_CONTENT_TYPE));
    }
    return reply(404, 'not found\n');
  }

  http.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
    const refusal =
      closing !== null
        ? { status: 503 as const, reason: 'shutting down' }
        : admitUpgrade(request, resolved.token);
    if (refusal !== null) {
      logger.warn(
        { peer: peerOf(request), status: refusal.status, reason: refusal.reason },
        'refused websocket upgrade',
      );
      refuseUpgrade(socket, refusal);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      const peer = peerOf(request);
      const connection = new Connection(ws, peer, { options: resolved, registry, metrics, fileSystem });
      connections.add(connection);
      metrics.connectionsOpen += 1;
      metrics.connectionsTotal += 1;
      logger.debug({ peer }, 'connection opened');
      void connection.closed.then(() => connections.delete(connection));
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(resolved.listen.port, resolved.listen.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.on('error', (error) => logger.error({ err: error }, 'http server error'));

  const address = http.address() as AddressInfo;
  const url = formatWsUrl(address.address, address.port);
  logger.info({ url }, 'listening');

  async function shutdown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
    for (const connection of connections) connection.shutdown();
    await Promise.all([...connections].map((c) => c.closed));
    await registry.closeAll();
    wss.close();
    http.closeAllConnections();
    await stopped;
    if (ownsRuntime) await runtime.close();
  }

  return {
    url,
    host: address.address,
    port: address.port,
    close: () => (closing ??= shutdown()),
  };
}

/** The peer as the reference labels it: `ip:port`, IPv6 in brackets. */
function peerOf(request: IncomingMessage): string {
  const { remoteAddress = 'unknown', remotePort = 0 } = request.socket;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
