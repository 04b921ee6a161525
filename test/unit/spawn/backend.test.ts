import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../../src/index.js';
import { chooseSpawner, maxReadBytes } from '../../../src/spawn/backend.js';
import type { NativeSpawnBinding } from '../../../src/spawn/native-binding.js';

const loaded = { available: true, binding: {} as NativeSpawnBinding } as const;
const missing = { available: false, reason: 'the native spawner is not built' } as const;

describe('choosing the spawner (one place)', () => {
  it('takes native by default where it loads', () => {
    expect(chooseSpawner('auto', loaded)).toEqual({ kind: 'native', warning: null });
  });

  it('falls back to node by default where it does not load, with a warning that says why', () => {
    const choice = chooseSpawner('auto', missing);
    expect(choice.kind).toBe('node');
    expect(choice.warning).toContain('the native spawner is not built');
  });

  it('uses node when asked, whether or not native loads', () => {
    expect(chooseSpawner('node', loaded)).toEqual({ kind: 'node', warning: null });
  });

  it('refuses native where it does not load, with a coded error', () => {
    let error: unknown;
    try {
      chooseSpawner('native', missing);
    } catch (caught) {
      error = caught;
    }
    expect(errorCodeOf(error)).toBe('EXEC_ERR_INVALID_ARGUMENT');
    expect((error as Error).message).toBe(
      'spawner "native" is not available here: the native spawner is not built',
    );
  });
});

describe('the largest single read of a pipe', () => {
  it('is 1 MiB at most, a quarter of the retention and of the flow-control window, 4 KiB at least', () => {
    expect(maxReadBytes(64 << 20, null)).toBe(1 << 20);
    expect(maxReadBytes(1 << 20, null)).toBe(256 << 10);
    // Retention evicts whole chunks: a tail is always kept.
    expect(maxReadBytes(64 << 10, null)).toBe(16 << 10);
    // Flow control pauses between reads: it overshoots its mark by one read at most.
    expect(maxReadBytes(1 << 20, 128 << 10)).toBe(32 << 10);
    expect(maxReadBytes(0, null)).toBe(1 << 20);
    expect(maxReadBytes(1024, 1024)).toBe(4 << 10);
  });

  it('under an output budget, a flow-controlled read is a 64th of the budget at most', () => {
    // Every paused process may have passed the budget's mark by one read: 4 processes at 256 KiB
    // would take the whole quarter of a 4 MiB budget kept for acknowledging consumers.
    expect(maxReadBytes(1 << 20, 8 << 20, 4 << 20)).toBe(64 << 10);
    expect(maxReadBytes(1 << 20, 8 << 20, 1 << 30)).toBe(256 << 10);
    // Without flow control the budget does not pause the process: its reads are not limited by it.
    expect(maxReadBytes(1 << 20, null, 4 << 20)).toBe(256 << 10);
  });
});
