/**
 * Messages between the Supervisor (main thread) and a ProcessActor (worker thread). Imported by both
 * sides. Control goes over a comlink-wrapped port (`ProcessActorControl`); events come back as plain
 * `postMessage` on a second port (`ActorEvent`), with output bytes transferred, not copied.
 */
import type { MessagePort } from 'node:worker_threads';
import type { PlainError } from '../errors.js';
import type { FlowControl, OutputStream, SandboxType, TerminalSize } from '../runtime/types.js';

/** Posted on the worker's parent port once the actor module has been evaluated. */
export const ACTOR_WORKER_READY = 'execvisor:actor-worker-ready';
export interface ActorWorkerReady {
  readonly type: typeof ACTOR_WORKER_READY;
  readonly threadId: number;
}

/** The piscina task: one per process, pending until the process is closed. */
export interface ActorTask {
  readonly launch: ActorLaunch;
  /** comlink endpoint for `ProcessActorControl`. */
  readonly controlPort: MessagePort;
  /** The actor posts `ActorEvent`s here. */
  readonly eventPort: MessagePort;
}

export interface ActorLaunch {
  readonly processId: string;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly pipeStdin: boolean;
  readonly arg0: string | null;
  readonly sandbox: unknown;
  readonly size: TerminalSize;
  readonly flowControl: FlowControl | null;
  /** Coalescing: flush a batch once it holds this many bytes (else at the end of the tick). */
  readonly batchBytes: number;
}

export type ActorEvent =
  | {
      readonly type: 'spawned';
      readonly pid: number;
      readonly sandboxType: SandboxType;
      /** The worker thread that owns the process. */
      readonly threadId: number;
    }
  | { readonly type: 'spawnFailed'; readonly error: PlainError }
  /**
   * Output in arrival order. `data` holds the bytes of every segment back to back; `segments` gives
   * each segment's stream and length. One transferred buffer per batch.
   */
  | {
      readonly type: 'output';
      readonly data: Uint8Array;
      readonly segments: readonly (readonly [OutputStream, number])[];
    }
  | { readonly type: 'exited'; readonly exitCode: number }
  | { readonly type: 'closed' }
  | { readonly type: 'log'; readonly level: 'warn' | 'error' | 'debug'; readonly message: string };

export type ActorWriteResult = 'accepted' | 'stdinClosed';

/** Control methods the actor exposes over comlink. */
export interface ProcessActorControl {
  write(data: Uint8Array): Promise<ActorWriteResult>;
  closeStdin(): Promise<void>;
  resize(size: TerminalSize): Promise<void>;
  /** Signal the process group; false if the group is already gone. */
  signal(signal: NodeJS.Signals): Promise<boolean>;
  /** Kill the group (SIGKILL, or SIGTERM then SIGKILL after graceMs). True if the leader was live. */
  terminate(graceMs: number | null): Promise<boolean>;
  /**
   * Flow control: the consumer has acknowledged this many output bytes in total. The actor stops
   * reading the child while produced − acknowledged exceeds the high mark, and resumes below the low.
   */
  acknowledge(bytes: number): Promise<void>;
}
