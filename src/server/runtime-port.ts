/**
 * The part of `ExecRuntime` the server drives, as a structural interface: the server depends on
 * this shape, not on the class, so tests can hand it a fake and the runtime stays free to grow.
 */
import type { FileIdentity } from '../fs/protocol.js';
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
  /** Processes failed because their worker thread died (absent: not tracked, reported as 0). */
  readonly workerFailuresTotal?: number;
  /** The output budget's numbers, where the runtime has one (`ExecRuntime` does). */
  readonly retainedOutputBytes?: number;
  readonly unacknowledgedOutputBytes?: number;
  readonly outputBudgetBytes?: number;
  readonly pausedProcesses?: number;
  /** Managed network: decisions by decision and reason, where the runtime has a proxy. */
  readonly networkDecisions?: readonly {
    readonly decision: 'allow' | 'deny';
    readonly reason: string;
    readonly count: number;
  }[];
}

/**
 * A runtime may also implement the `fs/*` methods (`FileSystemBackend`, as `ExecRuntime` does);
 * without them the server answers `fs/*` with -32601.
 */
export interface ServerRuntime extends Partial<FileSystemBackend> {
  /**
   * Opens `path` under `sandbox` where the sandbox decides (the sandboxed fs helper) and names the
   * inode: `fs/open` with a sandbox reads exactly that file. Without it such opens are refused.
   */
  identifyFile?: FileIdentityProbe;
  /**
   * The runtime's resolved options, where it has them: the server keeps its own flow control within
   * them, and reports `maxProcesses` as its capacity.
   */
  readonly options?: { readonly maxFlowWindowBytes?: number; readonly maxProcesses?: number };
  /**
   * Managed network: keeps `port` on this host's loopback out of the proxy's reach (the server's
   * listen port); returns the function that lifts it. Absent: the runtime has no proxy.
   */
  protectNetworkPort?(port: number): () => void;
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
  'canonicalize',
  'walk',
] as const satisfies readonly (keyof FileSystemBackend)[];

export type FileIdentityProbe = (path: string, sandbox: unknown) => Promise<FileIdentity>;

/** The runtime's sandboxed file identity probe, or null. */
export function identifyFileOf(runtime: ServerRuntime): FileIdentityProbe | null {
  const probe = runtime.identifyFile;
  return typeof probe === 'function' ? (path, sandbox) => probe.call(runtime, path, sandbox) : null;
}

/** The runtime's filesystem methods, or null when it has not all of them. */
export function fileSystemOf(runtime: ServerRuntime): FileSystemBackend | null {
  return FS_METHODS.every((name) => typeof runtime[name] === 'function')
    ? (runtime as FileSystemBackend)
    : null;
}

/** The server logs through the runtime's logger interface. */
export type { Logger as ServerLogger } from '../core/logger.js';
export { silentLogger } from '../core/logger.js';
