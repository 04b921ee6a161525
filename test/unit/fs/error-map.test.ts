import { describe, expect, it } from 'vitest';
import { ErrorCodes, FsInvalidError, FsIoError } from '../../../src/errors.js';
import { fromRpcError, toRpcError } from '../../../src/rpc/error-map.js';

describe('fs errors on the wire', () => {
  it('maps FS_INVALID to -32600 and FS_IO to -32603', () => {
    expect(
      toRpcError(new FsInvalidError('fs/copy only supports regular files, directories, and symlinks')),
    ).toEqual({
      code: -32600,
      message: 'fs/copy only supports regular files, directories, and symlinks',
      data: { code: ErrorCodes.FS_INVALID },
    });
    expect(toRpcError(new FsIoError('Read-only file system (os error 30)'))).toMatchObject({ code: -32603 });
  });

  it('recovers the codes from a server that sends no data.code', () => {
    expect(fromRpcError({ code: -32600, message: 'fs/copy requires recursive' }, 'fs/copy').code).toBe(
      ErrorCodes.FS_INVALID,
    );
    expect(
      fromRpcError({ code: -32603, message: 'Permission denied (os error 13)' }, 'fs/writeFile').code,
    ).toBe(ErrorCodes.FS_IO);
    expect(
      fromRpcError(
        { code: -32600, message: 'client must call initialize before using filesystem methods' },
        'fs/remove',
      ).code,
    ).toBe(ErrorCodes.PROTOCOL);
  });
});
