import { ExecRuntime, type ExecRuntimeOptions } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import type { BackendUnderTest } from '../integration/behaviour-suite.js';

/** An in-process runtime, closed by `cleanup`. */
export async function inProcessBackend(
  options: ExecRuntimeOptions = {},
): Promise<BackendUnderTest & { runtime: ExecRuntime }> {
  const runtime = await ExecRuntime.create(options);
  return { backend: runtime, runtime, cleanup: () => runtime.close() };
}

/**
 * An ExecServerClient connected to an in-process server on 127.0.0.1:0, all closed by `cleanup`;
 * `runtime` is the server's, for a look at its accounting.
 */
export async function wireBackend(
  clientName: string,
  options?: ExecRuntimeOptions,
): Promise<BackendUnderTest & { runtime: ExecRuntime }> {
  const runtime = await ExecRuntime.create(options);
  const server = await startServer({ runtime });
  const client = await ExecServerClient.connect(server.url, { clientName });
  return {
    backend: client,
    runtime,
    cleanup: async () => {
      await client.close();
      await server.close();
      await runtime.close();
    },
  };
}
