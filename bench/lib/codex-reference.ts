/**
 * The reference exec server: the Rust `codex exec-server` shipped in the npm package
 * `@openai/codex` (pinned below). It is installed outside the project's dependencies, into a cache
 * folder, the first time a conformance test or a benchmark asks for it; later calls reuse it.
 *
 * Cache folder: `$EXECVISOR_REFERENCE_CACHE`, else `$XDG_CACHE_HOME/execvisor`, else
 * `~/.cache/execvisor`. The package is about 100 MB.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const REFERENCE_VERSION = '0.171.0';

const PLATFORM_PACKAGES: Readonly<Record<string, { readonly version: string; readonly triple: string }>> = {
  'linux-x64': { version: `${REFERENCE_VERSION}-linux-x64`, triple: 'x86_64-unknown-linux-musl' },
  'linux-arm64': { version: `${REFERENCE_VERSION}-linux-arm64`, triple: 'aarch64-unknown-linux-musl' },
};

export function referenceCacheDir(): string {
  const explicit = process.env.EXECVISOR_REFERENCE_CACHE;
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'execvisor');
}

function binaryIn(dir: string, triple: string): string {
  return join(dir, 'node_modules', '@openai', 'codex', 'vendor', triple, 'bin', 'codex');
}

let installing: Promise<string> | null = null;

/**
 * The path of the reference `codex` binary, installing it on first use. Rejects with a message that
 * names the cause (no build for this platform, the registry unreachable).
 */
export function referenceBinary(): Promise<string> {
  installing ??= install();
  return installing;
}

async function install(): Promise<string> {
  const platform = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (platform === undefined) {
    throw new Error(`no reference codex build for ${process.platform}-${process.arch}`);
  }
  const root = referenceCacheDir();
  const target = join(root, `codex-${platform.version}`);
  const binary = binaryIn(target, platform.triple);
  if (existsSync(binary)) return binary;

  mkdirSync(root, { recursive: true });
  // Installed into a fresh folder and renamed into place: a concurrent or interrupted install never
  // leaves a half-written package at the final path.
  const staging = mkdtempSync(join(root, '.staging-'));
  try {
    const child = spawn(
      'npm',
      [
        'install',
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--prefix',
        staging,
        `@openai/codex@${platform.version}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => {
      if (stderr.length < 8192) stderr += data.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0 || !existsSync(binaryIn(staging, platform.triple))) {
      throw new Error(
        `could not install @openai/codex@${platform.version} (npm exit ${String(code)}): ${stderr.trim()}`,
      );
    }
    try {
      renameSync(staging, target);
    } catch (error) {
      // Another process finished first: use its copy.
      if (!existsSync(binary)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

export interface ReferenceServer {
  readonly child: ChildProcess;
  /** `ws://127.0.0.1:PORT`, as printed on its first stdout line. */
  readonly url: string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `codex exec-server --listen ws://127.0.0.1:0` and waits for its URL line. */
export async function startReferenceServer(env: NodeJS.ProcessEnv = process.env): Promise<ReferenceServer> {
  const binary = await referenceBinary();
  const child = spawn(binary, ['exec-server', '--listen', 'ws://127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => {
    if (stderr.length < 1 << 20) stderr += data.toString();
  });
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
      const newline = stdout.indexOf('\n');
      if (newline >= 0) resolve(stdout.slice(0, newline).trim());
    });
    child.once('exit', (code, signal) =>
      reject(
        new Error(`codex exec-server exited (${String(code ?? signal)}) before its URL line: ${stderr}`),
      ),
    );
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, url, stderr: () => stderr, stop };
}

/**
 * Starts `codex exec-server --listen stdio`: one connection on the child's stdin and stdout, JSON
 * lines. The caller owns the child (EOF on its stdin ends it).
 */
export async function spawnReferenceStdio(
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildProcessByStdio<Writable, Readable, Readable>> {
  const binary = await referenceBinary();
  return spawn(binary, ['exec-server', '--listen', 'stdio'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
}
