/**
 * What the scenarios measure against the baseline: anything that implements `ExecBackend`. Today
 * that is the in-process `ExecRuntime`; a WebSocket variant plugs in as another `BackendFactory`
 * (start a server, return an `ExecServerClient` connected to it, close both in `dispose`).
 */
import { tmpdir } from 'node:os';
import { ExecRuntime } from '../../src/index.js';
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

export const inProcessBackend: BackendFactory = {
  name: 'in-process',
  async create() {
    const runtime = await ExecRuntime.create();
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

const factories: Record<string, BackendFactory> = { 'in-process': inProcessBackend };

export function backendByName(name: string): BackendFactory {
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

/** Subscribes to `events$` and calls `onChunk` for every output chunk. */
export function consume(process: ExecProcess, onChunk: (chunk: Uint8Array) => void): void {
  process.events$.subscribe({
    next: (event) => {
      if (event.type === 'output') onChunk(event.chunk);
    },
    error: () => undefined,
  });
}
