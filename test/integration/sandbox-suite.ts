/**
 * Sandbox behaviour with real bubblewrap, against any ExecBackend (in-process and over the wire).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecBackend, ExecProcess, SandboxOptions, StartOptions } from '../../src/index.js';
import type { BackendUnderTest } from './behaviour-suite.js';
import { allEvents, textOf, waitForOutput } from '../helpers/process.js';
import { commandAvailable } from '../helpers/network-fixtures.js';

const PATH_ENV = { PATH: '/usr/bin:/bin' };
const node = process.execPath;
// Under CI=true a missing git fails the run (.ci/run installs it) instead of skipping.
const hasGit = commandAvailable('git');

function workspaceWrite(extra: Record<string, unknown> = {}): SandboxOptions {
  return {
    mode: 'require',
    policy: { type: 'workspace-write', writable_roots: [], network_access: false, ...extra },
  };
}

export function describeSandbox(
  label: string,
  factory: () => Promise<BackendUnderTest>,
  enabled: boolean,
): void {
  describe.skipIf(!enabled)(`sandbox: ${label}`, () => {
    let under: BackendUnderTest;
    let backend: ExecBackend;
    let workspace: string;
    let outside: string;
    let listener: Server;
    let port: number;

    beforeAll(async () => {
      under = await factory();
      backend = under.backend;
      workspace = mkdtempSync('/tmp/execvisor-ws-');
      // Outside every default writable root (cwd, /tmp, $TMPDIR).
      outside = mkdtempSync('/var/tmp/execvisor-outside-');
      listener = createServer((socket) => socket.end('hello from host\n'));
      listener.listen(0, '127.0.0.1');
      await once(listener, 'listening');
      port = (listener.address() as { port: number }).port;
    });
    afterAll(async () => {
      await under?.cleanup();
      listener?.close();
      rmSync(workspace, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    });

    const run = async (options: Partial<StartOptions> & Pick<StartOptions, 'argv'>) => {
      const process = await backend.start({
        cwd: workspace,
        env: PATH_ENV,
        sandbox: workspaceWrite(),
        ...options,
      });
      const events = await allEvents(process);
      return { process, text: textOf(events), exitCode: await process.exited };
    };

    it('reports linux-seccomp, lets the workspace be written, and refuses writes outside it', async () => {
      const inside = await run({ argv: ['sh', '-c', 'echo data > inside.txt && cat inside.txt'] });
      expect(inside.process.sandboxType).toBe('linux-seccomp');
      expect(inside.exitCode).toBe(0);
      expect(inside.text).toBe('data\n');
      expect(readFileSync(join(workspace, 'inside.txt'), 'utf8')).toBe('data\n');

      const target = join(outside, 'escaped.txt');
      const denied = await run({ argv: ['sh', '-c', `echo data > ${target}`] });
      expect(denied.exitCode).not.toBe(0);
      expect(denied.text).toMatch(/Read-only file system|Permission denied/);
      expect(existsSync(target)).toBe(false);
    });

    it('protects .git and .codex inside the workspace', async () => {
      mkdirSync(join(workspace, '.git'), { recursive: true });
      writeFileSync(join(workspace, '.git', 'config'), 'original\n');
      const git = await run({ argv: ['sh', '-c', 'echo changed > .git/config'] });
      expect(git.exitCode).not.toBe(0);
      expect(readFileSync(join(workspace, '.git', 'config'), 'utf8')).toBe('original\n');

      // Creating .codex (and a config in it) succeeds anywhere unprotected: here it must fail.
      const codex = await run({ argv: ['sh', '-c', 'mkdir -p .codex && echo x > .codex/config'] });
      expect(codex.exitCode).not.toBe(0);
      expect(codex.text).toMatch(/Read-only file system/);
      expect(existsSync(join(workspace, '.codex', 'config'))).toBe(false);
    });

    it.skipIf(!hasGit)('leaves nothing for git status to show (the .codex placeholder)', async () => {
      const repo = mkdtempSync('/tmp/execvisor-git-');
      try {
        execFileSync('git', ['init', '-q', repo]);
        const result = await run({ cwd: repo, argv: ['sh', '-c', 'echo ok'] });
        expect(result.text).toBe('ok\n');
        expect(execFileSync('git', ['-C', repo, 'status', '--porcelain'], { encoding: 'utf8' })).toBe('');
        // Still impossible to create from inside.
        const codex = await run({
          cwd: repo,
          argv: ['sh', '-c', 'mkdir -p .codex && echo x > .codex/config'],
        });
        expect(codex.exitCode).not.toBe(0);
        expect(existsSync(join(repo, '.codex', 'config'))).toBe(false);
      } finally {
        rmSync(repo, { recursive: true, force: true });
      }
    });

    it('keeps a masked path masked when a run moves, removes or replaces its ancestors', async () => {
      const ws = mkdtempSync('/tmp/execvisor-mask-');
      try {
        mkdirSync(join(ws, 'conf', 'keys'), { recursive: true });
        writeFileSync(join(ws, 'conf', 'secret'), 'TOPSECRET-FILE\n');
        writeFileSync(join(ws, 'conf', 'keys', 'id'), 'TOPSECRET-DIR\n');
        writeFileSync(join(ws, 'conf', 'settings'), 'plain\n');
        const sandbox = {
          mode: 'require',
          fileSystemPolicy: {
            kind: 'restricted',
            entries: [
              { path: { type: 'special', value: { kind: 'root' } }, access: 'read' },
              { path: { type: 'special', value: { kind: 'current_working_directory' } }, access: 'write' },
              { path: { type: 'path', path: join(ws, 'conf', 'secret') }, access: 'none' },
              { path: { type: 'path', path: join(ws, 'conf', 'keys') }, access: 'none' },
            ],
          },
          networkPolicy: 'restricted',
        } satisfies SandboxOptions;
        const attack = await run({
          cwd: ws,
          sandbox,
          argv: [
            'sh',
            '-c',
            'mv conf moved 2>/dev/null; echo "mv:$?"; ' +
              'mkdir -p other && mv conf other/ 2>/dev/null; echo "mv-into:$?"; ' +
              'rm -rf conf 2>/dev/null; echo "rm:$?"; ' +
              'ln -sfn /tmp conf 2>/dev/null; echo "ln:$?"; ' +
              // The directory's contents stay writable.
              'echo changed > conf/settings && echo "write:$?"',
          ],
        });
        expect(attack.text).toMatch(/^mv:[1-9]\d*\nmv-into:[1-9]\d*\nrm:[1-9]\d*\nln:\d+\nwrite:0\n$/);
        const look = await run({
          cwd: ws,
          sandbox,
          argv: [
            'sh',
            '-c',
            'cat conf/secret conf/keys/id moved/secret other/conf/secret; grep -rs TOPSECRET . /tmp/conf; true',
          ],
        });
        expect(look.text).not.toContain('TOPSECRET');
        // On the host the secrets are where they were.
        expect(readFileSync(join(ws, 'conf', 'secret'), 'utf8')).toBe('TOPSECRET-FILE\n');
        expect(readFileSync(join(ws, 'conf', 'keys', 'id'), 'utf8')).toBe('TOPSECRET-DIR\n');
        expect(readFileSync(join(ws, 'conf', 'settings'), 'utf8')).toBe('changed\n');
      } finally {
        rmSync(ws, { recursive: true, force: true });
      }
    });

    it('refuses a writable cwd reached through a symlink a sandboxed run planted', async () => {
      const ws = mkdtempSync('/tmp/execvisor-plant-');
      try {
        const plant = await run({ cwd: ws, argv: ['ln', '-s', outside, 'build'] });
        expect(plant.exitCode).toBe(0);
        const target = join(outside, 'planted.txt');
        const error = (await backend
          .start({
            argv: ['sh', '-c', 'echo escaped > planted.txt'],
            cwd: join(ws, 'build'),
            env: PATH_ENV,
            sandbox: workspaceWrite(),
          })
          .catch((e: unknown) => e)) as Error & { code?: string };
        expect(error.code).toBe('EXEC_ERR_SANDBOX');
        expect(error.message).toBe(
          `failed to prepare process sandbox: writable root ${ws}/build goes through the symlink ` +
            `${ws}/build -> ${outside}, which leaves ${ws}; name the real path instead`,
        );
        expect(existsSync(target)).toBe(false);
      } finally {
        rmSync(ws, { recursive: true, force: true });
      }
    });

    it("protects a .git pointer file's gitdir inside a writable root", async () => {
      const root = mkdtempSync('/tmp/execvisor-root-');
      const worktree = mkdtempSync('/tmp/execvisor-wt-');
      try {
        const gitdir = join(root, 'repo.git', 'worktrees', 'wt');
        mkdirSync(gitdir, { recursive: true });
        writeFileSync(join(gitdir, 'HEAD'), 'ref: refs/heads/main\n');
        writeFileSync(join(worktree, '.git'), `gitdir: ${gitdir}\n`);
        const result = await run({
          cwd: worktree,
          argv: ['sh', '-c', `echo evil > ${gitdir}/HEAD; echo other > ${root}/free.txt`],
          sandbox: workspaceWrite({ writable_roots: [root] }),
        });
        expect(readFileSync(join(gitdir, 'HEAD'), 'utf8')).toBe('ref: refs/heads/main\n');
        // The rest of the writable root stays writable.
        expect(readFileSync(join(root, 'free.txt'), 'utf8')).toBe('other\n');
        expect(result.text).toMatch(/Read-only file system/);
      } finally {
        rmSync(root, { recursive: true, force: true });
        rmSync(worktree, { recursive: true, force: true });
      }
    });

    it('lets /tmp be written unless it is excluded', async () => {
      const name = `/tmp/execvisor-probe-${Math.random().toString(36).slice(2)}`;
      try {
        const allowed = await run({ argv: ['sh', '-c', `echo x > ${name}`] });
        expect(allowed.exitCode).toBe(0);
        expect(existsSync(name)).toBe(true);
        rmSync(name);
        const excluded = await run({
          argv: ['sh', '-c', `echo x > ${name}`],
          sandbox: workspaceWrite({ exclude_slash_tmp: true, exclude_tmpdir_env_var: true }),
        });
        expect(excluded.exitCode).not.toBe(0);
        expect(existsSync(name)).toBe(false);
      } finally {
        rmSync(name, { force: true });
      }
    });

    // Node itself as the client: its stdout is a socket pair, which the filter must leave usable.
    const netProbe = (port: number) =>
      `const s = require('node:net').connect(${port}, '127.0.0.1');` +
      "s.on('data', (d) => { console.log('connect:' + d.toString().trim()); s.destroy(); });" +
      "s.on('error', (e) => console.log('connect-error:' + e.code));";

    it('with network restricted: no TCP to the host, socket(AF_INET) gets EPERM, AF_UNIX still works', async () => {
      const connect = await run({ argv: [node, '-e', netProbe(port)], env: {} });
      expect(connect.text).toBe('connect-error:EPERM\n');
      // The seccomp layer: socket(AF_INET) itself is refused; AF_UNIX socket pairs still work.
      const perl =
        'use Socket; my $inet = socket(my $s, PF_INET, SOCK_STREAM, 0) ? "inet-ok" : "inet:" . ($!+0); ' +
        'my $unix = socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) ? "unix-ok" : "unix:" . ($!+0); ' +
        'print "$inet $unix\\n";';
      const sockets = await run({ argv: ['/usr/bin/perl', '-e', perl] });
      expect(sockets.text).toBe('inet:1 unix-ok\n');
    });

    it('with network enabled: the TCP connect to the host succeeds', async () => {
      const connect = await run({
        argv: [node, '-e', netProbe(port)],
        env: {},
        sandbox: workspaceWrite({ network_access: true }),
      });
      expect(connect.text).toContain('connect:hello from host');
    });

    it('runs an interactive shell under a sandboxed terminal', async () => {
      const shell: ExecProcess = await backend.start({
        argv: ['sh'],
        cwd: workspace,
        env: PATH_ENV,
        tty: true,
        sandbox: workspaceWrite(),
      });
      expect(shell.sandboxType).toBe('linux-seccomp');
      await shell.write('echo "answer:$((6 * 7))"\n');
      await waitForOutput(shell, 'answer:42');
      await shell.write('touch /etc/execvisor-denied; echo "rc:$?"\n');
      await waitForOutput(shell, 'rc:1');
      await shell.write('exit 5\n');
      expect(await shell.exited).toBe(5);
      expect(existsSync('/etc/execvisor-denied')).toBe(false);
    });

    it('read-only blocks writes everywhere but /dev/null', async () => {
      const result = await run({
        argv: [
          'sh',
          '-c',
          `echo ok > /dev/null && echo devnull-ok; echo x > inside.ro || echo ws-denied; echo x > /tmp/execvisor-ro-probe || echo tmp-denied; echo x > ${outside}/o || echo outside-denied`,
        ],
        sandbox: { mode: 'require', policy: { type: 'read-only' } },
      });
      expect(result.text).toContain('devnull-ok');
      expect(result.text).toContain('ws-denied');
      expect(result.text).toContain('tmp-denied');
      expect(result.text).toContain('outside-denied');
      expect(existsSync(join(workspace, 'inside.ro'))).toBe(false);
      expect(existsSync('/tmp/execvisor-ro-probe')).toBe(false);
    });

    it('passes arg0 through the sandbox', async () => {
      // The command's own `--` must not be mistaken for the wrapper's.
      const result = await run({
        argv: ['sh', '-c', 'tr "\\0" " " < /proc/$$/cmdline', '--', 'x'],
        arg0: 'sandboxed-name',
      });
      expect(result.text).toMatch(/^sandboxed-name -c .* -- x $/);
    });

    it('rejects a bad policy with the sandbox error', async () => {
      const error = (await backend
        .start({
          argv: ['true'],
          cwd: workspace,
          env: {},
          // A type the server does not know: refused at run time (and by the compiler, hence the cast).
          sandbox: { mode: 'require', policy: { type: 'nope' } } as unknown as SandboxOptions,
        })
        .catch((e: unknown) => e)) as Error & { code?: string };
      expect(error.code).toBe('EXEC_ERR_SANDBOX');
      expect(error.message).toMatch(/^failed to prepare process sandbox: /);
    });
  });
}
