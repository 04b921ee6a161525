/**
 * `ExecServerPool`: one `ExecBackend` over many exec servers, for work that outgrows one host. It
 * holds one `ExecServerClient` per server and decides where each process starts; everything after
 * the start (output, stdin, signals) is that server's client's, unchanged.
 *
 * - **Servers**: a fixed list of URLs, or a DNS name whose addresses are the servers (a Kubernetes
 *   headless Service), looked up again every `refreshMs`. A server whose address disappears takes
 *   no new processes and is let go once the pool's processes on it have ended.
 * - **Health**: a server is used only while its connection is up and its `GET /readyz` answers 200,
 *   asked every `healthIntervalMs` (with its reported capacity). A server that refuses a start
 *   because it drains counts as draining at once.
 * - **Placement**: see `placement.ts` (least loaded; a `placementKey` keeps related processes on one
 *   server).
 * - **Failover**: a start moves to the next server only when it certainly did not happen there: the
 *   server answered it with an error (`EXEC_ERR_DRAINING`, a limit, a spawn or sandbox failure that
 *   another host may not have). Errors of the request itself (`EXEC_ERR_INVALID_ARGUMENT`, …) are
 *   the caller's at once, and so is a connection lost while the start was on its way (it may have
 *   happened).
 * - **A server lost**: its connection is re-established and the session resumed while that may work
 *   (see `ExecServerClientOptions.reconnect`); when the server is gone (refused, restarted) its
 *   processes fail at once with `EXEC_ERR_TRANSPORT`, and new starts go to the others from the
 *   moment the connection dropped.
 *
 * Invariant: a member's counts (`live`, `starting`) change synchronously with the starts and closes
 * they count, so two starts issued in one turn see each other's placement.
 */
import { request } from 'node:http';
import {
  ClosedError,
  DuplicateProcessError,
  ErrorCodes,
  TransportError,
  errorCodeOf,
  type ErrorCode,
} from '../errors.js';
import { execOn, type ExecOptions, type ExecResultOf } from '../core/exec.js';
import { startWithLimits } from '../core/start-limits.js';
import type { ExecBackend, ProcessInfo, StartOptions } from '../core/types.js';
import type { ServerCapacity } from '../rpc/wire-types.js';
import { ExecServerClient } from './exec-server-client.js';
import { leastLoaded, rendezvous, type PlacementCandidate } from './placement.js';
import {
  resolvePoolOptions,
  wsUrlOf,
  type ExecServerPoolOptions,
  type ResolvedPoolOptions,
} from './pool-options.js';
import type { RemoteProcess } from './remote-process.js';
import { STDIO_PREFIX } from './transport.js';

/** `ready`: takes new processes; `draining`: connected, but not ready (`/readyz` 503); `down`: no connection. */
export type PoolServerState = 'ready' | 'draining' | 'down';

export interface PoolServerInfo {
  readonly url: string;
  readonly state: PoolServerState;
  /** This pool's processes on the server, started and not yet closed. */
  readonly liveProcesses: number;
  /** Why it is not ready: `/readyz`'s answer (`draining`, `out of capacity: …`) or the connection's failure. */
  readonly reason: string | null;
  /** What the server last reported of itself (all its clients), or null when it does not say. */
  readonly capacity: ServerCapacity | null;
}

export interface PoolStartOptions extends StartOptions {
  /**
   * Processes started with one key go to one server while it is ready (an agent's session, whose
   * files are there): the server its live processes are on, else the key's server by rendezvous
   * hashing (the same in every pool with the same servers). Default none: the least loaded server.
   */
  readonly placementKey?: string | null;
}

export type PoolExecOptions = ExecOptions & { readonly placementKey?: string | null };

/** Errors a server answers about the request itself: no other server would answer otherwise. */
const REQUEST_ERRORS: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.INVALID_ARGUMENT,
  ErrorCodes.EMPTY_ARGV,
  ErrorCodes.PROTOCOL,
  ErrorCodes.ABORTED,
]);

/** A `/readyz` that has not answered in this long has failed. */
const READYZ_TIMEOUT_MS = 5_000;
/** After this many health checks failing in a row the connection is taken for dead and dropped. */
const HEALTH_FAILURES_TO_DROP = 2;

class Member {
  readonly url: string;
  /** Still among the servers (the DNS name still has its address). */
  listed = true;
  client: ExecServerClient | null = null;
  connecting: Promise<void> | null = null;
  checking: Promise<void> | null = null;
  /** `/readyz`'s last answer; null until asked on the current connection. */
  readiness: { readonly ready: boolean; readonly reason: string } | null = null;
  /** Why the last connection attempt failed, or the connection was lost. */
  failure: string | null = null;
  healthFailures = 0;
  /** This pool's processes there: started and not closed; starts in flight. */
  live = 0;
  starting = 0;
  capacity: ServerCapacity | null = null;
  /** `live` when `capacity` was reported, to tell the pool's processes from others' in it. */
  liveAtReport = 0;

  constructor(url: string) {
    this.url = url;
  }

  get state(): PoolServerState {
    if (this.client === null || this.client.state !== 'connected') return 'down';
    return this.readiness?.ready === true ? 'ready' : 'draining';
  }

  get reason(): string | null {
    if (this.state === 'down') return this.client?.state === 'reconnecting' ? 'reconnecting' : this.failure;
    return this.readiness?.ready === true ? null : (this.readiness?.reason ?? null);
  }

  candidate(): PlacementCandidate {
    const others = this.capacity === null ? 0 : Math.max(0, this.capacity.liveProcesses - this.liveAtReport);
    return {
      url: this.url,
      own: this.live + this.starting,
      others,
      maxProcesses: this.capacity?.maxProcesses ?? null,
    };
  }

  /** Whether this pool's connection may hold one more process (the server's per-connection limit). */
  hasRoom(): boolean {
    const limit = this.capacity?.maxProcessesPerConnection;
    return limit === undefined || this.live + this.starting < limit;
  }
}

export class ExecServerPool implements ExecBackend {
  readonly #options: ResolvedPoolOptions;
  /** In the order of the server list (sorted addresses for a DNS name). */
  #members: Member[] = [];
  readonly #processes = new Map<string, RemoteProcess>();
  /** processIds whose start is in flight: reserved, so two starts of one id cannot both go out. */
  readonly #reserved = new Set<string>();
  /** A key's server while the key has live processes there. */
  readonly #keys = new Map<string, { member: Member; count: number }>();
  #nextProcess = 1;
  #rotation = 0;
  #timers: NodeJS.Timeout[] = [];
  #refreshing: Promise<void> | null = null;
  #closing: Promise<void> | null = null;

  private constructor(options: ResolvedPoolOptions) {
    this.#options = options;
  }

  /**
   * Resolves the servers, connects to every one (each connection checked with `/readyz`) and
   * resolves once each has connected or failed. Rejects with `EXEC_ERR_TRANSPORT` when none could
   * be connected (every failure named), or `EXEC_ERR_INVALID_ARGUMENT` for bad options.
   */
  static async connect(options: ExecServerPoolOptions): Promise<ExecServerPool> {
    const pool = new ExecServerPool(resolvePoolOptions(options));
    try {
      await pool.#refresh();
      await Promise.all(pool.#members.map((member) => pool.#connect(member)));
      if (pool.#members.every((member) => member.client === null)) {
        const failures = pool.#members.map((m) => `${m.url}: ${m.failure ?? 'not connected'}`);
        throw new TransportError(
          failures.length === 0
            ? `no exec server to connect to: ${pool.#describeSource()} has no address`
            : `no exec server could be connected (${failures.join('; ')})`,
        );
      }
    } catch (error) {
      await pool.close();
      throw error;
    }
    pool.#startTimers();
    return pool;
  }

  /** Every server the pool knows (and those it was told to forget but still has processes on). */
  servers(): PoolServerInfo[] {
    return this.#members.map((member) => ({
      url: member.url,
      state: member.state,
      liveProcesses: member.live,
      reason: member.reason,
      capacity: member.capacity,
    }));
  }

  /**
   * Now rather than at the next interval: looks the servers up again (a DNS source), connects to
   * those not connected and asks each one's `/readyz` and capacity. Resolves once all that is done.
   * Rejects with `EXEC_ERR_TRANSPORT` when the DNS name cannot be resolved (the servers known are
   * kept), `EXEC_ERR_CLOSED` after `close()`.
   */
  async refresh(): Promise<void> {
    if (this.#closing !== null) throw new ClosedError('pool');
    await this.#refresh();
    await Promise.all(
      this.#members.flatMap((member) =>
        member.client !== null ? [this.#check(member)] : member.listed ? [this.#connect(member)] : [],
      ),
    );
  }

  /**
   * Starts a process on a ready server (see the placement rules above); the handle's `server` is
   * its URL. `timeoutMs`, `signal` and `terminateGraceMs` work as on every backend.
   */
  start(options: PoolStartOptions): Promise<RemoteProcess> {
    return startWithLimits(options, (checked) => this.#start(checked)) as Promise<RemoteProcess>;
  }

  /** As `ExecRuntime.exec`, placed as `start` places (`placementKey` included). */
  exec<O extends PoolExecOptions>(options: O): Promise<ExecResultOf<O>> {
    return execOn(this, options);
  }

  /** A process of this pool that has not closed yet. */
  get(processId: string): RemoteProcess | undefined {
    return this.#processes.get(processId);
  }

  /** `process/list` of every connected server, for this pool's sessions. */
  async list(): Promise<ProcessInfo[]> {
    const clients = this.#members.flatMap((m) => (m.client?.state === 'connected' ? [m.client] : []));
    const lists = await Promise.all(clients.map((client) => client.list().catch(() => [])));
    return lists.flat();
  }

  /**
   * Stops watching the servers, terminates the pool's processes that are still running, waits for
   * them to close (`closeTimeoutMs`) and disconnects. New starts are refused (`EXEC_ERR_CLOSED`).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    await this.#refreshing;
    await Promise.allSettled(this.#members.flatMap((member) => member.connecting ?? []));
    await Promise.allSettled(this.#members.flatMap((member) => member.client?.close() ?? []));
  }

  // ---- placement ----------------------------------------------------------------------------

  async #start(options: PoolStartOptions): Promise<RemoteProcess> {
    if (this.#closing !== null) throw new ClosedError('pool');
    const { placementKey, ...start } = options;
    const key = placementKey ?? null;
    const processId = start.processId ?? this.#freshProcessId();
    if (this.#processes.has(processId) || this.#reserved.has(processId)) {
      throw new DuplicateProcessError(processId);
    }
    this.#reserved.add(processId);
    try {
      const tried = new Set<Member>();
      let lastRefusal: Error | null = null;
      for (;;) {
        const member = this.#choose(key, tried);
        if (member === null) {
          if (lastRefusal !== null) throw lastRefusal;
          throw new TransportError(`no exec server is ready to start a process (${this.#describeServers()})`);
        }
        tried.add(member);
        const client = member.client!;
        member.starting += 1;
        let process: RemoteProcess;
        try {
          process = await client.start({ ...start, processId });
        } catch (error) {
          member.starting -= 1;
          if (!this.#startElsewhere(member, error)) throw error;
          lastRefusal = error as Error;
          continue;
        }
        member.starting -= 1;
        this.#track(member, process, key);
        return process;
      }
    } finally {
      this.#reserved.delete(processId);
    }
  }

  /** The server for the next start, or null when no ready server is left to try. */
  #choose(key: string | null, tried: ReadonlySet<Member>): Member | null {
    const ready = this.#members.filter(
      (m) => m.listed && m.state === 'ready' && !tried.has(m) && m.hasRoom(),
    );
    if (ready.length === 0) return null;
    if (key !== null) {
      const sticky = this.#keys.get(key)?.member;
      if (sticky !== undefined && ready.includes(sticky)) return sticky;
      return ready[
        rendezvous(
          key,
          ready.map((m) => m.url),
        )
      ]!;
    }
    const index = leastLoaded(
      ready.map((m) => m.candidate()),
      this.#rotation++,
    );
    return ready[index]!;
  }

  /**
   * Whether a failed start may go to another server: only when the server answered it (so it
   * certainly did not start there) and not about the request itself.
   */
  #startElsewhere(member: Member, error: unknown): boolean {
    const code = errorCodeOf(error);
    if (code === undefined || code === ErrorCodes.TRANSPORT || REQUEST_ERRORS.has(code)) return false;
    if (code === ErrorCodes.DRAINING) member.readiness = { ready: false, reason: 'draining' };
    return true;
  }

  #track(member: Member, process: RemoteProcess, key: string | null): void {
    member.live += 1;
    let keyed: { member: Member; count: number } | null = null;
    if (key !== null) {
      const entry = this.#keys.get(key);
      if (entry !== undefined && entry.member === member) entry.count += 1;
      else this.#keys.set(key, { member, count: 1 });
      keyed = this.#keys.get(key)!;
    }
    this.#processes.set(process.processId, process);
    const done = () => {
      member.live -= 1;
      if (keyed !== null && key !== null) {
        keyed.count -= 1;
        if (keyed.count === 0 && this.#keys.get(key) === keyed) this.#keys.delete(key);
      }
      if (this.#processes.get(process.processId) === process) this.#processes.delete(process.processId);
      if (!member.listed) this.#retireIfIdle(member);
    };
    process.closed.then(done, done);
  }

  #freshProcessId(): string {
    for (;;) {
      const id = `pool-${this.#nextProcess++}`;
      if (!this.#processes.has(id) && !this.#reserved.has(id)) return id;
    }
  }

  // ---- servers and their health -----------------------------------------------------------

  #startTimers(): void {
    const { source, healthIntervalMs } = this.#options;
    const health = setInterval(() => this.#tick(), healthIntervalMs);
    health.unref();
    this.#timers.push(health);
    if (source.kind === 'dns') {
      const refresh = setInterval(() => {
        this.#refreshing ??= this.#refresh()
          .catch(() => undefined)
          .finally(() => (this.#refreshing = null));
      }, source.refreshMs);
      refresh.unref();
      this.#timers.push(refresh);
    }
  }

  /** Connects to servers that are down, checks those that are up. */
  #tick(): void {
    if (this.#closing !== null) return;
    for (const member of this.#members) {
      // A connection that ended without our hearing of it (it dropped before the listener was on).
      if (member.client?.state === 'disconnected') member.client = null;
      if (member.client === null) {
        if (member.listed) void this.#connect(member);
      } else if (member.client.state === 'connected') {
        void this.#check(member);
      }
    }
  }

  /** The server list now: the fixed one, or the DNS name's addresses (sorted). */
  async #refresh(): Promise<void> {
    const { source } = this.#options;
    let urls: readonly string[];
    if (source.kind === 'static') {
      urls = source.urls;
    } else {
      let addresses: readonly string[];
      try {
        addresses = await source.resolver(source.host);
      } catch (error) {
        throw new TransportError(
          `cannot resolve ${this.#describeSource()}: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      urls = [...new Set(addresses)].sort().map((address) => wsUrlOf(address, source.port));
    }
    if (this.#closing !== null) return;
    const listed = new Set(urls);
    for (const member of this.#members) {
      member.listed = listed.has(member.url);
      if (!member.listed) this.#retireIfIdle(member);
    }
    const known = new Set(this.#members.map((m) => m.url));
    const added = urls.filter((url) => !known.has(url)).map((url) => new Member(url));
    if (added.length > 0) {
      this.#members = [...this.#members, ...added].sort((a, b) => order(urls, a.url) - order(urls, b.url));
      // Connected now, not at the next health check: a new server is useful at once. (The first
      // refresh, in `connect`, is followed by its own connects.)
      if (this.#timers.length > 0) for (const member of added) void this.#connect(member);
    }
  }

  /** A server no longer listed, with none of the pool's processes left: forgotten, disconnected. */
  #retireIfIdle(member: Member): void {
    if (member.listed || member.live + member.starting > 0) return;
    this.#members = this.#members.filter((m) => m !== member);
    const client = member.client;
    member.client = null;
    void client?.close().catch(() => undefined);
  }

  #connect(member: Member): Promise<void> {
    member.connecting ??= this.#open(member).finally(() => (member.connecting = null));
    return member.connecting;
  }

  async #open(member: Member): Promise<void> {
    const options = this.#options;
    let client: ExecServerClient;
    try {
      client = await ExecServerClient.connect(member.url, {
        token: options.token,
        clientName: options.clientName,
        connectTimeoutMs: options.connectTimeoutMs,
        closeTimeoutMs: options.closeTimeoutMs,
        reconnect: true,
        ...(options.reconnectWithinMs !== null ? { reconnectWithinMs: options.reconnectWithinMs } : {}),
        ...(options.retainedBytesPerProcess !== null
          ? { retainedBytesPerProcess: options.retainedBytesPerProcess }
          : {}),
      });
    } catch (error) {
      member.failure = error instanceof Error ? error.message : String(error);
      return;
    }
    if (this.#closing !== null || !this.#members.includes(member)) {
      await client.close();
      return;
    }
    member.readiness = null;
    member.healthFailures = 0;
    member.capacity = client.environmentInfo?.capacity ?? null;
    member.liveAtReport = member.live;
    client.onStateChange((state, detail) => this.#onConnectionState(member, client, state, detail));
    if (client.state === 'disconnected') {
      member.failure = 'the connection was lost as it opened';
      return;
    }
    member.client = client;
    member.failure = null;
    // Used only once `/readyz` said so.
    await this.#check(member);
  }

  #onConnectionState(
    member: Member,
    client: ExecServerClient,
    state: ExecServerClient['state'],
    detail: string,
  ): void {
    if (member.client !== client) return;
    switch (state) {
      case 'reconnecting':
        member.readiness = null;
        member.failure = detail;
        return;
      case 'connected':
        void this.#check(member);
        return;
      case 'disconnected':
        // Its processes have failed (or the pool is closing); a new connection (a new session) is
        // made at the next health check if the server is still listed.
        member.client = null;
        member.readiness = null;
        member.failure = detail;
        if (!member.listed) this.#retireIfIdle(member);
        return;
    }
  }

  /** `/readyz` and the reported capacity, now. */
  #check(member: Member): Promise<void> {
    member.checking ??= this.#probe(member).finally(() => (member.checking = null));
    return member.checking;
  }

  async #probe(member: Member): Promise<void> {
    const client = member.client;
    if (client === null) return;
    const withCapacity = client.environmentInfo?.capacity !== undefined;
    const timeoutMs = Math.min(READYZ_TIMEOUT_MS, Math.max(this.#options.healthIntervalMs, 100));
    const [readiness, info] = await Promise.all([
      readyz(member.url, timeoutMs).then(
        (answer) => ({ ok: true as const, answer }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      withCapacity ? client.environment().catch(() => null) : Promise.resolve(null),
    ]);
    if (member.client !== client) return;
    if (info?.capacity !== undefined) {
      member.capacity = info.capacity;
      member.liveAtReport = member.live;
    }
    if (readiness.ok) {
      member.healthFailures = 0;
      member.readiness = readiness.answer;
      return;
    }
    const why = readiness.error instanceof Error ? readiness.error.message : String(readiness.error);
    member.readiness = { ready: false, reason: `GET /readyz failed: ${why}` };
    member.healthFailures += 1;
    // The server answers neither: the connection is likely dead without knowing it (a host gone
    // from the network). Dropping it starts the reconnection, which ends it one way or the other.
    if (member.healthFailures >= HEALTH_FAILURES_TO_DROP) void client.disconnect();
  }

  #describeServers(): string {
    if (this.#members.length === 0) return `${this.#describeSource()} has no address`;
    return this.#members
      .map((m) => `${m.url} ${m.listed ? m.state : 'removed'}${m.reason !== null ? `: ${m.reason}` : ''}`)
      .join('; ');
  }

  #describeSource(): string {
    const { source } = this.#options;
    return source.kind === 'dns' ? `dns:${source.host}:${source.port}` : 'the server list';
  }
}

function order(urls: readonly string[], url: string): number {
  const index = urls.indexOf(url);
  return index === -1 ? urls.length : index;
}

/**
 * `GET /readyz` of the server at `url` (a `ws://` URL; its HTTP side answers on the same port):
 * ready on 200, else not ready with the body as the reason. Rejects when nothing answers.
 * A `stdio:` server has no HTTP side: it is ready while connected.
 */
export function readyz(url: string, timeoutMs: number): Promise<{ ready: boolean; reason: string }> {
  if (url.startsWith(STDIO_PREFIX)) return Promise.resolve({ ready: true, reason: 'ok' });
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port,
        path: '/readyz',
        method: 'GET',
        agent: false,
        timeout: timeoutMs,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (text: string) => {
          if (body.length < 1024) body += text;
        });
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          resolve({ ready: status === 200, reason: body.trim() || `HTTP ${status}` });
        });
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
