/**
 * The public types, checked by the compiler: test/types/public-api.ts holds code that must compile
 * and `@ts-expect-error` lines that must not (a typo in a sandbox config, a made-up signal name,
 * bytes taken for a string). tsc fails on either kind of mistake, so this test fails with it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('public types', () => {
  it('compile where they should and refuse what they should (tsc -p test/types)', async () => {
    const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', 'test/types/tsconfig.json'], {
      cwd: ROOT,
    }).then(
      () => ({ code: 0, output: '' }),
      (error: { code: number; stdout: string }) => ({ code: error.code, output: error.stdout }),
    );
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);
});
