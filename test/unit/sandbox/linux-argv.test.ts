import { describe, expect, it } from 'vitest';
import { transformLaunch } from '../../../src/sandbox/index.js';
import { fakeHost } from './fake-host.js';
import type { FakeHostOptions } from './fake-host.js';

const BW = '/usr/bin/bwrap';
const CMD = ['/bin/echo', 'hi'];
const HEAD = ['--new-session', '--die-with-parent'];
const LAUNCHER = '/opt/execvisor/execvisor-launcher';
/** Our launcher, bound last at the sandbox's private directory, is bwrap's command. */
const PRIVATE = ['--ro-bind', LAUNCHER, '/dev/.execvisor/launcher'];
const LAUNCH = ['/dev/.execvisor/launcher', '--fd', '3'];
const TAIL_NET_OFF = [
  ...PRIVATE,
  '--unshare-user',
  '--unshare-pid',
  '--cap-drop',
  'ALL',
  '--unshare-net',
  '--proc',
  '/proc',
  '--',
  ...LAUNCH,
];
const TAIL_NET_ON = [
  ...PRIVATE,
  '--unshare-user',
  '--unshare-pid',
  '--cap-drop',
  'ALL',
  '--proc',
  '/proc',
  '--',
  ...LAUNCH,
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
        inner: null,
        warnings: [],
      });
    }
  });

  it('read-only: whole disk read-only, fresh /dev', () => {
    const prepared = launch({ mode: 'auto', policy: { type: 'read-only' } });
    expect(prepared.sandboxType).toBe('linux-seccomp');
    expect(prepared.argv).toEqual([BW, ...HEAD, '--ro-bind', '/', '/', '--dev', '/dev', ...TAIL_NET_OFF]);
    // bwrap gets no env of the request; the launcher inside gets argv, env and the filter.
    expect(prepared.env).toEqual({});
    expect(prepared.inner?.program).toBe('/bin/echo');
    expect(prepared.inner?.argv).toEqual(CMD);
    expect(prepared.inner?.env).toEqual({ A: '1' });
    expect(prepared.inner?.seccomp?.byteLength).toBeGreaterThan(0);
  });

  it('workspace-write worked example of spec §5, plus --cap-drop ALL (no seccomp filter for the arch)', () => {
    const prepared = launch({ mode: 'auto', policy: { type: 'workspace-write' } }, { arch: 'riscv64' });
    expect(prepared.argv.join(' ')).toBe(
      `${BW} --new-session --die-with-parent --ro-bind / / --dev /dev --bind /home/dev/proj /home/dev/proj ` +
        '--ro-bind /home/dev/proj/.git /home/dev/proj/.git --tmpfs /home/dev/proj/.codex --remount-ro /home/dev/proj/.codex --bind /tmp /tmp ' +
        `--ro-bind ${LAUNCHER} /dev/.execvisor/launcher ` +
        '--unshare-user --unshare-pid --cap-drop ALL --unshare-net --proc /proc -- /dev/.execvisor/launcher --fd 3',
    );
    expect(prepared.sandboxType).toBe('linux-seccomp');
    expect(prepared.inner?.seccomp).toBeNull();
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
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
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
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
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

  it('restricted read with platform defaults adds the existing system paths, sorted; links stay links', () => {
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
      ...['--ro-bind', '/etc', '/etc'],
      ...['--ro-bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/lib', '/lib'],
      ...['--ro-bind', '/opt/tool', '/opt/tool'],
      ...['--ro-bind', '/usr', '/usr'],
      // Merged /usr: `/bin -> usr/bin` stays a link into the bound /usr.
      ...['--symlink', '/usr/bin', '/bin'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('restricted read naming merged-/usr links: the target is bound and the link recreated', () => {
    const prepared = launch(
      {
        policy: {
          type: 'read-only',
          access: {
            type: 'restricted',
            include_platform_defaults: false,
            readable_roots: ['/bin', '/lib', '/lib64', '/etc'],
          },
        },
      },
      {
        tree: {
          ...PROJ_TREE,
          '/usr/bin/': 'dir',
          '/usr/lib/': 'dir',
          '/usr/lib64/': 'dir',
          '/bin': { link: 'usr/bin' },
          '/lib': { link: 'usr/lib' },
          '/lib64': { link: 'usr/lib64' },
          '/etc/': 'dir',
        },
      },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--tmpfs', '/', '--dev', '/dev'],
      ...['--ro-bind', '/etc', '/etc'],
      ...['--ro-bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/usr/bin', '/usr/bin'],
      ...['--ro-bind', '/usr/lib', '/usr/lib'],
      ...['--ro-bind', '/usr/lib64', '/usr/lib64'],
      ...['--symlink', '/usr/bin', '/bin'],
      ...['--symlink', '/usr/lib', '/lib'],
      ...['--symlink', '/usr/lib64', '/lib64'],
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
      { tree: { '/home/dev/real/': 'dir', '/home/dev/proj': { link: 'real' } } },
      '/home/dev/proj',
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/real', '/home/dev/real'],
      ...['--tmpfs', '/home/dev/real/.codex', '--remount-ro', '/home/dev/real/.codex'],
      ...PRIVATE,
      ...['--unshare-user', '--unshare-pid', '--cap-drop', 'ALL', '--unshare-net', '--proc', '/proc'],
      ...['--chdir', '/home/dev/real', '--', ...LAUNCH],
    ]);
  });

  it('refuses a writable root reached through a symlink that leaves its directory (a planted link)', () => {
    const tree = {
      '/outside/': 'dir',
      '/home/dev/proj/build': { link: '/outside' },
      '/tmp/': 'dir',
    } as const;
    for (const [sandbox, cwd] of [
      [{ policy: { type: 'workspace-write' } }, '/home/dev/proj/build'],
      [{ policy: { type: 'workspace-write', writable_roots: ['/home/dev/proj/build/x'] } }, '/home/dev/proj'],
    ] as const) {
      expect(() => launch(sandbox, { tree: { ...tree, '/outside/x/': 'dir' } }, cwd)).toThrow(
        'failed to prepare process sandbox: writable root /home/dev/proj/build' +
          (cwd === '/home/dev/proj' ? '/x' : '') +
          ' goes through the symlink /home/dev/proj/build -> /outside, which leaves /home/dev/proj; ' +
          'name the real path instead',
      );
    }
    // Read-only roots may go anywhere; top-level system links pass.
    expect(launch({ policy: { type: 'read-only' } }, { tree }, '/home/dev/proj/build').sandboxType).toBe(
      'linux-seccomp',
    );
    const merged = launch(
      { policy: { type: 'workspace-write', writable_roots: ['/lib/cache'] } },
      { tree: { ...PROJ_TREE, '/usr/lib/cache/': 'dir', '/lib': { link: 'usr/lib' } } },
    );
    expect(merged.argv).toContain('/usr/lib/cache');
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
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
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
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
      // The directory on the way is pinned (a mount point cannot be renamed away).
      ...['--bind', '/home/dev/proj/.repo', '/home/dev/proj/.repo'],
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
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
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

  it('read entries under a writable root stay read-only, sorted by depth; the way there is pinned', () => {
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
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
      ...['--ro-bind', '/home/dev/proj/docs', '/home/dev/proj/docs'],
      ...['--bind', '/home/dev/proj/a', '/home/dev/proj/a'],
      ...['--bind', '/home/dev/proj/a/b', '/home/dev/proj/a/b'],
      ...['--ro-bind', '/home/dev/proj/a/b/c', '/home/dev/proj/a/b/c'],
      ...TAIL_NET_OFF,
    ]);
  });

  it('a masked path inside a writable root: every directory on the way is pinned before the mask', () => {
    const prepared = launch(
      split([
        root('read'),
        cwdEntry('write'),
        pathEntry('/home/dev/proj/conf/secret', 'none'),
        pathEntry('/home/dev/proj/conf/keys', 'none'),
      ]),
      {
        tree: {
          ...PROJ_TREE,
          '/home/dev/proj/conf/secret': 'TOPSECRET',
          '/home/dev/proj/conf/keys/': 'dir',
        },
      },
    );
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--bind', '/home/dev/proj', '/home/dev/proj'],
      ...['--ro-bind', '/home/dev/proj/.git', '/home/dev/proj/.git'],
      ...['--tmpfs', '/home/dev/proj/.codex', '--remount-ro', '/home/dev/proj/.codex'],
      // `conf` becomes a mount point: `mv conf elsewhere` fails with EBUSY, its files stay writable.
      ...['--bind', '/home/dev/proj/conf', '/home/dev/proj/conf'],
      ...['--ro-bind', '/home/dev/proj/conf/secret', '/home/dev/proj/conf/secret'],
      ...['--ro-bind', '/home/dev/proj/conf/keys', '/home/dev/proj/conf/keys'],
      ...['--perms', '000', '--ro-bind-data', '4', '/home/dev/proj/conf/secret'],
      ...[
        '--perms',
        '000',
        '--tmpfs',
        '/home/dev/proj/conf/keys',
        '--remount-ro',
        '/home/dev/proj/conf/keys',
      ],
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

  it('a writable root nested deeper in another: the directories on the way are pinned before its bind', () => {
    // Unpinned, a run could rename /tmp/a (taking the workspace's mounts along) and plant a
    // workspace of its own at /tmp/a/b/ws for the host and later runs to find.
    const prepared = launch(
      { policy: { type: 'workspace-write', writable_roots: [], network_access: false } },
      { tree: { '/tmp/a/b/ws/.git/': 'dir' } },
      '/tmp/a/b/ws',
    );
    const binds = prepared.argv.flatMap((a, i) => (a === '--bind' ? [prepared.argv[i + 1]] : []));
    expect(binds).toEqual(['/tmp', '/tmp/a', '/tmp/a/b', '/tmp/a/b/ws']);
    const at = (path: string) =>
      prepared.argv.findIndex((a, i) => a === '--bind' && prepared.argv[i + 1] === path);
    expect(at('/tmp/a')).toBeLessThan(at('/tmp/a/b/ws'));
  });

  it('no --proc when the preflight says /proc cannot be mounted', () => {
    const prepared = launch({ policy: { type: 'read-only' } }, { canMountProc: false });
    expect(prepared.argv).toEqual([
      BW,
      ...HEAD,
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...PRIVATE,
      ...['--unshare-user', '--unshare-pid', '--cap-drop', 'ALL', '--unshare-net', '--', ...LAUNCH],
    ]);
  });

  it('full-disk-write with network restricted: bind the whole disk, unshare the network', () => {
    for (const policy of [{ type: 'danger-full-access' }, { type: 'external-sandbox' }]) {
      const prepared = launch({ mode: 'require', policy, networkPolicy: 'restricted' });
      expect(prepared.sandboxType).toBe('linux-seccomp');
      expect(prepared.argv).toEqual([BW, ...HEAD, '--bind', '/', '/', '--dev', '/dev', ...TAIL_NET_OFF]);
    }
  });

  it('full-disk-write with network enabled: no bwrap at all', () => {
    const prepared = launch({ mode: 'require', policy: { type: 'danger-full-access' } });
    expect(prepared).toMatchObject({ argv: CMD, env: { A: '1' }, sandboxType: 'none', inner: null });
  });

  it('uses the bwrap the runtime resolved, for every cwd (the cwd / holds it too)', () => {
    for (const cwd of ['/', '/usr', '/home/dev/proj']) {
      const host = fakeHost({ tree: { ...PROJ_TREE, '/usr/bin/bwrap': 'bin' } });
      const prepared = transformLaunch(
        { argv: CMD, cwd, env: {}, sandbox: { policy: { type: 'read-only' } } },
        host,
      );
      expect(prepared.sandboxType).toBe('linux-seccomp');
      expect(prepared.argv[0]).toBe(BW);
      expect(host.procProbes).toEqual([BW]);
    }
  });
});
