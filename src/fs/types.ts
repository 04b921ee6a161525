/**
 * The filesystem methods as the in-process API sees them (`ExecRuntime`, `ExecServerClient`): the
 * same param objects as `fs/*` on the wire, with bytes as `Uint8Array` instead of base64.
 */
import type { SandboxOptions } from '../core/sandbox-options.js';

/** A SandboxLaunchConfig (see docs/sandbox.md). Absent or null: no sandbox. */
type SandboxMember = { readonly sandbox?: SandboxOptions | null };

export interface ReadFileParams extends SandboxMember {
  /** Absolute. */
  readonly path: string;
}

export interface ReadFileResult {
  readonly data: Uint8Array;
}

export interface WriteFileParams extends SandboxMember {
  readonly path: string;
  readonly data: Uint8Array;
}

export interface CreateDirectoryParams extends SandboxMember {
  readonly path: string;
  /** Create missing parents too (default true). */
  readonly recursive?: boolean | null;
}

export interface GetMetadataParams extends SandboxMember {
  readonly path: string;
}

export interface FileMetadata {
  readonly isDirectory: boolean;
  readonly isFile: boolean;
  /** Birth time in ms since the epoch; 0 where the filesystem does not record it. */
  readonly createdAtMs: number;
  readonly modifiedAtMs: number;
}

export interface ReadDirectoryParams extends SandboxMember {
  readonly path: string;
}

export interface DirectoryEntry {
  readonly fileName: string;
  readonly isDirectory: boolean;
  readonly isFile: boolean;
}

export interface ReadDirectoryResult {
  /** Sorted by `fileName`. */
  readonly entries: readonly DirectoryEntry[];
}

export interface RemoveParams extends SandboxMember {
  readonly path: string;
  /** Remove a directory with its contents (default true). */
  readonly recursive?: boolean | null;
  /** A missing path is not an error (default true). */
  readonly force?: boolean | null;
}

export interface CopyParams extends SandboxMember {
  readonly sourcePath: string;
  readonly destinationPath: string;
  /** Required for a directory source. */
  readonly recursive: boolean;
}

/** The `fs/*` methods, implemented by `ExecRuntime` and `ExecServerClient`. */
export interface FileSystemBackend {
  readFile(params: ReadFileParams): Promise<ReadFileResult>;
  writeFile(params: WriteFileParams): Promise<void>;
  createDirectory(params: CreateDirectoryParams): Promise<void>;
  getMetadata(params: GetMetadataParams): Promise<FileMetadata>;
  readDirectory(params: ReadDirectoryParams): Promise<ReadDirectoryResult>;
  remove(params: RemoveParams): Promise<void>;
  copy(params: CopyParams): Promise<void>;
}
