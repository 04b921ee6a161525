/**
 * OutputLog as a follower of a remote log (the client's side of the wire): notifications applied in
 * seq order, gaps filled by catch-up reads merged with what arrives meanwhile, evicted seqs counted
 * as lost, the close implying a missing exit, acknowledgements that lead what was received, and a
 * lost source failing `events$`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputLog } from '../../../src/process/output-log.js';
import type { OutputChunk, ProcessEvent, ReadResult } from '../../../src/core/types.js';

const encoder = new TextEncoder();

function output(seq: number, text: string): ProcessEvent {
  return { type: 'output', seq, stream: 'stdout', chunk: encoder.encode(text) };
}

/** What `process/read` answers from a source log holding `events` (evicted below `firstRetainedSeq`). */
function sourceRead(
  events: readonly ProcessEvent[],
  afterSeq: number,
  maxBytes: number,
  firstRetainedSeq = 1,
): ReadResult {
  const chunks: OutputChunk[] = [];
  let bytes = 0;
  for (const event of events) {
    if (event.type !== 'output' || event.seq <= afterSeq || event.seq < firstRetainedSeq) continue;
    if (chunks.length > 0 && bytes + event.chunk.byteLength > maxBytes) break;
    chunks.push(event);
    bytes += event.chunk.byteLength;
  }
  const exited = events.find((event) => event.type === 'exited');
  const closed = events.some((event) => event.type === 'closed');
  const last = chunks.at(-1);
  const nextSeq = last === undefined ? Math.max(0, ...events.map((event) => event.seq)) + 1 : last.seq + 1;
  return {
    chunks,
    nextSeq,
    exited: exited !== undefined,
    exitCode: exited?.type === 'exited' ? exited.exitCode : null,
    closed,
    failure: null,
    firstRetainedSeq,
  };
}

/** A follower whose catch-up reads answer from `source()` (read at the time of each read). */
function follower(source: () => { events: readonly ProcessEvent[]; firstRetainedSeq?: number }) {
  const reads: number[] = [];
  const log = new OutputLog({
    retainedBytes: 1 << 20,
    catchUpRead: (afterSeq, maxBytes) => {
      reads.push(afterSeq);
      const { events, firstRetainedSeq } = source();
      return Promise.resolve(sourceRead(events, afterSeq, maxBytes, firstRetainedSeq));
    },
  });
  const seen: ProcessEvent[] = [];
  const state = { completed: false, error: undefined as unknown };
  log.events$.subscribe({
    next: (event) => {
      if (event.type !== 'network') seen.push(event);
    },
    complete: () => (state.completed = true),
    error: (error: unknown) => (state.error = error),
  });
  return { log, reads, seen, state };
}

const shape = (events: readonly ProcessEvent[]) =>
  events.map((event) =>
    event.type === 'output'
      ? `${event.seq}:${new TextDecoder().decode(event.chunk)}`
      : `${event.seq}:${event.type}`,
  );

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('OutputLog follower', () => {
  it('applies notifications in seq order without reading', async () => {
    const { log, reads, seen, state } = follower(() => ({ events: [] }));
    log.receive(output(1, 'a'));
    log.receive(output(2, 'b'));
    log.receive({ type: 'exited', seq: 3, exitCode: 0 });
    log.receive({ type: 'closed', seq: 4 });
    await settle();
    expect(shape(seen)).toEqual(['1:a', '2:b', '3:exited', '4:closed']);
    expect(state.completed).toBe(true);
    expect(reads).toEqual([]);
    expect(log.lostSeqs).toBe(0);
  });

  it('ignores a repeated notification', async () => {
    const { log, seen } = follower(() => ({ events: [] }));
    log.receive(output(1, 'a'));
    log.receive(output(1, 'a'));
    await settle();
    expect(shape(seen)).toEqual(['1:a']);
  });

  it('fills a gap with a read from the last applied seq, then applies what was kept, in order', async () => {
    const source = [output(1, 'a'), output(2, 'b'), output(3, 'c')];
    const { log, reads, seen } = follower(() => ({ events: source }));
    log.receive(output(1, 'a'));
    // seq 2 was dropped on the way
    log.receive(output(3, 'c'));
    await settle();
    expect(reads[0]).toBe(1);
    expect(shape(seen)).toEqual(['1:a', '2:b', '3:c']);
    expect(log.lostSeqs).toBe(0);
    expect(log.nextSeq).toBe(4);
  });

  it('merges notifications that arrive during a catch-up without duplicates', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const source = [output(1, 'a'), output(2, 'b'), output(3, 'c'), output(4, 'd')];
    const log = new OutputLog({
      retainedBytes: 1 << 20,
      catchUpRead: async (afterSeq, maxBytes) => {
        await gate;
        return sourceRead(source, afterSeq, maxBytes);
      },
    });
    const seen: ProcessEvent[] = [];
    log.events$.subscribe((event) => {
      if (event.type !== 'network') seen.push(event);
    });
    log.receive(output(2, 'b')); // a gap before it: the catch-up starts
    log.receive(output(3, 'c')); // arrives while the read is out
    log.receive(output(4, 'd'));
    release();
    await settle();
    expect(shape(seen)).toEqual(['1:a', '2:b', '3:c', '4:d']);
    expect(log.lostSeqs).toBe(0);
  });

  it('counts seqs the source evicted before the catch-up read them as lost, and invents nothing', async () => {
    const source = [output(1, 'a'), output(2, 'b'), output(3, 'c'), output(4, 'd'), output(5, 'e')];
    const { log, seen } = follower(() => ({ events: source, firstRetainedSeq: 4 }));
    log.receive(output(1, 'a'));
    log.receive(output(5, 'e'));
    await settle();
    expect(shape(seen)).toEqual(['1:a', '4:d', '5:e']);
    expect(log.lostSeqs).toBe(2);
  });

  it('catches up an adopted log from nothing, inferring the exit and the close from the read', async () => {
    const source: ProcessEvent[] = [
      output(1, 'a'),
      { type: 'exited', seq: 2, exitCode: 7 },
      output(3, 'late'),
      { type: 'closed', seq: 4 },
    ];
    const { log, seen, state } = follower(() => ({ events: source }));
    await log.catchUp();
    expect(shape(seen)).toEqual(['1:a', '2:exited', '3:late', '4:closed']);
    expect(seen[1]).toMatchObject({ type: 'exited', exitCode: 7 });
    expect(state.completed).toBe(true);
    expect(log.lostSeqs).toBe(0);
  });

  it('takes a close whose exit never arrived as coming right after it, with the exit code learnt elsewhere', async () => {
    const { log, seen } = follower(() => ({ events: [] }));
    log.receive(output(1, 'a'));
    log.noteExitCode(3);
    log.receive({ type: 'closed', seq: 3 });
    await settle();
    expect(seen.map((event) => [event.type, event.seq])).toEqual([
      ['output', 1],
      ['exited', 2],
      ['closed', 3],
    ]);
    expect(seen[1]).toMatchObject({ exitCode: 3 });
  });

  it('lets acknowledgements lead what was received: later chunks up to that seq may be evicted', () => {
    const log = new OutputLog({
      retainedBytes: 0,
      flowControl: { highWaterBytes: 1, lowWaterBytes: 0 },
      catchUpRead: () => Promise.reject(new Error('no reads')),
    });
    // A read on the server acknowledged up to seq 2 before its notifications arrived.
    log.ack(2);
    log.receive(output(1, 'a'));
    log.receive(output(2, 'b'));
    log.receive(output(3, 'c'));
    // Retention 0: acknowledged output goes, unacknowledged stays.
    expect(log.read(0, 100).chunks.map((chunk) => chunk.seq)).toEqual([3]);
  });

  it('fails events$ when the source is lost, for subscribers now and later, after the replay', async () => {
    const { log, state } = follower(() => ({ events: [] }));
    log.receive(output(1, 'a'));
    log.abort(new Error('transport lost'));
    expect((state.error as Error).message).toBe('transport lost');
    expect(log.failure).toBe('transport lost');
    const later: ProcessEvent[] = [];
    let laterError: unknown;
    log.events$.subscribe({
      next: (event) => {
        if (event.type !== 'network') later.push(event);
      },
      error: (error: unknown) => (laterError = error),
    });
    expect(shape(later)).toEqual(['1:a']);
    expect((laterError as Error).message).toBe('transport lost');
    log.receive(output(2, 'b'));
    await settle();
    expect(shape(later)).toEqual(['1:a']);
  });

  it('fails events$ when a catch-up read fails (the process is gone on the source)', async () => {
    const log = new OutputLog({
      retainedBytes: 1 << 20,
      catchUpRead: () => Promise.reject(new Error('unknown process id p')),
    });
    let error: unknown;
    log.events$.subscribe({ error: (e: unknown) => (error = e) });
    log.receive(output(2, 'b'));
    await settle();
    expect((error as Error).message).toBe('unknown process id p');
  });

  it('property: whatever notifications are dropped or reordered, the follower delivers the source in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
        fc.array(fc.nat(), { minLength: 32, maxLength: 32 }),
        async (outputs, drops, order) => {
          const source: ProcessEvent[] = [];
          for (let seq = 1; seq <= outputs; seq++) source.push(output(seq, `<${seq}>`));
          source.push({ type: 'exited', seq: outputs + 1, exitCode: 0 });
          source.push({ type: 'closed', seq: outputs + 2 });
          const { log, seen, state } = follower(() => ({ events: source }));
          // Drop some notifications (never the close: the client learns it some way) and shuffle the rest.
          const sent = source.filter((event, index) => event.type === 'closed' || !drops[index]);
          const shuffled = sent
            .map((event, index) => ({ event, key: order[index] ?? 0 }))
            .sort((a, b) => a.key - b.key)
            .map(({ event }) => event);
          for (const event of shuffled) {
            log.receive(event);
            await settle();
          }
          await settle();
          expect(shape(seen)).toEqual(shape(source));
          expect(state.completed).toBe(true);
          expect(log.lostSeqs).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
