/**
 * Messages between the Supervisor (main thread) and the ProcessActors of one worker thread. Imported
 * by both sides.
 *
 * Each worker has one link to the Supervisor, made when it starts (`ActorWorkerReady` on the parent
 * port carries two ports): control calls go over a comlink-wrapped port (`WorkerControl`, addressed
 * by actor id), and events come back on the other as one `ActorEventBatch` per turn of the worker's
 * event loop, holding every actor's events in order, with output bytes transferred, not copied.
 * No ports are made per process.
 */
import type { MessagePort } from 'node:worker_threads';
import type { PlainError } from '../errors.js';
import type { BudgetCellInit } from './budget-cell.js';
import type { FlowControl, OutputStream, SandboxType, TerminalSize } from '../core/types.js';
import type { SandboxTools } from '../sandbox/tools.js';

/** Posted on the worker's parent port once the actor module has been evaluated. */
export const ACTOR_WORKER_READY = 'execvisor:actor-worker-ready';
export interface ActorWorkerReady {
  readonly type: typeof ACTOR_WORKER_READY;
  readonly threadId: number;
  /** comlink endpoint exposing `WorkerControl`. */
  readonly controlPort: MessagePort;
  /** The worker posts `ActorEventBatch`es here. */
  readonly eventPort: MessagePort;
}

/** The piscina task: one per process, pending until the process is closed. */
export interface ActorTask {
  /** Unique in the Supervisor (not the client's processId, which is per session). */
  readonly actorId: number;
  readonly launch: ActorLaunch;
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
  /** The runtime-wide output budget (shared memory), for a flow-controlled process; else null. */
  readonly budget: BudgetCellInit | null;
  /** Coalescing: flush once a batch holds this many bytes (else at the end of the tick). */
  readonly batchBytes: number;
  /** The bwrap and launcher the runtime resolved at start (absent: resolved in the worker). */
  readonly sandboxTools?: SandboxTools;
  /** Managed network (absent or null: none). */
  readonly network?: ActorNetwork | null;
  /** The backend the runtime chose (src/spawn/backend.ts). */
  readonly spawner: 'native' | 'node';
  /** The cgroup directory to create for this process (containment), or null without cgroups. */
  readonly cgroup: string | null;
  /** The largest single read of an output pipe (src/spawn/backend.ts `maxReadBytes`). */
  readonly maxReadBytes: number;
}

/**
 * The managed network of one launch, as the Supervisor planned it (see src/network/config.ts):
 * - `blocked`: enforced without a proxy: no network at all, whatever the sandbox policy says;
 * - `proxied`: enforced with a proxy: a private network namespace whose bridge forwards to the
 *   runtime's proxy socket (`socketPath`, on the host) as the lease `token`;
 * - `advisory`: a proxy that is not enforced: the child's proxy variables name the lease's port on
 *   the host's loopback, and the sandbox policy alone decides what else it may reach.
 */
export type ActorNetwork =
  | { readonly kind: 'blocked' }
  | {
      readonly kind: 'proxied';
      readonly socketPath: string;
      readonly token: string;
      readonly socks5: boolean;
      readonly allowLocalBinding: boolean;
    }
  | {
      readonly kind: 'advisory';
      readonly port: number;
      readonly socks5: boolean;
      readonly allowLocalBinding: boolean;
    };

export type ActorEvent =
  | { readonly type: 'spawned'; readonly pid: number; readonly sandboxType: SandboxType }
  | { readonly type: 'spawnFailed'; readonly error: PlainError }
  /**
   * Output in arrival order. `data` holds the bytes of every segment back to back; `segments` gives
   * each segment's stream and length.
   */
  | {
      readonly type: 'output';
      readonly data: Uint8Array;
      readonly segments: readonly (readonly [OutputStream, number])[];
      /** Counted in the runtime's budget as unacknowledged (flow-controlled output). */
      readonly charged?: boolean;
    }
  | { readonly type: 'exited'; readonly exitCode: number }
  | { readonly type: 'closed' }
  /** Flow control: the actor stopped (true) or started again (false) reading the child's output. */
  | { readonly type: 'flow'; readonly paused: boolean }
  | { readonly type: 'log'; readonly level: 'warn' | 'error' | 'debug'; readonly message: string };

export type AddressedEvent = ActorEvent & { readonly actorId: number };

/** Everything the worker's actors produced in one turn of its event loop, in order. */
export interface ActorEventBatch {
  readonly type: 'batch';
  readonly events: readonly AddressedEvent[];
}

export type ActorWriteResult = 'accepted' | 'stdinClosed';

/**
 * Control calls for the actors of one worker, addressed by actor id. A call for an actor that has
 * already finished answers as for a closed process (`stdinClosed`, `false`, nothing).
 */
export interface WorkerControl {
  write(actorId: number, data: Uint8Array): Promise<ActorWriteResult>;
  closeStdin(actorId: number): Promise<void>;
  resize(actorId: number, size: TerminalSize): Promise<void>;
  /** Signal the process group; false if the group is already gone. */
  signal(actorId: number, signal: NodeJS.Signals): Promise<boolean>;
  /** Kill the group (SIGKILL, or SIGTERM then SIGKILL after graceMs). True if the leader was live. */
  terminate(actorId: number, graceMs: number | null): Promise<boolean>;
  /**
   * Flow control: the consumer has acknowledged this many output bytes in total. The actor stops
   * reading the child while produced − acknowledged exceeds the high mark, and resumes below the low.
   */
  acknowledge(actorId: number, bytes: number): Promise<void>;
}

/** The control surface of one process, as the main thread's ProcessHandle sees it. */
export interface ProcessControl {
  write(data: Uint8Array): Promise<ActorWriteResult>;
  closeStdin(): Promise<void>;
  resize(size: TerminalSize): Promise<void>;
  signal(signal: NodeJS.Signals): Promise<boolean>;
  terminate(graceMs: number | null): Promise<boolean>;
  acknowledge(bytes: number): Promise<void>;
}
