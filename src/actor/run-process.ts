/**
 * The ProcessActor: one per process, run as one long piscina task that stays pending until the
 * process is closed. It prepares the launch (program lookup, sandbox transform), makes the
 * process's cgroup, spawns through the chosen backend, sends its output and lifecycle through the
 * worker's event queue, and answers the control calls the worker routes to it. It is the one that
 * can kill the process's whole tree: its cgroup, or (without one) its process group and whatever
 * still holds its output.
 */
import { ExecError, InternalError, SpawnError, type PlainError } from '../errors.js';
import type { ActorEvent, ActorLaunch, ActorTask, ActorWriteResult, ProcessControl } from './messages.js';
import type { OutputStream, TerminalSize } from '../core/types.js';
import { BudgetCell } from './budget-cell.js';
import type { ActorHost } from './host.js';
import { prepareSpawn, type PrepareDeps } from '../spawn/prepare.js';
import { startChild } from '../spawn/backend.js';
import { ProcessCgroup } from '../spawn/cgroup.js';
import { osErrorText } from '../spawn/resolve-program.js';
import { killOutputHolders, outputLinks } from '../spawn/output-holders.js';
import { signalGroup } from '../spawn/signals.js';
import type { SpawnHandlers, SpawnedChild } from '../spawn/types.js';

/**
 * After a terminate's kill, once the leader has exited, closed waits this long for the output to
 * reach EOF; then it stops waiting (something the kill could not reach still holds it open).
 */
export const ABANDON_OUTPUT_AFTER_KILL_MS = 1_000;

export async function runProcessActor(task: ActorTask, host: ActorHost, deps?: PrepareDeps): Promise<void> {
  const { actorId, launch } = task;
  const queue = host.queue;
  const send = (event: ActorEvent) => queue.event(actorId, event);

  let closed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (closed = resolve));
  let exited = false;
  let control: ActorControl | null = null;
  // The supervisor sends a budget exactly when the start has flow control.
  const budget = launch.budget !== null ? new BudgetCell(launch.budget) : null;
  const flow = new FlowGate(launch.flowControl, budget, (paused) =>
    queue.status(actorId, { type: 'flow', paused }),
  );
  const handlers: SpawnHandlers = {
    onData: (stream: OutputStream, data: Buffer) => {
      // Count first: the queue may transfer (detach) the buffer it is given.
      flow.produced(data.byteLength);
      queue.output(actorId, stream, data, launch.batchBytes, budget);
    },
    onExit: (exitCode) => {
      exited = true;
      send({ type: 'exited', exitCode });
      control?.leaderExited();
    },
    onClose: () => {
      send({ type: 'closed' });
      // Like the spawn, the close goes out at once: its latency is one a caller waits for, and
      // the cleanup after it (removing the cgroup) must not delay it.
      queue.flush();
      closed();
    },
  };

  let child: SpawnedChild;
  let cgroup: ProcessCgroup | null = null;
  try {
    const prepared = prepareSpawn(launch, deps);
    for (const warning of prepared.warnings) send({ type: 'log', level: 'warn', message: warning });
    if (launch.cgroup !== null) cgroup = createCgroup(launch.cgroup, launch.argv[0] ?? '');
    child = await startChild(launch.spawner, prepared.request, handlers, {
      tty: launch.tty,
      cgroup,
      maxReadBytes: launch.maxReadBytes,
    });
    cgroup?.seal();
    flow.attach(child);
    send({ type: 'spawned', pid: child.pid, sandboxType: prepared.sandboxType });
  } catch (error) {
    cgroup?.removeWhenEmpty();
    send({ type: 'spawnFailed', error: toPlain(error) });
    return;
  }
  // Answer the spawn without waiting for the end of the turn: a start's latency is the one that counts.
  queue.flush();

  // Without a cgroup, remember what the output is, to find holders that left the process group.
  const links = cgroup === null ? outputLinks(child.pid, launch.tty) : [];
  control = new ActorControl(child, launch, flow, () => exited, cgroup, links);
  if (exited) control.leaderExited();
  host.register(actorId, control);
  try {
    await closedPromise;
  } finally {
    host.unregister(actorId);
    control.dispose();
    flow.dispose();
  }
}

function createCgroup(dir: string, program: string): ProcessCgroup {
  try {
    return ProcessCgroup.create(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Out of descriptors is the process's failure to start, said as any other spawn says it.
    const why =
      code === 'EMFILE' || code === 'ENFILE'
        ? osErrorText(error)
        : `could not create its cgroup ${dir}: ${error instanceof Error ? error.message : String(error)}`;
    throw new SpawnError(`failed to spawn \`${program}\`: ${why}`, { cause: error });
  }
}

/**
 * Flow control, next to the child: pauses reading it while its unacknowledged output (produced −
 * acknowledged) is over the window's high mark until it falls below the low mark, and while the
 * runtime-wide budget says so (see `BudgetCell`). Once the process is being killed the gate opens for good: its pipes must drain to
 * EOF for it to close.
 */
class FlowGate {
  readonly #marks: ActorLaunch['flowControl'];
  readonly #budget: BudgetCell | null;
  readonly #onPause: (paused: boolean) => void;
  #child: SpawnedChild | null = null;
  #produced = 0;
  #acknowledged = 0;
  #overWindow = false;
  #overBudget = false;
  #waitingForBudget = false;
  #paused = false;
  #open = false;
  #disposed = false;

  constructor(
    marks: ActorLaunch['flowControl'],
    budget: BudgetCell | null,
    onPause: (paused: boolean) => void,
  ) {
    this.#marks = marks;
    this.#budget = budget;
    this.#onPause = onPause;
  }

  attach(child: SpawnedChild): void {
    this.#child = child;
  }

  produced(bytes: number): void {
    if (this.#marks === null) return;
    this.#produced += bytes;
    this.#update();
  }

  acknowledged(bytes: number): void {
    if (this.#marks === null || bytes <= this.#acknowledged) return;
    this.#acknowledged = bytes;
    this.#update();
  }

  /** The process is being killed: read everything from now on, so that it can reach `closed`. */
  open(): void {
    if (this.#marks === null || this.#open) return;
    this.#open = true;
    this.#update();
  }

  dispose(): void {
    this.#disposed = true;
  }

  #update(): void {
    const marks = this.#marks!;
    const outstanding = this.#produced - this.#acknowledged;
    if (outstanding > marks.highWaterBytes) this.#overWindow = true;
    else if (outstanding < marks.lowWaterBytes) this.#overWindow = false;
    const budget = this.#budget;
    if (budget !== null) {
      // Read before the total: a release after this read wakes the wait below, none is missed.
      const generation = budget.generation;
      this.#overBudget = !budget.mayRead(outstanding, this.#overBudget);
      if (this.#overBudget && !this.#waitingForBudget && !this.#open) {
        this.#waitingForBudget = true;
        void budget.waitForRelease(generation).then(() => {
          this.#waitingForBudget = false;
          if (!this.#disposed) this.#update();
        });
      }
    }
    const pause = !this.#open && (this.#overWindow || this.#overBudget);
    if (pause === this.#paused || this.#disposed) return;
    this.#paused = pause;
    if (pause) this.#child?.pause();
    else this.#child?.resume();
    this.#onPause(pause);
  }
}

class ActorControl implements ProcessControl {
  readonly #child: SpawnedChild;
  readonly #launch: ActorLaunch;
  readonly #flow: FlowGate;
  readonly #isExited: () => boolean;
  readonly #cgroup: ProcessCgroup | null;
  readonly #outputLinks: readonly string[];
  #killTimer: NodeJS.Timeout | null = null;
  #abandonTimer: NodeJS.Timeout | null = null;
  /** A terminate is under way (SIGTERM sent, the kill to follow). */
  #terminating = false;
  /** A terminate's kill was sent. */
  #killed = false;

  constructor(
    child: SpawnedChild,
    launch: ActorLaunch,
    flow: FlowGate,
    isExited: () => boolean,
    cgroup: ProcessCgroup | null,
    outputLinks: readonly string[],
  ) {
    this.#child = child;
    this.#launch = launch;
    this.#flow = flow;
    this.#isExited = isExited;
    this.#cgroup = cgroup;
    this.#outputLinks = outputLinks;
  }

  /** The leader exited: after a kill, closed no longer waits for output without a bound. */
  leaderExited(): void {
    this.#armAbandon();
  }

  write(data: Uint8Array): Promise<ActorWriteResult> {
    if (!this.#launch.tty && !this.#launch.pipeStdin) return Promise.resolve('stdinClosed');
    return this.#child.write(data);
  }

  closeStdin(): Promise<void> {
    this.#child.closeStdin();
    return Promise.resolve();
  }

  resize(size: TerminalSize): Promise<void> {
    this.#child.resize(size);
    return Promise.resolve();
  }

  signal(signal: NodeJS.Signals): Promise<boolean> {
    if (signal === 'SIGKILL') this.#flow.open();
    return Promise.resolve(signalGroup(this.#child.pid, signal));
  }

  terminate(graceMs: number | null): Promise<boolean> {
    // Whatever it still writes is read, so that a paused process can exit and close.
    this.#flow.open();
    const wasRunning = !this.#isExited();
    if (graceMs === null || graceMs <= 0 || !wasRunning) {
      // Even after the leader exited, descendants holding its output open are in its tree.
      this.#kill();
      return Promise.resolve(wasRunning);
    }
    this.#terminating = true;
    signalGroup(this.#child.pid, 'SIGTERM');
    this.#killTimer ??= setTimeout(() => this.#kill(), graceMs);
    return Promise.resolve(true);
  }

  /** Kills the whole tree: the cgroup, or the process group and whatever holds the output. */
  #kill(): void {
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    this.#killTimer = null;
    this.#killed = true;
    this.#cgroup?.kill();
    signalGroup(this.#child.pid, 'SIGKILL');
    if (this.#cgroup === null) killOutputHolders(this.#outputLinks);
    this.#armAbandon();
  }

  #armAbandon(): void {
    if (!this.#killed || !this.#isExited() || this.#abandonTimer !== null) return;
    this.#abandonTimer = setTimeout(() => this.#child.abandonOutput?.(), ABANDON_OUTPUT_AFTER_KILL_MS);
  }

  acknowledge(bytes: number): Promise<void> {
    this.#flow.acknowledged(bytes);
    return Promise.resolve();
  }

  /** The process closed. A terminate under way still kills what is left of the tree. */
  dispose(): void {
    if (this.#terminating && !this.#killed) this.#kill();
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    if (this.#abandonTimer !== null) clearTimeout(this.#abandonTimer);
    // A cgroup still populated (something left running that closed its output) stays until its
    // session is closed, which kills it.
    this.#cgroup?.removeWhenEmpty();
  }
}

function toPlain(error: unknown): PlainError {
  if (error instanceof ExecError) return error.toPlain();
  return new InternalError(error instanceof Error ? error.message : String(error)).toPlain();
}
