/**
 * The output frame codec: the bytes it builds are exactly `JSON.stringify` of the notification, and
 * what it parses is exactly what `JSON.parse` gives, with the chunk's bytes decoded from the frame;
 * anything outside the plain shape falls back to the ordinary parser.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../../src/rpc/envelope.js';
import {
  decodeFrame,
  encodeOutputFrame,
  outputChunkBytes,
  parseOutputFrame,
} from '../../../src/rpc/output-frame.js';

const KiB = 1024;

function reference(processId: string, seq: number, stream: string, data: Buffer): string {
  return JSON.stringify({
    method: 'process/output',
    params: { processId, seq, stream, chunk: data.toString('base64') },
  });
}

function paramsOf(frame: Buffer): Record<string, unknown> {
  const decoded = decodeFrame(frame);
  if (!decoded.ok || decoded.message.kind !== 'notification') throw new Error('not a notification');
  return decoded.message.params as Record<string, unknown>;
}

// Around the encoder's slice (24 KiB) and the decoder's (48 KiB of bytes), and every padding.
const SIZES = [0, 1, 2, 3, 4, 24 * KiB - 1, 24 * KiB, 24 * KiB + 1, 48 * KiB + 2, 300 * KiB + 1];

describe('encodeOutputFrame', () => {
  it.each(SIZES)('builds the bytes JSON.stringify gives for %i bytes of output', (size) => {
    const data = randomBytes(size);
    const frame = encodeOutputFrame('proc-1', 7, 'stdout', data);
    expect(frame.toString('utf8')).toBe(reference('proc-1', 7, 'stdout', data));
  });

  it('escapes the process id as JSON does (quotes, non-ASCII) and uses a given allocator', () => {
    const data = randomBytes(100 * KiB);
    const id = 'p"\\é\u2028';
    const sizes: number[] = [];
    const frame = encodeOutputFrame(id, 1, 'pty', data, (size) => {
      sizes.push(size);
      return Buffer.alloc(size, 0x41);
    });
    expect(frame.toString('utf8')).toBe(reference(id, 1, 'pty', data));
    expect(sizes).toEqual([frame.length]);
  });
});

describe('decodeFrame', () => {
  it.each(SIZES)('parses a %i-byte output frame as JSON.parse does, with its bytes', (size) => {
    const data = randomBytes(size);
    const frame = encodeOutputFrame('proc-2', 3, 'stderr', data);
    const expected = (decodeMessage(frame.toString('utf8')) as { message: { params: unknown } }).message
      .params;
    const params = paramsOf(frame);
    // Decoding may reuse the frame's memory: the frame is spent after this.
    expect(outputChunkBytes(params)).toEqual(data);
    expect(outputChunkBytes(params)).toEqual(data);
    expect(params).toEqual(expected);
    expect(params.chunk).toBe(data.toString('base64'));
  });

  it('lets the chunk be replaced like any member', () => {
    const params = paramsOf(encodeOutputFrame('p', 1, 'stdout', Buffer.from('hello')));
    params.chunk = 'aGk=';
    expect(params.chunk).toBe('aGk=');
    expect(outputChunkBytes(params)).toBeNull();
    expect(JSON.stringify(params)).toBe('{"processId":"p","seq":1,"stream":"stdout","chunk":"aGk="}');
  });

  const fallbacks: [string, string][] = [
    ['another method', '{"method":"process/exited","params":{"processId":"p","seq":1,"exitCode":0}}'],
    [
      'an escaped chunk',
      '{"method":"process/output","params":{"processId":"p","seq":1,"chunk":"aGk\\u003d"}}',
    ],
    ['a nested chunk key', '{"method":"process/output","params":{"x":{"chunk":"aGk="},"chunk":""}}'],
    ['a repeated chunk key', '{"method":"process/output","params":{"chunk":"aGk=","chunk":"eW8="}}'],
    ['non-ASCII in the chunk', '{"method":"process/output","params":{"processId":"p","chunk":"aé=="}}'],
    ['a chunk after params', '{"method":"process/output","params":{"processId":"p"},"chunk":"aGk="}'],
    ['a request with an id', '{"method":"process/output","params":{"processId":"p","chunk":"aGk="},"id":4}'],
  ];
  it.each(fallbacks)('gives what JSON.parse gives for %s', (_name, text) => {
    const fast = decodeFrame(Buffer.from(text));
    expect(fast).toEqual(decodeMessage(text));
  });

  it('leaves a chunk that is not canonical base64 to the usual decoder', () => {
    for (const chunk of ['aGk', 'a=Gk', 'aG!k', 'aGk=aGk=']) {
      const text = `{"method":"process/output","params":{"processId":"p","seq":1,"stream":"stdout","chunk":"${chunk}"}}`;
      const params = paramsOf(Buffer.from(text));
      expect(params.chunk).toBe(chunk);
      expect(outputChunkBytes(params)).toBeNull();
    }
  });

  it.each([
    ['an invalid character', '!'],
    ['the URL-safe alphabet', '_'],
    ['a padding character', '='],
  ])('gives the original text back when %s stops decoding in place', (_name, bad) => {
    const data = randomBytes(300 * KiB);
    const frame = encodeOutputFrame('p', 1, 'stdout', data);
    const text = data.toString('base64');
    // Past several decode slices, so some text was already overwritten by decoded bytes.
    const at = frame.indexOf('"chunk":"') + 9 + 200 * KiB + 1;
    frame.write(bad, at, 'latin1');
    const original = `${text.slice(0, 200 * KiB + 1)}${bad}${text.slice(200 * KiB + 2)}`;
    const params = paramsOf(frame);
    expect(outputChunkBytes(params)).toBeNull();
    expect(params.chunk).toBe(original);
  });

  it('is not fooled by a chunk key inside a string member', () => {
    const text =
      '{"method":"process/output","params":{"processId":"\\"chunk\\":\\"","seq":1,"chunk":"aGk="}}';
    expect(parseOutputFrame(Buffer.from(text))).toEqual(JSON.parse(text));
    expect(outputChunkBytes(paramsOf(Buffer.from(text)))).toEqual(Buffer.from('hi'));
  });

  it('parses text and other frames with the ordinary parser', () => {
    expect(decodeFrame('{"id":1,"result":{}}')).toEqual(decodeMessage('{"id":1,"result":{}}'));
    expect(decodeFrame(Buffer.from('not json')).ok).toBe(false);
    expect(outputChunkBytes({ chunk: 'aGk=' })).toBeNull();
  });
});
