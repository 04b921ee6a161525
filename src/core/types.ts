/**
 * The public shape shared by the in-process runtime (`ExecRuntime`) and the wire client
 * (`ExecServerClient`): one `ExecBackend` interface, so callers and the behaviour suite do not
 * care which one they hold.
 */
import type { Observable } from 'rxjs';
import type { ManagedNetworkOption, NetworkProxyOption } from './network-options.js';
import type { SandboxOptions } from './sandbox-options.js';

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
  /**
   * Whether the failure looks like a sandbox denial, as far as was known at the exit (see
   * docs/sandbox.md "sandboxDenied"). Absent where the backend does not say.
   */
  readonly sandboxDenied?: boolean;
}
export interface ClosedEvent {
  readonly type: 'closed';
  readonly seq: number;
}
export type ProcessEvent = OutputEvent | ExitedEvent | ClosedEvent;

/** The protocol a managed-network request arrived on, as the reference names it. */
export type NetworkProtocol = 'http' | 'https_connect' | 'socks5_tcp' | 'socks5_udp';

/**
 * Why the managed-network proxy decided as it did: `allow`; `denied` (a deny pattern matched);
 * `not_allowed` (no allow pattern matched); `not_allowed_local` (a loopback, private, link-local or
 * metadata address, by literal or by resolution); `method_not_allowed` / `mitm_required` (the
 * `limited` mode refused the method or a tunnel).
 */
export type NetworkDecisionReason =
  'allow' | 'denied' | 'not_allowed' | 'not_allowed_local' | 'method_not_allowed' | 'mitm_required';

/**
 * One decision of the managed-network proxy, shaped as the `network/policyDecision` notification
 * of the reference server (member order included). `method` is absent for SOCKS5, `client` when
 * the peer is unknown.
 */
export interface NetworkPolicyDecision {
  readonly processId: string;
  /** ISO 8601, UTC, milliseconds. */
  readonly timestamp: string;
  /** `domain` for the host decision, `non_domain` for the mode guard that may follow it. */
  readonly scope: 'domain' | 'non_domain';
  readonly decision: 'allow' | 'deny';
  readonly source: 'baseline_policy' | 'mode_guard';
  readonly reason: NetworkDecisionReason;
  readonly protocol: NetworkProtocol;
  readonly host: string;
  readonly port: number;
  readonly method?: string;
  readonly client?: string;
  readonly policyOverride: boolean;
}

/**
 * A managed-network decision in a process's event stream. It has no seq of its own (output seqs
 * stay dense, and `read` never returns it); `afterSeq` is the seq of the last log event before it,
 * which places it on replay, and `ordinal` counts the process's network events from 1.
 */
export interface NetworkEvent {
  readonly type: 'network';
  readonly afterSeq: number;
  readonly ordinal: number;
  readonly decision: NetworkPolicyDecision;
}

/** What `events$` carries: the log events of a process interleaved with its network decisions. */
export type ProcessActivity = ProcessEvent | NetworkEvent;

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
  /** Gives up a wait: the read then rejects with `EXEC_ERR_ABORTED` and acknowledges nothing. */
  readonly signal?: AbortSignal | null;
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
  /**
   * Whether the process failed because its sandbox refused something (always false while it runs
   * or after exit 0; see docs/sandbox.md "sandboxDenied"). Set by `ExecRuntime` and the client.
   */
  readonly sandboxDenied?: boolean;
}

export type WriteStatus = 'accepted' | 'unknownProcess' | 'stdinClosed' | 'starting';

/** The signals a process can be sent by name (the POSIX set Linux and macOS share, and Linux's). */
export type PosixSignal =
  | 'SIGABRT'
  | 'SIGALRM'
  | 'SIGBUS'
  | 'SIGCHLD'
  | 'SIGCONT'
  | 'SIGFPE'
  | 'SIGHUP'
  | 'SIGILL'
  | 'SIGINT'
  | 'SIGIO'
  | 'SIGIOT'
  | 'SIGKILL'
  | 'SIGPIPE'
  | 'SIGPOLL'
  | 'SIGPROF'
  | 'SIGPWR'
  | 'SIGQUIT'
  | 'SIGSEGV'
  | 'SIGSTKFLT'
  | 'SIGSTOP'
  | 'SIGSYS'
  | 'SIGTERM'
  | 'SIGTRAP'
  | 'SIGTSTP'
  | 'SIGTTIN'
  | 'SIGTTOU'
  | 'SIGURG'
  | 'SIGUSR1'
  | 'SIGUSR2'
  | 'SIGVTALRM'
  | 'SIGWINCH'
  | 'SIGXCPU'
  | 'SIGXFSZ'
  | 'SIGINFO';

/** A protocol alias or a signal name; one the OS does not know is refused at run time. */
export type SignalName = 'interrupt' | 'terminate' | 'kill' | 'hangup' | PosixSignal;

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
  readonly sandbox?: SandboxOptions | null;
  /**
   * Managed network: the process reaches the network only through the runtime's proxy
   * (`networkProxy` given) or not at all (none given), whatever `sandbox` says about network
   * access; a start no sandbox can confine so is refused. Default false. The seed's
   * `sandbox.enforceManagedNetwork` means the same.
   */
  readonly enforceManagedNetwork?: boolean | null;
  /** The domain policy of the runtime's proxy for this process (see docs/sandbox.md "Network"). */
  readonly networkProxy?: NetworkProxyOption | null;
  /** Upstream's `ManagedNetworkSandboxContext`: validated; enforced without a proxy it means no network. */
  readonly managedNetwork?: ManagedNetworkOption | null;
  /** Initial terminal size. Default 24×80. */
  readonly size?: TerminalSize | null;
  /** Pause reading the child while unacknowledged output exceeds the high mark. */
  readonly flowControl?: FlowControl | null;
  /**
   * Terminate the process if it is still running this long after it started: SIGTERM, then SIGKILL
   * after `terminateGraceMs`. `timedOut(process)` then answers true. Default: no limit.
   */
  readonly timeoutMs?: number | null;
  /** Aborting terminates the process as a timeout does; aborted before the start, nothing starts. */
  readonly signal?: AbortSignal | null;
  /** How long a timeout or abort waits after SIGTERM before SIGKILL. Default 5 000 ms. */
  readonly terminateGraceMs?: number | null;
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
  /**
   * Managed network: the most recent denials of the proxy for this process (bounded, oldest
   * dropped first). Absent when the process has no managed network or the backend does not report it.
   */
  readonly networkDenials?: readonly NetworkPolicyDecision[];
}

/** One started process. */
export interface ExecProcess {
  readonly processId: string;
  readonly pid: number | null;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  /**
   * Every retained event from the oldest, then live events; completes after `closed`. Besides the
   * seq'd log events (`output`, `exited`, `closed`) it carries the process's managed-network
   * decisions (`network`, no seq of their own, in the order they happened among the others).
   */
  readonly events$: Observable<ProcessActivity>;
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
