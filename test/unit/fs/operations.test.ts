import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import {
  COPY_DIRECTORY_NEEDS_RECURSIVE,
  COPY_INTO_ITSELF,
  COPY_UNSUPPORTED_TYPE,
  resolveExistingPath,
  runFsOperation,
} from '../../../src/fs/operations.js';
import { osErrorText, toFsError } from '../../../src/fs/os-error.js';
import type { FsOperation } from '../../../src/fs/protocol.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'execvisor-fs-unit-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(
  operation: FsOperation,
  readLimit?: number,
): Promise<{ code: string; message: string }> {
  try {
    await runFsOperation(operation, readLimit);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error(`${operation.op} succeeded`);
}

describe('fs operations', () => {
  it('reads what it wrote', async () => {
    const path = join(root, 'f.bin');
    await runFsOperation({ op: 'writeFile', path, data: new Uint8Array([0, 1, 255]) });
    const value = (await runFsOperation({ op: 'readFile', path })) as { data: Uint8Array };
    expect([...value.data]).toEqual([0, 1, 255]);
  });

  it('refuses a file over the read limit as invalid input', async () => {
    const path = join(root, 'big');
    await writeFile(path, 'x'.repeat(100));
    expect(await failure({ op: 'readFile', path }, 99)).toMatchObject({
      code: ErrorCodes.FS_INVALID,
      message: 'file is too large to read: limit is 99 bytes',
    });
    const ok = (await runFsOperation({ op: 'readFile', path }, 100)) as { data: Uint8Array };
    expect(ok.data.byteLength).toBe(100);
  });

  it('reads a file whose size is not known in advance (procfs)', async () => {
    const value = (await runFsOperation({ op: 'readFile', path: '/proc/self/status' })) as {
      data: Uint8Array;
    };
    expect(new TextDecoder().decode(value.data)).toMatch(/^Name:/);
  });

  it('refuses to read a FIFO instead of blocking on it', async () => {
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await failure({ op: 'readFile', path: fifo })).toMatchObject({ code: ErrorCodes.FS_INVALID });
  });

  it('reports OS errors with the OS text', async () => {
    expect(await failure({ op: 'readFile', path: join(root, 'missing') })).toMatchObject({
      code: ErrorCodes.FS_IO,
      message: 'No such file or directory (os error 2)',
    });
    expect(await failure({ op: 'createDirectory', path: root, recursive: false })).toMatchObject({
      code: ErrorCodes.FS_IO,
      message: 'File exists (os error 17)',
    });
  });

  it('gives metadata through symlinks', async () => {
    await writeFile(join(root, 'f'), 'x');
    await symlink(join(root, 'f'), join(root, 'link'));
    const meta = await runFsOperation({ op: 'getMetadata', path: join(root, 'link') });
    expect(meta).toEqual({
      isDirectory: false,
      isFile: true,
      isSymlink: true,
      size: 1,
      createdAtMs: expect.any(Number) as number,
      modifiedAtMs: Math.trunc((await stat(join(root, 'f'))).mtimeMs),
    });
  });

  it('lists a directory sorted by name, leaving out dangling symlinks', async () => {
    await mkdir(join(root, 'b'));
    await writeFile(join(root, 'c'), '');
    await writeFile(join(root, 'a'), '');
    await symlink(join(root, 'nowhere'), join(root, 'dangling'));
    const { entries } = (await runFsOperation({ op: 'readDirectory', path: root })) as {
      entries: unknown[];
    };
    expect(entries).toEqual([
      { fileName: 'a', isDirectory: false, isFile: true },
      { fileName: 'b', isDirectory: true, isFile: false },
      { fileName: 'c', isDirectory: false, isFile: true },
    ]);
  });

  it('removes with force and recursive semantics', async () => {
    await runFsOperation({ op: 'remove', path: join(root, 'missing'), recursive: true, force: true });
    expect(
      await failure({ op: 'remove', path: join(root, 'missing'), recursive: true, force: false }),
    ).toMatchObject({
      code: ErrorCodes.FS_IO,
      message: 'No such file or directory (os error 2)',
    });
    await mkdir(join(root, 'd', 'e'), { recursive: true });
    expect(
      await failure({ op: 'remove', path: join(root, 'd'), recursive: false, force: true }),
    ).toMatchObject({
      code: ErrorCodes.FS_IO,
      message: 'Directory not empty (os error 39)',
    });
    await runFsOperation({ op: 'remove', path: join(root, 'd'), recursive: true, force: true });
    await expect(lstat(join(root, 'd'))).rejects.toThrow();
  });

  describe('copy', () => {
    it('refuses a directory without recursive', async () => {
      await mkdir(join(root, 'src'));
      const op = {
        op: 'copy',
        sourcePath: join(root, 'src'),
        destinationPath: join(root, 'dst'),
        recursive: false,
      } as const;
      expect(await failure(op)).toMatchObject({
        code: ErrorCodes.FS_INVALID,
        message: COPY_DIRECTORY_NEEDS_RECURSIVE,
      });
    });

    it('refuses to copy a directory into itself or a descendant, also through a symlink', async () => {
      await mkdir(join(root, 'src', 'sub'), { recursive: true });
      await symlink(join(root, 'src'), join(root, 'alias'));
      for (const destinationPath of [
        join(root, 'src'),
        join(root, 'src', 'sub', 'new', 'deeper'),
        join(root, 'alias', 'copy'),
      ]) {
        const op = { op: 'copy', sourcePath: join(root, 'src'), destinationPath, recursive: true } as const;
        expect(await failure(op)).toMatchObject({ code: ErrorCodes.FS_INVALID, message: COPY_INTO_ITSELF });
      }
      // A sibling whose name merely starts with the source's is not a descendant.
      await runFsOperation({
        op: 'copy',
        sourcePath: join(root, 'src'),
        destinationPath: join(root, 'src2'),
        recursive: true,
      });
      expect((await stat(join(root, 'src2', 'sub'))).isDirectory()).toBe(true);
    });

    it('copies symlinks as symlinks and skips special files inside a tree', async () => {
      await mkdir(join(root, 'src', 'sub'), { recursive: true });
      await writeFile(join(root, 'src', 'sub', 'f'), 'data');
      await symlink('sub/f', join(root, 'src', 'rel-link'));
      execFileSync('mkfifo', [join(root, 'src', 'fifo')]);
      await runFsOperation({
        op: 'copy',
        sourcePath: join(root, 'src'),
        destinationPath: join(root, 'dst'),
        recursive: true,
      });
      expect(await readFile(join(root, 'dst', 'sub', 'f'), 'utf8')).toBe('data');
      expect((await lstat(join(root, 'dst', 'rel-link'))).isSymbolicLink()).toBe(true);
      expect(await readlink(join(root, 'dst', 'rel-link'))).toBe('sub/f');
      await expect(lstat(join(root, 'dst', 'fifo'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('copies a top-level symlink as a symlink', async () => {
      await symlink('/nowhere/at/all', join(root, 'dangling'));
      await runFsOperation({
        op: 'copy',
        sourcePath: join(root, 'dangling'),
        destinationPath: join(root, 'copy'),
        recursive: false,
      });
      expect(await readlink(join(root, 'copy'))).toBe('/nowhere/at/all');
    });

    it('refuses a FIFO as the source', async () => {
      execFileSync('mkfifo', [join(root, 'fifo')]);
      const op = {
        op: 'copy',
        sourcePath: join(root, 'fifo'),
        destinationPath: join(root, 'x'),
        recursive: true,
      } as const;
      expect(await failure(op)).toMatchObject({
        code: ErrorCodes.FS_INVALID,
        message: COPY_UNSUPPORTED_TYPE,
      });
    });
  });
});

describe('resolveExistingPath', () => {
  it('canonicalizes the deepest existing ancestor and keeps the rest', async () => {
    await mkdir(join(root, 'real'));
    await symlink(join(root, 'real'), join(root, 'link'));
    const canonicalRoot = await resolveExistingPath(root);
    expect(await resolveExistingPath(join(root, 'link', 'a', 'b'))).toBe(
      join(canonicalRoot, 'real', 'a', 'b'),
    );
  });
});

describe('OS error texts', () => {
  it('reads like the reference', () => {
    const error = Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS', errno: -30 });
    expect(osErrorText(error)).toBe('Read-only file system (os error 30)');
    expect(toFsError(error).code).toBe(ErrorCodes.FS_IO);
    const invalid = Object.assign(new Error('EINVAL'), { code: 'EINVAL', errno: -22 });
    expect(toFsError(invalid)).toMatchObject({
      code: ErrorCodes.FS_INVALID,
      message: 'Invalid argument (os error 22)',
    });
  });
});
