/**
 * Sandboxed start overhead: `/bin/true` start→closed with a required workspace-write sandbox
 * against the same start without one, both through the backend (the baseline column is the
 * unsandboxed start). If the sandbox cannot be applied here, the row says why instead of a number.
 *
 * `sandbox-proxy`: the same sandboxed start with the managed network (`enforceManagedNetwork` and a
 * `networkProxy`: a lease with the runtime's proxy, the socket bound into the sandbox, the bridge
 * started and listening before the command runs) against the sandboxed start without it.
 */
import type { ExecBackend, StartOptions } from '../../src/index.js';
import { startOptions } from '../lib/backend.js';
import { now, withTimeout } from '../lib/clock.js';
import {
  alternate,
  row,
  skipped,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { quantile } from '../lib/stats.js';
import { managedNetworkProxy } from '../../src/core/network-options.js';

const SANDBOX = {
  mode: 'require',
  policy: { type: 'workspace-write', writable_roots: [], network_access: false },
} as const;

async function timedTrue(backend: ExecBackend, options: StartOptions, into: number[]): Promise<string> {
  const started = now();
  const process = await backend.start(options);
  await withTimeout(process.closed, 30_000, '/bin/true closed');
  into.push(now() - started);
  return process.sandboxType;
}

export const sandboxOverhead: Scenario = {
  name: 'sandbox',
  title: 'sandboxed start overhead (/bin/true, workspace-write, no network)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const perRound = context.config.quick ? 30 : 100;
    const instance = await context.backend.create();
    const plain = startOptions(['/bin/true']);
    const sandboxed = startOptions(['/bin/true'], { sandbox: SANDBOX });
    try {
      // Probe once: a sandbox that is not wired (or not available here) is a skip, not a number.
      let sandboxType: string;
      try {
        sandboxType = await timedTrue(instance.backend, sandboxed, []);
      } catch (error) {
        const code = (error as { code?: string }).code;
        return [skipped('sandboxed start', 'median', `${code ?? 'error'}: ${(error as Error).message}`)];
      }
      if (sandboxType === 'none') {
        return [skipped('sandboxed start', 'median', 'the runtime accepted the sandbox but applied none')];
      }
      const samples = { baseline: [] as number[], execvisor: [] as number[] };
      const loop = async (options: StartOptions, into: number[]) => {
        for (let index = 0; index < perRound; index++) await timedTrue(instance.backend, options, into);
        return { p50: quantile(into.slice(-perRound), 0.5) };
      };
      await alternate(
        context,
        `sandbox (${perRound} sequential starts/round)`,
        () => loop(plain, samples.baseline),
        () => loop(sandboxed, samples.execvisor),
      );
      const baseline = samples.baseline.slice(perRound);
      const execvisor = samples.execvisor.slice(perRound);
      const median = { baseline: quantile(baseline, 0.5), execvisor: quantile(execvisor, 0.5) };
      return [
        row({
          scenario: `sandboxed start (${sandboxType})`,
          metric: 'median (baseline: unsandboxed)',
          unit: 'ms',
          baseline: median.baseline,
          execvisor: median.execvisor,
          note: `overhead ${(median.execvisor - median.baseline).toFixed(2)} ms; ${baseline.length} samples per side`,
        }),
        row({
          scenario: `sandboxed start (${sandboxType})`,
          metric: 'p99 (baseline: unsandboxed)',
          unit: 'ms',
          baseline: quantile(baseline, 0.99),
          execvisor: quantile(execvisor, 0.99),
        }),
      ];
    } finally {
      await instance.dispose();
    }
  },
};

const NETWORK_PROXY = managedNetworkProxy({ 'example.com': 'allow' });

export const sandboxProxyOverhead: Scenario = {
  name: 'sandbox-proxy',
  title: 'managed-network start overhead (/bin/true, workspace-write, proxy + bridge vs no network)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const perRound = context.config.quick ? 30 : 100;
    const instance = await context.backend.create();
    const sandboxed = startOptions(['/bin/true'], { sandbox: SANDBOX });
    const proxied = startOptions(['/bin/true'], {
      sandbox: SANDBOX,
      enforceManagedNetwork: true,
      networkProxy: NETWORK_PROXY,
    });
    try {
      try {
        // The first managed start also starts the runtime's proxy: that one is not measured.
        if ((await timedTrue(instance.backend, proxied, [])) === 'none') {
          return [skipped('managed-network start', 'median', 'no sandbox was applied')];
        }
      } catch (error) {
        const code = (error as { code?: string }).code;
        return [
          skipped('managed-network start', 'median', `${code ?? 'error'}: ${(error as Error).message}`),
        ];
      }
      const samples = { baseline: [] as number[], execvisor: [] as number[] };
      const loop = async (options: StartOptions, into: number[]) => {
        for (let index = 0; index < perRound; index++) await timedTrue(instance.backend, options, into);
        return { p50: quantile(into.slice(-perRound), 0.5) };
      };
      await alternate(
        context,
        `sandbox-proxy (${perRound} sequential starts/round)`,
        () => loop(sandboxed, samples.baseline),
        () => loop(proxied, samples.execvisor),
      );
      const baseline = samples.baseline.slice(perRound);
      const execvisor = samples.execvisor.slice(perRound);
      const median = { baseline: quantile(baseline, 0.5), execvisor: quantile(execvisor, 0.5) };
      return [
        row({
          scenario: 'managed-network start (linux-seccomp)',
          metric: 'median (baseline: sandboxed, no proxy)',
          unit: 'ms',
          baseline: median.baseline,
          execvisor: median.execvisor,
          note: `overhead ${(median.execvisor - median.baseline).toFixed(2)} ms; ${baseline.length} samples per side`,
        }),
        row({
          scenario: 'managed-network start (linux-seccomp)',
          metric: 'p99 (baseline: sandboxed, no proxy)',
          unit: 'ms',
          baseline: quantile(baseline, 0.99),
          execvisor: quantile(execvisor, 0.99),
        }),
      ];
    } finally {
      await instance.dispose();
    }
  },
};
