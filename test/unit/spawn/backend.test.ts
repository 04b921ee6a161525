import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../../src/index.js';
import { chooseSpawner } from '../../../src/spawn/backend.js';
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
