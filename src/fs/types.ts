/**
 * The filesystem methods as the in-process API sees them (`ExecRuntime`, `ExecServerClient`): the
 * same param objects as `fs/*` on the wire, with bytes as `Uint8Array` instead of base64.
 */
import type { SandboxOptions } from '../core/sandbox-options.js';

/** A SandboxLaunchConfig (see docs/sandbox.md). Absent or null: no sandbox. */
type SandboxMember = { readonly sandbox?: SandboxOptions | null };

/** The current protocol's `followSymlinks`: false refuses a symlink in the path. Default true. */
type FollowMember = { readonly followSymlinks?: boolean | null };

export interface ReadFileParams extends SandboxMember, FollowMember {
  /** Absolute. */
  readonly path: string;
}

export interface ReadFileResult {
  readonly data: Uint8Array;
}

export interface WriteFileParams extends SandboxMember, FollowMember {
  readonly path: string;
  readonly data: Uint8Array;
}

export interface CreateDirectoryParams extends SandboxMember, FollowMember {
  readonly path: string;
  /** Create missing parents too (default true). */
  readonly recursive?: boolean | null;
}

export interface GetMetadataParams extends SandboxMember, FollowMember {
  readonly path: string;
}

export interface FileMetadata {
  readonly isDirectory: boolean;
  readonly isFile: boolean;
  /** The path itself is a symlink (the other members describe its target). */
  readonly isSymlink: boolean;
  /** Size in bytes (of the target, for a symlink). */
  readonly size: number;
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

export interface RemoveParams extends SandboxMember, FollowMember {
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

export interface CanonicalizeParams extends SandboxMember {
  readonly path: string;
}

/** Bounds of `walk` (each at least 1; at most depth 64, 10 000 directories, 50 000 entries). */
export interface WalkOptions {
  /** Levels below the root to descend into; 0 lists the root only. */
  readonly maxDepth: number;
  /** Directories to read, the root included. */
  readonly maxDirectories: number;
  /** Directory entries to inspect. */
  readonly maxEntries: number;
  /** Descend into symlinked directories (each real directory once). */
  readonly followDirectorySymlinks: boolean;
}

export interface WalkParams extends SandboxMember {
  readonly path: string;
  readonly options: WalkOptions;
}

export interface WalkEntry {
  readonly path: string;
  readonly kind: 'directory' | 'file';
}

export interface WalkOutcome {
  /** Breadth-first, each directory's entries sorted by name. */
  readonly entries: readonly WalkEntry[];
  /** Directories that could not be read. */
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  /** A limit stopped the walk early. */
  readonly truncated: boolean;
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
  /** The canonical path (symlinks resolved); the path must exist. */
  canonicalize(params: CanonicalizeParams): Promise<string>;
  /** Files and directories below `path`, breadth-first, within the given bounds. */
  walk(params: WalkParams): Promise<WalkOutcome>;
}
