import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import { parseSandboxLaunchConfig } from '../../../src/sandbox/index.js';

function errorOf(value: unknown): { code: string; message: string } {
  try {
    parseSandboxLaunchConfig(value);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a SandboxError');
}

const PREFIX = 'failed to prepare process sandbox: ';

describe('parseSandboxLaunchConfig', () => {
  it('fills every default for an empty object: auto, read-only, network restricted', () => {
    expect(parseSandboxLaunchConfig({})).toEqual({
      mode: 'auto',
      policy: { type: 'read-only', access: { type: 'full-access' }, network_access: false },
      fileSystemPolicy: {
        kind: 'restricted',
        entries: [{ path: { type: 'special', value: { kind: 'root' } }, access: 'read' }],
      },
      networkPolicy: 'restricted',
      sandboxPolicyCwd: null,
      enforceManagedNetwork: false,
      windowsSandboxLevel: 'disabled',
      windowsSandboxPrivateDesktop: false,
      useLegacyLandlock: false,
    });
  });

  it('accepts both spellings of mode', () => {
    expect(parseSandboxLaunchConfig({ mode: 'require' }).mode).toBe('require');
    expect(parseSandboxLaunchConfig({ mode: 'disabled' }).mode).toBe('disabled');
    expect(parseSandboxLaunchConfig({ sandboxPreference: 'forbid' }).mode).toBe('disabled');
    expect(parseSandboxLaunchConfig({ sandboxPreference: 'require' }).mode).toBe('require');
    expect(parseSandboxLaunchConfig({ sandboxPreference: 'auto' }).mode).toBe('auto');
  });

  it('derives the split policies from the legacy one', () => {
    const config = parseSandboxLaunchConfig({
      policy: { type: 'workspace-write', writable_roots: ['/x/'], network_access: true },
    });
    expect(config.networkPolicy).toBe('enabled');
    expect(config.fileSystemPolicy.entries.map((e) => e.access)).toEqual([
      'read',
      'write',
      'write',
      'write',
      'write',
    ]);
    expect(config.fileSystemPolicy.entries.at(-1)).toEqual({
      path: { type: 'path', path: '/x' },
      access: 'write',
    });
  });

  it('keeps explicit split policies over the legacy one', () => {
    const config = parseSandboxLaunchConfig({
      policy: { type: 'read-only' },
      fileSystemPolicy: { kind: 'unrestricted' },
      networkPolicy: 'enabled',
    });
    expect(config.fileSystemPolicy).toEqual({ kind: 'unrestricted', entries: [] });
    expect(config.networkPolicy).toBe('enabled');
    expect(config.policy).toEqual({
      type: 'read-only',
      access: { type: 'full-access' },
      network_access: false,
    });
  });

  it('leaves policy null when the split policy writes outside the workspace', () => {
    const config = parseSandboxLaunchConfig({
      fileSystemPolicy: {
        kind: 'restricted',
        entries: [{ path: { type: 'path', path: '/elsewhere' }, access: 'write' }],
      },
    });
    expect(config.policy).toBeNull();
  });

  it('keeps unknown special paths and ignores unknown members', () => {
    const config = parseSandboxLaunchConfig({
      futureMember: 1,
      fileSystemPolicy: {
        kind: 'restricted',
        entries: [{ path: { type: 'special', value: { kind: 'unknown', extra: true } }, access: 'read' }],
      },
    });
    expect(config.fileSystemPolicy.entries).toEqual([
      { path: { type: 'special', value: { kind: 'unknown' } }, access: 'read' },
    ]);
  });

  it.each([
    [
      { policy: { type: 'workspace-write', writable_roots: ['rel/dir'] } },
      'sandbox.policy.writable_roots[0]: must be an absolute path, got "rel/dir"',
    ],
    [{ sandboxPolicyCwd: 'here' }, 'sandbox.sandboxPolicyCwd: must be an absolute path, got "here"'],
    [
      {
        fileSystemPolicy: {
          kind: 'restricted',
          entries: [{ path: { type: 'path', path: './x' }, access: 'read' }],
        },
      },
      'sandbox.fileSystemPolicy.entries[0].path.path: must be an absolute path, got "./x"',
    ],
    [
      { policy: { type: 'sandboxed' } },
      'sandbox.policy.type: unknown type "sandboxed" (expected one of danger-full-access, read-only, workspace-write, external-sandbox)',
    ],
    [
      { fileSystemPolicy: { kind: 'partial' } },
      'sandbox.fileSystemPolicy.kind: unknown kind "partial" (expected one of restricted, unrestricted, external-sandbox)',
    ],
    [
      {
        fileSystemPolicy: {
          kind: 'restricted',
          entries: [{ path: { type: 'special', value: { kind: 'home' } }, access: 'read' }],
        },
      },
      'sandbox.fileSystemPolicy.entries[0].path.value.kind: unknown kind "home" (expected one of root, minimal, current_working_directory, project_roots, tmpdir, slash_tmp, unknown)',
    ],
    [
      {
        fileSystemPolicy: {
          kind: 'restricted',
          entries: [{ path: { type: 'special', value: { kind: 'root' } }, access: 'rw' }],
        },
      },
      'sandbox.fileSystemPolicy.entries[0].access: unknown access "rw" (expected one of read, write, none)',
    ],
    [{ mode: 'always' }, 'sandbox.mode: unknown mode "always" (expected one of disabled, auto, require)'],
    [
      { sandboxPreference: 'disabled' },
      'sandbox.sandboxPreference: unknown preference "disabled" (expected one of forbid, auto, require)',
    ],
    [
      { networkPolicy: 'on' },
      'sandbox.networkPolicy: unknown value "on" (expected one of restricted, enabled)',
    ],
    [
      { policy: { type: 'read-only', network_access: 'yes' } },
      'sandbox.policy.network_access: must be a boolean, got "yes"',
    ],
    [
      { policy: { type: 'workspace-write', writable_roots: '/x' } },
      'sandbox.policy.writable_roots: must be an array, got "/x"',
    ],
    [
      { policy: { type: 'workspace-write', writable_roots: [42] } },
      'sandbox.policy.writable_roots[0]: must be a string, got number 42',
    ],
    [{ enforceManagedNetwork: 1 }, 'sandbox.enforceManagedNetwork: must be a boolean, got number 1'],
    [{ policy: 'read-only' }, 'sandbox.policy: must be an object, got "read-only"'],
    [{ policy: {} }, 'sandbox.policy.type: is required'],
    [[], 'sandbox: must be an object, got an array'],
    [
      { policy: { type: 'read-only', access: { type: 'restricted', readable_roots: ['usr'] } } },
      'sandbox.policy.access.readable_roots[0]: must be an absolute path, got "usr"',
    ],
    [
      { policy: { type: 'external-sandbox', network_access: true } },
      'sandbox.policy.network_access: must be a string, got boolean true',
    ],
    [
      {
        fileSystemPolicy: {
          kind: 'restricted',
          entries: [
            { path: { type: 'special', value: { kind: 'project_roots', subpath: '../up' } }, access: 'read' },
          ],
        },
      },
      'sandbox.fileSystemPolicy.entries[0].path.value.subpath: must be a relative path inside the project, got "../up"',
    ],
    [
      { windowsSandboxLevel: 'max' },
      'sandbox.windowsSandboxLevel: unknown level "max" (expected one of disabled, restricted-token, elevated)',
    ],
  ])('rejects %j', (value, message) => {
    const error = errorOf(value);
    expect(error.code).toBe(ErrorCodes.SANDBOX);
    expect(error.message).toBe(PREFIX + message);
  });
});
