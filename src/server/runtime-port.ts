/**
 * The part of `ExecRuntime` the server drives, as a structural interface: the server depends on
 * this shape, not on the class, so tests can hand it a fake and the runtime stays free to grow.
 */
import type { FileSystemBackend } from '../fs/types.js';
import type { ExecProcess, ProcessInfo, StartOptions } from '../core/types.js';

/** A processId namespace of its own; `close()` terminates its processes and forgets them. */
export interface RuntimeSession {
  readonly id: string;
  start(options: StartOptions): Promise<ExecProcess>;
  get(processId: string): ExecProcess | undefined;
  list(): Promise<ProcessInfo[]>;
  close(): Promise<void>;
}

export interface RuntimeStats {
  readonly liveProcesses: number;
  readonly startsTotal: number;
  readonly exitsTotal: number;
  readonly outputBytesTotal: number;
  readonly startFailuresTotal: number;
  /** The output budget's numbers, where the runtime has one (`ExecRuntime` does). */
  readonly retainedOutputBytes?: number;
  readonly unacknowledgedOutputBytes?: number;
  readonly outputBudgetBytes?: number;
  readonly pausedProcesses?: number;
}

/**
 * A runtime may also implement the `fs/*` methods (`FileSystemBackend`, as `ExecRuntime` does);
 * without them the server answers `fs/*` with -32601.
 */
export interface ServerRuntime extends Partial<FileSystemBackend> {
  /** The runtime's resolved options, where it has them: the server keeps its own flow control within them. */
  readonly options?: { readonly maxFlowWindowBytes?: number };
  session(): RuntimeSession;
  stats(): RuntimeStats;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

const FS_METHODS = [
  'readFile',
  'writeFile',
  'createDirectory',
  'getMetadata',
  'readDirectory',
  'remove',
  'copy',
] as const satisfies readonly (keyof FileSystemBackend)[];

/** The runtime's filesystem methods, or null when it has not all of them. */
export function fileSystemOf(runtime: ServerRuntime): FileSystemBackend | null {
  return FS_METHODS.every((name) => typeof runtime[name] === 'function')
    ? (runtime as FileSystemBackend)
    : null;
}

/** The server logs through the runtime's logger interface. */
export type { Logger as ServerLogger } from '../core/logger.js';
export { silentLogger } from '../core/logger.js';
