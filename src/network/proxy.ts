/**
 * The managed-network proxy: one per runtime, serving every process that has a `networkProxy`.
 *
 * Each process registers a lease (its compiled policy, where its decisions go) and every connection
 * is attributed to exactly one lease before a byte of it is interpreted:
 *
 * - the runtime's Unix socket (`socketPath`, in a fresh 0700 directory) is the door for bridges:
 *   the bridge inside a sandbox's network namespace sends the preamble line naming the lease's
 *   token (see preamble.ts), then the client's bytes; an unknown token is dropped;
 * - a lease's loopback port (`listenLoopback()`) is the door for a process without a sandbox, which
 *   reaches the host's loopback directly: the port itself names the lease.
 *
 * Behind either door the first byte selects the protocol: 0x05 is SOCKS5 (when the lease enabled
 * it), anything else HTTP/1.1 (absolute-form requests, CONNECT, upgrades), parsed by Node's HTTP
 * parser (strict, header size bounded). Every request is decided by the lease's policy
 * (policy.ts) and every decision is reported (the lease's `onDecision`, `decisions$`, the counters).
 *
 * Bounds: connections in total and per lease; the preamble, SOCKS handshake and each request's
 * headers must arrive within `headersTimeoutMs` (an absolute deadline, so a client trickling bytes
 * cannot hold a slot); tunnels and keep-alive connections die after `idleTimeoutMs` without
 * traffic; upstream connects give up after `connectTimeoutMs`. Bodies and tunnels are streamed with
 * pipe(), so a slow reader on either side stops the other (no unbounded buffering).
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Observable, Subject } from 'rxjs';
import type { NetworkProxyRuntimeOptions } from '../core/network-options.js';
import { integer } from '../core/options.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { NetworkPolicyDecision } from '../core/types.js';
import { InvalidArgumentError } from '../errors.js';
import type { NetworkProxyLaunchConfig } from './config.js';
import { DecisionCounters, DenialLog, decisionRecord, type NetworkDecisionMetrics } from './decisions.js';
import { endToEndHeaders, parseAuthority, parseHttpTarget } from './http-target.js';
import {
  decideNetworkRequest,
  DENIAL_TEXTS,
  type NetworkRequest,
  type PolicyOutcome,
  type Resolution,
  type Resolver,
} from './policy.js';
import { parsePreamble } from './preamble.js';
import {
  COMMAND_CONNECT,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  parseGreeting,
  parseRequest,
  SOCKS_VERSION,
  SocksReply,
  socksReply,
} from './socks5.js';
import { connectUpstream, UpstreamError } from './upstream.js';

export interface NetworkProxyOptions extends NetworkProxyRuntimeOptions {
  /** Clock for decision timestamps. Default `Date.now`. */
  readonly now?: () => number;
  readonly logger?: Logger;
  /**
   * Where decisions are counted (`metrics`): a runtime passes its own, so the counts outlive one
   * proxy (it starts on demand). Default: a fresh one.
   */
  readonly counters?: DecisionCounters;
}

export const NETWORK_PROXY_DEFAULTS = Object.freeze({
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  maxHeaderBytes: 32 * 1024,
  maxConnections: 4096,
  maxConnectionsPerProcess: 512,
  deniedPerProcess: 64,
});

interface ResolvedProxyOptions {
  readonly socketDir: string | null;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerProcess: number;
  readonly deniedPerProcess: number;
  readonly resolve: Resolver | null;
  readonly now: () => number;
  readonly logger: Logger;
  readonly counters: DecisionCounters;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks proxy options (coded errors naming the field) without starting anything. */
export function checkNetworkProxyOptions(options: NetworkProxyOptions): void {
  resolveProxyOptions(options);
}

function resolveProxyOptions(options: NetworkProxyOptions): ResolvedProxyOptions {
  const d = NETWORK_PROXY_DEFAULTS;
  if (options.socketDir != null && typeof options.socketDir !== 'string') {
    throw new InvalidArgumentError('socketDir must be a path');
  }
  return Object.freeze({
    socketDir: options.socketDir ?? null,
    connectTimeoutMs: integer(
      'connectTimeoutMs',
      options.connectTimeoutMs,
      d.connectTimeoutMs,
      1,
      MAX_TIMER_MS,
    ),
    headersTimeoutMs: integer(
      'headersTimeoutMs',
      options.headersTimeoutMs,
      d.headersTimeoutMs,
      1,
      MAX_TIMER_MS,
    ),
    idleTimeoutMs: integer('idleTimeoutMs', options.idleTimeoutMs, d.idleTimeoutMs, 1, MAX_TIMER_MS),
    maxHeaderBytes: integer('maxHeaderBytes', options.maxHeaderBytes, d.maxHeaderBytes, 1024, 1 << 20),
    maxConnections: integer('maxConnections', options.maxConnections, d.maxConnections, 1, 1 << 20),
    maxConnectionsPerProcess: integer(
      'maxConnectionsPerProcess',
      options.maxConnectionsPerProcess,
      d.maxConnectionsPerProcess,
      1,
      1 << 20,
    ),
    deniedPerProcess: integer('deniedPerProcess', options.deniedPerProcess, d.deniedPerProcess, 0, 1 << 16),
    resolve: options.resolve ?? null,
    now: options.now ?? Date.now,
    logger: options.logger ?? silentLogger,
    counters: options.counters ?? new DecisionCounters(),
  });
}

/** `dns.lookup` (the system resolver, `/etc/hosts` included), all addresses, bounded in time. */
export function systemResolver(timeoutMs: number): Resolver {
  return async (name: string): Promise<Resolution> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Resolution>((resolve) => {
      timer = setTimeout(() => resolve({ error: `lookup of ${name} timed out` }), timeoutMs);
    });
    try {
      return await Promise.race([
        lookup(name, { all: true, verbatim: true }).then(
          (found): Resolution => ({ addresses: found.map((entry) => entry.address) }),
          (error: Error): Resolution => ({ error: error.message }),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
}

export interface ProxyRegistration {
  /** The process the lease's connections are attributed to (reported as `processId`). */
  readonly processId: string;
  readonly config: NetworkProxyLaunchConfig;
  /** Every decision for this process, in order. Called synchronously; must not throw. */
  readonly onDecision?: (decision: NetworkPolicyDecision) => void;
}

/** One process's registration with the proxy. */
export interface ProxyLease {
  readonly processId: string;
  /** The secret a bridge names in its preamble (32 hex digits). Never put it in the child's env. */
  readonly token: string;
  readonly config: NetworkProxyLaunchConfig;
  /**
   * A loopback TCP port attributed to this process, for a process that reaches the host's
   * loopback itself (no sandbox bridge). Opened on the first call; the same port afterwards.
   */
  listenLoopback(): Promise<number>;
  /** The most recent denials (bounded by `deniedPerProcess`). */
  denials(): readonly NetworkPolicyDecision[];
  /** How many denials in total. */
  readonly deniedTotal: number;
  /** Connections of this process open now. */
  readonly openConnections: number;
  /** Revokes the lease: closes its port and every connection it has. Idempotent. */
  close(): Promise<void>;
}

export interface ProxyStats {
  readonly connectionsOpen: number;
  readonly connectionsTotal: number;
  /** Refused at accept: a limit was reached, or the lease is gone. */
  readonly connectionsRejected: number;
  /** Closed because the preamble, handshake or headers did not arrive in time. */
  readonly handshakeTimeouts: number;
  /** Bridge connections dropped for a malformed preamble or an unknown token. */
  readonly badPreambles: number;
  readonly upstreamFailures: number;
  /** Bytes held in the proxy's stream buffers now, both directions, all connections. */
  readonly bufferedBytes: number;
  /** Sockets the proxy stopped reading because the other side is slower (backpressure). */
  readonly pausedReads: number;
}

type Door = 'bridge' | 'loopback';

/** Per client connection. */
interface Connection {
  readonly door: Door;
  lease: Lease | null;
  client: string | null;
  timer: NodeJS.Timeout | null;
  /** HTTP requests being answered on it. */
  inFlight: number;
  /** Handed to a tunnel (CONNECT, SOCKS, upgrade): no HTTP timers any more. */
  spliced: boolean;
}

const SELF = Symbol('execvisor.networkProxy.connection');
type TrackedSocket = Socket & { [SELF]?: Connection };

class Lease implements ProxyLease {
  readonly processId: string;
  readonly token: string;
  readonly config: NetworkProxyLaunchConfig;
  readonly onDecision: ((decision: NetworkPolicyDecision) => void) | undefined;
  readonly denialLog: DenialLog;
  /** Client and upstream sockets of this lease. */
  readonly sockets = new Set<Socket>();
  clients = 0;
  closed = false;
  #loopback: Promise<{ server: Server; port: number }> | null = null;
  readonly #owner: NetworkProxy;

  constructor(owner: NetworkProxy, registration: ProxyRegistration, token: string, deniedLimit: number) {
    this.#owner = owner;
    this.processId = registration.processId;
    this.config = registration.config;
    this.onDecision = registration.onDecision;
    this.token = token;
    this.denialLog = new DenialLog(deniedLimit);
  }

  get deniedTotal(): number {
    return this.denialLog.total;
  }
  get openConnections(): number {
    return this.clients;
  }
  denials(): readonly NetworkPolicyDecision[] {
    return this.denialLog.entries();
  }

  listenLoopback(): Promise<number> {
    if (this.closed) return Promise.reject(new Error(`the proxy lease of ${this.processId} is closed`));
    this.#loopback ??= this.#owner.openLoopbackDoor(this);
    return this.#loopback.then(({ port }) => port);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const loopback = await this.#loopback?.catch(() => null);
    if (loopback) await this.#owner.closeLoopbackDoor(loopback.server, loopback.port);
    this.#owner.forget(this);
  }
}

function rawResponse(status: number, reason: string, headers: Record<string, string>, body: string): string {
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  for (const [name, value] of Object.entries({
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
  })) {
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

export class NetworkProxy {
  readonly socketPath: string;
  readonly #options: ResolvedProxyOptions;
  readonly #resolve: Resolver;
  readonly #ownedDir: string | null;
  readonly #bridgeDoor: Server;
  readonly #http: ReturnType<typeof createHttpServer>;
  readonly #leases = new Map<string, Lease>();
  readonly #sockets = new Set<Socket>();
  readonly #protectedPorts = new Map<number, number>();
  readonly #protectedView: ReadonlySet<number>;
  readonly #counters: DecisionCounters;
  readonly #decisions = new Subject<NetworkPolicyDecision>();
  #clients = 0;
  #closed = false;
  #stats = {
    connectionsTotal: 0,
    connectionsRejected: 0,
    handshakeTimeouts: 0,
    badPreambles: 0,
    upstreamFailures: 0,
  };

  private constructor(options: ResolvedProxyOptions, socketPath: string, ownedDir: string | null) {
    this.#options = options;
    this.#resolve = options.resolve ?? systemResolver(options.connectTimeoutMs);
    this.#counters = options.counters;
    this.socketPath = socketPath;
    this.#ownedDir = ownedDir;
    const ports = this.#protectedPorts;
    this.#protectedView = {
      has: (port: number) => ports.has(port),
      get size() {
        return ports.size;
      },
    } as ReadonlySet<number>;
    this.#bridgeDoor = createNetServer({ allowHalfOpen: true }, (socket) =>
      this.#accept(socket, 'bridge', null),
    );
    this.#http = createHttpServer({ maxHeaderSize: options.maxHeaderBytes, noDelay: true });
    // The parser never listens: connections are handed to it once their protocol is known.
    this.#http.timeout = options.idleTimeoutMs;
    this.#http.keepAliveTimeout = options.headersTimeoutMs;
    this.#http.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res, false));
    this.#http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) =>
      this.#onRequest(req, res, true),
    );
    this.#http.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onConnect(req, socket, head),
    );
    this.#http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.#onClientError(error, socket),
    );
  }

  /** Starts the proxy: binds the bridge socket. */
  static async start(options: NetworkProxyOptions = {}): Promise<NetworkProxy> {
    const resolved = resolveProxyOptions(options);
    const ownedDir = resolved.socketDir === null ? mkdtempSync(join(tmpdir(), 'execvisor-net-')) : null;
    const socketPath = join(resolved.socketDir ?? ownedDir!, 'proxy.sock');
    const proxy = new NetworkProxy(resolved, socketPath, ownedDir);
    try {
      await new Promise<void>((resolve, reject) => {
        proxy.#bridgeDoor.once('error', reject);
        proxy.#bridgeDoor.listen(socketPath, () => {
          proxy.#bridgeDoor.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      if (ownedDir !== null) rmSync(ownedDir, { recursive: true, force: true });
      throw error;
    }
    return proxy;
  }

  /** Every decision of every process, as reported. */
  get decisions$(): Observable<NetworkPolicyDecision> {
    return this.#decisions.asObservable();
  }

  /** Decision counts by decision and reason, for the metrics endpoint. */
  get metrics(): NetworkDecisionMetrics {
    return this.#counters;
  }

  stats(): ProxyStats {
    let bufferedBytes = 0;
    let pausedReads = 0;
    for (const socket of this.#sockets) {
      bufferedBytes += socket.writableLength + socket.readableLength;
      if (socket.isPaused() && !socket.destroyed) pausedReads++;
    }
    return { connectionsOpen: this.#clients, ...this.#stats, bufferedBytes, pausedReads };
  }

  /** Registers a process. Its lease must be closed when the process is gone. */
  register(registration: ProxyRegistration): ProxyLease {
    if (this.#closed) throw new Error('the network proxy is closed');
    let token = randomBytes(16).toString('hex');
    while (this.#leases.has(token)) token = randomBytes(16).toString('hex');
    const lease = new Lease(this, registration, token, this.#options.deniedPerProcess);
    this.#leases.set(token, lease);
    return lease;
  }

  /**
   * Never a destination on this host: connections to `port` on a loopback or unspecified address
   * are denied (the server's own listen port, so a process cannot drive the server that started it).
   * Returns the function that lifts it.
   */
  protectPort(port: number): () => void {
    this.#protectedPorts.set(port, (this.#protectedPorts.get(port) ?? 0) + 1);
    let lifted = false;
    return () => {
      if (lifted) return;
      lifted = true;
      const count = (this.#protectedPorts.get(port) ?? 1) - 1;
      if (count <= 0) this.#protectedPorts.delete(port);
      else this.#protectedPorts.set(port, count);
    };
  }

  /** Closes every door and connection, and removes the socket directory it made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#leases.values()].map((lease) => lease.close()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#bridgeDoor.close(() => resolve()));
    this.#decisions.complete();
    if (this.#ownedDir !== null) rmSync(this.#ownedDir, { recursive: true, force: true });
  }

  // ---- Lease plumbing (called by Lease) ------------------------------------------------------

  /** @internal */
  async openLoopbackDoor(lease: Lease): Promise<{ server: Server; port: number }> {
    const server = createNetServer({ allowHalfOpen: true }, (socket) =>
      this.#accept(socket, 'loopback', lease),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as { port: number }).port;
    this.protectPort(port);
    if (lease.closed) {
      await this.closeLoopbackDoor(server, port);
      throw new Error(`the proxy lease of ${lease.processId} is closed`);
    }
    return { server, port };
  }

  /** @internal */
  async closeLoopbackDoor(server: Server, port: number): Promise<void> {
    const count = (this.#protectedPorts.get(port) ?? 1) - 1;
    if (count <= 0) this.#protectedPorts.delete(port);
    else this.#protectedPorts.set(port, count);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** @internal */
  forget(lease: Lease): void {
    if (this.#leases.get(lease.token) === lease) this.#leases.delete(lease.token);
  }

  // ---- Connections ---------------------------------------------------------------------------

  #track(socket: Socket, lease: Lease | null): void {
    this.#sockets.add(socket);
    lease?.sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      lease?.sockets.delete(socket);
    });
  }

  #armDeadline(socket: TrackedSocket, connection: Connection): void {
    this.#clearDeadline(connection);
    connection.timer = setTimeout(() => {
      this.#stats.handshakeTimeouts++;
      socket.destroy();
    }, this.#options.headersTimeoutMs);
  }

  #clearDeadline(connection: Connection): void {
    if (connection.timer !== null) clearTimeout(connection.timer);
    connection.timer = null;
  }

  #attach(socket: TrackedSocket, connection: Connection, lease: Lease): boolean {
    if (lease.closed || lease.clients >= this.#options.maxConnectionsPerProcess) return false;
    connection.lease = lease;
    lease.clients++;
    lease.sockets.add(socket);
    socket.once('close', () => {
      lease.clients--;
      lease.sockets.delete(socket);
    });
    return true;
  }

  #accept(raw: Socket, door: Door, lease: Lease | null): void {
    const socket = raw as TrackedSocket;
    socket.on('error', () => undefined);
    if (this.#closed || this.#clients >= this.#options.maxConnections) {
      this.#stats.connectionsRejected++;
      socket.destroy();
      return;
    }
    this.#stats.connectionsTotal++;
    this.#clients++;
    const connection: Connection = {
      door,
      lease: null,
      client: null,
      timer: null,
      inFlight: 0,
      spliced: false,
    };
    socket[SELF] = connection;
    this.#track(socket, null);
    socket.once('close', () => {
      this.#clients--;
      this.#clearDeadline(connection);
    });
    if (lease !== null) {
      if (!this.#attach(socket, connection, lease)) {
        this.#stats.connectionsRejected++;
        socket.destroy();
        return;
      }
      if (socket.remoteAddress !== undefined) {
        const address = socket.remoteAddress.includes(':')
          ? `[${socket.remoteAddress}]`
          : socket.remoteAddress;
        connection.client = `${address}:${socket.remotePort}`;
      }
    }
    socket.setNoDelay(true);
    this.#armDeadline(socket, connection);

    let pending: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (connection.lease === null) {
        const preamble = parsePreamble(pending);
        if (preamble.status === 'incomplete') return;
        const found = preamble.status === 'ok' ? this.#leases.get(preamble.token) : undefined;
        if (preamble.status !== 'ok' || found === undefined) {
          this.#stats.badPreambles++;
          this.#options.logger.warn(
            {
              problem: preamble.status === 'ok' ? 'unknown token' : preamble.problem,
            },
            'network proxy: bridge connection dropped',
          );
          socket.destroy();
          return;
        }
        if (!this.#attach(socket, connection, found)) {
          this.#stats.connectionsRejected++;
          socket.destroy();
          return;
        }
        connection.client = preamble.client;
        pending = pending.subarray(preamble.consumed);
        if (pending.length === 0) return;
      }
      socket.off('data', onData);
      const first = pending[0];
      if (first === SOCKS_VERSION) {
        socket.pause();
        this.#serveSocks(socket, connection, pending);
      } else if (first === 0x04) {
        socket.destroy(); // SOCKS4: not served
      } else {
        // Handed over in this same turn, with no pause: Node's HTTP parser adds its own 'data'
        // listener, which takes the unshifted bytes first (it then reads the handle directly).
        socket.unshift(pending);
        this.#http.emit('connection', socket);
      }
    };
    socket.on('data', onData);
  }

  /** Decides a request for a connection's lease and reports every step. */
  async #decide(connection: Connection, request: NetworkRequest): Promise<PolicyOutcome> {
    const lease = connection.lease!;
    const outcome = await decideNetworkRequest(
      request,
      lease.config.policy,
      { protectedPorts: this.#protectedView },
      this.#resolve,
    );
    const nowMs = this.#options.now();
    for (const step of outcome.steps) {
      const record = decisionRecord(step, {
        processId: lease.processId,
        protocol: request.protocol,
        host: outcome.host,
        port: request.port,
        method: request.method,
        client: connection.client,
        nowMs,
      });
      this.#counters.record(record.decision, record.reason);
      lease.denialLog.add(record);
      try {
        lease.onDecision?.(record);
      } catch (error) {
        this.#options.logger.error({ err: error }, 'network proxy: a decision listener threw');
      }
      this.#decisions.next(record);
    }
    if (!outcome.allowed) {
      this.#options.logger.info(
        {
          processId: lease.processId,
          protocol: request.protocol,
          host: outcome.host,
          port: request.port,
          reason: outcome.denial?.reason,
        },
        'network request denied',
      );
    }
    return outcome;
  }

  #connect(connection: Connection, outcome: PolicyOutcome, port: number, client: Socket): Promise<Socket> {
    const lease = connection.lease!;
    return connectUpstream(
      outcome.addresses,
      port,
      this.#options.connectTimeoutMs,
      (socket) => {
        socket.on('error', () => undefined);
        this.#track(socket, lease);
        if (lease.closed || this.#closed) socket.destroy();
      },
      () => client.destroyed || lease.closed,
    ).catch((error: unknown) => {
      this.#stats.upstreamFailures++;
      throw error;
    });
  }

  /**
   * Joins a client and an upstream socket. A half-close travels (pipe ends the other side once
   * this one's input ended, after flushing); an error, an idle timeout, or a close before the
   * input ended tears both down.
   */
  #splice(client: Socket, upstream: Socket): void {
    const abort = () => {
      client.destroy();
      upstream.destroy();
    };
    const pairs: [Socket, Socket][] = [
      [client, upstream],
      [upstream, client],
    ];
    for (const [socket, other] of pairs) {
      socket.setTimeout(this.#options.idleTimeoutMs, abort);
      socket.on('error', abort);
      socket.once('close', (hadError: boolean) => {
        // A clean close after the input ended leaves the other side to finish what it is sending.
        if (hadError || !socket.readableEnded) other.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  // ---- SOCKS5 --------------------------------------------------------------------------------

  #serveSocks(socket: TrackedSocket, connection: Connection, initial: Buffer): void {
    const lease = connection.lease!;
    connection.spliced = true;
    if (!lease.config.proxy.enableSocks5) {
      this.#finish(socket, Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]));
      return;
    }
    let pending = initial;
    let stage: 'greeting' | 'request' = 'greeting';
    const fail = (code: number | null) => {
      socket.off('data', onData);
      if (code === null) socket.destroy();
      else this.#finish(socket, socksReply(code));
    };
    const step = () => {
      if (stage === 'greeting') {
        const greeting = parseGreeting(pending);
        if (greeting.status === 'incomplete') return;
        if (greeting.status === 'invalid') return fail(null);
        if (!greeting.value.noAuthOffered) {
          socket.off('data', onData);
          this.#finish(socket, Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]));
          return;
        }
        socket.write(Buffer.from([SOCKS_VERSION, METHOD_NO_AUTH]));
        pending = pending.subarray(greeting.consumed);
        stage = 'request';
      }
      const parsed = parseRequest(pending);
      if (parsed.status === 'incomplete') return;
      if (parsed.status === 'invalid') return fail(parsed.reply);
      if (parsed.value.command !== COMMAND_CONNECT) return fail(SocksReply.COMMAND_NOT_SUPPORTED);
      socket.off('data', onData);
      socket.pause();
      this.#clearDeadline(connection);
      const rest = pending.subarray(parsed.consumed);
      this.#socksConnect(socket, connection, parsed.value.host, parsed.value.port, rest).catch(
        (error: unknown) => {
          this.#options.logger.error({ err: error }, 'network proxy: SOCKS5 session failed');
          socket.destroy();
        },
      );
    };
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // A greeting and a request fit in 600 bytes; more before the reply is not a SOCKS client.
      if (pending.length > 1024) return fail(null);
      step();
    };
    socket.on('data', onData);
    socket.resume();
    step();
  }

  async #socksConnect(socket: Socket, connection: Connection, host: string, port: number, rest: Buffer) {
    const outcome = await this.#decide(connection, { host, port, protocol: 'socks5_tcp', method: null });
    if (socket.destroyed) return;
    if (!outcome.allowed) {
      this.#finish(socket, socksReply(SocksReply.NOT_ALLOWED));
      return;
    }
    let upstream: Socket;
    try {
      upstream = await this.#connect(connection, outcome, port, socket);
    } catch (error) {
      const failure = error instanceof UpstreamError ? error.failure : 'failed';
      const code =
        failure === 'refused'
          ? SocksReply.CONNECTION_REFUSED
          : failure === 'unreachable' || failure === 'timeout'
            ? SocksReply.HOST_UNREACHABLE
            : SocksReply.GENERAL_FAILURE;
      if (!socket.destroyed) this.#finish(socket, socksReply(code));
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    socket.write(
      socksReply(SocksReply.SUCCEEDED, {
        address: upstream.localAddress ?? '0.0.0.0',
        port: upstream.localPort ?? 0,
      }),
    );
    if (rest.length > 0) upstream.write(rest);
    this.#splice(socket, upstream);
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  #connectionOf(socket: Socket): Connection | undefined {
    const connection = (socket as TrackedSocket)[SELF];
    return connection?.lease != null ? connection : undefined;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const socket = req.socket;
    const connection = this.#connectionOf(socket);
    if (connection === undefined) {
      socket.destroy();
      return;
    }
    this.#clearDeadline(connection);
    res.on('error', () => undefined);
    connection.inFlight++;
    res.once('close', () => {
      connection.inFlight--;
      // The next request's headers are due within the deadline too (no slowloris on keep-alive).
      if (connection.inFlight === 0 && !connection.spliced && !socket.destroyed) {
        this.#armDeadline(socket, connection);
      }
    });
    this.#forward(req, res, connection, expectsContinue).catch((error: unknown) => {
      this.#options.logger.error({ err: error }, 'network proxy: request failed');
      res.destroy();
    });
  }

  async #forward(
    req: IncomingMessage,
    res: ServerResponse,
    connection: Connection,
    expectsContinue: boolean,
  ) {
    const parsed = parseHttpTarget(req.url ?? '', req.headers.host);
    if (!parsed.ok) {
      sendPlain(res, parsed.status, parsed.message);
      return;
    }
    const { target } = parsed;
    const method = req.method ?? 'GET';
    const outcome = await this.#decide(connection, {
      host: target.host,
      port: target.port,
      protocol: 'http',
      method,
    });
    if (res.destroyed) return;
    if (!outcome.allowed) {
      const denial = outcome.denial!;
      const last = outcome.steps[outcome.steps.length - 1]!;
      const body = JSON.stringify({
        status: 'blocked',
        host: outcome.host,
        reason: denial.reason,
        decision: 'deny',
        source: last.source,
        protocol: 'http',
        port: target.port,
        message: denial.message,
      });
      res.writeHead(403, {
        'content-type': 'application/json',
        'x-proxy-error': DENIAL_TEXTS[denial.reason as keyof typeof DENIAL_TEXTS].header,
        connection: 'close',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    let upstream: Socket;
    try {
      upstream = await this.#connect(connection, outcome, target.port, req.socket);
    } catch (error) {
      const timeout = error instanceof UpstreamError && error.failure === 'timeout';
      if (!res.destroyed)
        sendPlain(res, timeout ? 504 : 502, timeout ? 'upstream connect timed out' : 'upstream failure');
      return;
    }
    if (res.destroyed) {
      upstream.destroy();
      return;
    }
    if (expectsContinue) res.writeContinue();
    const headers = endToEndHeaders(req.rawHeaders);
    if (!headers.some((_, index) => index % 2 === 0 && headers[index]!.toLowerCase() === 'host')) {
      headers.push('Host', target.hostHeader);
    }
    const outgoing = httpRequest({
      createConnection: () => upstream,
      method,
      path: target.path,
      headers,
      setHost: false,
    });
    outgoing.on('response', (incoming) => {
      incoming.on('error', () => res.destroy());
      res.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, endToEndHeaders(incoming.rawHeaders));
      incoming.pipe(res);
    });
    outgoing.on('error', () => {
      this.#stats.upstreamFailures++;
      if (!res.headersSent && !res.destroyed) sendPlain(res, 502, 'upstream failure');
      else res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  }

  #onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.#takeOver(socket, 'CONNECT', (connection) => this.#tunnel(req, socket, head, connection));
  }

  /**
   * A CONNECT or an upgrade leaves HTTP parsing for a byte splice: no headers deadline and no
   * socket timeout from here on (the splice keeps its own idle rule).
   */
  #takeOver(socket: Socket, what: string, run: (connection: Connection) => Promise<void>): void {
    const connection = this.#connectionOf(socket);
    if (connection === undefined) {
      socket.destroy();
      return;
    }
    connection.spliced = true;
    this.#clearDeadline(connection);
    socket.setTimeout(0);
    run(connection).catch((error: unknown) => {
      this.#options.logger.error({ err: error }, `network proxy: ${what} failed`);
      socket.destroy();
    });
  }

  async #tunnel(req: IncomingMessage, socket: Socket, head: Buffer, connection: Connection) {
    const authority = parseAuthority(req.url ?? '', null);
    if (authority === null) {
      this.#finish(
        socket,
        rawResponse(
          400,
          'Bad Request',
          { 'content-type': 'text/plain', connection: 'close' },
          'invalid CONNECT target',
        ),
      );
      return;
    }
    const outcome = await this.#decide(connection, {
      host: authority.host,
      port: authority.port,
      protocol: 'https_connect',
      method: 'CONNECT',
    });
    if (socket.destroyed) return;
    const upstream = await this.#openRaw(connection, outcome, authority.port, socket);
    if (upstream === null) return;
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    this.#splice(socket, upstream);
  }

  /**
   * For the paths that answer on the raw socket (CONNECT, upgrades), after the decision: a denial
   * answered 403 with its `x-proxy-error`, a failed connect 504 (timed out) or 502; else the
   * upstream socket. Null when answered, or when the client has gone (the upstream is closed).
   */
  async #openRaw(
    connection: Connection,
    outcome: PolicyOutcome,
    port: number,
    socket: Socket,
  ): Promise<Socket | null> {
    const close = { 'content-type': 'text/plain', connection: 'close' };
    if (!outcome.allowed) {
      const denial = outcome.denial!;
      const header = DENIAL_TEXTS[denial.reason as keyof typeof DENIAL_TEXTS].header;
      this.#finish(
        socket,
        rawResponse(403, 'Forbidden', { ...close, 'x-proxy-error': header }, denial.message),
      );
      return null;
    }
    try {
      const upstream = await this.#connect(connection, outcome, port, socket);
      // The client went away while we connected.
      if (!socket.destroyed) return upstream;
      upstream.destroy();
      return null;
    } catch (error) {
      const timeout = error instanceof UpstreamError && error.failure === 'timeout';
      if (!socket.destroyed) {
        this.#finish(
          socket,
          timeout
            ? rawResponse(504, 'Gateway Timeout', close, 'upstream connect timed out')
            : rawResponse(502, 'Bad Gateway', close, 'upstream failure'),
        );
      }
      return null;
    }
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.#takeOver(socket, 'upgrade', (connection) => this.#upgrade(req, socket, head, connection));
  }

  /** An `Upgrade` request (WebSocket over a plain-HTTP proxy): decided like a request, then spliced. */
  async #upgrade(req: IncomingMessage, socket: Socket, head: Buffer, connection: Connection) {
    const parsed = parseHttpTarget(req.url ?? '', req.headers.host);
    const close = { 'content-type': 'text/plain', connection: 'close' };
    if (!parsed.ok) {
      this.#finish(socket, rawResponse(400, 'Bad Request', close, parsed.message));
      return;
    }
    const { target } = parsed;
    const method = req.method ?? 'GET';
    const outcome = await this.#decide(connection, {
      host: target.host,
      port: target.port,
      protocol: 'http',
      method,
    });
    if (socket.destroyed) return;
    const upstream = await this.#openRaw(connection, outcome, target.port, socket);
    if (upstream === null) return;
    const headers = endToEndHeaders(req.rawHeaders, new Set(['upgrade', 'connection']));
    const lines = [`${method} ${target.path} HTTP/1.1`];
    for (let index = 0; index + 1 < headers.length; index += 2)
      lines.push(`${headers[index]}: ${headers[index + 1]}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    this.#splice(socket, upstream);
  }

  #onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
    if (!socket.writable || socket.destroyed) {
      socket.destroy();
      return;
    }
    const [status, reason] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout']
          : [400, 'Bad Request'];
    this.#finish(
      socket,
      rawResponse(status, reason, { 'content-type': 'text/plain', connection: 'close' }, reason),
    );
  }

  /**
   * Sends a last answer and closes. Not destroyed at once (unread input would turn the close into
   * a reset that can discard the answer at the peer); a peer that never closes its side is cut off
   * after the headers deadline.
   */
  #finish(socket: Socket, data: string | Buffer): void {
    socket.end(data);
    const timer = setTimeout(() => socket.destroy(), this.#options.headersTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
  }
}

function sendPlain(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain',
    connection: 'close',
    'content-length': Buffer.byteLength(message),
  });
  res.end(message);
}
