import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveBwrap } from '../../../src/sandbox/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'execvisor-tools-'));
const exe = join(dir, 'bwrap-a');
const other = join(dir, 'bwrap-b');
const plain = join(dir, 'plain');
writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
writeFileSync(other, '#!/bin/sh\n', { mode: 0o755 });
writeFileSync(plain, 'data', { mode: 0o644 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the trusted bwrap', () => {
  it('takes the first executable of the fixed locations, never anything from PATH', () => {
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      expect(
        resolveBwrap({ platform: 'linux', candidates: [join(dir, 'missing'), plain, exe, other] }),
      ).toEqual({
        path: exe,
        source: 'default',
      });
      expect(resolveBwrap({ platform: 'linux', candidates: [join(dir, 'missing')] })).toEqual({
        error: `bwrap not found (looked in ${join(dir, 'missing')}; install bubblewrap or pass --bwrap)`,
      });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('an explicit path wins over EXECVISOR_BWRAP, which wins over the locations', () => {
    const candidates = [exe];
    expect(resolveBwrap({ explicit: other, env: exe, candidates })).toEqual({
      path: other,
      source: 'option',
    });
    expect(resolveBwrap({ env: other, candidates })).toEqual({ path: other, source: 'env' });
    expect(resolveBwrap({ env: '', candidates, platform: 'linux' })).toEqual({
      path: exe,
      source: 'default',
    });
  });

  it('an explicit path that is not an absolute executable file is an error, not a fallback', () => {
    expect(() => resolveBwrap({ explicit: plain, candidates: [exe] })).toThrow(
      `bwrapPath "${plain}" is not an executable file (not executable)`,
    );
    expect(() => resolveBwrap({ explicit: dir, candidates: [exe] })).toThrow('(not a regular file)');
    expect(() => resolveBwrap({ explicit: join(dir, 'missing'), candidates: [exe] })).toThrow(
      '(no such file)',
    );
    expect(() => resolveBwrap({ env: 'bwrap', candidates: [exe] })).toThrow(
      'EXECVISOR_BWRAP must be an absolute path, got "bwrap"',
    );
  });

  it('is not looked for off Linux', () => {
    expect(resolveBwrap({ platform: 'darwin', candidates: [exe] })).toEqual({
      error: 'bwrap is not used on darwin',
    });
  });
});
