/**
 * Output over the wire under backpressure, without a client `flowControl`: the server paces the
 * process itself (it acknowledges output only as notifications leave an uncongested socket), so a
 * consumer slower than the child costs throughput, never bytes. While nobody is attached the
 * server acknowledges everything, so a detached process still runs to completion.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecRuntime } from '../../src/index.js';
import { ExecServerClient, type RemoteProcess } from '../../src/client/index.js';
import { startServer, type ExecServer, type ServerOptions } from '../../src/server/index.js';
import { eventually } from '../helpers/process.js';
import { RawClient } from '../helpers/raw-ws.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };
const MiB = 1 << 20;
/** `seq 1 N` is order-sensitive text; 10 000 000 numbers are 78.9 MB, more than any size used. */
const SEQ_COUNT = 10_000_000;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What `seq 1 SEQ_COUNT | head -c size` writes, hashed. */
function expectedDigest(size: number): string {
  const hash = createHash('sha256');
  let remaining = size;
  let n = 1;
  while (remaining > 0) {
    let text = '';
    for (let i = 0; i < 10_000; i++) text += `${n++}\n`;
    const bytes = Buffer.from(text.length > remaining ? text.slice(0, remaining) : text);
    hash.update(bytes);
    remaining -= bytes.length;
  }
  return hash.digest('hex');
}

function seqHead(size: number): string[] {
  return ['sh', '-c', `seq 1 ${SEQ_COUNT} | head -c ${size}`];
}

interface Setup {
  runtime: ExecRuntime;
  server: ExecServer;
  logs: string[];
}

/** A small runtime retention, so any output the server let go of would be evicted for sure. */
async function setup(serverOptions: Omit<ServerOptions, 'runtime' | 'logger'> = {}): Promise<Setup> {
  const runtime = await ExecRuntime.create({ retainedBytesPerProcess: 256 * 1024 });
  cleanups.push(() => runtime.close());
  const logs: string[] = [];
  const note = (_fields: object, message: string) => void logs.push(message);
  const logger = { debug: note, info: note, warn: note, error: note };
  const server = await startServer({ outboundHighWaterBytes: 512 * 1024, ...serverOptions, runtime, logger });
  cleanups.push(() => server.close());
  return { runtime, server, logs };
}

const PAUSED = 'pausing output notifications';

/** A raw protocol client after its handshake (with `resumeSessionId` when given), closed after the test. */
async function openRaw(
  url: string,
  resumeSessionId?: string | null,
): Promise<{ peer: RawClient; sessionId: string }> {
  const peer = await RawClient.open(url);
  cleanups.push(async () => {
    peer.ws.terminate();
    await Promise.resolve();
  });
  const answer = await peer.handshake(resumeSessionId === undefined ? {} : { resumeSessionId });
  return { peer, sessionId: answer.sessionId as string };
}

describe('wire backpressure without client flowControl', () => {
  it('delivers every byte of a 64 MiB stream in order through events$ to a slow consumer', async () => {
    const { server, logs } = await setup();
    const client = await ExecServerClient.connect(server.url, { clientName: 'backpressure-test' });
    cleanups.push(() => client.close());
    const size = 64 * MiB;
    const process = await client.start({ argv: seqHead(size), cwd: CWD, env: PATH_ENV });
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    let lastSeq = 0;
    let inOrder = true;
    await new Promise<void>((resolve, reject) => {
      process.events$.subscribe({
        next: (event) => {
          if (event.type === 'network') return;
          if (event.seq <= lastSeq) inOrder = false;
          lastSeq = event.seq;
          if (event.type !== 'output') return;
          hash.update(event.chunk);
          bytes += event.chunk.byteLength;
          // The slow consumer: every 32 chunks it holds the client's (and the server's) thread.
          if (++chunks % 32 === 0) {
            const until = performance.now() + 15;
            while (performance.now() < until) {
              /* busy: the socket is not read meanwhile */
            }
          }
        },
        error: reject,
        complete: resolve,
      });
    });
    expect(bytes).toBe(size);
    expect(inOrder).toBe(true);
    expect(hash.digest('hex')).toBe(expectedDigest(size));
    expect(process.lostSeqs).toBe(0);
    expect(await process.exited).toBe(0);
    // The socket did congest: the forwarder stopped, and resumed from the log without a loss.
    expect(logs.some((line) => line.includes(PAUSED))).toBe(true);
  }, 120_000);

  it('holds the process while a raw client stops reading, and every notified byte arrives', async () => {
    const { runtime, server, logs } = await setup();
    const { peer } = await openRaw(server.url);
    const size = 32 * MiB;
    const hash = createHash('sha256');
    let bytes = 0;
    let nextSeq = 1;
    let contiguous = true;
    const closed = new Promise<void>((resolve) => {
      peer.onNotification = ({ method, params }) => {
        if (params.seq !== nextSeq) contiguous = false;
        nextSeq = (params.seq as number) + 1;
        if (method === 'process/output') {
          const chunk = Buffer.from(params.chunk as string, 'base64');
          hash.update(chunk);
          bytes += chunk.byteLength;
        }
        if (method === 'process/closed') resolve();
      };
    });
    let heldAt = -1;
    // Stop reading the socket at once: the server's outbound buffer fills and the forwarder pauses.
    peer.ws.pause();
    const startId = peer.request('process/start', {
      processId: 'p',
      argv: seqHead(size),
      cwd: CWD,
      env: PATH_ENV,
      tty: false,
    });
    // The answer can only arrive once reading resumes: resume when the forwarder has paused.
    await eventually(() => logs.some((line) => line.includes(PAUSED)), 'the forwarder to pause', 30_000);
    // Paused, and held: the process cannot have written the whole stream (4 MiB unacknowledged
    // at most past what the socket took), so nothing has been evicted yet either.
    heldAt = runtime.stats().outputBytesTotal;
    peer.ws.resume();
    const started = await peer.answer(startId, 60_000);
    expect(heldAt).toBeGreaterThan(0);
    expect(heldAt).toBeLessThan(size);
    expect(started.result).toEqual({ processId: 'p', sandboxType: 'none' });
    await closed;
    expect(contiguous).toBe(true);
    expect(bytes).toBe(size);
    expect(hash.digest('hex')).toBe(expectedDigest(size));
  }, 120_000);

  it('lets a process run to completion while its session is detached, and reports the loss', async () => {
    const { runtime, server, logs } = await setup();
    const { peer, sessionId } = await openRaw(server.url, null);
    const size = 32 * MiB;
    peer.ws.pause();
    peer.request('process/start', {
      processId: 'd',
      argv: seqHead(size),
      cwd: CWD,
      env: PATH_ENV,
      tty: false,
    });
    // Held at the high-water mark by the unread socket...
    await eventually(() => logs.some((line) => line.includes(PAUSED)), 'the forwarder to pause', 30_000);
    expect(runtime.stats().exitsTotal).toBe(0);
    // ...then the connection drops: detached, the server acknowledges everything and it finishes.
    peer.ws.terminate();
    await eventually(() => runtime.stats().exitsTotal === 1, 'the detached process to exit', 60_000);
    expect(runtime.stats().outputBytesTotal).toBe(size);

    const client = await ExecServerClient.connect(server.url, { resumeSessionId: sessionId });
    cleanups.push(() => client.close());
    const process = client.get('d') as RemoteProcess;
    expect(process).toBeDefined();
    let bytes = 0;
    let lastSeq = 0;
    const types: string[] = [];
    await new Promise<void>((resolve, reject) => {
      process.events$.subscribe({
        next: (event) => {
          if (event.type === 'network') return;
          expect(event.seq).toBeGreaterThan(lastSeq);
          lastSeq = event.seq;
          types.push(event.type);
          if (event.type === 'output') bytes += event.chunk.byteLength;
        },
        error: reject,
        complete: resolve,
      });
    });
    expect(await process.exited).toBe(0);
    expect(types.slice(-2)).toEqual(['exited', 'closed']);
    // Only the retained tail (256 KiB here) could be replayed; the skip is counted, not hidden.
    expect(bytes).toBeLessThan(size);
    expect(bytes).toBeGreaterThan(0);
    expect(process.lostSeqs).toBeGreaterThan(0);
    const read = await process.read({ afterSeq: 0 });
    expect(read.firstRetainedSeq).toBeGreaterThan(1);
  }, 120_000);
});
