/**
 * The runtime-wide output budget: the accounting of what logs hold, eviction of reclaimable output
 * under pressure (the appending log's own first), unacknowledged output never reclaimed but
 * released when acknowledged or dropped, and the pause rule the actors apply (`BudgetCell`).
 */
import { describe, expect, it } from 'vitest';
import { BudgetCell, FLOOR_BYTES } from '../../../src/actor/budget-cell.js';
import { OutputBudget } from '../../../src/process/output-budget.js';
import { OutputLog } from '../../../src/process/output-log.js';

const KiB = 1024;
const flowControl = { highWaterBytes: 1 << 20, lowWaterBytes: 0 };

function bytes(size: number): Uint8Array {
  return new Uint8Array(size).fill(0x61);
}

/** What a worker does before the main thread appends flow-controlled output: it counts it. */
function appendCharged(budget: OutputBudget, log: OutputLog, size: number): void {
  budget.cell.charge(size);
  log.append('stdout', bytes(size));
}

describe('OutputBudget accounting', () => {
  it('counts what every log retains, through eviction and discard', () => {
    const budget = new OutputBudget(1 << 20, 64 * KiB);
    const a = new OutputLog({ retainedBytes: 10 * KiB, budget });
    const b = new OutputLog({ retainedBytes: 10 * KiB, budget });
    a.append('stdout', bytes(4 * KiB));
    b.append('stdout', bytes(6 * KiB));
    expect(budget.retainedBytes).toBe(10 * KiB);
    a.append('stdout', bytes(8 * KiB)); // a evicts its first chunk: 8 KiB retained
    expect(a.retainedBytes).toBe(8 * KiB);
    expect(budget.retainedBytes).toBe(14 * KiB);
    b.discard();
    expect(budget.retainedBytes).toBe(8 * KiB);
    // A discarded log takes nothing more.
    b.append('stdout', bytes(KiB));
    expect(budget.retainedBytes).toBe(8 * KiB);
  });

  it('evicts the appending log’s own oldest output first when over the budget, then other logs’', () => {
    const budget = new OutputBudget(1 << 20, 64 * KiB);
    const limit = budget.limitBytes;
    const old = new OutputLog({ retainedBytes: limit, budget });
    const noisy = new OutputLog({ retainedBytes: limit, budget });
    old.append('stdout', bytes(limit / 2));
    noisy.append('stdout', bytes(limit / 2));
    expect(budget.retainedBytes).toBe(limit);
    noisy.append('stdout', bytes(limit / 4)); // over: noisy's own oldest goes
    expect(noisy.firstRetainedSeq).toBe(2);
    expect(old.firstRetainedSeq).toBe(1);
    expect(budget.retainedBytes).toBe((limit * 3) / 4);
    // A log with nothing older of its own takes from the others.
    const fresh = new OutputLog({ retainedBytes: limit, budget });
    fresh.append('stdout', bytes(limit / 2));
    expect(budget.retainedBytes).toBeLessThanOrEqual(limit);
    expect(old.firstRetainedSeq).toBe(2);
    expect(fresh.firstRetainedSeq).toBe(1);
  });

  it('never reclaims unacknowledged output, reclaims it once acknowledged', () => {
    const budget = new OutputBudget(1 << 20, 64 * KiB);
    const limit = budget.limitBytes;
    const pinned = new OutputLog({ retainedBytes: limit, flowControl, budget });
    appendCharged(budget, pinned, limit / 2);
    const other = new OutputLog({ retainedBytes: limit, budget });
    other.append('stdout', bytes(limit)); // over: other's own output is all it may take
    expect(pinned.firstRetainedSeq).toBe(1);
    expect(budget.retainedBytes).toBeLessThanOrEqual(limit);
    pinned.ack(1);
    other.append('stdout', bytes(limit / 2));
    // Acknowledged, the pinned log's output was reclaimable: the budget holds.
    expect(budget.retainedBytes).toBeLessThanOrEqual(limit);
  });

  it('releases unacknowledged bytes on acknowledgement, on discard, and for output that arrives after the close', () => {
    const budget = new OutputBudget(1 << 20, 64 * KiB);
    const log = new OutputLog({ retainedBytes: 1 << 20, flowControl, budget });
    appendCharged(budget, log, 3 * KiB);
    appendCharged(budget, log, 5 * KiB);
    expect(budget.unacknowledgedBytes).toBe(8 * KiB);
    log.ack(1);
    expect(budget.unacknowledgedBytes).toBe(5 * KiB);
    log.recordClosed();
    appendCharged(budget, log, 2 * KiB); // after the close: dropped, and released
    expect(budget.unacknowledgedBytes).toBe(5 * KiB);
    log.discard();
    expect(budget.unacknowledgedBytes).toBe(0);
    expect(budget.retainedBytes).toBe(0);
    log.ack(2); // nothing left to release twice
    expect(budget.unacknowledgedBytes).toBe(0);
  });
});

describe('BudgetCell rule', () => {
  const limit = 16 << 20;
  const cell = () => BudgetCell.create(limit, 64 * KiB);

  it('lets everyone read below the hold line', () => {
    const budget = cell();
    budget.charge(budget.holdBytes - 1);
    expect(budget.mayRead(10 * FLOOR_BYTES, false)).toBe(true);
  });

  it('pauses a process past its floor at the hold line, and one below its floor only at the stop line', () => {
    const budget = cell();
    budget.charge(budget.holdBytes);
    expect(budget.mayRead(FLOOR_BYTES, false)).toBe(false);
    expect(budget.mayRead(FLOOR_BYTES - 1, false)).toBe(true);
    budget.charge(budget.stopBytes - budget.holdBytes);
    expect(budget.mayRead(0, false)).toBe(false);
    expect(budget.stopBytes).toBeLessThanOrEqual(limit - budget.slackBytes);
  });

  it('resumes a paused process once the total is under the resume mark, or its own output under half the floor', () => {
    const budget = cell();
    budget.charge(budget.holdBytes);
    expect(budget.mayRead(FLOOR_BYTES, true)).toBe(false);
    // Its consumer acknowledged: under half the floor it goes on while the total is below the stop line.
    expect(budget.mayRead(FLOOR_BYTES / 2 - 1, true)).toBe(true);
    budget.release(budget.holdBytes - budget.resumeBytes + 1);
    expect(budget.mayRead(FLOOR_BYTES, true)).toBe(true);
  });

  it('wakes a waiting actor when a release crosses a mark, and not before', async () => {
    const budget = cell();
    budget.charge(budget.holdBytes);
    const woken = { done: false };
    void budget.waitForRelease(budget.generation).then(() => (woken.done = true));
    budget.release(1); // still above the resume mark
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken.done).toBe(false);
    budget.release(budget.holdBytes - budget.resumeBytes);
    await budget.waitForRelease(budget.generation - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken.done).toBe(true);
  });

  it('is shared, not copied, with whoever gets its init', () => {
    const budget = cell();
    const worker = new BudgetCell(budget.toInit());
    worker.charge(123);
    expect(budget.unacknowledgedBytes).toBe(123);
    budget.release(123);
    expect(worker.unacknowledgedBytes).toBe(0);
  });
});
