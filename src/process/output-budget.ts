/**
 * The runtime-wide output budget on the main thread: one bound on the output all OutputLogs hold
 * (retained output, unacknowledged output among it) plus flow-controlled output in flight from the
 * workers. Past it, producers are paused, never memory grown:
 *
 * - a flow-controlled process's actor pauses reading its child as the unacknowledged total nears
 *   the budget, and resumes once acknowledgements bring it down; a quarter of the budget is kept
 *   for processes with less than 64 KiB unacknowledged, so a process whose consumer acknowledges
 *   always moves on: nothing waits on another process's consumer (see `BudgetCell`);
 * - output nobody pins (of processes without flow control, and flow-controlled output already
 *   acknowledged) is reclaimable: an append that takes the retained total over the budget evicts
 *   the appending log's own oldest reclaimable output first, then other logs', so the total does not
 *   grow past the budget by more than what is pinned.
 */
import { BudgetCell } from '../actor/budget-cell.js';

/** A log whose output the budget may take back under pressure. */
export interface Reclaimable {
  /** Evicts reclaimable output, oldest first, until `bytes` are freed or none is left; returns bytes freed. */
  reclaim(bytes: number): number;
}

export class OutputBudget {
  readonly cell: BudgetCell;
  readonly limitBytes: number;
  #retained = 0;
  /** Logs holding reclaimable output, in the order they came to hold it. */
  readonly #reclaimable = new Set<Reclaimable>();

  /** `batchBytes`: the runtime's `batchBytes` (output a worker may hold before sending it). */
  constructor(limitBytes: number, batchBytes: number) {
    this.cell = BudgetCell.create(limitBytes, batchBytes);
    this.limitBytes = limitBytes;
  }

  /** Output held in logs, retained and unacknowledged. */
  get retainedBytes(): number {
    return this.#retained;
  }

  /** Unacknowledged flow-controlled output, in flight from the workers or held in logs. */
  get unacknowledgedBytes(): number {
    return this.cell.unacknowledgedBytes;
  }

  /** Retained bytes past the budget (0 when within it). */
  get excessBytes(): number {
    return Math.max(0, this.#retained - this.limitBytes);
  }

  /** `bytes` more are retained; true when that takes the total over the budget. */
  retain(bytes: number): boolean {
    return (this.#retained += bytes) > this.limitBytes;
  }

  free(bytes: number): void {
    this.#retained -= bytes;
  }

  releaseUnacknowledged(bytes: number): void {
    if (bytes > 0) this.cell.release(bytes);
  }

  markReclaimable(log: Reclaimable, reclaimable: boolean): void {
    if (reclaimable) this.#reclaimable.add(log);
    else this.#reclaimable.delete(log);
  }

  /** Over the budget after `except` reclaimed its own: takes reclaimable output from other logs. */
  relieve(except: Reclaimable): void {
    for (const log of this.#reclaimable) {
      if (this.excessBytes === 0) return;
      if (log !== except) log.reclaim(this.excessBytes);
    }
  }
}
