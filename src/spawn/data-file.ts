/**
 * Bytes a child can open by path without them staying on disk: for spawners that cannot pass a
 * descriptor (node-pty), a `data` descriptor becomes a path the launcher opens.
 *
 * The bytes go to a file created with O_EXCL and mode 0600 and unlinked at once (in /dev/shm, a
 * tmpfs, when there is one); this process keeps the only descriptor. `/proc/<pid>/fd/<fd>` is a
 * magic link: opening it yields a fresh file description at offset 0, and only this user (or root)
 * may open it. Linux only.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DataFile {
  /** A path that reads the bytes from their start, while the file is open. */
  readonly path: string;
  /** Lets go of the bytes (idempotent). */
  close(): void;
}

function memoryDir(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // No /dev/shm: the temp directory will do.
  }
  return tmpdir();
}

export function openDataFile(data: Uint8Array): DataFile {
  const file = join(memoryDir(), `execvisor-${process.pid}-${randomBytes(8).toString('hex')}`);
  // O_EXCL: never write through a file (or symlink) someone else planted at that name.
  const fd = openSync(file, 'wx+', 0o600);
  try {
    unlinkSync(file);
    let written = 0;
    while (written < data.byteLength) written += writeSync(fd, data, written, data.byteLength - written);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  let open = true;
  return {
    path: `/proc/${process.pid}/fd/${fd}`,
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
