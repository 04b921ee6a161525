/**
 * `execvisor serve`: the exec server on a WebSocket. Prints exactly one line, `ws://<ip>:<port>`,
 * on stdout once bound (scripts read the port from it); everything else goes to stderr.
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { isExecError } from '../errors.js';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { stderrLogger } from '../core/logger.js';
import { DEFAULT_LISTEN_URL } from '../server/listen-url.js';
import { resolveServerOptions, SERVER_DEFAULTS, type ServerOptions } from '../server/server-options.js';
import { startServer } from '../server/server.js';

/** Exit code for a bad command line (listen URL, token), as the reference uses. */
const EXIT_USAGE = 2;
/** A shutdown that takes longer than this is cut short: children are killed at once. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface ServeFlags {
  listen: string;
  tokenFile?: string;
  maxMessageBytes?: number;
  maxProcesses?: number;
  maxProcessesPerConnection?: number;
  retainedBytes?: number;
  detachTtlMs?: number;
  workers?: number;
  spawner?: 'native' | 'node';
  containment?: 'cgroup' | 'process-group';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

function integer(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new CommanderArgumentError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--spawner`, shared by serve, run and load. */
export function spawnerOption(): Option {
  return new Option(
    '--spawner <kind>',
    'what starts processes: native (the built addon, Linux) or node (child_process, node-pty); default native where it loads',
  ).choices(['native', 'node']);
}

export function registerServeCommand(program: Command): Command {
  return program
    .command('serve')
    .description('serve the exec-server JSON-RPC protocol over WebSocket')
    .option('--listen <url>', 'address to bind, ws://IP:PORT (port 0 picks a free one)', DEFAULT_LISTEN_URL)
    .option(
      '--token-file <file>',
      'file holding the bearer token clients must send (default: env EXEC_SERVER_TOKEN)',
    )
    .option(
      '--max-message-bytes <n>',
      `largest inbound message; bigger closes the socket with 1009 (default ${SERVER_DEFAULTS.maxMessageBytes})`,
      integer,
    )
    .option('--max-processes <n>', 'live processes allowed in total (default 4096)', integer)
    .option(
      '--max-processes-per-connection <n>',
      `processes one connection may hold (default ${SERVER_DEFAULTS.maxProcessesPerConnection})`,
      integer,
    )
    .option('--retained-bytes <n>', 'output retained per process for replay (default 1 MiB)', integer)
    .option(
      '--detach-ttl-ms <n>',
      `how long a detached session waits to be resumed (default ${SERVER_DEFAULTS.detachTtlMs})`,
      integer,
    )
    .option('--workers <n>', 'worker threads hosting processes (default: min(cores, 4))', integer)
    .addOption(spawnerOption())
    .addOption(
      new Option(
        '--containment <kind>',
        "how each process's whole tree is kept killable (default: cgroup where the server may create one)",
      ).choices(['cgroup', 'process-group']),
    )
    .addOption(
      new Option('--log-level <level>', 'stderr log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: ServeFlags) => {
      process.exitCode = await serve(flags);
    });
}

async function readToken(flags: ServeFlags): Promise<string | null> {
  if (flags.tokenFile === undefined) {
    const fromEnv = process.env.EXEC_SERVER_TOKEN;
    return fromEnv === undefined || fromEnv === '' ? null : fromEnv;
  }
  // Editors and `echo` leave a trailing newline; it is never part of the token.
  return (await readFile(flags.tokenFile, 'utf8')).replace(/\r?\n$/, '');
}

/** Runs the server until SIGTERM/SIGINT; resolves with the process exit code. */
export async function serve(flags: ServeFlags): Promise<number> {
  const logger = stderrLogger(flags.logLevel);
  let options: ServerOptions;
  try {
    options = {
      listen: flags.listen,
      token: await readToken(flags),
      maxMessageBytes: flags.maxMessageBytes,
      maxProcessesPerConnection: flags.maxProcessesPerConnection,
      detachTtlMs: flags.detachTtlMs,
      logger,
    };
    // Validate before anything starts, so a bad flag costs no worker threads.
    resolveServerOptions(options);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_USAGE;
  }

  let runtime: ExecRuntime;
  try {
    runtime = await ExecRuntime.create({
      workers: flags.workers,
      retainedBytesPerProcess: flags.retainedBytes,
      maxProcesses: flags.maxProcesses,
      spawner: flags.spawner,
      containment: flags.containment,
      logger,
    });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return isExecError(error) ? EXIT_USAGE : 1;
  }

  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ ...options, runtime });
  } catch (error) {
    process.stderr.write(
      `failed to listen on ${flags.listen}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    await runtime.destroy();
    return 1;
  }
  process.stdout.write(`${server.url}\n`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal: do not wait for anything.
        void runtime.destroy().finally(() => process.exit(0));
        return;
      }
      stopping = true;
      logger.info(`${signal}: shutting down`);
      const force = setTimeout(() => {
        logger.warn(`shutdown took longer than ${SHUTDOWN_GRACE_MS} ms; killing remaining processes`);
        void runtime.destroy().finally(resolve);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      void server
        .close()
        .then(() => runtime.close())
        .catch((error: unknown) => logger.error(`shutdown failed: ${String(error)}`))
        .finally(() => {
          clearTimeout(force);
          resolve();
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  // Worker threads and stdin listeners may keep the loop alive; the server is done.
  process.exit(0);
}
