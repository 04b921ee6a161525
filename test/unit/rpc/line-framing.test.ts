import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../../src/rpc/line-framing.js';

function decode(chunks: Buffer[], max = 100): { lines: string[]; oversized: number[] } {
  const lines: string[] = [];
  const oversized: number[] = [];
  const decoder = new LineDecoder(max, {
    line: (text) => lines.push(text),
    oversized: (n) => oversized.push(n),
  });
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end();
  return { lines, oversized };
}

describe('LineDecoder', () => {
  it('splits on newlines across chunks, keeping a split multi-byte character whole', () => {
    const bytes = Buffer.from('{"a":"é"}\r\n{"b":2}\nlast');
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 8), bytes.subarray(8)];
    expect(decode(chunks).lines).toEqual(['{"a":"é"}', '{"b":2}', 'last']);
  });

  it('drops a line over the limit whole, reports it once, and goes on', () => {
    const long = 'x'.repeat(150);
    expect(decode([Buffer.from(`${long.slice(0, 60)}`), Buffer.from(`${long.slice(60)}\nok\n`)])).toEqual({
      lines: ['ok'],
      oversized: [150],
    });
  });
});
