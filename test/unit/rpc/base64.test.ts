import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64Problem, decodeBase64Strict } from '../../../src/rpc/base64.js';

describe('base64Problem', () => {
  it('words each problem as the reference server does (texts taken from its binary)', () => {
    const cases: [string, string | null][] = [
      ['', null],
      ['YWJj', null],
      ['abc=', null],
      ['YWJjZA==', null],
      ['abc', 'Invalid padding'],
      ['YWJ', 'Invalid padding'],
      ['ab=', 'Invalid padding'],
      ['YQ=', 'Invalid padding'],
      ['YWJjZA=', 'Invalid padding'],
      ['abd', 'Invalid padding'],
      ['ab==', 'Invalid last symbol 98, offset 1.'],
      ['abd=', 'Invalid last symbol 100, offset 2.'],
      ['YR==', 'Invalid last symbol 82, offset 1.'],
      ['ab=c', 'Invalid symbol 61, offset 2.'],
      ['====', 'Invalid symbol 61, offset 0.'],
      ['a===', 'Invalid symbol 61, offset 1.'],
      ['Y===', 'Invalid symbol 61, offset 1.'],
      ['YQ==YQ==', 'Invalid symbol 61, offset 2.'],
      ['YQ=x', 'Invalid symbol 61, offset 2.'],
      ['YQ==a', 'Invalid symbol 61, offset 2.'],
      ['abc==', 'Invalid symbol 61, offset 3.'],
      ['abcd=', 'Invalid symbol 61, offset 4.'],
      ['YWJjZA===', 'Invalid symbol 61, offset 6.'],
      ['Y Q==', 'Invalid symbol 32, offset 1.'],
      ['YQ==\n', 'Invalid symbol 10, offset 4.'],
      ['-_8=', 'Invalid symbol 45, offset 0.'],
      ['ab!', 'Invalid symbol 33, offset 2.'],
      ['a', 'Invalid input length: 1'],
      ['abcde', 'Invalid input length: 5'],
      ['YWJjZ', 'Invalid input length: 5'],
    ];
    for (const [text, problem] of cases) expect(base64Problem(text), JSON.stringify(text)).toBe(problem);
  });

  it('accepts exactly what Buffer encodes, and decodes it back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64');
        expect(base64Problem(text)).toBeNull();
        expect(decodeBase64Strict(text)).toEqual(Buffer.from(bytes));
      }),
    );
  });

  // Issue #10 item 8: the regular expression this replaces overflowed the stack from about 4 MiB.
  it('checks 16 MiB of base64 without recursion', () => {
    const text = Buffer.alloc(12 * 1024 * 1024, 0xa5).toString('base64');
    expect(text.length).toBe(16 * 1024 * 1024);
    expect(base64Problem(text)).toBeNull();
    expect(base64Problem(`${text.slice(0, -1)}!`)).toBe(`Invalid symbol 33, offset ${text.length - 1}.`);
  });
});
