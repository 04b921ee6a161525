import { describe, expect, it } from 'vitest';
import { transformLaunch } from '../../../src/sandbox/index.js';
import { fakeHost } from './fake-host.js';
import type { FakeHostOptions } from './fake-host.js';

const BW = '/usr/bin/bwrap';
const CMD = ['/bin/echo', 'hi'];
const HEAD = ['--new-session', '--die-with-parent'];
const TAIL_NET_OFF = [
  '--unshare-user',
  '--unshare-pid',
  '--cap-drop',
  'ALL',
  '--unshare-net',
  '--proc',
  '/proc',
  '--seccomp',
  '3',
  '--',
  ...CMD,
];
const TAIL_NET_ON = [
  '--unshare-user',
  '--unshare-pid',
  '--cap-drop',
  'ALL',
  '--proc',
  '/proc',
  '--seccomp',
  '3',
  '--',
  ...CMD,
];

const PROJ_TREE: FakeHostOptions['tree'] = { '/home/dev/proj/.git/': 'dir', '/tmp/': 'dir' };

function launch(sandbox: unknown, hostOptions: FakeHostOptions = {}, cwd = '/home/dev/proj') {
  const host = fakeHost({ tree: PROJ_TREE, ...hostOptions });
  return transformLaunch({ argv: CMD, cwd, env: { A: '1' }, sandbox }, host);
}

const root = (access: string) => ({ path: { type: 'special', value: { kind: 'root' } }, access });
const cwdEntry = (access: string) => ({
  path: { type: 'special', value: { kind: 'current_working_directory' } },
  access,
});
const pathEntry = (path: string, access: string) => ({ path: { type: 'path', path }, access });
const split = (entries: unknown[], networkPolicy = 'restricted') => ({
  fileSystemPolicy: { kind: 'restricted', entries },
  networkPolicy,
});

describe('linux bwrap argv', () => {
  it('no sandbox leaves argv and env untouched', () => {
    for (const sandbox of [undefined, null]) {
      const prepared = launch(sandbox);
      expect(prepared).toEqual({
        argv: CMD,
        env: { A: '1' },
        sandboxType: 'none',
        seccomp: null,
        warnings: [],
      });
    }
  });

  it('read-only: whole disk read-only, fresh /dev', () => {
    const prepared = launch({ mode: 'auto', policy: { type: 'read-only' } });
    expect(prepared.sandboxType).toBe('linux-seccomp');
    expect(prepared.argv).toEqual([BW, ...HEAD, '--ro-bind', '/', '/', '--dev', '/dev', ...TAIL_NET_OFF]);
    expect(prepared.env).toEqual({ A: '1' });
    expect(prepared.seccomp?.fd).toBe(3);
    expect(prepared.seccomp?.program.byteLength).toBeGreaterThan(0);
  });

  it('workspace-write worked example of spec §5, plus --cap-drop ALL (no seccomp filter for the arch)', () => {
    const prepared = launch({ mode: 'auto', policy: { type: 'workspace-write' } }, { arch: 'riscv64' });
    expect(prepared.argv.join(' ')).toBe(
      `${BW} --new-session --die-with-parent --ro-bind / / --dev /dev --bind /home/dev/proj /home/dev/proj ` +
        '--ro-bind /home/dev/proj/.git /home/dev/proj/.git --ro-bind /dev/null /home/dev/proj/.codex --bind /tmp /tmp ' +
        '--unshare-user --unshare-pid --cap-drop ALL --unshare-net --proc /proc -- /bin/echo hi',
    );
    expect(prepared.sandboxType).toBe('linux-seccomp');
    expect(prepared.seccomp).toBeNull();
    expect(prepared.warnings).toEqual([
      'no seccomp filter for architecture riscv64: running under bubblewrap alone',
    ]);
  });

  it('workspace-write worked example on x86_64 carries --seccomp 3 before --', () => {
    const prepared = launch({
      mode: 'require',
      policy: {
        type: 'workspace-write',
        writable_roots: [],
        network_access: false,
        exclude_tmpdir_env_var: false,
        exclude_slash_tmp: false,
      },
    });
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/home/dev/proj/.git', '/home/dev/proj/.git'],
      ...['--ro-bind', '/dev/null', '/home/dev/proj/.codex'],
      ...['--bind', '/tmp', '/tmp'],
      ...TAIL_NET_OFF,
    ]);
    expect(prepared.warnings).toEqual([]);
  });

  it('require on an arch without a filter is an error', () => {
    expect(() => launch({ mode: 'require', policy: { type: 'read-only' } }, { arch: 'riscv64' })).toThrow(
      'failed to prepare process sandbox: no seccomp filter for architecture riscv64 (mode is require)',
    );
  });

  it('network enabled: no --unshare-net', () => {
    const prepared = launch({ policy: { type: 'read-only', network_access: true } });
    expect(prepared.argv).toEqual([BW, ...HEAD, '--ro-bind', '/', '/', '--dev', '/dev', ...TAIL_NET_ON]);
  });

  it('$TMPDIR and extra writable roots follow cwd and /tmp; missing roots are ignored', () => {
    const prepared = launch(
      { policy: { type: 'workspace-write', writable_roots: ['/data/out', '/does/not/exist'] } },
      { tmpdir: '/var/tmp/u', tree: { ...PROJ_TREE, '/var/tmp/u/': 'dir', '/data/out/': 'dir' } },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/home/dev/proj/.git', '/home/dev/proj/.git'],
      ...['--ro-bind', '/dev/null', '/home/dev/proj/.codex'],
      ...['--bind', '/tmp', '/tmp'],
      ...['--bind', '/var/tmp/u', '/var/tmp/u'],
      ...['--bind', '/data/out', '/data/out'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('exclusions drop /tmp and $TMPDIR; a relative or empty $TMPDIR is ignored', () => {
    const excluded = launch(
      { policy: { type: 'workspace-write', exclude_slash_tmp: true, exclude_tmpdir_env_var: true } },
      { tmpdir: '/var/tmp/u', tree: { ...PROJ_TREE, '/var/tmp/u/': 'dir' } },
    );
    expect(excluded.argv).not.toContain('/tmp');
    expect(excluded.argv).not.toContain('/var/tmp/u');
    const relative = launch(
      { policy: { type: 'workspace-write', exclude_slash_tmp: true } },
      { tmpdir: 'tmp' },
    );
    expect(relative.argv.filter((a) => a === '--bind')).toHaveLength(1);
  });

  it('--dev /dev comes before a writable /dev subpath bind', () => {
    const prepared = launch(
      {
        policy: {
          type: 'workspace-write',
          writable_roots: ['/dev/shm'],
          exclude_slash_tmp: true,
          exclude_tmpdir_env_var: true,
        },
      },
      { tree: { ...PROJ_TREE, '/dev/shm/': 'dir' } },
    );
    const args = prepared.argv;
    expect(args.indexOf('--dev')).toBeGreaterThan(-1);
    expect(args.indexOf('--dev')).toBeLessThan(args.indexOf('/dev/shm'));
    expect(args.slice(args.indexOf('/dev/shm') - 1, args.indexOf('/dev/shm') + 2)).toEqual([
      '--bind',
      '/dev/shm',
      '/dev/shm',
    ]);
  });

  it('restricted read without platform defaults: tmpfs root, then the readable roots', () => {
    const prepared = launch(
      {
        policy: {
          type: 'read-only',
          access: {
            type: 'restricted',
            include_platform_defaults: false,
            readable_roots: ['/opt/tool', '/srv/x'],
          },
        },
      },
      { tree: { ...PROJ_TREE, '/opt/tool/': 'dir' } },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--tmpfs', '/', '--dev', '/dev'],
      ...['--ro-bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/opt/tool', '/opt/tool'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('restricted read with platform defaults adds the existing system paths, sorted', () => {
    const prepared = launch(
      { policy: { type: 'read-only', access: { type: 'restricted', readable_roots: ['/opt/tool'] } } },
      {
        tree: {
          ...PROJ_TREE,
          '/opt/tool/': 'dir',
          '/usr/bin/': 'dir',
          '/bin': { link: 'usr/bin' },
          '/etc/': 'dir',
          '/lib/': 'dir',
        },
      },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--tmpfs', '/', '--dev', '/dev'],
      ...['--ro-bind', '/bin', '/bin'],
      ...['--ro-bind', '/etc', '/etc'],
      ...['--ro-bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/lib', '/lib'],
      ...['--ro-bind', '/opt/tool', '/opt/tool'],
      ...['--ro-bind', '/usr', '/usr'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('unreadable directory and file carve-outs', () => {
    const prepared = launch(
      split([root('read'), pathEntry('/home/dev/secrets', 'none'), pathEntry('/home/dev/.netrc', 'none')]),
      { tree: { ...PROJ_TREE, '/home/dev/secrets/': 'dir', '/home/dev/.netrc': 'machine x' } },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--perms', '000', '--tmpfs', '/home/dev/secrets', '--remount-ro', '/home/dev/secrets'],
      ...['--perms', '000', '--ro-bind-data', '4', '/home/dev/.netrc'],
      ...TAIL_NET_OFF,
    ]);
    expect(prepared.inheritFds).toEqual([{ fd: 4, path: '/dev/null' }]);
  });

  it('a missing unreadable path needs no mask', () => {
    const prepared = launch(split([root('read'), pathEntry('/nope', 'none')]));
    expect(prepared.argv).toEqual([BW, ...HEAD, '--ro-bind', '/', '/', '--dev', '/dev', ...TAIL_NET_OFF]);
    expect(prepared.inheritFds).toBeUndefined();
  });

  it('writable subpath under an unreadable parent: traversable mask, --dir on the way, bind after', () => {
    const prepared = launch(
      split([root('read'), pathEntry('/home/dev', 'none'), pathEntry('/home/dev/proj/out', 'write')]),
      { tree: { ...PROJ_TREE, '/home/dev/proj/out/': 'dir' } },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--perms', '111', '--tmpfs', '/home/dev'],
      ...['--perms', '111', '--dir', '/home/dev/proj'],
      ...['--dir', '/home/dev/proj/out'],
      ...['--remount-ro', '/home/dev'],
      ...['--bind', '/home/dev/proj/out', '/home/dev/proj/out'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('canonical --chdir when the cwd is reached through a symlink', () => {
    const prepared = launch(
      { policy: { type: 'workspace-write', exclude_slash_tmp: true } },
      { tree: { '/real/proj/': 'dir', '/home/dev/proj': { link: '/real/proj' } } },
      '/home/dev/proj',
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/real/proj', '/real/proj'],
      ...['--ro-bind', '/dev/null', '/real/proj/.codex'],
      ...['--unshare-user', '--unshare-pid', '--cap-drop', 'ALL', '--unshare-net', '--proc', '/proc'],
      ...['--chdir', '/real/proj', '--seccomp', '3', '--', ...CMD],
    ]);
  });

  it('a .git pointer file protects its gitdir, the file itself and .codex', () => {
    const prepared = launch(
      {
        policy: {
          type: 'workspace-write',
          writable_roots: ['/home/dev/main'],
          exclude_slash_tmp: true,
        },
      },
      {
        tree: {
          '/home/dev/proj/.git': { file: 'gitdir: ../main/.git/worktrees/proj\n' },
          '/home/dev/main/.git/worktrees/proj/': 'dir',
        },
      },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/home/dev/proj/.git', '/home/dev/proj/.git'],
      ...['--ro-bind', '/dev/null', '/home/dev/proj/.codex'],
      ...['--bind', '/home/dev/main', '/home/dev/main'],
      ...['--ro-bind', '/home/dev/main/.git', '/home/dev/main/.git'],
      ...['--ro-bind', '/home/dev/main/.git/worktrees/proj', '/home/dev/main/.git/worktrees/proj'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('a .git pointer into the workspace protects the target too', () => {
    const prepared = launch(
      { policy: { type: 'workspace-write', exclude_slash_tmp: true } },
      {
        tree: {
          '/home/dev/proj/.git': { file: 'gitdir: /home/dev/proj/.repo/git' },
          '/home/dev/proj/.repo/git/': 'dir',
        },
      },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/home/dev/proj/.git', '/home/dev/proj/.git'],
      ...['--ro-bind', '/dev/null', '/home/dev/proj/.codex'],
      ...['--ro-bind', '/home/dev/proj/.repo/git', '/home/dev/proj/.repo/git'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('.codex missing at the cwd root is still blocked; elsewhere only an existing .codex/.agents is', () => {
    const prepared = launch(
      {
        policy: { type: 'workspace-write', writable_roots: ['/data/a', '/data/b'], exclude_slash_tmp: true },
      },
      {
        tree: {
          '/home/dev/proj/': 'dir',
          '/data/a/': 'dir',
          '/data/b/.codex/': 'dir',
          '/data/b/.agents/': 'dir',
        },
      },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/dev/null', '/home/dev/proj/.codex'],
      ...['--bind', '/data/a', '/data/a'],
      ...['--bind', '/data/b', '/data/b'],
      ...['--ro-bind', '/data/b/.agents', '/data/b/.agents'],
      ...['--ro-bind', '/data/b/.codex', '/data/b/.codex'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('a symlinked .codex inside the workspace is pinned at the link', () => {
    const prepared = launch(
      { policy: { type: 'workspace-write', exclude_slash_tmp: true } },
      { tree: { '/home/dev/proj/decoy/': 'dir', '/home/dev/proj/.codex': { link: 'decoy' } } },
    );
    expect(prepared.argv).toContain('/home/dev/proj/.codex');
    const at = prepared.argv.indexOf('/home/dev/proj/.codex');
    expect(prepared.argv.slice(at - 2, at + 1)).toEqual(['--ro-bind', '/dev/null', '/home/dev/proj/.codex']);
  });

  it('read entries under a writable root stay read-only, sorted by depth', () => {
    const prepared = launch(
      split([
        root('read'),
        cwdEntry('write'),
        pathEntry('/home/dev/proj/a/b/c', 'read'),
        pathEntry('/home/dev/proj/docs', 'read'),
      ]),
      { tree: { '/home/dev/proj/docs/': 'dir', '/home/dev/proj/a/b/c/': 'dir' } },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/dev/null', '/home/dev/proj/.codex'],
      ...['--ro-bind', '/home/dev/proj/docs', '/home/dev/proj/docs'],
      ...['--ro-bind', '/home/dev/proj/a/b/c', '/home/dev/proj/a/b/c'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('nested writable roots: the outer bind comes first', () => {
    const prepared = launch(
      split([root('read'), pathEntry('/data/x/y', 'write'), pathEntry('/data/x', 'write')]),
      { tree: { '/data/x/y/': 'dir' } },
    );
    const binds = prepared.argv.flatMap((a, i) => (a === '--bind' ? [prepared.argv[i + 1]] : []));
    expect(binds).toEqual(['/data/x', '/data/x/y']);
  });

  it('no --proc when the preflight says /proc cannot be mounted', () => {
    const prepared = launch({ policy: { type: 'read-only' } }, { canMountProc: false });
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...[
        '--unshare-user',
        '--unshare-pid',
        '--cap-drop',
        'ALL',
        '--unshare-net',
        '--seccomp',
        '3',
        '--',
        ...CMD,
      ],
    ]);
  });

  it('full-disk-write with network restricted: bind the whole disk, unshare the network', () => {
    for (const policy of [{ type: 'danger-full-access' }, { type: 'external-sandbox' }]) {
      const prepared = launch({ mode: 'require', policy, networkPolicy: 'restricted' });
      expect(prepared.sandboxType).toBe('linux-seccomp');
      expect(prepared.argv).toEqual([BW, ...HEAD, '--bind', '/', '/', ...TAIL_NET_OFF]);
    }
  });

  it('full-disk-write with network enabled: no bwrap at all', () => {
    const prepared = launch({ mode: 'require', policy: { type: 'danger-full-access' } });
    expect(prepared).toMatchObject({ argv: CMD, sandboxType: 'none', seccomp: null });
  });

  it('the bwrap lookup avoids the launch cwd', () => {
    const host = fakeHost({ tree: PROJ_TREE });
    transformLaunch(
      { argv: CMD, cwd: '/home/dev/proj', env: {}, sandbox: { policy: { type: 'read-only' } } },
      host,
    );
    expect(host.bwrapLookups).toEqual(['/home/dev/proj']);
    expect(host.procProbes).toEqual([BW]);
  });
});
