/**
 * `ExecRuntime`: the in-process API. It checks its options, then delegates to a Supervisor held in
 * a private field; nothing internal shows on the public object.
 */
import { ClosedError } from '../errors.js';
import { FileSystemRunner } from '../fs/file-system.js';
import type { FileIdentity, FsOutcome, FsTask } from '../fs/protocol.js';
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
import { Supervisor, type RuntimeStats, type Session } from '../supervisor/supervisor.js';
import {
  resolveRuntimeOptions,
  type ExecRuntimeOptions,
  type ResolvedRuntimeOptions,
} from '../core/options.js';
import { execOn, type ExecOptions, type ExecResultOf } from '../core/exec.js';
import { startWithLimits } from '../core/start-limits.js';
import type { ExecBackend, ExecProcess, ProcessInfo, StartOptions } from '../core/types.js';
import { workerPath } from '../core/worker-path.js';
import { resolveSandboxTools, type BwrapSource, type SandboxTools } from '../sandbox/tools.js';
import type { NetworkDecisionMetrics } from '../network/decisions.js';
import { RuntimeNetwork } from '../network/runtime-network.js';

/** One line at start saying which bwrap sandboxes this runtime's processes, or why none does. */
function logSandboxTools(
  options: ResolvedRuntimeOptions,
  tools: SandboxTools & { readonly bwrapSource?: BwrapSource },
): void {
  const { logger } = options;
  if ('error' in tools.bwrap) {
    if (process.platform === 'linux') {
      logger.warn(
        {
          reason: tools.bwrap.error,
        },
        'sandbox: no bwrap; sandboxed starts fail under require and run unsandboxed under auto',
      );
    }
  } else {
    logger.info({ bwrap: tools.bwrap.path, source: tools.bwrapSource }, 'sandbox: using bwrap');
  }
  if ('error' in tools.launcher) {
    logger.warn(
      {
        reason: tools.launcher.error,
      },
      'sandbox: no launcher; sandboxed starts and terminals with arg0 fail',
    );
  }
}

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
    return startWithLimits(options, (checked) => this.#supervisor.start(this.#session, checked));
  }

  /** Starts a process in this session and resolves with its output once it closed (see ExecRuntime). */
  exec<O extends ExecOptions>(options: O): Promise<ExecResultOf<O>> {
    return execOn(this, options);
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
  readonly #network: RuntimeNetwork;

  private constructor(options: ResolvedRuntimeOptions) {
    this.#options = options;
    // Checked now; the proxy itself starts with the first start that needs it.
    this.#network = new RuntimeNetwork({ ...options.networkProxy, logger: options.logger });
    // Resolved once, here: every sandboxed start and fs operation of this runtime uses these.
    const tools = resolveSandboxTools({ explicit: options.bwrapPath, env: process.env.EXECVISOR_BWRAP });
    logSandboxTools(options, tools);
    this.#supervisor = new Supervisor(options, tools, this.#network);
    this.#default = new ExecSession(this.#supervisor, this.#supervisor.openSession('default'));
    // File I/O runs on the pool's worker threads, never on the caller's thread.
    const fsWorker = workerPath('fs-operation.js');
    this.#fs = new FileSystemRunner((task) =>
      this.#supervisor.runPoolTask<FsTask, FsOutcome>(fsWorker, { ...task, sandboxTools: tools }),
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

  /**
   * Starts a process, waits for it to close and resolves with `{stdout, stderr, exitCode, signal,
   * timedOut, durationMs}`: output decoded as UTF-8 (across chunk boundaries) or, with
   * `encoding: 'buffer'`, as bytes; at most `maxBuffer` bytes per stream. A non-zero exit is a
   * result, not an error.
   */
  exec<O extends ExecOptions>(options: O): Promise<ExecResultOf<O>> {
    return this.#default.exec(options);
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

  /** `fs/canonicalize`: the path with every symlink resolved (it must exist). */
  canonicalize(params: CanonicalizeParams): Promise<string> {
    return this.#fs.canonicalize(params);
  }

  /** `fs/walk`: breadth-first, sorted, bounded (see `WalkOptions`). */
  walk(params: WalkParams): Promise<WalkOutcome> {
    return this.#fs.walk(params);
  }

  /**
   * @internal `fs/open` under a sandbox: opens `path` in the sandboxed helper and names its inode,
   * so the server can read that same file.
   */
  identifyFile(path: string, sandbox: unknown): Promise<FileIdentity> {
    return this.#fs.identify(path, sandbox);
  }

  /** A new, separate processId namespace. */
  session(): ExecSession {
    if (this.#supervisor.isClosed) throw new ClosedError();
    return new ExecSession(this.#supervisor, this.#supervisor.openSession());
  }

  stats(): RuntimeStats {
    return { ...this.#supervisor.stats(), networkDecisions: this.#network.metrics.snapshot() };
  }

  /** Managed network: the proxy's decisions by decision and reason since the runtime started. */
  get networkMetrics(): NetworkDecisionMetrics {
    return this.#network.metrics;
  }

  /**
   * Managed network: `port` on this host's loopback is never a destination through the proxy (the
   * server protects its own listen port, so a process cannot drive the server that started it).
   * Returns the function that lifts it.
   */
  protectNetworkPort(port: number): () => void {
    return this.#network.protectPort(port);
  }

  /** Graceful: terminates every process, waits for them to close (bounded), stops the pool and the proxy. */
  async close(): Promise<void> {
    await this.#supervisor.close();
    await this.#network.close();
  }

  /** At once: kills every process group and stops the workers and the proxy. */
  async destroy(): Promise<void> {
    await this.#supervisor.destroy();
    await this.#network.close();
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
