/**
 * `execvisor serve`: the exec server on a WebSocket, or on stdio. On a WebSocket it prints exactly
 * one line, `ws://<ip>:<port>`, on stdout once bound (scripts read the port from it). With
 * `--listen stdio` stdout carries the protocol and nothing else, and EOF on stdin ends the server.
 * Logs always go to stderr.
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import type { NetworkPolicySettingsOption } from '../core/network-options.js';
import { InvalidArgumentError, isExecError } from '../errors.js';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { stderrLogger } from '../core/logger.js';
import { DEFAULT_LISTEN_URL } from '../server/listen-url.js';
import { resolveServerOptions, SERVER_DEFAULTS, type ServerOptions } from '../server/server-options.js';
import { startServer } from '../server/server.js';
import { EXIT_USAGE } from './exit-codes.js';
import { readToken } from './token.js';

/** Exit code when the server cannot run: the address cannot be bound, the runtime cannot start. */
const EXIT_UNAVAILABLE = 1;
/** A shutdown that takes longer than this is cut short: children are killed at once. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

export interface ServeFlags {
  listen: string;
  tokenFile?: string;
  maxMessageBytes?: number;
  maxProcesses?: number;
  maxProcessesPerConnection?: number;
  retainedBytes?: number;
  maxFlowWindow?: number;
  outputBudget?: number;
  detachTtlMs?: number;
  handshakeTimeoutMs?: number;
  maxConnections?: number;
  shutdownTimeoutMs?: number;
  drainMs?: number;
  requireSandbox?: boolean;
  workers?: number;
  bwrap?: string;
  httpNetworkPolicy?: string;
  spawner?: 'native' | 'node';
  containment?: 'cgroup' | 'process-group';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** `--http-network-policy FILE`: the JSON of `{domains, mode, allowLocalBinding}`. */
async function readHttpPolicy(file: string | undefined): Promise<NetworkPolicySettingsOption | null> {
  if (file === undefined) return null;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`--http-network-policy: cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as NetworkPolicySettingsOption;
  } catch (error) {
    throw new InvalidArgumentError(`--http-network-policy: ${file} is not JSON: ${(error as Error).message}`);
  }
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
    .option(
      '--listen <url>',
      'ws://IP:PORT (port 0 picks a free one), or stdio: one connection on stdin/stdout',
      DEFAULT_LISTEN_URL,
    )
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
      '--max-flow-window <bytes>',
      'largest flowControl.highWaterBytes a client may ask for (default 8 MiB)',
      integer,
    )
    .option(
      '--output-budget <bytes>',
      'bound on output held in memory, retained plus unacknowledged (default: an eighth of RAM, at least 64 MiB)',
      integer,
    )
    .option(
      '--detach-ttl-ms <n>',
      `how long a detached session waits to be resumed (default ${SERVER_DEFAULTS.detachTtlMs})`,
      integer,
    )
    .option(
      '--handshake-timeout-ms <n>',
      `a WebSocket must complete its upgrade, then send initialize, within this (default ${SERVER_DEFAULTS.handshakeTimeoutMs})`,
      integer,
    )
    .option(
      '--max-connections <n>',
      `WebSocket connections at once; more are refused with HTTP 503 (default ${SERVER_DEFAULTS.maxConnections})`,
      integer,
    )
    .option(
      '--shutdown-timeout-ms <n>',
      `after SIGTERM/SIGINT, kill what is left once shutting down took this long (default ${SHUTDOWN_TIMEOUT_MS})`,
      integer,
    )
    .option(
      '--drain-ms <n>',
      'on SIGTERM, first drain: refuse new processes (/readyz 503) and let running ones finish for up to this long (default: no drain)',
      integer,
    )
    .option(
      '--require-sandbox',
      'not ready (/readyz 503) until a sandboxed process has run here, and never if the sandbox does not work',
    )
    .option('--workers <n>', 'worker threads hosting processes (default: min(cores, 4))', integer)
    .option(
      '--bwrap <path>',
      'the bwrap to sandbox with (default: $EXECVISOR_BWRAP, else /usr/bin/bwrap, /bin/bwrap, /usr/local/bin/bwrap)',
    )
    .option(
      '--http-network-policy <file>',
      'JSON {domains, mode, allowLocalBinding}: http/request reaches only what this managed-network policy allows',
    )
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

/** Runs the server until SIGTERM/SIGINT; resolves with the process exit code. */
export async function serve(flags: ServeFlags): Promise<number> {
  const logger = stderrLogger(flags.logLevel);
  let options: ServerOptions;
  try {
    options = {
      listen: flags.listen,
      token: await readToken(flags.tokenFile),
      maxMessageBytes: flags.maxMessageBytes,
      maxProcessesPerConnection: flags.maxProcessesPerConnection,
      detachTtlMs: flags.detachTtlMs,
      handshakeTimeoutMs: flags.handshakeTimeoutMs,
      maxConnections: flags.maxConnections,
      requireSandbox: flags.requireSandbox === true,
      httpNetworkPolicy: await readHttpPolicy(flags.httpNetworkPolicy),
      logger,
    };
    // Validate before anything starts, so a bad flag costs no worker threads.
    resolveServerOptions(options);
  } catch (error) {
    logger.error({ err: briefError(error) }, 'invalid command line');
    return EXIT_USAGE;
  }

  let runtime: ExecRuntime;
  try {
    runtime = await ExecRuntime.create({
      workers: flags.workers,
      retainedBytesPerProcess: flags.retainedBytes,
      maxProcesses: flags.maxProcesses,
      maxFlowWindowBytes: flags.maxFlowWindow,
      outputBudgetBytes: flags.outputBudget,
      spawner: flags.spawner,
      containment: flags.containment,
      logger,
      ...(flags.bwrap !== undefined ? { bwrapPath: flags.bwrap } : {}),
    });
  } catch (error) {
    if (isExecError(error)) {
      logger.error({ err: briefError(error) }, 'invalid command line');
      return EXIT_USAGE;
    }
    logger.error({ err: error }, 'the runtime could not start');
    return EXIT_UNAVAILABLE;
  }

  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ ...options, runtime });
  } catch (error) {
    logger.error({ listen: flags.listen, err: briefError(error) }, 'failed to listen');
    await runtime.destroy();
    return EXIT_UNAVAILABLE;
  }
  const shutdownTimeoutMs = flags.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS;
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal: do not wait for anything.
        logger.warn({ signal }, 'a second signal during shutdown: killing remaining processes');
        void runtime.destroy().finally(() => process.exit(0));
        return;
      }
      stopping = true;
      // SIGTERM is how an orchestrator (Kubernetes, systemd) asks a server to go: with a drain
      // period, new work goes elsewhere while the work here finishes. SIGINT (Ctrl-C) stops now.
      const drain =
        signal === 'SIGTERM' && flags.drainMs !== undefined
          ? server.drain(flags.drainMs).catch((error: unknown) => {
              logger.error({ err: error }, 'drain failed');
            })
          : Promise.resolve();
      void drain.then(() => {
        logger.info({ signal }, 'shutting down');
        const force = setTimeout(() => {
          logger.warn({ shutdownTimeoutMs }, 'shutdown took too long; killing remaining processes');
          void runtime.destroy().finally(resolve);
        }, shutdownTimeoutMs);
        force.unref();
        void server
          .close()
          .then(() => runtime.close())
          .catch((error: unknown) => logger.error({ err: error }, 'shutdown failed'))
          .finally(() => {
            clearTimeout(force);
            resolve();
          });
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Over stdio, EOF on stdin ends the connection and with it the server.
    void server.done.then(() => {
      if (!stopping) stop('EOF on stdin');
    });
  });
  // Ready only now: a SIGTERM sent the moment the URL is read must find its handler installed.
  // Over stdio, stdout is the protocol's: nothing else may be written there.
  if (server.url !== 'stdio') process.stdout.write(`${server.url}\n`);
  await stopped;
  // Worker threads and stdin listeners may keep the loop alive; the server is done.
  process.exit(0);
}

/** An error as a log field without its stack: for failures whose message says everything. */
function briefError(error: unknown): { message: string; code?: string } {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { message: error.message, code } : { message: error.message };
}
