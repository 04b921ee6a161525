/**
 * `exec()`: start a process, wait for it to close and hand back its whole output, decoded. One
 * implementation over the `ExecBackend` interface, which `ExecRuntime`, `ExecSession` and
 * `ExecServerClient` all call. Output is collected as bytes per stream and decoded once at the end,
 * so a UTF-8 character split across chunks comes out whole.
 */
import { constants } from 'node:os';
import { AbortedError, InvalidArgumentError, LimitError } from '../errors.js';
import { show } from './options.js';
import { timedOut } from './start-limits.js';
import type { ExecBackend, OutputStream, PosixSignal, StartOptions } from './types.js';

/** Default bound of each collected stream (stdout and stderr apart). */
export const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/**
 * A start's options without `pipeStdin` (set from `input`) and `flowControl`: `exec` keeps all the
 * output (up to `maxBuffer`) and acknowledges none, so a window would pause the process for good.
 */
export interface ExecOptions extends Omit<StartOptions, 'pipeStdin' | 'flowControl'> {
  /** Written to stdin, which is then closed (on a terminal: written, then VEOF). Default: none. */
  readonly input?: string | Uint8Array | null;
  /**
   * Most bytes kept of stdout, and of stderr. Past it the process is terminated and `exec` rejects
   * with `EXEC_ERR_LIMIT`. Default 64 MiB.
   */
  readonly maxBuffer?: number | null;
  /** `utf8` (default): strings; `buffer`: the raw bytes as `Uint8Array`. */
  readonly encoding?: 'utf8' | 'buffer' | null;
}

export interface ExecResult<Output extends string | Uint8Array = string> {
  readonly processId: string;
  /** Everything on stdout (under a terminal: everything the terminal showed). */
  readonly stdout: Output;
  readonly stderr: Output;
  /** The exit status, `128 + n` for a death by signal n. */
  readonly exitCode: number;
  /** The signal an exit code above 128 stands for, as a shell reads `$?`; else null. */
  readonly signal: PosixSignal | null;
  /** Whether `timeoutMs` ran out and the process was terminated for it. */
  readonly timedOut: boolean;
  /** From the call to the close of the process. */
  readonly durationMs: number;
}

/** What `exec(options)` resolves to: bytes with `encoding: 'buffer'`, else strings. */
export type ExecResultOf<O extends ExecOptions> = ExecResult<
  O extends { readonly encoding: 'buffer' } ? Uint8Array : string
>;

const SIGNAL_NAMES = new Map<number, PosixSignal>(
  Object.entries(constants.signals).map(([name, number]) => [number, name as PosixSignal]),
);

function signalOf(exitCode: number): PosixSignal | null {
  return exitCode > 128 ? (SIGNAL_NAMES.get(exitCode - 128) ?? null) : null;
}

function checkOptions(options: ExecOptions): { maxBuffer: number; buffer: boolean } {
  const { maxBuffer, encoding, input } = options;
  if (maxBuffer != null && (!Number.isSafeInteger(maxBuffer) || maxBuffer < 0)) {
    throw new InvalidArgumentError(`maxBuffer must be a non-negative integer, got ${show(maxBuffer)}`);
  }
  if (encoding != null && encoding !== 'utf8' && encoding !== 'buffer') {
    throw new InvalidArgumentError(`encoding must be "utf8" or "buffer", got ${show(encoding)}`);
  }
  if (input != null && typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new InvalidArgumentError(`input must be a string or a Uint8Array, got ${show(input)}`);
  }
  return { maxBuffer: maxBuffer ?? DEFAULT_MAX_BUFFER, buffer: encoding === 'buffer' };
}

/** Runs `options` on `backend` to its close; see `ExecRuntime.exec`. */
export async function execOn<O extends ExecOptions>(
  backend: ExecBackend,
  options: O,
): Promise<ExecResultOf<O>> {
  const { input, maxBuffer: _maxBuffer, encoding: _encoding, ...start } = options;
  const { maxBuffer, buffer } = checkOptions(options);
  const began = performance.now();
  const withInput = input != null;
  const process = await backend.start({
    ...start,
    // Ignored if given anyway (from JavaScript): see ExecOptions.
    flowControl: null,
    pipeStdin: withInput && start.tty !== true,
  });
  const collected: Record<'stdout' | 'stderr', { chunks: Uint8Array[]; bytes: number }> = {
    stdout: { chunks: [], bytes: 0 },
    stderr: { chunks: [], bytes: 0 },
  };
  let overflow: 'stdout' | 'stderr' | null = null;
  const closed = new Promise<void>((resolve, reject) => {
    process.events$.subscribe({
      next(event) {
        if (event.type !== 'output' || overflow !== null) return;
        const into = collected[streamOf(event.stream)];
        if (into.bytes + event.chunk.byteLength > maxBuffer) {
          overflow = streamOf(event.stream);
          process.terminate({ graceMs: start.terminateGraceMs ?? null }).catch(() => undefined);
          return;
        }
        into.chunks.push(event.chunk);
        into.bytes += event.chunk.byteLength;
      },
      complete: () => resolve(),
      error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
    });
  });
  if (withInput) {
    // Stdin refused (the child exited first) is no error of the caller's: the result says so.
    await process.write(input).catch(() => undefined);
    await process.closeStdin().catch(() => undefined);
  }
  await closed;
  const exitCode = await process.exited;
  if (start.signal?.aborted) throw new AbortedError('exec', { cause: start.signal.reason });
  if (overflow !== null) {
    throw new LimitError(
      `exec: ${overflow as string} exceeded maxBuffer (${maxBuffer} bytes); the process was terminated`,
    );
  }
  const output = (stream: 'stdout' | 'stderr'): string | Uint8Array => {
    const bytes = Buffer.concat(collected[stream].chunks, collected[stream].bytes);
    return buffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.toString('utf8');
  };
  return {
    processId: process.processId,
    stdout: output('stdout'),
    stderr: output('stderr'),
    exitCode,
    signal: signalOf(exitCode),
    timedOut: timedOut(process),
    durationMs: performance.now() - began,
  } as ExecResultOf<O>;
}

function streamOf(stream: OutputStream): 'stdout' | 'stderr' {
  return stream === 'stderr' ? 'stderr' : 'stdout';
}
