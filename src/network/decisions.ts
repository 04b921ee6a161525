/**
 * Decision reporting: the `network/policyDecision` record for each policy step, the counters by
 * decision and reason that the metrics code reads, and the bounded list of a process's denials.
 */
import type { NetworkPolicyDecision, NetworkProtocol } from '../core/types.js';
import type { PolicyStep } from './policy.js';

export interface DecisionContext {
  readonly processId: string;
  readonly protocol: NetworkProtocol;
  readonly host: string;
  readonly port: number;
  /** Null for SOCKS5: the member is then absent, as in the reference. */
  readonly method: string | null;
  /** The client's address (`127.0.0.1:54260`) when known. */
  readonly client: string | null;
  readonly nowMs: number;
}

/** One record per step, with the member order of the reference's notification. */
export function decisionRecord(step: PolicyStep, context: DecisionContext): NetworkPolicyDecision {
  const record: {
    -readonly [K in keyof NetworkPolicyDecision]: NetworkPolicyDecision[K];
  } = {
    processId: context.processId,
    timestamp: new Date(context.nowMs).toISOString(),
    scope: step.scope,
    decision: step.decision,
    source: step.source,
    reason: step.reason,
    protocol: context.protocol,
    host: context.host,
    port: context.port,
    policyOverride: false,
  };
  // Rebuilt so optional members sit where the reference puts them (before policyOverride).
  if (context.method === null && context.client === null) return record;
  const { policyOverride, ...rest } = record;
  return {
    ...rest,
    ...(context.method === null ? {} : { method: context.method }),
    ...(context.client === null ? {} : { client: context.client }),
    policyOverride,
  };
}

/** A counter the metrics code can read: one series per (decision, reason). */
export interface DecisionCount {
  readonly decision: 'allow' | 'deny';
  readonly reason: string;
  readonly count: number;
}

/**
 * Counts of decisions by decision and reason. The metrics code (Prometheus or otherwise) reads
 * `snapshot()` at scrape time, or listens with `onRecord` to keep its own counter in step.
 */
export interface NetworkDecisionMetrics {
  snapshot(): readonly DecisionCount[];
  /** Called once per recorded decision; returns the function that stops it. */
  onRecord(listener: (decision: 'allow' | 'deny', reason: string) => void): () => void;
}

export class DecisionCounters implements NetworkDecisionMetrics {
  readonly #counts = new Map<string, { decision: 'allow' | 'deny'; reason: string; count: number }>();
  readonly #listeners = new Set<(decision: 'allow' | 'deny', reason: string) => void>();

  record(decision: 'allow' | 'deny', reason: string): void {
    const key = `${decision}\u0000${reason}`;
    const entry = this.#counts.get(key);
    if (entry === undefined) this.#counts.set(key, { decision, reason, count: 1 });
    else entry.count++;
    for (const listener of this.#listeners) listener(decision, reason);
  }

  snapshot(): readonly DecisionCount[] {
    return [...this.#counts.values()]
      .map((entry) => ({ ...entry }))
      .sort((a, b) => a.decision.localeCompare(b.decision) || a.reason.localeCompare(b.reason));
  }

  onRecord(listener: (decision: 'allow' | 'deny', reason: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The most recent denials of one process, oldest dropped first, and how many there were. */
export class DenialLog {
  readonly #limit: number;
  #entries: NetworkPolicyDecision[] = [];
  #total = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(record: NetworkPolicyDecision): void {
    if (record.decision !== 'deny') return;
    this.#total++;
    if (this.#limit === 0) return;
    this.#entries.push(record);
    if (this.#entries.length > this.#limit) this.#entries = this.#entries.slice(-this.#limit);
  }

  get total(): number {
    return this.#total;
  }

  entries(): readonly NetworkPolicyDecision[] {
    return [...this.#entries];
  }
}
