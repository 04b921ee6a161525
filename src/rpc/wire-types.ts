/**
 * Result and notification shapes as they travel (camelCase JSON, bytes as base64 strings).
 * Params are declared as zod schemas in `methods.ts`; these are the server's answers.
 */
import type { OutputStream, ProcessInfo, SandboxType, WriteStatus } from '../core/types.js';

export interface InitializeResult {
  /** The session this connection is attached to; pass it as `resumeSessionId` to resume. */
  readonly sessionId?: string;
  /** The current shape: what `environment/info` answers, at handshake time. */
  readonly environmentInfo?: EnvironmentInfo;
  /** [ext] */
  readonly serverVersion?: string;
  /** [ext] */
  readonly capabilities?: ServerCapabilities;
}

/** `environment/info` (current shape). Paths are `file://` URIs. */
export interface EnvironmentInfo {
  readonly shell: { readonly name: string; readonly path: string };
  readonly executorVersion: string;
  readonly cwd: string | null;
  readonly userHomeDir?: string;
  readonly platformOs: string;
  readonly temporaryDirectories: readonly string[];
  readonly tempDir?: string;
  readonly capabilities: EnvironmentCapabilities;
  /** [ext] Live processes and limits now, so a client pool can place work (ours only). */
  readonly capacity?: ServerCapacity;
}

/** [ext] `environmentInfo.capacity`: see `src/server/health.ts`. */
export interface ServerCapacity {
  readonly liveProcesses: number;
  readonly maxProcesses: number | null;
  readonly maxProcessesPerConnection: number;
  /** Whether `process/start` is taken now (what `GET /readyz` answers 200 for). */
  readonly accepting: boolean;
}

/** Each is true only where this server implements the feature. */
export interface EnvironmentCapabilities {
  readonly networkProxyLaunch: boolean;
  readonly capabilityDiscoverySandbox: boolean;
  readonly environmentConfigRead: boolean;
  readonly httpHeaderEnvVars: boolean;
  readonly sandboxedFileStreaming: boolean;
  readonly shellSnapshotV2: boolean;
}

export interface EnvironmentStatus {
  readonly status: 'ready';
}

export interface ServerCapabilities {
  /** Every method the server answers. */
  readonly methods: readonly string[];
  /** Whether this connection's session survives a disconnect (it asked with `resumeSessionId`). */
  readonly detachable: boolean;
  readonly detachTtlMs: number;
  readonly maxMessageBytes: number;
}

export interface StartResult {
  readonly processId: string;
  /** Kebab-case (`linux-seccomp`) for a seed `sandbox`, camelCase (`linuxSeccomp`) for the current one. */
  readonly sandboxType: SandboxType | WireSandboxType;
}

/** The current shape's spelling of `SandboxType`. */
export type WireSandboxType = 'none' | 'macosSeatbelt' | 'linuxSeccomp' | 'windowsRestrictedToken';

export interface WireChunk {
  readonly seq: number;
  readonly stream: OutputStream;
  /** base64 */
  readonly chunk: string;
}

export interface WireReadResult {
  readonly chunks: readonly WireChunk[];
  readonly nextSeq: number;
  readonly exited: boolean;
  readonly exitCode: number | null;
  readonly closed: boolean;
  readonly failure: string | null;
  /** Whether the failure looks like a sandbox denial (docs/sandbox.md "sandboxDenied"); always sent. */
  readonly sandboxDenied: boolean;
  /** [ext] */
  readonly firstRetainedSeq: number;
}

export interface WriteResult {
  readonly status: WriteStatus;
}

export interface TerminateResult {
  readonly running: boolean;
}

export type EmptyResult = Record<string, never>;

export interface ListResult {
  readonly processes: readonly ProcessInfo[];
}

export interface FsReadFileResult {
  /** base64 */
  readonly dataBase64: string;
}

export interface FsMetadataResult {
  readonly isDirectory: boolean;
  readonly isFile: boolean;
  /** The current shape's members (sent to both shapes: a seed client ignores them). */
  readonly isSymlink: boolean;
  readonly size: number;
  readonly createdAtMs: number;
  readonly modifiedAtMs: number;
}

export interface FsCanonicalizeResult {
  /** In the form the request used. */
  readonly path: string;
}

export interface FsWalkResult {
  readonly entries: readonly { readonly path: string; readonly kind: 'directory' | 'file' }[];
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  readonly truncated: boolean;
}

export interface FsOpenResult {
  readonly handleId: string;
}

export interface FsReadBlockResult {
  /** base64 */
  readonly chunk: string;
  readonly eof: boolean;
}

export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

export interface HttpRequestResult {
  readonly status: number;
  readonly headers: readonly HttpHeader[];
  /** base64; empty when the body is streamed. */
  readonly bodyBase64: string;
}

export interface HttpBodyDeltaNotification {
  readonly requestId: string;
  readonly seq: number;
  /** base64 */
  readonly deltaBase64: string;
  readonly done: boolean;
  readonly error: string | null;
}

export interface FsReadDirectoryResult {
  readonly entries: readonly {
    readonly fileName: string;
    readonly isDirectory: boolean;
    readonly isFile: boolean;
  }[];
}

export interface OutputNotification {
  readonly processId: string;
  readonly seq: number;
  readonly stream: OutputStream;
  /** base64 */
  readonly chunk: string;
}

export interface ExitedNotification {
  readonly processId: string;
  readonly seq: number;
  readonly exitCode: number;
  /** Always sent by this server (absent from older ones). */
  readonly sandboxDenied?: boolean;
}

export interface ClosedNotification {
  readonly processId: string;
  readonly seq: number;
}
