/**
 * No loss under load: hundreds of concurrent children each write 1 MiB of known bytes; every byte
 * is checked at its position, in-process and over the wire, and again with a slow consumer under
 * flow control while retention is far below the stream size.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { ExecRuntime, type ExecBackend, type ExecProcess } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer, type ExecServer } from '../../src/server/index.js';
import {
  StreamVerifier,
  createSliceSource,
  sliceArgv,
  sliceFor,
  type SliceSource,
} from '../helpers/slices.js';
import { SPAWNERS } from '../helpers/spawners.js';

const CWD = tmpdir();
const MiB = 1 << 20;
const PROCESSES = 500;
const STREAM_BYTES = MiB;

let source: SliceSource;
beforeAll(() => {
  source = createSliceSource(20_240_601, 2 * MiB);
});
afterAll(() => source?.remove());

interface Outcome {
  readonly verdict: string | null;
  readonly verified: number;
  readonly exitCode: number;
  readonly lastType: string | undefined;
  readonly seqsInOrder: boolean;
}

/** Starts child `index` and checks its stream through events$ as it arrives. */
async function runThroughEvents(backend: ExecBackend, index: number, bytes: number): Promise<Outcome> {
  const slice = sliceFor(source, index, bytes);
  const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
  const process = await backend.start({ argv: sliceArgv(source, slice), cwd: CWD, env: {} });
  let lastSeq = 0;
  let seqsInOrder = true;
  let lastType: string | undefined;
  await new Promise<void>((resolve, reject) => {
    process.events$.subscribe({
      next(event) {
        if (event.type === 'network') return;
        if (event.seq !== lastSeq + 1) seqsInOrder = false;
        lastSeq = event.seq;
        lastType = event.type;
        if (event.type === 'output') verifier.push(event.chunk);
      },
      complete: resolve,
      error: reject,
    });
  });
  return {
    verdict: verifier.verdict(),
    verified: verifier.verified,
    exitCode: await process.exited,
    lastType,
    seqsInOrder,
  };
}

function report(label: string, outcomes: readonly Outcome[], began: number): void {
  const verified = outcomes.reduce((sum, outcome) => sum + outcome.verified, 0);
  console.log(
    `[no-loss] ${label}: ${outcomes.length} processes, ${verified} bytes verified (${(verified / MiB).toFixed(0)} MiB) in ${Date.now() - began} ms`,
  );
}

function expectAllIntact(outcomes: readonly Outcome[], bytes: number): void {
  const broken = outcomes.flatMap((outcome, index) =>
    outcome.verdict === null && outcome.exitCode === 0 && outcome.lastType === 'closed' && outcome.seqsInOrder
      ? []
      : [{ index, ...outcome }],
  );
  expect(broken).toEqual([]);
  expect(outcomes.every((outcome) => outcome.verified === bytes)).toBe(true);
}

/** The client convention with a slow consumer: small reads, a turn of the event loop between them. */
async function slowRead(
  process: ExecProcess,
  verifier: StreamVerifier,
  probe: () => void = () => undefined,
): Promise<{ evicted: boolean }> {
  let afterSeq: number | null = null;
  let evicted = false;
  for (let round = 0; round < 1_000_000; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    probe();
    const read = await process.read({ afterSeq, maxBytes: 16 * 1024, waitMs: 10_000 });
    if (read.firstRetainedSeq > (afterSeq ?? 0) + 1) evicted = true;
    for (const chunk of read.chunks) verifier.push(chunk.chunk);
    afterSeq = read.nextSeq - 1;
    if (read.closed && read.chunks.length === 0) return { evicted };
  }
  throw new Error('slow reader did not reach closed');
}

const retainedOf = (process: ExecProcess) =>
  (process as unknown as { log: { retainedBytes: number } }).log.retainedBytes;

const FLOW = { highWaterBytes: 128 * 1024, lowWaterBytes: 32 * 1024 };
const SLOW_PROCESSES = 100;
const RETAINED = 64 * 1024;

describe.each(SPAWNERS)('no loss: in-process (spawner %s)', (spawner) => {
  let runtime: ExecRuntime | undefined;
  afterEach(async () => {
    await runtime?.destroy();
    runtime = undefined;
  });

  it(`${PROCESSES} concurrent processes × 1 MiB through events$: every byte, in order`, async () => {
    runtime = await ExecRuntime.create({ spawner });
    const began = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: PROCESSES }, (_, index) => runThroughEvents(runtime!, index, STREAM_BYTES)),
    );
    report('in-process events$', outcomes, began);
    expectAllIntact(outcomes, STREAM_BYTES);
  });

  it(`${SLOW_PROCESSES} slow flow-controlled readers, retention ${RETAINED / 1024} KiB ≪ 1 MiB: nothing evicted, every byte`, async () => {
    runtime = await ExecRuntime.create({ spawner, retainedBytesPerProcess: RETAINED });
    const began = Date.now();
    let maxRetained = 0;
    const outcomes = await Promise.all(
      Array.from({ length: SLOW_PROCESSES }, async (_, index) => {
        const slice = sliceFor(source, index, STREAM_BYTES);
        const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
        const process = await runtime!.start({
          argv: sliceArgv(source, slice),
          cwd: CWD,
          env: {},
          flowControl: FLOW,
        });
        const { evicted } = await slowRead(process, verifier, () => {
          maxRetained = Math.max(maxRetained, retainedOf(process));
        });
        return {
          verdict: verifier.verdict(),
          verified: verifier.verified,
          evicted,
          exitCode: await process.exited,
        };
      }),
    );
    const verified = outcomes.reduce((sum, outcome) => sum + outcome.verified, 0);
    console.log(
      `[no-loss] in-process slow readers: ${outcomes.length} processes, ${verified} bytes verified in ${Date.now() - began} ms, max retained ${maxRetained} bytes`,
    );
    expect(
      outcomes.filter((outcome) => outcome.verdict !== null || outcome.evicted || outcome.exitCode !== 0),
    ).toEqual([]);
    // Retention stays bounded by the flow-control window plus what was in flight, never the stream.
    expect(maxRetained).toBeLessThan(FLOW.highWaterBytes + 512 * 1024);
  });
});

describe.each(SPAWNERS)('no loss: over the wire (ExecServerClient ↔ startServer) (spawner %s)', (spawner) => {
  let runtime: ExecRuntime | undefined;
  let server: ExecServer | undefined;
  let client: ExecServerClient | undefined;
  afterEach(async () => {
    await client?.close();
    await server?.close();
    await runtime?.destroy();
    client = undefined;
    server = undefined;
    runtime = undefined;
  });

  it(`${PROCESSES} concurrent processes × 1 MiB through events$: every byte, in order`, async () => {
    // Default retention time (30 s): a closed process stays readable while the client catches up.
    runtime = await ExecRuntime.create({ spawner });
    server = await startServer({ runtime });
    client = await ExecServerClient.connect(server.url, { clientName: 'stress-no-loss' });
    const began = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: PROCESSES }, (_, index) => runThroughEvents(client!, index, STREAM_BYTES)),
    );
    report('wire events$', outcomes, began);
    expectAllIntact(outcomes, STREAM_BYTES);
  });

  it(`${SLOW_PROCESSES} slow flow-controlled readers, retention ${RETAINED / 1024} KiB ≪ 1 MiB: nothing evicted, every byte`, async () => {
    runtime = await ExecRuntime.create({ spawner, retainedBytesPerProcess: RETAINED });
    server = await startServer({ runtime });
    client = await ExecServerClient.connect(server.url, { clientName: 'stress-slow' });
    const began = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: SLOW_PROCESSES }, async (_, index) => {
        const slice = sliceFor(source, index + 1000, STREAM_BYTES);
        const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
        const process = await client!.start({
          argv: sliceArgv(source, slice),
          cwd: CWD,
          env: {},
          flowControl: FLOW,
        });
        const { evicted } = await slowRead(process, verifier);
        return {
          verdict: verifier.verdict(),
          verified: verifier.verified,
          evicted,
          exitCode: await process.exited,
        };
      }),
    );
    const verified = outcomes.reduce((sum, outcome) => sum + outcome.verified, 0);
    console.log(
      `[no-loss] wire slow readers: ${outcomes.length} processes, ${verified} bytes verified in ${Date.now() - began} ms`,
    );
    expect(
      outcomes.filter((outcome) => outcome.verdict !== null || outcome.evicted || outcome.exitCode !== 0),
    ).toEqual([]);
  });
});
