import { describe, expect, it } from 'vitest';
import { sandboxConfigFromFlags, transformLaunch } from '../../../src/sandbox/index.js';
import { fakeHost } from './fake-host.js';
import type { FakeHostOptions } from './fake-host.js';

const CMD = ['/bin/true'];
const root = (access: string) => ({ path: { type: 'special', value: { kind: 'root' } }, access });

function typeOf(sandbox: Record<string, unknown>, host: FakeHostOptions = {}) {
  return transformLaunch(
    { argv: CMD, cwd: '/w', env: {}, sandbox },
    fakeHost({ tree: { '/w/': 'dir', '/usr/bin/sandbox-exec': 'bin' }, ...host }),
  ).sandboxType;
}

const TRUTH_TABLE: [string, Record<string, unknown>, string][] = [
  ['danger-full-access', { policy: { type: 'danger-full-access' } }, 'none'],
  ['external-sandbox (restricted)', { policy: { type: 'external-sandbox' } }, 'none'],
  ['external-sandbox (enabled)', { policy: { type: 'external-sandbox', network_access: 'enabled' } }, 'none'],
  ['read-only', { policy: { type: 'read-only' } }, 'platform'],
  ['read-only + network', { policy: { type: 'read-only', network_access: true } }, 'platform'],
  ['workspace-write', { policy: { type: 'workspace-write' } }, 'platform'],
  ['workspace-write + network', { policy: { type: 'workspace-write', network_access: true } }, 'platform'],
  [
    '[root:write] + enabled',
    { fileSystemPolicy: { kind: 'restricted', entries: [root('write')] }, networkPolicy: 'enabled' },
    'none',
  ],
  [
    '[root:write] + restricted',
    { fileSystemPolicy: { kind: 'restricted', entries: [root('write')] }, networkPolicy: 'restricted' },
    'platform',
  ],
  [
    '[root:write, X:none] + enabled',
    {
      fileSystemPolicy: {
        kind: 'restricted',
        entries: [root('write'), { path: { type: 'path', path: '/secret' }, access: 'none' }],
      },
      networkPolicy: 'enabled',
    },
    'platform',
  ],
  [
    'danger-full-access + enforced managed network',
    { policy: { type: 'danger-full-access' }, enforceManagedNetwork: true },
    'platform',
  ],
];

describe('sandbox selection (spec §3)', () => {
  describe.each([
    ['mode', 'auto'],
    ['sandboxPreference', 'auto'],
  ])('%s: auto', (member, value) => {
    it.each(TRUTH_TABLE)('%s', (_name, config, expected) => {
      expect(typeOf({ ...config, [member]: value })).toBe(expected === 'platform' ? 'linux-seccomp' : 'none');
      expect(typeOf({ ...config, [member]: value }, { platform: 'darwin' })).toBe(
        expected === 'platform' ? 'macos-seatbelt' : 'none',
      );
    });
  });

  it.each([
    ['mode', 'disabled'],
    ['sandboxPreference', 'forbid'],
  ])('%s: %s → none, bwrap never probed', (member, value) => {
    const host = fakeHost({ tree: { '/w/': 'dir' } });
    const prepared = transformLaunch(
      { argv: CMD, cwd: '/w', env: {}, sandbox: { [member]: value, policy: { type: 'read-only' } } },
      host,
    );
    expect(prepared).toEqual({ argv: CMD, env: {}, sandboxType: 'none', inner: null, warnings: [] });
    expect(host.procProbes).toEqual([]);
  });

  it.each([
    ['mode', 'require'],
    ['sandboxPreference', 'require'],
  ])('%s: require → the platform sandbox even for a policy auto would not sandbox', (member, value) => {
    expect(typeOf({ [member]: value, policy: { type: 'external-sandbox' } })).toBe('linux-seccomp');
    expect(typeOf({ [member]: value, policy: { type: 'read-only' } })).toBe('linux-seccomp');
  });

  it('require without bwrap → the clear error', () => {
    expect(() => typeOf({ mode: 'require', policy: { type: 'read-only' } }, { bwrap: null })).toThrow(
      'failed to prepare process sandbox: no sandbox is available on this host: bwrap not found (looked in /usr/bin/bwrap)',
    );
    expect(() => typeOf({ mode: 'require', policy: { type: 'read-only' } }, { launcher: null })).toThrow(
      'failed to prepare process sandbox: no sandbox is available on this host: execvisor-launcher is not built',
    );
  });

  it('auto without bwrap → none, with a warning', () => {
    const prepared = transformLaunch(
      { argv: CMD, cwd: '/w', env: {}, sandbox: { policy: { type: 'read-only' } } },
      fakeHost({ bwrap: null }),
    );
    expect(prepared.sandboxType).toBe('none');
    expect(prepared.argv).toEqual(CMD);
    expect(prepared.warnings).toEqual([
      'running without a sandbox: bwrap not found (looked in /usr/bin/bwrap)',
    ]);
  });

  it('macOS require without /usr/bin/sandbox-exec → error', () => {
    expect(() =>
      transformLaunch(
        { argv: CMD, cwd: '/w', env: {}, sandbox: { mode: 'require' } },
        fakeHost({ platform: 'darwin' }),
      ),
    ).toThrow('no sandbox is available on this host: /usr/bin/sandbox-exec not found');
  });

  it('Windows: require → error, auto → none', () => {
    for (const level of ['disabled', 'restricted-token']) {
      expect(typeOf({ mode: 'auto', windowsSandboxLevel: level }, { platform: 'win32' })).toBe('none');
    }
    expect(() =>
      typeOf({ mode: 'require', windowsSandboxLevel: 'restricted-token' }, { platform: 'win32' }),
    ).toThrow(
      'failed to prepare process sandbox: no sandbox is available on this host: the Windows restricted-token sandbox is not supported by this server',
    );
  });

  it('an invalid config is an error even when mode is disabled', () => {
    expect(() => typeOf({ mode: 'disabled', policy: { type: 'nope' } })).toThrow('sandbox.policy.type');
  });

  it('hands the env to the program only: bwrap gets none, the launcher carries it unchanged', () => {
    const env = { PATH: '/custom', HOME: '/h', LD_PRELOAD: '/w/evil.so' };
    const prepared = transformLaunch(
      { argv: CMD, cwd: '/w', env, sandbox: { mode: 'require', policy: { type: 'workspace-write' } } },
      fakeHost({ tree: { '/w/': 'dir' } }),
    );
    expect(prepared.env).toEqual({});
    expect(prepared.inner?.env).toEqual({ PATH: '/custom', HOME: '/h', LD_PRELOAD: '/w/evil.so' });
    expect(prepared.argv.join(' ')).not.toContain('/w/evil.so');
    const plain = transformLaunch({ argv: CMD, cwd: '/w', env, sandbox: null }, fakeHost());
    expect(plain.env).toBe(env);
  });
});

describe('sandboxConfigFromFlags', () => {
  it('builds the wire config', () => {
    expect(
      sandboxConfigFromFlags({ policy: 'workspace-write', writableRoots: ['/data'], network: false }),
    ).toEqual({
      mode: 'require',
      policy: {
        type: 'workspace-write',
        writable_roots: ['/data'],
        network_access: false,
        exclude_tmpdir_env_var: false,
        exclude_slash_tmp: false,
      },
    });
    expect(
      sandboxConfigFromFlags({ policy: 'read-only', writableRoots: [], network: true, mode: 'auto' }),
    ).toEqual({
      mode: 'auto',
      policy: { type: 'read-only', network_access: true },
    });
  });

  it('rejects bad flags with the field named', () => {
    expect(() =>
      sandboxConfigFromFlags({ policy: 'workspace-write', writableRoots: ['rel'], network: false }),
    ).toThrow(
      'failed to prepare process sandbox: --sandbox.policy.writable_roots[0]: must be an absolute path, got "rel"',
    );
    expect(() =>
      sandboxConfigFromFlags({ policy: 'read-only', writableRoots: ['/x'], network: false }),
    ).toThrow('--writable-root needs the workspace-write policy');
  });
});
