/**
 * Security: the child environment is exactly what the caller gave (nothing inherited, in-process,
 * over the wire, through a spawned server and through `execvisor run --clean-env`); browser origins
 * and missing or wrong bearer tokens are refused by a server started with --token-file.
 * Spawns the built CLI: run `npm run build` first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExecRuntime, type ExecBackend } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import { killAllCli, runCli } from '../helpers/cli.js';
import { allEvents, textOf } from '../helpers/process.js';
import { RawClient, refusedUpgradeStatus } from '../helpers/raw-ws.js';
import { requireBuild, spawnServe, stopAll } from '../helpers/serve.js';

const CANARY_NAME = 'EXECVISOR_SECURITY_CANARY';
const CANARY = `canary-${Math.random().toString(36).slice(2)}`;

beforeAll(() => {
  requireBuild();
  // Set before any runtime exists: worker threads copy the environment when they start.
  process.env[CANARY_NAME] = CANARY;
});
afterAll(async () => {
  await stopAll();
  await killAllCli();
  delete process.env[CANARY_NAME];
});

/** The environment a child sees, as `env` prints it, for pipes and for a terminal. */
async function childEnvs(backend: ExecBackend, env: Record<string, string>): Promise<string[]> {
  const texts: string[] = [];
  for (const tty of [false, true]) {
    const child = await backend.start({ argv: ['/usr/bin/env'], cwd: tmpdir(), env, tty });
    texts.push(textOf(await allEvents(child)));
    expect(await child.exited).toBe(0);
  }
  return texts;
}

describe('security: the environment is never inherited', () => {
  it('in-process: env {} gives an empty environment, and a given env exactly that', async () => {
    const runtime = await ExecRuntime.create({ workers: 1 });
    try {
      expect(process.env[CANARY_NAME]).toBe(CANARY);
      for (const text of await childEnvs(runtime, {})) expect(text).toBe('');
      for (const text of await childEnvs(runtime, { ONLY: 'this' })) {
        expect(text).not.toContain(CANARY);
        expect(text.split(/\r?\n/).filter(Boolean)).toEqual(['ONLY=this']);
      }
    } finally {
      await runtime.close();
    }
  });

  it('over the wire (in-process server): env {} gives an empty environment', async () => {
    const runtime = await ExecRuntime.create({ workers: 1 });
    const server = await startServer({ runtime });
    const client = await ExecServerClient.connect(server.url, { clientName: 'security' });
    try {
      for (const text of await childEnvs(client, {})) expect(text).toBe('');
    } finally {
      await client.close();
      await server.close();
      await runtime.close();
    }
  });

  it('through a spawned `execvisor serve` whose own environment holds the canary', async () => {
    const server = await spawnServe([], { ...process.env, [CANARY_NAME]: CANARY });
    const client = await ExecServerClient.connect(server.url, { clientName: 'security' });
    try {
      for (const text of await childEnvs(client, {})) expect(text).toBe('');
    } finally {
      await client.close();
    }
  });

  async function cliRun(args: string[]): Promise<{ code: number | null; stdout: string }> {
    const { code, stdout } = await runCli(['run', ...args], {
      env: { ...process.env, [CANARY_NAME]: CANARY },
    });
    return { code, stdout };
  }

  it('`execvisor run --clean-env` gives the command an empty environment (and without it, this one)', async () => {
    const clean = await cliRun(['--clean-env', '--', '/usr/bin/env']);
    expect(clean).toEqual({ code: 0, stdout: '' });
    // The control: without --clean-env the canary does reach the command, so the check above means something.
    const inherited = await cliRun(['--', '/usr/bin/env']);
    expect(inherited.code).toBe(0);
    expect(inherited.stdout).toContain(`${CANARY_NAME}=${CANARY}`);
  });
});

describe('security: origin and token (spawned server with --token-file)', () => {
  const TOKEN = `tok-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  let dir: string;
  let url: string;
  let port: number;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'execvisor-token-'));
    const file = join(dir, 'token');
    // One trailing newline, as an editor leaves it: ignored.
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    // EXEC_SERVER_TOKEN in the environment must not override the file.
    const server = await spawnServe(['--token-file', file], {
      ...process.env,
      EXEC_SERVER_TOKEN: 'from-env',
    });
    url = server.url;
    port = server.port;
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.ws.terminate();
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const refusedStatus = (headers: Record<string, string>) => refusedUpgradeStatus(url, headers);

  it('refuses a missing, wrong, truncated, extended, env-supplied or non-Bearer token with 401', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: '' },
      { Authorization: 'Bearer' },
      { Authorization: 'Bearer ' },
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { Authorization: `Bearer ${TOKEN}x` },
      { Authorization: 'Bearer from-env' },
      { Authorization: `Basic ${TOKEN}` },
      { Authorization: TOKEN },
    ];
    // Each one is an HTTP answer from the server: anything else (no server, a dropped connection)
    // rejects and fails the test.
    const statuses = [];
    for (const headers of attempts) statuses.push(await refusedStatus(headers));
    expect(statuses).toEqual(attempts.map(() => 401));
    // `Bearer <token>\n` cannot even be sent: the client refuses the header value itself.
    const unsendable = await refusedStatus({ Authorization: `Bearer ${TOKEN}\n` }).catch((e: unknown) => e);
    expect(unsendable).toMatchObject({ code: 'ERR_INVALID_CHAR' });
    // The server is still the one answering: the right token is admitted.
    const client = await RawClient.open(url, { Authorization: `Bearer ${TOKEN}` });
    clients.push(client);
    expect((await client.handshake()).sessionId).toEqual(expect.any(String));
  });

  it('refuses a browser Origin with 403, even with the right token', async () => {
    for (const origin of ['http://evil.example', 'null', 'http://127.0.0.1', 'file://']) {
      expect(await refusedStatus({ Origin: origin, Authorization: `Bearer ${TOKEN}` })).toBe(403);
    }
  });

  it('admits the right token; /metrics needs it, /readyz does not', async () => {
    const client = await RawClient.open(url, { Authorization: `Bearer ${TOKEN}` });
    clients.push(client);
    await client.handshake();
    expect(await client.result('process/list', {})).toEqual({ processes: [] });
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(
      200,
    );
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});
