/**
 * Every descendant dies (issue #10, item 9): a background job whose parent exited and double-forked
 * `setsid` daemons must not survive terminate, session close, runtime close, a server's SIGTERM or
 * its SIGKILL. Each test reads the pids of the whole tree from the process's own output, checks they
 * live, acts, and waits for every one of them to be gone (by pid), with both spawners.
 *
 * With cgroups (this host: cgroup v2, root) everything dies on every path. The process-group
 * fallback reaches the group and whatever holds the output; its documented gap (a daemon that left
 * the group and closed its output) is not asserted, only cleaned up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ExecRuntime, type ExecBackend, type ExecProcess } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { expectAllDie } from '../helpers/embedder.js';
import { eventually, isDead, waitForOutput } from '../helpers/process.js';
import { cgroupAvailable } from '../helpers/cgroup.js';
import { spawnServe, stopAll } from '../helpers/serve.js';
import { SPAWNERS } from '../helpers/spawners.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };
const CGROUP = cgroupAvailable();

/**
 * A tree that escapes a process-group kill: a background job whose subshell exited (orphaned, still
 * in the group), a double-forked daemon in its own session that keeps the output open, and one that
 * closed it. `leader` says whether the leader stays (exec sleep) or exits once all is started.
 *
 * With `gate`, the tree is started only once the test writes a line: the node spawner moves its
 * child into the cgroup only after the program has started (docs/operations.md), and the tests
 * assert what holds after that. The native child joins before exec, so its tree needs no gate (one
 * test shows it).
 */
function treeScript(leader: 'stays' | 'exits', gate: boolean): string {
  return [
    ...(gate ? ['read go'] : []),
    '(sleep 1000 >/dev/null 2>&1 & echo "bg:$!")',
    ...(leader === 'stays' ? ['setsid sh -c \'sleep 1000 & echo "daemon:$!"\''] : []),
    'setsid sh -c \'sleep 1000 </dev/null >/dev/null 2>&1 & echo "quiet:$!"\'',
    'echo ready',
    ...(leader === 'stays' ? ['exec sleep 1000'] : []),
  ].join('; ');
}

interface Tree {
  readonly process: ExecProcess;
  readonly leader: number;
  readonly bg: number;
  readonly daemon: number | null;
  readonly quiet: number;
}

const leftovers: number[] = [];
afterEach(async () => {
  // Whatever a failed (or fallback) test left behind is killed here.
  const pids = leftovers.splice(0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  await expectAllDie(pids, 'leftover');
  await stopAll();
});

async function startTree(
  backend: ExecBackend,
  leader: 'stays' | 'exits',
  { tty = false, gate = true }: { tty?: boolean; gate?: boolean } = {},
): Promise<Tree> {
  const process = await backend.start({
    argv: ['sh', '-c', treeScript(leader, gate)],
    cwd: CWD,
    env: PATH_ENV,
    tty,
    pipeStdin: gate && !tty,
  });
  if (gate) expect(await process.write('go\n')).toBe('accepted');
  const text = await waitForOutput(process, 'ready');
  const pid = (name: string) => {
    const match = new RegExp(`${name}:(\\d+)`).exec(text);
    return match === null ? null : Number(match[1]);
  };
  const tree = { process, leader: process.pid!, bg: pid('bg')!, daemon: pid('daemon'), quiet: pid('quiet')! };
  const pids = treePids(tree);
  leftovers.push(...pids);
  for (const each of [tree.bg, tree.quiet, ...(tree.daemon === null ? [] : [tree.daemon])]) {
    expect(isDead(each), `pid ${each} runs before the test acts`).toBe(false);
  }
  return tree;
}

function treePids(tree: Tree): number[] {
  return [tree.leader, tree.bg, tree.quiet, ...(tree.daemon === null ? [] : [tree.daemon])];
}

describe.runIf(CGROUP).each(SPAWNERS)('containment with cgroups, spawner %s', (spawner) => {
  let runtime: ExecRuntime | undefined;
  afterEach(async () => {
    await runtime?.destroy();
    runtime = undefined;
  });

  async function create(): Promise<ExecRuntime> {
    runtime = await ExecRuntime.create({ spawner, containment: 'cgroup', workers: 1 });
    expect(runtime.containment).toBe('cgroup');
    return runtime;
  }

  it('terminate kills the background job and both setsid daemons, then closed', async () => {
    const tree = await startTree(await create(), 'stays');
    expect(await tree.process.terminate()).toBe(true);
    await tree.process.closed;
    await expectAllDie(treePids(tree), 'tree member');
  });

  it('terminate of a terminal process kills its whole tree', async () => {
    const tree = await startTree(await create(), 'stays', { tty: true });
    await tree.process.terminate();
    await tree.process.closed;
    await expectAllDie(treePids(tree), 'tree member');
  });

  it('a graceful terminate ends with the whole tree killed', async () => {
    const tree = await startTree(await create(), 'stays');
    expect(await tree.process.terminate({ graceMs: 300 })).toBe(true);
    await tree.process.closed;
    await expectAllDie(treePids(tree), 'tree member');
  });

  it('closing the session kills what a closed process left running (daemons that closed their output)', async () => {
    const session = (await create()).session();
    const tree = await startTree(session, 'exits');
    await tree.process.closed;
    // The process is over; its daemon and background job are not.
    expect(isDead(tree.quiet)).toBe(false);
    expect(isDead(tree.bg)).toBe(false);
    await session.close();
    await expectAllDie(treePids(tree), 'tree member');
  });

  it('closing the runtime kills every tree and removes its cgroups', async () => {
    const created = await create();
    const running = await startTree(created, 'stays');
    const finished = await startTree(created, 'exits');
    await finished.process.closed;
    await created.close();
    await expectAllDie([...treePids(running), ...treePids(finished)], 'tree member');
  });
});

describe.runIf(CGROUP && SPAWNERS.includes('native'))('containment with cgroups, native spawner', () => {
  it('a tree started the instant the program runs is contained too (the child joins before exec)', async () => {
    const runtime = await ExecRuntime.create({ spawner: 'native', containment: 'cgroup', workers: 1 });
    try {
      const tree = await startTree(runtime, 'stays', { gate: false });
      await tree.process.terminate();
      await tree.process.closed;
      await expectAllDie(treePids(tree), 'tree member');
    } finally {
      await runtime.destroy();
    }
  });
});

describe('containment without cgroups (process groups)', () => {
  let runtime: ExecRuntime | undefined;
  afterEach(async () => {
    await runtime?.destroy();
    runtime = undefined;
  });

  it.each([...SPAWNERS])(
    'spawner %s: terminate kills the group and the daemon holding the output',
    async (spawner) => {
      runtime = await ExecRuntime.create({ spawner, containment: 'process-group', workers: 1 });
      expect(runtime.containment).toBe('process-group');
      const tree = await startTree(runtime, 'stays');
      await tree.process.terminate();
      await tree.process.closed;
      // The quiet daemon (own session, output closed) is the documented gap of this mode.
      await expectAllDie([tree.leader, tree.bg, tree.daemon!], 'tree member');
    },
  );
});

describe.each(
  (['cgroup', 'process-group'] as const)
    .filter((containment) => containment !== 'cgroup' || CGROUP)
    .flatMap((containment) => SPAWNERS.map((spawner) => [containment, spawner] as const)),
)('closed after terminate (containment %s, spawner %s)', (containment, spawner) => {
  let runtime: ExecRuntime | undefined;
  afterEach(async () => {
    await runtime?.destroy();
    runtime = undefined;
  });

  // Something the kill cannot reach holds the output open: here, this very process (the runtime
  // never signals itself), through /proc/<pid>/fd. Closed must come anyway, a bounded time after
  // the leader's exit, instead of waiting for an EOF that never comes.
  // child_process's stdout is a socket, which cannot be opened again through /proc.
  it.each(spawner === 'node' ? [true] : [false, true])(
    'does not wait forever for EOF (tty %s)',
    async (tty) => {
      runtime = await ExecRuntime.create({ spawner, containment, workers: 1 });
      const process = await runtime.start({
        argv: ['sh', '-c', 'echo ready; exec sleep 1000'],
        cwd: CWD,
        env: PATH_ENV,
        tty,
      });
      await waitForOutput(process, 'ready');
      const held = openSync(
        `/proc/${process.pid}/fd/${tty ? 0 : 1}`,
        constants.O_WRONLY | constants.O_NOCTTY,
      );
      try {
        await process.terminate();
        expect(await process.exited).toBe(128 + 9);
        await process.closed;
      } finally {
        closeSync(held);
      }
    },
  );
});

describe.runIf(CGROUP).each(SPAWNERS)('containment of `execvisor serve`, spawner %s', (spawner) => {
  /** A server with two trees: one whose leader runs, and one whose process closed, leaving daemons. */
  async function serveTrees(): Promise<{
    server: Awaited<ReturnType<typeof spawnServe>>;
    client: ExecServerClient;
    pids: number[];
  }> {
    // No detach TTL: a session ends with its connection (with one, it would wait to be resumed).
    const server = await spawnServe([
      '--spawner',
      spawner,
      '--containment',
      'cgroup',
      '--detach-ttl-ms',
      '0',
    ]);
    const client = await ExecServerClient.connect(server.url, { clientName: 'containment-test' });
    const running = await startTree(client, 'stays');
    const finished = await startTree(client, 'exits');
    await finished.process.closed;
    expect(isDead(finished.quiet)).toBe(false);
    return { server, client, pids: [...treePids(running), ...treePids(finished)] };
  }

  it('a dropped connection (its session closed) kills every tree of its session', async () => {
    const { client, pids } = await serveTrees();
    await client.disconnect();
    await expectAllDie(pids, 'tree member');
  });

  it('SIGTERM of the server kills every tree', async () => {
    const { server, client, pids } = await serveTrees();
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    await exited;
    await client.disconnect();
    await expectAllDie(pids, 'tree member');
  });

  it('SIGKILL of the server kills every tree (the orphan reaper kills its cgroup)', async () => {
    const { server, client, pids } = await serveTrees();
    const cgroupLine = /"msg":"containment: cgroup v2, one cgroup per process".*"cgroup":"([^"]+)"/.exec(
      server.stderr(),
    );
    expect(cgroupLine, server.stderr()).not.toBeNull();
    const exited = once(server.child, 'exit');
    server.child.kill('SIGKILL');
    await exited;
    await client.disconnect();
    await expectAllDie(pids, 'tree member');
    // The reaper also removes the server's cgroups once they are empty.
    const dir = cgroupLine![1]!;
    await eventually(() => !existsSync(dir), `${dir} to be removed`);
  });
});
