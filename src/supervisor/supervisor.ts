/**
 * The Supervisor: the only owner of process state. It routes every exec call to the right process,
 * enforces ids and limits, and owns the piscina pool that hosts the ProcessActors. Its registry is
 * changed only by its own methods; the duplicate-id check and the insert happen synchronously,
 * before any await, so of two concurrent starts with one id exactly one wins.
 */
import { randomUUID } from 'node:crypto';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { Piscina } from 'piscina';
import {
  ClosedError,
  DuplicateProcessError,
  errorFromPlain,
  LimitError,
  WorkerDiedError,
} from '../errors.js';
import { ProcessHandle } from '../process/process-handle.js';
import { portEndpoint } from '../protocol/comlink-endpoint.js';
import {
  ACTOR_WORKER_READY,
  type ActorEvent,
  type ActorLaunch,
  type ActorTask,
  type ActorWorkerReady,
  type ProcessActorControl,
} from '../protocol/process-actor.js';
import type { ResolvedRuntimeOptions } from '../runtime/options.js';
import type { ExecProcess, ProcessInfo, StartOptions } from '../runtime/types.js';
import { processActorWorkerPath } from '../runtime/worker-path.js';
import { signalGroup } from '../spawn/signals.js';
import { OrphanReaper } from './orphan-reaper.js';
import { normalizeStart } from './validate-start.js';

export interface RuntimeStats {
  readonly liveProcesses: number;
  readonly retainedProcesses: number;
  readonly startsTotal: number;
  readonly startFailuresTotal: number;
  readonly exitsTotal: number;
  readonly outputBytesTotal: number;
  readonly workerFailuresTotal: number;
}

/** A processId namespace. */
export class Session {
  readonly id: string;
  readonly processes = new Map<string, ProcessHandle>();
  closed = false;
  #counter = 0;

  constructor(id: string) {
    this.id = id;
  }

  nextProcessId(): string {
    let id: string;
    do id = `proc-${++this.#counter}`;
    while (this.processes.has(id));
    return id;
  }
}

interface Tracked {
  readonly eventPort: MessagePort;
  control: Comlink.Remote<ProcessActorControl> | null;
  removalTimer: NodeJS.Timeout | null;
}

export class Supervisor {
  readonly #options: ResolvedRuntimeOptions;
  readonly #pool: Piscina<ActorTask, void>;
  readonly #sessions = new Map<string, Session>();
  readonly #tracked = new Map<ProcessHandle, Tracked>();
  readonly #reaper: OrphanReaper;
  readonly #readyThreads = new Set<number>();
  #readyWaiters: (() => void)[] = [];
  #live = 0;
  #closed = false;
  #stats = {
    startsTotal: 0,
    startFailuresTotal: 0,
    exitsTotal: 0,
    outputBytesTotal: 0,
    workerFailuresTotal: 0,
  };

  constructor(options: ResolvedRuntimeOptions) {
    this.#options = options;
    this.#reaper = new OrphanReaper(options.logger);
    this.#pool = new Piscina<ActorTask, void>({
      filename: processActorWorkerPath(),
      minThreads: options.workers,
      maxThreads: options.workers,
      // One pending task per process: every process on a worker must be able to run at once.
      concurrentTasksPerWorker: options.maxProcesses,
      // With atomics a worker does not process port messages between tasks.
      atomics: 'disabled',
      // Workers own live children (tied to their thread): they must never idle out.
      idleTimeout: 2 ** 31 - 1,
      maxQueue: 'auto',
    });
    // A worker that dies with no task in flight is reported here; the pool replaces it.
    this.#pool.on('error', (error: unknown) =>
      options.logger.error('process actor worker failed', { error: String(error) }),
    );
    this.#pool.on('message', (message: unknown) => {
      const ready = message as Partial<ActorWorkerReady> | null;
      if (ready?.type !== ACTOR_WORKER_READY || typeof ready.threadId !== 'number') return;
      this.#readyThreads.add(ready.threadId);
      this.#checkReady();
    });
  }

  /**
   * Resolves once every worker thread of the pool has loaded the actor module (or after
   * `timeoutMs`). Stopping a thread that is still loading modules aborts the process on Node 20.
   */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.#allReady()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#readyWaiters.push(done);
    });
  }

  #allReady(): boolean {
    const threads = this.#pool.threads;
    return (
      threads.length >= this.#options.workers && threads.every((t) => this.#readyThreads.has(t.threadId))
    );
  }

  #checkReady(): void {
    if (!this.#allReady()) return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter();
  }

  openSession(id: string = randomUUID()): Session {
    if (this.#closed) throw new ClosedError();
    const session = new Session(id);
    this.#sessions.set(id, session);
    return session;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  stats(): RuntimeStats {
    let retained = 0;
    for (const session of this.#sessions.values()) retained += session.processes.size;
    return { liveProcesses: this.#live, retainedProcesses: retained, ...this.#stats };
  }

  get(session: Session, processId: string): ProcessHandle | undefined {
    return session.processes.get(processId);
  }

  list(session: Session): ProcessInfo[] {
    return [...session.processes.values()]
      .filter((handle) => handle.state !== 'starting')
      .map((h) => h.info());
  }

  /**
   * Starts a process in `session`. Everything up to the registry insert is synchronous; the promise
   * settles once the actor has spawned the process (or failed to).
   */
  start(session: Session, options: StartOptions): Promise<ProcessHandle> {
    try {
      return this.#start(session, options);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #start(session: Session, options: StartOptions): Promise<ProcessHandle> {
    if (this.#closed) throw new ClosedError();
    if (session.closed) throw new ClosedError('session');
    const start = normalizeStart(options);
    const processId = start.processId ?? session.nextProcessId();
    if (session.processes.has(processId)) throw new DuplicateProcessError(processId);
    if (this.#live >= this.#options.maxProcesses) {
      throw new LimitError(
        `too many processes: the limit of ${this.#options.maxProcesses} live processes is reached`,
      );
    }
    const handle = new ProcessHandle({
      processId,
      tty: start.tty,
      retainedBytes: this.#options.retainedBytesPerProcess,
      flowControl: start.flowControl,
      now: Date.now,
    });
    session.processes.set(processId, handle);
    this.#live++;
    this.#stats.startsTotal++;

    const launch: ActorLaunch = {
      processId,
      argv: start.argv,
      cwd: start.cwd,
      env: start.env,
      tty: start.tty,
      pipeStdin: start.pipeStdin,
      arg0: start.arg0,
      sandbox: start.sandbox,
      size: start.size,
      flowControl: start.flowControl,
      batchBytes: this.#options.batchBytes,
    };
    const control = new MessageChannel();
    const events = new MessageChannel();
    const tracked: Tracked = { eventPort: events.port1, control: null, removalTimer: null };
    this.#tracked.set(handle, tracked);

    return new Promise<ProcessHandle>((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        this.#stats.startFailuresTotal++;
        this.#forget(session, handle, true);
        reject(error);
      };
      events.port1.on('message', (event: ActorEvent) => {
        switch (event.type) {
          case 'spawned': {
            const remote = Comlink.wrap<ProcessActorControl>(portEndpoint(control.port1));
            tracked.control = remote;
            // Every answer the actor posted arrives before the port reports it closed.
            control.port1.once('close', () => {
              handle.actorGone();
              if (tracked.control !== null) {
                tracked.control[Comlink.releaseProxy]();
                tracked.control = null;
              }
            });
            this.#reaper.add(event.pid);
            handle.markRunning(event.pid, event.sandboxType, event.threadId, remote, () =>
              this.#onClosed(session, handle),
            );
            settled = true;
            resolve(handle);
            // A session closed while this start was in flight: its processes must not survive it.
            if (session.closed || this.#closed) void handle.terminate();
            return;
          }
          case 'spawnFailed':
            fail(errorFromPlain(event.error));
            return;
          case 'log':
            this.#options.logger[event.level](event.message, { processId });
            return;
          case 'output':
            this.#stats.outputBytesTotal += event.data.byteLength;
            handle.applyEvent(event);
            return;
          default:
            handle.applyEvent(event);
        }
      });
      const task: ActorTask = { launch, controlPort: control.port2, eventPort: events.port2 };
      this.#pool.run(task, { transferList: [control.port2, events.port2] }).then(
        () => undefined,
        (error: unknown) => {
          const message = `process actor worker died: ${error instanceof Error ? error.message : String(error)}`;
          // A worker stopped after this process closed (the pool shutting down) harmed nothing.
          if (handle.log.isClosed) return;
          if (!settled) {
            fail(new WorkerDiedError(message, { cause: error }));
            return;
          }
          this.#stats.workerFailuresTotal++;
          this.#options.logger.error(message, { processId });
          // The children of a dead worker are orphans now: kill their whole group.
          const pid = handle.pid;
          if (pid !== null && !handle.log.isClosed) signalGroup(pid, 'SIGKILL');
          handle.fail(message, 128 + 9);
        },
      );
    });
  }

  #onClosed(session: Session, handle: ProcessHandle): void {
    if (handle.pid !== null) this.#reaper.remove(handle.pid);
    this.#live--;
    this.#stats.exitsTotal++;
    const tracked = this.#tracked.get(handle);
    if (tracked === undefined) return;
    this.#releasePorts(tracked);
    if (session.closed) {
      this.#forget(session, handle, false);
      return;
    }
    tracked.removalTimer = setTimeout(
      () => this.#forget(session, handle, false),
      this.#options.exitedRetentionMs,
    );
    tracked.removalTimer.unref();
  }

  #releasePorts(tracked: Tracked): void {
    tracked.eventPort.close();
  }

  /** Removes a process from its session; `live` is true when it never reached closed. */
  #forget(session: Session, handle: ProcessHandle, live: boolean): void {
    const tracked = this.#tracked.get(handle);
    if (tracked !== undefined) {
      if (tracked.removalTimer !== null) clearTimeout(tracked.removalTimer);
      if (live) this.#releasePorts(tracked);
      this.#tracked.delete(handle);
    }
    if (live) this.#live--;
    if (session.processes.get(handle.processId) === handle) session.processes.delete(handle.processId);
    handle.markRemoved();
  }

  /** Terminates every process of the session, waits for them to close, and forgets the session. */
  async closeSession(session: Session): Promise<void> {
    if (session.closed) return;
    session.closed = true;
    await this.#terminateAll([...session.processes.values()]);
    for (const handle of [...session.processes.values()]) {
      if (handle.log.isClosed) this.#forget(session, handle, false);
    }
    this.#sessions.delete(session.id);
  }

  async #terminateAll(handles: ProcessHandle[]): Promise<void> {
    const live = handles.filter((handle) => !handle.log.isClosed);
    await Promise.all(live.map((handle) => handle.terminate().catch(() => false)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#options.closeTimeoutMs);
    });
    await Promise.race([Promise.all(live.map((handle) => handle.closed)), timeout]);
    clearTimeout(timer);
  }

  /** Graceful: terminate every process, wait for them to close, stop the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#sessions.values()].map((session) => this.closeSession(session)));
    await this.destroy();
  }

  /** At once: kill every process group and stop the workers. */
  async destroy(): Promise<void> {
    this.#closed = true;
    for (const handle of this.#tracked.keys()) {
      const pid = handle.pid;
      if (pid !== null && !handle.log.isClosed) signalGroup(pid, 'SIGKILL');
    }
    await this.ready(this.#options.closeTimeoutMs);
    await this.#pool.destroy();
    this.#reaper.close();
    for (const [handle, tracked] of this.#tracked) {
      handle.fail('the runtime was destroyed', 128 + 9);
      if (tracked.removalTimer !== null) clearTimeout(tracked.removalTimer);
      this.#releasePorts(tracked);
    }
    this.#tracked.clear();
    for (const session of this.#sessions.values()) session.closed = true;
  }

  /**
   * Runs a short task in the pool (for example a file operation), off the main thread. `filename`
   * is a compiled worker module whose default export takes `task`.
   */
  runPoolTask<T, R>(filename: string, task: T): Promise<R> {
    if (this.#closed) return Promise.reject(new ClosedError());
    return this.#pool.run(task as unknown as ActorTask, { filename }) as unknown as Promise<R>;
  }

  /** Test and fault-injection hook: terminates the worker thread that owns `handle`. */
  async terminateWorkerOf(handle: ExecProcess): Promise<void> {
    if (!(handle instanceof ProcessHandle)) return;
    const worker = this.#pool.threads.find((thread) => thread.threadId === handle.threadId);
    if (worker !== undefined) await worker.terminate();
  }
}
