import { describe, expect, it } from 'vitest';
import { ErrorCodes, ExecError, type ErrorCode } from '../../../src/errors.js';
import { MethodNotFoundError, fromRpcError, toRpcError } from '../../../src/rpc/error-map.js';

const expected: Record<ErrorCode, number> = {
  EXEC_ERR_PROTOCOL: -32600,
  EXEC_ERR_DUPLICATE_PROCESS: -32600,
  EXEC_ERR_UNKNOWN_PROCESS: -32600,
  EXEC_ERR_NOT_A_TTY: -32600,
  EXEC_ERR_SESSION: -32600,
  EXEC_ERR_LIMIT: -32600,
  EXEC_ERR_FS_INVALID: -32600,
  EXEC_ERR_INVALID_ARGUMENT: -32602,
  EXEC_ERR_EMPTY_ARGV: -32602,
  EXEC_ERR_SANDBOX: -32602,
  EXEC_ERR_SPAWN: -32603,
  EXEC_ERR_CLOSED: -32603,
  EXEC_ERR_WORKER_DIED: -32603,
  EXEC_ERR_FS_IO: -32603,
  EXEC_ERR_TRANSPORT: -32603,
  EXEC_ERR_REMOTE: -32603,
  EXEC_ERR_INTERNAL: -32603,
  EXEC_ERR_ABORTED: -32603,
  EXEC_ERR_HTTP: -32603,
  EXEC_ERR_NOT_FOUND: -32004,
  EXEC_ERR_SESSION_ATTACHED: -32010,
  EXEC_ERR_DRAINING: -32011,
};

describe('toRpcError', () => {
  it('maps every code, keeping the message and the code in data', () => {
    for (const code of Object.values(ErrorCodes)) {
      expect(toRpcError(new ExecError(code, 'why'))).toEqual({
        code: expected[code],
        message: 'why',
        data: { code },
      });
    }
  });

  it('answers an unknown method with -32601 and the reference text', () => {
    expect(toRpcError(new MethodNotFoundError('x/y'))).toMatchObject({
      code: -32601,
      message: 'exec-server stub does not implement `x/y` yet',
    });
  });

  it('answers a missing path of a current-shape request with -32004, of a seed one with -32603', () => {
    const missing = new ExecError('EXEC_ERR_FS_IO', 'No such file or directory (os error 2)');
    expect(toRpcError(missing, 'current').code).toBe(-32004);
    expect(toRpcError(missing, 'seed').code).toBe(-32603);
    expect(
      toRpcError(new ExecError('EXEC_ERR_FS_IO', 'Permission denied (os error 13)'), 'current').code,
    ).toBe(-32603);
  });

  it('treats anything else as internal', () => {
    expect(toRpcError(new TypeError('boom'))).toEqual({
      code: -32603,
      message: 'boom',
      data: { code: 'EXEC_ERR_INTERNAL' },
    });
  });
});

describe('fromRpcError', () => {
  it('recovers every code from our own answers', () => {
    for (const code of Object.values(ErrorCodes)) {
      const remote = fromRpcError(toRpcError(new ExecError(code, 'why')));
      expect(remote.code).toBe(code);
      expect(remote.rpcCode).toBe(expected[code]);
    }
  });

  it('falls back to the fixed texts for servers that send no data', () => {
    const cases: [number, string, string | undefined, ErrorCode][] = [
      [-32600, 'unknown process id p1', undefined, 'EXEC_ERR_UNKNOWN_PROCESS'],
      [-32600, 'process p1 already exists', undefined, 'EXEC_ERR_DUPLICATE_PROCESS'],
      [-32600, 'unknown session id s', undefined, 'EXEC_ERR_SESSION'],
      [-32600, 'client must call initialize before using exec methods', undefined, 'EXEC_ERR_PROTOCOL'],
      [-32601, 'exec-server stub does not implement `x` yet', undefined, 'EXEC_ERR_PROTOCOL'],
      [-32602, 'argv must not be empty', undefined, 'EXEC_ERR_EMPTY_ARGV'],
      [-32602, 'failed to prepare process sandbox: no', undefined, 'EXEC_ERR_SANDBOX'],
      [-32602, 'missing field `processId`', undefined, 'EXEC_ERR_INVALID_ARGUMENT'],
      [-32603, 'No such file or directory (os error 2)', 'process/start', 'EXEC_ERR_SPAWN'],
      [-32603, 'something broke', 'process/read', 'EXEC_ERR_INTERNAL'],
      [1234, 'custom', undefined, 'EXEC_ERR_REMOTE'],
      // The reference's current codes.
      [-32010, 'session s is already attached to another connection', undefined, 'EXEC_ERR_SESSION_ATTACHED'],
      [-32004, 'No such file or directory (os error 2)', 'fs/readFile', 'EXEC_ERR_FS_IO'],
      [-32004, 'unknown file handle `h`', 'fs/readBlock', 'EXEC_ERR_NOT_FOUND'],
      [-32603, 'http/request failed: too many redirects', 'http/request', 'EXEC_ERR_HTTP'],
      // Ours, from a server that left `data` out.
      [-32011, 'the exec server is draining', 'process/start', 'EXEC_ERR_DRAINING'],
    ];
    for (const [rpcCode, message, method, code] of cases) {
      expect(fromRpcError({ code: rpcCode, message }, method).code, message).toBe(code);
    }
  });
});
