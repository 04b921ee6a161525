/** Validates and normalizes `StartOptions` from an in-process caller. */
import { isAbsolute } from 'node:path';
import { EmptyArgvError, InvalidArgumentError } from '../errors.js';
import type { FlowControl, StartOptions, TerminalSize } from '../core/types.js';
import { integer, show } from '../core/options.js';

export interface NormalizedStart {
  readonly processId: string | undefined;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly pipeStdin: boolean;
  readonly arg0: string | null;
  readonly sandbox: unknown;
  readonly size: TerminalSize;
  readonly flowControl: FlowControl | null;
}

const DEFAULT_SIZE: TerminalSize = Object.freeze({ rows: 24, cols: 80 });

/**
 * `maxFlowWindowBytes` bounds `flowControl.highWaterBytes`: the window is memory the runtime holds
 * for a consumer, so the runtime, not the request, decides how large it may be.
 */
export function normalizeStart(options: StartOptions, maxFlowWindowBytes: number): NormalizedStart {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`start options must be an object, got ${show(options)}`);
  }
  const { processId, argv, cwd, env } = options;
  if (processId !== undefined && (typeof processId !== 'string' || processId.length === 0)) {
    throw new InvalidArgumentError(`processId must be a non-empty string, got ${show(processId)}`);
  }
  if (!Array.isArray(argv))
    throw new InvalidArgumentError(`argv must be an array of strings, got ${show(argv)}`);
  if (argv.length === 0) throw new EmptyArgvError();
  for (const [index, arg] of argv.entries()) {
    if (typeof arg !== 'string')
      throw new InvalidArgumentError(`argv[${index}] must be a string, got ${show(arg)}`);
    if (arg.includes('\0')) throw new InvalidArgumentError(`argv[${index}] must not contain NUL bytes`);
  }
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0')) {
    throw new InvalidArgumentError(`cwd must be an absolute path, got ${show(cwd)}`);
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    throw new InvalidArgumentError(`env must be an object of strings, got ${show(env)}`);
  }
  for (const [key, value] of Object.entries(env)) {
    if (typeof value !== 'string')
      throw new InvalidArgumentError(`env.${key} must be a string, got ${show(value)}`);
    if (key.length === 0 || key.includes('=') || key.includes('\0') || value.includes('\0')) {
      throw new InvalidArgumentError(`env has an invalid entry ${show(key)}`);
    }
  }
  const tty = flag('tty', options.tty);
  const pipeStdin = flag('pipeStdin', options.pipeStdin);
  const arg0 = options.arg0 ?? null;
  if (arg0 !== null && (typeof arg0 !== 'string' || arg0.includes('\0'))) {
    throw new InvalidArgumentError(`arg0 must be a string, got ${show(arg0)}`);
  }
  const size = options.size ?? DEFAULT_SIZE;
  if (typeof size !== 'object')
    throw new InvalidArgumentError(`size must be {rows, cols}, got ${show(size)}`);
  const rows = integer('size.rows', size.rows, 24, 1, 65_535);
  const cols = integer('size.cols', size.cols, 80, 1, 65_535);
  let flowControl: FlowControl | null = null;
  if (options.flowControl != null) {
    const high = integer(
      'flowControl.highWaterBytes',
      options.flowControl.highWaterBytes,
      Math.min(1 << 20, maxFlowWindowBytes),
      1,
      Number.MAX_SAFE_INTEGER,
    );
    if (high > maxFlowWindowBytes) {
      throw new InvalidArgumentError(
        `flowControl.highWaterBytes must be at most ${maxFlowWindowBytes} ` +
          `(the runtime's maxFlowWindowBytes), got ${high}`,
      );
    }
    const low = integer(
      'flowControl.lowWaterBytes',
      options.flowControl.lowWaterBytes,
      Math.floor(high / 2),
      0,
      Number.MAX_SAFE_INTEGER,
    );
    if (low > high) {
      throw new InvalidArgumentError(
        `flowControl.lowWaterBytes must not exceed highWaterBytes, got ${low} > ${high}`,
      );
    }
    flowControl = { highWaterBytes: high, lowWaterBytes: low };
  }
  return {
    processId,
    argv: [...(argv as readonly string[])],
    cwd,
    env: { ...env },
    tty,
    pipeStdin: tty ? false : pipeStdin,
    arg0,
    sandbox: options.sandbox ?? null,
    size: { rows, cols },
    flowControl,
  };
}

function flag(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw new InvalidArgumentError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}
