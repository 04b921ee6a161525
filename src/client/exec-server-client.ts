/**
 * `ExecServerClient`: the `ExecBackend` interface over the wire. Method calls go through the
 * method table in `rpc/methods.ts`; server errors become `RemoteError`s carrying the ExecError code.
 */
import { ClosedError, LimitError } from '../errors.js';
import { toBase64 } from '../fs/protocol.js';
import type {
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
  WriteFileParams,
} from '../fs/types.js';
import { execOn, type ExecOptions, type ExecResultOf } from '../core/exec.js';
import { startWithLimits } from '../core/start-limits.js';
import type { ExecBackend, ExecProcess, ProcessInfo, StartOptions } from '../core/types.js';
import { clientNotifications, requestMethods, serverNotifications } from '../rpc/methods.js';
import type { ServerCapabilities } from '../rpc/wire-types.js';
import { DEFAULT_CLIENT_RETAINED_BYTES, RemoteProcess } from './remote-process.js';
import { RpcPeer } from './rpc-peer.js';

export interface ExecServerClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string | null;
  /** `clientName` of `initialize`. Default `execvisor-client`. */
  readonly clientName?: string;
  /**
   * Opt into sessions that survive a disconnect: a session id to resume, or null for a fresh one.
   * Absent (the default): the server kills this connection's processes when it closes.
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
}

type NotificationKind = keyof typeof serverNotifications;

/** Wire name → table key, built once from the method table. */
const NOTIFICATION_KINDS: ReadonlyMap<string, NotificationKind> = new Map(
  (Object.keys(serverNotifications) as NotificationKind[]).map((key) => [serverNotifications[key].name, key]),
);

type EarlyNotification = { readonly kind: keyof typeof serverNotifications; readonly params: unknown };

/** Room for the envelope and the other members around the base64 of a `fs/writeFile` request. */
const WRITE_FILE_OVERHEAD_BYTES = 1024;

export class ExecServerClient implements ExecBackend, FileSystemBackend {
  readonly #peer: RpcPeer;
  readonly #handles = new Map<string, RemoteProcess>();
  /** Notifications for processes whose start response has not arrived yet (§4: they may lead). */
  readonly #early = new Map<string, EarlyNotification[]>();
  readonly #closeTimeoutMs: number;
  readonly #retainedBytes: number;
  #sessionId: string | null = null;
  #serverVersion: string | null = null;
  #capabilities: ServerCapabilities | null = null;
  #nextProcess = 1;
  #closing: Promise<void> | null = null;

  private constructor(peer: RpcPeer, options: ExecServerClientOptions) {
    this.#peer = peer;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.#retainedBytes = options.retainedBytesPerProcess ?? DEFAULT_CLIENT_RETAINED_BYTES;
    peer.onNotification = (method, params) => this.#onNotification(method, params);
    peer.onDisconnect = (message) => {
      for (const handle of this.#handles.values()) handle.fail(message);
    };
  }

  /** Connects, performs the handshake and, when resuming, adopts the session's processes. */
  static async connect(url: string, options: ExecServerClientOptions = {}): Promise<ExecServerClient> {
    const peer = await RpcPeer.open(url, {
      token: options.token,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    const client = new ExecServerClient(peer, options);
    try {
      await client.#handshake(options);
    } catch (error) {
      await peer.close();
      throw error;
    }
    return client;
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

  start(options: StartOptions): Promise<ExecProcess> {
    return startWithLimits(options, (checked) => this.#start(checked));
  }

  /** As `ExecRuntime.exec`: starts, waits for the close, resolves with the whole output. */
  exec<O extends ExecOptions>(options: O): Promise<ExecResultOf<O>> {
    return execOn(this, options);
  }

  async #start(options: StartOptions): Promise<ExecProcess> {
    if (this.#closing !== null) throw new ClosedError('client');
    const processId = options.processId ?? this.#freshProcessId();
    this.#early.set(processId, []);
    try {
      const started = this.#peer.call(requestMethods.start, {
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
      });
      // The start answer has no pid. A list of just this process, sent right behind the start
      // (the server answers it once that start has settled, by a direct lookup), gives it without
      // a second round trip. An older server without the filter or the method costs only the pid.
      const listed = this.#peer.call(requestMethods.list, { processId }).then(
        ({ processes }) => processes.find((p) => p.processId === processId),
        () => undefined,
      );
      const { sandboxType } = await started;
      const info = await listed;
      const flowControlled = options.flowControl != null;
      const handle = new RemoteProcess(this.#peer, {
        processId,
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

  get(processId: string): ExecProcess | undefined {
    return this.#handles.get(processId);
  }

  async list(): Promise<ProcessInfo[]> {
    const { processes } = await this.#peer.call(requestMethods.list, {});
    return [...processes];
  }

  /** `fs/readFile`. */
  async readFile(params: ReadFileParams): Promise<ReadFileResult> {
    const { dataBase64 } = await this.#peer.call(requestMethods.readFile, {
      path: params.path,
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
    await this.#peer.call(requestMethods.writeFile, {
      path: params.path,
      dataBase64,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/createDirectory`. */
  async createDirectory(params: CreateDirectoryParams): Promise<void> {
    await this.#peer.call(requestMethods.createDirectory, {
      path: params.path,
      recursive: params.recursive ?? null,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/getMetadata`. */
  getMetadata(params: GetMetadataParams): Promise<FileMetadata> {
    return this.#peer.call(requestMethods.getMetadata, {
      path: params.path,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/readDirectory`. */
  readDirectory(params: ReadDirectoryParams): Promise<ReadDirectoryResult> {
    return this.#peer.call(requestMethods.readDirectory, {
      path: params.path,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/remove`. */
  async remove(params: RemoveParams): Promise<void> {
    await this.#peer.call(requestMethods.remove, {
      path: params.path,
      recursive: params.recursive ?? null,
      force: params.force ?? null,
      sandbox: params.sandbox ?? null,
    });
  }

  /** `fs/copy`. */
  async copy(params: CopyParams): Promise<void> {
    await this.#peer.call(requestMethods.copy, {
      sourcePath: params.sourcePath,
      destinationPath: params.destinationPath,
      recursive: params.recursive,
      sandbox: params.sandbox ?? null,
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

  /** Drops the connection at once, like a network failure (for tests of resume and failure paths). */
  disconnect(): Promise<void> {
    this.#peer.terminate();
    return this.#peer.close();
  }

  async #close(): Promise<void> {
    if (this.#peer.disconnected === null && this.#capabilities?.detachable !== true) {
      const live = [...this.#handles.values()].filter((h) => !h.info().closed);
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, this.#closeTimeoutMs).unref());
      await Promise.race([
        Promise.allSettled(live.map(async (h) => (await h.terminate(), await h.closed))),
        deadline,
      ]);
    }
    await this.#peer.close();
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
    this.#peer.notify(clientNotifications.initialized, {});
    if (typeof options.resumeSessionId === 'string') {
      const { processes } = await this.#peer.call(requestMethods.list, {});
      for (const info of processes) {
        const handle = new RemoteProcess(this.#peer, {
          processId: info.processId,
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

  #adopt(handle: RemoteProcess): void {
    this.#handles.set(handle.processId, handle);
    for (const early of this.#early.get(handle.processId) ?? [])
      this.#deliver(handle, early.kind, early.params);
    void handle.closed.then(
      () => undefined,
      () => undefined,
    );
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
  #deliver(handle: RemoteProcess, kind: keyof typeof serverNotifications, params: unknown): void {
    switch (kind) {
      case 'output': {
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
    }
  }
}
