/**
 * Ordering through a fake runtime whose processes have already finished when `start` resolves, so
 * their notifications deterministically reach the client before the start response (§4).
 */
import { ReplaySubject } from 'rxjs';
import { afterEach, expect, it } from 'vitest';
import { ExecServerClient } from '../../src/client/index.js';
import { DuplicateProcessError } from '../../src/errors.js';
import type {
  ExecProcess,
  ProcessEvent,
  ProcessInfo,
  ReadResult,
  StartOptions,
} from '../../src/core/types.js';
import { startServer, type RuntimeSession, type ServerRuntime } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-ws.js';

const encoder = new TextEncoder();

/** A process that printed `text` (or these chunks) and exited 0 before anyone looked. */
function finishedProcess(
  processId: string,
  text: string,
  chunks: Uint8Array[] = [encoder.encode(text)],
  write: ExecProcess['write'] = () => Promise.resolve('stdinClosed'),
): ExecProcess {
  const events: ProcessEvent[] = [
    ...chunks.map((chunk, index) => ({
      type: 'output' as const,
      seq: index + 1,
      stream: 'stdout' as const,
      chunk,
    })),
    { type: 'exited', seq: chunks.length + 1, exitCode: 0 },
    { type: 'closed', seq: chunks.length + 2 },
  ];
  const subject = new ReplaySubject<ProcessEvent>();
  for (const event of events) subject.next(event);
  subject.complete();
  const info: ProcessInfo = {
    processId,
    pid: 4242,
    tty: false,
    sandboxType: 'none',
    exited: true,
    exitCode: 0,
    closed: true,
    startedAtMs: 1,
  };
  return {
    processId,
    pid: 4242,
    tty: false,
    sandboxType: 'none',
    events$: subject.asObservable(),
    exited: Promise.resolve(0),
    closed: Promise.resolve(),
    read: (options = {}): Promise<ReadResult> => {
      const after = options.afterSeq ?? 0;
      const chunks = after < 1 ? [{ seq: 1, stream: 'stdout' as const, chunk: encoder.encode(text) }] : [];
      return Promise.resolve({
        chunks,
        nextSeq: chunks.length > 0 ? 2 : 4,
        exited: true,
        exitCode: 0,
        closed: true,
        failure: null,
        firstRetainedSeq: 1,
      });
    },
    write,
    closeStdin: () => Promise.resolve(),
    resize: () => Promise.resolve(),
    signal: () => Promise.resolve(),
    terminate: () => Promise.resolve(false),
    ack: () => Promise.resolve(),
    info: () => info,
  };
}

function fakeRuntime(fake: { chunks?: Uint8Array[]; write?: ExecProcess['write'] } = {}): ServerRuntime {
  return {
    session(): RuntimeSession {
      const processes = new Map<string, ExecProcess>();
      return {
        id: 'fake',
        start(options: StartOptions) {
          const id = options.processId!;
          if (processes.has(id)) return Promise.reject(new DuplicateProcessError(id));
          const process = finishedProcess(id, `ran ${options.argv.join(' ')}`, fake.chunks, fake.write);
          processes.set(id, process);
          return Promise.resolve(process);
        },
        get: (id) => processes.get(id),
        list: () => Promise.resolve([...processes.values()].map((p) => p.info())),
        close: () => Promise.resolve(),
      };
    },
    stats: () => ({
      liveProcesses: 0,
      startsTotal: 0,
      exitsTotal: 0,
      outputBytesTotal: 0,
      startFailuresTotal: 0,
    }),
    close: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('sends the notifications of an already finished process before its start response', async () => {
  const server = await startServer({ runtime: fakeRuntime() });
  cleanups.push(() => server.close());
  const ws = await RawClient.open(server.url);
  cleanups.push(() => {
    ws.ws.terminate();
    return Promise.resolve();
  });
  ws.send({ id: 1, method: 'initialize', params: { clientName: 'order' } });
  ws.send({ method: 'initialized' });
  ws.send({
    id: 2,
    method: 'process/start',
    params: { processId: 'p', argv: ['x'], cwd: '/', env: {}, tty: false },
  });
  await ws.response(2);
  const messages = ws.messages as { id?: number; method?: string }[];
  expect(messages.slice(1).map((m) => m.method ?? `response ${m.id}`)).toEqual([
    'process/output',
    'process/exited',
    'process/closed',
    'response 2',
  ]);
});

it('lets the client handle notifications that precede the start response', async () => {
  const server = await startServer({ runtime: fakeRuntime() });
  cleanups.push(() => server.close());
  const client = await ExecServerClient.connect(server.url, { clientName: 'order' });
  cleanups.push(() => client.close());
  const process = await client.start({ processId: 'early', argv: ['echo', 'hi'], cwd: '/', env: {} });
  expect(await process.exited).toBe(0);
  await process.closed;
  expect(process.info()).toMatchObject({ pid: 4242, exited: true, closed: true });
});

it('answers a request in hand before a shutdown closes the connection', async () => {
  let finishWrite!: () => void;
  const writing = new Promise<void>((resolve) => (finishWrite = resolve));
  let written!: () => void;
  const writeArrived = new Promise<void>((resolve) => (written = resolve));
  const runtime = fakeRuntime({
    write: async () => {
      written();
      await writing;
      return 'stdinClosed';
    },
  });
  const server = await startServer({ runtime });
  const client = await ExecServerClient.connect(server.url, { clientName: 'shutdown' });
  cleanups.push(() => client.close());
  const process = await client.start({ processId: 'w', argv: ['cat'], cwd: '/', env: {} });
  const write = process.write('late\n');
  await writeArrived;
  // The server is asked to go while the write is in hand; the write then completes.
  const closing = server.close();
  finishWrite();
  await expect(write).resolves.toBe('stdinClosed');
  await closing;
});

it('keeps output that preceded the start response, beyond the client retention, for the caller', async () => {
  // 3 MiB before the answer: three times what the client's log keeps per process by default.
  const chunks = Array.from({ length: 12 }, (_, index) => new Uint8Array(256 * 1024).fill(index + 1));
  const server = await startServer({ runtime: fakeRuntime({ chunks }) });
  cleanups.push(() => server.close());
  const client = await ExecServerClient.connect(server.url, { clientName: 'order' });
  cleanups.push(() => client.close());
  const process = await client.start({ processId: 'lead', argv: ['x'], cwd: '/', env: {} });
  const received: number[] = [];
  await new Promise<void>((resolve, reject) =>
    process.events$.subscribe({
      next: (event) => {
        if (event.type === 'output') received.push(event.chunk[0]!, event.chunk.byteLength);
      },
      error: reject,
      complete: resolve,
    }),
  );
  expect(received).toEqual(chunks.flatMap((chunk) => [chunk[0], chunk.byteLength]));
  expect(process.lostSeqs).toBe(0);
});
