/**
 * Managed-network decisions on a process: interleaved on `activity$` without a seq of their own
 * (output seqs stay dense, `events$` is unchanged), denials kept for `info()`.
 */
import { describe, expect, it } from 'vitest';
import type { ActorEvent, ProcessControl } from '../../../src/actor/messages.js';
import type { NetworkPolicyDecision, ProcessActivity } from '../../../src/core/types.js';
import { ProcessHandle } from '../../../src/process/process-handle.js';

const control: ProcessControl = {
  write: () => Promise.resolve('accepted'),
  closeStdin: () => Promise.resolve(),
  resize: () => Promise.resolve(),
  signal: () => Promise.resolve(true),
  terminate: () => Promise.resolve(true),
  acknowledge: () => Promise.resolve(),
};

function runningHandle(retainedBytes = 1 << 20) {
  const handle = new ProcessHandle({
    processId: 'p1',
    tty: false,
    retainedBytes,
    flowControl: null,
    now: () => 0,
  });
  handle.markRunning(4242, 'none', 1, control, () => undefined);
  return handle;
}

function output(text: string): ActorEvent {
  const data = new TextEncoder().encode(text);
  return { type: 'output', data, segments: [['stdout', data.byteLength]] };
}

function decision(host: string, verdict: 'allow' | 'deny'): NetworkPolicyDecision {
  return {
    processId: 'p1',
    timestamp: '2026-01-01T00:00:00.000Z',
    scope: 'domain',
    decision: verdict,
    source: 'baseline_policy',
    reason: verdict === 'allow' ? 'allow' : 'not_allowed',
    protocol: 'http',
    host,
    port: 80,
    method: 'GET',
    policyOverride: false,
  };
}

const shape = (event: ProcessActivity) =>
  event.type === 'network'
    ? `net(${event.decision.host}@${event.afterSeq})`
    : event.type === 'output'
      ? `out#${event.seq}(${new TextDecoder().decode(event.chunk)})`
      : `${event.type}#${event.seq}`;

function collect(handle: ProcessHandle) {
  const seen: string[] = [];
  let complete = false;
  const subscription = handle.activity$.subscribe({
    next: (event) => seen.push(shape(event)),
    complete: () => (complete = true),
  });
  return { seen, isComplete: () => complete, subscription };
}

describe('network decisions of a process', () => {
  it('interleave live with output, without taking a seq', () => {
    const handle = runningHandle();
    const live = collect(handle);
    const plainSeqs: number[] = [];
    handle.events$.subscribe((event) => plainSeqs.push(event.seq));
    handle.applyEvent(output('a'));
    handle.recordNetworkDecision(decision('x.example', 'deny'));
    handle.applyEvent(output('b'));
    handle.applyEvent({ type: 'exited', exitCode: 1 });
    handle.recordNetworkDecision(decision('y.example', 'allow'));
    handle.applyEvent({ type: 'closed' });
    expect(live.seen).toEqual([
      'out#1(a)',
      'net(x.example@1)',
      'out#2(b)',
      'exited#3',
      'net(y.example@3)',
      'closed#4',
    ]);
    expect(live.isComplete()).toBe(true);
    expect(plainSeqs).toEqual([1, 2, 3, 4]);
  });

  it('replay in place for a late subscriber, open or closed', () => {
    const handle = runningHandle();
    handle.recordNetworkDecision(decision('first.example', 'deny'));
    handle.applyEvent(output('a'));
    handle.applyEvent(output('b'));
    handle.recordNetworkDecision(decision('second.example', 'allow'));
    const open = collect(handle);
    expect(open.seen).toEqual(['net(first.example@0)', 'out#1(a)', 'out#2(b)', 'net(second.example@2)']);
    handle.applyEvent({ type: 'exited', exitCode: 0 });
    handle.applyEvent({ type: 'closed' });
    const late = collect(handle);
    expect(late.seen).toEqual([
      'net(first.example@0)',
      'out#1(a)',
      'out#2(b)',
      'net(second.example@2)',
      'exited#3',
      'closed#4',
    ]);
    expect(late.isComplete()).toBe(true);
  });

  it('come before the retained output when their output was evicted', () => {
    const handle = runningHandle(2);
    handle.applyEvent(output('aa'));
    handle.recordNetworkDecision(decision('x.example', 'deny'));
    handle.applyEvent(output('bb'));
    expect(collect(handle).seen).toEqual(['net(x.example@1)', 'out#2(bb)']);
  });

  it('after the close reach info() only', () => {
    const handle = runningHandle();
    handle.applyEvent({ type: 'exited', exitCode: 0 });
    handle.applyEvent({ type: 'closed' });
    handle.recordNetworkDecision(decision('late.example', 'deny'));
    expect(collect(handle).seen).toEqual(['exited#1', 'closed#2']);
    expect(handle.info().networkDenials?.map((entry) => entry.host)).toEqual(['late.example']);
  });

  it('keep the most recent denials for info(), and count them all', () => {
    const handle = runningHandle();
    expect(handle.info().networkDenials).toBeUndefined();
    handle.useManagedNetwork();
    expect(handle.info().networkDenials).toEqual([]);
    for (let index = 0; index < 70; index++)
      handle.recordNetworkDecision(decision(`h${index}.example`, 'deny'));
    handle.recordNetworkDecision(decision('ok.example', 'allow'));
    const denials = handle.info().networkDenials!;
    expect(denials).toHaveLength(64);
    expect(denials[0]!.host).toBe('h6.example');
    expect(denials[63]!.host).toBe('h69.example');
    expect(handle.networkDenialsTotal).toBe(70);
  });

  it('replay a bounded number of decisions', () => {
    const handle = runningHandle();
    for (let index = 0; index < 300; index++)
      handle.recordNetworkDecision(decision(`h${index}.example`, 'allow'));
    const seen = collect(handle).seen;
    expect(seen).toHaveLength(256);
    expect(seen[0]).toBe('net(h44.example@0)');
  });

  it('an unsubscribed activity$ stops both sources', () => {
    const handle = runningHandle();
    const { seen, subscription } = collect(handle);
    subscription.unsubscribe();
    handle.applyEvent(output('a'));
    handle.recordNetworkDecision(decision('x.example', 'deny'));
    expect(seen).toEqual([]);
  });
});
