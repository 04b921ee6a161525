/**
 * One WebSocket: handshake state, decoding, dispatch from the method table, notifications and
 * cleanup. Requests are dispatched synchronously in arrival order and then run concurrently;
 * responses go out as each finishes, so a long-poll read never holds back anything else.
 */
import type { WebSocket, RawData } from 'ws';
import { ErrorCodes, ProtocolError, errorCodeOf, isExecError } from '../errors.js';
import type { FileSystemBackend } from '../fs/types.js';
import type { ExecProcess } from '../core/types.js';
import {
  RpcCodes,
  UNPARSEABLE_ID,
  decodeMessage,
  encodeError,
  encodeResult,
  frameText,
  parseFailureMessage,
  type IncomingMessage,
  type RequestId,
} from '../rpc/envelope.js';
import { MethodNotFoundError, toRpcError } from '../rpc/error-map.js';
import {
  clientNotifications,
  handshakeFamily,
  requestMethodsByName,
  type MethodScope,
} from '../rpc/methods.js';
import { parseParams } from '../rpc/serde-schema.js';
import { handlers, type ConnectionState } from './handlers.js';
import type { ServerMetrics } from './metrics.js';
import { NotificationForwarder } from './notification-forwarder.js';
import type { ServerLogger } from './runtime-port.js';
import type { ResolvedServerOptions } from './server-options.js';
import { ackUnattended, type SessionRecord, type SessionRegistry } from './session-registry.js';

/** WebSocket close code for a peer that broke the protocol (RFC 6455 §7.4.1). */
const CLOSE_PROTOCOL_ERROR = 1002;

type AnyHandler = (state: ConnectionState, params: unknown) => Promise<unknown>;

export interface ConnectionDeps {
  readonly options: ResolvedServerOptions;
  readonly registry: SessionRegistry;
  readonly metrics: ServerMetrics;
  /** The runtime's `fs/*` methods, or null when it has none. */
  readonly fileSystem: FileSystemBackend | null;
}

export class Connection implements ConnectionState {
  readonly options: ResolvedServerOptions;
  readonly registry: SessionRegistry;
  readonly fileSystem: FileSystemBackend | null;
  readonly owner: object = this;
  phase: 'new' | 'initialized' | 'ready' = 'new';
  session: SessionRecord | null = null;
  readonly pendingStarts = new Map<string, Promise<ExecProcess | undefined>>();
  readonly stdinLanes = new Map<string, Promise<unknown>>();

  readonly #ws: WebSocket;
  readonly #peer: string;
  readonly #metrics: ServerMetrics;
  readonly #logger: ServerLogger;
  #forwarder: NotificationForwarder | null = null;
  #closed = false;
  readonly #closedPromise: Promise<void>;

  constructor(ws: WebSocket, peer: string, deps: ConnectionDeps) {
    this.#ws = ws;
    this.#peer = peer;
    this.options = deps.options;
    this.registry = deps.registry;
    this.fileSystem = deps.fileSystem;
    this.#metrics = deps.metrics;
    this.#logger = deps.options.logger;
    this.#closedPromise = new Promise((resolve) => {
      ws.on('close', (code: number) => {
        this.#onClose(code);
        resolve();
      });
    });
    ws.on('message', (data: RawData) => this.#onMessage(data));
    ws.on('error', (error) => this.#logger.debug({ peer, err: error }, 'websocket error'));
  }

  /** Resolves once the socket is closed and the session released. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Server shutdown: close the socket; the session is released by the close handler. */
  shutdown(code = 1001, reason = 'server shutting down'): void {
    if (this.#ws.readyState === this.#ws.CLOSED) return;
    this.#ws.close(code, reason);
    // A peer that never answers the close handshake must not hold the shutdown.
    setTimeout(() => this.#ws.terminate(), 1_000).unref();
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
      if (process === undefined) session.forwarded.delete(id);
      else this.follow(id, process);
    }
  }

  #forwarderOf(): NotificationForwarder | null {
    if (this.#closed || this.session === null) return null;
    this.#forwarder ??= new NotificationForwarder(
      { send: (text) => this.#send(text), bufferedAmount: () => this.#ws.bufferedAmount },
      this.options.outboundHighWaterBytes,
      this.session.forwarded,
      this.session.autoAck,
      this.#logger,
    );
    return this.#forwarder;
  }

  #onMessage(data: RawData): void {
    if (this.#closed) return;
    const decoded = decodeMessage(frameText(data));
    if (!decoded.ok) {
      const message = parseFailureMessage(this.#peer, decoded.reason);
      this.#logger.warn({ peer: this.#peer, reason: decoded.reason }, 'ignoring malformed message');
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
    try {
      const entry = requestMethodsByName.get(method);
      if (entry === undefined) throw new MethodNotFoundError(method);
      this.#checkHandshake(entry.method.scope);
      const params = parseParams(entry.method.params, rawParams);
      outcome = (handlers[entry.key] as AnyHandler)(this, params);
    } catch (error) {
      answered(false);
      this.#sendError(id, method, error);
      return;
    }
    outcome.then(
      (result) => {
        answered(true);
        this.#send(encodeResult(id, result));
      },
      (error: unknown) => {
        answered(false);
        this.#sendError(id, method, error);
      },
    );
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

  #sendError(id: RequestId, method: string, error: unknown): void {
    const rpc = toRpcError(error);
    this.#metrics.recordError(rpc.data.code, rpc.code);
    if (!isExecError(error) || errorCodeOf(error) === ErrorCodes.INTERNAL) {
      this.#logger.error({ peer: this.#peer, method, err: error }, 'request failed');
    }
    this.#send(encodeError(id, rpc));
  }

  #send(text: string): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(text);
  }

  /** The peer broke the protocol: close without a reply (§2). */
  #abort(reason: string): void {
    this.#logger.warn({ peer: this.#peer, reason }, 'closing connection: protocol violation');
    // A fixed reason: a close reason is limited to 123 bytes and must not echo peer input.
    this.#ws.close(CLOSE_PROTOCOL_ERROR, 'protocol violation');
    this.#closed = true;
  }

  #onClose(code: number): void {
    this.#closed = true;
    this.#forwarder?.dispose();
    this.#forwarder = null;
    this.#metrics.connectionsOpen -= 1;
    this.#logger.debug({ peer: this.#peer, code }, 'connection closed');
    if (this.session !== null) this.registry.release(this.session);
  }
}
