import { ExecRuntime } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import { describeBackend } from './behaviour-suite.js';

describeBackend('ExecServerClient over WebSocket', async () => {
  const runtime = await ExecRuntime.create();
  const server = await startServer({ runtime });
  const client = await ExecServerClient.connect(server.url, { clientName: 'behaviour-suite' });
  return {
    backend: client,
    cleanup: async () => {
      await client.close();
      await server.close();
      await runtime.close();
    },
  };
});
