/** OutputDecoder: streaming UTF-8 per stream (a fresh TextDecoder per chunk garbles split characters). */
import { describe, expect, it } from 'vitest';
import { OutputDecoder } from '../../../src/index.js';

const euro = Buffer.from('€'); // e2 82 ac

describe('OutputDecoder', () => {
  it('joins a character split across chunks, per stream, with the other stream in between', () => {
    const decoder = new OutputDecoder();
    const text = [
      decoder.decode({ stream: 'stdout', chunk: euro.subarray(0, 1) }),
      decoder.decode({ stream: 'stderr', chunk: Buffer.from('é').subarray(0, 1) }),
      decoder.decode({ stream: 'stdout', chunk: euro.subarray(1, 2) }),
      decoder.decode({ stream: 'stderr', chunk: Buffer.from('é').subarray(1) }),
      decoder.decode({ stream: 'stdout', chunk: Buffer.concat([euro.subarray(2), Buffer.from('!')]) }),
    ];
    expect(text).toEqual(['', '', '', 'é', '€!']);
    // What a decoder per chunk would have produced:
    expect(new TextDecoder().decode(euro.subarray(0, 1))).toBe('\ufffd');
  });

  it('end() flushes an unfinished character as U+FFFD, for one stream or all', () => {
    const decoder = new OutputDecoder();
    decoder.decode({ stream: 'stdout', chunk: euro.subarray(0, 2) });
    decoder.decode({ stream: 'pty', chunk: euro.subarray(0, 1) });
    expect(decoder.end('stdout')).toBe('\ufffd');
    expect(decoder.end()).toBe('\ufffd');
    expect(decoder.decode({ stream: 'stdout', chunk: euro })).toBe('€');
  });
});
