import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import { FileSystemRunner } from '../../../src/fs/file-system.js';
import type { FsTask } from '../../../src/fs/protocol.js';
import { parseLoadedObjects, prepareHelperLaunch, withHelperReadAccess } from '../../../src/fs/sandboxed.js';
import { parseSandboxLaunchConfig, type HostView } from '../../../src/sandbox/index.js';

function recordingRunner() {
  const tasks: FsTask[] = [];
  const runner = new FileSystemRunner((task) => {
    tasks.push(task);
    return Promise.resolve({ ok: true, value: null });
  });
  return { runner, tasks };
}

describe('FileSystemRunner', () => {
  it('fills the defaults of the protocol', async () => {
    const { runner, tasks } = recordingRunner();
    await runner.createDirectory({ path: '/a' });
    await runner.remove({ path: '/a', force: false });
    expect(tasks).toEqual([
      {
        operation: { op: 'createDirectory', path: '/a', recursive: true, followSymlinks: true },
        sandbox: null,
      },
      {
        operation: { op: 'remove', path: '/a', recursive: true, force: false, followSymlinks: true },
        sandbox: null,
      },
    ]);
  });

  it('refuses relative paths before any I/O', async () => {
    const { runner, tasks } = recordingRunner();
    await expect(runner.readFile({ path: 'relative/file' })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_ARGUMENT,
      message: 'path must be an absolute path, got "relative/file"',
    });
    await expect(
      runner.copy({ sourcePath: '/a', destinationPath: 'b', recursive: true }),
    ).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    expect(tasks).toEqual([]);
  });

  it('rebuilds the coded error of a failed task', async () => {
    const runner = new FileSystemRunner(() =>
      Promise.resolve({
        ok: false,
        error: { code: ErrorCodes.FS_IO, message: 'Permission denied (os error 13)' },
      }),
    );
    await expect(runner.getMetadata({ path: '/x' })).rejects.toMatchObject({
      code: ErrorCodes.FS_IO,
      message: 'Permission denied (os error 13)',
    });
  });
});

const noBwrapHost: HostView = {
  platform: 'linux',
  arch: 'x64',
  tmpdir: undefined,
  exists: () => true,
  isDirectory: () => true,
  isFile: () => false,
  isSymlink: () => false,
  realpath: (path) => path,
  readTextFile: () => undefined,
  bwrap: { error: 'bwrap not found' },
  launcher: { path: '/opt/execvisor-launcher' },
  canMountProc: () => true,
};

describe('sandboxed helper launch', () => {
  it('runs directly when the transform applies no sandbox', () => {
    expect(prepareHelperLaunch(null)).toBeNull();
    expect(
      prepareHelperLaunch({ mode: 'disabled', policy: { type: 'read-only' } }, { host: noBwrapHost }),
    ).toBeNull();
    expect(
      prepareHelperLaunch({ mode: 'auto', policy: { type: 'read-only' } }, { host: noBwrapHost }),
    ).toBeNull();
  });

  it('fails with the sandbox error when require cannot be met', () => {
    expect(() =>
      prepareHelperLaunch(
        { mode: 'require', policy: { type: 'read-only' } },
        { host: noBwrapHost, defaultCwd: '/w' },
      ),
    ).toThrow(/^failed to prepare process sandbox: no sandbox is available on this host/);
  });

  it('on macOS lets the helper read Node and the package under a restricted read policy', () => {
    const restricted = parseSandboxLaunchConfig({
      policy: {
        type: 'read-only',
        access: { type: 'restricted', include_platform_defaults: false, readable_roots: [] },
      },
    });
    const widened = withHelperReadAccess(restricted, ['/opt/node/bin/node', '/opt/pkg/dist']);
    expect(widened.fileSystemPolicy.entries.slice(restricted.fileSystemPolicy.entries.length)).toEqual([
      { path: { type: 'special', value: { kind: 'minimal' } }, access: 'read' },
      { path: { type: 'path', path: '/opt/node/bin/node' }, access: 'read' },
      { path: { type: 'path', path: '/opt/pkg/dist' }, access: 'read' },
    ]);
    // The widened config is still a valid config.
    expect(parseSandboxLaunchConfig(widened).fileSystemPolicy).toEqual(widened.fileSystemPolicy);
  });

  it('leaves a policy that reads the whole disk as it is', () => {
    const full = parseSandboxLaunchConfig({ policy: { type: 'workspace-write' } });
    expect(withHelperReadAccess(full, ['/opt/node'])).toBe(full);
  });

  it('reads the loader and the libraries from LD_TRACE_LOADED_OBJECTS output', () => {
    const traced = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007efc)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007efb)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007efd)',
    ].join('\n');
    expect(parseLoadedObjects(traced)).toEqual({
      loader: '/lib64/ld-linux-x86-64.so.2',
      libraries: ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6'],
    });
    expect(parseLoadedObjects('\tnot a dynamic executable\n')).toEqual({ loader: null, libraries: [] });
  });
});
