import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutputLog, type OutputLogOptions } from '../../../src/process/output-log.js';
import type { OutputStream, ProcessEvent } from '../../../src/core/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(size: number, fill = 0x61): Uint8Array {
  return new Uint8Array(size).fill(fill);
}

function log(options: Partial<OutputLogOptions> = {}): OutputLog {
  return new OutputLog({ retainedBytes: 1 << 20, ...options });
}

/** Subscribes to `events$` and records what arrives. */
function record(target: OutputLog) {
  const events: ProcessEvent[] = [];
  const state = { completed: false, error: undefined as unknown };
  const subscription = target.events$.subscribe({
    next: (event) => {
      if (event.type !== 'network') events.push(event);
    },
    complete: () => (state.completed = true),
    error: (error: unknown) => (state.error = error),
  });
  return { events, state, subscription, seqs: () => events.map((event) => event.seq) };
}

/** What a promise has done so far, without waiting for it. */
function track(promise: Promise<void>): { settled: boolean } {
  const state = { settled: false };
  void promise.then(() => (state.settled = true));
  return state;
}

/** Lets pending promise callbacks run (fake timers do not fake microtasks). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('OutputLog seq numbering', () => {
  it('shares one counter from 1 between chunks of every stream, the exit and the close', () => {
    const out = log();
    expect(out.nextSeq).toBe(1);
    expect(out.append('stdout', encoder.encode('a'))?.seq).toBe(1);
    expect(out.append('stderr', encoder.encode('b'))?.seq).toBe(2);
    out.recordExit(0);
    // Output of descendants that still hold the streams may follow the exit.
    expect(out.append('stdout', encoder.encode('c'))?.seq).toBe(4);
    out.recordClosed();
    expect(out.nextSeq).toBe(6);
    const seen = record(out);
    expect(seen.events.map((event) => [event.type, event.seq])).toEqual([
      ['output', 1],
      ['output', 2],
      ['exited', 3],
      ['output', 4],
      ['closed', 5],
    ]);
  });

  it('gives an empty chunk no seq', () => {
    const out = log();
    expect(out.append('stdout', new Uint8Array(0))).toBeUndefined();
    expect(out.nextSeq).toBe(1);
    expect(out.append('pty', bytes(1))?.seq).toBe(1);
  });

  it('gives closed the highest seq and lets nothing follow it', () => {
    const out = log();
    out.append('stdout', bytes(3));
    out.recordExit(7);
    out.recordClosed();
    const closedSeq = out.nextSeq - 1;
    expect(closedSeq).toBe(3);

    expect(out.append('stdout', bytes(3))).toBeUndefined();
    out.recordExit(9);
    out.recordClosed();
    expect(out.nextSeq).toBe(closedSeq + 1);
    expect(out.exitCode).toBe(7);
    const result = out.read(0, Number.MAX_SAFE_INTEGER);
    expect(result.chunks.map((chunk) => chunk.seq)).toEqual([1]);
    expect(result).toMatchObject({ exited: true, exitCode: 7, closed: true, nextSeq: 2 });
  });

  it('records an exit (-1) before the close when none was recorded', () => {
    const out = log();
    out.append('stdout', bytes(1));
    out.recordClosed();
    expect(out.isExited).toBe(true);
    expect(out.exitCode).toBe(-1);
    expect(record(out).events.map((event) => [event.type, event.seq])).toEqual([
      ['output', 1],
      ['exited', 2],
      ['closed', 3],
    ]);
  });

  it('records only the first exit', () => {
    const out = log();
    out.recordExit(1);
    out.recordExit(2);
    expect(out.exitCode).toBe(1);
    expect(out.nextSeq).toBe(2);
  });

  it('keeps the first failure and does not close the log', () => {
    const out = log();
    out.setFailure('worker died');
    out.setFailure('something else');
    expect(out.failure).toBe('worker died');
    expect(out.isClosed).toBe(false);
    expect(out.read(0, 10).failure).toBe('worker died');
  });
});

describe('OutputLog retention', () => {
  it('evicts whole chunks, oldest first, once retained bytes exceed the bound', () => {
    const out = log({ retainedBytes: 10 });
    out.append('stdout', bytes(4)); // 1
    out.append('stderr', bytes(4)); // 2
    expect(out.retainedBytes).toBe(8);
    expect(out.firstRetainedSeq).toBe(1);
    out.append('stdout', bytes(4)); // 3: 12 > 10, evict 1
    expect(out.retainedBytes).toBe(8);
    expect(out.firstRetainedSeq).toBe(2);
    out.append('stdout', bytes(10)); // 4: evict 2 and 3
    expect(out.retainedBytes).toBe(10);
    expect(out.firstRetainedSeq).toBe(4);
    const result = out.read(0, Number.MAX_SAFE_INTEGER);
    expect(result.chunks.map((chunk) => chunk.seq)).toEqual([4]);
    expect(result.firstRetainedSeq).toBe(4);
  });

  it('cannot retain a chunk larger than the bound, but live subscribers still get it', () => {
    const out = log({ retainedBytes: 10 });
    const seen = record(out);
    out.append('stdout', bytes(11));
    expect(out.retainedBytes).toBe(0);
    expect(out.firstRetainedSeq).toBe(2);
    expect(seen.seqs()).toEqual([1]);
    expect(out.read(0, 100)).toMatchObject({ chunks: [], nextSeq: 2, firstRetainedSeq: 2 });
  });

  it('retains nothing with a bound of 0', () => {
    const out = log({ retainedBytes: 0 });
    out.append('stdout', bytes(1));
    out.append('stdout', bytes(1));
    expect(out.retainedBytes).toBe(0);
    expect(out.firstRetainedSeq).toBe(3);
  });

  it('reports a firstRetainedSeq past an exit whose neighbours were evicted', () => {
    const out = log({ retainedBytes: 10 });
    out.append('stdout', bytes(6)); // 1
    out.recordExit(0); // 2
    out.append('stdout', bytes(6)); // 3: evicts 1
    expect(out.firstRetainedSeq).toBe(2);
    out.append('stdout', bytes(6)); // 4: evicts 3
    expect(out.firstRetainedSeq).toBe(4);
    expect(out.read(0, 100).chunks.map((chunk) => chunk.seq)).toEqual([4]);
  });

  it('stays correct across the lazy compaction of the evicted prefix', () => {
    const out = log({ retainedBytes: 100 });
    for (let i = 0; i < 5000; i++) out.append('stdout', encoder.encode(String(i % 10)));
    expect(out.retainedBytes).toBe(100);
    expect(out.firstRetainedSeq).toBe(4901);
    const result = out.read(4950, 3);
    expect(result.chunks.map((chunk) => chunk.seq)).toEqual([4951, 4952, 4953]);
    expect(decoder.decode(result.chunks[0]!.chunk)).toBe(String(4950 % 10));
  });
});

describe('OutputLog read (protocol §4 process/read)', () => {
  function threeChunks(): OutputLog {
    const out = log();
    out.append('stdout', encoder.encode('aaa')); // 1
    out.append('stderr', encoder.encode('bbb')); // 2
    out.append('stdout', encoder.encode('ccc')); // 3
    return out;
  }

  it('takes retained chunks with seq > afterSeq in order', () => {
    const result = threeChunks().read(1, 100);
    expect(result.chunks.map((chunk) => [chunk.seq, chunk.stream, decoder.decode(chunk.chunk)])).toEqual([
      [2, 'stderr', 'bbb'],
      [3, 'stdout', 'ccc'],
    ]);
    expect(result).toMatchObject({
      nextSeq: 4,
      exited: false,
      exitCode: null,
      closed: false,
      failure: null,
      firstRetainedSeq: 1,
    });
  });

  it('always takes the first chunk, even when it is larger than maxBytes', () => {
    const out = log();
    out.append('stdout', bytes(50));
    out.append('stdout', bytes(1));
    for (const maxBytes of [0, 1, 49]) {
      const result = out.read(0, maxBytes);
      expect(result.chunks.map((chunk) => chunk.seq)).toEqual([1]);
      expect(result.nextSeq).toBe(2);
    }
  });

  it('stops before a chunk that would exceed maxBytes', () => {
    const out = threeChunks();
    expect(out.read(0, 6).chunks.map((chunk) => chunk.seq)).toEqual([1, 2]); // exact fit
    expect(out.read(0, 8).chunks.map((chunk) => chunk.seq)).toEqual([1, 2]);
    expect(out.read(0, 5).chunks.map((chunk) => chunk.seq)).toEqual([1]);
    expect(out.read(0, 9).chunks.map((chunk) => chunk.seq)).toEqual([1, 2, 3]);
  });

  it('stops at the first chunk that does not fit even if a later, smaller one would', () => {
    const out = log();
    out.append('stdout', bytes(2));
    out.append('stdout', bytes(5));
    out.append('stdout', bytes(1));
    expect(out.read(0, 4).chunks.map((chunk) => chunk.seq)).toEqual([1]);
  });

  it('sets nextSeq to the last taken seq + 1, or to the next seq when nothing is taken', () => {
    const out = threeChunks();
    expect(out.read(0, 3).nextSeq).toBe(2);
    expect(out.read(3, 100)).toMatchObject({ chunks: [], nextSeq: 4 });
    out.recordExit(0); // 4
    out.recordClosed(); // 5
    expect(out.read(1, 3).nextSeq).toBe(3);
    expect(out.read(3, 100)).toMatchObject({
      chunks: [],
      nextSeq: 6,
      exited: true,
      exitCode: 0,
      closed: true,
    });
    // A cursor past the end still answers with the log's next seq.
    expect(out.read(100, 100).nextSeq).toBe(6);
  });

  it('skips the exit seq between chunks without a gap in the chunks', () => {
    const out = log();
    out.append('stdout', bytes(1)); // 1
    out.recordExit(3); // 2
    out.append('stdout', bytes(1)); // 3
    const result = out.read(1, 100);
    expect(result.chunks.map((chunk) => chunk.seq)).toEqual([3]);
    expect(result).toMatchObject({ nextSeq: 4, exited: true, exitCode: 3 });
  });

  it('answers a cursor below firstRetainedSeq from the oldest retained chunk', () => {
    const out = log({ retainedBytes: 6 });
    for (let i = 0; i < 5; i++) out.append('stdout', bytes(3));
    const result = out.read(0, 100);
    expect(result.firstRetainedSeq).toBe(4);
    expect(result.chunks.map((chunk) => chunk.seq)).toEqual([4, 5]);
  });

  it('delivers every chunk once to a reader following the client convention', () => {
    const out = log();
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const text = `line ${i}\n`;
      sent.push(text);
      out.append(i % 3 === 0 ? 'stderr' : 'stdout', encoder.encode(text));
      if (i === 10) out.recordExit(0);
    }
    out.recordClosed();
    const received: string[] = [];
    let afterSeq = 0;
    for (;;) {
      const result = out.read(afterSeq, 16);
      received.push(...result.chunks.map((chunk) => decoder.decode(chunk.chunk)));
      afterSeq = result.nextSeq - 1;
      if (result.closed && result.chunks.length === 0) break;
    }
    expect(received).toEqual(sent);
  });
});

describe('OutputLog hasNews', () => {
  it('is false for a running log with nothing after the cursor', () => {
    const out = log();
    expect(out.hasNews(0)).toBe(false);
    out.append('stdout', bytes(1));
    expect(out.hasNews(1)).toBe(false);
  });

  it('is true when a chunk follows the cursor', () => {
    const out = log();
    out.append('stdout', bytes(1));
    out.append('stdout', bytes(1));
    expect(out.hasNews(0)).toBe(true);
    expect(out.hasNews(1)).toBe(true);
    expect(out.hasNews(2)).toBe(false);
  });

  it('is true when the exit is newer than the cursor, false once the cursor passed it', () => {
    const out = log();
    out.append('stdout', bytes(1)); // 1
    out.recordExit(0); // 2
    expect(out.hasNews(1)).toBe(true);
    expect(out.hasNews(2)).toBe(false);
    expect(out.hasNews(5)).toBe(false);
  });

  it('is always true once closed', () => {
    const out = log();
    out.recordClosed();
    for (const cursor of [0, 1, 2, 100]) expect(out.hasNews(cursor)).toBe(true);
  });

  it('is true once a failure is recorded', () => {
    const out = log();
    out.setFailure('worker died');
    expect(out.hasNews(0)).toBe(true);
  });

  it('does not count chunks that were evicted', () => {
    const out = log({ retainedBytes: 0 });
    out.append('stdout', bytes(1));
    expect(out.hasNews(0)).toBe(false);
  });
});

describe('OutputLog waitForChange', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves on an append before the timeout and leaves no timer behind', async () => {
    const out = log();
    const wait = track(out.waitForChange(10_000));
    await vi.advanceTimersByTimeAsync(100);
    expect(wait.settled).toBe(false);
    out.append('stdout', bytes(1));
    await flushMicrotasks();
    expect(wait.settled).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves on the exit, the close and a failure', async () => {
    const triggers: ((target: OutputLog) => void)[] = [
      (target) => target.recordExit(0),
      (target) => target.recordClosed(),
      (target) => target.setFailure('worker died'),
    ];
    for (const trigger of triggers) {
      const out = log();
      const wait = track(out.waitForChange(10_000));
      trigger(out);
      await flushMicrotasks();
      expect(wait.settled).toBe(true);
    }
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves after waitMs when nothing happens, not before', async () => {
    const out = log();
    const wait = track(out.waitForChange(500));
    await vi.advanceTimersByTimeAsync(499);
    expect(wait.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(wait.settled).toBe(true);
  });

  it('wakes every waiter at once', async () => {
    const out = log();
    const waits = [
      track(out.waitForChange(1_000)),
      track(out.waitForChange(2_000)),
      track(out.waitForChange(3_000)),
    ];
    out.append('stderr', bytes(1));
    await flushMicrotasks();
    expect(waits.every((wait) => wait.settled)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('wakes a waiter once: a timed-out waiter is not woken again and a woken one does not time out', async () => {
    const out = log();
    let resolved = 0;
    void out.waitForChange(100).then(() => resolved++);
    await vi.advanceTimersByTimeAsync(100);
    expect(resolved).toBe(1);
    out.append('stdout', bytes(1));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(resolved).toBe(1);
  });

  // Regression: `ExecProcess.read({ waitMs })` passes waitMs straight through; Node clamps a timer
  // delay above 2^31-1 ms to 1 ms (with a TimeoutOverflowWarning), so a long poll returned at once.
  it('is not cut short by a wait longer than the largest timer delay', async () => {
    const out = log();
    const wait = track(out.waitForChange(2 ** 31));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(wait.settled).toBe(false);
    out.append('stdout', bytes(1));
    await flushMicrotasks();
    expect(wait.settled).toBe(true);
  });
});

describe('OutputLog events$', () => {
  it('replays retained events in seq order, then follows live events, and completes after closed', () => {
    const out = log();
    out.append('stdout', encoder.encode('a')); // 1
    out.append('stderr', encoder.encode('b')); // 2
    const seen = record(out);
    expect(seen.seqs()).toEqual([1, 2]);
    out.append('stdout', encoder.encode('c')); // 3
    out.recordExit(0); // 4
    expect(seen.seqs()).toEqual([1, 2, 3, 4]);
    expect(seen.state.completed).toBe(false);
    out.recordClosed(); // 5
    expect(seen.seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(seen.events.at(-1)?.type).toBe('closed');
    expect(seen.state.completed).toBe(true);
  });

  it('replays the exit at its seq position when descendants wrote after the exit', () => {
    const out = log();
    out.append('stdout', bytes(1)); // 1
    out.recordExit(0); // 2
    out.append('stdout', bytes(1)); // 3
    out.append('stderr', bytes(1)); // 4
    const seen = record(out);
    expect(seen.events.map((event) => [event.type, event.seq])).toEqual([
      ['output', 1],
      ['exited', 2],
      ['output', 3],
      ['output', 4],
    ]);
    out.recordClosed();
    expect(seen.seqs()).toEqual([1, 2, 3, 4, 5]);
  });

  it('replays an exit that precedes every retained chunk first', () => {
    const out = log();
    out.recordExit(2); // 1
    out.append('stdout', bytes(1)); // 2
    expect(record(out).seqs()).toEqual([1, 2]);
  });

  it('gives a subscriber that arrives after close everything retained, then completes', () => {
    const out = log();
    out.append('stdout', encoder.encode('x')); // 1
    out.recordExit(0); // 2
    out.append('stderr', encoder.encode('y')); // 3
    out.recordClosed(); // 4
    const seen = record(out);
    expect(seen.events.map((event) => event.type)).toEqual(['output', 'exited', 'output', 'closed']);
    expect(seen.seqs()).toEqual([1, 2, 3, 4]);
    expect(seen.state.completed).toBe(true);
    expect(seen.state.error).toBeUndefined();
  });

  it('replays only retained output after eviction, but still the exit and the close', () => {
    const out = log({ retainedBytes: 2 });
    out.append('stdout', bytes(2)); // 1
    out.recordExit(0); // 2
    out.append('stdout', bytes(2)); // 3: evicts 1
    out.recordClosed(); // 4
    expect(record(out).seqs()).toEqual([2, 3, 4]);
  });

  it('stops delivering after unsubscribe and serves subscribers independently', () => {
    const out = log();
    const first = record(out);
    out.append('stdout', bytes(1));
    const second = record(out);
    first.subscription.unsubscribe();
    out.append('stdout', bytes(1));
    out.recordClosed();
    expect(first.seqs()).toEqual([1]);
    expect(first.state.completed).toBe(false);
    expect(second.seqs()).toEqual([1, 2, 3, 4]);
    expect(second.state.completed).toBe(true);
  });
});

describe('OutputLog flow control', () => {
  const flowControl = { highWaterBytes: 100, lowWaterBytes: 50 };

  it('never evicts unacknowledged chunks, and evicts acknowledged ones once over the bound', () => {
    const out = log({ retainedBytes: 10, flowControl });
    out.append('stdout', bytes(8)); // 1
    out.append('stdout', bytes(8)); // 2
    out.append('stdout', bytes(8)); // 3
    expect(out.retainedBytes).toBe(24);
    expect(out.firstRetainedSeq).toBe(1);
    out.ack(1);
    expect(out.firstRetainedSeq).toBe(2);
    expect(out.retainedBytes).toBe(16);
    out.ack(3);
    // Within the bound again: the newest acknowledged chunk stays retained.
    expect(out.firstRetainedSeq).toBe(3);
    expect(out.retainedBytes).toBe(8);
    out.append('stdout', bytes(8)); // 4: 16 > 10, evicts acknowledged 3
    expect(out.firstRetainedSeq).toBe(4);
    expect(out.read(0, 100).chunks.map((chunk) => chunk.seq)).toEqual([4]);
  });

  it('reports the acknowledged byte total each time it grows, for the actor to pause and resume', () => {
    const reported: number[] = [];
    const out = log({ flowControl, onAcknowledged: (total) => reported.push(total) });
    out.append('stdout', bytes(100)); // 1
    out.append('stdout', bytes(1)); // 2
    out.recordExit(0); // 3
    out.append('stdout', bytes(30)); // 4
    expect(reported).toEqual([]); // appends never report
    out.ack(1);
    expect(reported).toEqual([100]);
    out.ack(1); // repeated
    out.ack(0); // backward
    expect(reported).toEqual([100]);
    out.ack(3); // seq 2 and the exit
    expect(reported).toEqual([100, 101]);
    out.ack(1_000); // clamped to the last seq
    expect(reported).toEqual([100, 101, 131]);
    expect(out.unacknowledgedBytes).toBe(0);
  });

  it('does not report an ack that acknowledges no bytes', () => {
    const reported: number[] = [];
    const out = log({ flowControl, onAcknowledged: (total) => reported.push(total) });
    out.append('stdout', bytes(4)); // 1
    out.recordExit(0); // 2
    out.ack(1);
    out.ack(2); // only the exit
    expect(reported).toEqual([4]);
  });

  it('accounts acknowledged bytes by seq, ignoring backward and repeated acks', () => {
    const out = log({ flowControl });
    out.append('stdout', bytes(5)); // 1
    out.append('stderr', bytes(7)); // 2
    out.recordExit(0); // 3
    out.append('stdout', bytes(11)); // 4
    expect(out.unacknowledgedBytes).toBe(23);
    out.ack(2);
    expect(out.unacknowledgedBytes).toBe(11);
    out.ack(1);
    out.ack(2);
    expect(out.unacknowledgedBytes).toBe(11);
    out.ack(3); // the exit's seq: no bytes
    expect(out.unacknowledgedBytes).toBe(11);
    out.ack(4);
    expect(out.unacknowledgedBytes).toBe(0);
  });

  it('clamps an ack beyond the last seq, so later output still counts as unacknowledged', () => {
    const out = log({ retainedBytes: 0, flowControl });
    out.append('stdout', bytes(5)); // 1
    out.ack(1_000);
    expect(out.unacknowledgedBytes).toBe(0);
    out.append('stdout', bytes(9)); // 2
    expect(out.unacknowledgedBytes).toBe(9);
    // Retention 0, but seq 2 is not acknowledged: it is kept.
    expect(out.read(0, 100).chunks.map((chunk) => chunk.seq)).toEqual([2]);
  });

  it('reports nothing after the close, and nothing without flow control', () => {
    const reported: number[] = [];
    const closed = log({ flowControl, onAcknowledged: (total) => reported.push(total) });
    closed.append('stdout', bytes(101));
    closed.recordClosed();
    closed.ack(1);
    const unflowed = log({ onAcknowledged: (total) => reported.push(total) });
    unflowed.append('stdout', bytes(5));
    unflowed.ack(1);
    expect(reported).toEqual([]);
  });
});

// ---- Property: random appends, reads, acks and retention bounds against a simple model ---------

type Op =
  | { readonly kind: 'append'; readonly stream: OutputStream; readonly size: number }
  | { readonly kind: 'read'; readonly maxBytes: number }
  | { readonly kind: 'randomRead'; readonly afterSeq: number; readonly maxBytes: number }
  | { readonly kind: 'ack'; readonly seq: number }
  | { readonly kind: 'exit' };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      stream: fc.constantFrom<OutputStream>('stdout', 'stderr', 'pty'),
      size: fc.integer({ min: 0, max: 40 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('read' as const), maxBytes: fc.integer({ min: 0, max: 80 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('randomRead' as const),
      afterSeq: fc.integer({ min: -2, max: 120 }),
      maxBytes: fc.integer({ min: 0, max: 80 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('ack' as const), seq: fc.integer({ min: 0, max: 120 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'exit' as const }) },
);

interface ModelChunk {
  readonly seq: number;
  readonly stream: OutputStream;
  readonly size: number;
  readonly fill: number;
}

describe('OutputLog property: reads against a model of the log', () => {
  it('reads in seq order, never twice for a conventional reader, with every gap explained by eviction', () => {
    fc.assert(
      fc.property(
        fc.array(opArbitrary, { maxLength: 120 }),
        fc.integer({ min: 0, max: 120 }),
        fc.option(fc.record({ highWaterBytes: fc.integer({ min: 1, max: 150 }), low: fc.nat({ max: 150 }) })),
        (ops, retainedBytes, flow) => {
          const flowControl =
            flow === null
              ? null
              : {
                  highWaterBytes: flow.highWaterBytes,
                  lowWaterBytes: Math.min(flow.low, flow.highWaterBytes),
                };
          const reported: number[] = [];
          const out = new OutputLog({
            retainedBytes,
            flowControl,
            onAcknowledged: (total) => reported.push(total),
          });

          // The model: every chunk ever appended, and the evicted prefix boundary recomputed from
          // the rules (oldest first while over the bound; with flow control never past the ack).
          const all: ModelChunk[] = [];
          let nextSeq = 1;
          let evictedIndex = 0; // all[0..evictedIndex) are evicted
          let ackedSeq = 0;
          let exitSeq: number | null = null;
          const retained = () => all.slice(evictedIndex);
          const retainedSize = () => retained().reduce((sum, chunk) => sum + chunk.size, 0);
          const evict = () => {
            let size = retainedSize();
            while (size > retainedBytes && evictedIndex < all.length) {
              const oldest = all[evictedIndex]!;
              if (flowControl !== null && oldest.seq > ackedSeq) break;
              size -= oldest.size;
              evictedIndex++;
            }
          };
          const unacked = () =>
            all.filter((chunk) => chunk.seq > ackedSeq).reduce((sum, c) => sum + c.size, 0);

          // A reader following the client convention.
          let cursor = 0;
          const delivered = new Set<number>();

          const checkRead = (afterSeq: number, maxBytes: number, conventional: boolean) => {
            const result = out.read(afterSeq, maxBytes);
            const seqs = result.chunks.map((chunk) => chunk.seq);
            // The expected answer, straight from protocol §4.
            const candidates = retained().filter((chunk) => chunk.seq > afterSeq);
            const expected: ModelChunk[] = [];
            let total = 0;
            for (const chunk of candidates) {
              if (expected.length > 0 && total + chunk.size > maxBytes) break;
              expected.push(chunk);
              total += chunk.size;
            }
            expect(seqs).toEqual(expected.map((chunk) => chunk.seq));
            for (const [index, chunk] of result.chunks.entries()) {
              const model = expected[index]!;
              expect(chunk.stream).toBe(model.stream);
              expect(chunk.chunk).toEqual(bytes(model.size, model.fill));
            }
            const last = expected.at(-1);
            expect(result.nextSeq).toBe(last === undefined ? nextSeq : last.seq + 1);
            expect(result.firstRetainedSeq).toBe(out.firstRetainedSeq);
            // Strictly increasing, all after the cursor.
            for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
            if (seqs.length > 0) expect(seqs[0]!).toBeGreaterThan(afterSeq);

            if (conventional) {
              for (const seq of seqs) {
                expect(delivered.has(seq)).toBe(false);
                delivered.add(seq);
              }
              // Every chunk seq this reader skipped is explained by eviction.
              const upTo = result.nextSeq - 1;
              for (const chunk of all) {
                if (chunk.seq > cursor && chunk.seq <= upTo && !delivered.has(chunk.seq)) {
                  expect(chunk.seq).toBeLessThan(result.firstRetainedSeq);
                }
              }
              cursor = result.nextSeq - 1;
              // What a read returned counts as acknowledged (ProcessHandle does the same).
              if (flowControl !== null && seqs.length > 0) {
                out.ack(cursor);
                ackedSeq = Math.max(ackedSeq, Math.min(cursor, nextSeq - 1));
                evict();
              }
            }
          };

          const checkInvariants = () => {
            expect(out.nextSeq).toBe(nextSeq);
            expect(out.retainedBytes).toBe(retainedSize());
            const first = all[evictedIndex];
            if (evictedIndex > 0) {
              expect(out.firstRetainedSeq).toBe(all[evictedIndex - 1]!.seq + 1);
            } else {
              expect(out.firstRetainedSeq).toBe(1);
            }
            if (first !== undefined) expect(out.firstRetainedSeq).toBeLessThanOrEqual(first.seq);
            // The bound holds, except for flow-controlled chunks not yet acknowledged.
            if (out.retainedBytes > retainedBytes) {
              expect(flowControl).not.toBeNull();
              expect(first!.seq).toBeGreaterThan(ackedSeq);
              expect(out.retainedBytes).toBe(out.unacknowledgedBytes);
            }
            if (flowControl !== null) {
              expect(out.unacknowledgedBytes).toBe(unacked());
              // The acknowledged total reported to the actor grows strictly and is the model's total.
              for (let i = 1; i < reported.length; i++)
                expect(reported[i]!).toBeGreaterThan(reported[i - 1]!);
              const ackedTotal = all
                .filter((chunk) => chunk.seq <= ackedSeq)
                .reduce((sum, c) => sum + c.size, 0);
              expect(reported.at(-1) ?? 0).toBe(ackedTotal);
            } else {
              expect(reported).toEqual([]);
            }
          };

          let fill = 0;
          for (const op of ops) {
            switch (op.kind) {
              case 'append': {
                fill = (fill + 1) % 256;
                const event = out.append(op.stream, bytes(op.size, fill));
                if (op.size === 0) {
                  expect(event).toBeUndefined();
                } else {
                  expect(event?.seq).toBe(nextSeq);
                  all.push({ seq: nextSeq++, stream: op.stream, size: op.size, fill });
                  evict();
                }
                break;
              }
              case 'read':
                checkRead(cursor, op.maxBytes, true);
                break;
              case 'randomRead':
                checkRead(op.afterSeq, op.maxBytes, false);
                break;
              case 'ack':
                out.ack(op.seq);
                ackedSeq = Math.max(ackedSeq, Math.min(op.seq, nextSeq - 1));
                evict();
                break;
              case 'exit':
                out.recordExit(0);
                if (exitSeq === null) exitSeq = nextSeq++;
                break;
            }
            checkInvariants();
          }

          // Drain with the client convention after the close: every chunk was delivered or evicted.
          out.recordClosed();
          if (exitSeq === null) exitSeq = nextSeq++;
          const closedSeq = nextSeq++;
          for (let guard = 0; guard < 1000; guard++) {
            const before = cursor;
            checkRead(cursor, 64, true);
            if (cursor === before || cursor >= closedSeq) break;
          }
          for (const chunk of all) {
            if (!delivered.has(chunk.seq)) expect(chunk.seq).toBeLessThan(out.firstRetainedSeq);
          }
          // events$ after the close replays the retained chunks, the exit and the close, in seq order.
          const replay = record(out);
          const expectedSeqs = [...retained().map((chunk) => chunk.seq), exitSeq, closedSeq].sort(
            (a, b) => a - b,
          );
          expect(replay.seqs()).toEqual(expectedSeqs);
          expect(replay.events.at(-1)).toEqual({ type: 'closed', seq: closedSeq });
          expect(replay.state.completed).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('OutputLog regressions', () => {
  // A subscriber that acknowledges while the retained chunks are replayed made the log evict and
  // compact under the replay loop, which then skipped chunks.
  it('replays every retained chunk to a subscriber that acknowledges during the replay', () => {
    const log = new OutputLog({
      retainedBytes: 1,
      flowControl: { highWaterBytes: 1 << 20, lowWaterBytes: 0 },
    });
    const total = 3000;
    for (let i = 0; i < total; i++) log.append('stdout', new Uint8Array([i & 0xff]));
    const seen: number[] = [];
    const subscription = log.events$.subscribe((event) => {
      if (event.type === 'network') return;
      seen.push(event.seq);
      log.ack(event.seq);
    });
    subscription.unsubscribe();
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });
});
