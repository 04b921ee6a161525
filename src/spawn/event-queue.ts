/**
 * The worker's outbox: every actor's events for one turn of the event loop go out as a single
 * message. Output is coalesced per actor into one buffer per batch, in arrival order across streams;
 * an actor's other events (exit, close) are queued behind its pending output. The batch is flushed
 * at the end of the turn (setImmediate runs right after the poll phase that delivered the reads), or
 * at once when one actor's pending output reaches its size limit.
 */
import type { ActorEvent, ActorEventBatch, AddressedEvent } from '../protocol/process-actor.js';
import type { OutputStream } from '../runtime/types.js';

interface PendingOutput {
  parts: Buffer[];
  segments: [OutputStream, number][];
  bytes: number;
  /** Index of this output's slot in the batch. */
  slot: number;
}

export class EventQueue {
  readonly #post: (batch: ActorEventBatch, transfer: ArrayBuffer[]) => void;
  #slots: (AddressedEvent | (PendingOutput & { actorId: number }))[] = [];
  #open = new Map<number, PendingOutput>();
  #scheduled: NodeJS.Immediate | null = null;

  constructor(post: (batch: ActorEventBatch, transfer: ArrayBuffer[]) => void) {
    this.#post = post;
  }

  output(actorId: number, stream: OutputStream, data: Buffer, limit: number): void {
    const size = data.byteLength;
    if (size === 0) return;
    let pending = this.#open.get(actorId);
    if (pending === undefined) {
      pending = { parts: [], segments: [], bytes: 0, slot: this.#slots.length };
      this.#slots.push(Object.assign(pending, { actorId }));
      this.#open.set(actorId, pending);
    }
    const last = pending.segments[pending.segments.length - 1];
    if (last !== undefined && last[0] === stream) last[1] += size;
    else pending.segments.push([stream, size]);
    pending.parts.push(data);
    pending.bytes += size;
    if (pending.bytes >= limit) this.flush();
    else this.#schedule();
  }

  /** Queues a non-output event behind the actor's pending output. */
  event(actorId: number, event: ActorEvent): void {
    // Later output of this actor must start a new slot, after this event.
    this.#open.delete(actorId);
    this.#slots.push({ ...event, actorId });
    this.#schedule();
  }

  flush(): void {
    if (this.#scheduled !== null) {
      clearImmediate(this.#scheduled);
      this.#scheduled = null;
    }
    if (this.#slots.length === 0) return;
    const transfer: ArrayBuffer[] = [];
    const events = this.#slots.map((slot): AddressedEvent => {
      if (!('parts' in slot)) return slot;
      const data = concatOwned(slot.parts, slot.bytes);
      transfer.push(data.buffer as ArrayBuffer);
      return { type: 'output', actorId: slot.actorId, data, segments: slot.segments };
    });
    this.#slots = [];
    this.#open.clear();
    this.#post({ type: 'batch', events }, transfer);
  }

  #schedule(): void {
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = null;
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
