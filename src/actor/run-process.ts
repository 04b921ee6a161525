/**
 * The ProcessActor: one per process, run as one long piscina task that stays pending until the
 * process is closed. It prepares the launch (program lookup, sandbox transform), spawns through the
 * chosen backend, sends its output and lifecycle through the worker's event queue, and answers the
 * control calls the worker routes to it.
 */
import { ExecError, InternalError, type PlainError } from '../errors.js';
import type { ActorEvent, ActorLaunch, ActorTask, ActorWriteResult, ProcessControl } from './messages.js';
import type { OutputStream, TerminalSize } from '../core/types.js';
import type { ActorHost } from './host.js';
import { prepareSpawn, type PrepareDeps } from '../spawn/prepare.js';
import { spawnPipes } from '../spawn/pipe-backend.js';
import { spawnPty } from '../spawn/pty-backend.js';
import { signalGroup } from '../spawn/signals.js';
import type { SpawnHandlers, SpawnedChild } from '../spawn/types.js';

export async function runProcessActor(task: ActorTask, host: ActorHost, deps?: PrepareDeps): Promise<void> {
  const { actorId, launch } = task;
  const queue = host.queue;
  const send = (event: ActorEvent) => queue.event(actorId, event);

  let closed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (closed = resolve));
  let exited = false;
  const flow = new FlowGate(launch.flowControl);
  const handlers: SpawnHandlers = {
    onData: (stream: OutputStream, data: Buffer) => {
      // Count first: the queue may transfer (detach) the buffer it is given.
      flow.produced(data.byteLength);
      queue.output(actorId, stream, data, launch.batchBytes);
    },
    onExit: (exitCode) => {
      exited = true;
      send({ type: 'exited', exitCode });
    },
    onClose: () => {
      send({ type: 'closed' });
      closed();
    },
  };

  let child: SpawnedChild;
  try {
    const prepared = prepareSpawn(launch, deps);
    for (const warning of prepared.warnings) send({ type: 'log', level: 'warn', message: warning });
    child = await (launch.tty ? spawnPty : spawnPipes)(prepared.request, handlers);
    flow.attach(child);
    send({ type: 'spawned', pid: child.pid, sandboxType: prepared.sandboxType });
  } catch (error) {
    send({ type: 'spawnFailed', error: toPlain(error) });
    return;
  }
  // Answer the spawn without waiting for the end of the turn: a start's latency is the one that counts.
  queue.flush();

  const control = new ActorControl(child, launch, flow, () => exited);
  host.register(actorId, control);
  try {
    await closedPromise;
  } finally {
    host.unregister(actorId);
    control.dispose();
  }
}

/** Pauses the child while produced − acknowledged output exceeds the high mark (flow control). */
class FlowGate {
  readonly #marks: ActorLaunch['flowControl'];
  #child: SpawnedChild | null = null;
  #produced = 0;
  #acknowledged = 0;
  #paused = false;

  constructor(marks: ActorLaunch['flowControl']) {
    this.#marks = marks;
  }

  attach(child: SpawnedChild): void {
    this.#child = child;
  }

  produced(bytes: number): void {
    if (this.#marks === null) return;
    this.#produced += bytes;
    if (!this.#paused && this.#produced - this.#acknowledged > this.#marks.highWaterBytes) {
      this.#paused = true;
      this.#child?.pause();
    }
  }

  acknowledged(bytes: number): void {
    if (this.#marks === null || bytes <= this.#acknowledged) return;
    this.#acknowledged = bytes;
    if (this.#paused && this.#produced - this.#acknowledged < this.#marks.lowWaterBytes) {
      this.#paused = false;
      this.#child?.resume();
    }
  }
}

class ActorControl implements ProcessControl {
  readonly #child: SpawnedChild;
  readonly #launch: ActorLaunch;
  readonly #flow: FlowGate;
  readonly #isExited: () => boolean;
  #killTimer: NodeJS.Timeout | null = null;

  constructor(child: SpawnedChild, launch: ActorLaunch, flow: FlowGate, isExited: () => boolean) {
    this.#child = child;
    this.#launch = launch;
    this.#flow = flow;
    this.#isExited = isExited;
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
    return Promise.resolve(signalGroup(this.#child.pid, signal));
  }

  terminate(graceMs: number | null): Promise<boolean> {
    const wasRunning = !this.#isExited();
    const pid = this.#child.pid;
    if (graceMs === null || graceMs <= 0 || !wasRunning) {
      // Even after the leader exited, descendants holding its output open are in the group.
      signalGroup(pid, 'SIGKILL');
      return Promise.resolve(wasRunning);
    }
    signalGroup(pid, 'SIGTERM');
    this.#killTimer ??= setTimeout(() => {
      this.#killTimer = null;
      signalGroup(pid, 'SIGKILL');
    }, graceMs);
    return Promise.resolve(true);
  }

  acknowledge(bytes: number): Promise<void> {
    this.#flow.acknowledged(bytes);
    return Promise.resolve();
  }

  dispose(): void {
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
  }
}

function toPlain(error: unknown): PlainError {
  if (error instanceof ExecError) return error.toPlain();
  return new InternalError(error instanceof Error ? error.message : String(error)).toPlain();
}
