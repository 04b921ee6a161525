/**
 * A child's stdin pipe as both pipe backends answer `write` and `closeStdin` (node's
 * src/spawn/pipe-backend.ts and the native src/spawn/native-backend.ts): writes are accepted while
 * the pipe is open and answer `stdinClosed` once the child closed its end (EPIPE) or we ended ours.
 */
import type { Writable } from 'node:stream';
import type { SpawnedChild } from './types.js';

/** Past this many queued stdin bytes a write waits for the pipe to drain before it is answered. */
const STDIN_QUEUE_BYTES = 1 << 20;

export function stdinPipe(stdin: Writable | null): Pick<SpawnedChild, 'write' | 'closeStdin'> {
  let open = stdin !== null;
  stdin?.on('error', () => {
    // EPIPE once the child closed its stdin: later writes report stdinClosed.
    open = false;
  });
  stdin?.on('close', () => {
    open = false;
  });
  return {
    write(data) {
      if (stdin === null || !open || stdin.writableEnded) return Promise.resolve('stdinClosed');
      return writeBounded(stdin, data);
    },
    closeStdin() {
      if (stdin !== null && !stdin.writableEnded) stdin.end();
    },
  };
}

function writeBounded(stdin: Writable, data: Uint8Array): Promise<'accepted' | 'stdinClosed'> {
  stdin.write(data);
  if (stdin.writableLength <= STDIN_QUEUE_BYTES) return Promise.resolve('accepted');
  return new Promise((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve('accepted');
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}
