/**
 * The deployment files, checked as far as this machine allows (it has no container engine and no
 * systemd): the Dockerfile copies paths that exist and are not docker-ignored, starts the built
 * CLI, and its `serve` flags are accepted; the systemd unit's ExecStart starts a real server with
 * its own flags (paths mapped to this checkout) that shuts down cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { CLI, requireBuild } from '../helpers/serve.js';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The long flags `execvisor serve --help` lists. */
async function serveFlags(): Promise<Set<string>> {
  const help = await runCli(['serve', '--help']);
  expect(help.code).toBe(0);
  return new Set(help.stdout.match(/--[a-z][a-z-]+/g));
}

/** Runs `execvisor serve` with these flags until it prints its URL, then SIGTERM: the exit code. */
async function serveOnce(args: string[]): Promise<number | null> {
  requireBuild();
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const [line] = (await Promise.race([once(child.stdout, 'data'), exited.then(() => [null])])) as [
    Buffer | null,
  ];
  expect(line?.toString(), stderr).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\n$/);
  child.kill('SIGTERM');
  return (await exited)[0];
}

function tokenFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'execvisor-deploy-'));
  temps.push(dir);
  const file = join(dir, 'token');
  writeFileSync(file, 'a-token\n');
  return file;
}

/** Exec-form instruction (`["a", "b"]`) arguments. */
function execForm(dockerfile: string, instruction: string): string[] {
  const match = new RegExp(`^${instruction}\\s+(\\[.*\\])\\s*$`, 'm').exec(dockerfile);
  if (match === null) throw new Error(`no exec-form ${instruction}`);
  return JSON.parse(match[1]!) as string[];
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter(Boolean);

  it('copies from the build context only paths that exist and are not docker-ignored', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/));
    expect(copies.length).toBeGreaterThan(0);
    for (const parts of copies) {
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, source)), source).toBe(true);
        expect(
          ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
          source,
        ).toBe(false);
      }
    }
  });

  it('uses the Node.js major version package.json requires, and starts the CLI the build produces', () => {
    const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const major = /(\d+)/.exec(engines.node)![1];
    for (const [, version] of dockerfile.matchAll(/^FROM node:(\d+)/gm)) expect(version).toBe(major);
    const entrypoint = execForm(dockerfile, 'ENTRYPOINT');
    expect(entrypoint.slice(-3)).toEqual(['node', '/app/dist/src/cli/main.js', 'serve']);
    expect(existsSync(join(ROOT, 'dist/src/cli/main.js'))).toBe(true);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/apt-get install .*bubblewrap/);
  });

  it('passes serve only flags it accepts, and they start a server', async () => {
    const cmd = execForm(dockerfile, 'CMD');
    const flags = await serveFlags();
    for (const flag of cmd.filter((arg) => arg.startsWith('--'))) expect(flags, flag).toContain(flag);
    // The container's address and secret mapped to this machine: loopback, port 0, a temp file.
    const args = cmd.map((arg) =>
      arg.startsWith('ws://')
        ? 'ws://127.0.0.1:0'
        : arg === '/run/secrets/execvisor-token'
          ? tokenFile()
          : arg,
    );
    expect(await serveOnce(args)).toBe(0);
  });
});

describe('docs/deploy/execvisor.service', () => {
  const unit = readFileSync(join(ROOT, 'docs/deploy/execvisor.service'), 'utf8');

  it('ExecStart runs the CLI with flags serve accepts, and they start a server that stops on SIGTERM', async () => {
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(/\s+/);
    expect(execStart.slice(0, 3)).toEqual(['/usr/bin/node', '/opt/execvisor/dist/src/cli/main.js', 'serve']);
    const args = execStart.slice(3);
    const flags = await serveFlags();
    for (const flag of args.filter((arg) => arg.startsWith('--'))) expect(flags, flag).toContain(flag);
    const mapped = args.map((arg) =>
      arg.startsWith('ws://') ? 'ws://127.0.0.1:0' : arg === '/etc/execvisor/token' ? tokenFile() : arg,
    );
    expect(await serveOnce(mapped)).toBe(0);
  });

  it('stops with SIGTERM and leaves the namespaces bubblewrap needs available', () => {
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^KillMode=mixed$/m);
    expect(unit).not.toMatch(/^RestrictNamespaces=/m);
    expect(unit).not.toMatch(/^PrivateUsers=/m);
    expect(unit).not.toMatch(/^ProtectProc=invisible/m);
  });
});
