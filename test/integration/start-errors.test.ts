/**
 * A start that fails says so in the user's terms: the program as the request named it and the OS
 * reason, never an internal wrapper. Descriptor exhaustion runs in a child process with a low limit.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/process.js';

describe('start errors', () => {
  it('out of descriptors: names the user program and EMFILE, for pipes and a terminal with arg0', () => {
    const out = execFileSync(
      '/bin/sh',
      ['-c', `ulimit -n 256 && exec "$0" "$1"`, process.execPath, `${FIXTURES}start-errors.mjs`],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    const messages = JSON.parse(out.trim()) as Record<string, string>;
    expect(messages.pipes).toBe('EXEC_ERR_SPAWN: failed to spawn `sh`: Too many open files (os error 24)');
    expect(messages.ttyArg0).toBe('EXEC_ERR_SPAWN: failed to spawn `sh`: Too many open files (os error 24)');
  });
});
