/**
 * `timeoutMs` and `signal` of a start, applied on top of any backend's `start` (the runtime's
 * sessions and the wire client both call `startWithLimits`), so both behave the same: an aborted
 * signal starts nothing; a timeout or an abort after the start terminates the process group with
 * a grace period (SIGTERM, then SIGKILL after `terminateGraceMs`).
 */
import { AbortedError, InvalidArgumentError } from '../errors.js';
import { show } from './options.js';
import type { ExecProcess, StartOptions } from './types.js';

export const DEFAULT_TERMINATE_GRACE_MS = 5_000;
/** setTimeout fires at once past this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const timedOutProcesses = new WeakSet<ExecProcess>();

/** Whether `process` was terminated because its `timeoutMs` ran out. */
export function timedOut(process: ExecProcess): boolean {
  return timedOutProcesses.has(process);
}

function milliseconds(name: string, value: number | null | undefined, min: number): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(
      `${name} must be an integer from ${min} to ${MAX_TIMER_MS}, got ${show(value)}`,
    );
  }
  return value;
}

/** Starts with `start` (which never sees `timeoutMs`, `signal` or `terminateGraceMs`) and arms them. */
export async function startWithLimits(
  options: StartOptions,
  start: (options: StartOptions) => Promise<ExecProcess>,
): Promise<ExecProcess> {
  // Not an object: the backend's own validation names the problem.
  if (typeof options !== 'object' || options === null) return start(options);
  const { timeoutMs, signal, terminateGraceMs, ...rest } = options;
  const timeout = milliseconds('timeoutMs', timeoutMs, 1);
  const graceMs = milliseconds('terminateGraceMs', terminateGraceMs, 0) ?? DEFAULT_TERMINATE_GRACE_MS;
  if (signal != null && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${show(signal)}`);
  }
  if (signal?.aborted) throw new AbortedError('start', { cause: signal.reason });
  const process = await start(rest);
  if (timeout === null && signal == null) return process;

  let timer: NodeJS.Timeout | null = null;
  const disarm = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    signal?.removeEventListener('abort', stop);
  };
  function stop(): void {
    disarm();
    process.terminate({ graceMs }).catch(() => undefined);
  }
  if (timeout !== null) {
    timer = setTimeout(() => {
      if (!process.info().exited) timedOutProcesses.add(process);
      stop();
    }, timeout);
    // A live process keeps the loop alive by itself; this timer must not keep a finished one.
    timer.unref();
  }
  if (signal != null) {
    signal.addEventListener('abort', stop, { once: true });
    // Aborted while the start was in flight: the process exists now, so it is stopped now.
    if (signal.aborted) stop();
  }
  process.exited.then(disarm, disarm);
  return process;
}
