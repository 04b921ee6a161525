/**
 * The Supervisor: the only owner of process state. It routes every exec call to the right process,
 * enforces ids and limits, and owns the piscina pool that hosts the ProcessActors. Its registry is
 * changed only by its own methods; the duplicate-id check and the insert happen synchronously,
 * before any await, so of two concurrent starts with one id exactly one wins.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import {
  ClosedError,
  DuplicateProcessError,
  errorFromPlain,
  LimitError,
  WorkerDiedError,
} from '../errors.js';
import { OutputBudget } from '../process/output-budget.js';
import { ProcessHandle } from '../process/process-handle.js';
import {
  ACTOR_WORKER_READY,
  type ActorEventBatch,
  type ActorLaunch,
  type ActorNetwork,
  type ActorTask,
  type ActorWorkerReady,
  type AddressedEvent,
} from '../actor/messages.js';
import type { ManagedNetworkPlan } from '../network/config.js';
import type { DecisionCount } from '../network/decisions.js';
import type { ProxyLease } from '../network/proxy.js';
import type { RuntimeNetwork } from '../network/runtime-network.js';
import type { ResolvedRuntimeOptions } from '../core/options.js';
import type { ExecProcess, ProcessInfo, StartOptions } from '../core/types.js';
import { processActorWorkerPath } from '../core/worker-path.js';
import type { SandboxTools } from '../sandbox/tools.js';
import { chooseSpawner, maxReadBytes, type SpawnerKind } from '../spawn/backend.js';
import { nativeSpawner } from '../spawn/native-binding.js';
import { signalGroup } from '../spawn/signals.js';
import { Containment, type ContainmentKind } from './containment.js';
import { OrphanReaper } from './orphan-reaper.js';
import { normalizeStart } from './validate-start.js';
import { WorkerLink } from './worker-link.js';

export interface RuntimeStats {
  readonly liveProcesses: number;
  readonly retainedProcesses: number;
  readonly startsTotal: number;
  readonly startFailuresTotal: number;
  readonly exitsTotal: number;
  readonly outputBytesTotal: number;
  readonly workerFailuresTotal: number;
  /** Output held in memory by every process's log: retained output, unacknowledged output among it. */
  readonly retainedOutputBytes: number;
  /** Unacknowledged output of flow-controlled processes, in flight from the workers or in logs. */
  readonly unacknowledgedOutputBytes: number;
  /** The bound on the two above (`outputBudgetBytes`). */
  readonly outputBudgetBytes: number;
  /** Flow-controlled processes whose output is not being read right now (window or budget). */
  readonly pausedProcesses: number;
  /** Managed network: the proxy's decisions by decision and reason (set by `ExecRuntime`). */
  readonly networkDecisions?: readonly DecisionCount[];
}

/** A processId namespace. */
export class Session {
  readonly id: string;
  readonly processes = new Map<string, ProcessHandle>();
  closed = false;
  /** The session's cgroup (made at its first start), or null without one. */
  cgroupDir: string | null | undefined = undefined;
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

/** A process from its start until it is forgotten. */
interface Tracked {
  readonly actorId: number;
  readonly session: Session;
  readonly handle: ProcessHandle;
  /** Settles the start: the actor spawned (or failed to). */
  onSpawnEvent: ((event: AddressedEvent, link: WorkerLink) => void) | null;
  /** The worker hosting the process, once spawned. */
  link: WorkerLink | null;
  removalTimer: NodeJS.Timeout | null;
  /** The process's cgroup, or null. */
  readonly cgroup: string | null;
  /** Managed network: the process's lease with the proxy, closed when it closes. */
  lease: ProxyLease | null;
}

export class Supervisor {
  readonly #options: ResolvedRuntimeOptions;
  readonly #sandboxTools: SandboxTools | undefined;
  readonly #network: RuntimeNetwork | null;
  readonly #pool: Piscina<ActorTask, void>;
  readonly #sessions = new Map<string, Session>();
  /** Live and retained processes by actor id. */
  readonly #tracked = new Map<number, Tracked>();
  readonly #reaper: OrphanReaper;
  readonly #spawner: SpawnerKind;
  readonly #containment: Containment;
  /** One link per worker thread that has announced itself. */
  readonly #links = new Map<number, WorkerLink>();
  readonly #budget: OutputBudget;
  /** Actors that reported their output paused (flow control), until they resume or close. */
  readonly #paused = new Set<number>();
  #nextActorId = 1;
  #readyWaiters: (() => void)[] = [];
  #live = 0;
  #closed = false;
  #destroying: Promise<void> | null = null;
  #stats = {
    startsTotal: 0,
    startFailuresTotal: 0,
    exitsTotal: 0,
    outputBytesTotal: 0,
    workerFailuresTotal: 0,
  };

  constructor(options: ResolvedRuntimeOptions, sandboxTools?: SandboxTools, network?: RuntimeNetwork) {
    this.#options = options;
    this.#sandboxTools = sandboxTools;
    this.#network = network ?? null;
    this.#budget = new OutputBudget(options.outputBudgetBytes, options.batchBytes);
    const { logger } = options;
    // Decided once, before anything starts; an explicit choice that cannot be had throws here.
    const spawner = chooseSpawner(
      options.spawner,
      options.spawner === 'node' ? { available: false, reason: 'not asked for' } : nativeSpawner(),
    );
    this.#spawner = spawner.kind;
    if (spawner.warning !== null) logger.warn({ reason: spawner.warning }, 'spawner: node');
    else logger.info({ spawner: spawner.kind }, 'spawner chosen');
    this.#containment = Containment.create(options.containment, logger);
    this.#reaper = new OrphanReaper(options.logger);
    if (this.#containment.runtimeDir !== null) this.#reaper.watchCgroup(this.#containment.runtimeDir);
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
      options.logger.error({ err: error }, 'process actor worker failed'),
    );
    this.#pool.on('message', (message: unknown) => {
      const ready = message as Partial<ActorWorkerReady> | null;
      if (
        ready?.type !== ACTOR_WORKER_READY ||
        ready.controlPort === undefined ||
        ready.eventPort === undefined
      ) {
        return;
      }
      this.#addLink(ready as ActorWorkerReady);
    });
  }

  #addLink(ready: ActorWorkerReady): void {
    const link = new WorkerLink(ready.threadId, ready.controlPort, ready.eventPort, (batch) =>
      this.#onBatch(link, batch),
    );
    const worker = this.#pool.threads.find((thread) => thread.threadId === ready.threadId);
    if (worker !== undefined) link.watch(worker);
    this.#links.set(ready.threadId, link);
    link.setRef(this.#live > 0);
    void link.gone.then(() => {
      if (this.#links.get(ready.threadId) === link) this.#links.delete(ready.threadId);
    });
    this.#checkReady();
  }

  /** Live processes keep the event loop alive (through the worker links); an idle runtime does not. */
  #changeLive(delta: number): void {
    const before = this.#live;
    this.#live += delta;
    if ((before === 0) !== (this.#live === 0)) {
      for (const link of this.#links.values()) link.setRef(this.#live > 0);
    }
  }

  /** Applies one worker's batch of events, in order. */
  #onBatch(link: WorkerLink, batch: ActorEventBatch): void {
    for (const event of batch.events) {
      const tracked = this.#tracked.get(event.actorId);
      if (tracked === undefined) {
        // Output nobody will hold: what it counted against the budget is given back.
        if (event.type === 'output' && event.charged === true) {
          this.#budget.releaseUnacknowledged(event.data.byteLength);
        }
        continue;
      }
      switch (event.type) {
        case 'spawned':
        case 'spawnFailed':
          tracked.onSpawnEvent?.(event, link);
          break;
        case 'log':
          this.#options.logger[event.level]({ processId: tracked.handle.processId }, event.message);
          break;
        case 'output':
          this.#stats.outputBytesTotal += event.data.byteLength;
          tracked.handle.applyEvent(event);
          break;
        case 'flow':
          if (event.paused && !tracked.handle.log.isClosed) this.#paused.add(event.actorId);
          else this.#paused.delete(event.actorId);
          break;
        default:
          tracked.handle.applyEvent(event);
      }
    }
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
    return threads.length >= this.#options.workers && threads.every((t) => this.#links.has(t.threadId));
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

  /** The spawner in use (the `spawner` option, resolved). */
  get spawner(): SpawnerKind {
    return this.#spawner;
  }

  /** The containment in use (the `containment` option, resolved). */
  get containment(): ContainmentKind {
    return this.#containment.kind;
  }

  stats(): RuntimeStats {
    let retained = 0;
    for (const session of this.#sessions.values()) retained += session.processes.size;
    return {
      liveProcesses: this.#live,
      retainedProcesses: retained,
      ...this.#stats,
      retainedOutputBytes: this.#budget.retainedBytes,
      unacknowledgedOutputBytes: this.#budget.unacknowledgedBytes,
      outputBudgetBytes: this.#budget.limitBytes,
      pausedProcesses: this.#paused.size,
    };
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
    const start = normalizeStart(options, this.#options.maxFlowWindowBytes);
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
      budget: this.#budget,
    });
    session.processes.set(processId, handle);
    this.#changeLive(+1);
    this.#stats.startsTotal++;

    const actorId = this.#nextActorId++;
    if (session.cgroupDir === undefined) session.cgroupDir = this.#containment.openSession();
    const cgroup = session.cgroupDir === null ? null : join(session.cgroupDir, `p${actorId}`);
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
      budget: start.flowControl === null ? null : this.#budget.cell.toInit(),
      batchBytes: this.#options.batchBytes,
      ...(this.#sandboxTools !== undefined ? { sandboxTools: this.#sandboxTools } : {}),
      spawner: this.#spawner,
      cgroup,
      maxReadBytes: maxReadBytes(
        this.#options.retainedBytesPerProcess,
        start.flowControl?.highWaterBytes ?? null,
        this.#options.outputBudgetBytes,
      ),
    };
    const tracked: Tracked = {
      actorId,
      session,
      handle,
      onSpawnEvent: null,
      link: null,
      removalTimer: null,
      cgroup,
      lease: null,
    };
    this.#tracked.set(actorId, tracked);

    return new Promise<ProcessHandle>((resolve, reject) => {
      const fail = (error: Error) => {
        if (tracked.onSpawnEvent === null) return;
        tracked.onSpawnEvent = null;
        this.#stats.startFailuresTotal++;
        this.#forget(tracked, true);
        reject(error);
      };
      tracked.onSpawnEvent = (event, link) => {
        if (event.type === 'spawnFailed') {
          fail(errorFromPlain(event.error));
          return;
        }
        if (event.type !== 'spawned') return;
        tracked.onSpawnEvent = null;
        this.#reaper.add(event.pid);
        tracked.link = link;
        link.attach(handle);
        handle.markRunning(event.pid, event.sandboxType, link.threadId, link.controlFor(actorId), () =>
          this.#onClosed(tracked),
        );
        resolve(handle);
        // A session closed while this start was in flight: its processes must not survive it.
        if (session.closed || this.#closed) void handle.terminate();
      };
      const run = (network: ActorNetwork | null) => {
        const task: ActorTask = { actorId, launch: network === null ? launch : { ...launch, network } };
        this.#runTask(task, tracked, fail);
      };
      if (start.network.kind === 'none') run(null);
      else if (start.network.kind === 'blocked') run({ kind: 'blocked' });
      else
        this.#leaseFor(tracked, start.network).then(
          (network) => {
            // The start may have failed meanwhile (the runtime closing): the lease goes with it.
            if (tracked.onSpawnEvent === null) this.#closeLease(tracked);
            else run(network);
          },
          (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
        );
    });
  }

  /**
   * Managed network with a proxy: the process's lease, and what its actor needs of it (the socket
   * and token for a bridge, or the lease's own loopback port when it is not enforced).
   */
  async #leaseFor(
    tracked: Tracked,
    plan: Extract<ManagedNetworkPlan, { kind: 'proxied' | 'advisory' }>,
  ): Promise<ActorNetwork> {
    if (this.#network === null) throw new ClosedError();
    const { handle } = tracked;
    handle.useManagedNetwork();
    const { lease, socketPath } = await this.#network.register({
      processId: handle.processId,
      config: plan.config,
      onDecision: (decision) => handle.recordNetworkDecision(decision),
    });
    tracked.lease = lease;
    const { enableSocks5: socks5, allowLocalBinding } = plan.config.proxy;
    if (plan.kind === 'proxied') {
      return { kind: 'proxied', socketPath, token: lease.token, socks5, allowLocalBinding };
    }
    return { kind: 'advisory', port: await lease.listenLoopback(), socks5, allowLocalBinding };
  }

  #closeLease(tracked: Tracked): void {
    const lease = tracked.lease;
    tracked.lease = null;
    lease?.close().catch(() => undefined);
  }

  #runTask(task: ActorTask, tracked: Tracked, fail: (error: Error) => void): void {
    const { handle } = tracked;
    const processId = handle.processId;
    this.#pool.run(task).then(
      () => undefined,
      (error: unknown) => {
        const message = `process actor worker died: ${error instanceof Error ? error.message : String(error)}`;
        // A worker stopped after this process closed, or after its failed start was settled
        // (the task's own answer still in flight when the pool shut down), harmed nothing.
        if (handle.log.isClosed || !this.#tracked.has(tracked.actorId)) return;
        if (tracked.onSpawnEvent !== null) {
          fail(new WorkerDiedError(message, { cause: error }));
          return;
        }
        this.#stats.workerFailuresTotal++;
        this.#options.logger.error({ processId, err: error }, 'process actor worker died');
        // The children of a dead worker are orphans now: kill their whole tree.
        if (tracked.cgroup !== null) this.#containment.kill(tracked.cgroup);
        const pid = handle.pid;
        if (pid !== null) signalGroup(pid, 'SIGKILL');
        handle.fail(message, 128 + 9);
      },
    );
  }

  #onClosed(tracked: Tracked): void {
    const { handle, session } = tracked;
    this.#closeLease(tracked);
    this.#paused.delete(tracked.actorId);
    if (handle.pid !== null) this.#reaper.remove(handle.pid);
    this.#changeLive(-1);
    this.#stats.exitsTotal++;
    if (session.closed) {
      this.#forget(tracked, false);
      return;
    }
    tracked.removalTimer = setTimeout(() => this.#forget(tracked, false), this.#options.exitedRetentionMs);
    tracked.removalTimer.unref();
  }

  /** Removes a process from its session; `live` is true when it never reached closed. */
  #forget(tracked: Tracked, live: boolean): void {
    const { handle, session } = tracked;
    if (tracked.removalTimer !== null) clearTimeout(tracked.removalTimer);
    this.#closeLease(tracked);
    tracked.link?.detach(handle);
    this.#tracked.delete(tracked.actorId);
    this.#paused.delete(tracked.actorId);
    if (live) this.#changeLive(-1);
    if (session.processes.get(handle.processId) === handle) session.processes.delete(handle.processId);
    handle.markRemoved();
  }

  /**
   * Terminates every process of the session, waits for them to close, kills what is left of their
   * trees (the session's cgroup: descendants of processes that already closed), and forgets the
   * session.
   */
  async closeSession(session: Session): Promise<void> {
    if (session.closed) return;
    session.closed = true;
    await this.#terminateAll([...session.processes.values()]);
    for (const tracked of [...this.#tracked.values()]) {
      if (tracked.session === session && tracked.handle.log.isClosed) this.#forget(tracked, false);
    }
    if (session.cgroupDir) await this.#containment.release(session.cgroupDir, this.#options.closeTimeoutMs);
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

  /** At once: kill every process tree and stop the workers. Idempotent. */
  destroy(): Promise<void> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  async #destroy(): Promise<void> {
    this.#closed = true;
    const runtimeDir = this.#containment.runtimeDir;
    if (runtimeDir !== null) this.#containment.kill(runtimeDir);
    for (const { handle } of this.#tracked.values()) {
      const pid = handle.pid;
      if (pid !== null && !handle.log.isClosed) signalGroup(pid, 'SIGKILL');
    }
    await this.ready(this.#options.closeTimeoutMs);
    await this.#pool.destroy();
    if (runtimeDir !== null) await this.#containment.release(runtimeDir, this.#options.closeTimeoutMs);
    this.#reaper.close();
    for (const tracked of [...this.#tracked.values()]) {
      tracked.handle.fail('the runtime was destroyed', 128 + 9);
      if (tracked.removalTimer !== null) clearTimeout(tracked.removalTimer);
    }
    this.#tracked.clear();
    this.#paused.clear();
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
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
