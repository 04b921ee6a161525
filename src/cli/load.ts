/**
 * `execvisor load`: a load generator for capacity tests, against the embedded runtime or a server
 * (`--remote`). Every operation is checked, not just timed: a start must exit 0, a stream must
 * deliver exactly its bytes (each compared with the bytes the child was told to write), an
 * interactive line must come back unchanged. Progress goes to stderr, the summary to stdout (JSON
 * with `--json`); the exit code is 1 when any operation failed or any byte was lost or wrong.
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { ExecServerClient } from '../client/index.js';
import { errorCodeOf } from '../errors.js';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { stderrLogger } from '../runtime/logger.js';
import type { ExecBackend, ExecProcess, StartOptions } from '../runtime/types.js';

export type LoadScenario = 'spawn' | 'stream' | 'interactive' | 'mixed';
type OperationKind = Exclude<LoadScenario, 'mixed'>;

export interface LoadFlags {
  remote?: string;
  tokenFile?: string;
  scenario: LoadScenario;
  processes: number;
  concurrency: number;
  duration?: number;
  bytes: number;
  lines: number;
  json: boolean;
}

/** Exit code when an operation failed or a byte was lost or wrong. */
const EXIT_FAILED = 1;
/** Exit code when the backend could not be reached or created. */
const EXIT_UNAVAILABLE = 2;
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
/** Latency samples kept per kind; beyond it, a uniform reservoir keeps the quantiles honest. */
const MAX_SAMPLES = 200_000;
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

/** Codes of failures found by the load generator itself (runtime failures keep their EXEC_ERR_ code). */
export const LoadErrorCodes = Object.freeze({
  EXIT_STATUS: 'LOAD_EXIT_STATUS',
  TIMEOUT: 'LOAD_TIMEOUT',
  WRITE: 'LOAD_WRITE_REFUSED',
  EVENTS_FAILED: 'LOAD_EVENTS_FAILED',
  MISMATCH: 'LOAD_BYTES_MISMATCH',
  UNKNOWN: 'LOAD_UNKNOWN',
});

class LoadFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LoadFailure';
  }
}

// ---- command line --------------------------------------------------------------------------

function positiveInteger(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new CommanderArgumentError(`expected an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > 86_400) {
    throw new CommanderArgumentError(
      `expected seconds, more than 0 and at most 86400, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** `1048576`, `64K`, `16M`, `1G` (binary multiples); at most 64 GiB. */
export function parseByteSize(value: string): number {
  const match = /^(\d+)([kmg]i?b?)?$/i.exec(value.trim());
  const unit = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[(match?.[2] ?? '').charAt(0).toLowerCase()];
  const n = match === null || unit === undefined ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(n) || n < 1 || n > 64 * 1024 * MiB) {
    throw new CommanderArgumentError(
      `expected a byte count such as 1048576, 64K, 16M or 1G (1 B to 64 GiB), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function registerLoadCommand(program: Command): Command {
  return program
    .command('load')
    .description(
      'generate load against the embedded runtime (or a server with --remote) and verify every result',
    )
    .option('--remote <url>', 'drive an exec server at ws://IP:PORT instead of the embedded runtime')
    .option(
      '--token-file <file>',
      'with --remote: file holding the bearer token (default: env EXEC_SERVER_TOKEN)',
    )
    .addOption(
      new Option(
        '--scenario <name>',
        'spawn: /bin/true; stream: verified output; interactive: pty echo; mixed',
      )
        .choices(['spawn', 'stream', 'interactive', 'mixed'])
        .makeOptionMandatory(),
    )
    .option(
      '--processes <n>',
      'processes to run (with --duration: at most this many)',
      positiveInteger(100_000_000),
      100,
    )
    .option('--concurrency <n>', 'processes in flight at once', positiveInteger(100_000), 8)
    .option('--duration <s>', 'keep starting processes until this many seconds have passed', seconds)
    .option('--bytes <b>', 'stream: bytes each process writes (64K, 16M, 1G…)', parseByteSize, MiB)
    .option(
      '--lines <n>',
      'interactive: lines written (and round trips timed) per pty',
      positiveInteger(1_000_000),
      20,
    )
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (flags: LoadFlags, command: Command) => {
      // With --duration and no explicit --processes, time alone bounds the run.
      const unboundedCount =
        flags.duration !== undefined && command.getOptionValueSource('processes') === 'default';
      const code = await load(flags, { unboundedCount });
      // Worker threads would keep the loop alive; stdout is flushed before exiting.
      process.stdout.write('', () => process.exit(code));
    });
}

// ---- the run -------------------------------------------------------------------------------

export interface LoadSummary {
  readonly ok: boolean;
  readonly scenario: LoadScenario;
  readonly backend: 'embedded' | 'remote';
  readonly remote: string | null;
  readonly processes: number | null;
  readonly concurrency: number;
  readonly durationS: number | null;
  readonly bytesPerStream: number;
  readonly linesPerPty: number;
  readonly elapsedS: number;
  readonly started: number;
  readonly completed: number;
  readonly failed: number;
  readonly startsPerSec: number;
  /** start→closed of spawn and stream processes; write→echo of interactive lines. */
  readonly latencyMs: Readonly<Record<string, LatencySummary>>;
  readonly mbPerSec: number;
  readonly bytes: {
    readonly expected: number;
    readonly verified: number;
    readonly lost: number;
    readonly corrupt: number;
  };
  readonly errors: Readonly<Record<string, number>>;
  readonly firstErrors: readonly string[];
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

async function load(flags: LoadFlags, options: { unboundedCount: boolean }): Promise<number> {
  let backend: ExecBackend;
  try {
    backend =
      flags.remote === undefined
        ? await ExecRuntime.create({ logger: stderrLogger('warn') })
        : await ExecServerClient.connect(flags.remote, {
            token: await readToken(flags.tokenFile),
            clientName: 'execvisor-load',
          });
  } catch (error) {
    process.stderr.write(`execvisor load: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_UNAVAILABLE;
  }
  const stats = new LoadStats();
  const limit = options.unboundedCount ? null : flags.processes;
  const durationMs = flags.duration === undefined ? null : flags.duration * 1000;
  const progress = new Progress(stats, { limit, durationMs });
  const stop = { requested: false };
  const onSignal = () => {
    if (stop.requested) process.exit(130);
    stop.requested = true;
    process.stderr.write('\nexecvisor load: stopping (in-flight processes finish; again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  try {
    await run(backend, flags, stats, { limit, durationMs, stop, progress });
  } finally {
    process.off('SIGINT', onSignal);
    progress.finish();
    await closeBackend(backend);
  }
  const summary = summarize(flags, stats, limit);
  process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : renderSummary(summary));
  return summary.ok ? 0 : EXIT_FAILED;
}

async function run(
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

// ---- statistics ----------------------------------------------------------------------------

/** A bounded sample: all values up to `MAX_SAMPLES`, then a uniform reservoir (Algorithm R). */
class Samples {
  readonly #values: number[] = [];
  #seen = 0;

  add(value: number): void {
    this.#seen += 1;
    if (this.#values.length < MAX_SAMPLES) {
      this.#values.push(value);
      return;
    }
    const slot = Math.floor(Math.random() * this.#seen);
    if (slot < MAX_SAMPLES) this.#values[slot] = value;
  }

  summary(): LatencySummary {
    const sorted = [...this.#values].sort((a, b) => a - b);
    const q = (p: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
    return {
      count: this.#seen,
      p50: round(q(0.5)),
      p95: round(q(0.95)),
      p99: round(q(0.99)),
      max: round(sorted.at(-1) ?? 0),
    };
  }
}

/**
 * The bytes of one operation. Settled once when the operation ends (also on a timeout): what was
 * expected and neither verified nor wrong is lost; later updates from an abandoned operation are
 * ignored, so nothing is counted twice.
 */
class Ledger {
  readonly stats: LoadStats;
  #expected = 0;
  #verified = 0;
  #wrong = 0;
  #settled = false;

  constructor(stats: LoadStats) {
    this.stats = stats;
  }

  expect(bytes: number): void {
    if (!this.#settled) this.#expected += bytes;
  }

  verify(bytes: number): void {
    if (this.#settled || bytes === 0) return;
    this.#verified += bytes;
    this.stats.liveVerified += bytes;
  }

  wrong(bytes: number): void {
    if (!this.#settled) this.#wrong += bytes;
  }

  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    const stats = this.stats;
    stats.bytesExpected += this.#expected;
    stats.bytesVerified += this.#verified;
    stats.bytesCorrupt += this.#wrong;
    stats.bytesLost += Math.max(0, this.#expected - this.#verified - this.#wrong);
  }
}

class LoadStats {
  started = 0;
  completed = 0;
  failed = 0;
  /** Verified so far, including operations still running (for the progress line). */
  liveVerified = 0;
  bytesExpected = 0;
  bytesVerified = 0;
  bytesLost = 0;
  bytesCorrupt = 0;
  readonly errors = new Map<string, number>();
  readonly firstErrors: string[] = [];
  readonly samples = new Map<OperationKind, Samples>();
  #begin = 0;
  #end: number | null = null;

  begin(): void {
    this.#begin = performance.now();
  }

  end(): void {
    this.#end = performance.now();
  }

  get elapsedMs(): number {
    return (this.#end ?? performance.now()) - this.#begin;
  }

  latency(kind: OperationKind, ms: number): void {
    let samples = this.samples.get(kind);
    if (samples === undefined) this.samples.set(kind, (samples = new Samples()));
    samples.add(ms);
  }

  fail(error: unknown): void {
    this.failed += 1;
    const code = error instanceof LoadFailure ? error.code : (errorCodeOf(error) ?? LoadErrorCodes.UNKNOWN);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    if (this.firstErrors.length < 5) {
      this.firstErrors.push(`${code}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function summarize(flags: LoadFlags, stats: LoadStats, limit: number | null): LoadSummary {
  const seconds = stats.elapsedMs / 1000;
  const latencyMs: Record<string, LatencySummary> = {};
  for (const kind of ['spawn', 'stream', 'interactive'] as const) {
    const samples = stats.samples.get(kind);
    if (samples !== undefined)
      latencyMs[kind === 'interactive' ? 'interactiveRoundTrip' : kind] = samples.summary();
  }
  return {
    ok: stats.failed === 0 && stats.bytesLost === 0 && stats.bytesCorrupt === 0,
    scenario: flags.scenario,
    backend: flags.remote === undefined ? 'embedded' : 'remote',
    remote: flags.remote ?? null,
    processes: limit,
    concurrency: flags.concurrency,
    durationS: flags.duration ?? null,
    bytesPerStream: flags.bytes,
    linesPerPty: flags.lines,
    elapsedS: round(seconds),
    started: stats.started,
    completed: stats.completed,
    failed: stats.failed,
    startsPerSec: round(seconds > 0 ? stats.started / seconds : 0, 1),
    latencyMs,
    mbPerSec: round(seconds > 0 ? stats.bytesVerified / 1e6 / seconds : 0, 2),
    bytes: {
      expected: stats.bytesExpected,
      verified: stats.bytesVerified,
      lost: stats.bytesLost,
      corrupt: stats.bytesCorrupt,
    },
    errors: Object.fromEntries([...stats.errors].sort((a, b) => b[1] - a[1])),
    firstErrors: stats.firstErrors,
  };
}

const LATENCY_LABELS: Readonly<Record<string, string>> = {
  spawn: 'spawn latency (start→closed)',
  stream: 'stream latency (start→closed)',
  interactiveRoundTrip: 'interactive round trip',
};

export function renderSummary(summary: LoadSummary): string {
  const count = (n: number) => n.toLocaleString('en-US');
  const ms = (n: number) => `${n.toLocaleString('en-US', { maximumFractionDigits: n >= 100 ? 0 : 2 })} ms`;
  const target = summary.backend === 'remote' ? `server ${summary.remote ?? ''}` : 'embedded runtime';
  const rows: [string, string][] = [
    ['elapsed', `${summary.elapsedS.toFixed(2)} s`],
    [
      'processes',
      `${count(summary.started)} started, ${count(summary.completed)} completed, ${count(summary.failed)} failed`,
    ],
    ['starts/s', summary.startsPerSec.toFixed(1)],
  ];
  for (const [key, latency] of Object.entries(summary.latencyMs)) {
    rows.push([
      LATENCY_LABELS[key] ?? key,
      `p50 ${ms(latency.p50)}  p95 ${ms(latency.p95)}  p99 ${ms(latency.p99)}  max ${ms(latency.max)}  (${count(latency.count)})`,
    ]);
  }
  rows.push(
    ['throughput', `${summary.mbPerSec.toFixed(2)} MB/s verified`],
    [
      'bytes',
      `${count(summary.bytes.verified)} verified, ${count(summary.bytes.lost)} lost, ${count(summary.bytes.corrupt)} wrong (of ${count(summary.bytes.expected)})`,
    ],
    [
      'errors',
      Object.keys(summary.errors).length === 0
        ? 'none'
        : Object.entries(summary.errors)
            .map(([code, n]) => `${code} ×${count(n)}`)
            .join(', '),
    ],
    ['result', summary.ok ? 'ok' : 'FAILED'],
  );
  const width = Math.max(...rows.map(([label]) => label.length));
  const title =
    `execvisor load — ${summary.scenario} against the ${target}, ` +
    `${summary.processes === null ? 'unbounded count' : `${count(summary.processes)} processes`} at concurrency ${summary.concurrency}` +
    (summary.durationS === null ? '' : `, for up to ${summary.durationS} s`);
  const lines = [title, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
  if (summary.firstErrors.length > 0)
    lines.push('  first errors:', ...summary.firstErrors.map((e) => `    ${e}`));
  return `${lines.join('\n')}\n`;
}

// ---- progress --------------------------------------------------------------------------------

/**
 * Hand-written, not a dependency: one line redrawn in place on a TTY (`\r` + erase line), a plain
 * line every few seconds otherwise, both on stderr so stdout stays the summary alone.
 */
class Progress {
  readonly #stats: LoadStats;
  readonly #limit: number | null;
  readonly #durationMs: number | null;
  readonly #tty = process.stderr.isTTY;
  #timer: NodeJS.Timeout | null = null;
  #drawn = false;

  constructor(stats: LoadStats, bounds: { limit: number | null; durationMs: number | null }) {
    this.#stats = stats;
    this.#limit = bounds.limit;
    this.#durationMs = bounds.durationMs;
  }

  start(): void {
    this.#timer = setInterval(() => this.#draw(), this.#tty ? 200 : 2_000);
    this.#timer.unref();
  }

  finish(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#tty && this.#drawn) process.stderr.write('\r\u001b[2K');
    else if (!this.#tty) this.#draw();
  }

  #draw(): void {
    const stats = this.#stats;
    const elapsedMs = stats.elapsedMs;
    const done = stats.completed + stats.failed;
    const fractions = [
      this.#limit === null ? 0 : done / this.#limit,
      this.#durationMs === null ? 0 : elapsedMs / this.#durationMs,
    ];
    const fraction = Math.min(1, Math.max(...fractions));
    const seconds = elapsedMs / 1000;
    const text =
      `${this.#limit === null ? done : `${done}/${this.#limit}`} done, ${stats.failed} failed, ` +
      `${(stats.started / Math.max(seconds, 1e-3)).toFixed(1)} starts/s, ` +
      `${(stats.liveVerified / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s, ${seconds.toFixed(1)} s`;
    if (this.#tty) {
      const width = 24;
      const filled = Math.round(fraction * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      process.stderr.write(`\r\u001b[2K${bar} ${Math.floor(fraction * 100)}% ${text}`);
      this.#drawn = true;
    } else {
      process.stderr.write(`load: ${Math.floor(fraction * 100)}% ${text}\n`);
    }
  }
}

// ---- plumbing --------------------------------------------------------------------------------

async function readToken(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return process.env.EXEC_SERVER_TOKEN;
  // Editors and `echo` leave a trailing newline; it is never part of the token.
  return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
}

async function closeBackend(backend: ExecBackend): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<'overrun'>((resolve) => {
    timer = setTimeout(() => resolve('overrun'), 15_000);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([backend.close().then(() => 'closed' as const), overrun]);
    if (outcome === 'overrun') {
      process.stderr.write('execvisor load: close took longer than 15 s; stopping at once\n');
      if (backend instanceof ExecRuntime) await backend.destroy();
      else if (backend instanceof ExecServerClient) await backend.disconnect();
    }
  } catch (error) {
    process.stderr.write(
      `execvisor load: close failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  } finally {
    clearTimeout(timer);
  }
}
