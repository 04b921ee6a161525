/**
 * The messages of a filesystem operation, shared by the three places that handle one: the main
 * thread (which builds a task), the pool worker `workers/fs-operation.ts` (which runs it, or hands
 * it to a sandboxed helper), and the helper process `workers/fs-helper.ts` (one JSON request on
 * stdin, one JSON response on stdout, bytes as base64). Defaults are filled before a task is built,
 * so every member here is explicit.
 */
import { constants as bufferConstants } from 'node:buffer';
import type { PlainError } from '../errors.js';
import type { SandboxTools } from '../sandbox/tools.js';
import type { DirectoryEntry, FileMetadata, WalkOptions, WalkOutcome } from './types.js';

/**
 * `followSymlinks: false` refuses a symlink anywhere in the path (the current protocol's
 * `followSymlinks`); true follows them, as the seed always did.
 */
export type FsOperation =
  | { readonly op: 'readFile'; readonly path: string; readonly followSymlinks?: boolean }
  | {
      readonly op: 'writeFile';
      readonly path: string;
      readonly data: Uint8Array;
      readonly followSymlinks?: boolean;
    }
  | {
      readonly op: 'createDirectory';
      readonly path: string;
      readonly recursive: boolean;
      readonly followSymlinks?: boolean;
    }
  | { readonly op: 'getMetadata'; readonly path: string; readonly followSymlinks?: boolean }
  | { readonly op: 'readDirectory'; readonly path: string }
  | {
      readonly op: 'remove';
      readonly path: string;
      readonly recursive: boolean;
      readonly force: boolean;
      readonly followSymlinks?: boolean;
    }
  | {
      readonly op: 'copy';
      readonly sourcePath: string;
      readonly destinationPath: string;
      readonly recursive: boolean;
    }
  | { readonly op: 'canonicalize'; readonly path: string }
  | {
      readonly op: 'walk';
      readonly path: string;
      readonly options: WalkOptions;
    }
  /** `fs/open` under a sandbox: open and stat inside the sandbox, so it decides what may be read. */
  | { readonly op: 'identify'; readonly path: string };

/**
 * The file a sandboxed `identify` opened: the server opens the same inode or nothing. Device and
 * inode are decimal strings of the 64-bit values (a JS number would round large inodes).
 */
export interface FileIdentity {
  readonly dev: string;
  readonly ino: string;
  readonly isFile: boolean;
}

export type FsOperationName = FsOperation['op'];

/** What each operation yields. */
export interface FsValues {
  readonly readFile: { readonly data: Uint8Array };
  readonly writeFile: null;
  readonly createDirectory: null;
  readonly getMetadata: FileMetadata;
  readonly readDirectory: { readonly entries: readonly DirectoryEntry[] };
  readonly remove: null;
  readonly copy: null;
  readonly canonicalize: { readonly path: string };
  readonly walk: WalkOutcome;
  readonly identify: FileIdentity;
}

export type FsValue = FsValues[FsOperationName];

/** One pool task: the operation and the raw `sandbox` member of the request (null = none). */
export interface FsTask {
  readonly operation: FsOperation;
  readonly sandbox: unknown;
  /** The bwrap and launcher the runtime resolved at start (absent: resolved in the worker). */
  readonly sandboxTools?: SandboxTools;
}

/**
 * A task's answer. Errors travel as plain `{code, message}`: an Error thrown across the worker
 * boundary would lose its code.
 */
export type FsOutcome =
  { readonly ok: true; readonly value: FsValue } | { readonly ok: false; readonly error: PlainError };

// The helper's wire form: JSON, so bytes are base64 strings.

export type HelperRequest =
  | Exclude<FsOperation, { op: 'writeFile' }>
  | {
      readonly op: 'writeFile';
      readonly path: string;
      readonly dataBase64: string;
      readonly followSymlinks?: boolean;
    };

export type HelperResponse =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: PlainError };

/** The base64 member of a helper `readFile` value. */
export interface HelperReadFileValue {
  readonly dataBase64: string;
}

/**
 * The largest file whose base64 fits in one JS string with room for the JSON around it. A helper
 * response and a `fs/readFile` answer on the wire are each one JSON text, built as one string.
 */
export const MAX_BASE64_BYTES = Math.floor((bufferConstants.MAX_STRING_LENGTH - 64 * 1024) / 4) * 3;

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function toHelperRequest(operation: FsOperation): HelperRequest {
  if (operation.op !== 'writeFile') return operation;
  return {
    op: 'writeFile',
    path: operation.path,
    dataBase64: toBase64(operation.data),
    ...(operation.followSymlinks === undefined ? {} : { followSymlinks: operation.followSymlinks }),
  };
}

export function fromHelperRequest(request: HelperRequest): FsOperation {
  if (request.op !== 'writeFile') return request;
  return {
    op: 'writeFile',
    path: request.path,
    data: Buffer.from(request.dataBase64, 'base64'),
    ...(request.followSymlinks === undefined ? {} : { followSymlinks: request.followSymlinks }),
  };
}
