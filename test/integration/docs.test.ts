/**
 * Every fenced code block in README.md and docs/ is run (run `npm run build` first), so the
 * documents cannot drift from the code again. A block is run by its language:
 *
 * - `js`: as an ES module in a project that depends on execvisor (imported by name, through the
 *   package's `exports`, with its peer rxjs and pino installed); it must exit 0.
 * - `sh`: with `bash -e -o pipefail` in an empty directory, `execvisor` on PATH; it must exit 0.
 * - `json`: parsed; in docs/sandbox.md also validated as a SandboxLaunchConfig.
 *
 * Any other block (and any block that cannot run here) carries a marker in its info string. The
 * markers honoured, and nothing else (an unknown one fails, so a typo cannot switch a block off):
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSandboxLaunchConfig } from '../../src/sandbox/index.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { CLI, requireBuild } from '../helpers/serve.js';

export const MARKERS = {
  norun: 'not run; the value says why and must not be empty: norun="why"',
  requires:
    'requires=bwrap: run only where bubblewrap is on PATH (skipped with a printed reason elsewhere, a failure under CI=true)',
} as const;

const RUNNABLE = new Set(['js', 'sh', 'json']);
const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const BLOCK_TIMEOUT_MS = 60_000;

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly code: string;
}

function documents(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs.sort()];
}

/** The fenced blocks of one Markdown file, indented ones (inside list items) included. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(.*)$/.exec(lines[i]!);
    if (open === null) continue;
    const [, indent = '', info = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent.length));
    if (j === lines.length) throw new Error(`${file}:${i + 1}: unterminated code block`);
    const [lang = '', ...rest] = info.trim().split(/\s+/);
    const attrs: Record<string, string> = {};
    for (const match of rest.join(' ').matchAll(/([\w-]+)=("([^"]*)"|\S+)/g)) {
      attrs[match[1]!] = match[3] ?? match[2]!;
    }
    blocks.push({ file, line: i + 1, lang, attrs, code: `${body.join('\n')}\n` });
    i = j;
  }
  return blocks;
}

const blocks = documents().flatMap(blocksOf);
const runnable = blocks.filter((block) => block.attrs.norun === undefined);
const label = (block: Block) => `${block.file}:${block.line} (${block.lang})`;

describe('code blocks in README.md and docs/', () => {
  it('finds the blocks', () => {
    expect(blocks.length).toBeGreaterThan(20);
    expect(runnable.filter((block) => block.lang === 'js').length).toBeGreaterThan(10);
  });

  it('every block can run here, or says why not with a marker this test honours', () => {
    const problems: string[] = [];
    for (const block of blocks) {
      for (const key of Object.keys(block.attrs)) {
        if (!(key in MARKERS)) problems.push(`${label(block)}: unknown marker ${key}`);
      }
      if (block.attrs.norun !== undefined && block.attrs.norun.trim() === '') {
        problems.push(`${label(block)}: norun needs a reason`);
      }
      if (block.attrs.requires !== undefined && block.attrs.requires !== 'bwrap') {
        problems.push(`${label(block)}: unknown requirement ${block.attrs.requires}`);
      }
      if (block.attrs.norun === undefined && !RUNNABLE.has(block.lang)) {
        problems.push(
          `${label(block)}: a ${block.lang || 'plain'} block must be js, sh or json, or carry norun="why"`,
        );
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('running them', () => {
  let project = '';
  let workdir = '';
  let env: NodeJS.ProcessEnv = {};
  let counter = 0;

  beforeAll(() => {
    requireBuild();
    project = mkdtempSync(join(tmpdir(), 'execvisor-docs-'));
    // A project with execvisor installed, its peer rxjs and pino (used by the logging example).
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'execvisor'));
    for (const name of ['rxjs', 'pino'])
      symlinkSync(join(ROOT, 'node_modules', name), join(project, 'node_modules', name));
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'docs', type: 'module', private: true }),
    );
    // `execvisor` on PATH, as `npm install -g execvisor` or `npx` would give.
    const bin = join(project, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'execvisor'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'execvisor'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    workdir = join(project, 'work');
    mkdirSync(workdir);
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  function run(command: string, args: string[], cwd: string) {
    return new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(
        command,
        args,
        { cwd, env, timeout: BLOCK_TIMEOUT_MS, maxBuffer: 16 << 20 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
          resolve({ code, output: `${stdout}${stderr}` });
        },
      );
    });
  }

  it.each(runnable.map((block) => [label(block), block] as const))(
    '%s',
    async (_name, block) => {
      if (block.attrs.requires === 'bwrap' && !bwrapAvailable()) return;
      switch (block.lang) {
        case 'json': {
          const value: unknown = JSON.parse(block.code);
          if (block.file === 'docs/sandbox.md') parseSandboxLaunchConfig(value);
          return;
        }
        case 'js': {
          const file = join(project, `block-${++counter}.mjs`);
          writeFileSync(file, block.code);
          const { code, output } = await run(process.execPath, [file], project);
          expect(code, `${label(block)} printed:\n${output}`).toBe(0);
          return;
        }
        case 'sh': {
          const cwd = mkdtempSync(join(workdir, 'sh-'));
          const { code, output } = await run('bash', ['-e', '-o', 'pipefail', '-c', block.code], cwd);
          expect(code, `${label(block)} printed:\n${output}`).toBe(0);
          return;
        }
      }
    },
    BLOCK_TIMEOUT_MS + 10_000,
  );
});
