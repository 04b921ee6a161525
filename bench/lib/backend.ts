/**
 * What the scenarios measure against the baseline: anything that implements `ExecBackend`: the
 * in-process `ExecRuntime`, or an `ExecServerClient` talking to an in-process exec server over a
 * loopback WebSocket (the server owns its runtime; both are closed in `dispose`).
 */
import { tmpdir } from 'node:os';
import { ExecServerClient, type ExecServerClientOptions } from '../../src/client/index.js';
import { ExecRuntime, type ExecRuntimeOptions } from '../../src/index.js';
import { startServer } from '../../src/server/index.js';
import type { ExecBackend, ExecProcess, StartOptions } from '../../src/index.js';
import { trackFinalizer } from './cleanup.js';
import { withTimeout } from './clock.js';

export interface BackendInstance {
  readonly backend: ExecBackend;
  /** Close gracefully, bounded; falls back to a hard stop. */
  dispose(): Promise<void>;
}

export interface BackendFactory {
  /** Short label shown in the report, e.g. `in-process` or `websocket`. */
  readonly name: string;
  create(): Promise<BackendInstance>;
}

/** An in-process runtime with these options (`spawner`: which one the bench measures). */
export function inProcessBackendWith(options: ExecRuntimeOptions, name = 'in-process'): BackendFactory {
  return {
    name,
    async create() {
      const runtime = await ExecRuntime.create(options);
      const untrack = trackFinalizer(() => runtime.destroy());
      return {
        backend: runtime,
        async dispose() {
          untrack();
          try {
            await withTimeout(runtime.close(), 15_000, 'runtime.close()');
          } catch {
            await runtime.destroy();
          }
        },
      };
    },
  };
}

export const inProcessBackend: BackendFactory = inProcessBackendWith({});

/**
 * The same runtime behind `startServer` on 127.0.0.1:0 and one `ExecServerClient` connection: what
 * a client of `execvisor serve` on the same host sees (JSON, base64 output, `process/read` loops).
 */
export const webSocketBackend: BackendFactory = {
  name: 'websocket',
  async create() {
    const server = await startServer({ listen: 'ws://127.0.0.1:0' });
    // Closing the server terminates what the connection left and closes the runtime it owns.
    return clientOf(server.url, () => withTimeout(server.close(), 15_000, 'server.close()'));
  },
};

/**
 * One `ExecServerClient` connected to `url`, with `stop` for the server behind it: the client is
 * closed (bounded, else disconnected), then the server stopped; a failed connect stops it at once.
 */
export async function clientOf(
  url: string,
  stop: () => Promise<void>,
  options: Omit<ExecServerClientOptions, 'clientName'> = {},
): Promise<BackendInstance> {
  const untrackServer = trackFinalizer(stop);
  let client: ExecServerClient;
  try {
    client = await ExecServerClient.connect(url, { clientName: 'execvisor-bench', ...options });
  } catch (error) {
    untrackServer();
    await stop();
    throw error;
  }
  const untrackClient = trackFinalizer(() => client.disconnect());
  return {
    backend: client,
    async dispose() {
      untrackClient();
      untrackServer();
      try {
        await withTimeout(client.close(), 15_000, 'client.close()');
      } catch {
        await client.disconnect();
      }
      await stop();
    },
  };
}

const factories: Record<string, BackendFactory> = {
  'in-process': inProcessBackend,
  websocket: webSocketBackend,
};

export function backendByName(name: string, spawner?: 'native' | 'node'): BackendFactory {
  if (spawner !== undefined) {
    if (name !== 'in-process') throw new Error('--spawner applies to the in-process backend only');
    return inProcessBackendWith({ spawner }, `in-process (spawner ${spawner})`);
  }
  const factory = factories[name];
  if (factory === undefined) {
    throw new Error(`unknown backend ${JSON.stringify(name)}; known: ${Object.keys(factories).join(', ')}`);
  }
  return factory;
}

/** The environment every child gets, identical for baseline and runtime. */
export function childEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C', TERM: 'xterm' };
}

export function childCwd(): string {
  return tmpdir();
}

export function startOptions(argv: readonly string[], extra: Partial<StartOptions> = {}): StartOptions {
  return { argv, cwd: childCwd(), env: childEnv(), ...extra };
}

/**
 * Subscribes to `events$`, calls `onChunk` for every output chunk and resolves when the stream
 * completes (or fails). Over WebSocket `closed` can resolve (from its notification) before the
 * read loop behind `events$` has delivered the last bytes, so byte counts wait for this.
 */
export function consumeAll(process: ExecProcess, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  return new Promise((resolve) => {
    process.events$.subscribe({
      next: (event) => {
        if (event.type === 'output') onChunk(event.chunk);
      },
      error: () => resolve(),
      complete: () => resolve(),
    });
  });
}

/** Subscribes to `events$` and calls `onChunk` for every output chunk. */
export function consume(process: ExecProcess, onChunk: (chunk: Uint8Array) => void): void {
  process.events$.subscribe({
    next: (event) => {
      if (event.type === 'output') onChunk(event.chunk);
    },
    error: () => undefined,
  });
}
