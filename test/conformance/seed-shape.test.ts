/**
 * Conformance, the seed's shape: a request written as the seed protocol specifies (native paths,
 * the `SandboxLaunchConfig`, our extensions) keeps the seed's answer, over WebSocket and over stdio.
 * Ours only: the reference no longer speaks this shape.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapAvailable } from '../helpers/bwrap.js';
import type { RawJsonRpcClient } from '../helpers/raw-ws.js';
import {
  b64,
  fresh,
  readAll,
  scratch,
  startTargets,
  stopTargets,
  text,
  type Json,
  type Target,
} from './harness.js';

const targets = await startTargets({ seedOnly: true });
const root = scratch('seed');
afterAll(async () => {
  await stopTargets(targets);
  root.cleanup();
});
const sandboxed = bwrapAvailable();

const seedStart = (processId: string, argv: string[], extra: Json = {}) => ({
  processId,
  argv,
  cwd: tmpdir(),
  env: { PATH: '/usr/bin:/bin' },
  tty: false,
  arg0: null,
  ...extra,
});

describe.each(targets)('conformance, seed shape: $name', (target: Target) => {
  let client: RawJsonRpcClient;
  beforeAll(async () => {
    client = await target.ready();
  });

  it('answers initialize with our capabilities and a detachable session', async () => {
    const conn = await target.connect();
    const init = await conn.result('initialize', { clientName: 'seed', resumeSessionId: null });
    expect(init.capabilities).toMatchObject({ detachable: true, maxMessageBytes: 16 * 1024 * 1024 });
    expect(init.capabilities.methods).toContain('process/list');
  });

  it('starts with a native cwd and our extensions, and lists the process', async () => {
    const id = fresh('seed');
    expect(await client.result('process/start', seedStart(id, ['/bin/sh', '-c', 'echo hi; exit 4']))).toEqual(
      {
        processId: id,
        sandboxType: 'none',
      },
    );
    expect(await readAll(client, id)).toEqual({ output: 'hi\n', exitCode: 4, closed: true, failure: null });
    const { processes } = await client.result('process/list', { processId: id });
    expect(processes).toMatchObject([{ processId: id, exited: true, exitCode: 4, closed: true }]);
    const read = await client.result('process/read', { processId: id, afterSeq: null });
    expect(read.firstRetainedSeq).toBe(1);
  });

  it('takes signal names, resize and closeStdin', async () => {
    const id = fresh('tty');
    await client.result(
      'process/start',
      seedStart(id, ['/bin/sh', '-c', 'stty size; read x; echo got'], {
        tty: true,
        size: { rows: 7, cols: 33 },
      }),
    );
    await client.until(() => (client.outputOf(id).includes('7 33') ? true : undefined), 'the size');
    expect(await client.result('process/resize', { processId: id, rows: 10, cols: 20 })).toEqual({});
    expect(await client.result('process/signal', { processId: id, signal: 'SIGTERM' })).toEqual({});
    expect((await readAll(client, id)).exitCode).toBe(128 + 15);
    const piped = fresh('pipe');
    await client.result('process/start', seedStart(piped, ['/bin/cat'], { pipeStdin: true }));
    expect(await client.result('process/write', { processId: piped, chunk: b64('a') })).toEqual({
      status: 'accepted',
    });
    expect(await client.result('process/closeStdin', { processId: piped })).toEqual({});
    expect(await readAll(client, piped)).toMatchObject({ output: 'a', exitCode: 0 });
  });

  it("answers bad base64 with the seed's text", async () => {
    const id = fresh('b64');
    await client.result('process/start', seedStart(id, ['/bin/cat'], { pipeStdin: true }));
    expect((await client.call('process/write', { processId: id, chunk: 'abd=' })).error).toMatchObject({
      code: -32602,
      message: 'invalid base64 in `chunk`',
    });
    expect(
      (await client.call('fs/writeFile', { path: join(root.dir, 'x'), dataBase64: 'abd=' })).error,
    ).toMatchObject({ code: -32602, message: 'invalid base64 in `dataBase64`' });
    await client.result('process/terminate', { processId: id });
  });

  it('answers fs requests with native paths as the seed did', async () => {
    const dir = join(root.dir, fresh('fs'));
    await mkdir(dir);
    await writeFile(join(dir, 'f'), 'data');
    await symlink(join(dir, 'f'), join(dir, 'link'));
    const meta = await client.result('fs/getMetadata', { path: join(dir, 'f') });
    expect(meta).toMatchObject({
      isDirectory: false,
      isFile: true,
      createdAtMs: expect.any(Number),
      modifiedAtMs: expect.any(Number),
    });
    // A missing path is -32603 in the seed's shape (-32004 in the current one).
    expect((await client.call('fs/readFile', { path: join(dir, 'nope') })).error).toMatchObject({
      code: -32603,
      message: 'No such file or directory (os error 2)',
      data: { code: 'EXEC_ERR_FS_IO' },
    });
    expect((await client.call('fs/readFile', { path: 'relative' })).error).toMatchObject({
      code: -32602,
      message: 'path must be an absolute path, got "relative"',
    });
    // A native path asks for native answers.
    expect(await client.result('fs/canonicalize', { path: join(dir, 'link') })).toEqual({
      path: join(dir, 'f'),
    });
    const walk = await client.result('fs/walk', {
      path: dir,
      options: { maxDepth: 1, maxDirectories: 10, maxEntries: 10, followDirectorySymlinks: false },
    });
    expect(walk).toEqual({ entries: [{ path: join(dir, 'f'), kind: 'file' }], errors: [], truncated: false });
    expect(
      text((await client.result('fs/readFile', { path: join(dir, 'f'), sandbox: null })).dataBase64),
    ).toBe('data');
  });

  it.runIf(sandboxed)("answers sandboxType in the seed's spelling for a SandboxLaunchConfig", async () => {
    const id = fresh('sbx');
    const started = await client.result(
      'process/start',
      seedStart(id, ['/bin/true'], { sandbox: { mode: 'require', policy: { type: 'read-only' } } }),
    );
    expect(started).toEqual({ processId: id, sandboxType: 'linux-seccomp' });
    expect((await readAll(client, id)).exitCode).toBe(0);
  });
});
