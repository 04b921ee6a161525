/**
 * The filesystem operations themselves, behind `fs/*`. They run in a pool worker (unsandboxed) or
 * in the sandboxed helper process, never on the main thread. Only asynchronous I/O: the worker
 * thread also hosts process actors, which must keep moving while a file is copied.
 *
 * Semantics follow the reference (`codex-rs/exec-server/src/local_file_system.rs`); the error texts
 * of `fs/copy` are part of the protocol (spec §8).
 */
import { constants } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  realpath,
  rm,
  rmdir,
  stat,
  symlink,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { FsInvalidError, FsIoError } from '../errors.js';
import { toFsError } from './os-error.js';
import type { FileIdentity, FsOperation, FsValue, FsValues } from './protocol.js';
import type { DirectoryEntry, FileMetadata, WalkEntry, WalkOptions, WalkOutcome } from './types.js';

/** `fs/readFile` refuses larger files (the reference's limit). */
export const MAX_READ_FILE_BYTES = 512 * 1024 * 1024;

export const COPY_DIRECTORY_NEEDS_RECURSIVE =
  'fs/copy requires recursive: true when sourcePath is a directory';
export const COPY_INTO_ITSELF = 'fs/copy cannot copy a directory to itself or one of its descendants';
export const COPY_UNSUPPORTED_TYPE = 'fs/copy only supports regular files, directories, and symlinks';
export const SYMLINK_IN_PATH = 'path contains a symbolic link';

/** `fs/walk` bounds, as the reference caps them. */
export const WALK_LIMITS = Object.freeze({
  maxDepth: 64,
  maxDirectories: 10_000,
  maxEntries: 50_000,
  /** Paths and error texts in one answer, each counted with a fixed overhead. */
  responseBytes: 4 * 1024 * 1024,
  itemOverheadBytes: 64,
});

/** The text of `path` refused by a type check (a directory, FIFO or socket where a file is wanted). */
export function notAFileMessage(path: string): string {
  return `path \`${path}\` is not a file`;
}

/** Runs one operation; every failure is an `ExecError` (`FS_INVALID` or `FS_IO`). */
export async function runFsOperation(
  operation: FsOperation,
  readLimit = MAX_READ_FILE_BYTES,
): Promise<FsValue> {
  try {
    return await dispatch(operation, readLimit);
  } catch (error) {
    throw toFsError(error);
  }
}

async function dispatch(operation: FsOperation, readLimit: number): Promise<FsValue> {
  switch (operation.op) {
    case 'readFile': {
      const follow = operation.followSymlinks !== false;
      if (!follow) await refuseSymlinkedParents(operation.path);
      return {
        data: await readFileBounded(operation.path, readLimit, follow),
      } satisfies FsValues['readFile'];
    }
    case 'writeFile': {
      const follow = operation.followSymlinks !== false;
      if (!follow) await refuseSymlinkedParents(operation.path);
      await writeFileAt(operation.path, operation.data, follow);
      return null;
    }
    case 'createDirectory':
      if (operation.followSymlinks === false) await refuseSymlinkedParents(operation.path);
      if (operation.recursive) await createDirAll(operation.path);
      else await mkdir(operation.path);
      return null;
    case 'getMetadata':
      return metadataOf(operation.path, operation.followSymlinks !== false);
    case 'readDirectory':
      return { entries: await readDirectory(operation.path) };
    case 'remove':
      if (operation.followSymlinks === false) {
        // The reference does not implement a recursive removal that refuses symlinks.
        if (operation.recursive) throw new FsIoError('recursive no-follow removal is unsupported');
        await refuseSymlinkedParents(operation.path);
      }
      await remove(operation.path, operation.recursive, operation.force);
      return null;
    case 'copy':
      await copy(operation.sourcePath, operation.destinationPath, operation.recursive);
      return null;
    case 'canonicalize':
      return { path: await realpath(operation.path) } satisfies FsValues['canonicalize'];
    case 'walk':
      return walk(operation.path, operation.options);
    case 'identify':
      return identify(operation.path);
  }
}

/**
 * `followSymlinks: false`: a symlink among the parent directories is refused as the reference's
 * no-follow resolution refuses it (`Not a directory`); the last component is opened with
 * `O_NOFOLLOW` (or lstat'ed) by the operation itself.
 */
async function refuseSymlinkedParents(path: string): Promise<void> {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  let prefix = '';
  for (const part of parts.slice(0, -1)) {
    prefix = `${prefix}/${part}`;
    const info = await lstat(prefix).catch(() => null);
    if (info === null) return; // missing: the operation reports it
    if (info.isSymbolicLink()) {
      throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR', errno: -20 });
    }
  }
}

/**
 * Reads a whole file, refusing one over `limit`. The file is opened non-blocking so that a FIFO
 * cannot hold a thread of the libuv pool forever; FIFOs and sockets are refused. The size is
 * checked again while reading: a device or a growing file cannot slip past the limit.
 */
async function readFileBounded(path: string, limit: number, follow: boolean): Promise<Uint8Array> {
  const tooLarge = () => new FsInvalidError(`file is too large to read: limit is ${limit} bytes`);
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (follow ? 0 : constants.O_NOFOLLOW);
  const handle = await open(path, flags);
  try {
    const info = await handle.stat();
    // As the reference: a directory, FIFO or socket is not a file (devices may still be read).
    if (info.isFIFO() || info.isSocket() || info.isDirectory())
      throw new FsInvalidError(notAFileMessage(path));
    if (info.size > limit) throw tooLarge();
    // One spare byte tells EOF-at-size from a file that grew.
    let buffer = new Uint8Array(Math.min(info.size > 0 ? info.size : 8192, limit) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.byteLength) {
        if (length > limit) throw tooLarge();
        const grown = new Uint8Array(Math.min(buffer.byteLength * 2, limit + 1));
        grown.set(buffer);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.byteLength - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > limit) throw tooLarge();
    // A view, not a copy: its whole ArrayBuffer can be transferred to the main thread.
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

async function writeFileAt(path: string, data: Uint8Array, follow: boolean): Promise<void> {
  // Non-blocking: a FIFO with no reader fails (ENXIO) instead of blocking a pool thread.
  const flags =
    constants.O_WRONLY |
    constants.O_CREAT |
    constants.O_TRUNC |
    constants.O_NONBLOCK |
    (follow ? 0 : constants.O_NOFOLLOW);
  const handle: FileHandle = await open(path, flags, 0o666);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/**
 * `mkdir -p` that reports the real error. Node's own recursive mkdir answers ENOENT where the OS said
 * EROFS or EACCES (it stats the path after a failure), which would hide a sandbox denial.
 */
async function createDirAll(path: string): Promise<void> {
  const isDirectory = async () => (await stat(path).catch(() => null))?.isDirectory() === true;
  try {
    await mkdir(path);
    return;
  } catch (error) {
    if (await isDirectory()) return;
    const parent = dirname(path);
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) throw error;
  }
  await createDirAll(dirname(path));
  try {
    await mkdir(path);
  } catch (error) {
    if (!(await isDirectory())) throw error;
  }
}

async function metadataOf(path: string, follow: boolean): Promise<FileMetadata> {
  if (!follow) await refuseSymlinkedParents(path);
  const link = await lstat(path);
  if (link.isSymbolicLink() && !follow) throw new FsInvalidError(SYMLINK_IN_PATH);
  const info = link.isSymbolicLink() ? await stat(path) : link;
  return {
    isDirectory: info.isDirectory(),
    isFile: info.isFile(),
    isSymlink: link.isSymbolicLink(),
    size: info.size,
    createdAtMs: Math.max(0, Math.trunc(info.birthtimeMs)),
    modifiedAtMs: Math.max(0, Math.trunc(info.mtimeMs)),
  };
}

/** Opens `path` (never blocking on a FIFO) and names the inode it found. */
async function identify(path: string): Promise<FileIdentity> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat({ bigint: true });
    return { dev: String(info.dev), ino: String(info.ino), isFile: info.isFile() };
  } finally {
    await handle.close();
  }
}

/** Byte order, as the reference sorts names (UTF-8 bytes, not UTF-16 units). */
function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * `fs/walk`: breadth-first from `root`, each directory's entries sorted by name, within the
 * caller's bounds and a response-size budget. Symlinks are skipped, except symlinked directories
 * when `followDirectorySymlinks` (each real directory is walked once). A directory that cannot be
 * read is reported in `errors` and the walk goes on. Follows the reference's algorithm
 * (`codex-rs/file-system`, `walk_via_directory_reads`), including where `truncated` is set.
 */
async function walk(root: string, options: WalkOptions): Promise<WalkOutcome> {
  const { maxDepth, maxDirectories, maxEntries, followDirectorySymlinks: follow } = options;
  if (maxDirectories === 0 || maxEntries === 0) {
    throw new FsInvalidError('filesystem walk limits must be greater than zero');
  }
  if (
    maxDepth > WALK_LIMITS.maxDepth ||
    maxDirectories > WALK_LIMITS.maxDirectories ||
    maxEntries > WALK_LIMITS.maxEntries
  ) {
    throw new FsInvalidError(
      `filesystem walk limits exceed maximums: depth=${WALK_LIMITS.maxDepth}, ` +
        `directories=${WALK_LIMITS.maxDirectories}, entries=${WALK_LIMITS.maxEntries}`,
    );
  }
  const entries: WalkEntry[] = [];
  const errors: { path: string; message: string }[] = [];
  const outcome = (truncated: boolean): WalkOutcome => ({ entries, errors, truncated });

  const rootLink = await lstat(root);
  const rootInfo = rootLink.isSymbolicLink() ? await stat(root) : rootLink;
  if (!rootInfo.isDirectory() || (rootLink.isSymbolicLink() && !follow)) return outcome(false);

  let budget = WALK_LIMITS.responseBytes;
  const reserve = (bytes: number) => {
    const cost = bytes + WALK_LIMITS.itemOverheadBytes;
    if (cost > budget) return false;
    budget -= cost;
    return true;
  };
  const visited = new Set<string>([follow ? await realpath(root) : root]);
  const queue: [string, number][] = [[root, 0]];
  let directories = 1;
  let inspected = 0;
  let truncated = false;
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [directory, depth] = next;
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      const item = { path: directory, message: toFsError(error).message };
      if (!reserve(item.path.length + item.message.length)) return outcome(true);
      errors.push(item);
      continue;
    }
    names.sort(byName);
    for (const name of names) {
      if (inspected === maxEntries) return outcome(true);
      inspected += 1;
      const path = directory === '/' ? `/${name}` : `${directory}/${name}`;
      const link = await lstat(path).catch(() => null);
      if (link === null) continue; // gone since the listing
      let info = link;
      if (link.isSymbolicLink()) {
        if (!follow) continue;
        const target = await stat(path).catch(() => null);
        if (target === null || !target.isDirectory()) continue;
        info = target;
      }
      const kind = info.isDirectory() ? 'directory' : info.isFile() ? 'file' : null;
      if (kind === null) continue;
      if (!reserve(Buffer.byteLength(path))) return outcome(true);
      entries.push({ path, kind });
      if (kind !== 'directory' || depth >= maxDepth) continue;
      const identity = follow ? await realpath(path).catch(() => null) : path;
      if (identity === null || visited.has(identity)) continue;
      visited.add(identity);
      if (directories === maxDirectories) truncated = true;
      else {
        directories += 1;
        queue.push([path, depth + 1]);
      }
    }
  }
  return outcome(truncated);
}

const STAT_BATCH = 32;

/** Entries with their types through symlinks; an entry that cannot be stat'ed is left out. */
async function readDirectory(path: string): Promise<DirectoryEntry[]> {
  const names = await readdir(path);
  const entries: DirectoryEntry[] = [];
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    const batch = names.slice(i, i + STAT_BATCH);
    const infos = await Promise.all(batch.map((name) => stat(join(path, name)).catch(() => null)));
    batch.forEach((fileName, j) => {
      const info = infos[j];
      if (info != null) entries.push({ fileName, isDirectory: info.isDirectory(), isFile: info.isFile() });
    });
  }
  return entries.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
}

async function remove(path: string, recursive: boolean, force: boolean): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if (force && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!info.isDirectory()) await unlink(path);
  else if (recursive) await rm(path, { recursive: true });
  else await rmdir(path);
}

async function copy(source: string, destination: string, recursive: boolean): Promise<void> {
  const info = await lstat(source);
  if (info.isDirectory()) {
    if (!recursive) throw new FsInvalidError(COPY_DIRECTORY_NEEDS_RECURSIVE);
    if (isWithin(await resolveExistingPath(destination), await realpath(source))) {
      throw new FsInvalidError(COPY_INTO_ITSELF);
    }
    await copyTree(source, destination);
  } else if (info.isSymbolicLink()) {
    await copySymlink(source, destination);
  } else if (info.isFile()) {
    await copyFile(source, destination);
  } else {
    throw new FsInvalidError(COPY_UNSUPPORTED_TYPE);
  }
}

/** Directories, files and symlinks (as symlinks); FIFOs, sockets and devices are skipped. */
async function copyTree(source: string, destination: string): Promise<void> {
  await createDirAll(destination);
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(destination, entry.name);
    if (entry.isDirectory()) await copyTree(from, to);
    else if (entry.isFile()) await copyFile(from, to);
    else if (entry.isSymbolicLink()) await copySymlink(from, to);
  }
}

async function copySymlink(source: string, destination: string): Promise<void> {
  await symlink(await readlink(source), destination);
}

/** The canonical form of `path`: its deepest existing ancestor canonicalized, the rest re-appended. */
export async function resolveExistingPath(path: string): Promise<string> {
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    try {
      return join(await realpath(existing), ...missing.reverse());
    } catch (error) {
      const parent = dirname(existing);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === existing) throw error;
      missing.push(basename(existing));
      existing = parent;
    }
  }
}

/** Component-wise: `/a/b` is within `/a`, `/ab` is not. */
function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}
