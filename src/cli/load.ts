/**
 * `execvisor load`: a load generator for capacity tests, against the embedded runtime or a server
 * (`--remote`). This file is the command (flags, backend, the run's life); the operations are in
 * `load/scenarios.ts`, the progress line in `load/progress.ts`, counting and the summary in
 * `load/report.ts`. Progress goes to stderr, the summary to stdout (JSON with `--json`); the exit
 * code is 1 when any operation failed or any byte was lost or wrong.
 */
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { ExecServerClient } from '../client/index.js';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { stderrLogger } from '../core/logger.js';
import type { ExecBackend } from '../core/types.js';
import { Progress } from './load/progress.js';
import { LoadStats, renderSummary, summarize, type LoadFlags } from './load/report.js';
import { run } from './load/scenarios.js';
import { EXIT_FAILURE as EXIT_OWN_ERROR } from './exit-codes.js';
import { readToken } from './token.js';
import { spawnerOption } from './serve.js';

/** Exit code when an operation failed or a byte was lost or wrong. */
const EXIT_FAILED = 1;
/** Exit code when the backend could not be reached or created (an error of execvisor's own). */
const EXIT_UNAVAILABLE = EXIT_OWN_ERROR;
const MiB = 1 << 20;

// ---- command line --------------------------------------------------------------------------

function positiveInteger(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new CommanderArgumentError(`expected an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > 86_400) {
    throw new CommanderArgumentError(
      `expected seconds, more than 0 and at most 86400, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** `1048576`, `64K`, `16M`, `1G` (binary multiples); at most 64 GiB. */
export function parseByteSize(value: string): number {
  const match = /^(\d+)([kmg]i?b?)?$/i.exec(value.trim());
  const unit = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[(match?.[2] ?? '').charAt(0).toLowerCase()];
  const n = match === null || unit === undefined ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(n) || n < 1 || n > 64 * 1024 * MiB) {
    throw new CommanderArgumentError(
      `expected a byte count such as 1048576, 64K, 16M or 1G (1 B to 64 GiB), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function registerLoadCommand(program: Command): Command {
  return program
    .command('load')
    .description(
      'generate load against the embedded runtime (or a server with --remote) and verify every result',
    )
    .option('--remote <url>', 'drive an exec server at ws://IP:PORT instead of the embedded runtime')
    .option(
      '--token-file <file>',
      'with --remote: file holding the bearer token (default: env EXEC_SERVER_TOKEN)',
    )
    .addOption(
      new Option(
        '--scenario <name>',
        '(required) spawn: /bin/true; stream: verified output; interactive: pty echo; mixed',
      )
        .choices(['spawn', 'stream', 'interactive', 'mixed'])
        .makeOptionMandatory(),
    )
    .option(
      '--processes <n>',
      'processes to run (with --duration: at most this many)',
      positiveInteger(100_000_000),
      100,
    )
    .option('--concurrency <n>', 'processes in flight at once', positiveInteger(100_000), 8)
    .option('--duration <s>', 'keep starting processes until this many seconds have passed', seconds)
    .option('--bytes <b>', 'stream: bytes each process writes (64K, 16M, 1G…)', parseByteSize, MiB)
    .option(
      '--lines <n>',
      'interactive: lines written (and round trips timed) per pty',
      positiveInteger(1_000_000),
      20,
    )
    .option('--json', 'print the summary as JSON on stdout', false)
    .addOption(spawnerOption())
    .action(async (flags: LoadFlags, command: Command) => {
      // With --duration and no explicit --processes, time alone bounds the run.
      const unboundedCount =
        flags.duration !== undefined && command.getOptionValueSource('processes') === 'default';
      const code = await load(flags, { unboundedCount });
      // Worker threads would keep the loop alive; stdout is flushed before exiting.
      process.stdout.write('', () => process.exit(code));
    });
}

// ---- the run -------------------------------------------------------------------------------

async function load(flags: LoadFlags, options: { unboundedCount: boolean }): Promise<number> {
  let backend: ExecBackend;
  try {
    backend =
      flags.remote === undefined
        ? await ExecRuntime.create({ logger: stderrLogger('warn'), spawner: flags.spawner })
        : await ExecServerClient.connect(flags.remote, {
            token: await readToken(flags.tokenFile),
            clientName: 'execvisor-load',
          });
  } catch (error) {
    process.stderr.write(`execvisor load: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_UNAVAILABLE;
  }
  const stats = new LoadStats();
  const limit = options.unboundedCount ? null : flags.processes;
  const durationMs = flags.duration === undefined ? null : flags.duration * 1000;
  const progress = new Progress(stats, { limit, durationMs });
  const stop = { requested: false };
  const onSignal = () => {
    if (stop.requested) process.exit(130);
    stop.requested = true;
    process.stderr.write('\nexecvisor load: stopping (in-flight processes finish; again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  try {
    await run(backend, flags, stats, { limit, durationMs, stop, progress });
  } finally {
    process.off('SIGINT', onSignal);
    progress.finish();
    await closeBackend(backend);
  }
  const summary = summarize(flags, stats, limit);
  process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : renderSummary(summary));
  return summary.ok ? 0 : EXIT_FAILED;
}

// ---- plumbing --------------------------------------------------------------------------------

async function closeBackend(backend: ExecBackend): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<'overrun'>((resolve) => {
    timer = setTimeout(() => resolve('overrun'), 15_000);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([backend.close().then(() => 'closed' as const), overrun]);
    if (outcome === 'overrun') {
      process.stderr.write('execvisor load: close took longer than 15 s; stopping at once\n');
      if (backend instanceof ExecRuntime) await backend.destroy();
      else if (backend instanceof ExecServerClient) await backend.disconnect();
    }
  } catch (error) {
    process.stderr.write(
      `execvisor load: close failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  } finally {
    clearTimeout(timer);
  }
}
