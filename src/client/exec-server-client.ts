/**
 * `ExecServerClient`: the `ExecBackend` interface over the wire (a WebSocket, or a `stdio:` command).
 * Method calls go through the method table in `rpc/methods.ts`; server errors become `RemoteError`s
 * carrying the ExecError code. It speaks both shapes of the protocol: the seed's, with our
 * extensions, to a server of ours; the current upstream one to a server that answers `initialize`
 * with `environmentInfo` only (see `current-shape.ts`).
 *
 * With `reconnect`, a connection lost by accident (not closed by either side on purpose) is opened
 * again and the session resumed, so the processes go on; see `#reconnect`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ClosedError, ErrorCodes, LimitError, TransportError, errorCodeOf } from '../errors.js';
import { toBase64 } from '../fs/protocol.js';
import type {
  CanonicalizeParams,
  CopyParams,
  CreateDirectoryParams,
  FileMetadata,
  FileSystemBackend,
  GetMetadataParams,
  ReadDirectoryParams,
  ReadDirectoryResult,
  ReadFileParams,
  ReadFileResult,
  RemoveParams,
  WalkOutcome,
  WalkParams,
  WriteFileParams,
} from '../fs/types.js';
import { execOn, type ExecOptions, type ExecResultOf } from '../core/exec.js';
import { startWithLimits } from '../core/start-limits.js';
import type { ExecBackend, ProcessInfo, SandboxType, StartOptions } from '../core/types.js';
import {
  clientNotifications,
  requestMethods,
  serverNotifications,
  type AnyRequestMethod,
  type ParamsIn,
  type ResultOf,
} from '../rpc/methods.js';
import type { EnvironmentInfo, HttpRequestResult, ServerCapabilities } from '../rpc/wire-types.js';
import { outputChunkBytes, outputChunkSize } from '../rpc/output-frame.js';
import { currentShapeAdapter } from './current-shape.js';
import { DEFAULT_CLIENT_RETAINED_BYTES, RemoteProcess, type ProcessLink } from './remote-process.js';
import { RpcPeer } from './rpc-peer.js';
import { isTransientConnectFailure } from './transport.js';

/**
 * Which shape to speak: `seed` (with our extensions), `current` (upstream's current shape), or
 * `auto`: `seed` to a server that announces our `capabilities`, `current` to one that answers
 * `initialize` with `environmentInfo` and no extensions, else `seed`.
 */
export type ProtocolShape = 'seed' | 'current';

export interface ExecServerClientOptions {
  /** Sent as `Authorization: Bearer <token>` (WebSocket only). */
  readonly token?: string | null;
  /** The shape to speak. Default `auto`. */
  readonly protocol?: ProtocolShape | 'auto';
  /** `clientName` of `initialize`. Default `execvisor-client`. */
  readonly clientName?: string;
  /**
   * Keep this client's processes when it closes: a session id to resume, or null for a fresh session.
   * Every session on the server survives a disconnect for its detach TTL (as upstream's do); with
   * this option absent (the default) `close()` terminates the processes still running, so a client
   * that did not ask for a session to come back to leaves nothing behind.
   */
  readonly resumeSessionId?: string | null;
  /** Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** How long `close()` waits for terminated processes to close. Default 5 000 ms. */
  readonly closeTimeoutMs?: number;
  /**
   * Output bytes each process handle keeps for `events$` replay (the client-side log fed by the
   * output notifications). Default 1 MiB, the server's default retention.
   */
  readonly retainedBytesPerProcess?: number;
  /**
   * When the connection is lost by accident (the network, not a close by either side), connect
   * again and resume the session, so its processes go on: their `events$` continue where they
   * were, reads cut by the loss are made again, calls made meanwhile wait. Tried again while the
   * failure may pass (a timeout, a reset) for `reconnectWithinMs`; given up at once when nobody
   * listens at the address any more (ECONNREFUSED), the server answers HTTP (401, 503 shutting
   * down) or does not know the session: then the processes fail with `EXEC_ERR_TRANSPORT`, as
   * they do at once without this option. Default false.
   */
  readonly reconnect?: boolean;
  /** How long `reconnect` keeps trying. Default: the server's `detachTtlMs` (30 000 ms if unknown). */
  readonly reconnectWithinMs?: number;
}

/**
 * The client's connection: `connected`; `reconnecting` (lost, being re-established: see
 * `reconnect`); `disconnected` for good (closed, or lost and not resumed).
 */
export type ClientConnectionState = 'connected' | 'reconnecting' | 'disconnected';

/** First wait between reconnection attempts; doubled up to `RECONNECT_MAX_DELAY_MS`. */
const RECONNECT_FIRST_DELAY_MS = 50;
const RECONNECT_MAX_DELAY_MS = 2_000;
const DEFAULT_DETACH_TTL_MS = 30_000;

type NotificationKind = Exclude<keyof typeof serverNotifications, 'httpBodyDelta'>;

/** `followSymlinks` only when given, so a server of the seed's shape sees exactly its members. */
function follow(value: boolean | null | undefined): { followSymlinks?: boolean } {
  return value == null ? {} : { followSymlinks: value };
}

/** Wire name → table key, built once from the method table. */
const NOTIFICATION_KINDS: ReadonlyMap<string, NotificationKind> = new Map(
  (['output', 'exited', 'closed', 'policyDecision'] as const).map((key) => [
    serverNotifications[key].name,
    key,
  ]),
);

type EarlyNotification = { readonly kind: NotificationKind; readonly params: unknown };

/** Room for the envelope and the other members around the base64 of a `fs/writeFile` request. */
const WRITE_FILE_OVERHEAD_BYTES = 1024;

export class ExecServerClient implements ExecBackend, FileSystemBackend {
  readonly #url: string;
  readonly #options: ExecServerClientOptions;
  #peer: RpcPeer;
  /** Set while a lost connection is being re-established; see `ProcessLink.reconnecting`. */
  #reconnecting: Promise<boolean> | null = null;
  readonly #stopReconnecting = new AbortController();
  #state: ClientConnectionState = 'connected';
  readonly #stateListeners = new Set<(state: ClientConnectionState, detail: string) => void>();
  /** What the process handles call through: the connection of the moment. */
  readonly #link: ProcessLink;
  readonly #handles = new Map<string, RemoteProcess>();
  /** Notifications for processes whose start response has not arrived yet (§4: they may lead). */
  readonly #early = new Map<string, EarlyNotification[]>();
  readonly #closeTimeoutMs: number;
  readonly #retainedBytes: number;
  #sessionId: string | null = null;
  #serverVersion: string | null = null;
  #capabilities: ServerCapabilities | null = null;
  #environmentInfo: EnvironmentInfo | null = null;
  #protocol: ProtocolShape = 'seed';
  #nextProcess = 1;
  #closing: Promise<void> | null = null;
  /** The caller asked for a session it may resume: `close()` leaves its processes running. */
  readonly #keepOnClose: boolean;

  private constructor(url: string, peer: RpcPeer, options: ExecServerClientOptions) {
    this.#url = url;
    this.#options = options;
    this.#peer = peer;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.#retainedBytes = options.retainedBytesPerProcess ?? DEFAULT_CLIENT_RETAINED_BYTES;
    this.#keepOnClose = options.resumeSessionId !== undefined;
    const reconnecting = () => this.#reconnecting;
    this.#link = {
      call: (method, params) => this.#call(method, params),
      get reconnecting() {
        return reconnecting();
      },
      resumable: options.reconnect === true,
    };
    this.#attach(peer);
  }

  /**
   * Connects to `ws://IP:PORT` or `stdio:<command>` (the command is run with `/bin/sh -c` and speaks
   * JSON lines on its stdin and stdout, e.g. `stdio:ssh host execvisor serve --listen stdio`),
   * performs the handshake and, when resuming, adopts the session's processes.
   */
  static async connect(url: string, options: ExecServerClientOptions = {}): Promise<ExecServerClient> {
    const peer = await RpcPeer.open(url, {
      token: options.token,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    const client = new ExecServerClient(url, peer, options);
    try {
      await client.#handshake(options);
    } catch (error) {
      await peer.close();
      throw error;
    }
    return client;
  }

  /** The URL this client connected to. */
  get url(): string {
    return this.#url;
  }

  /** The connection now: see `ClientConnectionState`. */
  get state(): ClientConnectionState {
    return this.#state;
  }

  /**
   * Calls `listener` on every change of `state`, with a detail (why the connection was lost, or
   * why it was not resumed). Returns the function that removes the listener.
   */
  onStateChange(listener: (state: ClientConnectionState, detail: string) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** The server session of this connection (pass it as `resumeSessionId` to resume). */
  get sessionId(): string | null {
    return this.#sessionId;
  }

  get serverVersion(): string | null {
    return this.#serverVersion;
  }

  get capabilities(): ServerCapabilities | null {
    return this.#capabilities;
  }

  /** The server's `environmentInfo` from `initialize` (current-shape servers), else null. */
  get environmentInfo(): EnvironmentInfo | null {
    return this.#environmentInfo;
  }

  /** The shape this client speaks to its server. */
  get protocol(): ProtocolShape {
    return this.#protocol;
  }

  /** `environment/info`. */
  environment(): Promise<EnvironmentInfo> {
    return this.#call(requestMethods.environmentInfo, {});
  }

  /** Starts a process on the server; the handle is a `RemoteProcess` (`server` names this server). */
  start(options: StartOptions): Promise<RemoteProcess> {
    return startWithLimits(options, (checked) => this.#start(checked)) as Promise<RemoteProcess>;
  }

  /** As `ExecRuntime.exec`: starts, waits for the close, resolves with the whole output. */
  exec<O extends ExecOptions>(options: O): Promise<ExecResultOf<O>> {
    return execOn(this, options);
  }

  async #start(options: StartOptions): Promise<RemoteProcess> {
    if (this.#closing !== null) throw new ClosedError('client');
    const processId = options.processId ?? this.#freshProcessId();
    this.#early.set(processId, []);
    try {
      const started = this.#call(requestMethods.start, {
        processId,
        argv: [...options.argv],
        cwd: options.cwd,
        env: { ...options.env },
        tty: options.tty ?? false,
        arg0: options.arg0 ?? null,
        sandbox: options.sandbox ?? null,
        pipeStdin: options.pipeStdin ?? false,
        size: options.size ?? null,
        flowControl: options.flowControl ?? null,
        ...(options.envPolicy != null
          ? {
              envPolicy: {
                ...options.envPolicy,
                exclude: [...options.envPolicy.exclude],
                includeOnly: [...options.envPolicy.includeOnly],
                set: { ...options.envPolicy.set },
              },
            }
          : {}),
        ...(options.metadata != null ? { metadata: options.metadata } : {}),
        // Managed network: only when asked, so a server of the seed's shape sees exactly its members.
        ...(options.enforceManagedNetwork != null
          ? { enforceManagedNetwork: options.enforceManagedNetwork }
          : {}),
        ...(options.networkProxy != null ? { networkProxy: options.networkProxy } : {}),
        ...(options.managedNetwork != null
          ? {
              managedNetwork: {
                ...options.managedNetwork,
                loopbackPorts:
                  options.managedNetwork.loopbackPorts == null
                    ? options.managedNetwork.loopbackPorts
                    : [...options.managedNetwork.loopbackPorts],
              },
            }
          : {}),
      });
      // The start answer has no pid. A list of just this process, sent right behind the start
      // (the server answers it once that start has settled, by a direct lookup), gives it without
      // a second round trip. A server without the method (upstream's) costs only the pid.
      const listed = this.#hasMethod(requestMethods.list.name)
        ? this.#call(requestMethods.list, { processId }).then(
            ({ processes }) => processes.find((p) => p.processId === processId),
            () => undefined,
          )
        : Promise.resolve(undefined);
      // In the current shape `sandboxType` comes back camelCase; the adapter gives ours.
      const sandboxType = (await started).sandboxType as SandboxType;
      const info = await listed;
      const flowControlled = options.flowControl != null;
      const handle = new RemoteProcess(this.#link, {
        processId,
        server: this.#url,
        tty: options.tty ?? false,
        sandboxType,
        pid: info?.pid ?? null,
        startedAtMs: info?.startedAtMs ?? Date.now(),
        retainedBytes: this.#retainedBytes,
        ackDelivered: flowControlled,
        keepUnacknowledged: flowControlled,
      });
      this.#adopt(handle);
      return handle;
    } finally {
      this.#early.delete(processId);
    }
  }

  /** A process of this client that has not closed yet. */
  get(processId: string): RemoteProcess | undefined {
    return this.#handles.get(processId);
  }

  async list(): Promise<ProcessInfo[]> {
    const { processes } = await this.#call(requestMethods.list, {});
    return [...processes];
  }

  /** `fs/readFile`. */
  async readFile(params: ReadFileParams): Promise<ReadFileResult> {
    const { dataBase64 } = await this.#call(requestMethods.readFile, {
      path: params.path,
      ...follow(params.followSymlinks),
      sandbox: params.sandbox ?? null,
    });
    return { data: Buffer.from(dataBase64, 'base64') };
  }

  /**
   * `fs/writeFile`. A request larger than the server's maximum message size would make the server
   * close the whole connection (code 1009), so it is refused here with `EXEC_ERR_LIMIT` instead.
   */
  async writeFile(params: WriteFileParams): Promise<void> {
    const dataBase64 = toBase64(params.data);
    const limit = this.#capabilities?.maxMessageBytes;
    if (limit !== undefined) {
      const size =
        dataBase64.length +
        Buffer.byteLength(params.path) * 6 +
        Buffer.byteLength(JSON.stringify(params.sandbox ?? null)) +
        WRITE_FILE_OVERHEAD_BYTES;
      if (size > limit) {
        throw new LimitError(
          `fs/writeFile of ${params.data.byteLength} bytes does not fit in the server's maximum message size ` +
            `(${limit} bytes, base64 included); write the file in parts or raise the server's limit`,
        );
      }
    }
    await this.#call(requestMethods.writeFile, {
      path: params.path,
      dataBase64,
      ...follow(params.followSymlinks),
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/createDirectory`. */
  async createDirectory(params: CreateDirectoryParams): Promise<void> {
    await this.#call(requestMethods.createDirectory, {
      path: params.path,
      recursive: params.recursive ?? null,
      ...follow(params.followSymlinks),
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/getMetadata`. An older server that does not report `isSymlink` and `size` gives false and 0. */
  async getMetadata(params: GetMetadataParams): Promise<FileMetadata> {
    const metadata = await this.#call(requestMethods.getMetadata, {
      path: params.path,
      ...follow(params.followSymlinks),
      sandbox: params.sandbox ?? null,
    });
    return { ...metadata, isSymlink: metadata.isSymlink ?? false, size: metadata.size ?? 0 };
  }

  /** `fs/readDirectory`. */
  readDirectory(params: ReadDirectoryParams): Promise<ReadDirectoryResult> {
    return this.#call(requestMethods.readDirectory, {
      path: params.path,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/remove`. */
  async remove(params: RemoveParams): Promise<void> {
    await this.#call(requestMethods.remove, {
      path: params.path,
      recursive: params.recursive ?? null,
      force: params.force ?? null,
      ...follow(params.followSymlinks),
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/copy`. */
  async copy(params: CopyParams): Promise<void> {
    await this.#call(requestMethods.copy, {
      sourcePath: params.sourcePath,
      destinationPath: params.destinationPath,
      recursive: params.recursive,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/canonicalize`. */
  async canonicalize(params: CanonicalizeParams): Promise<string> {
    const { path } = await this.#call(requestMethods.canonicalize, {
      path: params.path,
      sandbox: params.sandbox ?? null,
    });
    return path;
  }

  /** `fs/walk`. */
  walk(params: WalkParams): Promise<WalkOutcome> {
    return this.#call(requestMethods.walk, {
      path: params.path,
      options: params.options,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/open`: a read handle on the file (at most 128 per connection; ids of at most 32 bytes). */
  async openFile(params: { handleId: string; path: string; sandbox?: unknown }): Promise<string> {
    const { handleId } = await this.#call(requestMethods.open, {
      handleId: params.handleId,
      path: params.path,
      sandbox: params.sandbox ?? null,
    });
    return handleId;
  }

  /** `fs/readBlock`: up to `len` bytes (1 B to 1 MiB) at `offset`; `eof` when fewer were left. */
  async readBlock(handleId: string, offset: number, len: number): Promise<{ chunk: Buffer; eof: boolean }> {
    const { chunk, eof } = await this.#call(requestMethods.readBlock, { handleId, offset, len });
    return { chunk: Buffer.from(chunk, 'base64'), eof };
  }

  /** `fs/close`. */
  async closeFile(handleId: string): Promise<void> {
    await this.#call(requestMethods.close, { handleId });
  }

  /** `http/request`, buffered (the body comes back in the answer). */
  httpRequest(params: {
    method: string;
    url: string;
    headers?: { name: string; value: string }[];
    body?: Uint8Array | null;
    timeoutMs?: number | null;
    redirectPolicy?: 'follow' | 'stop';
  }): Promise<HttpRequestResult> {
    return this.#call(requestMethods.httpRequest, {
      method: params.method,
      url: params.url,
      headers: params.headers ?? [],
      ...(params.body != null ? { bodyBase64: toBase64(params.body) } : {}),
      timeoutMs: params.timeoutMs ?? null,
      redirectPolicy: params.redirectPolicy ?? 'follow',
      requestId: `http-${this.#nextProcess++}`,
      streamResponse: false,
    });
  }

  /**
   * Terminates this client's processes that are still running (unless the session is meant to
   * outlive the connection), waits for them to close within `closeTimeoutMs`, then disconnects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * Drops the connection at once, like a network failure (for tests of resume and failure paths):
   * with `reconnect`, the client then reconnects as it would after a real one.
   */
  disconnect(): Promise<void> {
    this.#peer.terminate();
    return this.#peer.close();
  }

  async #close(): Promise<void> {
    this.#stopReconnecting.abort();
    if (this.#reconnecting !== null) await this.#reconnecting;
    if (this.#peer.disconnected === null && !this.#keepOnClose) {
      const live = [...this.#handles.values()].filter((h) => !h.info().closed);
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, this.#closeTimeoutMs).unref());
      await Promise.race([
        Promise.allSettled(live.map(async (h) => (await h.terminate(), await h.closed))),
        deadline,
      ]);
    }
    await this.#peer.close();
    this.#setState('disconnected', 'closed');
  }

  /** A call on the connection of the moment; one made while reconnecting waits for the outcome. */
  #call<M extends AnyRequestMethod>(method: M, params: ParamsIn<M>): Promise<ResultOf<M>> {
    const reconnecting = this.#reconnecting;
    if (reconnecting === null) return this.#peer.call(method, params);
    return reconnecting.then((resumed) =>
      resumed
        ? this.#peer.call(method, params)
        : Promise.reject(new TransportError(this.#peer.disconnected ?? 'exec-server transport disconnected')),
    );
  }

  #attach(peer: RpcPeer): void {
    peer.onNotification = (method, params) => this.#onNotification(method, params);
    peer.onDisconnect = (message) => this.#onDisconnect(message);
  }

  #setState(state: ClientConnectionState, detail: string): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of [...this.#stateListeners]) listener(state, detail);
  }

  #onDisconnect(message: string): void {
    const resumable =
      this.#options.reconnect === true &&
      this.#closing === null &&
      this.#sessionId !== null &&
      this.#capabilities?.detachable === true;
    if (!resumable) {
      for (const handle of this.#handles.values()) handle.fail(message);
      this.#setState('disconnected', message);
      return;
    }
    const reconnecting = this.#reconnect(message);
    this.#reconnecting = reconnecting;
    void reconnecting.then(() => {
      if (this.#reconnecting === reconnecting) this.#reconnecting = null;
    });
    this.#setState('reconnecting', message);
  }

  /**
   * Connects again and resumes the session, trying again while the failure may pass, until
   * `reconnectWithinMs`. Resolves true once resumed (the handles go on: each catches up on what it
   * missed), false once given up (the handles have failed with `EXEC_ERR_TRANSPORT`).
   */
  async #reconnect(lost: string): Promise<boolean> {
    const withinMs =
      this.#options.reconnectWithinMs ?? this.#capabilities?.detachTtlMs ?? DEFAULT_DETACH_TTL_MS;
    const deadline = performance.now() + withinMs;
    const stop = this.#stopReconnecting.signal;
    let delay = RECONNECT_FIRST_DELAY_MS;
    let why = 'the client was closed';
    while (!stop.aborted) {
      const left = deadline - performance.now();
      try {
        const peer = await RpcPeer.open(this.#url, {
          token: this.#options.token,
          connectTimeoutMs: Math.max(1, Math.min(this.#options.connectTimeoutMs ?? 10_000, left)),
        });
        try {
          await this.#resumeOn(peer);
        } catch (error) {
          await peer.close();
          throw error;
        }
        if (stop.aborted) {
          await peer.close();
          break;
        }
        this.#peer = peer;
        this.#attach(peer);
        this.#setState('connected', 'resumed');
        for (const handle of this.#handles.values()) handle.resumed();
        return true;
      } catch (error) {
        why = error instanceof Error ? error.message : String(error);
        const mayPass =
          isTransientConnectFailure(error) || errorCodeOf(error) === ErrorCodes.SESSION_ATTACHED;
        if (!mayPass || performance.now() + delay >= deadline) break;
        await sleep(delay, undefined, { signal: stop }).catch(() => undefined);
        delay = Math.min(delay * 2, RECONNECT_MAX_DELAY_MS);
      }
    }
    const message = `${lost}; the session was not resumed: ${why}`;
    for (const handle of this.#handles.values()) handle.fail(message);
    this.#setState('disconnected', message);
    return false;
  }

  /** The handshake of a resume on `peer`; the session's processes keep their handles. */
  async #resumeOn(peer: RpcPeer): Promise<void> {
    if (this.#protocol === 'current') peer.adapter = currentShapeAdapter;
    const result = await peer.call(requestMethods.initialize, {
      clientName: this.#options.clientName ?? 'execvisor-client',
      resumeSessionId: this.#sessionId,
    });
    this.#capabilities = result.capabilities ?? this.#capabilities;
    this.#environmentInfo = result.environmentInfo ?? this.#environmentInfo;
    peer.notify(clientNotifications.initialized, {});
  }

  async #handshake(options: ExecServerClientOptions): Promise<void> {
    const params: { clientName: string; resumeSessionId?: string | null } = {
      clientName: options.clientName ?? 'execvisor-client',
    };
    if (options.resumeSessionId !== undefined) params.resumeSessionId = options.resumeSessionId;
    const result = await this.#peer.call(requestMethods.initialize, params);
    this.#sessionId = result.sessionId ?? null;
    this.#serverVersion = result.serverVersion ?? null;
    this.#capabilities = result.capabilities ?? null;
    this.#environmentInfo = result.environmentInfo ?? null;
    const wanted = options.protocol ?? 'auto';
    this.#protocol =
      wanted !== 'auto'
        ? wanted
        : this.#capabilities === null && this.#environmentInfo !== null
          ? 'current'
          : 'seed';
    if (this.#protocol === 'current') this.#peer.adapter = currentShapeAdapter;
    this.#peer.notify(clientNotifications.initialized, {});
    if (typeof options.resumeSessionId === 'string' && this.#hasMethod(requestMethods.list.name)) {
      const { processes } = await this.#peer.call(requestMethods.list, {});
      for (const info of processes) {
        const handle = new RemoteProcess(this.#link, {
          processId: info.processId,
          server: this.#url,
          tty: info.tty,
          sandboxType: info.sandboxType,
          pid: info.pid,
          startedAtMs: info.startedAtMs,
          retainedBytes: this.#retainedBytes,
          // Its flowControl is unknown here: acknowledging what events$ delivered is always safe.
          ackDelivered: true,
          // What this client saw of it before is gone with the old client: read what is retained.
          catchUp: true,
        });
        this.#adopt(handle);
      }
    }
  }

  /** Whether the server announced `method` (a server without our capabilities offers the seed's). */
  #hasMethod(method: string): boolean {
    return this.#capabilities?.methods.includes(method) ?? this.#protocol === 'seed';
  }

  #adopt(handle: RemoteProcess): void {
    this.#handles.set(handle.processId, handle);
    const early = this.#early.get(handle.processId) ?? [];
    let leading = 0;
    for (const notification of early) {
      if (notification.kind === 'output') leading += outputChunkSize(notification.params);
    }
    handle.holdLeadingOutput(leading);
    for (const notification of early) this.#deliver(handle, notification.kind, notification.params);
    // Forgotten once closed (or failed): the caller holds what it still needs, and a client that
    // runs processes for days must not keep every handle, and its log, it ever had.
    const forget = () => {
      if (this.#handles.get(handle.processId) === handle) this.#handles.delete(handle.processId);
    };
    void handle.closed.then(forget, forget);
    const disconnect = this.#peer.disconnected;
    if (disconnect !== null) handle.fail(disconnect);
  }

  #freshProcessId(): string {
    for (;;) {
      const id = `proc-${this.#nextProcess++}`;
      if (!this.#handles.has(id) && !this.#early.has(id)) return id;
    }
  }

  #onNotification(method: string, params: unknown): void {
    const kind = NOTIFICATION_KINDS.get(method);
    if (kind === undefined) return;
    const processId = (params as { processId?: unknown } | null)?.processId;
    if (typeof processId !== 'string') return;
    const handle = this.#handles.get(processId);
    if (handle !== undefined) this.#deliver(handle, kind, params);
    else this.#early.get(processId)?.push({ kind, params });
  }

  /**
   * Notifications are checked against the table's schemas; a malformed one is dropped, and the
   * seq jump it leaves is filled by a catch-up read.
   */
  #deliver(handle: RemoteProcess, kind: NotificationKind, params: unknown): void {
    switch (kind) {
      case 'output': {
        // From an output frame: the bytes straight from the frame, checked without the base64 text.
        const bytes = outputChunkBytes(params);
        if (bytes !== null) {
          const { processId, seq, stream } = params as Record<string, unknown>;
          const parsed = serverNotifications.output.params.safeParse({ processId, seq, stream, chunk: '' });
          if (parsed.success) handle.noteOutput(parsed.data, bytes);
          return;
        }
        const parsed = serverNotifications.output.params.safeParse(params);
        if (parsed.success) handle.noteOutput(parsed.data);
        return;
      }
      case 'exited': {
        const parsed = serverNotifications.exited.params.safeParse(params);
        if (parsed.success) handle.noteExited(parsed.data);
        return;
      }
      case 'closed': {
        const parsed = serverNotifications.closed.params.safeParse(params);
        if (parsed.success) handle.noteClosed(parsed.data);
        return;
      }
      case 'policyDecision': {
        const parsed = serverNotifications.policyDecision.params.safeParse(params);
        if (parsed.success) handle.noteNetworkDecision(parsed.data);
        return;
      }
    }
  }
}
