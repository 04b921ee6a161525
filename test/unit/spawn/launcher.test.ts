/**
 * The launcher as built by `npm ci` (build/Release/execvisor-launcher), driven with specs from
 * `encodeLaunchSpec`: exact argv and env, descriptors opened onto 3, 4, …, everything else closed,
 * and the error lines and exit statuses of each failing step.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeLaunchSpec, type LaunchSpec } from '../../../src/spawn/launch-spec.js';
import { launcherBuildPath, resolveLauncher } from '../../../src/sandbox/tools.js';
import { buildSeccompProgram, seccompArchOf } from '../../../src/sandbox/linux/seccomp-bpf.js';

const launcher = launcherBuildPath();
const built = 'path' in resolveLauncher(launcher);
if (!built && process.env.CI === 'true')
  throw new Error(`CI=true: ${launcher} is not built (npm ci builds it)`);
if (!built) console.warn(`skipping launcher tests: ${launcher} is not built (npm ci builds it)`);

const dir = mkdtempSync(join(tmpdir(), 'execvisor-launcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the launcher with its spec in a file (`--path`), as the terminal backend does. */
function launchFile(spec: Uint8Array | LaunchSpec, env: Record<string, string> = {}) {
  const bytes = spec instanceof Uint8Array ? spec : encodeLaunchSpec(spec);
  const file = join(dir, `spec-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, bytes);
  return spawnSync(launcher, ['--path', file], { env, encoding: 'utf8' });
}

describe.skipIf(!built)('execvisor-launcher', () => {
  it('execs the program with exactly the spec argv (argv[0] included) and env, not its own', () => {
    const result = launchFile(
      {
        program: '/bin/sh',
        argv: ['custom-zero', '-c', 'tr "\\0" "|" < /proc/$$/cmdline; echo; env', 'a b', ''],
        env: { ONLY: 'this', SPACED: 'x = y' },
      },
      { LD_PRELOAD: '/nonexistent.so', LEAK: 'no' },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const [args, ...env] = result.stdout.trim().split('\n');
    expect(args).toBe('custom-zero|-c|tr "\\0" "|" < /proc/$$/cmdline; echo; env|a b||');
    // dash adds PWD of its own; nothing of the launcher's environment comes through.
    expect(env.filter((line) => !line.startsWith('PWD=')).sort()).toEqual(['ONLY=this', 'SPACED=x = y']);
  });

  it('opens OPEN records onto 3, 4, … and closes every other descriptor', () => {
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    writeFileSync(a, 'first');
    writeFileSync(b, 'second');
    const result = launchFile({
      program: '/bin/sh',
      argv: ['sh', '-c', 'cat <&3; echo; cat <&4; echo; ls /proc/self/fd | sort -n | tr "\\n" " "'],
      env: { PATH: '/usr/bin:/bin' },
      opens: [a, b],
    });
    expect(result.stderr).toBe('');
    // 0-2, the two opened, and the descriptor `ls` itself reads /proc/self/fd with.
    expect(result.stdout).toMatch(/^first\nsecond\n0 1 2 3 4 5 $/);
  });

  it('reads the spec from an inherited descriptor and closes it before the exec', () => {
    const file = join(dir, 'fd-spec');
    writeFileSync(
      file,
      encodeLaunchSpec({ program: '/bin/sh', argv: ['sh', '-c', 'ls /proc/self/fd | wc -l'], env: {} }),
    );
    const result = spawnSync('/bin/sh', ['-c', `exec "$0" --fd 3 3<"$1"`, launcher, file], {
      encoding: 'utf8',
      env: {},
    });
    expect(result.stderr).toBe('');
    // 0, 1, 2 and ls's own: descriptor 3 is gone.
    expect(result.stdout.trim()).toBe('4');
  });

  it.runIf(seccompArchOf(process.arch) !== null)('applies the seccomp program before the exec', () => {
    const arch = seccompArchOf(process.arch)!;
    const result = launchFile({
      program: '/usr/bin/perl',
      argv: [
        'perl',
        '-e',
        'use Socket; print socket(my $s, PF_INET, SOCK_STREAM, 0) ? "made" : "refused:" . ($!+0)',
      ],
      env: {},
      seccomp: buildSeccompProgram({ arch, restrictNetwork: true }),
    });
    expect(result.stdout).toBe('refused:1');
    expect(result.status).toBe(0);
  });

  it('reports each failing step as `execvisor-launcher: <step>: <reason> (os error N)`, 127 or 126', () => {
    const missing = launchFile({ program: '/nonexistent/prog', argv: ['prog'], env: {} });
    expect(missing.stderr).toBe(
      'execvisor-launcher: exec `/nonexistent/prog`: No such file or directory (os error 2)\n',
    );
    expect(missing.status).toBe(127);
    const notExecutable = join(dir, 'plain');
    writeFileSync(notExecutable, 'data', { mode: 0o644 });
    const denied = launchFile({ program: notExecutable, argv: ['plain'], env: {} });
    expect(denied.stderr).toBe(
      `execvisor-launcher: exec \`${notExecutable}\`: Permission denied (os error 13)\n`,
    );
    expect(denied.status).toBe(126);
    const noOpen = launchFile({ program: '/bin/true', argv: ['true'], env: {}, opens: ['/nonexistent/x'] });
    expect(noOpen.stderr).toBe(
      'execvisor-launcher: open /nonexistent/x: No such file or directory (os error 2)\n',
    );
    expect(noOpen.status).toBe(127);
  });

  it('words an OS error as glibc does, whichever C library it is linked with', () => {
    // musl's own text for ELOOP is "Symbolic link loop"; glibc's is the one the server (Node) and
    // the reference (Rust) report on Linux.
    const loop = join(dir, 'loop');
    symlinkSync(loop, loop);
    const looped = launchFile({ program: loop, argv: ['loop'], env: {} });
    expect(looped.stderr).toBe(
      `execvisor-launcher: exec \`${loop}\`: Too many levels of symbolic links (os error 40)\n`,
    );
    expect(looped.status).toBe(126);
  });

  it('refuses a bad spec: header, version, unknown record, truncation', () => {
    const good = Buffer.from(encodeLaunchSpec({ program: '/bin/true', argv: ['true'], env: {} }));
    const unknown = Buffer.concat([good, Buffer.from([99, 0, 0, 0, 0, 0, 0, 0])]);
    const version = Buffer.from(good);
    version.writeUInt32LE(2, 4);
    const cases: [Buffer, string][] = [
      [Buffer.from('nope'), 'bad header'],
      [version, 'unsupported version'],
      [unknown, 'unknown record tag'],
      [good.subarray(0, good.length - 2), 'truncated record'],
    ];
    for (const [bytes, what] of cases) {
      const result = launchFile(bytes);
      expect(result.stderr).toBe(`execvisor-launcher: spec: ${what}: Invalid argument (os error 22)\n`);
      expect(result.status).toBe(126);
    }
    const usage = spawnSync(launcher, [], { encoding: 'utf8' });
    expect(usage.status).toBe(126);
    expect(usage.stderr).toMatch(/^usage: execvisor-launcher/);
  });
});

/** A spec with a BRIDGE record written by hand (the encoder refuses bad ones). */
function withBridge(port: number, token: string, path: string, extra: Buffer = Buffer.alloc(0)): Buffer {
  const good = Buffer.from(encodeLaunchSpec({ program: '/bin/true', argv: ['true'], env: {} }));
  const payload = Buffer.concat([Buffer.alloc(8), Buffer.from(token, 'latin1'), Buffer.from(path)]);
  payload.writeUInt32LE(port, 0);
  payload.writeUInt32LE(token.length, 4);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(6, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([good, header, payload, extra]);
}

const TOKEN = '0123456789abcdef0123456789abcdef';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe.skipIf(!built)('execvisor-launcher: the managed-network bridge', () => {
  it('refuses a bad BRIDGE record', () => {
    const cases: [Buffer, string][] = [
      [withBridge(0, TOKEN, '/x.sock'), 'BRIDGE port out of range'],
      [withBridge(70000, TOKEN, '/x.sock'), 'BRIDGE port out of range'],
      [withBridge(3128, 'NOT-HEX', '/x.sock'), 'bad BRIDGE token'],
      [withBridge(3128, TOKEN, 'relative.sock'), 'BRIDGE path is not absolute'],
    ];
    const twice = withBridge(3128, TOKEN, '/x.sock');
    cases.push([
      Buffer.concat([twice, twice.subarray(twice.length - (8 + 8 + TOKEN.length + 7))]),
      'more than one BRIDGE',
    ]);
    for (const [bytes, what] of cases) {
      const result = launchFile(bytes);
      expect(result.stderr).toBe(`execvisor-launcher: spec: ${what}: Invalid argument (os error 22)\n`);
      expect(result.status).toBe(126);
    }
  });

  it('reports a bridge that cannot listen, and runs nothing', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as { port: number };
    try {
      const result = launchFile({
        program: '/bin/echo',
        argv: ['echo', 'ran'],
        env: {},
        bridge: { port, token: TOKEN, socketPath: join(dir, 'none.sock') },
      });
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        'execvisor-launcher: bridge: listen on 127.0.0.1: Address already in use (os error 98)\n',
      );
      expect(result.status).toBe(126);
    } finally {
      busy.close();
    }
  });

  it.runIf(seccompArchOf(process.arch) !== null)(
    'forwards to the proxy socket, preamble first, for a command under the proxied filter, and exits with it',
    async () => {
      const arch = seccompArchOf(process.arch)!;
      const socketPath = join(dir, 'proxy.sock');
      const preambles: string[] = [];
      const proxy = createServer((socket: Socket) => {
        let seen = '';
        socket.on('data', (chunk: Buffer) => {
          seen += chunk.toString('latin1');
          const end = seen.indexOf('\r\n\r\n');
          if (end < 0) return;
          preambles.push(seen.slice(0, seen.indexOf('\n')));
          socket.end('HTTP/1.0 200 OK\r\n\r\nthrough the bridge');
        });
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => proxy.listen(socketPath, resolve));
      const port = await freePort();
      try {
        const file = join(dir, 'bridge-spec');
        writeFileSync(
          file,
          encodeLaunchSpec({
            program: '/usr/bin/perl',
            argv: [
              'perl',
              '-e',
              [
                'use IO::Socket::INET; use Socket;',
                `my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:${port}") or die "tcp: $!";`,
                'print $s "GET / HTTP/1.0\\r\\n\\r\\n"; local $/; print scalar <$s>; print "\\n";',
                // The command itself cannot make a Unix socket to reach the proxy directly.
                'print socket(my $u, PF_UNIX, SOCK_STREAM, 0) ? "unix:made" : "unix:refused:" . ($!+0);',
              ].join(' '),
            ],
            env: {},
            seccomp: buildSeccompProgram({ arch, restrictNetwork: true, proxied: true }),
            bridge: { port, token: TOKEN, socketPath },
          }),
        );
        const child = spawn(launcher, ['--path', file], { stdio: ['ignore', 'pipe', 'pipe'], env: {} });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
        child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
        const [code] = (await once(child, 'close')) as [number | null];
        expect(stderr).toBe('');
        expect(code).toBe(0);
        expect(stdout).toBe('HTTP/1.0 200 OK\r\n\r\nthrough the bridge\nunix:refused:1');
        expect(preambles).toHaveLength(1);
        expect(preambles[0]).toMatch(new RegExp(`^EXECVISOR-NET/1 ${TOKEN} 127\\.0\\.0\\.1:\\d+$`));
        // The bridge watched the command: with it gone, nothing listens on the port any more.
        let gone = false;
        const deadline = Date.now() + 5_000;
        while (!gone && Date.now() < deadline) gone = await refused(port);
        expect(gone).toBe(true);
      } finally {
        proxy.close();
      }
    },
  );
});
