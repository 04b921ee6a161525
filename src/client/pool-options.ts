/**
 * The options of `ExecServerPool`, their defaults and the one resolver that fills and checks them;
 * and where the servers come from: a fixed list, or a DNS name (a Kubernetes headless Service)
 * whose addresses are the servers, looked up again every `refreshMs`.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { integer, show } from '../core/options.js';
import { STDIO_PREFIX } from './transport.js';

/** A DNS name and port whose A/AAAA records are the servers. */
export interface PoolDnsSource {
  /** `name:port`, e.g. `execvisor.agents.svc.cluster.local:8765`. */
  readonly dns: string;
  /** How often the name is looked up again. Default 5 000 ms. */
  readonly refreshMs?: number;
}

/** Looks a host name up: its addresses (IPv4 and IPv6), in any order. */
export type PoolResolver = (host: string) => Promise<readonly string[]>;

export interface ExecServerPoolOptions {
  /** `ws://IP:PORT` URLs (`stdio:<command>` works too), or a DNS name whose addresses are the servers. */
  readonly servers: readonly string[] | PoolDnsSource;
  /** Sent to every server as `Authorization: Bearer <token>`. Default none. */
  readonly token?: string | null;
  /** `clientName` of every connection. Default `execvisor-pool`. */
  readonly clientName?: string;
  /** Per connection attempt. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * How often each server's `GET /readyz` and capacity are asked (and a server that is down is
   * connected to again). Default 2 000 ms.
   */
  readonly healthIntervalMs?: number;
  /**
   * A lost connection is re-established and its session resumed (processes go on) for this long
   * while the failure may pass; see `ExecServerClientOptions.reconnect`. Default: each server's
   * detach TTL.
   */
  readonly reconnectWithinMs?: number;
  /** How long `close()` waits for the pool's processes to close. Default 5 000 ms. */
  readonly closeTimeoutMs?: number;
  /** Output bytes each process handle keeps for `events$` replay. Default 1 MiB. */
  readonly retainedBytesPerProcess?: number;
  /** The DNS lookup (tests inject their own). Default: `dns.lookup(host, {all: true})`. */
  readonly resolver?: PoolResolver;
}

export type ServerSource =
  | { readonly kind: 'static'; readonly urls: readonly string[] }
  | {
      readonly kind: 'dns';
      readonly host: string;
      readonly port: number;
      readonly refreshMs: number;
      readonly resolver: PoolResolver;
    };

export interface ResolvedPoolOptions {
  readonly source: ServerSource;
  readonly token: string | null;
  readonly clientName: string;
  readonly connectTimeoutMs: number;
  readonly healthIntervalMs: number;
  readonly reconnectWithinMs: number | null;
  readonly closeTimeoutMs: number;
  readonly retainedBytesPerProcess: number | null;
}

export const POOL_DEFAULTS = Object.freeze({
  clientName: 'execvisor-pool',
  connectTimeoutMs: 10_000,
  healthIntervalMs: 2_000,
  dnsRefreshMs: 5_000,
  closeTimeoutMs: 5_000,
});

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every address of `host` (as `getaddrinfo` gives them: /etc/hosts, then DNS). */
export const lookupAll: PoolResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

export function resolvePoolOptions(options: ExecServerPoolOptions): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object, got ${show(options)}`);
  }
  const token = options.token ?? null;
  if (token !== null && (typeof token !== 'string' || token === '')) {
    throw new InvalidArgumentError(`token must be a non-empty string, got ${show(token)}`);
  }
  const clientName = options.clientName ?? POOL_DEFAULTS.clientName;
  if (typeof clientName !== 'string') {
    throw new InvalidArgumentError(`clientName must be a string, got ${show(clientName)}`);
  }
  return Object.freeze({
    source: sourceOf(options.servers, options.resolver),
    token,
    clientName,
    connectTimeoutMs: integer(
      'connectTimeoutMs',
      options.connectTimeoutMs,
      POOL_DEFAULTS.connectTimeoutMs,
      1,
      MAX_TIMER_MS,
    ),
    healthIntervalMs: integer(
      'healthIntervalMs',
      options.healthIntervalMs,
      POOL_DEFAULTS.healthIntervalMs,
      10,
      MAX_TIMER_MS,
    ),
    reconnectWithinMs:
      options.reconnectWithinMs == null
        ? null
        : integer('reconnectWithinMs', options.reconnectWithinMs, 0, 0, MAX_TIMER_MS),
    closeTimeoutMs: integer(
      'closeTimeoutMs',
      options.closeTimeoutMs,
      POOL_DEFAULTS.closeTimeoutMs,
      0,
      MAX_TIMER_MS,
    ),
    retainedBytesPerProcess:
      options.retainedBytesPerProcess == null
        ? null
        : integer('retainedBytesPerProcess', options.retainedBytesPerProcess, 0, 0, Number.MAX_SAFE_INTEGER),
  });
}

function sourceOf(servers: unknown, resolver: PoolResolver | undefined): ServerSource {
  if (resolver !== undefined && typeof resolver !== 'function') {
    throw new InvalidArgumentError(`resolver must be a function, got ${show(resolver)}`);
  }
  if (Array.isArray(servers)) {
    if (servers.length === 0) throw new InvalidArgumentError('servers must name at least one server');
    const urls: string[] = [];
    for (const url of servers as unknown[]) {
      if (typeof url !== 'string' || !(url.startsWith('ws://') || url.startsWith(STDIO_PREFIX))) {
        throw new InvalidArgumentError(
          `servers must be ws://IP:PORT (or stdio:<command>) URLs, got ${show(url)}`,
        );
      }
      if (!urls.includes(url)) urls.push(url);
    }
    return { kind: 'static', urls };
  }
  if (typeof servers === 'object' && servers !== null && 'dns' in servers) {
    const { dns, refreshMs } = servers as PoolDnsSource;
    const { host, port } = parseHostPort(dns);
    return {
      kind: 'dns',
      host,
      port,
      refreshMs: integer('servers.refreshMs', refreshMs, POOL_DEFAULTS.dnsRefreshMs, 10, MAX_TIMER_MS),
      resolver: resolver ?? lookupAll,
    };
  }
  throw new InvalidArgumentError(
    `servers must be a list of URLs or {dns: 'name:port', refreshMs?}, got ${show(servers)}`,
  );
}

/** `name:port` (an IPv6 address in brackets). */
export function parseHostPort(text: unknown): { host: string; port: number } {
  const match = typeof text === 'string' ? /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text) : null;
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match === null || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(`servers.dns must be name:port (port 1 to 65535), got ${show(text)}`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/** The server URL of one address. */
export function wsUrlOf(address: string, port: number): string {
  return isIP(address) === 6 ? `ws://[${address}]:${port}` : `ws://${address}:${port}`;
}
