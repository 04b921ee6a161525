/**
 * The ProcessActor: runs in a worker thread, one per process, as one long piscina task that stays
 * pending until the process is closed. It prepares the launch (program lookup, sandbox transform),
 * spawns through the chosen backend, batches output to the event port, and obeys control calls
 * arriving over comlink on the control port.
 */
import { threadId, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { portEndpoint } from '../protocol/comlink-endpoint.js';
import { ExecError, InternalError, type PlainError } from '../errors.js';
import type {
  ActorEvent,
  ActorLaunch,
  ActorTask,
  ActorWriteResult,
  ProcessActorControl,
} from '../protocol/process-actor.js';
import type { OutputStream, TerminalSize } from '../runtime/types.js';
import { prepareSpawn, type PrepareDeps } from './prepare.js';
import { spawnPipes } from './pipe-backend.js';
import { spawnPty } from './pty-backend.js';
import { OutputBatcher } from './output-batcher.js';
import { signalGroup } from './signals.js';
import type { SpawnHandlers, SpawnRequest, SpawnedChild } from './types.js';

export async function runProcessActor(task: ActorTask, deps?: PrepareDeps): Promise<void> {
  const { launch, controlPort, eventPort } = task;
  const post = (event: ActorEvent, transfer?: ArrayBuffer[]) => eventPort.postMessage(event, transfer);

  let closed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (closed = resolve));
  let exited = false;
  const batcher = new OutputBatcher(launch.batchBytes, (data, segments) =>
    post({ type: 'output', data, segments }, [data.buffer as ArrayBuffer]),
  );
  const flow = new FlowGate(launch.flowControl);
  const handlers: SpawnHandlers = {
    onData: (stream: OutputStream, data: Buffer) => {
      // Count first: the batcher may transfer (detach) the buffer it is given.
      flow.produced(data.byteLength);
      batcher.push(stream, data);
    },
    onExit: (exitCode) => {
      exited = true;
      batcher.flush();
      post({ type: 'exited', exitCode });
    },
    onClose: () => {
      batcher.flush();
      post({ type: 'closed' });
      closed();
    },
  };

  let child: SpawnedChild;
  try {
    const prepared = prepareSpawn(launch, deps);
    for (const warning of prepared.warnings) post({ type: 'log', level: 'warn', message: warning });
    child = (launch.tty ? spawnPty : spawnPipes)(prepared.request, handlers);
    flow.attach(child);
    post({ type: 'spawned', pid: child.pid, sandboxType: prepared.sandboxType, threadId });
  } catch (error) {
    post({ type: 'spawnFailed', error: toPlain(error) });
    closePorts(controlPort, eventPort);
    return;
  }

  const control = new ActorControl(child, launch, flow, () => exited);
  Comlink.expose(control, portEndpoint(controlPort));
  await closedPromise;
  control.dispose();
  batcher.dispose();
  closePorts(controlPort, eventPort);
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

class ActorControl implements ProcessActorControl {
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

function closePorts(...ports: MessagePort[]): void {
  for (const port of ports) port.close();
}

export type { SpawnRequest };
