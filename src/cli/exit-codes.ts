/**
 * How the `execvisor` command ends, and how its own errors read. `run` passes the child's status
 * through, so its own failures use codes a child rarely does, as `docker run` and `env` do: 125 for
 * an error of ours, 126 and 127 as a shell uses them (found but not executable, not found), 2 for
 * a bad command line. Each error is one line on stderr, `execvisor: <what failed>: <why>`.
 */
import { ErrorCodes, errorCodeOf } from '../errors.js';

export const EXIT_USAGE = 2;
/** An error of execvisor itself (cannot connect, refused token, sandbox unavailable, a bug). */
export const EXIT_FAILURE = 125;
/** The program exists but could not be executed. */
export const EXIT_NOT_EXECUTABLE = 126;
/** The program was not found. */
export const EXIT_NOT_FOUND = 127;
/** Output could not be written (a closed pipe), as a shell reports a writer killed by SIGPIPE. */
export const EXIT_BROKEN_PIPE = 128 + 13;

/**
 * The exit code for an error that ended a run before the child could. Spawn errors naming the
 * program (`failed to spawn \`x\`: … (os error N)`) are the shell's 127 (ENOENT) or 126; every other
 * error, a missing cwd included, is 125.
 */
export function exitCodeForError(error: unknown): number {
  if (errorCodeOf(error) !== ErrorCodes.SPAWN) return EXIT_FAILURE;
  const message = error instanceof Error ? error.message : String(error);
  if (!message.startsWith('failed to spawn `')) return EXIT_FAILURE;
  return message.includes('(os error 2)') ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
}

/** One line: the message of an Error (never its stack), or the value. */
export function errorLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return `execvisor: ${text.replace(/\s*\n\s*/g, ' ')}\n`;
}

/** Exits with `code` once everything written to stdout and stderr has been handed to the OS. */
export async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  // The callback of an empty write runs after every earlier write (or with the stream's error).
  return new Promise((resolve) => stream.write('', () => resolve()));
}
