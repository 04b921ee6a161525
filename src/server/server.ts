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
import { ServerMetrics } from './metrics.js';
import { fileSystemOf, type ServerRuntime } from './runtime-port.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './server-options.js';
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
  const given = resolveServerOptions(options);
  const { logger } = given;
  const ownsRuntime = given.runtime === undefined;
  const runtime: ServerRuntime = given.runtime ?? (await ExecRuntime.create({ logger }));
  const resolved = withinFlowWindow(given, runtime.options?.maxFlowWindowBytes);
  const metrics = new ServerMetrics();
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
      return reply(200, metrics.render(runtime.stats()), 'text/plain; version=0.0.4; charset=utf-8');
    }
    return reply(404, 'not found\n');
  }

  http.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
    const refusal =
      closing !== null
        ? { status: 503 as const, reason: 'shutting down' }
        : admitUpgrade(request, resolved.token);
    if (refusal !== null) {
      logger.warn(`refused websocket upgrade from ${peerOf(request)}: ${refusal.status} ${refusal.reason}`);
      refuseUpgrade(socket, refusal);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      const peer = peerOf(request);
      const connection = new Connection(ws, peer, { options: resolved, registry, metrics, fileSystem });
      connections.add(connection);
      metrics.connectionsOpen += 1;
      metrics.connectionsTotal += 1;
      logger.debug(`connection from ${peer}`);
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
  http.on('error', (error) => logger.error(`http server error: ${error.message}`));

  const address = http.address() as AddressInfo;
  const url = formatWsUrl(address.address, address.port);
  logger.info(`listening on ${url}`);

  async function shutdown(): Promise<void> {
    // The listener stays open while draining: `/readyz` answers 503 and upgrades are refused with
    // 503, so a load balancer learns the server is going rather than finding it gone.
    for (const connection of connections) connection.shutdown();
    await Promise.all([...connections].map((c) => c.closed));
    await registry.closeAll();
    const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
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

/**
 * The flow control the server applies on a client's behalf must itself be a window the runtime
 * accepts: with a runtime whose `maxFlowWindowBytes` is below it, it shrinks to that.
 */
function withinFlowWindow(
  options: ResolvedServerOptions,
  maxWindow: number | undefined,
): ResolvedServerOptions {
  const flow = options.serverFlowControl;
  if (flow === null || maxWindow === undefined || flow.highWaterBytes <= maxWindow) return options;
  const serverFlowControl = {
    highWaterBytes: maxWindow,
    lowWaterBytes: Math.min(flow.lowWaterBytes, Math.floor(maxWindow / 4)),
  };
  return { ...options, serverFlowControl };
}

/** The peer as the reference labels it: `ip:port`, IPv6 in brackets. */
function peerOf(request: IncomingMessage): string {
  const { remoteAddress = 'unknown', remotePort = 0 } = request.socket;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
