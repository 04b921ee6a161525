import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../../src/errors.js';
import { requestMethods } from '../../../src/rpc/methods.js';
import { decodeBase64Strict, parseParams } from '../../../src/rpc/serde-schema.js';

const start = { processId: 'p1', argv: ['true'], cwd: '/tmp', env: {}, tty: false };

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(errorCodeOf(error)).toBe('EXEC_ERR_INVALID_ARGUMENT');
    return (error as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('params validation messages (serde style)', () => {
  it('names a missing field', () => {
    expect(messageOf(() => parseParams(requestMethods.read.params, {}))).toBe('missing field `processId`');
    expect(messageOf(() => parseParams(requestMethods.initialize.params, {}))).toBe(
      'missing field `clientName`',
    );
  });

  it('describes a value of the wrong type', () => {
    expect(messageOf(() => parseParams(requestMethods.start.params, { ...start, tty: 'x' }))).toBe(
      'invalid type: string "x", expected a boolean',
    );
    expect(messageOf(() => parseParams(requestMethods.start.params, { ...start, argv: ['a', 5] }))).toBe(
      'invalid type: integer `5`, expected a string',
    );
    expect(messageOf(() => parseParams(requestMethods.start.params, { ...start, env: { A: true } }))).toBe(
      'invalid type: boolean `true`, expected a string',
    );
    expect(messageOf(() => parseParams(requestMethods.start.params, { ...start, argv: 'ls' }))).toBe(
      'invalid type: string "ls", expected a sequence',
    );
    expect(messageOf(() => parseParams(requestMethods.start.params, { ...start, env: [] }))).toBe(
      'invalid type: sequence, expected a map',
    );
    expect(messageOf(() => parseParams(requestMethods.read.params, { processId: 'p', afterSeq: 1.5 }))).toBe(
      'invalid type: floating point `1.5`, expected u64',
    );
    expect(messageOf(() => parseParams(requestMethods.read.params, { processId: 'p', afterSeq: -1 }))).toBe(
      'invalid value: integer `-1`, expected u64',
    );
    expect(messageOf(() => parseParams(requestMethods.start.params, { ...start, processId: null }))).toBe(
      'invalid type: null, expected a string',
    );
  });

  it('treats absent params as null', () => {
    expect(messageOf(() => parseParams(requestMethods.start.params, null))).toBe(
      'invalid type: null, expected struct ExecParams',
    );
    expect(parseParams(requestMethods.list.params, null)).toBeNull();
  });

  it('accepts null for optional fields and ignores unknown ones', () => {
    const parsed = parseParams(requestMethods.start.params, {
      ...start,
      arg0: null,
      sandbox: null,
      size: null,
      pipeStdin: null,
      flowControl: null,
      surprise: 1,
    });
    expect(parsed).not.toHaveProperty('surprise');
    expect(
      parseParams(requestMethods.read.params, {
        processId: 'p',
        afterSeq: null,
        maxBytes: null,
        waitMs: null,
      }),
    ).toMatchObject({ processId: 'p' });
  });

  it('keeps absent and null resumeSessionId apart (the session opt-in)', () => {
    expect('resumeSessionId' in parseParams(requestMethods.initialize.params, { clientName: 'c' })).toBe(
      false,
    );
    expect(parseParams(requestMethods.initialize.params, { clientName: 'c', resumeSessionId: null })).toEqual(
      {
        clientName: 'c',
        resumeSessionId: null,
      },
    );
  });

  it('checks signal names', () => {
    expect(parseParams(requestMethods.signal.params, { processId: 'p', signal: 'SIGUSR1' }).signal).toBe(
      'SIGUSR1',
    );
    expect(parseParams(requestMethods.signal.params, { processId: 'p', signal: 'interrupt' }).signal).toBe(
      'interrupt',
    );
    expect(
      messageOf(() => parseParams(requestMethods.signal.params, { processId: 'p', signal: 'SIGNOPE' })),
    ).toMatch(/^unknown signal `SIGNOPE`/);
  });

  it('decodes base64 chunks strictly', () => {
    expect(parseParams(requestMethods.write.params, { processId: 'p', chunk: 'aGk=' }).chunk.toString()).toBe(
      'hi',
    );
    for (const chunk of ['a===', 'aGk', 'aG k=', 'aGl=', '@@@@', 'aGk=\n']) {
      expect(
        messageOf(() => parseParams(requestMethods.write.params, { processId: 'p', chunk })),
        chunk,
      ).toBe('invalid base64 in `chunk`');
    }
  });
});

describe('decodeBase64Strict', () => {
  it('accepts the canonical form only', () => {
    expect(decodeBase64Strict('')?.length).toBe(0);
    expect(decodeBase64Strict('AAEC')).toEqual(Buffer.from([0, 1, 2]));
    expect(decodeBase64Strict('AAE=')).toEqual(Buffer.from([0, 1]));
    expect(decodeBase64Strict('AAF=')).toBeUndefined();
    expect(decodeBase64Strict('AA-_')).toBeUndefined();
  });
});
