import { describe, expect, it } from 'vitest';
import { cgroup2Mounts, ownCgroupDir, unifiedCgroupPath } from '../../../src/spawn/cgroup.js';

// /proc/self/mountinfo of a hybrid host (v1 controllers, v2 at /sys/fs/cgroup/unified), trimmed.
const HYBRID = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
// A pure v2 host (systemd), with optional fields before the separator.
const PURE_V2 =
  '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate';
// A container that sees only its own subtree of the host's hierarchy, mounted at a path with a space.
const SUBTREE = '900 800 0:30 /kubepods/pod1 /sys/fs/my\\040cgroup ro,relatime - cgroup2 cgroup2 rw';

describe('finding our own cgroup v2 directory', () => {
  it('reads the unified line of /proc/self/cgroup', () => {
    expect(unifiedCgroupPath('4:memory:/x\n0::/user.slice/a.scope\n')).toBe('/user.slice/a.scope');
    expect(unifiedCgroupPath('4:memory:/x\n1:name=systemd:/\n')).toBeNull();
  });

  it('finds the cgroup2 mount of a hybrid host (/sys/fs/cgroup/unified)', () => {
    expect(cgroup2Mounts(HYBRID)).toEqual([{ mountPoint: '/sys/fs/cgroup/unified', root: '/' }]);
    expect(ownCgroupDir(HYBRID, '0::/\n')).toEqual({ dir: '/sys/fs/cgroup/unified' });
  });

  it('finds the cgroup2 mount of a pure v2 host', () => {
    expect(ownCgroupDir(PURE_V2, '0::/system.slice/execvisor.service\n')).toEqual({
      dir: '/sys/fs/cgroup/system.slice/execvisor.service',
    });
  });

  it('maps a path through a mount that exposes only a subtree, unescaping the mount point', () => {
    expect(ownCgroupDir(SUBTREE, '0::/kubepods/pod1/c1\n')).toEqual({ dir: '/sys/fs/my cgroup/c1' });
    expect(ownCgroupDir(SUBTREE, '0::/elsewhere\n')).toEqual({
      error: "this process's cgroup /elsewhere is not under any cgroup2 mount",
    });
  });

  it('says why when there is no v2 hierarchy', () => {
    expect(ownCgroupDir(HYBRID, '4:memory:/\n')).toHaveProperty('error');
    expect(ownCgroupDir('31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw', '0::/\n')).toEqual({
      error: 'no cgroup2 file system is mounted (/proc/self/mountinfo)',
    });
  });
});
