/**
 * Conformance: processes in the current shape (upstream exec_process.rs, case for case, plus
 * envPolicy, signals, writeId, the sandbox context and cwd URIs), against the reference and ours.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecServerClient } from '../../src/client/index.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import type { RawJsonRpcClient } from '../helpers/raw-ws.js';
import {
  SERVER_ENV,
  b64,
  closedNotification,
  eventsOf,
  fresh,
  readAll,
  scratch,
  startParams,
  startTargets,
  stopTargets,
  uri,
  type Json,
  type Target,
} from './harness.js';

const targets = await startTargets();
afterAll(() => stopTargets(targets));
const sandboxed = bwrapAvailable();

/** `env` as a map, from `/usr/bin/env` output. */
function parseEnv(output: string): Record<string, string> {
  return Object.fromEntries(
    output
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe.each(targets)('conformance: processes, $name', (target: Target) => {
  let client: RawJsonRpcClient;
  beforeAll(async () => {
    client = await target.ready();
  });

  const run = async (argv: string[], extra: Json = {}) => {
    const id = fresh('p');
    const started = await client.result('process/start', startParams(id, argv, extra));
    return { id, started, collected: await readAll(client, id) };
  };

  // exec_process_starts_and_exits
  it('starts a process and reports its exit', async () => {
    const { id, started, collected } = await run(['true'], { env: { PATH: '/usr/bin:/bin' } });
    expect(started).toEqual({ processId: id, sandboxType: 'none' });
    expect(collected).toMatchObject({ exitCode: 0, closed: true });
  });

  // exec_process_streams_output
  it('streams output through reads', async () => {
    const { collected } = await run(['/bin/sh', '-c', "sleep 0.05; printf 'session output\\n'"]);
    expect(collected).toEqual({ output: 'session output\n', exitCode: 0, closed: true, failure: null });
  });

  // exec_process_pushes_events
  it('pushes output, exit and close events with one seq counter', async () => {
    const id = fresh('events');
    await client.result(
      'process/start',
      startParams(id, [
        '/bin/sh',
        '-c',
        "printf 'event output\\n'; sleep 0.1; printf 'event err\\n' >&2; sleep 0.1; exit 7",
      ]),
    );
    await closedNotification(client, id);
    expect(eventsOf(client, id)).toEqual([
      { seq: 1, stream: 'stdout', text: 'event output\n' },
      { seq: 2, stream: 'stderr', text: 'event err\n' },
      { seq: 3, exitCode: 7 },
      { seq: 4, closed: true },
    ]);
  });

  // exec_process_replays_events_after_close
  it('replays everything after the close, to reads and to a second reader', async () => {
    const { id, collected } = await run(['/bin/sh', '-c', "printf 'late one\\n'; printf 'late two\\n'"]);
    expect(collected.output).toBe('late one\nlate two\n');
    expect(await readAll(client, id)).toEqual(collected);
  });

  // exec_process_retains_output_after_exit_until_streams_close
  it('keeps output written after the exit, until every stream closed', async () => {
    const { collected } = await run(['/bin/sh', '-c', '(sleep 0.3; echo late output after exit) & exit 0']);
    expect(collected).toEqual({
      output: 'late output after exit\n',
      exitCode: 0,
      closed: true,
      failure: null,
    });
  });

  // exec_process_write_then_read
  it('writes to a terminal and reads the answer', async () => {
    const id = fresh('tty');
    await client.result(
      'process/start',
      startParams(id, ['/bin/sh', '-c', 'IFS= read line; printf \'from-stdin:%s\\n\' "$line"'], {
        tty: true,
      }),
    );
    const written = await client.result('process/write', {
      processId: id,
      chunk: b64('hello\n'),
      writeId: fresh('w'),
    });
    expect(written).toEqual({ status: 'accepted' });
    const collected = await readAll(client, id);
    expect(collected.output).toContain('from-stdin:hello');
    expect(collected.exitCode).toBe(0);
  });

  // exec_process_write_then_read_without_tty
  it('writes to a piped stdin and reads the answer', async () => {
    const id = fresh('pipe');
    await client.result(
      'process/start',
      startParams(id, ['/bin/sh', '-c', 'IFS= read line; printf \'from-stdin:%s\\n\' "$line"'], {
        pipeStdin: true,
      }),
    );
    expect(
      await client.result('process/write', { processId: id, chunk: b64('hello\n'), writeId: fresh('w') }),
    ).toEqual({ status: 'accepted' });
    expect(await readAll(client, id)).toEqual({
      output: 'from-stdin:hello\n',
      exitCode: 0,
      closed: true,
      failure: null,
    });
  });

  // exec_process_rejects_write_without_pipe_stdin
  it('answers stdinClosed to a write without pipeStdin; the child sees EOF', async () => {
    const id = fresh('nostdin');
    await client.result(
      'process/start',
      startParams(id, [
        '/bin/sh',
        '-c',
        "sleep 0.3; if IFS= read -r line; then printf 'read:%s\\n' \"$line\"; else printf 'eof\\n'; fi",
      ]),
    );
    expect(
      await client.result('process/write', { processId: id, chunk: b64('ignored\n'), writeId: fresh('w') }),
    ).toEqual({ status: 'stdinClosed' });
    expect(await readAll(client, id)).toMatchObject({ output: 'eof\n', exitCode: 0 });
  });

  // exec_process_preserves_queued_events_before_subscribe
  it('keeps output produced before anyone reads', async () => {
    const id = fresh('queued');
    await client.result('process/start', startParams(id, ['/bin/sh', '-c', "printf 'queued output\\n'"]));
    await closedNotification(client, id);
    expect(await readAll(client, id)).toMatchObject({ output: 'queued output\n', exitCode: 0 });
  });

  it('de-duplicates a repeated writeId', async () => {
    const id = fresh('dedup');
    await client.result('process/start', startParams(id, ['/bin/cat'], { pipeStdin: true }));
    const writeId = fresh('w');
    for (let i = 0; i < 3; i++) {
      expect(await client.result('process/write', { processId: id, chunk: b64('once\n'), writeId })).toEqual({
        status: 'accepted',
      });
    }
    await client.result('process/write', { processId: id, chunk: b64('end\n'), writeId: fresh('w') });
    await client.until(() => (client.outputOf(id) === 'once\nend\n' ? true : undefined), 'the echo');
    await client.result('process/terminate', { processId: id });
    expect(client.outputOf(id)).toBe('once\nend\n');
  });

  it.each([false, true])('interrupts a process group with signal `interrupt` (tty: %s)', async (tty) => {
    const id = fresh('int');
    const script = 'trap "echo INT; exit 7" INT; echo ready; while :; do sleep 0.05; done';
    await client.result('process/start', startParams(id, ['/bin/sh', '-c', script], { tty }));
    await client.until(() => (client.outputOf(id).includes('ready') ? true : undefined), 'ready');
    expect(await client.result('process/signal', { processId: id, signal: 'interrupt' })).toEqual({});
    const collected = await readAll(client, id);
    expect(collected.exitCode).toBe(7);
    expect(collected.output.replace(/\r/g, '')).toBe('ready\nINT\n');
  });

  it('answers unknown ids, empty argv, duplicates and missing programs as the reference does', async () => {
    expect((await client.call('process/read', { processId: 'never' })).error).toMatchObject({
      code: -32600,
      message: 'unknown process id never',
    });
    expect(await client.result('process/write', { processId: 'never', chunk: '', writeId: 'w' })).toEqual({
      status: 'unknownProcess',
    });
    expect(await client.result('process/terminate', { processId: 'never' })).toEqual({ running: false });
    expect((await client.call('process/start', startParams(fresh('e'), []))).error).toMatchObject({
      code: -32602,
      message: 'argv must not be empty',
    });
    const id = fresh('dup');
    await client.result('process/start', startParams(id, ['/bin/sleep', '5']));
    expect((await client.call('process/start', startParams(id, ['/bin/true']))).error).toMatchObject({
      code: -32600,
      message: `process ${id} already exists`,
    });
    await client.result('process/terminate', { processId: id });
    const missing = await client.call('process/start', startParams(fresh('m'), ['/definitely/not/here']));
    expect(missing.error.code).toBe(-32603);
    expect(missing.error.message).toContain('No such file or directory (os error 2)');
  });

  it('takes cwd as a file:// URI (percent-decoded, host localhost) and refuses other hosts', async () => {
    const dir = scratch('cwd');
    try {
      const spaced = join(dir.dir, 'a b');
      await import('node:fs/promises').then((fs) => fs.mkdir(spaced));
      const url = `file://localhost${uri(spaced).slice('file://'.length)}`;
      const { collected } = await run(['/bin/sh', '-c', 'pwd'], { cwd: url });
      expect(collected.output).toBe(`${realpathSync(spaced)}\n`);
      const bad = await client.call(
        'process/start',
        startParams(fresh('h'), ['/bin/true'], { cwd: 'file://host/tmp' }),
      );
      expect(bad.error).toMatchObject({
        code: -32602,
        message:
          "cwd URI `file://host/tmp` is not valid on this exec-server host: 'file://host/tmp' is invalid on 'linux'",
      });
    } finally {
      dir.cleanup();
    }
  });

  it('refuses bad base64 in process/write with the reference texts', async () => {
    const id = fresh('b64');
    await client.result('process/start', startParams(id, ['/bin/cat'], { pipeStdin: true }));
    const cases: [string, string][] = [
      ['abc', 'Invalid padding'],
      ['ab==', 'Invalid last symbol 98, offset 1.'],
      ['ab=c', 'Invalid symbol 61, offset 2.'],
      ['a', 'Invalid input length: 1'],
      ['Y Q==', 'Invalid symbol 32, offset 1.'],
    ];
    for (const [chunk, message] of cases) {
      expect(
        (await client.call('process/write', { processId: id, chunk, writeId: fresh('w') })).error,
      ).toMatchObject({
        code: -32602,
        message,
      });
    }
    await client.result('process/terminate', { processId: id });
  });

  it('accepts metadata and a shellSnapshot request', async () => {
    const { collected } = await run(['/bin/true'], {
      metadata: { threadId: '67e55044-10b1-426f-9247-bb680e5fe0c8', toolCallId: 'call-1' },
      shellSnapshot: { scopeId: 'scope-1', shell: { name: 'bash', path: '/bin/bash' } },
    });
    expect(collected.exitCode).toBe(0);
    const bad = await client.call(
      'process/start',
      startParams(fresh('s'), ['/bin/true'], { shellSnapshot: {} }),
    );
    expect(bad.error).toMatchObject({ code: -32602, message: 'missing field `scopeId`' });
  });

  // exec_process_selects_env_from_spawn_site: without envPolicy the env is exactly the request's.
  it('gives the child exactly the request env without envPolicy', async () => {
    const { collected } = await run(['/usr/bin/env'], { env: { A: '1' } });
    expect(parseEnv(collected.output)).toEqual({ A: '1' });
  });

  describe('envPolicy', () => {
    const policy = (extra: Json) => ({
      inherit: 'all',
      ignoreDefaultExcludes: false,
      exclude: [],
      set: {},
      includeOnly: [],
      ...extra,
    });
    const envWith = async (envPolicy: Json, env: Json = {}) => {
      const { collected } = await run(['/usr/bin/env'], { env, envPolicy });
      const parsed = parseEnv(collected.output);
      // The reference puts its own helper directories first on PATH; PATH is compared on its own.
      delete parsed.PATH;
      return parsed;
    };

    it('inherits core variables only', async () => {
      expect(await envWith(policy({ inherit: 'core' }), { A: '1' })).toEqual({
        A: '1',
        HOME: SERVER_ENV.HOME,
        LANG: 'C.UTF-8',
        USER: 'conformance',
      });
    });

    it('inherits everything but the default excludes (KEY, SECRET, TOKEN), then overlays env', async () => {
      const env = await envWith(policy({}), { MY_TOKEN: 'from-request' });
      expect(env).toMatchObject({ CONFORMANCE_MARK: 'exec-server', FOO: 'foo', MY_TOKEN: 'from-request' });
      expect(env).not.toHaveProperty('API_KEY');
      expect(env).not.toHaveProperty('MY_SECRET');
    });

    it('applies exclude globs, set, and keeps default excludes with ignoreDefaultExcludes', async () => {
      const env = await envWith(policy({ ignoreDefaultExcludes: true, exclude: ['fo?'], set: { S: '2' } }));
      expect(env).toMatchObject({ API_KEY: 'must-not-leak', FOOO: 'fooo', S: '2' });
      expect(env).not.toHaveProperty('FOO');
      expect(env).not.toHaveProperty('FOX');
    });

    it('keeps only includeOnly matches (case-insensitive), the request env laid over', async () => {
      expect(
        await envWith(policy({ ignoreDefaultExcludes: true, includeOnly: ['*secret*', 'b'] }), {
          B: '2',
          A: '1',
        }),
      ).toEqual({
        A: '1',
        B: '2',
        MY_SECRET: 'must-not-leak',
      });
    });

    it('inherits nothing with none', async () => {
      expect(await envWith(policy({ inherit: 'none', set: { S: '1' } }), { A: '1' })).toEqual({
        A: '1',
        S: '1',
      });
    });
  });

  describe.runIf(sandboxed)('sandbox (FileSystemSandboxContext)', () => {
    const readOnly = (cwd: string, entries: Json[] = []) => ({
      permissions: {
        type: 'managed',
        file_system: {
          type: 'restricted',
          entries: [{ path: { type: 'special', value: { kind: 'root' } }, access: 'read' }, ...entries],
        },
        network: 'restricted',
      },
      cwd: uri(cwd),
      windowsSandboxLevel: 'disabled',
    });

    // remote_exec_process_sandbox_denies_write_outside_workspace
    it('denies a write the profile does not grant, and reports linuxSeccomp', async () => {
      const dir = scratch('sbx');
      try {
        const blocked = join(dir.dir, 'blocked.txt');
        const { started, collected } = await run(['/bin/sh', '-c', `echo blocked > ${blocked}`], {
          cwd: uri(dir.dir),
          sandbox: readOnly(dir.dir),
        });
        expect(started.sandboxType).toBe('linuxSeccomp');
        expect(collected.exitCode).not.toBe(0);
        expect(existsSync(blocked)).toBe(false);
      } finally {
        dir.cleanup();
      }
    });

    it('allows writes under a path entry with access write, and under workspace roots', async () => {
      const dir = scratch('sbw');
      try {
        const out = join(dir.dir, 'out');
        const ws = join(dir.dir, 'ws');
        await import('node:fs/promises').then(async (fs) => {
          await fs.mkdir(out);
          await fs.mkdir(ws);
        });
        const sandbox = {
          ...readOnly(dir.dir, [
            { path: { type: 'path', path: uri(out) }, access: 'write' },
            { path: { type: 'special', value: { kind: 'project_roots' } }, access: 'write' },
          ]),
          workspaceRoots: [uri(ws)],
        };
        const { collected } = await run(
          [
            '/bin/sh',
            '-c',
            `echo a > ${out}/a && echo ok1; echo b > ${ws}/b && echo ok2; echo c > ${dir.dir}/c || echo no3`,
          ],
          { cwd: uri(dir.dir), sandbox },
        );
        // stdout and stderr (the refused write's message) are separate pipes: their order may vary.
        expect(collected.output).toContain('ok1\n');
        expect(collected.output).toContain('ok2\n');
        expect(collected.output).toContain('no3\n');
        expect(existsSync(join(out, 'a'))).toBe(true);
        expect(existsSync(join(ws, 'b'))).toBe(true);
        expect(existsSync(join(dir.dir, 'c'))).toBe(false);
      } finally {
        dir.cleanup();
      }
    });

    it('denies reading a `deny` entry', async () => {
      const dir = scratch('sbd');
      try {
        const secret = join(dir.dir, 'secret');
        await import('node:fs/promises').then((fs) => fs.writeFile(secret, 'SECRET-CONTENT'));
        const { collected } = await run(['/bin/cat', secret], {
          cwd: uri(dir.dir),
          sandbox: readOnly(dir.dir, [{ path: { type: 'path', path: uri(secret) }, access: 'deny' }]),
        });
        expect(collected.exitCode).not.toBe(0);
        expect(collected.output).not.toContain('SECRET-CONTENT');
      } finally {
        dir.cleanup();
      }
    });

    it('refuses an unknown profile type with -32602', async () => {
      const bad = await client.call(
        'process/start',
        startParams(fresh('bad'), ['/bin/true'], {
          sandbox: { permissions: { type: 'bogus' }, windowsSandboxLevel: 'disabled' },
        }),
      );
      expect(bad.error.code).toBe(-32602);
    });
  });
});

// remote_exec_process_reports_transport_disconnect: our client, against each server.
describe.each(targets)('conformance: the client, $name', (target: Target) => {
  it('fails a pending read and later calls with `exec-server transport disconnected`', async () => {
    const client = await ExecServerClient.connect(target.url, { clientName: 'conformance-client' });
    expect(client.protocol).toBe(target.server === 'reference' ? 'current' : 'seed');
    const process = await client.start({ argv: ['/bin/sh', '-c', 'sleep 10'], cwd: '/tmp', env: {} });
    const pending = process.read({ afterSeq: null, waitMs: 60_000 });
    await client.disconnect();
    const read = await pending;
    expect(read.failure).toMatch(/^exec-server transport disconnected/);
    expect(read.closed).toBe(true);
    await expect(process.write('hello')).rejects.toThrow(/^exec-server transport disconnected/);
  });

  it('runs a command and reads it to the end, in the shape the server speaks', async () => {
    const client = await ExecServerClient.connect(target.url, { clientName: 'conformance-client' });
    try {
      const process = await client.start({
        argv: ['/bin/sh', '-c', 'read x; echo "got $x"; echo err >&2; exit 3'],
        cwd: '/tmp',
        env: {},
        pipeStdin: true,
      });
      expect(process.sandboxType).toBe('none');
      expect(await process.write('input\n')).toBe('accepted');
      let out = '';
      await new Promise<void>((resolve, reject) =>
        process.events$.subscribe({
          next: (event) => {
            if (event.type === 'output') out += Buffer.from(event.chunk).toString();
          },
          complete: resolve,
          error: reject,
        }),
      );
      expect(out).toContain('got input\n');
      expect(out).toContain('err\n');
      expect(await process.exited).toBe(3);
    } finally {
      await client.close();
    }
  });
});
