/**
 * Public runtime options, their resolved form, and the one resolver that fills defaults and
 * validates each field with a message naming it and showing the bad value.
 */
import { availableParallelism, totalmem } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { type Logger, silentLogger } from './logger.js';
import type { NetworkProxyRuntimeOptions } from './network-options.js';

export interface ExecRuntimeOptions {
  /** Worker threads hosting process actors. Default: min(available cores, 4), at least 1. */
  readonly workers?: number;
  /** Retained output per process, in bytes; oldest chunks are evicted first. Default 1 MiB. */
  readonly retainedBytesPerProcess?: number;
  /** How long an exited and closed process stays readable before it is removed. Default 30 000 ms. */
  readonly exitedRetentionMs?: number;
  /** Live processes allowed at once across all sessions. Default 4096. */
  readonly maxProcesses?: number;
  /** A worker flushes a process's output batch at this size (else at the end of its tick). Default 64 KiB. */
  readonly batchBytes?: number;
  /** How long `close()` waits for processes to close after terminating them. Default 5 000 ms. */
  readonly closeTimeoutMs?: number;
  /**
   * The largest flow-control window (`flowControl.highWaterBytes`) a start may ask for; a larger
   * one is refused with `EXEC_ERR_INVALID_ARGUMENT`. Default 8 MiB.
   */
  readonly maxFlowWindowBytes?: number;
  /**
   * Runtime-wide bound on output held in memory: retained output plus unacknowledged
   * flow-controlled output. Past it, flow-controlled processes are paused and other output evicts
   * older reclaimable output. Default: an eighth of the memory (the cgroup limit when lower than
   * RAM), at least 64 MiB.
   */
  readonly outputBudgetBytes?: number;
  /** Where the runtime logs; default: nowhere. */
  readonly logger?: Logger;
  /**
   * The bwrap to sandbox with on Linux (absolute path to an executable file; anything else fails
   * `create()`). Default: `$EXECVISOR_BWRAP`, else the first of /usr/bin/bwrap, /bin/bwrap,
   * /usr/local/bin/bwrap. Never looked up on PATH or in anything a request carries.
   */
  readonly bwrapPath?: string;
  /**
   * The managed-network proxy (bounds, socket directory), started by the first start with a
   * `networkProxy` and stopped with the runtime. Default: `NETWORK_PROXY_DEFAULTS`.
   */
  readonly networkProxy?: NetworkProxyRuntimeOptions;
  /**
   * What starts processes: `native` (the addon built from src/native/ on Linux: clone + exec, whose
   * cost does not grow with this process's memory) or `node` (child_process for pipes, node-pty for
   * terminals). Default: native where it loads, else node with a warning. Asking for native where
   * it does not load is an error.
   */
  readonly spawner?: 'native' | 'node';
  /**
   * How each process's whole tree (background jobs, `setsid` daemons) is kept killable: `cgroup` (a
   * cgroup v2 per process, killed with cgroup.kill) or `process-group` (its process group, and
   * whatever still holds its output). Default: cgroup where this process may create cgroups under
   * its own, else process-group with a warning. Asking for cgroup where it cannot be had is an error.
   */
  readonly containment?: 'cgroup' | 'process-group';
}

export interface ResolvedRuntimeOptions {
  readonly workers: number;
  readonly retainedBytesPerProcess: number;
  readonly exitedRetentionMs: number;
  readonly maxProcesses: number;
  readonly batchBytes: number;
  readonly closeTimeoutMs: number;
  readonly maxFlowWindowBytes: number;
  readonly outputBudgetBytes: number;
  readonly logger: Logger;
  /** As given (undefined: `$EXECVISOR_BWRAP` or the fixed locations, resolved at start). */
  readonly bwrapPath: string | undefined;
  /** As given; checked when the runtime is created (see `RuntimeNetwork`). */
  readonly networkProxy: NetworkProxyRuntimeOptions;
  /** `auto`: native where it loads (decided when the runtime is created). */
  readonly spawner: 'native' | 'node' | 'auto';
  /** `auto`: cgroup where it can be had (decided when the runtime is created). */
  readonly containment: 'cgroup' | 'process-group' | 'auto';
}

export const RUNTIME_DEFAULTS = Object.freeze({
  workers: Math.max(1, Math.min(availableParallelism(), 4)),
  retainedBytesPerProcess: 1 << 20,
  exitedRetentionMs: 30_000,
  maxProcesses: 4096,
  batchBytes: 64 * 1024,
  closeTimeoutMs: 5_000,
  maxFlowWindowBytes: 8 << 20,
  outputBudgetBytes: defaultOutputBudget(),
  spawner: 'auto',
  containment: 'auto',
});

/** An eighth of the memory this process may use (the cgroup limit when below RAM), at least 64 MiB. */
function defaultOutputBudget(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const memory = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return Math.max(64 << 20, Math.floor(memory / 8));
}

export function resolveRuntimeOptions(options: ExecRuntimeOptions = {}): ResolvedRuntimeOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object, got ${show(options)}`);
  }
  return Object.freeze({
    workers: integer('workers', options.workers, RUNTIME_DEFAULTS.workers, 1, 256),
    retainedBytesPerProcess: integer(
      'retainedBytesPerProcess',
      options.retainedBytesPerProcess,
      RUNTIME_DEFAULTS.retainedBytesPerProcess,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    exitedRetentionMs: integer(
      'exitedRetentionMs',
      options.exitedRetentionMs,
      RUNTIME_DEFAULTS.exitedRetentionMs,
      0,
      2 ** 31 - 1,
    ),
    maxProcesses: integer('maxProcesses', options.maxProcesses, RUNTIME_DEFAULTS.maxProcesses, 1, 1 << 20),
    batchBytes: integer('batchBytes', options.batchBytes, RUNTIME_DEFAULTS.batchBytes, 1, 64 << 20),
    closeTimeoutMs: integer(
      'closeTimeoutMs',
      options.closeTimeoutMs,
      RUNTIME_DEFAULTS.closeTimeoutMs,
      0,
      2 ** 31 - 1,
    ),
    maxFlowWindowBytes: integer(
      'maxFlowWindowBytes',
      options.maxFlowWindowBytes,
      RUNTIME_DEFAULTS.maxFlowWindowBytes,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    outputBudgetBytes: integer(
      'outputBudgetBytes',
      options.outputBudgetBytes,
      RUNTIME_DEFAULTS.outputBudgetBytes,
      1 << 20,
      Number.MAX_SAFE_INTEGER,
    ),
    logger: options.logger ?? silentLogger,
    bwrapPath: absolutePath('bwrapPath', options.bwrapPath),
    networkProxy: networkProxyOf(options.networkProxy),
    spawner: oneOf('spawner', options.spawner, ['native', 'node'] as const, RUNTIME_DEFAULTS.spawner),
    containment: oneOf(
      'containment',
      options.containment,
      ['cgroup', 'process-group'] as const,
      RUNTIME_DEFAULTS.containment,
    ),
  });
}

function networkProxyOf(value: unknown): NetworkProxyRuntimeOptions {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`networkProxy must be an object, got ${show(value)}`);
  }
  return value;
}

function absolutePath(name: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new InvalidArgumentError(`${name} must be an absolute path, got ${show(value)}`);
  }
  return value;
}

function oneOf<T extends string, F extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: F,
): T | F {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `${name} must be one of ${allowed.map((item) => JSON.stringify(item)).join(', ')}, got ${show(value)}`,
    );
  }
  return value as T;
}

export function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
