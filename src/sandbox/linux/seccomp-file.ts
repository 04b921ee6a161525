/**
 * Makes a seccomp program readable by a child as a file, without leaving anything on disk.
 *
 * The program is written to a temp file that is unlinked at once; this process keeps the only
 * descriptor for its whole life. `/proc/<pid>/fd/<fd>` is a magic link: opening it (here or from a
 * child, e.g. `3</proc/123/fd/21` in a wrapper shell) yields a *fresh* file description at offset
 * 0, so every spawn can hand bwrap its own descriptor to read to EOF. Linux only.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const programs = new Map<string, string>();

function keyOf(program: Uint8Array): string {
  return Buffer.from(program.buffer, program.byteOffset, program.byteLength).toString('base64');
}

/** A path that, when opened, reads `program` from its start. Written once per distinct program. */
export function seccompProgramPath(program: Uint8Array): string {
  const key = keyOf(program);
  const known = programs.get(key);
  if (known !== undefined) return known;

  const file = join(tmpdir(), `execvisor-seccomp-${process.pid}-${randomBytes(8).toString('hex')}.bpf`);
  // O_EXCL: never write through a file (or symlink) someone else planted at that name.
  const fd = openSync(file, 'wx+', 0o600);
  try {
    unlinkSync(file);
    let written = 0;
    while (written < program.byteLength) {
      written += writeSync(fd, program, written, program.byteLength - written);
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  // Deliberately never closed: the descriptor is the program's only home.
  const path = `/proc/${process.pid}/fd/${fd}`;
  programs.set(key, path);
  return path;
}
