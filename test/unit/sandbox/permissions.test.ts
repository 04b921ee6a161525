import { describe, expect, it } from 'vitest';
import { parseSandboxLaunchConfig } from '../../../src/sandbox/policy/parse.js';
import { parseFileSystemSandboxContext } from '../../../src/sandbox/policy/permissions.js';

const root = { path: { type: 'special', value: { kind: 'root' } }, access: 'read' };
const managed = (entries: unknown[], network = 'restricted') => ({
  permissions: { type: 'managed', file_system: { type: 'restricted', entries }, network },
  windowsSandboxLevel: 'disabled',
});

describe('FileSystemSandboxContext', () => {
  it('is recognised by parseSandboxLaunchConfig and parsed into the same model', () => {
    const config = parseSandboxLaunchConfig({ ...managed([root]), cwd: 'file:///work' });
    expect(config).toMatchObject({
      mode: 'require',
      fileSystemPolicy: {
        kind: 'restricted',
        entries: [{ path: { type: 'special', value: { kind: 'root' } }, access: 'read' }],
      },
      networkPolicy: 'restricted',
      sandboxPolicyCwd: '/work',
      policy: { type: 'read-only' },
    });
  });

  it('turns project roots into the workspace roots, not the cwd', () => {
    const entries = [
      root,
      { path: { type: 'special', value: { kind: 'project_roots', subpath: 'src' } }, access: 'write' },
    ];
    const config = parseFileSystemSandboxContext({
      ...managed(entries),
      cwd: 'file:///work',
      workspaceRoots: ['file:///a', '/b'],
    });
    expect(config.fileSystemPolicy.entries.slice(1)).toEqual([
      { path: { type: 'path', path: '/a/src' }, access: 'write' },
      { path: { type: 'path', path: '/b/src' }, access: 'write' },
    ]);
    const alias = parseFileSystemSandboxContext(
      managed([
        root,
        { path: { type: 'special', value: { kind: 'current_working_directory' } }, access: 'write' },
      ]),
    );
    expect(alias.fileSystemPolicy.entries).toHaveLength(1);
  });

  it('maps deny (and its alias none) to none, and decodes URI paths', () => {
    const config = parseFileSystemSandboxContext(
      managed([
        { path: { type: 'special', value: { kind: 'root' } }, access: 'write' },
        { path: { type: 'path', path: 'file:///etc/a%20b' }, access: 'deny' },
        { path: { type: 'path', path: '/etc/c' }, access: 'none' },
      ]),
    );
    expect(config.fileSystemPolicy.entries.slice(1)).toEqual([
      { path: { type: 'path', path: '/etc/a b' }, access: 'none' },
      { path: { type: 'path', path: '/etc/c' }, access: 'none' },
    ]);
    expect(config.mode).toBe('require');
  });

  it('ignores glob entries that grant, and refuses a deny glob it cannot enforce', () => {
    const granted = parseFileSystemSandboxContext(
      managed([root, { path: { type: 'glob_pattern', pattern: '/tmp/**' }, access: 'write' }]),
    );
    expect(granted.fileSystemPolicy.entries).toHaveLength(1);
    expect(() =>
      parseFileSystemSandboxContext(
        managed([root, { path: { type: 'glob_pattern', pattern: '**/.env' }, access: 'deny' }]),
      ),
    ).toThrow(/glob_pattern entries with access `deny` are not supported/);
  });

  it('maps the profile types: disabled, external, unrestricted', () => {
    expect(parseFileSystemSandboxContext({ permissions: { type: 'disabled' } })).toMatchObject({
      mode: 'disabled',
    });
    expect(
      parseFileSystemSandboxContext({ permissions: { type: 'external', network: 'enabled' } }),
    ).toMatchObject({
      mode: 'auto',
      fileSystemPolicy: { kind: 'external-sandbox' },
      networkPolicy: 'enabled',
    });
    const open = {
      permissions: { type: 'managed', file_system: { type: 'unrestricted' }, network: 'enabled' },
    };
    expect(parseFileSystemSandboxContext(open)).toMatchObject({
      mode: 'auto',
      fileSystemPolicy: { kind: 'unrestricted' },
    });
    const noNetwork = {
      permissions: { type: 'managed', file_system: { type: 'unrestricted' }, network: 'restricted' },
    };
    expect(parseFileSystemSandboxContext(noNetwork).mode).toBe('require');
  });

  it('names the offending field of a bad context', () => {
    const bad = (value: unknown, text: RegExp) => expect(() => parseSandboxLaunchConfig(value)).toThrow(text);
    bad(
      { permissions: { type: 'bogus' } },
      /^failed to prepare process sandbox: sandbox\.permissions\.type: unknown variant "bogus"/,
    );
    bad(managed([{ path: { type: 'path', path: 'relative' }, access: 'read' }]), /entries\[0\]\.path\.path/);
    bad(managed([{ path: { type: 'path', path: 'file://host/x' }, access: 'read' }]), /is invalid on/);
    bad({ ...managed([root]), windowsSandboxLevel: 'nope' }, /windowsSandboxLevel/);
  });
});
