/**
 * Result and notification shapes as they travel (camelCase JSON, bytes as base64 strings).
 * Params are declared as zod schemas in `methods.ts`; these are the server's answers.
 */
import type { OutputStream, ProcessInfo, SandboxType, WriteStatus } from '../core/types.js';

export interface InitializeResult {
  /** [ext] The session this connection is attached to; pass it as `resumeSessionId` to resume. */
  readonly sessionId?: string;
  /** [ext] */
  readonly serverVersion?: string;
  /** [ext] */
  readonly capabilities?: ServerCapabilities;
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
  readonly sandboxType: SandboxType;
}

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
  readonly createdAtMs: number;
  readonly modifiedAtMs: number;
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
}

export interface ClosedNotification {
  readonly processId: string;
  readonly seq: number;
}
