/**
 * The worker's outbox: every actor's events for one turn of the event loop go out as a single
 * message. Output is coalesced per actor into one buffer per batch, in arrival order across streams;
 * an actor's other events (exit, close) are queued behind its pending output. The batch is flushed
 * at the end of the turn (setImmediate runs right after the poll phase that delivered the reads), or
 * at once when one actor's pending output reaches its size limit.
 *
 * While output streams (at least half a terminal read is pending and the previous flush was under
 * a millisecond ago) the end-of-turn flush waits one more millisecond so that several reads share a
 * message: a terminal delivers at most 4 KiB a read, and posting a message per read keeps the
 * worker away from the terminal long enough to stall its writer. A first read after a quiet spell,
 * small output (an echoed line) and anything with an exit or a close go out at the end of the
 * turn, so interactive latency does not pay for it.
 */
import type { BudgetCell } from './budget-cell.js';
import type { ActorEvent, ActorEventBatch, AddressedEvent } from './messages.js';
import type { OutputStream } from '../core/types.js';

/** Streaming: hold a batch of at least half a terminal read for this long after the previous flush. */
const HOLD_MS = 1;
const HOLD_MIN_BYTES = 2048;

interface PendingOutput {
  parts: Buffer[];
  segments: [OutputStream, number][];
  bytes: number;
  /** Index of this output's slot in the batch. */
  slot: number;
  /** Flow-controlled output counts against the runtime's budget once it is posted. */
  budget: BudgetCell | null;
}

export class EventQueue {
  readonly #post: (batch: ActorEventBatch, transfer: ArrayBuffer[]) => void;
  #slots: (AddressedEvent | (PendingOutput & { actorId: number }))[] = [];
  #open = new Map<number, PendingOutput>();
  #scheduled: NodeJS.Immediate | null = null;
  #held: NodeJS.Timeout | null = null;
  #pendingBytes = 0;
  #pendingLifecycle = false;
  #lastFlushAt = 0;

  constructor(post: (batch: ActorEventBatch, transfer: ArrayBuffer[]) => void) {
    this.#post = post;
  }

  output(
    actorId: number,
    stream: OutputStream,
    data: Buffer,
    limit: number,
    budget: BudgetCell | null = null,
  ): void {
    const size = data.byteLength;
    if (size === 0) return;
    let pending = this.#open.get(actorId);
    if (pending === undefined) {
      pending = { parts: [], segments: [], bytes: 0, slot: this.#slots.length, budget };
      this.#slots.push(Object.assign(pending, { actorId }));
      this.#open.set(actorId, pending);
    }
    const last = pending.segments[pending.segments.length - 1];
    if (last !== undefined && last[0] === stream) last[1] += size;
    else pending.segments.push([stream, size]);
    pending.parts.push(data);
    pending.bytes += size;
    this.#pendingBytes += size;
    if (pending.bytes >= limit) this.flush();
    else this.#schedule();
  }

  /** Queues a non-output event behind the actor's pending output. */
  event(actorId: number, event: ActorEvent): void {
    // Later output of this actor must start a new slot, after this event.
    this.#open.delete(actorId);
    this.#slots.push({ ...event, actorId });
    this.#pendingLifecycle = true;
    this.#schedule();
  }

  /**
   * Queues a status event that only counts (a flow-control pause or resume): unlike `event`, it
   * neither closes the actor's output slot nor hurries the batch, so a producer crossing its
   * window's marks over and over still sends one output message per batch. Its order relative to
   * the actor's output is not kept.
   */
  status(actorId: number, event: ActorEvent): void {
    this.#slots.push({ ...event, actorId });
    this.#schedule();
  }

  flush(): void {
    if (this.#scheduled !== null) {
      clearImmediate(this.#scheduled);
      this.#scheduled = null;
    }
    if (this.#held !== null) {
      clearTimeout(this.#held);
      this.#held = null;
    }
    if (this.#slots.length === 0) return;
    this.#pendingBytes = 0;
    this.#pendingLifecycle = false;
    this.#lastFlushAt = performance.now();
    const transfer: ArrayBuffer[] = [];
    const events = this.#slots.map((slot): AddressedEvent => {
      if (!('parts' in slot)) return slot;
      const data = concatOwned(slot.parts, slot.bytes);
      transfer.push(data.buffer as ArrayBuffer);
      if (slot.budget === null)
        return { type: 'output', actorId: slot.actorId, data, segments: slot.segments };
      // Counted before it is sent, so the main thread never releases what was not yet counted.
      slot.budget.charge(slot.bytes);
      return { type: 'output', actorId: slot.actorId, data, segments: slot.segments, charged: true };
    });
    this.#slots = [];
    this.#open.clear();
    this.#post({ type: 'batch', events }, transfer);
  }

  #schedule(): void {
    if (this.#held !== null && !this.#pendingLifecycle) return;
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = null;
      if (
        this.#pendingBytes >= HOLD_MIN_BYTES &&
        !this.#pendingLifecycle &&
        performance.now() - this.#lastFlushAt < HOLD_MS
      ) {
        this.#held ??= setTimeout(() => {
          this.#held = null;
          this.flush();
        }, HOLD_MS);
        return;
      }
      this.flush();
    });
  }
}

/** The bytes of `parts` in one buffer that owns its whole ArrayBuffer (so it can be transferred). */
function concatOwned(parts: Buffer[], bytes: number): Uint8Array {
  const only = parts.length === 1 ? parts[0]! : undefined;
  // A read buffer that owns its whole ArrayBuffer goes as it is: no copy.
  if (only !== undefined && only.byteOffset === 0 && only.byteLength === only.buffer.byteLength) {
    return new Uint8Array(only.buffer, 0, only.byteLength);
  }
  const out = new Uint8Array(bytes);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
