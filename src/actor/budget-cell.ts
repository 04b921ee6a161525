/**
 * The runtime-wide output budget as both threads see it: one SharedArrayBuffer, shared by the
 * Supervisor and every process actor. Imported by both threads, like `messages.ts`.
 *
 * It holds the bytes of flow-controlled output not yet acknowledged: a worker adds what it posts
 * (so nothing a dying worker had not sent is ever counted), the main thread takes off what a
 * consumer acknowledged or what left with a dropped log. An actor checks it after every read of its
 * child, so the runtime-wide bound does not wait for a round trip either.
 *
 * The rule: an actor pauses its child once the total reaches `holdBytes` and the child's own
 * unacknowledged output is at least `FLOOR_BYTES`, and reads again once the total is under
 * `resumeBytes` or its own output is under half the floor. `holdBytes` keeps back, for every
 * flow-controlled process, the floor and one read past it, so that the total stays within the
 * budget (unless there are so many processes that their floors alone exceed it). The floor means
 * a process whose consumer acknowledges always moves on: nothing waits on another process's
 * consumer. It also holds a generation word that paused actors wait on (`Atomics.waitAsync`) to
 * hear that memory was freed.
 */

/** Every flow-controlled process may hold this much unacknowledged output, budget or not. */
export const FLOOR_BYTES = 64 * 1024;
/** What a process may read past a check: one pipe read. */
const READ_BYTES = 64 * 1024;

/** BigInt64 slot 0: unacknowledged bytes. Int32 slots after it: */
const GENERATION = 2;
const FLOW_PROCESSES = 3;
const BYTES = 16;

export interface BudgetCellInit {
  readonly buffer: SharedArrayBuffer;
  readonly limitBytes: number;
}

export class BudgetCell {
  readonly buffer: SharedArrayBuffer;
  readonly limitBytes: number;
  readonly #bytes: BigInt64Array;
  readonly #words: Int32Array;

  constructor(init: BudgetCellInit) {
    this.buffer = init.buffer;
    this.limitBytes = init.limitBytes;
    this.#bytes = new BigInt64Array(init.buffer, 0, 1);
    this.#words = new Int32Array(init.buffer);
  }

  static create(limitBytes: number): BudgetCell {
    return new BudgetCell({ buffer: new SharedArrayBuffer(BYTES), limitBytes });
  }

  /** What to send a worker: the buffer is shared, not copied. */
  toInit(): BudgetCellInit {
    return { buffer: this.buffer, limitBytes: this.limitBytes };
  }

  /** Unacknowledged flow-controlled output, in flight or held in logs. */
  get unacknowledgedBytes(): number {
    return Number(Atomics.load(this.#bytes, 0));
  }

  /** Worker: `bytes` of flow-controlled output were posted to the main thread. */
  charge(bytes: number): void {
    Atomics.add(this.#bytes, 0, BigInt(bytes));
  }

  /** Main thread: `bytes` were acknowledged or dropped. Wakes paused producers below the mark. */
  release(bytes: number): void {
    const before = Number(Atomics.sub(this.#bytes, 0, BigInt(bytes)));
    const mark = this.resumeBytes;
    if (before >= mark && before - bytes < mark) this.#wake();
  }

  /** Main thread: a flow-controlled process started (+1) or closed (-1, which may lower the bar). */
  addFlowProcess(delta: number): void {
    Atomics.add(this.#words, FLOW_PROCESSES, delta);
    if (delta < 0) this.#wake();
  }

  /** Producers over their floor pause once the unacknowledged total reaches this. */
  get holdBytes(): number {
    const processes = Atomics.load(this.#words, FLOW_PROCESSES);
    return Math.max(0, this.limitBytes - processes * (FLOOR_BYTES + READ_BYTES));
  }

  /** Paused producers resume once the unacknowledged total falls below this. */
  get resumeBytes(): number {
    return Math.floor((this.holdBytes * 3) / 4);
  }

  /** Read before checking the total, then passed to `waitForRelease`, so no release is missed. */
  get generation(): number {
    return Atomics.load(this.#words, GENERATION);
  }

  /** Resolves once a release crossed the resume mark after `generation` was read. */
  waitForRelease(generation: number): Promise<void> {
    const result = Atomics.waitAsync(this.#words, GENERATION, generation);
    return result.async ? result.value.then(() => undefined) : Promise.resolve();
  }

  #wake(): void {
    Atomics.add(this.#words, GENERATION, 1);
    Atomics.notify(this.#words, GENERATION);
  }
}
