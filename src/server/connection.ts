/**
 * One connection (a WebSocket or stdio): handshake state, decoding, dispatch from the method table,
 * notifications and cleanup. Requests are dispatched synchronously in arrival order and then run
 * concurrently; responses go out as each finishes, so a long-poll read never holds back anything
 * else.
 */
import { ErrorCodes, ProtocolError, errorCodeOf, isExecError } from '../errors.js';
import type { FileSystemBackend } from '../fs/types.js';
import { FileHandleTable } from '../fs/file-handles.js';
import type { ExecProcess } from '../core/types.js';
import {
  RpcCodes,
  UNPARSEABLE_ID,
  decodeMessage,
  encodeError,
  encodeNotification,
  encodeResult,
  type IncomingMessage,
  type RequestId,
} from '../rpc/envelope.js';
import { MethodNotFoundError, toRpcError } from '../rpc/error-map.js';
import {
  clientNotifications,
  dialectOf,
  handshakeFamily,
  requestMethods,
  requestMethodsByName,
  type MethodScope,
} from '../rpc/methods.js';
import { parseParams, type Dialect } from '../rpc/serde-schema.js';
import { handlers, type ConnectionState, type RequestContext } from './handlers.js';
import type { ServerHealth } from './health.js';
import type { HttpDecision } from './http-request.js';
import type { ServerMetrics } from './metrics.js';
import { NotificationForwarder } from './notification-forwarder.js';
import type { FileIdentityProbe, ServerLogger } from './runtime-port.js';
import type { ResolvedServerOptions } from './server-options.js';
import { ackUnattended, type SessionRecord, type SessionRegistry } from './session-registry.js';
import type { MessageTransport } from './transport/types.js';

/** WebSocket close code for a peer that did not complete the handshake in time (policy violation). */
const CLOSE_HANDSHAKE_TIMEOUT = 1008;

type AnyHandler = (state: ConnectionState, params: unknown, context: RequestContext) => Promise<unknown>;

export interface ConnectionDeps {
  readonly options: ResolvedServerOptions;
  readonly registry: SessionRegistry;
  readonly metrics: ServerMetrics;
  /** The runtime's `fs/*` methods, or null when it has none. */
  readonly fileSystem: FileSystemBackend | null;
  readonly identifyFile: FileIdentityProbe | null;
  /** The server's readiness, capacity and drain state. */
  readonly health: ServerHealth;
  /** Closes a connection that has not completed `initialize` in time; null: never (stdio). */
  readonly handshakeTimeoutMs: number | null;
}

export class Connection implements ConnectionState {
  readonly options: ResolvedServerOptions;
  readonly registry: SessionRegistry;
  readonly fileSystem: FileSystemBackend | null;
  readonly identifyFile: FileIdentityProbe | null;
  readonly health: ServerHealth;
  readonly owner: object = this;
  phase: 'new' | 'initialized' | 'ready' = 'new';
  session: SessionRecord | null = null;
  readonly pendingStarts = new Map<string, Promise<ExecProcess | undefined>>();
  readonly stdinLanes = new Map<string, Promise<unknown>>();
  readonly files: FileHandleTable;
  readonly httpStreams = new Set<string>();
  readonly httpAbort = new AbortController();

  readonly #transport: MessageTransport;
  readonly #metrics: ServerMetrics;
  readonly #logger: ServerLogger;
  #forwarder: NotificationForwarder | null = null;
  /** Requests being handled, long-poll reads aside: a graceful shutdown answers them first. */
  readonly #answering = new Set<Promise<unknown>>();
  #closed = false;
  #handshakeTimer: NodeJS.Timeout | null = null;
  readonly #closedPromise: Promise<void>;

  constructor(transport: MessageTransport, deps: ConnectionDeps) {
    this.#transport = transport;
    this.options = deps.options;
    this.registry = deps.registry;
    this.fileSystem = deps.fileSystem;
    this.identifyFile = deps.identifyFile;
    this.health = deps.health;
    this.#metrics = deps.metrics;
    this.#logger = deps.options.logger;
    this.files = new FileHandleTable();
    this.#closedPromise = new Promise((resolve) => {
      transport.onClose((detail) => {
        this.#onClose(detail);
        resolve();
      });
    });
    transport.onMessage((text) => this.#onMessage(text));
    if (deps.handshakeTimeoutMs !== null) {
      this.#handshakeTimer = setTimeout(() => {
        this.#logger.warn(
          { peer: transport.peer, handshakeTimeoutMs: deps.handshakeTimeoutMs },
          'closing connection: no initialize in time',
        );
        transport.close(CLOSE_HANDSHAKE_TIMEOUT, 'handshake timeout');
      }, deps.handshakeTimeoutMs);
      this.#handshakeTimer.unref();
    }
  }

  /** Resolves once the transport is closed and the session released. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  get peer(): string {
    return this.#transport.peer;
  }

  /**
   * Settles once every request in hand (a long-poll `process/read` aside) has been answered, or
   * after `timeoutMs`: a server going away answers what it was asked (a `process/write` whose
   * process exited meanwhile, say) before it closes.
   */
  async answered(timeoutMs: number): Promise<void> {
    if (this.#answering.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#answering]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Server shutdown: close the transport; the session is released by the close handler. */
  shutdown(code = 1001, reason = 'server shutting down'): void {
    this.#transport.close(code, reason);
  }

  /** The handshake completed: the connection may stay. */
  initialized(): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
  }

  outboundBuffered(): number {
    return this.#transport.bufferedAmount();
  }

  notify(method: string, params: unknown): void {
    this.#send(encodeNotification(method, params));
  }

  /** The managed-network decision for `http/request`, when the server was given one. */
  get httpDecision(): HttpDecision | null {
    return this.options.httpNetworkDecision;
  }

  follow(processId: string, process: ExecProcess): void {
    const forwarder = this.#forwarderOf();
    if (forwarder !== null) {
      forwarder.follow(processId, process);
      return;
    }
    // A start that finished after this connection closed: nobody sends, so nobody may hold it back.
    const session = this.session;
    if (session !== null && session.attachedTo === null) ackUnattended(session, processId, process);
  }

  followSession(): void {
    const session = this.session;
    if (session === null) return;
    for (const id of new Set([...session.open, ...session.forwarded.keys()])) {
      const process = session.runtimeSession.get(id);
      if (process === undefined) {
        session.forwarded.delete(id);
        session.forwardedNetwork.delete(id);
      } else {
        this.follow(id, process);
      }
    }
  }

  #forwarderOf(): NotificationForwarder | null {
    if (this.#closed || this.session === null) return null;
    this.#forwarder ??= new NotificationForwarder(
      this.#transport,
      this.options.outboundHighWaterBytes,
      this.session.forwarded,
      this.session.autoAck,
      this.#logger,
      this.session.forwardedNetwork,
    );
    return this.#forwarder;
  }

  #onMessage(text: string): void {
    if (this.#closed) return;
    const decoded = decodeMessage(text);
    if (!decoded.ok) {
      const message = this.#transport.parseFailureMessage(decoded.reason);
      this.#logger.warn({ peer: this.#transport.peer, reason: decoded.reason }, 'ignoring malformed message');
      this.#metrics.recordError(ErrorCodes.PROTOCOL, RpcCodes.INVALID_REQUEST);
      this.#send(encodeError(UNPARSEABLE_ID, { code: RpcCodes.INVALID_REQUEST, message }));
      return;
    }
    this.#route(decoded.message);
  }

  #route(message: IncomingMessage): void {
    switch (message.kind) {
      case 'request':
        this.#dispatch(message.id, message.method, message.params);
        return;
      case 'notification':
        if (message.method === clientNotifications.initialized.name && this.phase !== 'new') {
          if (this.phase === 'initialized') this.phase = 'ready';
          return;
        }
        this.#abort(`unexpected notification \`${message.method}\``);
        return;
      case 'response':
      case 'error':
        this.#abort(`unexpected client ${message.kind} for id ${String(message.id)}`);
        return;
    }
  }

  /** Synchronous up to the handler's first await: see the ordering rule in handlers.ts. */
  #dispatch(id: RequestId, method: string, rawParams: unknown): void {
    const answered = this.#metrics.timeRequest(method);
    let outcome: Promise<unknown>;
    let dialect: Dialect = 'seed';
    try {
      const entry = requestMethodsByName.get(method);
      if (entry === undefined) throw new MethodNotFoundError(method);
      dialect = dialectOf(entry.method, rawParams);
      this.#checkHandshake(entry.method.scope);
      const params = parseParams(entry.method.params, rawParams, dialect, method);
      outcome = (handlers[entry.key] as AnyHandler)(this, params, { dialect });
    } catch (error) {
      answered(false);
      this.#sendError(id, method, error, dialect);
      return;
    }
    const sent = outcome.then(
      (result) => {
        answered(true);
        this.#send(encodeResult(id, result));
      },
      (error: unknown) => {
        answered(false);
        this.#sendError(id, method, error, dialect);
      },
    );
    if (method !== requestMethods.read.name) {
      this.#answering.add(sent);
      void sent.finally(() => this.#answering.delete(sent));
    }
  }

  #checkHandshake(scope: MethodScope): void {
    if (scope === 'handshake') return;
    if (this.phase === 'new') {
      throw new ProtocolError(`client must call initialize before using ${handshakeFamily(scope)}`);
    }
    if (this.phase === 'initialized') {
      throw new ProtocolError(`client must send initialized before using ${handshakeFamily(scope)}`);
    }
  }

  #sendError(id: RequestId, method: string, error: unknown, dialect: Dialect): void {
    const rpc = toRpcError(error, dialect);
    this.#metrics.recordError(rpc.data.code, rpc.code);
    if (!isExecError(error) || errorCodeOf(error) === ErrorCodes.INTERNAL) {
      this.#logger.error({ peer: this.#transport.peer, method, err: error }, 'request failed');
    }
    this.#send(encodeError(id, rpc));
  }

  #send(text: string): void {
    this.#transport.send(text);
  }

  /** The peer broke the protocol: close without a reply (§2). */
  #abort(reason: string): void {
    this.#logger.warn({ peer: this.#transport.peer, reason }, 'closing connection: protocol violation');
    this.#transport.abort();
    // A WebSocket is closing now: nothing more from it is read.
    if (!this.#transport.isOpen) this.#closed = true;
  }

  #onClose(detail: string): void {
    this.#closed = true;
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#forwarder?.dispose();
    this.#forwarder = null;
    this.httpAbort.abort();
    void this.files.closeAll();
    this.#metrics.connectionsOpen -= 1;
    this.#logger.debug({ peer: this.#transport.peer, detail }, 'connection closed');
    if (this.session !== null) this.registry.release(this.session);
  }
}
