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
import { FsInvalidError } from '../errors.js';
import { toFsError } from './os-error.js';
import type { FsOperation, FsValue, FsValues } from './protocol.js';
import type { DirectoryEntry, FileMetadata } from './types.js';

/** `fs/readFile` refuses larger files (the reference's limit). */
export const MAX_READ_FILE_BYTES = 512 * 1024 * 1024;

export const COPY_DIRECTORY_NEEDS_RECURSIVE =
  'fs/copy requires recursive: true when sourcePath is a directory';
export const COPY_INTO_ITSELF = 'fs/copy cannot copy a directory to itself or one of its descendants';
export const COPY_UNSUPPORTED_TYPE = 'fs/copy only supports regular files, directories, and symlinks';

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
    case 'readFile':
      return { data: await readFileBounded(operation.path, readLimit) } satisfies FsValues['readFile'];
    case 'writeFile':
      await writeFileAt(operation.path, operation.data);
      return null;
    case 'createDirectory':
      if (operation.recursive) await createDirAll(operation.path);
      else await mkdir(operation.path);
      return null;
    case 'getMetadata':
      return metadataOf(operation.path);
    case 'readDirectory':
      return { entries: await readDirectory(operation.path) };
    case 'remove':
      await remove(operation.path, operation.recursive, operation.force);
      return null;
    case 'copy':
      await copy(operation.sourcePath, operation.destinationPath, operation.recursive);
      return null;
  }
}

/**
 * Reads a whole file, refusing one over `limit`. The file is opened non-blocking so that a FIFO
 * cannot hold a thread of the libuv pool forever; FIFOs and sockets are refused. The size is
 * checked again while reading: a device or a growing file cannot slip past the limit.
 */
async function readFileBounded(path: string, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new FsInvalidError(`file is too large to read: limit is ${limit} bytes`);
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (info.isFIFO() || info.isSocket()) {
      throw new FsInvalidError('fs/readFile only supports regular files and devices, not FIFOs or sockets');
    }
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

async function writeFileAt(path: string, data: Uint8Array): Promise<void> {
  // Non-blocking: a FIFO with no reader fails (ENXIO) instead of blocking a pool thread.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK;
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

async function metadataOf(path: string): Promise<FileMetadata> {
  const info = await stat(path);
  return {
    isDirectory: info.isDirectory(),
    isFile: info.isFile(),
    createdAtMs: Math.max(0, Math.trunc(info.birthtimeMs)),
    modifiedAtMs: Math.max(0, Math.trunc(info.mtimeMs)),
  };
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
