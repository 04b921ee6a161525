/**
 * `execvisor run`: runs one command through an ExecBackend (the embedded runtime, or a server with
 * --remote), streams its output to this terminal (stdout and stderr kept apart), forwards stdin,
 * signals and (with --tty) the window size, and exits with the command's exit code.
 */
import type { ExecBackend, ExecProcess, StartOptions } from '../core/types.js';

export interface RunCommandOptions {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly sandbox: unknown;
}

/** Runs the command on `backend` and resolves with its exit code. */
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
  };
  const child = await backend.start(start);
  const cleanups: (() => void)[] = [];

  const drained = new Promise<void>((resolve, reject) => {
    child.events$.subscribe({
      next(event) {
        if (event.type !== 'output') return;
        (event.stream === 'stderr' ? process.stderr : process.stdout).write(event.chunk);
      },
      complete: () => resolve(),
      error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
    });
  });

  forwardStdin(child, localTty, cleanups);
  if (options.tty) forwardWindowSize(child, cleanups);
  forwardSignals(child, options.tty, cleanups);

  try {
    await drained;
    const read = await child.read({ afterSeq: Number.MAX_SAFE_INTEGER });
    if (read.failure !== null) process.stderr.write(`execvisor: ${read.failure}\n`);
    return read.exitCode ?? 1;
  } finally {
    for (const cleanup of cleanups) cleanup();
  }
}

function terminalSize(): { rows: number; cols: number } {
  const { rows, columns } = process.stdout;
  return rows > 0 && columns > 0 ? { rows, cols: columns } : { rows: 24, cols: 80 };
}

function forwardStdin(child: ExecProcess, raw: boolean, cleanups: (() => void)[]): void {
  const stdin = process.stdin;
  if (raw) {
    stdin.setRawMode(true);
    cleanups.push(() => stdin.setRawMode(false));
  }
  const onData = (data: Buffer) => {
    void child.write(data);
  };
  const onEnd = () => {
    void child.closeStdin().catch(() => undefined);
  };
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  cleanups.push(() => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
  });
}

function forwardWindowSize(child: ExecProcess, cleanups: (() => void)[]): void {
  if (!process.stdout.isTTY) return;
  const onResize = () => {
    void child.resize(terminalSize()).catch(() => undefined);
  };
  process.stdout.on('resize', onResize);
  cleanups.push(() => process.stdout.off('resize', onResize));
}

function forwardSignals(child: ExecProcess, tty: boolean, cleanups: (() => void)[]): void {
  // In raw mode Ctrl-C reaches the child as a byte; signals sent to this process are forwarded.
  const forward = (signal: NodeJS.Signals) => () => {
    void child.signal(signal).catch(() => undefined);
  };
  const signals: NodeJS.Signals[] = tty ? ['SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) {
    const handler = forward(signal);
    process.on(signal, handler);
    cleanups.push(() => process.off(signal, handler));
  }
}
