/**
 * The launcher as built by `npm ci` (build/Release/execvisor-launcher), driven with specs from
 * `encodeLaunchSpec`: exact argv and env, descriptors opened onto 3, 4, …, everything else closed,
 * and the error lines and exit statuses of each failing step.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeLaunchSpec, type LaunchSpec } from '../../../src/spawn/launch-spec.js';
import { launcherBuildPath, resolveLauncher } from '../../../src/sandbox/tools.js';
import { buildSeccompProgram, seccompArchOf } from '../../../src/sandbox/linux/seccomp-bpf.js';

const launcher = launcherBuildPath();
const built = 'path' in resolveLauncher(launcher);
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
