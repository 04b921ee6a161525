/**
 * The managed network of one runtime: its proxy, started by the first start that needs it (a
 * runtime that never uses it binds nothing) and stopped with the runtime; the decision counters,
 * which outlive any one proxy; and the ports no process may reach through it (the server's).
 */
import { ClosedError, SandboxError } from '../errors.js';
import { DecisionCounters, type NetworkDecisionMetrics } from './decisions.js';
import {
  checkNetworkProxyOptions,
  NetworkProxy,
  type NetworkProxyOptions,
  type ProxyLease,
  type ProxyRegistration,
} from './proxy.js';

/** A lease and the socket its bridge reaches the proxy at (a path on this host). */
export interface RuntimeLease {
  readonly lease: ProxyLease;
  readonly socketPath: string;
}

interface Protection {
  readonly port: number;
  lift: (() => void) | null;
}

export class RuntimeNetwork {
  readonly #options: NetworkProxyOptions & { readonly counters: DecisionCounters };
  readonly #counters = new DecisionCounters();
  readonly #protections = new Set<Protection>();
  #proxy: Promise<NetworkProxy> | null = null;
  #closed = false;

  /** Checks `options` now (coded errors naming the field); nothing starts before it is needed. */
  constructor(options: NetworkProxyOptions = {}) {
    checkNetworkProxyOptions(options);
    this.#options = { ...options, counters: this.#counters };
  }

  /** Decisions by decision and reason since the runtime started (for the metrics endpoint). */
  get metrics(): NetworkDecisionMetrics {
    return this.#counters;
  }

  /** Whether the proxy has been started (by a start that needed it). */
  get started(): boolean {
    return this.#proxy !== null;
  }

  /**
   * `port` on a loopback or unspecified address is never a destination (the server's own listen
   * port), from now on and for a proxy started later. Returns the function that lifts it.
   */
  protectPort(port: number): () => void {
    const protection: Protection = { port, lift: null };
    this.#protections.add(protection);
    void this.#proxy?.then(
      (proxy) => {
        if (this.#protections.has(protection)) protection.lift = proxy.protectPort(port);
      },
      () => undefined,
    );
    return () => {
      if (!this.#protections.delete(protection)) return;
      protection.lift?.();
    };
  }

  /** Registers a process with the proxy, starting the proxy first if this is its first user. */
  async register(registration: ProxyRegistration): Promise<RuntimeLease> {
    if (this.#closed) throw new ClosedError();
    const proxy = await this.#start();
    if (this.#closed) throw new ClosedError();
    return { lease: proxy.register(registration), socketPath: proxy.socketPath };
  }

  /** Stops the proxy (every lease and connection with it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const proxy = await this.#proxy?.catch(() => null);
    await proxy?.close();
  }

  #start(): Promise<NetworkProxy> {
    if (this.#proxy === null) {
      const starting = NetworkProxy.start(this.#options).then(
        (proxy) => {
          for (const protection of this.#protections) protection.lift = proxy.protectPort(protection.port);
          return proxy;
        },
        (error: unknown) => {
          // The next start tries again.
          if (this.#proxy === starting) this.#proxy = null;
          throw new SandboxError(
            `the managed network proxy could not start: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        },
      );
      this.#proxy = starting;
    }
    return this.#proxy;
  }
}
