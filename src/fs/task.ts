/**
 * One filesystem task as a pool worker runs it: directly, or in the sandboxed helper when the
 * request carries a sandbox that the transform applies. The answer is a plain outcome plus the
 * ArrayBuffers that may be transferred (not copied) back to the main thread.
 */
import { toFsError } from './os-error.js';
import { runFsOperation } from './operations.js';
import type { FsOutcome, FsTask, FsValue } from './protocol.js';
import { prepareHelperLaunch, runInHelper, type HelperLaunchDeps } from './sandboxed.js';

export interface FsTaskResult {
  readonly outcome: FsOutcome;
  /** Buffers owned by `outcome` alone, safe to transfer. */
  readonly transfer: readonly ArrayBuffer[];
}

export async function runFsTask(task: FsTask, deps?: HelperLaunchDeps): Promise<FsTaskResult> {
  let value: FsValue;
  try {
    const launch = prepareHelperLaunch(task.sandbox, { tools: task.sandboxTools, ...deps });
    value =
      launch === null ? await runFsOperation(task.operation) : await runInHelper(launch, task.operation);
  } catch (error) {
    return { outcome: { ok: false, error: toFsError(error).toPlain() }, transfer: [] };
  }
  if (value !== null && 'data' in value) {
    const data = ownedBytes(value.data);
    return { outcome: { ok: true, value: { data } }, transfer: [data.buffer as ArrayBuffer] };
  }
  return { outcome: { ok: true, value }, transfer: [] };
}

/**
 * `bytes`, on an ArrayBuffer no other view shares. Buffers from `readFileBounded` own theirs; a
 * small Buffer may sit in Node's shared pool, and transferring that would detach its neighbours.
 */
function ownedBytes(bytes: Uint8Array): Uint8Array {
  if (!Buffer.isBuffer(bytes) || (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength)) {
    return bytes;
  }
  return new Uint8Array(bytes);
}
