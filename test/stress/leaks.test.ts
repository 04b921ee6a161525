/**
 * Leaks: ten thousand short-lived processes leave file descriptors, zombies and heap where they
 * were. Measured in this process (the runtime's worker threads share its fd table and children).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecRuntime } from '../../src/index.js';
import { eventually } from '../helpers/process.js';
import { ownCgroupDir } from '../../src/spawn/cgroup.js';
import { SPAWNERS } from '../helpers/spawners.js';

const STARTS = 10_000;
const CONCURRENCY = 16;
const WARMUP = 500;

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Children of this process that exited but were never reaped. */
function zombies(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' && Number(ppid) === process.pid) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Process cgroups (`p<n>`) left under this process's runtime cgroups. */
function processCgroups(): number {
  const own = ownCgroupDir(
    readFileSync('/proc/self/mountinfo', 'utf8'),
    readFileSync('/proc/self/cgroup', 'utf8'),
  );
  if ('error' in own || !existsSync(own.dir)) return 0;
  let count = 0;
  for (const runtimeDir of readdirSync(own.dir).filter((name) =>
    name.startsWith(`execvisor-${process.pid}-`),
  )) {
    for (const session of readdirSync(join(own.dir, runtimeDir), { withFileTypes: true })) {
      if (!session.isDirectory()) continue;
      count += readdirSync(join(own.dir, runtimeDir, session.name), { withFileTypes: true }).filter(
        (entry) => entry.isDirectory() && entry.name.startsWith('p'),
      ).length;
    }
  }
  return count;
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined)
    throw new Error('global.gc is missing: run with --expose-gc (vitest.stress.config.ts)');
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

let runtime: ExecRuntime | undefined;
afterEach(async () => {
  await runtime?.destroy();
  runtime = undefined;
});

async function runMany(count: number): Promise<number> {
  let next = 0;
  let failures = 0;
  const lane = async () => {
    for (;;) {
      if (next >= count) return;
      next++;
      const process = await runtime!.start({ argv: ['/bin/true'], cwd: '/', env: {} });
      if ((await process.exited) !== 0) failures++;
      await process.closed;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return failures;
}

/** Every closed process was removed (exitedRetentionMs 0), so nothing legitimately stays. */
async function settled(): Promise<void> {
  await eventually(
    () => runtime!.stats().retainedProcesses === 0 && runtime!.stats().liveProcesses === 0,
    'every process to be removed',
    10_000,
  );
  await eventually(() => zombies().length === 0, 'no zombie children', 5_000);
  // A process's cgroup goes when it closes (or, if it was still busy, at the next sweep).
  await eventually(() => processCgroups() === 0, 'every process cgroup to be removed', 5_000);
}

describe.each(SPAWNERS)('leaks (spawner %s)', (spawner) => {
  it(`${STARTS} starts of /bin/true leave fds, zombies, cgroups and heap at their baseline`, async () => {
    runtime = await ExecRuntime.create({ spawner, exitedRetentionMs: 0 });
    // Warm-up: lazily created pools, caches and JIT state are part of the baseline, not a leak.
    expect(await runMany(WARMUP)).toBe(0);
    await settled();
    const fdsBefore = openFds();
    const heapBefore = heapAfterGc();
    const zombiesBefore = zombies().length;

    const began = Date.now();
    expect(await runMany(STARTS)).toBe(0);
    const elapsed = Date.now() - began;
    await settled();
    const fdDelta = openFds() - fdsBefore;
    const heapDelta = heapAfterGc() - heapBefore;
    const zombieDelta = zombies().length - zombiesBefore;
    const stats = runtime.stats();
    console.log(
      `[leaks] ${STARTS} starts (concurrency ${CONCURRENCY}) in ${elapsed} ms: ` +
        `fd delta ${fdDelta} (of ${fdsBefore}), zombie delta ${zombieDelta}, ` +
        `heap delta ${(heapDelta / 1024).toFixed(0)} KiB (of ${(heapBefore / 1024 / 1024).toFixed(1)} MiB), ` +
        `starts total ${stats.startsTotal}, spawner ${runtime.spawner}, containment ${runtime.containment}`,
    );
    expect(stats.startsTotal).toBe(WARMUP + STARTS);
    expect(Math.abs(fdDelta)).toBeLessThanOrEqual(2);
    expect(zombieDelta).toBe(0);
    // ~100 bytes per start would already be 1 MiB: a real per-process leak shows far above this.
    expect(heapDelta).toBeLessThan(2 * 1024 * 1024);
  });

  it('a removed process (retention time over, id unknown) is garbage: its handle and retained output are freed', async () => {
    runtime = await ExecRuntime.create({ spawner, exitedRetentionMs: 0 });
    const gc = (globalThis as { gc?: () => void }).gc!;
    // Created in a separate function, so no local variable keeps a handle reachable.
    const track = async (index: number): Promise<WeakRef<object>> => {
      const process = await runtime!.start({
        processId: `gone-${index}`,
        argv: ['/bin/sh', '-c', 'head -c 262144 /dev/zero'],
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
      });
      await process.closed;
      return new WeakRef(process);
    };
    const refs: WeakRef<object>[] = [];
    for (let index = 0; index < 4; index++) refs.push(await track(index));
    await eventually(() => refs.every((_, index) => runtime!.get(`gone-${index}`) === undefined), 'removal');
    let alive = refs.length;
    try {
      await eventually(
        () => {
          gc();
          alive = refs.filter((ref) => ref.deref() !== undefined).length;
          return alive === 0;
        },
        'removed process handles to be collected',
        3_000,
      );
    } finally {
      console.log(`[leaks] removed processes still reachable after gc: ${alive} of ${refs.length}`);
    }
  });
});
