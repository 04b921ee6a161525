/**
 * Conformance: the filesystem methods in the current shape (upstream file_stream.rs and
 * bounded_read.rs case for case, plus metadata, canonicalize, walk, copy and URI paths), against
 * the reference and ours.
 */
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapAvailable } from '../helpers/bwrap.js';
import type { RawJsonRpcClient } from '../helpers/raw-ws.js';
import {
  b64,
  fresh,
  scratch,
  sh,
  startTargets,
  stopTargets,
  text,
  uri,
  type Json,
  type Target,
} from './harness.js';

const targets = await startTargets();
const root = scratch('fs');
afterAll(async () => {
  await stopTargets(targets);
  root.cleanup();
});
const sandboxed = bwrapAvailable();

const BLOCK = 1024 * 1024;
const OPEN_FILE_LIMIT = 128;

/** A fresh directory under the scratch root. */
async function dirFor(name: string): Promise<string> {
  const dir = join(root.dir, fresh(name));
  await mkdir(dir);
  return dir;
}

function readOnlySandbox(dir: string): Json {
  return {
    permissions: {
      type: 'managed',
      file_system: {
        type: 'restricted',
        entries: [{ path: { type: 'path', path: uri(dir) }, access: 'read' }],
      },
      network: 'restricted',
    },
    windowsSandboxLevel: 'disabled',
  };
}

describe.each(targets)('conformance: fs, $name', (target: Target) => {
  let client: RawJsonRpcClient;
  beforeAll(async () => {
    client = await target.ready();
  });

  const open = async (path: string, sandbox: Json | null = null) =>
    (await client.result('fs/open', { handleId: fresh('h').slice(-32), path: uri(path), sandbox }))
      .handleId as string;
  const block = async (handleId: string, offset: number, len: number) => {
    const { chunk, eof } = await client.result('fs/readBlock', { handleId, offset, len });
    return { bytes: Buffer.from(chunk as string, 'base64'), eof: eof as boolean };
  };
  const close = (handleId: string) => client.result('fs/close', { handleId });

  /** Reads a whole file through a handle in 1 MiB blocks, as upstream's read stream does. */
  const stream = async (handleId: string) => {
    const chunks: number[] = [];
    for (let offset = 0; ;) {
      const { bytes, eof } = await block(handleId, offset, BLOCK);
      if (bytes.length > 0) chunks.push(bytes.length);
      offset += bytes.length;
      if (eof) return chunks;
    }
  };

  // file_stream.rs: stream_stops_after_an_exact_block_boundary
  it('streams a file of exactly two blocks as two blocks', async () => {
    const path = join(await dirFor('exact'), 'exact-blocks.bin');
    await writeFile(path, Buffer.alloc(BLOCK * 2, 'x'));
    const handle = await open(path);
    expect(await stream(handle)).toEqual([BLOCK, BLOCK]);
    await close(handle);
  });

  // file_stream.rs: completed_streams_release_handle_capacity
  it('releases the handle of every completed stream', async () => {
    const path = join(await dirFor('rep'), 'repeated.txt');
    await writeFile(path, 'repeated');
    for (let i = 0; i <= OPEN_FILE_LIMIT; i++) {
      const handle = await open(path);
      expect(
        text((await client.result('fs/readBlock', { handleId: handle, offset: 0, len: BLOCK })).chunk),
      ).toBe('repeated');
      await close(handle);
    }
  });

  // file_stream.rs: stream_rejects_platform_sandbox. 0.171.0 streams under a sandbox
  // (`sandboxedFileStreaming: true`): the read-only sandbox lets the file be read.
  it.runIf(sandboxed)('streams a file under a read-only sandbox', async () => {
    const dir = await dirFor('sbx');
    const path = join(dir, 'sandboxed.txt');
    await writeFile(path, 'sandboxed hello');
    const handle = await open(path, readOnlySandbox(dir));
    expect(await block(handle, 0, 100)).toEqual({ bytes: Buffer.from('sandboxed hello'), eof: true });
    await close(handle);
    const outside = join(await dirFor('out'), 'outside.txt');
    await writeFile(outside, 'outside');
    const denied = await client.call('fs/open', {
      handleId: 'denied',
      path: uri(outside),
      sandbox: readOnlySandbox(dir),
    });
    expect(denied.error).toMatchObject({ code: -32004, message: 'No such file or directory (os error 2)' });
  });

  // file_stream.rs: stream_rejects_fifo_without_waiting_for_a_writer
  it('refuses a FIFO at once', async () => {
    const path = join(await dirFor('fifo'), 'named-pipe');
    await sh(`mkfifo '${path}'`);
    const answer = await client.call('fs/open', { handleId: 'fifo', path: uri(path), sandbox: null }, 1_000);
    expect(answer.error).toMatchObject({ code: -32600, message: `path \`${path}\` is not a file` });
    const read = await client.call('fs/readFile', { path: uri(path), sandbox: null }, 1_000);
    expect(read.error).toMatchObject({ code: -32600, message: `path \`${path}\` is not a file` });
  });

  // file_stream.rs: stream_keeps_reading_the_open_file_after_path_replacement
  it('keeps reading the file it opened after the path was replaced', async () => {
    const dir = await dirFor('replace');
    const path = join(dir, 'replaceable.bin');
    await writeFile(path, Buffer.alloc(BLOCK + 1, 'a'));
    const handle = await open(path);
    expect(await block(handle, 0, BLOCK)).toEqual({ bytes: Buffer.alloc(BLOCK, 'a'), eof: false });
    await writeFile(join(dir, 'replacement.bin'), Buffer.alloc(BLOCK + 1, 'b'));
    await rm(path);
    await rename(join(dir, 'replacement.bin'), path);
    expect(await block(handle, BLOCK, BLOCK)).toEqual({ bytes: Buffer.from('a'), eof: true });
    await close(handle);
  });

  // file_stream.rs: read_block_supports_non_sequential_offsets_and_lengths
  it('reads blocks at any offset, in any order', async () => {
    const path = join(await dirFor('nonseq'), 'non-sequential.bin');
    await writeFile(path, '0123456789');
    const handle = await open(path);
    const blocks = [];
    for (const [offset, len] of [
      [6, 3],
      [1, 2],
      [8, 4],
      [0, 2],
      [10, 1],
      [0, 10],
    ] as const) {
      const { bytes, eof } = await block(handle, offset, len);
      blocks.push([bytes.toString(), eof]);
    }
    expect(blocks).toEqual([
      ['678', false],
      ['12', false],
      ['89', true],
      ['01', false],
      ['', true],
      ['0123456789', false],
    ]);
    expect(await close(handle)).toEqual({});
    expect(await close(handle)).toEqual({});
    expect((await client.call('fs/readBlock', { handleId: handle, offset: 0, len: 1 })).error).toMatchObject({
      code: -32004,
      message: `unknown file handle \`${handle}\``,
    });
  });

  // file_stream.rs: open_enforces_the_per_connection_limit_and_close_releases_capacity
  it('allows 128 open handles per connection; a close frees one', async () => {
    const own = await target.ready();
    const path = join(await dirFor('limit'), 'limited.bin');
    await writeFile(path, 'limited');
    const handles: string[] = [];
    for (let i = 0; i < OPEN_FILE_LIMIT; i++) {
      const opened = await own.result('fs/open', { handleId: `h${i}`, path: uri(path), sandbox: null });
      handles.push(opened.handleId as string);
    }
    expect(
      (await own.call('fs/open', { handleId: 'over', path: uri(path), sandbox: null })).error,
    ).toMatchObject({
      code: -32600,
      message: `at most ${OPEN_FILE_LIMIT} file handles may be open per connection`,
    });
    await own.result('fs/close', { handleId: handles[0] });
    expect(await own.result('fs/open', { handleId: 'again', path: uri(path), sandbox: null })).toEqual({
      handleId: 'again',
    });
  });

  // file_stream.rs: open_rejects_handle_ids_longer_than_32_bytes
  it('refuses handle ids longer than 32 bytes, duplicates, and bad block lengths', async () => {
    const path = join(await dirFor('ids'), 'handle-id-limit.bin');
    await writeFile(path, 'limited');
    expect(
      (await client.call('fs/open', { handleId: 'x'.repeat(33), path: uri(path), sandbox: null })).error,
    ).toMatchObject({ code: -32600, message: 'file handle ID must not exceed 32 bytes' });
    const id = 'y'.repeat(32);
    expect(await client.result('fs/open', { handleId: id, path: uri(path), sandbox: null })).toEqual({
      handleId: id,
    });
    expect(
      (await client.call('fs/open', { handleId: id, path: uri(path), sandbox: null })).error,
    ).toMatchObject({
      code: -32600,
      message: `file handle \`${id}\` already exists`,
    });
    for (const len of [0, BLOCK + 1]) {
      expect((await client.call('fs/readBlock', { handleId: id, offset: 0, len })).error).toMatchObject({
        code: -32600,
        message: 'file read block length must be between 1 and 1048576',
      });
    }
    await close(id);
    const dir = await dirFor('notfile');
    expect(
      (await client.call('fs/open', { handleId: 'dir', path: uri(dir), sandbox: null })).error,
    ).toMatchObject({
      code: -32600,
      message: `path \`${dir}\` is not a file`,
    });
    expect(
      (await client.call('fs/open', { handleId: 'gone', path: uri(join(dir, 'nope')), sandbox: null })).error,
    ).toMatchObject({ code: -32004, message: 'No such file or directory (os error 2)' });
  });

  // bounded_read.rs: 0.171.0 has no `maxBytes` on fs/readFile; it is ignored.
  it.runIf(sandboxed)('reads a whole file under a sandbox, ignoring maxBytes', async () => {
    const dir = await dirFor('bounded');
    const path = join(dir, 'bounded.txt');
    await writeFile(path, 'four');
    const read = await client.result('fs/readFile', {
      path: uri(path),
      sandbox: readOnlySandbox(dir),
      maxBytes: 3,
    });
    expect(text(read.dataBase64)).toBe('four');
    const denied = await client.call('fs/writeFile', {
      path: uri(join(dir, 'new')),
      dataBase64: b64('x'),
      sandbox: readOnlySandbox(dir),
    });
    expect(denied.error).toMatchObject({ code: -32603, message: 'Read-only file system (os error 30)' });
  });

  it('reports metadata with isSymlink and size, and refuses a symlink without followSymlinks', async () => {
    const dir = await dirFor('meta');
    await writeFile(join(dir, 'f'), 'hello world');
    await symlink(join(dir, 'f'), join(dir, 'link'));
    await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
    const file = await client.result('fs/getMetadata', { path: uri(join(dir, 'f')), sandbox: null });
    expect(file).toMatchObject({ isDirectory: false, isFile: true, isSymlink: false, size: 11 });
    const link = await client.result('fs/getMetadata', { path: uri(join(dir, 'link')), sandbox: null });
    expect(link).toMatchObject({ isDirectory: false, isFile: true, isSymlink: true, size: 11 });
    expect(typeof link.createdAtMs).toBe('number');
    expect(typeof link.modifiedAtMs).toBe('number');
    expect(
      (
        await client.call('fs/getMetadata', {
          path: uri(join(dir, 'link')),
          followSymlinks: false,
          sandbox: null,
        })
      ).error,
    ).toMatchObject({ code: -32600, message: 'path contains a symbolic link' });
    expect(
      (await client.call('fs/getMetadata', { path: uri(join(dir, 'dangling')), sandbox: null })).error,
    ).toMatchObject({ code: -32004, message: 'No such file or directory (os error 2)' });
    expect(await client.result('fs/getMetadata', { path: uri(dir), sandbox: null })).toMatchObject({
      isDirectory: true,
      isFile: false,
      isSymlink: false,
    });
  });

  it('canonicalizes a path, answering a URI', async () => {
    const dir = await dirFor('canon');
    await mkdir(join(dir, 'd'));
    await writeFile(join(dir, 'f'), '');
    await symlink(join(dir, 'f'), join(dir, 'link'));
    expect(await client.result('fs/canonicalize', { path: uri(join(dir, 'link')), sandbox: null })).toEqual({
      path: uri(join(dir, 'f')),
    });
    expect(await client.result('fs/canonicalize', { path: `${uri(dir)}/d/../f`, sandbox: null })).toEqual({
      path: uri(join(dir, 'f')),
    });
    expect(
      (await client.call('fs/canonicalize', { path: uri(join(dir, 'nope')), sandbox: null })).error,
    ).toMatchObject({
      code: -32004,
      message: 'No such file or directory (os error 2)',
    });
  });

  describe('walk', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await dirFor('walk');
      await mkdir(join(dir, 'a/b/c'), { recursive: true });
      await mkdir(join(dir, 'z'));
      await writeFile(join(dir, 'f1'), '1');
      await writeFile(join(dir, 'a/f2'), '22');
      await writeFile(join(dir, 'a/b/f3'), '333');
      await writeFile(join(dir, 'a/b/c/f4'), '4444');
      await symlink(join(dir, 'a'), join(dir, 'lnk'));
      await symlink(join(dir, 'f1'), join(dir, 'flnk'));
      await symlink('/nowhere', join(dir, 'dang'));
      await sh(`mkfifo '${join(dir, 'fifo')}'`);
    });
    const options = (extra: Json = {}) => ({
      maxDepth: 10,
      maxDirectories: 100,
      maxEntries: 1000,
      followDirectorySymlinks: false,
      ...extra,
    });
    const walk = (extra: Json = {}, path = dir) =>
      client.call('fs/walk', { path: uri(path), options: options(extra), sandbox: null });
    const entries = (list: [string, string][]) =>
      list.map(([path, kind]) => ({ path: uri(join(dir, path)), kind }));

    it('walks breadth-first, sorted, skipping symlinks and special files', async () => {
      expect((await walk()).result).toEqual({
        entries: entries([
          ['a', 'directory'],
          ['f1', 'file'],
          ['z', 'directory'],
          ['a/b', 'directory'],
          ['a/f2', 'file'],
          ['a/b/c', 'directory'],
          ['a/b/f3', 'file'],
          ['a/b/c/f4', 'file'],
        ]),
        errors: [],
        truncated: false,
      });
    });

    it('lists symlinked directories once when following them', async () => {
      const { result } = await walk({ followDirectorySymlinks: true });
      expect((result.entries as Json[]).map((e) => e.path as string)).toContain(uri(join(dir, 'lnk')));
      expect(result.entries).toHaveLength(9);
      const viaLink = await walk({ followDirectorySymlinks: true }, join(dir, 'lnk'));
      expect(viaLink.result.entries[0]).toEqual({ path: uri(join(dir, 'lnk/b')), kind: 'directory' });
      expect((await walk({}, join(dir, 'lnk'))).result).toEqual({
        entries: [],
        errors: [],
        truncated: false,
      });
    });

    it('stops at its limits and says so', async () => {
      expect((await walk({ maxDepth: 0 })).result.entries).toEqual(
        entries([
          ['a', 'directory'],
          ['f1', 'file'],
          ['z', 'directory'],
        ]),
      );
      expect((await walk({ maxEntries: 3 })).result).toEqual({
        entries: entries([
          ['a', 'directory'],
          ['f1', 'file'],
        ]),
        errors: [],
        truncated: true,
      });
      const dirs = (await walk({ maxDirectories: 2 })).result;
      expect(dirs.truncated).toBe(true);
      expect(dirs.entries).toHaveLength(5);
    });

    it('refuses bad limits with the reference texts', async () => {
      expect((await walk({ maxEntries: 0 })).error).toMatchObject({
        code: -32600,
        message: 'filesystem walk limits must be greater than zero',
      });
      expect((await walk({ maxDepth: 65 })).error).toMatchObject({
        code: -32600,
        message: 'filesystem walk limits exceed maximums: depth=64, directories=10000, entries=50000',
      });
      expect(
        (await client.call('fs/walk', { path: uri(dir), options: { maxDepth: 1 } })).error,
      ).toMatchObject({
        code: -32602,
        message: 'missing field `maxDirectories`',
      });
      expect((await walk({}, join(dir, 'f1'))).result).toEqual({ entries: [], errors: [], truncated: false });
      expect((await walk({}, join(dir, 'nope'))).error).toMatchObject({ code: -32004 });
    });
  });

  it('lists a directory (in no promised order), leaving out dangling symlinks', async () => {
    const dir = await dirFor('list');
    await mkdir(join(dir, 'd'));
    await writeFile(join(dir, 'f'), '');
    await symlink(join(dir, 'f'), join(dir, 'link'));
    await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
    const { entries } = await client.result('fs/readDirectory', { path: uri(dir), sandbox: null });
    expect([...(entries as Json[])].sort((a, b) => (a.fileName < b.fileName ? -1 : 1))).toEqual([
      { fileName: 'd', isDirectory: true, isFile: false },
      { fileName: 'f', isDirectory: false, isFile: true },
      { fileName: 'link', isDirectory: false, isFile: true },
    ]);
  });

  it('writes, creates, copies and removes, with the reference errors', async () => {
    const dir = await dirFor('rw');
    const at = (path: string) => uri(join(dir, path));
    expect(await client.result('fs/createDirectory', { path: at('n/m'), sandbox: null })).toEqual({});
    expect(
      (await client.call('fs/createDirectory', { path: at('x/y'), recursive: false, sandbox: null })).error,
    ).toMatchObject({ code: -32004, message: 'No such file or directory (os error 2)' });
    expect(
      await client.result('fs/writeFile', { path: at('n/f'), dataBase64: b64('data'), sandbox: null }),
    ).toEqual({});
    expect(text((await client.result('fs/readFile', { path: at('n/f'), sandbox: null })).dataBase64)).toBe(
      'data',
    );
    expect(
      await client.result('fs/copy', {
        sourcePath: at('n'),
        destinationPath: at('n2'),
        recursive: true,
        sandbox: null,
      }),
    ).toEqual({});
    expect(text((await client.result('fs/readFile', { path: at('n2/f'), sandbox: null })).dataBase64)).toBe(
      'data',
    );
    const errors: [Json, string][] = [
      [
        { sourcePath: at('n'), destinationPath: at('n3'), recursive: false },
        'fs/copy requires recursive: true when sourcePath is a directory',
      ],
      [
        { sourcePath: at('n'), destinationPath: at('n/inner'), recursive: true },
        'fs/copy cannot copy a directory to itself or one of its descendants',
      ],
    ];
    for (const [params, message] of errors) {
      expect((await client.call('fs/copy', { ...params, sandbox: null })).error).toMatchObject({
        code: -32600,
        message,
      });
    }
    expect(
      (await client.call('fs/remove', { path: at('n'), recursive: false, sandbox: null })).error,
    ).toMatchObject({
      code: -32603,
      message: 'Directory not empty (os error 39)',
    });
    expect(await client.result('fs/remove', { path: at('n'), sandbox: null })).toEqual({});
    expect(await client.result('fs/remove', { path: at('nope'), sandbox: null })).toEqual({});
    expect(
      (await client.call('fs/remove', { path: at('nope'), force: false, sandbox: null })).error,
    ).toMatchObject({
      code: -32004,
      message: 'No such file or directory (os error 2)',
    });
    expect(
      (await client.call('fs/writeFile', { path: at('bad'), dataBase64: 'abd=', sandbox: null })).error,
    ).toMatchObject({
      code: -32600,
      message: 'fs/writeFile requires valid base64 dataBase64: Invalid last symbol 100, offset 2.',
    });
    expect((await client.call('fs/readFile', { path: uri(dir), sandbox: null })).error).toMatchObject({
      code: -32600,
      message: `path \`${dir}\` is not a file`,
    });
  });

  it('takes percent-encoded URIs and refuses queries, fragments and other schemes', async () => {
    const dir = await dirFor('uri');
    await writeFile(join(dir, 'a b'), 'spaced');
    expect(
      text((await client.result('fs/readFile', { path: `${uri(dir)}/a%20b`, sandbox: null })).dataBase64),
    ).toBe('spaced');
    const refusals: [string, string][] = [
      [`${uri(dir)}/a?x=1`, 'query parameters are not allowed in path URIs'],
      [`${uri(dir)}/a#frag`, 'fragments are not allowed in path URIs'],
      ['http://x/tmp', 'unsupported path URI scheme `http`'],
    ];
    for (const [path, message] of refusals) {
      expect((await client.call('fs/readFile', { path, sandbox: null })).error).toMatchObject({
        code: -32602,
        message,
      });
    }
  });
});
