import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processActorWorkerPath } from '../../../src/core/worker-path.js';

describe('worker path', () => {
  it('points at the built process-actor worker, which exists after the build', () => {
    const path = processActorWorkerPath();
    expect(path.endsWith('/dist/workers/process-actor.js')).toBe(true);
    expect(existsSync(path)).toBe(true);
  });

  it('keeps the fixed relative path between the built library and the built worker', async () => {
    // The built copy of this module resolves the worker next to itself, not through dist/ again.
    const built = (await import(new URL('../../../dist/src/core/worker-path.js', import.meta.url).href)) as {
      processActorWorkerPath(): string;
    };
    expect(built.processActorWorkerPath()).toBe(processActorWorkerPath());
  });
});
