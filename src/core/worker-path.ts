/**
 * Where the compiled process-actor worker lives. The build keeps `dist/src/…` and `dist/workers/…`
 * side by side, so from this module (`dist/src/runtime/`) the worker is at a fixed relative path.
 * When this module runs from TypeScript sources (tests), the compiled worker in `dist/` is used.
 */
import { fileURLToPath } from 'node:url';

export function processActorWorkerPath(): string {
  return workerPath('process-actor.js');
}

/** The compiled worker module `name` (e.g. `fs-operation.js`) from `workers/`. */
export function workerPath(name: string): string {
  const here = import.meta.url;
  const relative = here.endsWith('.ts') ? `../../dist/workers/${name}` : `../../workers/${name}`;
  return fileURLToPath(new URL(relative, here));
}
