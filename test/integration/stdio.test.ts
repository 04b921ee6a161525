/**
 * `execvisor serve --listen stdio` and `execvisor run --remote stdio:<command>`: the protocol on
 * stdin/stdout and nothing else there, logs on stderr, EOF ending the server and its processes, and
 * the command line client driving a server it starts itself (as it would over ssh).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { killAllCli, runCli } from '../helpers/cli.js';
import { eventually, isDead } from '../helpers/process.js';
import { CLI, spawnServeStdio, stopAll } from '../helpers/serve.js';

afterEach(() => killAllCli());
afterAll(() => stopAll());

const SERVE = `${process.execPath} ${CLI} serve --listen stdio --workers 1`;

describe('serve --listen stdio', () => {
  it('writes only JSON-RPC lines on stdout, logs on stderr, and ends (killing its processes) at EOF', async () => {
    const server = spawnServeStdio(['--log-level', 'debug', '--workers', '1']);
    const { client } = server;
    await client.handshake();
    await client.result('process/start', {
      processId: 'sleeper',
      argv: ['/bin/sleep', '300'],
      cwd: tmpdir(),
      env: {},
      tty: false,
    });
    const [info] = (await client.result('process/list', { processId: 'sleeper' })).processes;
    client.send('not json');
    await client.until(() => client.others.find((m) => m.id === -1), 'the parse error');
    client.endInput();
    expect(await client.closed(15_000)).toBe(0);
    await eventually(() => isDead(info.pid as number), 'the process to die with the server');
    // Every stdout line was a JSON-RPC message; the logs (debug level: many) went to stderr.
    expect(client.malformed).toEqual([]);
    expect(client.raw.length).toBeGreaterThan(0);
    expect(server.stderr()).toContain('serving one connection on stdio');
  });
});

describe('run --remote stdio:<command>', () => {
  it('runs a command through a server it starts, with its output and exit code', async () => {
    const result = await runCli([
      'run',
      '--remote',
      `stdio:${SERVE}`,
      '--',
      '/bin/sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('out\n');
    expect(result.stderr).toContain('err\n');
  });

  it('forwards stdin to the remote command', async () => {
    const result = await runCli(['run', '--remote', `stdio:${SERVE}`, '--', '/bin/cat'], {
      stdin: 'piped through\n',
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('piped through\n');
  });

  it('says why when the command is not an exec server', async () => {
    const result = await runCli(['run', '--remote', 'stdio:exit 7', '--', '/bin/true']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/exec-server transport disconnected|stdio command exited/);
  });
});
