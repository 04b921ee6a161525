/**
 * `execvisor run`: runs one command through an ExecBackend (the embedded runtime, or a server with
 * --remote), copies its output to this terminal (stdout and stderr kept apart, with backpressure:
 * run/output.ts), forwards stdin, signals and (with --tty) the window size, and exits with the
 * command's exit code once all of its output is written. Exit codes: exit-codes.ts.
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { ExecServerClient } from '../client/index.js';
import { stderrLogger } from '../core/logger.js';
import type { SandboxOptions } from '../core/sandbox-options.js';
import type { ExecBackend, ExecProcess, SignalName, StartOptions } from '../core/types.js';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { spawnerOption } from './serve.js';
import { sandboxConfigFromFlags } from '../sandbox/index.js';
import {
  EXIT_BROKEN_PIPE,
  EXIT_FAILURE,
  EXIT_USAGE,
  errorLine,
  exitAfterFlush,
  exitCodeForError,
} from './exit-codes.js';
import { OutputSink, pumpOutput, RUN_FLOW_CONTROL } from './run/output.js';
import { readToken } from './token.js';

/** After EPIPE the child gets SIGPIPE; one that survives it this long is terminated. */
const BROKEN_PIPE_GRACE_MS = 1_000;

export interface RunCommandOptions {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly sandbox: SandboxOptions | null;
}

interface RunFlags {
  tty: boolean;
  cwd: string;
  cleanEnv: boolean;
  sandbox?: 'read-only' | 'workspace-write';
  writableRoot: string[];
  network: boolean;
  bwrap?: string;
  spawner?: 'native' | 'node';
  remote?: string;
  tokenFile?: string;
}

export function registerRunCommand(program: Command): Command {
  return program
    .command('run')
    .description(
      'run one command through the embedded runtime (or a server with --remote) and exit with its code',
    )
    .argument('<command...>', 'the command and its arguments (put -- before it)')
    .option('--tty', 'run under a pseudo-terminal; the local terminal goes raw', false)
    .option('--cwd <dir>', 'working directory, relative to this one (default: this one)')
    .option('--clean-env', 'start the command with an empty environment instead of this one', false)
    .addOption(
      new Option('--sandbox <policy>', 'run under a sandbox policy').choices([
        'read-only',
        'workspace-write',
      ]),
    )
    .option(
      '--writable-root <dir>',
      'with --sandbox workspace-write: another writable directory',
      collect,
      [],
    )
    .option('--network', 'with --sandbox: allow network access', false)
    .addOption(spawnerOption())
    .option(
      '--bwrap <path>',
      'the bwrap to sandbox with (default: $EXECVISOR_BWRAP, else /usr/bin/bwrap, /bin/bwrap, /usr/local/bin/bwrap)',
    )
    .option(
      '--remote <url>',
      'run through an exec server instead of in-process: ws://IP:PORT, or stdio:<command> to start one ' +
        "and speak on its stdin/stdout (e.g. 'stdio:ssh host execvisor serve --listen stdio')",
    )
    .option(
      '--token-file <file>',
      'with --remote: file holding the bearer token (default: env EXEC_SERVER_TOKEN)',
    )
    .addHelpText(
      'after',
      "\nExit status: the command's own; 125 for an error of execvisor (e.g. the server cannot be reached),\n" +
        '126 if the command cannot be executed, 127 if it is not found, 141 if stdout was closed,\n' +
        '2 for a bad command line.',
    )
    .action(async (command: string[], flags: RunFlags, self: Command) => {
      checkFlagCombinations(flags, self);
      await exitAfterFlush(await run(command, flags));
    });
}

/** Flags that only mean something with another are usage errors without it. */
function checkFlagCombinations(flags: RunFlags, command: Command): void {
  const refuse = (message: string) =>
    command.error(message, { exitCode: EXIT_USAGE, code: 'execvisor.usage' });
  if (flags.network && flags.sandbox === undefined) refuse('--network needs --sandbox');
  if (flags.writableRoot.length > 0 && flags.sandbox !== 'workspace-write') {
    refuse('--writable-root needs --sandbox workspace-write');
  }
  if (flags.tokenFile !== undefined && flags.remote === undefined) refuse('--token-file needs --remote');
  if (flags.spawner !== undefined && flags.remote !== undefined) {
    refuse('--spawner applies to the embedded runtime; a server chooses its own (serve --spawner)');
  }
  if (flags.bwrap !== undefined && flags.remote !== undefined) {
    refuse('--bwrap applies to the embedded runtime; a server chooses its own bwrap (serve --bwrap)');
  }
}

async function run(argv: string[], flags: RunFlags): Promise<number> {
  let token: string | null;
  try {
    token = flags.remote === undefined ? null : await readToken(flags.tokenFile);
  } catch (error) {
    process.stderr.write(errorLine(`cannot read --token-file: ${(error as Error).message}`));
    return EXIT_USAGE;
  }
  let backend: ExecBackend;
  try {
    backend =
      flags.remote === undefined
        ? // One command needs one worker thread.
          await ExecRuntime.create({
            workers: 1,
            logger: stderrLogger('warn'),
            ...(flags.bwrap !== undefined ? { bwrapPath: flags.bwrap } : {}),
            ...(flags.spawner !== undefined ? { spawner: flags.spawner } : {}),
          })
        : await ExecServerClient.connect(flags.remote, { token, clientName: 'execvisor-run' });
  } catch (error) {
    process.stderr.write(errorLine(error));
    return EXIT_FAILURE;
  }
  try {
    return await runCommand(backend, {
      argv,
      cwd: resolve(flags.cwd ?? '.'),
      env: flags.cleanEnv ? {} : definedEnv(),
      tty: flags.tty,
      sandbox:
        flags.sandbox === undefined
          ? null
          : sandboxConfigFromFlags({
              policy: flags.sandbox,
              writableRoots: flags.writableRoot.map((root) => resolve(root)),
              network: flags.network,
              mode: 'require',
            }),
    });
  } catch (error) {
    process.stderr.write(errorLine(error));
    return exitCodeForError(error);
  } finally {
    await backend.close().catch(() => undefined);
  }
}

/**
 * Runs the command on `backend` and resolves with the exit code this process should end with,
 * once every byte of the command's output has been written (or the reader has gone away).
 */
export async function runCommand(backend: ExecBackend, options: RunCommandOptions): Promise<number> {
  const stdin = process.stdin;
  const localTty = options.tty && stdin.isTTY === true;
  const start: StartOptions = {
    argv: options.argv,
    cwd: options.cwd,
    env: options.env,
    tty: options.tty,
    pipeStdin: !options.tty,
    sandbox: options.sandbox,
    size: options.tty ? terminalSize() : null,
    flowControl: RUN_FLOW_CONTROL,
  };
  const sink = new OutputSink(process.stdout, process.stderr);
  const child = await backend.start(start);
  const cleanups: (() => void)[] = [];
  let runningAtBrokenPipe = false;
  sink.onError = (error) => {
    if (error.code !== 'EPIPE') return;
    // The reader is gone: end the child as a shell pipeline would, quietly.
    runningAtBrokenPipe = !child.info().exited;
    child.signal('SIGPIPE').catch(() => undefined);
    const escalate = setTimeout(() => {
      child.terminate({ graceMs: BROKEN_PIPE_GRACE_MS }).catch(() => undefined);
    }, BROKEN_PIPE_GRACE_MS);
    escalate.unref();
    cleanups.push(() => clearTimeout(escalate));
  };

  forwardStdin(child, localTty, cleanups);
  if (options.tty) forwardWindowSize(child, cleanups);
  forwardSignals(child, options.tty, cleanups);

  try {
    const last = await pumpOutput(child, sink);
    const writeError = sink.error;
    if (writeError !== null && writeError.code === 'EPIPE') {
      return runningAtBrokenPipe ? (last.exitCode ?? EXIT_BROKEN_PIPE) : EXIT_BROKEN_PIPE;
    }
    if (writeError !== null) {
      process.stderr.write(errorLine(`cannot write the output: ${writeError.message}`));
      return EXIT_FAILURE;
    }
    if (last.failure !== null) {
      process.stderr.write(errorLine(last.failure));
      return EXIT_FAILURE;
    }
    return last.exitCode ?? EXIT_FAILURE;
  } finally {
    for (const cleanup of cleanups) cleanup();
  }
}

function terminalSize(): { rows: number; cols: number } {
  const { rows, columns } = process.stdout;
  return rows > 0 && columns > 0 ? { rows, cols: columns } : { rows: 24, cols: 80 };
}

/** One chunk of stdin in flight at a time: reading pauses until the child has taken the last one. */
function forwardStdin(child: ExecProcess, raw: boolean, cleanups: (() => void)[]): void {
  const stdin = process.stdin;
  if (raw) {
    stdin.setRawMode(true);
    cleanups.push(() => stdin.setRawMode(false));
  }
  const stop = () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
  };
  const onData = (data: Buffer) => {
    stdin.pause();
    child.write(data).then(
      (status) => (status === 'accepted' ? stdin.resume() : stop()),
      () => stop(),
    );
  };
  const onEnd = () => {
    child.closeStdin().catch(() => undefined);
  };
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  cleanups.push(stop);
}

function forwardWindowSize(child: ExecProcess, cleanups: (() => void)[]): void {
  if (!process.stdout.isTTY) return;
  const onResize = () => {
    child.resize(terminalSize()).catch(() => undefined);
  };
  process.stdout.on('resize', onResize);
  cleanups.push(() => process.stdout.off('resize', onResize));
}

function forwardSignals(child: ExecProcess, tty: boolean, cleanups: (() => void)[]): void {
  // In raw mode Ctrl-C reaches the child as a byte; signals sent to this process are forwarded.
  const signals: (SignalName & NodeJS.Signals)[] = tty
    ? ['SIGTERM', 'SIGHUP']
    : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) {
    const handler = () => {
      child.signal(signal).catch(() => undefined);
    };
    process.on(signal, handler);
    cleanups.push(() => process.off(signal, handler));
  }
}

function collect(value: string, previous: string[]): string[] {
  if (value.length === 0) throw new CommanderArgumentError('must not be empty');
  return [...previous, value];
}

function definedEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
