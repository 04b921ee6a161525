import { constants } from 'node:os';
import { InvalidArgumentError } from '../errors.js';

const named: Record<string, NodeJS.Signals> = {
  interrupt: 'SIGINT',
  terminate: 'SIGTERM',
  kill: 'SIGKILL',
  hangup: 'SIGHUP',
};

/** Maps a protocol signal name ("interrupt", …, or "SIGxxx") to a Node signal. */
export function toNodeSignal(signal: string): NodeJS.Signals {
  const mapped = named[signal];
  if (mapped !== undefined) return mapped;
  if (signal.startsWith('SIG') && signal in constants.signals) return signal as NodeJS.Signals;
  throw new InvalidArgumentError(
    `invalid signal ${JSON.stringify(signal)}: expected interrupt, terminate, kill, hangup or a SIG name`,
  );
}

/** Exit code of a process: its status, or 128 + signal number for a signal death. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (signal !== null && signal !== 0) {
    const number = typeof signal === 'number' ? signal : (constants.signals[signal] ?? 0);
    return 128 + number;
  }
  return code ?? -1;
}

/** Signals a whole process group; false when the group no longer exists. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}
