/**
 * The package as npm would publish it (run `npm run build` first): what `npm pack` puts in it, and
 * a project that depends on it importing it by name through its `exports` map, in JavaScript and
 * in TypeScript. Regressions: `ExecServerClient` was not exported, source maps pointed at sources
 * the package does not ship, there was no LICENSE file.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild } from '../helpers/serve.js';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const run = promisify(execFile);

interface PackJson {
  readonly files: readonly { readonly path: string }[];
}

interface PackageJson {
  readonly license: string;
  readonly repository?: { readonly url?: string };
  readonly keywords?: readonly string[];
  readonly main: string;
  readonly types: string;
  readonly bin: Record<string, string>;
  readonly exports: Record<string, string | Record<string, string>>;
  readonly peerDependencies?: Record<string, string>;
  readonly dependencies: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

describe('npm pack', () => {
  let files: string[] = [];
  beforeAll(async () => {
    requireBuild();
    // --ignore-scripts: prepack would rebuild dist/ under the other tests' feet.
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      maxBuffer: 64 << 20,
    });
    files = (JSON.parse(stdout) as PackJson[])[0]!.files.map((file) => file.path);
  }, 60_000);

  it('ships the built code, its types, the native sources, the protocol schema, the README and the LICENSE, and nothing else', () => {
    for (const path of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/client/index.js',
      'dist/src/cli/main.js',
      'dist/workers/process-actor.js',
      'dist/workers/fs-operation.js',
      'docs/protocol.schema.json',
    ]) {
      expect(files, path).toContain(path);
    }
    const outside = files.filter(
      (path) =>
        !['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'docs/protocol.schema.json'].includes(
          path,
        ) &&
        !/^dist\/(src|workers)\//.test(path) &&
        // The native sources: npm builds them on install (binding.gyp), as node-pty does; the
        // launcher's link step is a script binding.gyp runs.
        !/^src\/native\/.+\.(c|cc|h)$/.test(path) &&
        path !== 'src/native/launcher/build.sh',
    );
    expect(outside).toEqual([]);
    expect(files.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
  });

  it('every entry point named in package.json is in the package', () => {
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
    for (const entry of Object.values(pkg.exports)) {
      targets.push(...(typeof entry === 'string' ? [entry] : Object.values(entry)));
    }
    for (const target of targets) expect(files, target).toContain(target.replace(/^\.\//, ''));
  });

  it('every source map carries its sources (the .ts files are not shipped)', () => {
    const maps = files.filter((path) => path.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const path of maps) {
      const map = JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(map.sourcesContent?.length, path).toBe(map.sources.length);
      expect(
        map.sourcesContent!.every((text) => typeof text === 'string' && text.length > 0),
        path,
      ).toBe(true);
    }
  });

  it('holds no stale build output: every .js has its TypeScript source', () => {
    for (const path of files.filter((file) => file.endsWith('.js'))) {
      const source = path.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(join(ROOT, source)), `${path} has no ${source}`).toBe(true);
    }
  });

  it('has the Apache-2.0 LICENSE text package.json names, a repository and keywords', () => {
    expect(pkg.license).toBe('Apache-2.0');
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    expect(license).toContain('APPENDIX: How to apply the Apache License to your work.');
    expect(pkg.repository?.url).toMatch(/^git\+https:\/\/.+\.git$/);
    expect(pkg.keywords?.length).toBeGreaterThan(0);
  });

  it('declares rxjs as a peer: events$ hands out the caller’s own Observables', () => {
    expect(pkg.peerDependencies?.rxjs).toBeDefined();
    expect(pkg.dependencies.rxjs).toBeUndefined();
  });
});

describe('a project that depends on execvisor', () => {
  let project = '';
  beforeAll(() => {
    requireBuild();
    // What `npm install execvisor` (and its peer rxjs) leaves: the package under node_modules.
    project = mkdtempSync(join(tmpdir(), 'execvisor-consumer-'));
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, join(project, 'node_modules', 'execvisor'));
    symlinkSync(join(ROOT, 'node_modules', 'rxjs'), join(project, 'node_modules', 'rxjs'));
    symlinkSync(
      join(ROOT, 'node_modules', '@types', 'node'),
      join(project, 'node_modules', '@types', 'node'),
    );
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', type: 'module', private: true }),
    );
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('imports ExecServerClient and the runtime by name, and the ./client subpath; internals stay private', async () => {
    const script = `
      const main = await import('execvisor');
      const client = await import('execvisor/client');
      const internal = await import('execvisor/dist/src/index.js').then(() => 'importable', (e) => e.code);
      console.log(JSON.stringify({
        client: typeof main.ExecServerClient,
        runtime: typeof main.ExecRuntime,
        same: main.ExecServerClient === client.ExecServerClient,
        errors: typeof main.TransportError,
        decoder: typeof main.OutputDecoder,
        internal,
      }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({
      client: 'function',
      runtime: 'function',
      same: true,
      errors: 'function',
      decoder: 'function',
      internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  it('runs a command and talks to a server through the package', async () => {
    const script = `
      import { ExecRuntime, ExecServerClient } from 'execvisor';
      import { spawn } from 'node:child_process';
      import { once } from 'node:events';
      const runtime = await ExecRuntime.create({ workers: 1 });
      const local = await runtime.exec({ argv: ['echo', 'local'], cwd: '/', env: {} });
      await runtime.close();
      const server = spawn(process.execPath, [${JSON.stringify(join(ROOT, 'dist/src/cli/main.js'))}, 'serve'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const [line] = await once(server.stdout, 'data');
      const client = await ExecServerClient.connect(String(line).trim());
      const remote = await client.exec({ argv: ['echo', 'remote'], cwd: '/', env: {} });
      await client.close();
      server.kill('SIGTERM');
      await once(server, 'exit');
      console.log(local.stdout.trim(), remote.stdout.trim());`;
    writeFileSync(join(project, 'use.mjs'), script);
    const { stdout } = await run(process.execPath, ['use.mjs'], { cwd: project });
    expect(stdout).toBe('local remote\n');
  });

  it('type-checks against the package types by name (TypeScript, NodeNext resolution)', async () => {
    writeFileSync(
      join(project, 'use.ts'),
      `import { ExecServerClient, type ExecServerClientOptions, type ExecResult } from 'execvisor';
       import { ExecServerClient as FromSubpath } from 'execvisor/client';
       const options: ExecServerClientOptions = { token: null, clientName: 'typed' };
       export async function go(url: string): Promise<ExecResult> {
         const client: FromSubpath = await ExecServerClient.connect(url, options);
         return client.exec({ argv: ['true'], cwd: '/', env: {} });
       }
      `,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: ['node'],
          skipLibCheck: true,
        },
        files: ['use.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );
    expect(result).toBe('');
  }, 60_000);
});
