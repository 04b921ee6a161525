/**
 * `execvisor load` end to end (run `npm run build` first): a real `execvisor serve` process, then
 * `execvisor load --remote` for every scenario, and one run against the embedded runtime; each
 * must exit 0 with a JSON summary showing no errors, verified bytes and nothing lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllCli, runCli } from '../helpers/cli.js';
import { spawnServe, stopAll } from '../helpers/serve.js';

/** A load run is small here; anything near this means it hung. */
const RUN_TIMEOUT_MS = 60_000;

interface LoadSummary {
  ok: boolean;
  scenario: string;
  backend: string;
  servers: Record<string, number> | null;
  started: number;
  completed: number;
  failed: number;
  latencyMs: Record<string, { count: number; p50: number }>;
  bytes: { expected: number; verified: number; lost: number; corrupt: number };
  errors: Record<string, number>;
}

let serverUrl = '';

async function runLoad(
  args: string[],
): Promise<{ code: number | null; summary: LoadSummary; stderr: string }> {
  const { code, stdout, stderr } = await runCli(['load', ...args, '--json'], { timeoutMs: RUN_TIMEOUT_MS });
  let summary: LoadSummary;
  try {
    summary = JSON.parse(stdout) as LoadSummary;
  } catch {
    throw new Error(`load printed no JSON summary (exit ${code}); stdout: ${stdout}; stderr: ${stderr}`);
  }
  return { code, summary, stderr };
}

function expectClean(summary: LoadSummary, processes: number): void {
  expect(summary.errors).toEqual({});
  expect(summary.failed).toBe(0);
  expect(summary.started).toBe(processes);
  expect(summary.completed).toBe(processes);
  expect(summary.bytes.lost).toBe(0);
  expect(summary.bytes.corrupt).toBe(0);
  expect(summary.ok).toBe(true);
}

beforeAll(async () => {
  serverUrl = (await spawnServe(['--log-level', 'warn'])).url;
});

afterAll(async () => {
  await killAllCli();
  await stopAll();
});

describe('execvisor load --remote', () => {
  it.each(['spawn', 'stream', 'interactive', 'mixed'])(
    '%s: every process succeeds and every byte is verified',
    async (scenario) => {
      const { code, summary, stderr } = await runLoad([
        '--remote',
        serverUrl,
        '--scenario',
        scenario,
        '--processes',
        '10',
        '--concurrency',
        '3',
        '--bytes',
        '256K',
        '--lines',
        '5',
      ]);
      expect(code, `${stderr}\n${JSON.stringify(summary)}`).toBe(0);
      expect(summary.scenario).toBe(scenario);
      expect(summary.backend).toBe('remote');
      expectClean(summary, 10);
      if (scenario === 'spawn') {
        expect(summary.latencyMs.spawn?.count).toBe(10);
      } else {
        expect(summary.bytes.verified).toBeGreaterThan(0);
        expect(summary.bytes.verified).toBe(summary.bytes.expected);
      }
      if (scenario === 'stream') expect(summary.bytes.verified).toBe(10 * 256 * 1024);
      if (scenario === 'interactive') expect(summary.latencyMs.interactiveRoundTrip?.count).toBe(50);
    },
  );
});

describe('execvisor load --remote over a fleet', () => {
  it('URL1,URL2: drives both servers through a pool and says how many starts each took', async () => {
    const second = await spawnServe(['--log-level', 'warn']);
    const { code, summary, stderr } = await runLoad([
      '--remote',
      `${serverUrl},${second.url}`,
      '--scenario',
      'mixed',
      '--processes',
      '20',
      '--concurrency',
      '4',
      '--bytes',
      '64K',
      '--lines',
      '3',
    ]);
    expect(code, stderr).toBe(0);
    expect(summary.backend).toBe('pool');
    expectClean(summary, 20);
    expect(Object.keys(summary.servers!).sort()).toEqual([serverUrl, second.url].sort());
    expect(Object.values(summary.servers!).every((n) => n > 0)).toBe(true);
    expect(Object.values(summary.servers!).reduce((a, b) => a + b, 0)).toBe(20);
  });

  it('dns:NAME:PORT: every address of the name is a server', async () => {
    const port = new URL(serverUrl).port;
    const { code, summary, stderr } = await runLoad([
      '--remote',
      `dns:localhost:${port}`,
      '--scenario',
      'spawn',
      '--processes',
      '6',
    ]);
    expect(code, stderr).toBe(0);
    expect(summary.backend).toBe('pool');
    expectClean(summary, 6);
    expect(summary.servers).toEqual({ [serverUrl]: 6 });
  });

  it('refuses a malformed fleet on the command line', async () => {
    for (const remote of ['dns:no-port', 'ws://127.0.0.1:1,http://x']) {
      const result = await runCli(['load', '--remote', remote, '--scenario', 'spawn']);
      expect(result.code, remote).toBe(2);
      expect(result.stderr).toMatch(/expected (dns:NAME:PORT|ws:\/\/IP:PORT URLs)/);
    }
  });
});

describe('execvisor load (embedded runtime)', () => {
  it('mixed: every process succeeds and every byte is verified', async () => {
    const { code, summary, stderr } = await runLoad([
      '--scenario',
      'mixed',
      '--processes',
      '10',
      '--concurrency',
      '4',
      '--bytes',
      '1M',
      '--lines',
      '5',
    ]);
    expect(code, stderr).toBe(0);
    expect(summary.backend).toBe('embedded');
    expectClean(summary, 10);
    expect(summary.bytes.verified).toBeGreaterThan(0);
    expect(summary.bytes.verified).toBe(summary.bytes.expected);
  });

  it('a failing run exits non-zero: a server that is not there', async () => {
    const { code } = await runCli(['load', '--remote', 'ws://127.0.0.1:9', '--scenario', 'spawn']);
    expect(code).not.toBe(0);
  });
});

describe('execvisor load: help and progress', () => {
  it('marks --scenario as required in the help', async () => {
    const result = await runCli(['load', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--scenario <name>\s+\(required\)/);
  });

  it('with --duration, progress is measured against time, not against --processes', async () => {
    const result = await runCli([
      'load',
      '--scenario',
      'spawn',
      '--duration',
      '1',
      '--processes',
      '1000000',
      '--concurrency',
      '2',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    // stderr is not a terminal here: one plain progress line at the end of the run.
    const last = result.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^load: 100% 1\.\d\/1 s, \d+ done \(at most 1000000\), 0 failed/);
  });
});
