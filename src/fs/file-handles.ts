/**
 * `fs/open` / `fs/readBlock` / `fs/close`: one connection's open read handles. A handle holds an
 * open descriptor, so it keeps reading the file it opened even after the path is replaced or
 * removed. Limits and texts are the reference's: at most 128 handles per connection, handle ids of
 * at most 32 bytes, blocks of 1 byte to 1 MiB, and anything but a regular file refused at once
 * (a FIFO is opened non-blocking, so it never waits for a writer).
 *
 * Reads are positioned (`pread`) and asynchronous, so handles need no cursor and blocks may be
 * read in any order.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FsInvalidError, FsIoError, LimitError, NotFoundError } from '../errors.js';
import { toFsError } from './os-error.js';
import { notAFileMessage } from './operations.js';
import type { FileIdentity } from './protocol.js';

export const FILE_HANDLE_LIMITS = Object.freeze({
  openPerConnection: 128,
  idBytes: 32,
  blockBytes: 1024 * 1024,
});

export interface ReadBlock {
  readonly chunk: Uint8Array;
  /** Fewer bytes than asked were left: the block reached the end of the file. */
  readonly eof: boolean;
}

export class FileHandleTable {
  readonly #max: number;
  /** Every handle id in use, opening ones included (they hold their slot while they open). */
  readonly #handles = new Map<string, Promise<FileHandle | null>>();

  constructor(maxOpen: number = FILE_HANDLE_LIMITS.openPerConnection) {
    this.#max = maxOpen;
  }

  get size(): number {
    return this.#handles.size;
  }

  /**
   * Opens `path` for reading under `handleId`. With `expected` (the inode a sandboxed helper opened
   * under the request's sandbox), the server's descriptor must name that same inode: the sandbox
   * decides what may be read, and a path swapped in between is refused.
   */
  async open(handleId: string, path: string, expected: FileIdentity | null = null): Promise<void> {
    if (Buffer.byteLength(handleId) > FILE_HANDLE_LIMITS.idBytes) {
      throw new FsInvalidError(`file handle ID must not exceed ${FILE_HANDLE_LIMITS.idBytes} bytes`);
    }
    if (this.#handles.has(handleId)) throw new FsInvalidError(`file handle \`${handleId}\` already exists`);
    if (this.#handles.size >= this.#max) {
      throw new LimitError(`at most ${this.#max} file handles may be open per connection`);
    }
    // The slot is taken before the first await: of two opens with one id, exactly one wins.
    let settle!: (handle: FileHandle | null) => void;
    this.#handles.set(handleId, new Promise((resolve) => (settle = resolve)));
    let handle: FileHandle | null = null;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      const info = await handle.stat({ bigint: true });
      if (!info.isFile()) throw new FsInvalidError(notAFileMessage(path));
      if (expected !== null && (expected.dev !== String(info.dev) || expected.ino !== String(info.ino))) {
        throw new FsIoError(`path \`${path}\` changed while it was opened`);
      }
      settle(handle);
    } catch (error) {
      this.#handles.delete(handleId);
      settle(null);
      await handle?.close().catch(() => undefined);
      throw toFsError(error);
    }
  }

  async readBlock(handleId: string, offset: number, length: number): Promise<ReadBlock> {
    if (!Number.isSafeInteger(length) || length < 1 || length > FILE_HANDLE_LIMITS.blockBytes) {
      throw new FsInvalidError(
        `file read block length must be between 1 and ${FILE_HANDLE_LIMITS.blockBytes}`,
      );
    }
    const handle = await this.#handles.get(handleId);
    if (handle === undefined || handle === null)
      throw new NotFoundError(`unknown file handle \`${handleId}\``);
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    try {
      // A short read is not the end of the file; only a read of nothing is.
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } catch (error) {
      throw toFsError(error);
    }
    return { chunk: buffer.subarray(0, filled), eof: filled < length };
  }

  /** Closing an unknown (or already closed) handle is not an error, as in the reference. */
  async close(handleId: string): Promise<void> {
    const pending = this.#handles.get(handleId);
    if (pending === undefined) return;
    this.#handles.delete(handleId);
    await (await pending)?.close().catch(() => undefined);
  }

  /** The connection is gone: every descriptor is closed. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#handles.keys()].map((id) => this.close(id)));
  }
}
