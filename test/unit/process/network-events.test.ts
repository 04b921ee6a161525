/**
 * Managed-network decisions on a process: interleaved on `events$` without a seq of their own
 * (output seqs stay dense, `read` never returns them), on the runtime's log and on a client's
 * follower log alike; denials kept for `info()`; `sandboxDenied` on reads and on the exit.
 */
import { describe, expect, it } from 'vitest';
import type { ActorEvent, ProcessControl } from '../../../src/actor/messages.js';
import type { NetworkPolicyDecision, ProcessActivity } from '../../../src/core/types.js';
import { OutputLog } from '../../../src/process/output-log.js';
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
  const subscription = handle.events$.subscribe({
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
    const ordinals: number[] = [];
    handle.events$.subscribe((event) => {
      if (event.type === 'network') ordinals.push(event.ordinal);
      else plainSeqs.push(event.seq);
    });
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
    expect(ordinals).toEqual([1, 2]);
  });

  it('are never returned by read: its seqs stay dense', async () => {
    const handle = runningHandle();
    handle.applyEvent(output('a'));
    handle.recordNetworkDecision(decision('x.example', 'deny'));
    handle.applyEvent(output('b'));
    const read = await handle.read();
    expect(read.chunks.map((chunk) => chunk.seq)).toEqual([1, 2]);
    expect(read.nextSeq).toBe(3);
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

  it('an unsubscribed events$ gets nothing more', () => {
    const handle = runningHandle();
    const { seen, subscription } = collect(handle);
    subscription.unsubscribe();
    handle.applyEvent(output('a'));
    handle.recordNetworkDecision(decision('x.example', 'deny'));
    expect(seen).toEqual([]);
  });
});

describe('network decisions on a follower log (the client side)', () => {
  const follower = () =>
    new OutputLog({
      retainedBytes: 1 << 20,
      // Never asked in these cases: every seq arrives in order.
      catchUpRead: () => Promise.reject(new Error('no catch-up expected')),
    });
  const out = (seq: number, text: string) =>
    ({ type: 'output', seq, stream: 'stdout', chunk: new TextEncoder().encode(text) }) as const;

  it('places a decision after the output notified before it, live and on replay', () => {
    const log = follower();
    const seen: string[] = [];
    log.events$.subscribe((event) => seen.push(shape(event)));
    log.receive(out(1, 'a'));
    log.receiveNetwork(decision('x.example', 'deny'));
    log.receive(out(2, 'b'));
    log.receive({ type: 'exited', seq: 3, exitCode: 1, sandboxDenied: true });
    log.receive({ type: 'closed', seq: 4 });
    expect(seen).toEqual(['out#1(a)', 'net(x.example@1)', 'out#2(b)', 'exited#3', 'closed#4']);
    const replay: string[] = [];
    log.events$.subscribe((event) => replay.push(shape(event)));
    expect(replay).toEqual(seen);
  });
});

describe('sandboxDenied of a process', () => {
  it('is false while running, and after exit 0', async () => {
    const handle = runningHandle();
    handle.applyEvent(output('permission denied\n'));
    expect((await handle.read()).sandboxDenied).toBe(false);
    handle.applyEvent({ type: 'exited', exitCode: 0 });
    expect((await handle.read()).sandboxDenied).toBe(false);
  });

  it('is true after a proxy denial and a failure, on the exit event and on reads', async () => {
    const handle = runningHandle();
    handle.useManagedNetwork();
    const exits: (boolean | undefined)[] = [];
    handle.events$.subscribe((event) => {
      if (event.type === 'exited') exits.push(event.sandboxDenied);
    });
    handle.recordNetworkDecision(decision('x.example', 'deny'));
    handle.applyEvent({ type: 'exited', exitCode: 22 });
    handle.applyEvent({ type: 'closed' });
    expect(exits).toEqual([true]);
    expect((await handle.read()).sandboxDenied).toBe(true);
  });

  it('reads the output of a sandboxed process, not of an unsandboxed one', async () => {
    const sandboxed = new ProcessHandle({
      processId: 'p2',
      tty: false,
      retainedBytes: 1 << 20,
      flowControl: null,
      now: () => 0,
    });
    sandboxed.markRunning(4243, 'linux-seccomp', 1, control, () => undefined);
    sandboxed.applyEvent(output('sh: 1: cannot create /x: Read-only file system\n'));
    sandboxed.applyEvent({ type: 'exited', exitCode: 2 });
    expect((await sandboxed.read()).sandboxDenied).toBe(true);
    const plain = runningHandle();
    plain.applyEvent(output('sh: 1: cannot create /x: Read-only file system\n'));
    plain.applyEvent({ type: 'exited', exitCode: 2 });
    expect((await plain.read()).sandboxDenied).toBe(false);
  });
});
