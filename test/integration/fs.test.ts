/**
 * The `fs/*` methods end to end, in process (`ExecRuntime`, the operation on a pool worker) and over
 * the wire (`ExecServerClient` against an in-process server), with and without a sandbox.
 * Run `npm run build` first: the pool loads `dist/workers/fs-operation.js`.
 */
import { execFileSync } from 'node:child_process';
import { lstat, mkdtemp, readFile, readlink, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExecServerClient } from '../../src/client/index.js';
import type { FileSystemBackend } from '../../src/fs/types.js';
import { ErrorCodes, ExecRuntime, type SandboxOptions } from '../../src/index.js';
import { startServer, type ExecServer } from '../../src/server/index.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { RawClient } from '../helpers/raw-ws.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sandboxed = bwrapAvailable();

interface Backend {
  readonly fs: FileSystemBackend;
  /** The JSON-RPC code the caller saw, where there is one. */
  readonly rpcCodes: boolean;
  cleanup(): Promise<void>;
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; rpcCode?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string; rpcCode?: number };
  }
  throw new Error('the call succeeded');
}

function describeFs(label: string, setup: () => Promise<Backend>): void {
  describe(`fs methods: ${label}`, () => {
    let backend: Backend;
    let root: string;

    beforeAll(async () => {
      backend = await setup();
    });
    afterAll(async () => {
      await backend.cleanup();
    });
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'execvisor-fs-'));
    });
    afterEach(async () => {
      await rm(root, { recursive: true, force: true });
    });

    /** Expects the coded error, and its JSON-RPC code when the call went over the wire. */
    async function expectError(
      promise: Promise<unknown>,
      code: string,
      rpcCode: number,
      message?: string | RegExp,
    ): Promise<void> {
      const error = await failure(promise);
      expect(error.code).toBe(code);
      if (backend.rpcCodes) expect(error.rpcCode).toBe(rpcCode);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else if (message !== undefined) expect(error.message).toMatch(message);
    }

    it('reports metadata', async () => {
      await writeFile(join(root, 'f'), 'x');
      const file = await backend.fs.getMetadata({ path: join(root, 'f') });
      expect(file).toEqual({
        isDirectory: false,
        isFile: true,
        isSymlink: false,
        size: expect.any(Number) as number,
        createdAtMs: expect.any(Number) as number,
        modifiedAtMs: expect.any(Number) as number,
      });
      expect(Math.abs(file.modifiedAtMs - Date.now())).toBeLessThan(60_000);
      const dir = await backend.fs.getMetadata({ path: root });
      expect(dir).toMatchObject({ isDirectory: true, isFile: false });
      await expectError(
        backend.fs.getMetadata({ path: join(root, 'missing') }),
        ErrorCodes.FS_IO,
        -32603,
        'No such file or directory (os error 2)',
      );
    });

    it('round-trips: nested dirs, write, read, copy a file and a tree, list, remove', async () => {
      const fs = backend.fs;
      const nested = join(root, 'a', 'b', 'c');
      await fs.createDirectory({ path: nested });
      const bytes = new Uint8Array(70_000).map((_, i) => (i * 7) % 256);
      await fs.writeFile({ path: join(nested, 'data.bin'), data: bytes });
      await fs.writeFile({ path: join(root, 'a', 'note.txt'), data: encoder.encode('hello') });
      expect([...(await fs.readFile({ path: join(nested, 'data.bin') })).data]).toEqual([...bytes]);

      await fs.copy({
        sourcePath: join(root, 'a', 'note.txt'),
        destinationPath: join(root, 'copy.txt'),
        recursive: false,
      });
      expect(decoder.decode((await fs.readFile({ path: join(root, 'copy.txt') })).data)).toBe('hello');

      await fs.copy({ sourcePath: join(root, 'a'), destinationPath: join(root, 'tree'), recursive: true });
      expect(await readFile(join(root, 'tree', 'b', 'c', 'data.bin'))).toEqual(Buffer.from(bytes));

      await fs.createDirectory({ path: join(root, 'tree', 'Zeta'), recursive: false });
      const { entries } = await fs.readDirectory({ path: join(root, 'tree') });
      expect(entries).toEqual([
        { fileName: 'Zeta', isDirectory: true, isFile: false },
        { fileName: 'b', isDirectory: true, isFile: false },
        { fileName: 'note.txt', isDirectory: false, isFile: true },
      ]);

      await fs.remove({ path: join(root, 'tree') });
      await fs.remove({ path: join(root, 'tree') }); // force defaults to true
      await expectError(
        fs.remove({ path: join(root, 'tree'), force: false }),
        ErrorCodes.FS_IO,
        -32603,
        'No such file or directory (os error 2)',
      );
      expect((await fs.readDirectory({ path: root })).entries.map((e) => e.fileName)).toEqual([
        'a',
        'copy.txt',
      ]);
    });

    it('refuses to copy a directory without recursive', async () => {
      await mkdir(join(root, 'src'));
      await expectError(
        backend.fs.copy({
          sourcePath: join(root, 'src'),
          destinationPath: join(root, 'dst'),
          recursive: false,
        }),
        ErrorCodes.FS_INVALID,
        -32600,
        'fs/copy requires recursive: true when sourcePath is a directory',
      );
    });

    it('refuses to copy a directory into its own descendant', async () => {
      await mkdir(join(root, 'src', 'sub'), { recursive: true });
      await expectError(
        backend.fs.copy({
          sourcePath: join(root, 'src'),
          destinationPath: join(root, 'src', 'sub', 'x'),
          recursive: true,
        }),
        ErrorCodes.FS_INVALID,
        -32600,
        'fs/copy cannot copy a directory to itself or one of its descendants',
      );
      await expect(lstat(join(root, 'src', 'sub', 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('copies symlinks as symlinks and skips a FIFO inside a tree', async () => {
      await mkdir(join(root, 'src'));
      await writeFile(join(root, 'src', 'target'), 't');
      await symlink('target', join(root, 'src', 'link'));
      execFileSync('mkfifo', [join(root, 'src', 'pipe')]);
      await backend.fs.copy({
        sourcePath: join(root, 'src'),
        destinationPath: join(root, 'dst'),
        recursive: true,
      });
      expect((await lstat(join(root, 'dst', 'link'))).isSymbolicLink()).toBe(true);
      expect(await readlink(join(root, 'dst', 'link'))).toBe('target');
      await expect(lstat(join(root, 'dst', 'pipe'))).rejects.toMatchObject({ code: 'ENOENT' });
      // A symlink as the source is copied as a symlink too.
      await backend.fs.copy({
        sourcePath: join(root, 'src', 'link'),
        destinationPath: join(root, 'link2'),
        recursive: false,
      });
      expect(await readlink(join(root, 'link2'))).toBe('target');
    });

    it('refuses a FIFO as the copy source', async () => {
      execFileSync('mkfifo', [join(root, 'pipe')]);
      await expectError(
        backend.fs.copy({
          sourcePath: join(root, 'pipe'),
          destinationPath: join(root, 'x'),
          recursive: false,
        }),
        ErrorCodes.FS_INVALID,
        -32600,
        'fs/copy only supports regular files, directories, and symlinks',
      );
    });

    it('refuses relative paths', async () => {
      await expectError(
        backend.fs.readFile({ path: 'relative.txt' }),
        ErrorCodes.INVALID_ARGUMENT,
        -32602,
        'path must be an absolute path, got "relative.txt"',
      );
      await expectError(
        backend.fs.copy({ sourcePath: root, destinationPath: 'x', recursive: true }),
        ErrorCodes.INVALID_ARGUMENT,
        -32602,
        /destinationPath/,
      );
    });

    describe.skipIf(!sandboxed)('under workspace-write', () => {
      let outside: string;
      beforeEach(async () => {
        outside = await mkdtemp(join(tmpdir(), 'execvisor-fs-outside-'));
      });
      afterEach(async () => {
        await rm(outside, { recursive: true, force: true });
      });

      const workspaceWrite = (cwd: string): SandboxOptions => ({
        mode: 'require',
        sandboxPolicyCwd: cwd,
        // /tmp and $TMPDIR not writable, so `outside` (under /tmp) is outside the workspace.
        policy: { type: 'workspace-write', exclude_slash_tmp: true, exclude_tmpdir_env_var: true },
      });

      it('fails a write outside the workspace with the OS error and creates nothing', async () => {
        const target = join(outside, 'escape.txt');
        await expectError(
          backend.fs.writeFile({ path: target, data: encoder.encode('x'), sandbox: workspaceWrite(root) }),
          ErrorCodes.FS_IO,
          -32603,
          /^(Read-only file system \(os error 30\)|Permission denied \(os error 13\))$/,
        );
        await expectError(
          backend.fs.createDirectory({ path: join(outside, 'dir'), sandbox: workspaceWrite(root) }),
          ErrorCodes.FS_IO,
          -32603,
          /os error (30|13)/,
        );
        await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
        await expect(lstat(join(outside, 'dir'))).rejects.toMatchObject({ code: 'ENOENT' });
      });

      it('succeeds inside the workspace, and reads back under the sandbox', async () => {
        const sandbox = workspaceWrite(root);
        await backend.fs.createDirectory({ path: join(root, 'x', 'y'), sandbox });
        await backend.fs.writeFile({
          path: join(root, 'x', 'y', 'in.txt'),
          data: encoder.encode('inside'),
          sandbox,
        });
        expect(await readFile(join(root, 'x', 'y', 'in.txt'), 'utf8')).toBe('inside');
        const { data } = await backend.fs.readFile({ path: join(root, 'x', 'y', 'in.txt'), sandbox });
        expect(decoder.decode(data)).toBe('inside');
        await backend.fs.copy({
          sourcePath: join(root, 'x'),
          destinationPath: join(root, 'x2'),
          recursive: true,
          sandbox,
        });
        expect(
          (await backend.fs.getMetadata({ path: join(root, 'x2', 'y', 'in.txt'), sandbox })).isFile,
        ).toBe(true);
        await backend.fs.remove({ path: join(root, 'x2'), sandbox });
        await expect(lstat(join(root, 'x2'))).rejects.toMatchObject({ code: 'ENOENT' });
      });

      it('keeps .git read-only inside the workspace', async () => {
        await mkdir(join(root, '.git'));
        await expectError(
          backend.fs.writeFile({
            path: join(root, '.git', 'config'),
            data: encoder.encode('x'),
            sandbox: workspaceWrite(root),
          }),
          ErrorCodes.FS_IO,
          -32603,
          /os error (30|13)/,
        );
      });

      it('rejects a bad sandbox config with the sandbox error', async () => {
        await expectError(
          backend.fs.readFile({
            path: join(root, 'x'),
            // Refused by the compiler too; the cast checks the run-time refusal for untyped callers.
            sandbox: { mode: 'require', policy: { type: 'nope' } } as unknown as SandboxOptions,
          }),
          ErrorCodes.SANDBOX,
          -32602,
          /^failed to prepare process sandbox: /,
        );
      });
    });
  });
}

describeFs('ExecRuntime (in process)', async () => {
  const runtime = await ExecRuntime.create({ workers: 2 });
  return { fs: runtime, rpcCodes: false, cleanup: () => runtime.close() };
});

describeFs('ExecServerClient over WebSocket', async () => {
  const runtime = await ExecRuntime.create({ workers: 2 });
  const server = await startServer({ runtime });
  const client = await ExecServerClient.connect(server.url, { clientName: 'fs-test' });
  return {
    fs: client,
    rpcCodes: true,
    cleanup: async () => {
      await client.close();
      await server.close();
      await runtime.close();
    },
  };
});

describe('fs methods: wire specifics', () => {
  let runtime: ExecRuntime;
  let server: ExecServer;
  let root: string;
  const opened: RawClient[] = [];

  beforeAll(async () => {
    runtime = await ExecRuntime.create({ workers: 1 });
    server = await startServer({ runtime, maxMessageBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await server.close();
    await runtime.close();
  });
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'execvisor-fs-wire-'));
  });
  afterEach(async () => {
    for (const raw of opened.splice(0)) raw.ws.terminate();
    await rm(root, { recursive: true, force: true });
  });

  /** One raw JSON-RPC exchange per call, in order. */
  async function rawSession(): Promise<RawClient> {
    const raw = await RawClient.open(server.url);
    opened.push(raw);
    return raw;
  }

  it('names filesystem methods in the handshake errors', async () => {
    const raw = await rawSession();
    const early = await raw.call('fs/getMetadata', { path: root });
    expect(early.error).toMatchObject({
      code: -32600,
      message: 'client must call initialize before using filesystem methods',
    });
    await raw.call('initialize', { clientName: 'raw' });
    const between = await raw.call('fs/readDirectory', { path: root });
    expect(between.error).toMatchObject({
      code: -32600,
      message: 'client must send initialized before using filesystem methods',
    });
    raw.send({ method: 'initialized', params: {} });
    const ok = await raw.call('fs/getMetadata', { path: root });
    expect(ok.result).toMatchObject({ isDirectory: true, isFile: false });
    raw.ws.close();
    await raw.closed();
  });

  it('speaks base64 and the exact member names', async () => {
    const raw = await rawSession();
    await raw.call('initialize', { clientName: 'raw' });
    raw.send({ method: 'initialized' });
    const path = join(root, 'f');
    expect(
      await raw.call('fs/writeFile', { path, dataBase64: Buffer.from('hi there').toString('base64') }),
    ).toMatchObject({ result: {} });
    expect(await raw.call('fs/readFile', { path, sandbox: null })).toMatchObject({
      result: { dataBase64: 'aGkgdGhlcmU=' },
    });
    const bad = await raw.call('fs/writeFile', { path, dataBase64: 'not base64!' });
    expect(bad.error).toMatchObject({ code: -32602, message: 'invalid base64 in `dataBase64`' });
    const missing = await raw.call('fs/copy', { sourcePath: path, destinationPath: join(root, 'g') });
    expect(missing.error).toMatchObject({ code: -32602, message: 'missing field `recursive`' });
    raw.ws.close();
    await raw.closed();
  });

  it('refuses a writeFile larger than the server takes, instead of losing the connection', async () => {
    const client = await ExecServerClient.connect(server.url, { clientName: 'fs-limit' });
    try {
      const error = await failure(
        client.writeFile({ path: join(root, 'big'), data: new Uint8Array(60 * 1024) }),
      );
      expect(error.code).toBe(ErrorCodes.LIMIT);
      expect(error.message).toMatch(/maximum message size \(65536 bytes/);
      // The connection is still usable.
      await client.writeFile({ path: join(root, 'small'), data: new Uint8Array(10) });
      expect((await client.getMetadata({ path: join(root, 'small') })).isFile).toBe(true);
    } finally {
      await client.close();
    }
  });
});
