import { describe, expect, it } from 'vitest';
import {
  fileSystemPolicyFromLegacy,
  legacyPolicyFromSplit,
  networkPolicyFromLegacy,
} from '../../../src/sandbox/index.js';
import type { FileSystemEntry, SandboxPolicy } from '../../../src/sandbox/index.js';

const sp = (kind: string): FileSystemEntry['path'] =>
  ({ type: 'special', value: { kind } }) as FileSystemEntry['path'];
const p = (path: string): FileSystemEntry['path'] => ({ type: 'path', path });
const full = { type: 'full-access' } as const;

describe('legacy → split', () => {
  it('danger-full-access', () => {
    const policy: SandboxPolicy = { type: 'danger-full-access' };
    expect(fileSystemPolicyFromLegacy(policy)).toEqual({ kind: 'unrestricted', entries: [] });
    expect(networkPolicyFromLegacy(policy)).toBe('enabled');
  });

  it('external-sandbox', () => {
    for (const network of ['restricted', 'enabled'] as const) {
      const policy: SandboxPolicy = { type: 'external-sandbox', network_access: network };
      expect(fileSystemPolicyFromLegacy(policy)).toEqual({ kind: 'external-sandbox', entries: [] });
      expect(networkPolicyFromLegacy(policy)).toBe(network);
    }
  });

  it('read-only with full read', () => {
    const policy: SandboxPolicy = { type: 'read-only', access: full, network_access: true };
    expect(fileSystemPolicyFromLegacy(policy)).toEqual({
      kind: 'restricted',
      entries: [{ path: sp('root'), access: 'read' }],
    });
    expect(networkPolicyFromLegacy(policy)).toBe('enabled');
  });

  it('read-only restricted, with and without platform defaults', () => {
    const withDefaults: SandboxPolicy = {
      type: 'read-only',
      access: { type: 'restricted', include_platform_defaults: true, readable_roots: ['/a', '/b'] },
      network_access: false,
    };
    expect(fileSystemPolicyFromLegacy(withDefaults).entries).toEqual([
      { path: sp('current_working_directory'), access: 'read' },
      { path: sp('minimal'), access: 'read' },
      { path: p('/a'), access: 'read' },
      { path: p('/b'), access: 'read' },
    ]);
    expect(networkPolicyFromLegacy(withDefaults)).toBe('restricted');
    const without: SandboxPolicy = {
      type: 'read-only',
      access: { type: 'restricted', include_platform_defaults: false, readable_roots: [] },
      network_access: false,
    };
    expect(fileSystemPolicyFromLegacy(without).entries).toEqual([
      { path: sp('current_working_directory'), access: 'read' },
    ]);
  });

  it('workspace-write: reads, cwd, /tmp, $TMPDIR, extras in that order', () => {
    const policy: SandboxPolicy = {
      type: 'workspace-write',
      writable_roots: ['/x', '/y'],
      read_only_access: full,
      network_access: false,
      exclude_tmpdir_env_var: false,
      exclude_slash_tmp: false,
    };
    expect(fileSystemPolicyFromLegacy(policy)).toEqual({
      kind: 'restricted',
      entries: [
        { path: sp('root'), access: 'read' },
        { path: sp('current_working_directory'), access: 'write' },
        { path: sp('slash_tmp'), access: 'write' },
        { path: sp('tmpdir'), access: 'write' },
        { path: p('/x'), access: 'write' },
        { path: p('/y'), access: 'write' },
      ],
    });
    const excluded = fileSystemPolicyFromLegacy({
      ...policy,
      exclude_slash_tmp: true,
      exclude_tmpdir_env_var: true,
    });
    expect(
      excluded.entries.map((e) => (e.path.type === 'special' ? e.path.value.kind : e.path.path)),
    ).toEqual(['root', 'current_working_directory', '/x', '/y']);
    expect(networkPolicyFromLegacy({ ...policy, network_access: true })).toBe('enabled');
  });
});

describe('split → legacy', () => {
  it('root write → danger-full-access (network on) or external-sandbox (restricted)', () => {
    const fs = { kind: 'restricted' as const, entries: [{ path: sp('root'), access: 'write' as const }] };
    expect(legacyPolicyFromSplit(fs, 'enabled', null)).toEqual({ type: 'danger-full-access' });
    expect(legacyPolicyFromSplit(fs, 'restricted', null)).toEqual({
      type: 'external-sandbox',
      network_access: 'restricted',
    });
    expect(legacyPolicyFromSplit({ kind: 'unrestricted', entries: [] }, 'enabled', null)).toEqual({
      type: 'danger-full-access',
    });
  });

  it('no writes → read-only', () => {
    expect(
      legacyPolicyFromSplit(
        { kind: 'restricted', entries: [{ path: sp('root'), access: 'read' }] },
        'enabled',
        null,
      ),
    ).toEqual({ type: 'read-only', access: full, network_access: true });
    expect(
      legacyPolicyFromSplit(
        {
          kind: 'restricted',
          entries: [
            { path: sp('current_working_directory'), access: 'read' },
            { path: sp('minimal'), access: 'read' },
            { path: p('/opt'), access: 'read' },
          ],
        },
        'restricted',
        null,
      ),
    ).toEqual({
      type: 'read-only',
      access: { type: 'restricted', include_platform_defaults: true, readable_roots: ['/opt'] },
      network_access: false,
    });
  });

  it('a cwd write → workspace-write with the other writes as writable roots', () => {
    expect(
      legacyPolicyFromSplit(
        {
          kind: 'restricted',
          entries: [
            { path: sp('root'), access: 'read' },
            { path: p('/work/proj'), access: 'write' },
            { path: sp('slash_tmp'), access: 'write' },
            { path: p('/data'), access: 'write' },
          ],
        },
        'restricted',
        '/work/proj',
      ),
    ).toEqual({
      type: 'workspace-write',
      writable_roots: ['/data'],
      read_only_access: full,
      network_access: false,
      exclude_tmpdir_env_var: true,
      exclude_slash_tmp: false,
    });
  });

  it('round-trips the legacy workspace-write policy', () => {
    const policy: SandboxPolicy = {
      type: 'workspace-write',
      writable_roots: ['/x'],
      read_only_access: full,
      network_access: true,
      exclude_tmpdir_env_var: false,
      exclude_slash_tmp: true,
    };
    expect(
      legacyPolicyFromSplit(fileSystemPolicyFromLegacy(policy), networkPolicyFromLegacy(policy), null),
    ).toEqual(policy);
  });

  it('writes but none for the cwd → error', () => {
    expect(() =>
      legacyPolicyFromSplit(
        {
          kind: 'restricted',
          entries: [
            { path: sp('root'), access: 'read' },
            { path: p('/elsewhere'), access: 'write' },
          ],
        },
        'restricted',
        '/work/proj',
      ),
    ).toThrow(
      'failed to prepare process sandbox: permissions profile requests filesystem writes outside the workspace root',
    );
  });
});
