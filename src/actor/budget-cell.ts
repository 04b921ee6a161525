/**
 * The runtime-wide output budget as both threads see it: one SharedArrayBuffer, shared by the
 * Supervisor and every process actor. Imported by both threads, like `messages.ts`.
 *
 * It holds the bytes of flow-controlled output not yet acknowledged: a worker adds what it posts
 * (so nothing a dying worker had not sent is ever counted), the main thread takes off what a
 * consumer acknowledged or what left with a dropped log. An actor checks it after every read of its
 * child, so the runtime-wide bound does not wait for a round trip either.
 *
 * The rule, for the actor of each flow-controlled process (`mayRead`):
 * - once the total reaches `holdBytes` (three quarters of the budget) a process whose own
 *   unacknowledged output is at least `FLOOR_BYTES` pauses, until the total is back under
 *   `resumeBytes` or its own output under half the floor;
 * - a process below the floor goes on into the last quarter, kept for such processes, and pauses
 *   only at `stopBytes` (the budget less what may not show in the total yet: one read and one
 *   unsent batch), until the total is back a step below that.
 * So a process whose consumer acknowledges moves on even while other consumers pin the rest of the
 * budget: nothing waits on another process's consumer. The total can pass the budget only by what
 * processes reading at the same instant read past their check (a read each).
 *
 * A generation word lets paused actors wait (`Atomics.waitAsync`) to hear that memory was freed.
 */

/** A flow-controlled process below this much unacknowledged output is not paused at `holdBytes`. */
export const FLOOR_BYTES = 64 * 1024;
/** The largest read of a flow-controlled process under a budget of `limitBytes` (see `budgetReadBytes`). */
const READ_DIVISOR = 64;
const MAX_READ_BYTES = 1 << 20;

/**
 * What a flow-controlled process may read past a check: its reads are kept to a 64th of the budget
 * (and 1 MiB), so that processes passing the marks by a read each before they pause take little of
 * the quarter kept for processes whose consumers acknowledge. Terminal reads are smaller still.
 */
export function budgetReadBytes(limitBytes: number): number {
  return Math.min(MAX_READ_BYTES, Math.floor(limitBytes / READ_DIVISOR));
}

/** BigInt64 slot 0: unacknowledged bytes; then the Int32 generation word. */
const GENERATION = 2;
const BYTES = 16;

export interface BudgetCellInit {
  readonly buffer: SharedArrayBuffer;
  readonly limitBytes: number;
  /** Output a process may produce that the total does not show yet: a read and an unsent batch. */
  readonly slackBytes: number;
}

export class BudgetCell {
  readonly buffer: SharedArrayBuffer;
  readonly limitBytes: number;
  readonly slackBytes: number;
  /** Processes past their floor pause here. */
  readonly holdBytes: number;
  /** ...and resume below this. */
  readonly resumeBytes: number;
  /** Every process pauses here. */
  readonly stopBytes: number;
  /** ...and resumes below this. */
  readonly restartBytes: number;
  readonly #bytes: BigInt64Array;
  readonly #words: Int32Array;

  constructor(init: BudgetCellInit) {
    this.buffer = init.buffer;
    this.limitBytes = init.limitBytes;
    this.slackBytes = init.slackBytes;
    this.holdBytes = Math.floor((init.limitBytes * 3) / 4);
    this.resumeBytes = Math.floor((this.holdBytes * 3) / 4);
    this.stopBytes = Math.max(this.holdBytes, init.limitBytes - init.slackBytes);
    this.restartBytes = Math.max(this.resumeBytes, this.stopBytes - init.slackBytes);
    this.#bytes = new BigInt64Array(init.buffer, 0, 1);
    this.#words = new Int32Array(init.buffer);
  }

  /** `batchBytes`: the most output a worker holds for a process before it sends it. */
  static create(limitBytes: number, batchBytes: number): BudgetCell {
    const slackBytes = budgetReadBytes(limitBytes) + batchBytes;
    return new BudgetCell({ buffer: new SharedArrayBuffer(BYTES), limitBytes, slackBytes });
  }

  /** What to send a worker: the buffer is shared, not copied. */
  toInit(): BudgetCellInit {
    return { buffer: this.buffer, limitBytes: this.limitBytes, slackBytes: this.slackBytes };
  }

  /** Unacknowledged flow-controlled output, in flight or held in logs. */
  get unacknowledgedBytes(): number {
    return Number(Atomics.load(this.#bytes, 0));
  }

  /** Worker: `bytes` of flow-controlled output were posted to the main thread. */
  charge(bytes: number): void {
    Atomics.add(this.#bytes, 0, BigInt(bytes));
  }

  /** Main thread: `bytes` were acknowledged or dropped. Wakes paused producers below a mark. */
  release(bytes: number): void {
    const before = Number(Atomics.sub(this.#bytes, 0, BigInt(bytes)));
    const after = before - bytes;
    if (crossed(before, after, this.restartBytes) || crossed(before, after, this.resumeBytes)) {
      Atomics.add(this.#words, GENERATION, 1);
      Atomics.notify(this.#words, GENERATION);
    }
  }

  /**
   * Whether a process with `own` unacknowledged bytes may read on, given whether it is paused by
   * the budget now (the hysteresis of the rule above).
   */
  mayRead(own: number, paused: boolean): boolean {
    const total = this.unacknowledgedBytes;
    if (!paused) return total < this.stopBytes && (total < this.holdBytes || own < FLOOR_BYTES);
    return own < FLOOR_BYTES / 2 ? total < this.restartBytes : total < this.resumeBytes;
  }

  /** Read before checking the total, then passed to `waitForRelease`, so no release is missed. */
  get generation(): number {
    return Atomics.load(this.#words, GENERATION);
  }

  /** Resolves once a release crossed a mark after `generation` was read. */
  waitForRelease(generation: number): Promise<void> {
    const result = Atomics.waitAsync(this.#words, GENERATION, generation);
    return result.async ? result.value.then(() => undefined) : Promise.resolve();
  }
}

function crossed(before: number, after: number, mark: number): boolean {
  return before >= mark && after < mark;
}
