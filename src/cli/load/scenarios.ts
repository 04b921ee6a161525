/**
 * The operations of a load run, each checked, not just timed: a start must exit 0, a stream must
 * deliver exactly its bytes (each compared with the bytes the child was told to write), an
 * interactive line must come back unchanged. `run` drives them in lanes up to the concurrency.
 */
import { errorCodeOf } from '../../errors.js';
import type { ExecBackend, ExecProcess, StartOptions } from '../../core/types.js';
import type { Progress } from './progress.js';
import {
  Ledger,
  LoadErrorCodes,
  LoadFailure,
  type LoadFlags,
  type LoadStats,
  type OperationKind,
} from './report.js';

/** Programs are given by absolute path and looked up on this PATH, the same on every server. */
const CHILD_ENV = Object.freeze({ PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C' });
/** Exists on every host the server may run on. */
const CHILD_CWD = '/';
const MiB = 1 << 20;
/**
 * A stream child repeats a 251-byte line (a prime length, so a lost or repeated read of any
 * power-of-two size shifts the pattern and is caught, not only counted).
 */
const PATTERN_BYTES = 251;
/** The expected bytes are compared in windows of this size against a repeated pattern. */
const VERIFY_WINDOW = 64 * 1024;
/** Stream children pause at this much unacknowledged output, so no byte is ever evicted. */
const FLOW_CONTROL = Object.freeze({ highWaterBytes: 1 * MiB, lowWaterBytes: 256 * 1024 });
const ACK_EVERY_BYTES = 256 * 1024;
/** Each operation gets this long plus `bytes` at 2 MB/s before it counts as timed out. */
const OPERATION_BASE_TIMEOUT_MS = 60_000;
/** `mixed` cycles through this blend of ten operations. */
const MIXED_BLEND: readonly OperationKind[] = [
  'spawn',
  'spawn',
  'stream',
  'spawn',
  'interactive',
  'spawn',
  'stream',
  'spawn',
  'spawn',
  'stream',
];
const INTERACTIVE_ARGV = ['/bin/sh', '-c', 'stty -echo; echo READY; exec cat'];
const READY = 'READY\r\n';

export async function run(
  backend: ExecBackend,
  flags: LoadFlags,
  stats: LoadStats,
  control: {
    limit: number | null;
    durationMs: number | null;
    stop: { requested: boolean };
    progress: Progress;
  },
): Promise<void> {
  const deadline =
    control.durationMs === null ? Number.POSITIVE_INFINITY : performance.now() + control.durationMs;
  const more = () =>
    !control.stop.requested &&
    performance.now() < deadline &&
    (control.limit === null || next < control.limit);
  let next = 0;
  stats.begin();
  control.progress.start();
  const lanes = Array.from(
    { length: Math.min(flags.concurrency, control.limit ?? flags.concurrency) },
    async () => {
      while (more()) {
        const index = next++;
        const kind = flags.scenario === 'mixed' ? MIXED_BLEND[index % MIXED_BLEND.length]! : flags.scenario;
        await operation(backend, kind, index, flags, stats);
      }
    },
  );
  await Promise.all(lanes);
  stats.end();
}

/** One process, start to close, checked; never throws (failures are counted by code). */
async function operation(
  backend: ExecBackend,
  kind: OperationKind,
  index: number,
  flags: LoadFlags,
  stats: LoadStats,
): Promise<void> {
  const timeoutMs = OPERATION_BASE_TIMEOUT_MS + (kind === 'stream' ? flags.bytes / 2_000 : 0);
  let started: ExecProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new LoadFailure(LoadErrorCodes.TIMEOUT, `${kind} #${index} took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  const ledger = new Ledger(stats);
  const t0 = performance.now();
  try {
    const body = (async () => {
      switch (kind) {
        case 'spawn': {
          const process = await startCounted(backend, stats, {
            argv: ['/bin/true'],
            cwd: CHILD_CWD,
            env: CHILD_ENV,
          });
          started = process;
          await expectExit(process, kind, index);
          stats.latency('spawn', performance.now() - t0);
          return;
        }
        case 'stream':
          await stream(backend, index, flags.bytes, ledger, (process) => (started = process));
          stats.latency('stream', performance.now() - t0);
          return;
        case 'interactive':
          await interactive(backend, index, flags.lines, ledger, (process) => (started = process));
          return;
      }
    })();
    body.catch(() => undefined);
    await Promise.race([body, timeout]);
    stats.completed += 1;
  } catch (error) {
    stats.fail(error);
    // A timed-out or broken process must not outlive its slot.
    await started?.terminate().catch(() => undefined);
  } finally {
    clearTimeout(timer);
    // What was expected and neither verified nor found wrong by now is lost.
    ledger.settle();
  }
}

async function startCounted(
  backend: ExecBackend,
  stats: LoadStats,
  options: StartOptions,
): Promise<ExecProcess> {
  const process = await backend.start(options);
  stats.started += 1;
  return process;
}

async function expectExit(process: ExecProcess, kind: OperationKind, index: number): Promise<void> {
  const code = await process.exited;
  await process.closed;
  if (code !== 0) throw new LoadFailure(LoadErrorCodes.EXIT_STATUS, `${kind} #${index} exited with ${code}`);
}

/** The line a stream child repeats: distinct per process, `PATTERN_BYTES` long with its newline. */
export function streamLine(index: number): string {
  const head = `execvisor-load ${index} `;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let line = head;
  for (let i = 0; line.length < PATTERN_BYTES - 1; i++) line += alphabet[i % alphabet.length];
  return line.slice(0, PATTERN_BYTES - 1);
}

/** Compares a byte stream, chunk by chunk, with the line repeated up to `total` bytes. */
export class StreamVerifier {
  readonly #expected: Buffer;
  readonly #total: number;
  #offset = 0;
  verified = 0;
  corrupt = 0;
  firstBadOffset: number | null = null;

  constructor(line: string, total: number) {
    const pattern = Buffer.from(`${line}\n`, 'latin1');
    // A window can start anywhere in the pattern: one extra pattern's worth covers every phase.
    const copies = Math.ceil(VERIFY_WINDOW / pattern.length) + 1;
    this.#expected = Buffer.concat(Array.from({ length: copies }, () => pattern));
    this.#total = total;
  }

  get received(): number {
    return this.#offset;
  }

  get lost(): number {
    return Math.max(0, this.#total - this.#offset);
  }

  push(chunk: Uint8Array): void {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < bytes.length;) {
      // Bytes past the end were never written by the child: wrong by definition.
      if (this.#offset >= this.#total) {
        this.#bad(bytes.length - at);
        this.#offset += bytes.length - at;
        return;
      }
      const n = Math.min(VERIFY_WINDOW, bytes.length - at, this.#total - this.#offset);
      const phase = this.#offset % PATTERN_BYTES;
      if (bytes.subarray(at, at + n).equals(this.#expected.subarray(phase, phase + n))) this.verified += n;
      else this.#bad(n);
      at += n;
      this.#offset += n;
    }
  }

  #bad(n: number): void {
    this.firstBadOffset ??= this.#offset;
    this.corrupt += n;
  }
}

async function stream(
  backend: ExecBackend,
  index: number,
  bytes: number,
  ledger: Ledger,
  onStarted: (process: ExecProcess) => void,
): Promise<void> {
  const line = streamLine(index);
  const verifier = new StreamVerifier(line, bytes);
  ledger.expect(bytes);
  const process = await startCounted(backend, ledger.stats, {
    // `yes` and `head` are in every coreutils; the pipeline exits with head's status.
    argv: ['/bin/sh', '-c', 'yes "$0" | head -c "$1"', line, String(bytes)],
    cwd: CHILD_CWD,
    env: CHILD_ENV,
    flowControl: FLOW_CONTROL,
  });
  onStarted(process);
  let unacknowledged = 0;
  await new Promise<void>((resolve, reject) => {
    process.events$.subscribe({
      next: (event) => {
        if (event.type !== 'output') return;
        const verifiedBefore = verifier.verified;
        const corruptBefore = verifier.corrupt;
        verifier.push(event.chunk);
        ledger.verify(verifier.verified - verifiedBefore);
        ledger.wrong(verifier.corrupt - corruptBefore);
        unacknowledged += event.chunk.byteLength;
        // In process nothing else acknowledges a subscriber's progress (a remote read does).
        if (unacknowledged >= ACK_EVERY_BYTES) {
          unacknowledged = 0;
          process.ack(event.seq).catch(() => undefined);
        }
      },
      error: (error: unknown) =>
        reject(
          new LoadFailure(
            errorCodeOf(error) ?? LoadErrorCodes.EVENTS_FAILED,
            `stream #${index}: events failed: ${error instanceof Error ? error.message : String(error)}`,
          ),
        ),
      // events$ completes after `closed`, once every retained byte was delivered.
      complete: resolve,
    });
  });
  await expectExit(process, 'stream', index);
  if (verifier.lost > 0 || verifier.corrupt > 0) {
    throw new LoadFailure(
      LoadErrorCodes.MISMATCH,
      `stream #${index}: ${verifier.lost} bytes lost, ${verifier.corrupt} wrong ` +
        `(first at offset ${String(verifier.firstBadOffset ?? verifier.received)})`,
    );
  }
}

/** A pty's output text, handed out in order: the next n characters, or everything through a marker. */
class EchoReader {
  #text = '';
  #want: {
    take: (text: string) => number;
    resolve: (text: string) => void;
    reject: (e: Error) => void;
  } | null = null;
  #failure: Error | null = null;

  feed(chunk: Uint8Array): void {
    this.#text += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    this.#check();
  }

  /** The output ended or failed: a pending and every later wait rejects with `error`. */
  fail(error: Error): void {
    this.#failure ??= error;
    this.#check();
  }

  /** The next `length` characters, once they have arrived. */
  next(length: number): Promise<string> {
    return this.#wait((text) => (text.length >= length ? length : -1));
  }

  /** Everything up to and including `marker`, once it has arrived. */
  through(marker: string): Promise<string> {
    return this.#wait((text) => {
      const at = text.indexOf(marker);
      return at < 0 ? -1 : at + marker.length;
    });
  }

  #wait(take: (text: string) => number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#want = { take, resolve, reject };
      this.#check();
    });
  }

  #check(): void {
    const want = this.#want;
    if (want === null) return;
    const length = want.take(this.#text);
    if (length >= 0) {
      this.#want = null;
      const taken = this.#text.slice(0, length);
      this.#text = this.#text.slice(length);
      want.resolve(taken);
    } else if (this.#failure !== null) {
      this.#want = null;
      want.reject(this.#failure);
    }
  }
}

async function interactive(
  backend: ExecBackend,
  index: number,
  lines: number,
  ledger: Ledger,
  onStarted: (process: ExecProcess) => void,
): Promise<void> {
  const reader = new EchoReader();
  const process = await startCounted(backend, ledger.stats, {
    argv: INTERACTIVE_ARGV,
    cwd: CHILD_CWD,
    env: { ...CHILD_ENV, TERM: 'dumb' },
    tty: true,
  });
  onStarted(process);
  process.events$.subscribe({
    next: (event) => {
      if (event.type === 'output') reader.feed(event.chunk);
    },
    error: (error: unknown) =>
      reader.fail(
        new LoadFailure(
          errorCodeOf(error) ?? LoadErrorCodes.EVENTS_FAILED,
          `interactive #${index}: events failed: ${error instanceof Error ? error.message : String(error)}`,
        ),
      ),
    complete: () =>
      reader.fail(new LoadFailure(LoadErrorCodes.EXIT_STATUS, `interactive #${index}: closed early`)),
  });
  await reader.through(READY);
  for (let k = 0; k < lines; k++) {
    const line = `load ${index} line ${k} ${'x'.repeat(k % 32)}`;
    // The terminal turns cat's `\n` into `\r\n` (onlcr); that is what comes back.
    const echo = `${line}\r\n`;
    ledger.expect(echo.length);
    const back = reader.next(echo.length);
    back.catch(() => undefined);
    const t0 = performance.now();
    const status = await process.write(`${line}\n`);
    if (status !== 'accepted') {
      throw new LoadFailure(LoadErrorCodes.WRITE, `interactive #${index}: write answered ${status}`);
    }
    const text = await back;
    ledger.stats.latency('interactive', performance.now() - t0);
    if (text !== echo) {
      ledger.wrong(echo.length);
      throw new LoadFailure(
        LoadErrorCodes.MISMATCH,
        `interactive #${index}: sent ${JSON.stringify(line)}, got back ${JSON.stringify(text)}`,
      );
    }
    ledger.verify(echo.length);
  }
  // End of file for cat: ^D at the start of a line (not echoed: echo is off).
  const status = await process.write('\u0004');
  if (status !== 'accepted') {
    throw new LoadFailure(LoadErrorCodes.WRITE, `interactive #${index}: EOF write answered ${status}`);
  }
  await expectExit(process, 'interactive', index);
}
