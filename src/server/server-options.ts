/**
 * Public server options, their defaults and the one resolver that fills and checks them.
 */
import { InvalidArgumentError } from '../errors.js';
import type { FlowControl } from '../core/types.js';
import type { NetworkPolicySettingsOption } from '../core/network-options.js';
import { parseHttpNetworkPolicy } from '../network/http-policy.js';
import type { CompiledNetworkPolicy } from '../network/policy.js';
import type { HttpDecision } from './http-request.js';
import {
  DEFAULT_LISTEN_URL,
  isLoopback,
  isStdioListen,
  parseListenUrl,
  type ListenAddress,
} from './listen-url.js';
import { silentLogger, type ServerLogger, type ServerRuntime } from './runtime-port.js';

export interface ServerOptions {
  /** The runtime to drive. Default: a new `ExecRuntime`, owned (and closed) by the server. */
  readonly runtime?: ServerRuntime;
  /**
   * `ws://IP:PORT` (port 0 picks a free port), or `stdio` / `stdio://`: one connection over
   * `stdin`/`stdout` (see `stdio`). Default `ws://127.0.0.1:0`.
   */
  readonly listen?: string;
  /** With `listen: 'stdio'`: the streams to speak on. Default `process.stdin` / `process.stdout`. */
  readonly stdio?: { readonly input: NodeJS.ReadableStream; readonly output: NodeJS.WritableStream };
  /**
   * WebSocket only: a connection must complete its HTTP upgrade within this time, and then send
   * `initialize` within it again, or it is closed (an upgrade with 408, a socket with 1008).
   * Default 10 000 ms.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * WebSocket only: connections served at once; an upgrade beyond it is refused with HTTP 503.
   * Default 1024.
   */
  readonly maxConnections?: number;
  /**
   * The managed-network decision for `http/request`: called for the target of every request and of
   * every redirect it follows; `deny` fails the request. Absent: every destination is allowed.
   */
  readonly httpNetworkDecision?: HttpDecision | null;
  /**
   * The managed-network policy for `http/request` (`{domains, mode, allowLocalBinding}`, as in a
   * start's `networkProxy.proxy`): every destination, redirects included, is decided by the proxy's
   * policy engine and the request connects only to the addresses it checked. Instead of
   * `httpNetworkDecision` (not both).
   */
  readonly httpNetworkPolicy?: NetworkPolicySettingsOption | null;
  /** Bearer token every upgrade (and `/metrics`) must carry. Required for a non-loopback address. */
  readonly token?: string | null;
  /** Largest inbound message; a bigger one closes that socket with 1009. Default 16 MiB. */
  readonly maxMessageBytes?: number;
  /** Processes one connection (session) may hold before they are closed. Default 1024. */
  readonly maxProcessesPerConnection?: number;
  /** How long a detached session lives before its processes are killed. Default 30 000 ms. */
  readonly detachTtlMs?: number;
  /**
   * Stop forwarding output notifications to a connection while its socket buffers more than this;
   * they resume from the process's log once the socket has drained to half of it. Default 8 MiB.
   */
  readonly outboundHighWaterBytes?: number;
  /**
   * The flow control the server applies to a process started without a client `flowControl`: it
   * acknowledges output as the notifications leave an uncongested socket, so the process pauses
   * (instead of having output evicted) while the client is slower than the child. `null` turns
   * this off (output is then evicted past the runtime's retention while the socket is congested).
   * Default `{highWaterBytes: 4 MiB, lowWaterBytes: 1 MiB}`.
   */
  readonly serverFlowControl?: FlowControl | null;
  /**
   * The server is of use only with a working sandbox: it runs one sandboxed `/bin/true` when it
   * starts, and until that has exited 0 (and for good if it failed) `GET /readyz` answers 503.
   * Default false.
   */
  readonly requireSandbox?: boolean;
  readonly logger?: ServerLogger;
}

export interface ResolvedServerOptions {
  readonly runtime: ServerRuntime | undefined;
  readonly listen: ListenAddress;
  readonly token: string | null;
  readonly maxMessageBytes: number;
  readonly maxProcessesPerConnection: number;
  readonly detachTtlMs: number;
  readonly outboundHighWaterBytes: number;
  readonly serverFlowControl: FlowControl | null;
  readonly handshakeTimeoutMs: number;
  readonly maxConnections: number;
  readonly httpNetworkDecision: HttpDecision | null;
  /** Compiled; the server turns it into `httpNetworkDecision`. */
  readonly httpNetworkPolicy: CompiledNetworkPolicy | null;
  readonly stdio: { readonly input: NodeJS.ReadableStream; readonly output: NodeJS.WritableStream } | null;
  readonly requireSandbox: boolean;
  readonly logger: ServerLogger;
}

export const SERVER_DEFAULTS = Object.freeze({
  listen: DEFAULT_LISTEN_URL,
  maxMessageBytes: 16 * 1024 * 1024,
  maxProcessesPerConnection: 1024,
  detachTtlMs: 30_000,
  outboundHighWaterBytes: 8 * 1024 * 1024,
  serverFlowControl: Object.freeze({ highWaterBytes: 4 * 1024 * 1024, lowWaterBytes: 1024 * 1024 }),
  handshakeTimeoutMs: 10_000,
  maxConnections: 1024,
});

function flowControlOption(value: FlowControl | null | undefined): FlowControl | null {
  if (value === undefined) return SERVER_DEFAULTS.serverFlowControl;
  if (value === null) return null;
  const highWaterBytes = positiveInt('serverFlowControl.highWaterBytes', value.highWaterBytes, 0);
  const lowWaterBytes = positiveInt('serverFlowControl.lowWaterBytes', value.lowWaterBytes, 0, 0);
  if (lowWaterBytes > highWaterBytes) {
    throw new InvalidArgumentError('serverFlowControl.lowWaterBytes must not exceed highWaterBytes');
  }
  return { highWaterBytes, lowWaterBytes };
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function booleanOption(name: string, value: boolean | undefined): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`${name} must be a boolean, got ${JSON.stringify(value)}`);
  }
  return value;
}

function httpPolicyOption(options: ServerOptions): CompiledNetworkPolicy | null {
  if (options.httpNetworkPolicy == null) return null;
  if (options.httpNetworkDecision != null) {
    throw new InvalidArgumentError('give httpNetworkDecision or httpNetworkPolicy, not both');
  }
  return parseHttpNetworkPolicy(options.httpNetworkPolicy);
}

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const listen = parseListenUrl(options.listen ?? SERVER_DEFAULTS.listen);
  const token = options.token ?? null;
  if (token !== null && token.length === 0) {
    throw new InvalidArgumentError('token must not be empty');
  }
  if (token === null && !isStdioListen(listen) && !isLoopback(listen.host)) {
    throw new InvalidArgumentError(
      `refusing to listen on non-loopback address ${listen.host} without a token; ` +
        'set EXEC_SERVER_TOKEN or pass --token-file (or listen on 127.0.0.1)',
    );
  }
  return {
    runtime: options.runtime,
    listen,
    token,
    maxMessageBytes: positiveInt('maxMessageBytes', options.maxMessageBytes, SERVER_DEFAULTS.maxMessageBytes),
    maxProcessesPerConnection: positiveInt(
      'maxProcessesPerConnection',
      options.maxProcessesPerConnection,
      SERVER_DEFAULTS.maxProcessesPerConnection,
    ),
    detachTtlMs: positiveInt('detachTtlMs', options.detachTtlMs, SERVER_DEFAULTS.detachTtlMs, 0),
    outboundHighWaterBytes: positiveInt(
      'outboundHighWaterBytes',
      options.outboundHighWaterBytes,
      SERVER_DEFAULTS.outboundHighWaterBytes,
    ),
    serverFlowControl: flowControlOption(options.serverFlowControl),
    handshakeTimeoutMs: positiveInt(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs,
      SERVER_DEFAULTS.handshakeTimeoutMs,
    ),
    maxConnections: positiveInt('maxConnections', options.maxConnections, SERVER_DEFAULTS.maxConnections),
    httpNetworkDecision: options.httpNetworkDecision ?? null,
    httpNetworkPolicy: httpPolicyOption(options),
    stdio: options.stdio ?? null,
    requireSandbox: booleanOption('requireSandbox', options.requireSandbox),
    logger: options.logger ?? silentLogger,
  };
}
