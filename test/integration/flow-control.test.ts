/** Flow control: a slow consumer loses nothing and the runtime's memory stays bounded. */
import { afterEach, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { ExecRuntime, type ExecProcess } from '../../src/index.js';
import { checksummedBytes, sha256 } from '../helpers/data.js';
import { FIXTURES } from '../helpers/process.js';

let runtime: ExecRuntime | undefined;
afterEach(async () => {
  await runtime?.destroy();
  runtime = undefined;
});

const retainedOf = (process: ExecProcess) =>
  (process as unknown as { log: { retainedBytes: number } }).log.retainedBytes;

describe('flow control', () => {
  it('a slow reader gets every byte while retention stays near the high-water mark', async () => {
    // Retention far below the stream size: without flow control most of it would be evicted.
    runtime = await ExecRuntime.create({ retainedBytesPerProcess: 64 * 1024 });
    const size = 8 << 20;
    const highWaterBytes = 256 * 1024;
    const process = await runtime.start({
      argv: [globalThis.process.execPath, `${FIXTURES}checksummed.mjs`, '7', String(size)],
      cwd: tmpdir(),
      env: {},
      flowControl: { highWaterBytes, lowWaterBytes: 64 * 1024 },
    });
    const parts: Buffer[] = [];
    let afterSeq: number | null = null;
    let maxRetained = 0;
    for (;;) {
      // Yield to the event loop between reads so output can pile up, as with a slow client.
      await new Promise((resolve) => setImmediate(resolve));
      maxRetained = Math.max(maxRetained, retainedOf(process));
      const read = await process.read({ afterSeq, maxBytes: 32 * 1024, waitMs: 5_000 });
      expect(read.firstRetainedSeq).toBeLessThanOrEqual((afterSeq ?? 0) + 1);
      parts.push(...read.chunks.map((chunk) => Buffer.from(chunk.chunk)));
      afterSeq = read.nextSeq - 1;
      if (read.closed && read.chunks.length === 0) break;
    }
    const data = Buffer.concat(parts);
    expect(data.length).toBe(size);
    expect(sha256(data)).toBe(sha256(checksummedBytes(7, size)));
    // The actor stops reading above the mark; what was already in flight (a few pipe reads) adds on.
    expect(maxRetained).toBeLessThan(highWaterBytes + 512 * 1024);
  });

  it('an explicit ack releases a paused process', async () => {
    runtime = await ExecRuntime.create();
    const process = await runtime.start({
      argv: ['sh', '-c', 'head -c 4194304 /dev/zero'],
      cwd: tmpdir(),
      env: { PATH: '/usr/bin:/bin' },
      flowControl: { highWaterBytes: 128 * 1024, lowWaterBytes: 32 * 1024 },
    });
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      process.events$.subscribe({
        next: (event) => {
          if (event.type !== 'output') return;
          total += event.chunk.byteLength;
          // Acknowledge through the explicit call, not through read.
          void process.ack(event.seq).catch(reject);
        },
        complete: resolve,
        error: reject,
      });
    });
    expect(total).toBe(4 << 20);
  });
});
