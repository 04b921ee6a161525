import { describe, expect, it } from 'vitest';
import type { ActorEventBatch } from '../../../src/actor/messages.js';
import { EventQueue } from '../../../src/actor/event-queue.js';

function queueWithBatches(): { queue: EventQueue; batches: ActorEventBatch[] } {
  const batches: ActorEventBatch[] = [];
  return { queue: new EventQueue((batch) => batches.push(batch)), batches };
}

const types = (batch: ActorEventBatch) => batch.events.map((event) => event.type);

describe('EventQueue', () => {
  it('keeps one output message per batch across flow-control status events', () => {
    const { queue, batches } = queueWithBatches();
    queue.output(1, 'stdout', Buffer.from('a'), 1 << 20);
    queue.status(1, { type: 'flow', paused: true });
    queue.output(1, 'stdout', Buffer.from('b'), 1 << 20);
    queue.status(1, { type: 'flow', paused: false });
    queue.output(1, 'stdout', Buffer.from('c'), 1 << 20);
    queue.flush();
    expect(batches).toHaveLength(1);
    expect(types(batches[0]!)).toEqual(['output', 'flow', 'flow']);
  });

  it('starts a new output slot after a lifecycle event, keeping output and the event in order', () => {
    const { queue, batches } = queueWithBatches();
    queue.output(1, 'stdout', Buffer.from('a'), 1 << 20);
    queue.event(1, { type: 'exited', exitCode: 0 });
    queue.output(1, 'stdout', Buffer.from('b'), 1 << 20);
    queue.flush();
    expect(types(batches[0]!)).toEqual(['output', 'exited', 'output']);
  });
});
