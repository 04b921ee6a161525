/**
 * Output notifications built as frame bytes (src/rpc/output-frame.ts) from reused buffers
 * (src/server/frame-pool.ts): several large streams at once on one connection, in both protocol
 * shapes, arrive byte for byte. A frame buffer reused before the socket wrote it would show here as
 * another stream's bytes.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';

const MiB = 1 << 20;
const STREAMS = 4;
const SIZE = 8 * MiB;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `seq FIRST 100000000 | head -c SIZE`: distinct, order-sensitive text per stream. */
function argv(first: number): string[] {
  return ['sh', '-c', `seq ${first} 100000000 | head -c ${SIZE}`];
}

function expectedDigest(first: number): string {
  const hash = createHash('sha256');
  let remaining = SIZE;
  let n = first;
  while (remaining > 0) {
    let text = '';
    for (let i = 0; i < 10_000; i++) text += `${n++}\n`;
    const bytes = Buffer.from(text.length > remaining ? text.slice(0, remaining) : text);
    hash.update(bytes);
    remaining -= bytes.length;
  }
  return hash.digest('hex');
}

describe.each(['seed', 'current'] as const)('output frames, %s shape', (protocol) => {
  it(`delivers ${STREAMS} concurrent ${SIZE / MiB} MiB streams on one connection byte for byte`, async () => {
    const server = await startServer({ listen: 'ws://127.0.0.1:0' });
    cleanups.push(() => server.close());
    const client = await ExecServerClient.connect(server.url, { protocol });
    cleanups.push(() => client.close());
    const firsts = Array.from({ length: STREAMS }, (_, index) => 1 + index * 7_000_000);
    const digests = await Promise.all(
      firsts.map(async (first) => {
        const process = await client.start({
          argv: argv(first),
          cwd: tmpdir(),
          env: { PATH: '/usr/bin:/bin' },
        });
        const hash = createHash('sha256');
        let bytes = 0;
        await new Promise<void>((resolve, reject) =>
          process.events$.subscribe({
            next: (event) => {
              if (event.type !== 'output') return;
              hash.update(event.chunk);
              bytes += event.chunk.byteLength;
            },
            error: reject,
            complete: resolve,
          }),
        );
        expect(bytes).toBe(SIZE);
        expect(process.lostSeqs).toBe(0);
        return hash.digest('hex');
      }),
    );
    expect(digests).toEqual(firsts.map(expectedDigest));
  });
});
