/**
 * What a server says about itself to whoever places work on it: whether it takes new processes now
 * (`GET /readyz`, for a load balancer or a Kubernetes readiness probe) and its capacity (the [ext]
 * `capacity` member of `environment/info`, for a client pool). It also keeps the drain: once begun,
 * `process/start` is refused with `EXEC_ERR_DRAINING` while the processes already started run to
 * their end.
 *
 * Every start the server's handlers make passes through `admitStart` (refused while draining) and
 * `track` (counted from the moment it is asked for, so a start in flight when the drain begins is
 * waited for too).
 */
import { DrainingError, ErrorCodes, errorCodeOf } from '../errors.js';
import type { ExecProcess, SandboxType } from '../core/types.js';
import type { ServerCapacity } from '../rpc/wire-types.js';
import type { ServerLogger, ServerRuntime } from './runtime-port.js';

/** The answer of `GET /readyz`: 200 `ok`, or 503 with the reason. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

export interface ServerHealthOptions {
  readonly maxProcessesPerConnection: number;
  /** Not ready until a sandboxed process has run here (see `checkSandbox`). */
  readonly requireSandbox: boolean;
  readonly logger: ServerLogger;
}

type SandboxState =
  | { readonly kind: 'not required' }
  | { readonly kind: 'checking' }
  | { readonly kind: 'works' }
  | { readonly kind: 'broken'; readonly reason: string };

/** The sandbox probe: the smallest policy there is (read-only, no network), required. */
const PROBE = Object.freeze({
  processId: 'sandbox-probe',
  argv: ['/bin/true'],
  cwd: '/',
  env: {},
  sandbox: { mode: 'require' as const },
});

export class ServerHealth {
  readonly #runtime: ServerRuntime;
  readonly #options: ServerHealthOptions;
  #draining = false;
  /** Starts asked for and not yet settled. */
  #starting = 0;
  readonly #live = new Set<ExecProcess>();
  #idleWaiters: (() => void)[] = [];
  #sandbox: SandboxState;

  constructor(runtime: ServerRuntime, options: ServerHealthOptions) {
    this.#runtime = runtime;
    this.#options = options;
    this.#sandbox = options.requireSandbox ? { kind: 'checking' } : { kind: 'not required' };
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Processes started through this server that have not closed yet (starts in flight included). */
  get tracked(): number {
    return this.#starting + this.#live.size;
  }

  /** From now on `process/start` is refused with `EXEC_ERR_DRAINING` and `/readyz` answers 503. */
  beginDrain(): void {
    this.#draining = true;
  }

  /** Throws `EXEC_ERR_DRAINING` while draining; called before a start is made. */
  admitStart(): void {
    if (this.#draining) throw new DrainingError();
  }

  /** Counts a start from the moment it is asked for until its process has closed. */
  track(starting: Promise<ExecProcess>): void {
    this.#starting += 1;
    starting.then(
      (process) => {
        this.#starting -= 1;
        this.#live.add(process);
        const forget = () => {
          this.#live.delete(process);
          this.#wake();
        };
        process.closed.then(forget, forget);
      },
      () => {
        this.#starting -= 1;
        this.#wake();
      },
    );
  }

  /** Resolves once no process started through this server is starting or running. */
  idle(): Promise<void> {
    if (this.tracked === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Terminates every process still running (the end of a drain period) and waits for them to close. */
  async terminateAll(graceMs: number): Promise<void> {
    await Promise.allSettled([...this.#live].map((process) => process.terminate({ graceMs })));
    await this.idle();
  }

  /** The [ext] `capacity` member of `environment/info` (and of `initialize`'s `environmentInfo`). */
  capacity(): ServerCapacity {
    return {
      liveProcesses: this.#runtime.stats().liveProcesses,
      maxProcesses: this.#runtime.options?.maxProcesses ?? null,
      maxProcessesPerConnection: this.#options.maxProcessesPerConnection,
      accepting: this.readiness(false).ready,
    };
  }

  /** What `/readyz` answers; `closing`: the server is shutting down. */
  readiness(closing: boolean): Readiness {
    if (closing) return { ready: false, reason: 'shutting down' };
    if (this.#draining) return { ready: false, reason: 'draining' };
    if (this.#sandbox.kind === 'checking') return { ready: false, reason: 'checking the sandbox' };
    if (this.#sandbox.kind === 'broken') {
      return { ready: false, reason: `sandbox unavailable: ${this.#sandbox.reason}` };
    }
    const max = this.#runtime.options?.maxProcesses;
    const live = this.#runtime.stats().liveProcesses;
    if (max !== undefined && live >= max) {
      return { ready: false, reason: `out of capacity: ${live} of ${max} processes running` };
    }
    return { ready: true, reason: 'ok' };
  }

  /**
   * With `requireSandbox`: runs `/bin/true` under a required read-only sandbox in a session of its
   * own, once; until it has exited 0 the server is not ready. What it proves is what a sandboxed
   * start needs from this host (bwrap, the launcher, user namespaces, seccomp), checked the one way
   * that cannot disagree with a real start.
   */
  async checkSandbox(): Promise<void> {
    if (this.#sandbox.kind !== 'checking') return;
    const session = this.#runtime.session();
    let outcome: SandboxState;
    try {
      const process = await session.start(PROBE);
      const exitCode = await process.exited;
      const type: SandboxType = process.sandboxType;
      outcome =
        exitCode === 0 && type !== 'none'
          ? { kind: 'works' }
          : { kind: 'broken', reason: `a sandboxed /bin/true exited with ${exitCode} (${type})` };
    } catch (error) {
      // The server closed while checking: nothing was learnt about the sandbox.
      if (errorCodeOf(error) === ErrorCodes.CLOSED) return;
      outcome = { kind: 'broken', reason: error instanceof Error ? error.message : String(error) };
    } finally {
      await session.close().catch(() => undefined);
    }
    this.#sandbox = outcome;
    if (outcome.kind === 'broken') {
      this.#options.logger.error(
        { reason: outcome.reason },
        'the sandbox is required (--require-sandbox) and does not work here: not ready',
      );
    } else {
      this.#options.logger.info({}, 'sandbox checked: a required sandbox works here');
    }
  }

  #wake(): void {
    if (this.tracked > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
