import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeError,
  encodeNotification,
  encodeRequest,
  encodeResult,
  parseFailureMessage,
} from '../../../src/rpc/envelope.js';

describe('decodeMessage', () => {
  it('reads a request and treats absent params as null', () => {
    expect(decodeMessage('{"id":1,"method":"initialize"}')).toEqual({
      ok: true,
      message: { kind: 'request', id: 1, method: 'initialize', params: null },
    });
  });

  it('keeps string ids and ignores unknown members, including jsonrpc', () => {
    expect(decodeMessage('{"jsonrpc":"2.0","id":"a-1","method":"m","params":{"x":1},"extra":true}')).toEqual({
      ok: true,
      message: { kind: 'request', id: 'a-1', method: 'm', params: { x: 1 } },
    });
  });

  it('tries request before notification before response before error', () => {
    expect(decodeMessage('{"id":1,"method":"m","result":1}')).toMatchObject({ message: { kind: 'request' } });
    expect(decodeMessage('{"method":"initialized"}')).toMatchObject({ message: { kind: 'notification' } });
    // An id that is neither an integer nor a string is refused with the reference's text (answered
    // with id -1, the connection kept), never taken for a notification (which closed the socket).
    for (const id of ['1.5', 'true', 'null', '{}', '[1]']) {
      expect(decodeMessage(`{"id":${id},"method":"m"}`), id).toEqual({
        ok: false,
        reason: 'data did not match any variant of untagged enum RequestId',
      });
    }
    expect(decodeMessage('{"id":2,"result":null}')).toEqual({
      ok: true,
      message: { kind: 'response', id: 2, result: null },
    });
    expect(decodeMessage('{"id":3,"error":{"code":-1,"message":"x"}}')).toEqual({
      ok: true,
      message: { kind: 'error', id: 3, error: { code: -1, message: 'x' } },
    });
  });

  it('keeps integer ids beyond 2^53 exactly, as the reference keeps its i64 ids', () => {
    const text = '{"id":9007199254740993,"method":"m"}';
    expect(decodeMessage(text)).toEqual({
      ok: true,
      message: { kind: 'request', id: 9007199254740993n, method: 'm', params: null },
    });
    expect(encodeResult(9007199254740993n, {})).toBe('{"id":9007199254740993,"result":{}}');
    expect(decodeMessage('{"method":"m","params":{"id":1},"id":-9223372036854775808}')).toMatchObject({
      ok: true,
      message: { id: -9223372036854775808n },
    });
    expect(decodeMessage('{"id":99999999999999999999,"method":"m"}')).toEqual({
      ok: false,
      reason: 'invalid type: integer `99999999999999999999` as u128, expected any value',
    });
  });

  it('refuses a batch (an array) with the reference text', () => {
    expect(decodeMessage('[{"id":1,"method":"m"}]')).toEqual({
      ok: false,
      reason: 'expected a JSON-RPC object',
    });
  });

  it('refuses text that is not JSON, and JSON of none of the shapes', () => {
    for (const text of [
      'not-json',
      '',
      '[]',
      '1',
      'null',
      '{"id":1}',
      '{"id":null,"result":1}',
      '{"id":1,"error":{}}',
    ]) {
      expect(decodeMessage(text).ok, text).toBe(false);
    }
  });

  it('round-trips every request and response it encodes', () => {
    const id = fc.oneof(fc.string(), fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }));
    fc.assert(
      fc.property(id, fc.string(), fc.jsonValue(), (requestId, method, params) => {
        const request = decodeMessage(encodeRequest(requestId, method, params));
        expect(request).toMatchObject({ ok: true, message: { kind: 'request', id: requestId, method } });
        const response = decodeMessage(encodeResult(requestId, params));
        expect(response).toMatchObject({ ok: true, message: { kind: 'response', id: requestId } });
      }),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(fc.property(fc.string(), (text) => void decodeMessage(text)));
  });
});

describe('encoding', () => {
  it('never sends jsonrpc', () => {
    for (const text of [
      encodeRequest(1, 'm', null),
      encodeNotification('process/closed', { processId: 'p', seq: 1 }),
      encodeResult(1, {}),
      encodeError(-1, { code: -32600, message: 'x' }),
    ]) {
      expect(text).not.toContain('jsonrpc');
    }
  });

  it('labels parse failures with the peer as the reference does', () => {
    expect(parseFailureMessage('127.0.0.1:5', 'why')).toBe(
      'failed to parse websocket JSON-RPC message from exec-server websocket 127.0.0.1:5: why',
    );
  });
});
