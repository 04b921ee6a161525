/**
 * Output over the wire under backpressure, without a client `flowControl`: the server paces the
 * process itself (it acknowledges output only as notifications leave an uncongested socket), so a
 * consumer slower than the child costs throughput, never bytes. While nobody is attached the
 * server acknowledges everything, so a detached process still runs to completion.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ExecRuntime } from '../../src/index.js';
import { ExecServerClient, type RemoteProcess } from '../../src/client/index.js';
import { startServer, type ExecServer, type ServerOptions } from '../../src/server/index.js';
import { eventually } from '../helpers/process.js';

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

/** A raw protocol client: notifications go to `onNotification`; answers resolve `request`. */
class RawPeer {
  readonly ws: WebSocket;
  onNotification: (method: string, params: Record<string, unknown>) => void = () => undefined;
  readonly #answers = new Map<number, (message: Record<string, unknown>) => void>();
  #nextId = 1;

  private constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data) => {
      const message = JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>;
      if (typeof message.method === 'string') {
        this.onNotification(message.method, message.params as Record<string, unknown>);
      } else {
        this.#answers.get(message.id as number)?.(message);
      }
    });
  }

  static async open(
    url: string,
    resumeSessionId?: string | null,
  ): Promise<{ peer: RawPeer; sessionId: string }> {
    const peer = new RawPeer(url);
    cleanups.push(async () => {
      peer.ws.terminate();
      await Promise.resolve();
    });
    await once(peer.ws, 'open');
    const params: Record<string, unknown> = { clientName: 'backpressure-test' };
    if (resumeSessionId !== undefined) params.resumeSessionId = resumeSessionId;
    const answer = await peer.request('initialize', params);
    peer.ws.send(JSON.stringify({ method: 'initialized', params: {} }));
    return { peer, sessionId: (answer.result as { sessionId: string }).sessionId };
  }

  request(method: string, params: unknown): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const answer = new Promise<Record<string, unknown>>((resolve) => this.#answers.set(id, resolve));
    this.ws.send(JSON.stringify({ id, method, params }));
    return answer;
  }
}

describe('wire backpressure without client flowControl', () => {
  it('delivers every byte of a 64 MiB stream in order through events$ to a slow consumer', async () => {
    const { server, logs } = await setup();
    const client = await ExecServerClient.connect(server.url, { clientName: 'backpressure-test' });
    cleanups.push(() => client.close());
    const size = 64 * MiB;
    const process = (await client.start({ argv: seqHead(size), cwd: CWD, env: PATH_ENV })) as RemoteProcess;
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    let lastSeq = 0;
    let inOrder = true;
    await new Promise<void>((resolve, reject) => {
      process.events$.subscribe({
        next: (event) => {
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
    const { peer } = await RawPeer.open(server.url);
    const size = 32 * MiB;
    const hash = createHash('sha256');
    let bytes = 0;
    let nextSeq = 1;
    let contiguous = true;
    const closed = new Promise<void>((resolve) => {
      peer.onNotification = (method, params) => {
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
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      void peer
        .request('process/start', {
          processId: 'p',
          argv: seqHead(size),
          cwd: CWD,
          env: PATH_ENV,
          tty: false,
        })
        .then(resolve, reject);
      // The answer can only arrive once reading resumes: resume when the forwarder has paused.
      void eventually(
        () => logs.some((line) => line.includes(PAUSED)),
        'the forwarder to pause',
        30_000,
      ).then(() => {
        // Paused, and held: the process cannot have written the whole stream (4 MiB unacknowledged
        // at most past what the socket took), so nothing has been evicted yet either.
        heldAt = runtime.stats().outputBytesTotal;
        peer.ws.resume();
      }, reject);
    });
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
    const { peer, sessionId } = await RawPeer.open(server.url, null);
    const size = 32 * MiB;
    peer.ws.pause();
    void peer.request('process/start', {
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
