// Piscina task entry for one filesystem operation (`Supervisor.runPoolTask`).
import { Piscina } from 'piscina';
import type { FsTask } from '../src/fs/protocol.js';
import { runFsTask } from '../src/fs/task.js';

export default async function fsOperation(task: FsTask): Promise<unknown> {
  const { outcome, transfer } = await runFsTask(task);
  if (transfer.length === 0) return outcome;
  // File bytes move to the main thread instead of being copied.
  const movable = { [Piscina.transferableSymbol]: transfer, [Piscina.valueSymbol]: outcome };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
