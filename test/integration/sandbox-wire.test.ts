/** The sandbox escape attempts of sandbox-suite.ts, over the wire: ExecServerClient ↔ startServer. */
import { ExecRuntime } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { describeSandbox } from './sandbox-suite.js';

describeSandbox(
  'over the wire',
  async () => {
    const runtime = await ExecRuntime.create();
    const server = await startServer({ runtime });
    const client = await ExecServerClient.connect(server.url, { clientName: 'sandbox-wire' });
    return {
      backend: client,
      cleanup: async () => {
        await client.close();
        await server.close();
        await runtime.close();
      },
    };
  },
  bwrapAvailable(),
);
