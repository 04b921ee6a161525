/**
 * The public shape shared by the in-process runtime (`ExecRuntime`) and the wire client
 * (`ExecServerClient`): one `ExecBackend` interface, so callers and the behaviour suite do not
 * care which one they hold.
 */
import type { Observable } from 'rxjs';

export type OutputStream = 'stdout' | 'stderr' | 'pty';

/** The sandbox actually applied to a process. */
export type SandboxType = 'none' | 'macos-seatbelt' | 'linux-seccomp' | 'windows-restricted-token';

export interface OutputEvent {
  readonly type: 'output';
  readonly seq: number;
  readonly stream: OutputStream;
  readonly chunk: Uint8Array;
}
export interface ExitedEvent {
  readonly type: 'exited';
  readonly seq: number;
  readonly exitCode: number;
}
export interface ClosedEvent {
  readonly type: 'closed';
  readonly seq: number;
}
export type ProcessEvent = OutputEvent | ExitedEvent | ClosedEvent;

export interface OutputChunk {
  readonly seq: number;
  readonly stream: OutputStream;
  readonly chunk: Uint8Array;
}

export interface ReadOptions {
  /** Return chunks with seq greater than this (null/absent: from the start). */
  readonly afterSeq?: number | null;
  /** Stop before a chunk that would exceed this many bytes (the first chunk is always taken). */
  readonly maxBytes?: number | null;
  /** Wait up to this long for something new when nothing is there yet. Default 0. */
  readonly waitMs?: number | null;
  /**
   * Flow control: whether this read acknowledges what it returns. Default true. A reader that
   * fills a gap on behalf of a consumer (not the consumer itself) passes false.
   */
  readonly acknowledge?: boolean | null;
}

export interface ReadResult {
  readonly chunks: readonly OutputChunk[];
  readonly nextSeq: number;
  readonly exited: boolean;
  readonly exitCode: number | null;
  readonly closed: boolean;
  readonly failure: string | null;
  /** The lowest seq still retained; a reader whose cursor is below it missed evicted output. */
  readonly firstRetainedSeq: number;
}

export type WriteStatus = 'accepted' | 'unknownProcess' | 'stdinClosed' | 'starting';

export type SignalName = 'interrupt' | 'terminate' | 'kill' | 'hangup' | `SIG${string}`;

export interface TerminalSize {
  readonly rows: number;
  readonly cols: number;
}

export interface FlowControl {
  readonly highWaterBytes: number;
  readonly lowWaterBytes: number;
}

/** Upstream's shell-environment-policy (see `envPolicy`). */
export interface EnvPolicyOptions {
  /** Start from all of the server's variables, the core ones (HOME, PATH, LANG…), or none. */
  readonly inherit: 'all' | 'core' | 'none';
  /** Keep names matching `*KEY*`, `*SECRET*`, `*TOKEN*` (dropped by default). */
  readonly ignoreDefaultExcludes: boolean;
  /** Globs (`*`, `?`, `[...]`, any case) of names to drop. */
  readonly exclude: readonly string[];
  /** Variables to set. */
  readonly set: Readonly<Record<string, string>>;
  /** When not empty: keep only names matching one of these globs. */
  readonly includeOnly: readonly string[];
}

/** Attribution of a start (telemetry only: never an authorization input). */
export interface StartMetadata {
  readonly threadId?: string | null;
  readonly toolCallId?: string | null;
}

export interface StartOptions {
  /** Client-chosen key, unique in the session. Default: `proc-<n>`. */
  readonly processId?: string;
  /** Non-empty; argv[0] is the program (a bare name is looked up on env.PATH, else the server PATH). */
  readonly argv: readonly string[];
  /** Absolute working directory (a native path or a `file://` URI). */
  readonly cwd: string;
  /**
   * The child environment. Without `envPolicy` it is exactly this (nothing is inherited); with it,
   * this is laid over what the policy builds from the server's own environment.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Build the child environment from the server's own (upstream's shell-environment-policy rules). */
  readonly envPolicy?: EnvPolicyOptions | null;
  /** Attribution; kept with the start, never interpreted. */
  readonly metadata?: StartMetadata | null;
  /** Run under a pseudo-terminal. Default false. */
  readonly tty?: boolean;
  /** Non-tty only: stdin is a pipe written with `write()`. Default false (stdin is /dev/null). */
  readonly pipeStdin?: boolean;
  /** What the child sees as argv[0]. */
  readonly arg0?: string | null;
  /** A SandboxLaunchConfig (see docs/sandbox.md). Absent or null: no sandbox. */
  readonly sandbox?: unknown;
  /** Initial terminal size. Default 24×80. */
  readonly size?: TerminalSize | null;
  /** Pause reading the child while unacknowledged output exceeds the high mark. */
  readonly flowControl?: FlowControl | null;
}

export interface TerminateOptions {
  /** Send SIGTERM first and SIGKILL after this many ms. Default: SIGKILL at once. */
  readonly graceMs?: number | null;
}

export interface WriteOptions {
  /** A repeated writeId is accepted once. */
  readonly writeId?: string | null;
}

export interface ProcessInfo {
  readonly processId: string;
  readonly pid: number | null;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  readonly exited: boolean;
  readonly exitCode: number | null;
  readonly closed: boolean;
  readonly startedAtMs: number;
}

/** One started process. */
export interface ExecProcess {
  readonly processId: string;
  readonly pid: number | null;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  /** Every retained event from the oldest, then live events; completes after `closed`. */
  readonly events$: Observable<ProcessEvent>;
  /** Resolves with the exit code (128+signal for a signal death). */
  readonly exited: Promise<number>;
  /** Resolves once exited and every output stream reached EOF. */
  readonly closed: Promise<void>;
  read(options?: ReadOptions): Promise<ReadResult>;
  write(data: Uint8Array | string, options?: WriteOptions): Promise<WriteStatus>;
  closeStdin(): Promise<void>;
  resize(size: TerminalSize): Promise<void>;
  signal(signal: SignalName): Promise<void>;
  /** True if the process was live and a kill was sent. */
  terminate(options?: TerminateOptions): Promise<boolean>;
  /** Flow control: acknowledge output up to and including `seq`. */
  ack(seq: number): Promise<void>;
  info(): ProcessInfo;
}

/** What both the in-process runtime and the wire client offer. */
export interface ExecBackend {
  start(options: StartOptions): Promise<ExecProcess>;
  get(processId: string): ExecProcess | undefined;
  list(): Promise<ProcessInfo[]>;
  close(): Promise<void>;
}
