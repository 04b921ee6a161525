/**
 * The one place that picks a spawn backend. The runtime decides once, at creation, from its
 * `spawner` option (`chooseSpawner`, main thread); each actor then starts its child with
 * `startChild` (worker thread): the native spawner, or the node backends (child_process for pipes,
 * node-pty for terminals), which stay the fallback where the addon does not load and on macOS.
 */
import { InvalidArgumentError, SpawnError } from '../errors.js';
import type { ProcessCgroup } from './cgroup.js';
import type { NativeStatus } from './native-binding.js';
import { spawnNative } from './native-backend.js';
import { spawnPipes } from './pipe-backend.js';
import { spawnPty } from './pty-backend.js';
import { signalGroup } from './signals.js';
import { shownProgram, type SpawnHandlers, type SpawnRequest, type SpawnedChild } from './types.js';
import { budgetReadBytes } from '../actor/budget-cell.js';

export type SpawnerKind = 'native' | 'node';

/**
 * The spawner a runtime uses: `native` wherever the addon loads unless `node` is asked for. Asking
 * for `native` where it does not load is an error; falling back by default comes with a warning.
 */
export function chooseSpawner(
  requested: SpawnerKind | 'auto',
  native: NativeStatus,
): { readonly kind: SpawnerKind; readonly warning: string | null } {
  if (requested === 'node') return { kind: 'node', warning: null };
  if (native.available) return { kind: 'native', warning: null };
  if (requested === 'native') {
    throw new InvalidArgumentError(`spawner "native" is not available here: ${native.reason}`);
  }
  return {
    kind: 'node',
    warning: `the native spawner is not available (${native.reason}); spawning with child_process and node-pty`,
  };
}

/** Node's own stream reads, and the least a read is allowed. */
const MIN_READ_BYTES = 4 * 1024;
const MAX_READ_BYTES = 1 << 20;

/**
 * The largest single read of a child's output (native spawner). Big reads make a busy stream cheap
 * (one system call, callback and message per read), but a read arrives as one chunk: it must stay
 * well under the retention bound, which evicts whole chunks, and under the flow-control window,
 * which it could overshoot by a whole read.
 */
export function maxReadBytes(
  retainedBytes: number,
  highWaterBytes: number | null,
  budgetBytes: number | null = null,
): number {
  let limit = MAX_READ_BYTES;
  if (retainedBytes > 0) limit = Math.min(limit, Math.floor(retainedBytes / 4));
  if (highWaterBytes !== null) limit = Math.min(limit, Math.floor(highWaterBytes / 4));
  if (highWaterBytes !== null && budgetBytes !== null) {
    // Every process may pass the budget's marks by a read before it pauses: see budgetReadBytes.
    limit = Math.min(limit, budgetReadBytes(budgetBytes));
  }
  return Math.max(MIN_READ_BYTES, limit);
}

/**
 * Starts the child with the chosen backend, in `cgroup` when given: the native child is created in
 * it (or joins it before exec); a node child is moved in right after its spawn returns (the program has started by then, so
 * a process it forks in that instant stays outside: see docs/operations.md).
 */
export async function startChild(
  kind: SpawnerKind,
  request: SpawnRequest,
  handlers: SpawnHandlers,
  options: { readonly tty: boolean; readonly cgroup: ProcessCgroup | null; readonly maxReadBytes: number },
): Promise<SpawnedChild> {
  const { tty, cgroup } = options;
  if (kind === 'native') {
    return spawnNative(request, handlers, {
      tty,
      cgroupFd: cgroup?.dirFd ?? null,
      maxReadBytes: options.maxReadBytes,
    });
  }
  const child = await (tty ? spawnPty : spawnPipes)(request, handlers);
  if (cgroup !== null) {
    try {
      cgroup.join(child.pid);
    } catch (error) {
      // Gone already (a short program, reaped before the move): there is nothing left to move.
      // What it forked in that time is outside, the window docs/operations.md describes.
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return child;
      signalGroup(child.pid, 'SIGKILL');
      throw new SpawnError(
        `failed to spawn \`${shownProgram(request)}\`: could not move it into its cgroup: ${String(error)}`,
        { cause: error },
      );
    }
  }
  return child;
}
