/**
 * `execvisor run` as a user meets it in a shell (run `npm run build` first): real pipes to a reader
 * that reads only when the test tells it to (test/fixtures/slow-reader.mjs), exit codes, one-line
 * errors, and the same command through a server (`--remote`).
 *
 * Regressions: output cut short when the reader was slower than the child (`process.exit()` before
 * stdout drained), the CLI buffering a fast child's output without bound, an unhandled EPIPE stack
 * trace when the reader went away, stack traces for a refused connection and a 401, flags that
 * need another silently ignored.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checksummedBytes, sha256 } from '../helpers/data.js';
import { killAllCli, runCli, spawnCli } from '../helpers/cli.js';
import { eventually, FIXTURES, isDead, withDescendants } from '../helpers/process.js';
import { spawnServe, stopAll } from '../helpers/serve.js';

const readers = new Set<ChildProcess>();

afterEach(async () => {
  await Promise.all(
    [...readers].map(async (reader) => {
      readers.delete(reader);
      if (reader.exitCode !== null || reader.signalCode !== null) return;
      const exited = once(reader, 'exit');
      reader.kill('SIGKILL');
      await exited;
    }),
  );
  await killAllCli();
});

afterAll(async () => {
  await stopAll();
});

interface ReaderReport {
  readonly total: number;
  readonly eof?: boolean;
  readonly sha256?: string;
}

/**
 * A reader on the other end of a real pipe (a FIFO, as a shell's `|` makes: Node's own child pipes
 * are socket pairs, which behave differently under a writer), reading only on `step()`.
 */
class SlowReader {
  readonly child: ChildProcess;
  /** The pipe's write end, to hand to the CLI as its stdout; `closeInput()` once it has it. */
  readonly input: number;
  readonly #lines: string[] = [];
  #buffer = '';
  #wake: (() => void) | null = null;

  constructor(stepBytes: number) {
    const dir = mkdtempSync(join(tmpdir(), 'execvisor-fifo-'));
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    // Opening the read end without O_NONBLOCK would wait for a writer, and the other way round.
    const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    this.input = openSync(fifo, constants.O_WRONLY);
    rmSync(dir, { recursive: true, force: true });
    this.child = spawn(process.execPath, [join(FIXTURES, 'slow-reader.mjs'), String(stepBytes)], {
      stdio: [readEnd, 'pipe', 'inherit'],
    });
    closeSync(readEnd);
    readers.add(this.child);
    this.child.stdout!.on('data', (data: Buffer) => {
      this.#buffer += data.toString();
      const parts = this.#buffer.split('\n');
      this.#buffer = parts.pop()!;
      this.#lines.push(...parts);
      this.#wake?.();
    });
    this.child.on('exit', () => this.#wake?.());
  }

  /** The writer has its own copy now: the reader must see EOF when that one closes. */
  closeInput(): void {
    closeSync(this.input);
  }

  async next(): Promise<Record<string, unknown>> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return JSON.parse(line) as Record<string, unknown>;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error('reader exited');
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }

  async ready(): Promise<void> {
    expect(await this.next()).toHaveProperty('ready');
  }

  /** Reads one step; answers what the reader has read so far. */
  async step(): Promise<ReaderReport> {
    this.child.kill('SIGUSR1');
    return (await this.next()) as unknown as ReaderReport;
  }

  /** Steps until end of input. */
  async drain(): Promise<ReaderReport> {
    for (;;) {
      const report = await this.step();
      if (report.eof === true) return report;
    }
  }
}

/** Starts `execvisor run -- ...command` with its stdout on a pipe to a fresh slow reader. */
async function runIntoReader(command: string[], stepBytes = 64 * 1024) {
  const reader = new SlowReader(stepBytes);
  await reader.ready();
  const cli = spawnCli(['run', '--', ...command], { stdout: reader.input });
  reader.closeInput();
  let stderr = '';
  cli.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = once(cli, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { reader, cli, exited, stderr: () => stderr };
}

function procStatus(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

function descendantNamed(root: number, name: string): number | undefined {
  return withDescendants(root).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

/** `sh -c` that says `started` on stderr, then becomes `command`: the test knows it exists. */
function announced(command: string[]): string[] {
  return ['sh', '-c', 'echo started >&2; exec "$@"', 'sh', ...command];
}

/**
 * Once the CLI's child (found by its command line) has started: waits until it has either exited
 * or stopped writing (its written-byte count unchanged over 40 looks), whichever comes first. A
 * child paused because its reader reads nothing stalls; an unpaused one finishes. `check` sees each
 * count, and may throw.
 */
async function untilWriterSettles(
  cliPid: number,
  command: RegExp,
  check: (written: number) => void = () => {},
) {
  const pid = withDescendants(cliPid).find((candidate) => {
    try {
      return command.test(readFileSync(`/proc/${candidate}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      return false;
    }
  });
  if (pid === undefined) return undefined; // already gone
  let stable = 0;
  let last = -1;
  await eventually(
    () => {
      if (isDead(pid)) return true;
      let written: number;
      try {
        written = Number(/^wchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
      } catch {
        return true; // gone
      }
      check(written);
      stable = written === last ? stable + 1 : 0;
      last = written;
      return stable >= 40;
    },
    'the child to stall or finish',
    20_000,
  );
  return pid;
}

/** Resolves once `stderr()` contains `text`. */
async function stderrShows(stderr: () => string, text: string): Promise<void> {
  await eventually(() => stderr().includes(text), `${JSON.stringify(text)} on stderr`, 20_000);
}

describe('execvisor run: output through a real pipe', () => {
  it('delivers every line to a reader slower than the child, then exits 0', async () => {
    const { reader, exited, stderr } = await runIntoReader(['sh', '-c', 'seq 1 200000; echo done >&2']);
    // The child finishes long before the reader reads anything (its 1.3 MB fits the flow-control
    // window): everything must still arrive.
    const report = await reader.drain();
    const expected = Array.from({ length: 200000 }, (_, i) => `${i + 1}\n`).join('');
    expect(report.total).toBe(Buffer.byteLength(expected));
    expect(report.sha256).toBe(sha256(Buffer.from(expected)));
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stderr()).toBe('done\n');
  });

  it('delivers 20 MB of binary output byte for byte to a reader that starts late', async () => {
    const bytes = 20_000_000;
    const { reader, cli, exited, stderr } = await runIntoReader(
      announced([process.execPath, join(FIXTURES, 'checksummed.mjs'), '7', String(bytes)]),
      1024 * 1024,
    );
    // The reader reads nothing until the child has finished or is held back by the full pipe.
    await stderrShows(stderr, 'started');
    await untilWriterSettles(cli.pid!, /checksummed\.mjs/);
    const report = await reader.drain();
    expect(report.total).toBe(bytes);
    expect(report.sha256).toBe(sha256(checksummedBytes(7, bytes)));
    expect((await exited)[0]).toBe(0);
  });

  it('pauses a child that outruns its reader instead of buffering (bounded RSS), and ends it quietly with 141 when the reader goes', async () => {
    const { reader, cli, exited, stderr } = await runIntoReader(
      announced(['head', '-c', '3000000000', '/dev/zero']),
    );
    const cliPid = cli.pid!;
    const WRITTEN_BOUND = 64 * 1024 * 1024;
    const RSS_BOUND = 300 * 1024 * 1024;
    await stderrShows(stderr, 'started');
    // The reader reads nothing: the child must stall, not run ahead into the CLI's memory.
    const head = await untilWriterSettles(cliPid, /head -c 3000000000/, (written) => {
      if (written > WRITTEN_BOUND) throw new Error(`the child ran ${written} bytes ahead of its reader`);
      if (procStatus(cliPid, 'VmRSS') > RSS_BOUND) throw new Error('the CLI grew past its bound');
    });
    expect(head).toBeDefined();
    expect(isDead(head!)).toBe(false);
    expect(procStatus(cliPid, 'VmHWM')).toBeLessThan(RSS_BOUND);
    // The reader reads a little, then goes away: EPIPE.
    expect((await reader.step()).total).toBe(64 * 1024);
    reader.child.kill('SIGKILL');
    const [code] = await exited;
    expect(code).toBe(141);
    expect(stderr()).toBe('started\n');
    await eventually(() => isDead(head!), 'the child to be ended');
  });

  it('ends quietly with 141 when the reader closes early (run -- seq … | head -3)', async () => {
    const { reader, exited, stderr } = await runIntoReader(['seq', '1', '2000000'], 16);
    expect((await reader.step()).total).toBe(16);
    reader.child.kill('SIGKILL');
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 141, signal: null });
    expect(stderr()).toBe('');
  });
});

describe('execvisor run: exit codes and errors', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'execvisor-cli-run-'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'not-executable'), 'echo hi\n', { mode: 0o644 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the child status through: an exit code, and 128+n for a signal', async () => {
    expect((await runCli(['run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])).code).toBe(7);
    const killed = await runCli(['run', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(killed.code).toBe(143);
  });

  it('127 for a program not found, 126 for one not executable, 125 for a missing cwd: one line each', async () => {
    const notFound = await runCli(['run', '--', 'no-such-program-anywhere']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toBe(
      'execvisor: failed to spawn `no-such-program-anywhere`: No such file or directory (os error 2): not found on PATH\n',
    );
    const notExecutable = await runCli(['run', '--', join(dir, 'not-executable')]);
    expect(notExecutable.code).toBe(126);
    expect(notExecutable.stderr).toMatch(
      /^execvisor: failed to spawn `.*`: Permission denied \(os error 13\)\n$/,
    );
    const noCwd = await runCli(['run', '--cwd', join(dir, 'missing'), '--', 'true']);
    expect(noCwd.code).toBe(125);
    expect(noCwd.stderr.split('\n')).toHaveLength(2);
  });

  it('--cwd resolves a relative directory against the current one', async () => {
    const result = await runCli(['run', '--cwd', 'sub', '--', 'pwd'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${join(dir, 'sub')}\n`);
    const dot = await runCli(['run', '--cwd', '.', '--', 'pwd'], { cwd: dir });
    expect(dot.stdout).toBe(`${dir}\n`);
  });

  it('2 for a bad command line: flags that need another, unknown options, bad choices', async () => {
    const cases: [string[], string][] = [
      [['run', '--network', '--', 'true'], 'execvisor: --network needs --sandbox (see --help)\n'],
      [
        ['run', '--writable-root', '/tmp', '--', 'true'],
        'execvisor: --writable-root needs --sandbox workspace-write (see --help)\n',
      ],
      [
        ['run', '--sandbox', 'read-only', '--writable-root', '/tmp', '--', 'true'],
        'execvisor: --writable-root needs --sandbox workspace-write (see --help)\n',
      ],
      [
        ['run', '--token-file', '/dev/null', '--', 'true'],
        'execvisor: --token-file needs --remote (see --help)\n',
      ],
      [['run', '--bogus', '--', 'true'], "execvisor: unknown option '--bogus' (see --help)\n"],
    ];
    for (const [args, stderr] of cases) {
      const result = await runCli(args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 2, stderr });
    }
    const choice = await runCli(['run', '--sandbox', 'bogus', '--', 'true']);
    expect(choice.code).toBe(2);
    expect(choice.stderr.split('\n')).toHaveLength(2);
  });

  it('125 with one line for a refused connection', async () => {
    const result = await runCli(['run', '--remote', 'ws://127.0.0.1:9', '--', 'true']);
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(
      /^execvisor: failed to connect to exec-server at ws:\/\/127\.0\.0\.1:9: .*ECONNREFUSED.*\n$/,
    );
  });

  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const result = await runCli([flag]);
      expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('execvisor run --remote (over WebSocket)', () => {
  it('runs through a server: stdout and stderr apart, the exit code passed through', async () => {
    const server = await spawnServe(['--log-level', 'warn']);
    const result = await runCli([
      'run',
      '--remote',
      server.url,
      '--',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    expect(result).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('delivers every byte through a server to a slow reader', async () => {
    const server = await spawnServe(['--log-level', 'warn']);
    const reader = new SlowReader(256 * 1024);
    await reader.ready();
    const cli = spawnCli(['run', '--remote', server.url, '--', 'seq', '1', '500000'], {
      stdout: reader.input,
    });
    reader.closeInput();
    const exited = once(cli, 'exit');
    const report = await reader.drain();
    const expected = Array.from({ length: 500000 }, (_, i) => `${i + 1}\n`).join('');
    expect(report.sha256).toBe(sha256(Buffer.from(expected)));
    expect((await exited)[0]).toBe(0);
  });

  it('a token: accepted from --token-file; without it, 125 and one line naming the 401', async () => {
    const server = await spawnServe(['--log-level', 'warn'], { ...process.env, EXEC_SERVER_TOKEN: 'sekrit' });
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'execvisor-token-')), 'token');
    writeFileSync(tokenFile, 'sekrit\n');
    try {
      const withToken = await runCli(
        ['run', '--remote', server.url, '--token-file', tokenFile, '--', 'echo', 'ok'],
        {
          env: { ...process.env, EXEC_SERVER_TOKEN: '' },
        },
      );
      expect(withToken).toMatchObject({ code: 0, stdout: 'ok\n' });
      const without = await runCli(['run', '--remote', server.url, '--', 'true'], {
        env: { ...process.env, EXEC_SERVER_TOKEN: '' },
      });
      expect(without.code).toBe(125);
      expect(without.stderr).toMatch(/^execvisor: failed to connect to exec-server at .*: HTTP 401.*\n$/);
    } finally {
      rmSync(join(tokenFile, '..'), { recursive: true, force: true });
    }
  });

  it('stops the remote child when this process gets SIGTERM, and exits with its status', async () => {
    const server = await spawnServe(['--log-level', 'warn']);
    const cli = spawnCli(['run', '--remote', server.url, '--', 'sh', '-c', 'echo ready; exec sleep 300']);
    let stdout = '';
    await new Promise<void>((resolve) =>
      cli.stdout!.on('data', (data: Buffer) => {
        stdout += data.toString();
        if (stdout.includes('ready')) resolve();
      }),
    );
    const sleeper = descendantNamed(server.pid, 'sleep');
    expect(sleeper).toBeDefined();
    const exited = once(cli, 'exit');
    cli.kill('SIGTERM');
    expect((await exited)[0]).toBe(143);
    await eventually(() => isDead(sleeper!), 'the remote child to die');
  });
});
