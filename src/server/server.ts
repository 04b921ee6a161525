/**
 * The exec server. Over WebSocket: an HTTP server that upgrades any path to a WebSocket (one
 * Connection each) and answers `GET /livez`, `GET /readyz` (see `health.ts`) and `GET /metrics`. Over stdio: exactly one Connection
 * on stdin/stdout, and the server is done when stdin ends.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { DecisionCounters } from '../network/decisions.js';
import { httpPolicyDecision } from '../network/http-policy.js';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { Connection } from './connection.js';
import { admitUpgrade, bearerMatches, refuseUpgrade } from './http-auth.js';
import { ServerHealth } from './health.js';
import { formatWsUrl, isStdioListen, type WsListenAddress } from './listen-url.js';
import { METRICS_CONTENT_TYPE, ServerMetrics } from './metrics.js';
import { fileSystemOf, identifyFileOf, type RuntimeStats, type ServerRuntime } from './runtime-port.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './server-options.js';
import { SessionRegistry } from './session-registry.js';
import { StdioTransport } from './transport/stdio-transport.js';
import { WsTransport } from './transport/ws-transport.js';

export interface ExecServer {
  /** `ws://<ip>:<port>` with the bound port, or `stdio`. */
  readonly url: string;
  /** The bound address (empty and 0 over stdio). */
  readonly host: string;
  readonly port: number;
  /** Settles when the server has ended on its own: over stdio, once stdin reached EOF. */
  readonly done: Promise<void>;
  /**
   * Begins draining: from now on `GET /readyz` answers 503 `draining` and `process/start` is
   * refused with `EXEC_ERR_DRAINING` (a client pool starts the process on another server), while
   * everything already started runs on and connections stay open. Resolves once every process
   * started through this server has closed, or once `timeoutMs` has passed and the rest were
   * terminated (SIGTERM, then SIGKILL after `graceMs`, default 2 000 ms) and have closed; with how
   * many were terminated. `close()` comes after it.
   */
  drain(timeoutMs: number, options?: { readonly graceMs?: number }): Promise<{ terminated: number }>;
  /**
   * Stops accepting, closes every connection and session (their processes are terminated) and,
   * if the server created its runtime, closes that too.
   */
  close(): Promise<void>;
}

/** SIGTERM to SIGKILL for what is still running when a drain period ends. */
const DRAIN_TERMINATE_GRACE_MS = 2_000;
/** How long terminated processes get to report their close before the shutdown goes on. */
const DRAIN_CLOSE_WAIT_MS = 3_000;
/** How long a shutdown waits for the answers to requests in hand before it closes connections. */
const SHUTDOWN_ANSWER_WAIT_MS = 1_000;
/** setTimeout fires at once past this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Shared {
  readonly resolved: ResolvedServerOptions;
  readonly runtime: ServerRuntime;
  readonly ownsRuntime: boolean;
  readonly metrics: ServerMetrics;
  readonly registry: SessionRegistry;
  readonly health: ServerHealth;
  /** This server's listen ports: never a destination of `http/request` under a policy. */
  readonly ownPorts: Set<number>;
}

export async function startServer(options: ServerOptions = {}): Promise<ExecServer> {
  const given = resolveServerOptions(options);
  const { logger } = given;
  const ownsRuntime = given.runtime === undefined;
  const runtime: ServerRuntime = given.runtime ?? (await ExecRuntime.create({ logger }));
  // http/request under a policy: decided by the proxy's engine, never reaching this server itself.
  const httpDecisions = new DecisionCounters();
  const ownPorts = new Set<number>();
  const policy = given.httpNetworkPolicy;
  const resolved = withinFlowWindow(
    policy === null
      ? given
      : {
          ...given,
          httpNetworkDecision: httpPolicyDecision(policy, {
            protectedPorts: ownPorts,
            counters: httpDecisions,
          }),
        },
    runtime.options?.maxFlowWindowBytes,
  );
  const health = new ServerHealth(runtime, {
    maxProcessesPerConnection: resolved.maxProcessesPerConnection,
    requireSandbox: resolved.requireSandbox,
    logger,
  });
  const metrics = new ServerMetrics(() => withHttpDecisions(runtime.stats(), httpDecisions), health);
  const registry = new SessionRegistry(runtime, resolved.detachTtlMs, logger, metrics);
  const shared: Shared = { resolved, runtime, ownsRuntime, metrics, registry, health, ownPorts };
  const server = isStdioListen(resolved.listen)
    ? startStdio(shared)
    : await startWebSocket(shared, resolved.listen);
  // Not awaited: the server listens (and answers `/readyz` with 503) while the sandbox is checked.
  void health.checkSandbox();
  return server;
}

/** `ExecServer.drain` over the server's health: refuse starts, wait, then terminate the rest. */
async function drainProcesses(
  shared: Shared,
  timeoutMs: number,
  graceMs = DRAIN_TERMINATE_GRACE_MS,
): Promise<{ terminated: number }> {
  const { health, resolved } = shared;
  health.beginDrain();
  resolved.logger.info({ drainMs: timeoutMs, processes: health.tracked }, 'draining');
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), Math.min(timeoutMs, MAX_TIMER_MS));
  });
  const outcome = await Promise.race([health.idle().then(() => 'idle' as const), expired]);
  clearTimeout(timer);
  if (outcome === 'idle') {
    resolved.logger.info({}, 'drained: every process has ended');
    return { terminated: 0 };
  }
  const terminated = health.tracked;
  resolved.logger.warn(
    { drainMs: timeoutMs, processes: terminated },
    'drain period over; terminating the remaining processes',
  );
  // Bounded: a process whose output a stray grandchild holds open might never close; the shutdown
  // that follows kills what is left (with its own `--shutdown-timeout-ms`).
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([
    health.terminateAll(graceMs),
    new Promise<void>((resolve) => {
      bound = setTimeout(resolve, Math.min(graceMs + DRAIN_CLOSE_WAIT_MS, MAX_TIMER_MS));
    }),
  ]);
  clearTimeout(bound);
  return { terminated };
}

function startStdio(shared: Shared): ExecServer {
  const { resolved, runtime, ownsRuntime, metrics, registry, health } = shared;
  const input = (resolved.stdio?.input ?? process.stdin) as Readable;
  const output = (resolved.stdio?.output ?? process.stdout) as Writable;
  const transport = new StdioTransport(input, output, resolved.maxMessageBytes, resolved.logger);
  const connection = new Connection(transport, {
    options: resolved,
    registry,
    metrics,
    fileSystem: fileSystemOf(runtime),
    identifyFile: identifyFileOf(runtime),
    health,
    // The peer is our parent: it started us to speak, and a wait for it gains nothing.
    handshakeTimeoutMs: null,
  });
  metrics.connectionsOpen += 1;
  metrics.connectionsTotal += 1;
  resolved.logger.info({}, 'serving one connection on stdio');
  let closing: Promise<void> | null = null;
  const shutdown = async () => {
    await connection.answered(SHUTDOWN_ANSWER_WAIT_MS);
    connection.shutdown();
    await connection.closed;
    await registry.closeAll();
    if (ownsRuntime) await runtime.close();
  };
  return {
    url: 'stdio',
    host: '',
    port: 0,
    done: connection.closed,
    drain: (timeoutMs, options) => drainProcesses(shared, timeoutMs, options?.graceMs),
    close: () => (closing ??= shutdown()),
  };
}

async function startWebSocket(shared: Shared, listen: WsListenAddress): Promise<ExecServer> {
  const { resolved, runtime, ownsRuntime, metrics, registry, health, ownPorts } = shared;
  const { logger } = resolved;
  const fileSystem = fileSystemOf(runtime);
  const connections = new Set<Connection>();
  /** Sockets that have neither upgraded nor made a plain HTTP request yet, with their deadline. */
  const handshaking = new Map<Socket, NodeJS.Timeout>();
  let closing: Promise<void> | null = null;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: resolved.maxMessageBytes,
    perMessageDeflate: false,
  });

  const http = createServer((request, response) => {
    settleHandshake(request.socket);
    serveHttp(request, response);
  });

  // A client that opens a socket and never completes its request (an upgrade that never comes)
  // must not hold it forever: it gets `handshakeTimeoutMs`, then the socket is dropped.
  http.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => {
      handshaking.delete(socket);
      logger.warn(
        { peer: peerOfSocket(socket), handshakeTimeoutMs: resolved.handshakeTimeoutMs },
        'dropping a connection: no complete HTTP request in time',
      );
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroySoon();
      setTimeout(() => socket.destroy(), 1_000).unref();
    }, resolved.handshakeTimeoutMs);
    timer.unref();
    handshaking.set(socket, timer);
    socket.once('close', () => settleHandshake(socket));
  });

  function settleHandshake(socket: Socket): void {
    const timer = handshaking.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    handshaking.delete(socket);
  }

  function serveHttp(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, 'method not allowed\n');
    // Liveness: answered while the event loop runs, draining and shutting down included (a
    // liveness probe must not kill a server for draining; `/readyz` says whether to send work).
    if (path === '/livez') return reply(200, 'ok');
    if (path === '/readyz') {
      const { ready, reason } = health.readiness(closing !== null);
      return reply(ready ? 200 : 503, reason);
    }
    if (path === '/metrics') {
      if (resolved.token !== null && !bearerMatches(request.headers.authorization, resolved.token)) {
        return reply(401, 'missing or wrong bearer token\n');
      }
      return void metrics.render().then((text) => reply(200, text, METRICS_CONTENT_TYPE));
    }
    return reply(404, 'not found\n');
  }

  http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    settleHandshake(socket);
    const refusal =
      closing !== null
        ? { status: 503 as const, reason: 'shutting down' }
        : connections.size >= resolved.maxConnections
          ? { status: 503 as const, reason: `too many connections (limit ${resolved.maxConnections})` }
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
      const connection = new Connection(new WsTransport(ws, peer, logger), {
        options: resolved,
        registry,
        metrics,
        fileSystem,
        identifyFile: identifyFileOf(runtime),
        health,
        handshakeTimeoutMs: resolved.handshakeTimeoutMs,
      });
      connections.add(connection);
      metrics.connectionsOpen += 1;
      metrics.connectionsTotal += 1;
      logger.debug({ peer }, 'connection opened');
      void connection.closed.then(() => connections.delete(connection));
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(listen.port, listen.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.on('error', (error) => logger.error({ err: error }, 'http server error'));

  const address = http.address() as AddressInfo;
  const url = formatWsUrl(address.address, address.port);
  logger.info({ url }, 'listening');
  // Managed network: no process (and no http/request) may drive this server through the proxy.
  ownPorts.add(address.port);
  const unprotect = runtime.protectNetworkPort?.(address.port);

  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  async function shutdown(): Promise<void> {
    // The listener stays open while shutting down: `/readyz` answers 503 and upgrades are refused
    // with 503, so a load balancer learns the server is going rather than finding it gone. (During
    // a drain, before this, upgrades are still accepted: a client may resume its session to watch
    // its processes end.)
    await Promise.all([...connections].map((c) => c.answered(SHUTDOWN_ANSWER_WAIT_MS)));
    for (const connection of connections) connection.shutdown();
    await Promise.all([...connections].map((c) => c.closed));
    await registry.closeAll();
    for (const timer of handshaking.values()) clearTimeout(timer);
    for (const socket of handshaking.keys()) socket.destroy();
    handshaking.clear();
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
    wss.close();
    http.closeAllConnections();
    await httpClosed;
    unprotect?.();
    if (ownsRuntime) await runtime.close();
    stopped();
  }

  return {
    url,
    host: address.address,
    port: address.port,
    done,
    drain: (timeoutMs, options) => drainProcesses(shared, timeoutMs, options?.graceMs),
    close: () => (closing ??= shutdown()),
  };
}

/** The runtime's stats with the `http/request` decisions added to the proxy's. */
function withHttpDecisions(stats: RuntimeStats, http: DecisionCounters): RuntimeStats {
  const extra = http.snapshot();
  if (extra.length === 0) return stats;
  const merged = new Map<string, { decision: 'allow' | 'deny'; reason: string; count: number }>();
  for (const entry of [...(stats.networkDecisions ?? []), ...extra]) {
    const key = `${entry.decision} ${entry.reason}`;
    const known = merged.get(key);
    if (known === undefined) merged.set(key, { ...entry });
    else known.count += entry.count;
  }
  return { ...stats, networkDecisions: [...merged.values()] };
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
  return peerOfSocket(request.socket);
}

function peerOfSocket(socket: Socket): string {
  const { remoteAddress = 'unknown', remotePort = 0 } = socket;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
