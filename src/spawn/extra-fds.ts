/**
 * `SpawnRequest.extraFds` for `child_process.spawn`: a `file` is opened read-only and passed as is;
 * `data` becomes an extra stdio pipe that is written and ended right after the spawn, so the bytes
 * (a launch spec holding the request's env) never touch the disk or a command line.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { ExtraFd } from './types.js';

export interface ExtraStdio {
  /** stdio entries for descriptors 3, 4, …. */
  readonly stdio: readonly (number | 'pipe')[];
  /** After the spawn: writes each `data` descriptor's bytes and ends it. */
  feed(child: ChildProcess): void;
  /** Closes the descriptors opened here (the child has its own copies once spawned). */
  close(): void;
}

export function openExtraStdio(extraFds: readonly ExtraFd[]): ExtraStdio {
  const opened: number[] = [];
  const stdio: (number | 'pipe')[] = [];
  try {
    for (const extra of extraFds) {
      if (extra.kind === 'file') {
        const fd = openSync(extra.path, 'r');
        opened.push(fd);
        stdio.push(fd);
      } else {
        stdio.push('pipe');
      }
    }
  } catch (error) {
    for (const fd of opened) closeSync(fd);
    throw error;
  }
  return {
    stdio,
    feed(child) {
      extraFds.forEach((extra, index) => {
        if (extra.kind !== 'data') return;
        const stream = child.stdio[3 + index] as Duplex | null | undefined;
        if (stream === null || stream === undefined) return;
        // EPIPE when the child dies before reading: its exit status tells the story.
        stream.on('error', () => undefined);
        stream.end(extra.data);
        // Node makes this pipe a socket pair: let its reading half reach EOF (the child never
        // writes to it), or the child's 'close' would wait for it forever.
        stream.resume();
      });
    },
    close() {
      for (const fd of opened.splice(0)) closeSync(fd);
    },
  };
}
