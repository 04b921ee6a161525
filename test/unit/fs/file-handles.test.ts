import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import { FileHandleTable } from '../../../src/fs/file-handles.js';

let root: string;
let table: FileHandleTable;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'execvisor-handles-'));
  table = new FileHandleTable(3);
});
afterEach(async () => {
  await table.closeAll();
  rmSync(root, { recursive: true, force: true });
});

describe('FileHandleTable', () => {
  it('reads positioned blocks and reports eof when fewer bytes were left', async () => {
    const path = join(root, 'f');
    writeFileSync(path, '0123456789');
    await table.open('h', path);
    expect(await table.readBlock('h', 7, 3)).toEqual({ chunk: Buffer.from('789'), eof: false });
    expect(await table.readBlock('h', 8, 4)).toEqual({ chunk: Buffer.from('89'), eof: true });
    expect(await table.readBlock('h', 50, 4)).toEqual({ chunk: Buffer.alloc(0), eof: true });
  });

  it('enforces its limit and id rules; a close frees a slot', async () => {
    const path = join(root, 'f');
    writeFileSync(path, 'x');
    await expect(table.open('x'.repeat(33), path)).rejects.toMatchObject({ code: ErrorCodes.FS_INVALID });
    await Promise.all(['a', 'b', 'c'].map((id) => table.open(id, path)));
    await expect(table.open('a', path)).rejects.toMatchObject({ message: 'file handle `a` already exists' });
    await expect(table.open('d', path)).rejects.toMatchObject({
      code: ErrorCodes.LIMIT,
      message: 'at most 3 file handles may be open per connection',
    });
    await table.close('b');
    await table.open('d', path);
    await expect(table.readBlock('b', 0, 1)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND });
    await expect(table.readBlock('a', 0, 0)).rejects.toMatchObject({ code: ErrorCodes.FS_INVALID });
  });

  it('lets exactly one of two concurrent opens of one id win', async () => {
    const path = join(root, 'f');
    writeFileSync(path, 'x');
    const results = await Promise.allSettled([table.open('same', path), table.open('same', path)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('refuses a FIFO and a directory at once, and a file that is not the inode the sandbox saw', async () => {
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(table.open('p', fifo)).rejects.toMatchObject({ message: `path \`${fifo}\` is not a file` });
    await expect(table.open('d', root)).rejects.toMatchObject({ message: `path \`${root}\` is not a file` });
    const path = join(root, 'f');
    writeFileSync(path, 'x');
    const { dev, ino } = statSync(path, { bigint: true });
    await expect(
      table.open('other', path, { dev: String(dev), ino: String(ino + 1n), isFile: true }),
    ).rejects.toMatchObject({ code: ErrorCodes.FS_IO });
    await table.open('same', path, { dev: String(dev), ino: String(ino), isFile: true });
    expect(table.size).toBe(1);
  });

  it('keeps reading the file it opened after the path is replaced', async () => {
    const path = join(root, 'f');
    writeFileSync(path, 'old');
    await table.open('h', path);
    writeFileSync(join(root, 'g'), 'new');
    await rename(join(root, 'g'), path);
    expect((await table.readBlock('h', 0, 10)).chunk.toString()).toBe('old');
  });
});
