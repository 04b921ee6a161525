/**
 * The sandbox as an attacker meets it, with real bubblewrap: a hostile request's env must not run
 * anything outside the sandbox, the seccomp layer must refuse datagrams addressed to host sockets
 * and the 32-bit syscall entry, fs/* must see no more than a process under the same policy, and
 * merged-/usr hosts keep working under restricted read.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecRuntime, type ExecProcess, type SandboxOptions, type StartOptions } from '../../src/index.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { commandAvailable } from '../helpers/network-fixtures.js';
import { allEvents, textOf, waitForOutput } from '../helpers/process.js';

const enabled = bwrapAvailable();
// Under CI=true a missing tool fails the run (.ci/run installs it) instead of skipping.
const hasCc = commandAvailable('cc');
const PYTHON = '/usr/bin/python3';
const hasPython = commandAvailable('python3') && existsSync(PYTHON);
const PATH_ENV = { PATH: '/usr/bin:/bin' };

function cc(source: string, output: string, flags: readonly string[] = []): void {
  const file = `${output}.c`;
  writeFileSync(file, source);
  execFileSync('cc', [...flags, '-o', output, file], { stdio: 'pipe' });
}

describe.skipIf(!enabled)('sandbox attacks', () => {
  let runtime: ExecRuntime;
  let workspace: string;
  /** Outside every writable root of the policies below. */
  let outside: string;

  beforeAll(async () => {
    runtime = await ExecRuntime.create({ workers: 1 });
    workspace = mkdtempSync('/tmp/execvisor-attack-ws-');
    outside = mkdtempSync('/var/tmp/execvisor-attack-out-');
  });
  afterAll(async () => {
    await runtime?.close();
    rmSync(workspace, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  const workspaceWrite = { mode: 'require', policy: { type: 'workspace-write' } } satisfies SandboxOptions;

  async function run(options: Partial<StartOptions> & Pick<StartOptions, 'argv'>) {
    const process = await runtime.start({ cwd: workspace, env: PATH_ENV, ...options });
    const events = await allEvents(process);
    return { process, text: textOf(events), exitCode: await process.exited };
  }

  /** Runs under a terminal: waits for `done` (a line the command prints last). */
  async function runTty(options: Partial<StartOptions> & Pick<StartOptions, 'argv'>) {
    const process: ExecProcess = await runtime.start({
      cwd: workspace,
      env: PATH_ENV,
      tty: true,
      ...options,
    });
    const events = await allEvents(process);
    return { process, text: textOf(events).replaceAll('\r\n', '\n'), exitCode: await process.exited };
  }

  describe.skipIf(!hasCc)("the request's env reaches only the program", () => {
    let library: string;
    let marker: string;

    beforeAll(() => {
      // A library that records every process that loads it, in a file no sandboxed run may write.
      marker = join(outside, 'preload-ran');
      library = join(outside, 'evil.so');
      cc(
        '#include <fcntl.h>\n#include <unistd.h>\n' +
          '__attribute__((constructor)) static void mark(void) {\n' +
          `  int fd = open(${JSON.stringify(marker)}, O_WRONLY | O_CREAT | O_APPEND, 0644);\n` +
          '  if (fd >= 0) { write(fd, "loaded\\n", 7); close(fd); }\n}\n',
        library,
        ['-shared', '-fPIC'],
      );
    });

    it('LD_PRELOAD in a sandboxed start is not loaded outside the sandbox (pipes and terminal)', async () => {
      for (const tty of [false, true]) {
        const env = { ...PATH_ENV, LD_PRELOAD: library };
        const options = {
          argv: ['/bin/sh', '-c', 'echo "preload=$LD_PRELOAD"'],
          env,
          sandbox: workspaceWrite,
        };
        const result = tty ? await runTty(options) : await run(options);
        expect(result.process.sandboxType).toBe('linux-seccomp');
        expect(result.exitCode).toBe(0);
        // The program still got it (and loaded it inside, where the marker cannot be written)...
        expect(result.text).toContain(`preload=${library}`);
        // ...but nothing outside the sandbox ran it: bwrap and the launcher get no request env.
        expect(existsSync(marker), `tty: ${tty}`).toBe(false);
      }
      // The library works: loaded by an unsandboxed run, it leaves its mark.
      await run({ argv: ['/bin/true'], env: { LD_PRELOAD: library } });
      expect(readFileSync(marker, 'utf8')).toBe('loaded\n');
      rmSync(marker);
    });
  });

  it('PERL5OPT/PERL5DB in a terminal start with arg0 run nothing of ours', async () => {
    const marker = join(outside, 'perl-ran');
    const env = {
      ...PATH_ENV,
      PERL5OPT: '-d',
      PERL5DB: `BEGIN { open(my $f, '>', '${marker}'); print $f "ran\\n"; close($f) }`,
    };
    for (const sandbox of [null, workspaceWrite]) {
      const result = await runTty({
        argv: ['/bin/sh', '-c', 'echo "opt=$PERL5OPT"'],
        arg0: 'renamed',
        env,
        sandbox,
      });
      expect(result.exitCode).toBe(0);
      expect(result.text).toBe('opt=-d\n');
      expect(existsSync(marker), `sandbox: ${JSON.stringify(sandbox)}`).toBe(false);
    }
  });

  it('the program sees exactly the request env and argv[0] = arg0, inside and outside, pipes and terminal', async () => {
    const env = { PATH: '/usr/bin:/bin', ONE: '1', SPACED: 'a b=c', EMPTY: '' };
    const probe = 'process.stdout.write(JSON.stringify({ env: process.env, argv0: process.argv0 }) + "\\n")';
    for (const sandbox of [null, workspaceWrite]) {
      for (const tty of [false, true]) {
        const options = { argv: [process.execPath, '-e', probe], arg0: 'custom-zero', env, sandbox };
        const result = tty ? await runTty(options) : await run(options);
        const label = `sandbox: ${sandbox !== null}, tty: ${tty}`;
        expect(result.exitCode, label).toBe(0);
        expect(JSON.parse(result.text), label).toEqual({ env, argv0: 'custom-zero' });
      }
    }
  });

  it('no env value appears on any command line (/proc/*/cmdline), pipes or terminal, sandboxed or not', async () => {
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const started: ExecProcess[] = [];
    try {
      for (const sandbox of [null, workspaceWrite]) {
        for (const tty of [false, true]) {
          const process = await runtime.start({
            argv: ['sh', '-c', 'echo "up:${#TOKEN}"; exec sleep 1000'],
            arg0: 'holder',
            cwd: workspace,
            env: { ...PATH_ENV, TOKEN: secret },
            tty,
            sandbox,
          });
          started.push(process);
          await waitForOutput(process, `up:${secret.length}`);
        }
      }
      const leaks: string[] = [];
      for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(secret)) leaks.push(pid);
        } catch {
          // Gone meanwhile.
        }
      }
      expect(leaks).toEqual([]);
    } finally {
      await Promise.all(started.map(async (process) => process.terminate().then(() => process.closed)));
    }
  });

  it.skipIf(!hasPython)(
    'with network restricted no datagram reaches a host Unix socket (sendmsg with an address, sendto, socketpair)',
    async () => {
      const socketPath = join(workspace, 'host.sock');
      // The host side: prints every datagram it receives until END, as one JSON line.
      const listener: ChildProcess = spawn(
        PYTHON,
        [
          '-c',
          'import json, socket, sys\n' +
            's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
            `s.bind(${JSON.stringify(socketPath)})\n` +
            'print("ready", flush=True)\n' +
            'got = []\n' +
            'while True:\n' +
            '    d = s.recv(4096)\n' +
            '    if d == b"END": break\n' +
            '    got.append(d.decode())\n' +
            'print(json.dumps(got), flush=True)\n',
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = once(listener, 'exit');
      try {
        let out = '';
        listener.stdout!.setEncoding('utf8');
        listener.stdout!.on('data', (chunk: string) => (out += chunk));
        while (!out.includes('ready\n')) await once(listener.stdout!, 'data');

        const attack =
          'import errno, socket\n' +
          `path = ${JSON.stringify(socketPath)}\n` +
          'def attempt(name, make, send):\n' +
          '    try:\n' +
          '        s = make()\n' +
          '        send(s)\n' +
          '        print(name, "sent")\n' +
          '    except OSError as e:\n' +
          '        print(name, errno.errorcode[e.errno])\n' +
          'dgram = lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
          'attempt("sendmsg", dgram, lambda s: s.sendmsg([b"via-sendmsg"], [], 0, path))\n' +
          'attempt("sendto", dgram, lambda s: s.sendto(b"via-sendto", path))\n' +
          'attempt("socketpair", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0],\n' +
          '        lambda s: s.sendmsg([b"via-pair"], [], 0, path))\n' +
          'attempt("stream", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),\n' +
          '        lambda s: s.sendmsg([b"via-stream"], [], 0, path))\n';
        const result = await run({ argv: [PYTHON, '-c', attack], env: {}, sandbox: workspaceWrite });
        expect(result.process.sandboxType).toBe('linux-seccomp');
        expect(result.text.split('\n').filter((line) => line !== '')).toEqual([
          'sendmsg EPERM',
          'sendto EPERM',
          'socketpair EPERM',
          // A stream socket may be made, but cannot address a message: the kernel refuses.
          expect.stringMatching(/^stream (ENOTCONN|EOPNOTSUPP|ENOTSUP|EISCONN)$/),
        ]);

        // Unsandboxed, the same datagram arrives: the listener works.
        await run({
          argv: [
            PYTHON,
            '-c',
            'import socket\n' +
              's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
              `s.sendmsg([b"control"], [], 0, ${JSON.stringify(socketPath)})\n` +
              `s.sendto(b"END", ${JSON.stringify(socketPath)})\n`,
          ],
          env: {},
        });
        await exited;
        expect(JSON.parse(out.split('\n')[1]!)).toEqual(['control']);
      } finally {
        listener.kill('SIGKILL');
      }
    },
  );

  it.skipIf(!hasCc || process.arch !== 'x64')(
    'the 32-bit syscall entry (int 0x80, socketcall) kills the process: the arch check',
    async () => {
      const program = join(outside, 'int80');
      cc(
        '#include <stdio.h>\n' +
          'int main(void) {\n' +
          '  unsigned long args[3] = {2 /* AF_INET */, 1 /* SOCK_STREAM */, 0};\n' +
          '  long result;\n' +
          '  /* socketcall(SYS_SOCKET, args) through the i386 entry */\n' +
          '  __asm__ volatile ("int $0x80" : "=a"(result) : "a"(102), "b"(1), "c"(args) : "memory");\n' +
          '  printf("socketcall returned %ld\\n", result);\n' +
          '  return 0;\n' +
          '}\n',
        program,
      );
      for (const network_access of [false, true]) {
        const result = await run({
          argv: [program],
          sandbox: { mode: 'require', policy: { type: 'workspace-write', network_access } },
        });
        // SIGSYS: seccomp's SECCOMP_RET_KILL_PROCESS.
        expect(result.exitCode, `network_access: ${network_access}`).toBe(128 + 31);
        expect(result.text).toBe('');
      }
    },
  );

  it('fs/* under restricted read sees no more than a process: /etc/shadow, a hidden file, Node’s libraries', async () => {
    const hidden = join(outside, 'hidden.txt');
    writeFileSync(hidden, 'secret');
    const restricted = {
      mode: 'require',
      sandboxPolicyCwd: workspace,
      policy: {
        type: 'read-only',
        access: { type: 'restricted', include_platform_defaults: false, readable_roots: [] },
      },
    } satisfies SandboxOptions;
    const traced = execFileSync(process.execPath, [], {
      env: { LD_TRACE_LOADED_OBJECTS: '1' },
      encoding: 'utf8',
    });
    const library = /=>\s+(\/\S+)/.exec(traced)?.[1];
    const paths = ['/etc/shadow', '/etc/passwd', hidden, ...(library !== undefined ? [library] : [])];
    for (const path of paths) {
      const error = await runtime.readFile({ path, sandbox: restricted }).catch((e: unknown) => e);
      expect(error, path).toMatchObject({ code: 'EXEC_ERR_FS_IO' });
      expect((error as Error).message, path).toMatch(/No such file or directory|Permission denied/);
    }
    // The same policy lets a process read nothing there either; the workspace stays readable.
    writeFileSync(join(workspace, 'visible.txt'), 'visible');
    const { data } = await runtime.readFile({ path: join(workspace, 'visible.txt'), sandbox: restricted });
    expect(Buffer.from(data).toString()).toBe('visible');
  });

  it('a workspace nested below /tmp cannot be moved away and replaced (its ancestors are pinned)', async () => {
    // Renaming an ancestor of the cwd inside /tmp (writable by default) would carry the workspace
    // and its read-only .git along, and let the run plant a workspace of its own, with a git hook,
    // at the old path for the host's git to run.
    const base = mkdtempSync('/tmp/execvisor-nested-');
    try {
      const ws = join(base, 'q', 'ws');
      execFileSync('mkdir', ['-p', join(ws, '.git', 'hooks')]);
      for (const tty of [false, true]) {
        const script =
          `cd ${base} && if mv q q_old; then mkdir -p q/ws/.git/hooks && echo planted > q/ws/.git/hooks/pre-commit; ` +
          `else echo refused; fi; echo done`;
        const result = await (tty ? runTty : run)({
          argv: ['sh', '-c', script],
          cwd: ws,
          sandbox: workspaceWrite,
        });
        expect(result.text).toMatch(/Device or resource busy/);
        expect(result.text).toMatch(/refused\ndone/);
        expect(existsSync(join(base, 'q_old')), `tty ${tty}`).toBe(false);
        expect(readdirSync(join(ws, '.git', 'hooks'))).toEqual([]);
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('fs/* under the policy cannot carry a masked path away either (remove, copy of its ancestor)', async () => {
    const ws = mkdtempSync('/tmp/execvisor-fsmask-');
    try {
      execFileSync('mkdir', ['-p', join(ws, 'conf')]);
      writeFileSync(join(ws, 'conf', 'secret'), 'TOPSECRET\n');
      const sandbox = {
        mode: 'require',
        sandboxPolicyCwd: ws,
        fileSystemPolicy: {
          kind: 'restricted',
          entries: [
            { path: { type: 'special', value: { kind: 'root' } }, access: 'read' },
            { path: { type: 'special', value: { kind: 'current_working_directory' } }, access: 'write' },
            { path: { type: 'path', path: join(ws, 'conf', 'secret') }, access: 'none' },
          ],
        },
        networkPolicy: 'restricted',
      } satisfies SandboxOptions;
      await expect(
        runtime.remove({ path: join(ws, 'conf'), recursive: true, sandbox }),
      ).rejects.toMatchObject({
        code: 'EXEC_ERR_FS_IO',
      });
      // The copy reads the masked file as the sandbox shows it (unreadable): it fails, copying nothing of it.
      await expect(
        runtime.copy({
          sourcePath: join(ws, 'conf'),
          destinationPath: join(ws, 'copy'),
          recursive: true,
          sandbox,
        }),
      ).rejects.toMatchObject({ code: 'EXEC_ERR_FS_IO' });
      await expect(runtime.readFile({ path: join(ws, 'conf', 'secret'), sandbox })).rejects.toMatchObject({
        code: 'EXEC_ERR_FS_IO',
      });
      expect(readFileSync(join(ws, 'conf', 'secret'), 'utf8')).toBe('TOPSECRET\n');
      const copied = join(ws, 'copy', 'secret');
      expect(existsSync(copied) ? readFileSync(copied, 'utf8') : '').not.toContain('TOPSECRET');
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('restricted read that names /bin, /lib, /lib64 (merged /usr) keeps them usable', async () => {
    for (const access of [
      { type: 'restricted' as const, include_platform_defaults: true, readable_roots: [] },
      {
        type: 'restricted' as const,
        include_platform_defaults: false,
        readable_roots: ['/bin', '/lib', '/lib64', '/usr', '/etc'].filter((path) => existsSync(path)),
      },
    ]) {
      const result = await run({
        argv: ['/bin/sh', '-c', 'ls /lib >/dev/null && ls /bin/sh >/dev/null && echo usable'],
        sandbox: { mode: 'require', policy: { type: 'read-only', access } },
      });
      expect(result.text, JSON.stringify(access)).toBe('usable\n');
      expect(result.exitCode).toBe(0);
    }
  });

  it('a sandboxed terminal runs its program through the launcher without naming it', async () => {
    const shell = await runtime.start({
      argv: ['sh'],
      cwd: workspace,
      env: PATH_ENV,
      tty: true,
      arg0: 'named-shell',
      sandbox: workspaceWrite,
    });
    await shell.write('tr "\\0" " " < /proc/$$/cmdline; echo "fin""ished"\n');
    const text = await waitForOutput(shell, 'finished');
    expect(text).toContain('named-shell');
    await shell.write('exit 3\n');
    expect(await shell.exited).toBe(3);
  });
});
