/** Limits: more processes than allowed get a clear coded error at once, never a hang. */
import { afterEach, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { ExecRuntime, errorCodeOf, type ExecProcess } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer, type ExecServer } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-ws.js';
import { SPAWNERS } from '../helpers/spawners.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };
const LONG = { argv: ['sleep', '1000'], cwd: CWD, env: PATH_ENV };

let runtime: ExecRuntime | undefined;
let server: ExecServer | undefined;
afterEach(async () => {
  await server?.close();
  await runtime?.destroy();
  server = undefined;
  runtime = undefined;
});

describe.each(SPAWNERS)('limits (spawner %s)', (spawner) => {
  it('runtime maxProcesses: 200 concurrent starts against a limit of 50 → exactly 50 run, 150 EXEC_ERR_LIMIT', async () => {
    runtime = await ExecRuntime.create({ spawner, maxProcesses: 50 });
    const began = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => runtime!.start(LONG)));
    const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const refused = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as Error] : [],
    );
    expect(started).toHaveLength(50);
    expect(refused).toHaveLength(150);
    for (const error of refused) {
      expect(errorCodeOf(error)).toBe('EXEC_ERR_LIMIT');
      expect(error.message).toBe('too many processes: the limit of 50 live processes is reached');
    }
    console.log(`[limits] runtime: 50 started, 150 refused in ${Date.now() - began} ms`);
    // Room again once some close.
    await Promise.all(started.slice(0, 10).map((process) => process.terminate()));
    await Promise.all(started.slice(0, 10).map((process) => process.closed));
    const again = await Promise.all(Array.from({ length: 10 }, () => runtime!.start(LONG)));
    expect(again).toHaveLength(10);
  });

  it('per-connection limit over the wire: a coded error for the client and the raw protocol, other connections unaffected', async () => {
    runtime = await ExecRuntime.create({ spawner });
    server = await startServer({ runtime, maxProcessesPerConnection: 20 });
    const client = await ExecServerClient.connect(server.url, { clientName: 'limits' });
    const other = await ExecServerClient.connect(server.url, { clientName: 'other' });
    try {
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => client.start(LONG)));
      const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      const refused = results.flatMap((result) =>
        result.status === 'rejected' ? [result.reason as Error] : [],
      );
      expect(started).toHaveLength(20);
      expect(refused).toHaveLength(40);
      for (const error of refused) {
        expect(errorCodeOf(error)).toBe('EXEC_ERR_LIMIT');
        expect(error.message).toBe('process limit of this connection reached (20 processes not yet closed)');
      }
      // Another connection has its own allowance.
      const elsewhere: ExecProcess = await other.start(LONG);
      expect(await elsewhere.terminate()).toBe(true);

      const raw = await RawClient.open(server.url);
      await raw.handshake();
      const ids = Array.from({ length: 21 }, (_, index) =>
        raw.request('process/start', { processId: `r${index}`, ...LONG, tty: false }),
      );
      const answers = await Promise.all(ids.map((id) => raw.answer(id)));
      const errors = answers.filter((answer) => answer.error !== undefined);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.error).toEqual({
        code: -32600,
        message: 'process limit of this connection reached (20 processes not yet closed)',
        data: { code: 'EXEC_ERR_LIMIT' },
      });
      raw.ws.terminate();
    } finally {
      await client.close();
      await other.close();
    }
  });
});
