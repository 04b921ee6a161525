/**
 * `ExecRuntime`: the in-process API. It checks its options, then delegates to a Supervisor held in
 * a private field; nothing internal shows on the public object.
 */
import { ClosedError } from '../errors.js';
import { FileSystemRunner } from '../fs/file-system.js';
import type { FsOutcome, FsTask } from '../fs/protocol.js';
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
import { Supervisor, type RuntimeStats, type Session } from '../supervisor/supervisor.js';
import {
  resolveRuntimeOptions,
  type ExecRuntimeOptions,
  type ResolvedRuntimeOptions,
} from '../core/options.js';
import type { ExecBackend, ExecProcess, ProcessInfo, StartOptions } from '../core/types.js';
import { workerPath } from '../core/worker-path.js';

/** A separate processId namespace on a runtime, closed (its processes terminated) with `close()`. */
export class ExecSession implements ExecBackend {
  readonly #supervisor: Supervisor;
  readonly #session: Session;

  /** @internal */
  constructor(supervisor: Supervisor, session: Session) {
    this.#supervisor = supervisor;
    this.#session = session;
  }

  get id(): string {
    return this.#session.id;
  }

  get isClosed(): boolean {
    return this.#session.closed;
  }

  start(options: StartOptions): Promise<ExecProcess> {
    return this.#supervisor.start(this.#session, options);
  }

  get(processId: string): ExecProcess | undefined {
    return this.#supervisor.get(this.#session, processId);
  }

  list(): Promise<ProcessInfo[]> {
    return Promise.resolve(this.#supervisor.list(this.#session));
  }

  /** Terminates every process of the session, waits for them to close, and forgets them. */
  close(): Promise<void> {
    return this.#supervisor.closeSession(this.#session);
  }
}

export class ExecRuntime implements ExecBackend, FileSystemBackend {
  readonly #options: ResolvedRuntimeOptions;
  readonly #supervisor: Supervisor;
  readonly #default: ExecSession;
  readonly #fs: FileSystemRunner;

  private constructor(options: ResolvedRuntimeOptions) {
    this.#options = options;
    this.#supervisor = new Supervisor(options);
    this.#default = new ExecSession(this.#supervisor, this.#supervisor.openSession('default'));
    // File I/O runs on the pool's worker threads, never on the caller's thread.
    const fsWorker = workerPath('fs-operation.js');
    this.#fs = new FileSystemRunner((task) =>
      this.#supervisor.runPoolTask<FsTask, FsOutcome>(fsWorker, task),
    );
  }

  /** Creates a runtime and its worker pool. Options are validated here (coded errors). */
  static async create(options: ExecRuntimeOptions = {}): Promise<ExecRuntime> {
    const runtime = new ExecRuntime(resolveRuntimeOptions(options));
    // Warm: every worker has loaded the actor before the first start (and before any stop).
    await runtime.#supervisor.ready();
    return runtime;
  }

  /** The resolved options (defaults filled in). */
  get options(): ResolvedRuntimeOptions {
    return this.#options;
  }

  /** The spawner in use: `native` or `node` (the `spawner` option, decided at creation). */
  get spawner(): 'native' | 'node' {
    return this.#supervisor.spawner;
  }

  /** The containment in use: `cgroup` or `process-group` (the `containment` option, decided at creation). */
  get containment(): 'cgroup' | 'process-group' {
    return this.#supervisor.containment;
  }

  start(options: StartOptions): Promise<ExecProcess> {
    return this.#default.start(options);
  }

  get(processId: string): ExecProcess | undefined {
    return this.#default.get(processId);
  }

  list(): Promise<ProcessInfo[]> {
    return this.#default.list();
  }

  /** `fs/readFile`: the whole file (at most 512 MiB). */
  readFile(params: ReadFileParams): Promise<ReadFileResult> {
    return this.#fs.readFile(params);
  }

  /** `fs/writeFile`: creates or truncates the file. */
  writeFile(params: WriteFileParams): Promise<void> {
    return this.#fs.writeFile(params);
  }

  /** `fs/createDirectory` (recursive by default). */
  createDirectory(params: CreateDirectoryParams): Promise<void> {
    return this.#fs.createDirectory(params);
  }

  /** `fs/getMetadata` (follows symlinks). */
  getMetadata(params: GetMetadataParams): Promise<FileMetadata> {
    return this.#fs.getMetadata(params);
  }

  /** `fs/readDirectory`: entries sorted by name. */
  readDirectory(params: ReadDirectoryParams): Promise<ReadDirectoryResult> {
    return this.#fs.readDirectory(params);
  }

  /** `fs/remove` (recursive and force by default). */
  remove(params: RemoveParams): Promise<void> {
    return this.#fs.remove(params);
  }

  /** `fs/copy`: symlinks are copied as symlinks; special files inside a tree are skipped. */
  copy(params: CopyParams): Promise<void> {
    return this.#fs.copy(params);
  }

  /** A new, separate processId namespace. */
  session(): ExecSession {
    if (this.#supervisor.isClosed) throw new ClosedError();
    return new ExecSession(this.#supervisor, this.#supervisor.openSession());
  }

  stats(): RuntimeStats {
    return this.#supervisor.stats();
  }

  /** Graceful: terminates every process, waits for them to close (bounded), stops the pool. */
  close(): Promise<void> {
    return this.#supervisor.close();
  }

  /** At once: kills every process group and stops the workers. */
  destroy(): Promise<void> {
    return this.#supervisor.destroy();
  }

  /**
   * @internal Resolves once every worker thread of the pool has loaded (after a worker died, once
   * its replacement is up), so work started next can spread over all of them.
   */
  workersReady(): Promise<void> {
    return this.#supervisor.ready();
  }

  /** @internal Fault injection for tests: terminates the worker thread that owns `process`. */
  terminateWorkerOf(process: ExecProcess): Promise<void> {
    return this.#supervisor.terminateWorkerOf(process);
  }
}
