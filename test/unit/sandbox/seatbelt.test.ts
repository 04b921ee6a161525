import { describe, expect, it } from 'vitest';
import { transformLaunch } from '../../../src/sandbox/index.js';
import { SEATBELT_BASE_POLICY, SEATBELT_NETWORK_POLICY } from '../../../src/sandbox/macos/seatbelt.js';
import { fakeHost } from './fake-host.js';

const CMD = ['/bin/echo', 'hi'];
const CWD = '/Users/dev/proj';

function macLaunch(sandbox: unknown) {
  const host = fakeHost({
    platform: 'darwin',
    arch: 'arm64',
    tmpdir: '/var/folders/xx/T/',
    tree: {
      '/Users/dev/proj/.git/': 'dir',
      '/private/tmp/': 'dir',
      '/tmp': { link: 'private/tmp' },
      '/private/var/folders/xx/T/': 'dir',
      '/var': { link: 'private/var' },
      '/usr/bin/sandbox-exec': 'binary',
    },
  });
  return transformLaunch({ argv: CMD, cwd: CWD, env: { HOME: '/Users/dev' }, sandbox }, host);
}

const WORKSPACE_WRITE_BLOCK =
  '(allow file-write*\n' +
  '(require-all (subpath (param "WRITABLE_ROOT_0"))' +
  ' (require-not (literal (param "WRITABLE_ROOT_0_EXCLUDED_0")))' +
  ' (require-not (subpath (param "WRITABLE_ROOT_0_EXCLUDED_0")))' +
  ' (require-not (literal (param "WRITABLE_ROOT_0_EXCLUDED_1")))' +
  ' (require-not (subpath (param "WRITABLE_ROOT_0_EXCLUDED_1"))))\n' +
  '(subpath (param "WRITABLE_ROOT_1"))\n' +
  '(subpath (param "WRITABLE_ROOT_2")))\n';

const WORKSPACE_WRITE_PARAMS = [
  '-DWRITABLE_ROOT_0=/Users/dev/proj',
  '-DWRITABLE_ROOT_0_EXCLUDED_0=/Users/dev/proj/.git',
  '-DWRITABLE_ROOT_0_EXCLUDED_1=/Users/dev/proj/.codex',
  '-DWRITABLE_ROOT_1=/private/tmp',
  '-DWRITABLE_ROOT_2=/private/var/folders/xx/T',
];

describe('macOS Seatbelt', () => {
  it('workspace-write in a git repo, network restricted: exact profile and -D list', () => {
    const prepared = macLaunch({ mode: 'require', policy: { type: 'workspace-write' } });
    expect(prepared.sandboxType).toBe('macos-seatbelt');
    expect(prepared.inner).toBeNull();
    expect(prepared.env).toEqual({ HOME: '/Users/dev' });
    const profile =
      `${SEATBELT_BASE_POLICY}\n` +
      '; read\n(allow file-read*)\n\n' +
      `; write\n${WORKSPACE_WRITE_BLOCK}\n` +
      '; network\n';
    expect(prepared.argv).toEqual([
      '/usr/bin/sandbox-exec',
      '-p',
      profile,
      ...WORKSPACE_WRITE_PARAMS,
      '--',
      ...CMD,
    ]);
  });

  it('workspace-write with network enabled appends the network rules', () => {
    const prepared = macLaunch({ policy: { type: 'workspace-write', network_access: true } });
    const profile =
      `${SEATBELT_BASE_POLICY}\n` +
      '; read\n(allow file-read*)\n\n' +
      `; write\n${WORKSPACE_WRITE_BLOCK}\n` +
      `; network\n${SEATBELT_NETWORK_POLICY}`;
    expect(prepared.argv).toEqual([
      '/usr/bin/sandbox-exec',
      '-p',
      profile,
      ...WORKSPACE_WRITE_PARAMS,
      '--',
      ...CMD,
    ]);
    expect(SEATBELT_NETWORK_POLICY.startsWith('(allow network-outbound)\n(allow network-inbound)\n')).toBe(
      true,
    );
  });

  it('read-only with restricted read: readable roots as parameters, platform defaults inline', () => {
    const prepared = macLaunch({
      policy: { type: 'read-only', access: { type: 'restricted', readable_roots: ['/opt/tool'] } },
    });
    const profile =
      `${SEATBELT_BASE_POLICY}\n` +
      '; read\n(allow file-read*\n(subpath (param "READABLE_ROOT_0"))\n(subpath (param "READABLE_ROOT_1")))\n' +
      '(allow file-read*\n(subpath "/bin")\n(subpath "/sbin")\n(subpath "/usr")\n(subpath "/System")\n' +
      '(subpath "/Library")\n(subpath "/private/etc")\n(subpath "/private/var/db/timezone")\n(subpath "/dev"))\n\n' +
      '; write\n\n' +
      '; network\n';
    expect(prepared.argv).toEqual([
      '/usr/bin/sandbox-exec',
      '-p',
      profile,
      '-DREADABLE_ROOT_0=/Users/dev/proj',
      '-DREADABLE_ROOT_1=/opt/tool',
      '--',
      ...CMD,
    ]);
  });

  it('an unreadable path under a readable root is carved out of reads', () => {
    const prepared = macLaunch({
      fileSystemPolicy: {
        kind: 'restricted',
        entries: [
          { path: { type: 'special', value: { kind: 'root' } }, access: 'read' },
          { path: { type: 'path', path: '/Users/dev/.ssh' }, access: 'none' },
        ],
      },
    });
    expect(prepared.argv[2]).toContain(
      '; read\n(allow file-read*\n(require-all (subpath (param "READABLE_ROOT_0"))' +
        ' (require-not (literal (param "READABLE_ROOT_0_EXCLUDED_0")))' +
        ' (require-not (subpath (param "READABLE_ROOT_0_EXCLUDED_0")))))\n',
    );
    expect(prepared.argv.slice(3, -3)).toEqual([
      '-DREADABLE_ROOT_0=/',
      '-DREADABLE_ROOT_0_EXCLUDED_0=/Users/dev/.ssh',
    ]);
  });

  it('full-disk-write: none with network on, write-everywhere profile with it off', () => {
    expect(macLaunch({ mode: 'require', policy: { type: 'danger-full-access' } }).sandboxType).toBe('none');
    const prepared = macLaunch({ mode: 'require', policy: { type: 'external-sandbox' } });
    expect(prepared.sandboxType).toBe('macos-seatbelt');
    expect(prepared.argv[2]).toContain('; write\n(allow file-write*\n(subpath (param "WRITABLE_ROOT_0")))\n');
    expect(prepared.argv.slice(3, -3)).toEqual(['-DWRITABLE_ROOT_0=/']);
  });
});
