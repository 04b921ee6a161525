/**
 * The sandbox transform under an enforced managed network: the network is confined whatever the
 * policy says (blocked: no way out; proxied: the proxy's socket beside the launcher and the proxied
 * filter), a request without a sandbox is confined on the network alone, and a launch nothing can
 * confine is refused rather than run unconfined.
 */
import { describe, expect, it } from 'vitest';
import { transformLaunch } from '../../../src/sandbox/index.js';
import { buildSeccompProgram } from '../../../src/sandbox/linux/seccomp-bpf.js';
import type { ManagedNetworkLaunch } from '../../../src/sandbox/types.js';
import { fakeHost, type FakeHostOptions } from './fake-host.js';

const BW = '/usr/bin/bwrap';
const CMD = ['/bin/echo', 'hi'];
const LAUNCHER = '/opt/execvisor/execvisor-launcher';
const SOCKET = '/tmp/execvisor-net-abc/proxy.sock';
const NAMESPACES = ['--unshare-user', '--unshare-pid', '--cap-drop', 'ALL'];
const LAUNCH = ['--', '/dev/.execvisor/launcher', '--fd', '3'];
const PROXIED: ManagedNetworkLaunch = { kind: 'proxied', socketPath: SOCKET };
const BLOCKED: ManagedNetworkLaunch = { kind: 'blocked' };

function launch(
  sandbox: unknown,
  managedNetwork: ManagedNetworkLaunch | null,
  hostOptions: FakeHostOptions = {},
) {
  const host = fakeHost({
    arch: 'x64',
    tree: { '/home/dev/proj/': 'dir', '/tmp/': 'dir', [SOCKET]: 'socket' },
    ...hostOptions,
  });
  return transformLaunch(
    { argv: CMD, cwd: '/home/dev/proj', env: { A: '1' }, sandbox, managedNetwork },
    host,
  );
}

const restrictedFilter = buildSeccompProgram({ arch: 'x86_64', restrictNetwork: true });
const proxiedFilter = buildSeccompProgram({ arch: 'x86_64', restrictNetwork: true, proxied: true });

describe('managed network in the sandbox transform', () => {
  it('blocked: a policy with network on still gets its own network namespace and the restricted filter', () => {
    const prepared = launch(
      { mode: 'require', policy: { type: 'read-only', network_access: true } },
      BLOCKED,
    );
    expect(prepared.argv).toEqual([
      BW,
      '--new-session',
      '--die-with-parent',
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--ro-bind', LAUNCHER, '/dev/.execvisor/launcher'],
      ...NAMESPACES,
      '--unshare-net',
      ...['--proc', '/proc'],
      ...LAUNCH,
    ]);
    expect(prepared.inner?.seccomp).toEqual(restrictedFilter);
  });

  it('proxied: the proxy socket is bound beside the launcher and the command gets the proxied filter', () => {
    const prepared = launch(
      { mode: 'require', policy: { type: 'read-only', network_access: true } },
      PROXIED,
    );
    expect(prepared.argv).toEqual([
      BW,
      '--new-session',
      '--die-with-parent',
      ...['--ro-bind', '/', '/', '--dev', '/dev'],
      ...['--ro-bind', LAUNCHER, '/dev/.execvisor/launcher'],
      ...['--ro-bind', SOCKET, '/dev/.execvisor/net.sock'],
      ...NAMESPACES,
      '--unshare-net',
      ...['--proc', '/proc'],
      ...LAUNCH,
    ]);
    expect(prepared.inner?.seccomp).toEqual(proxiedFilter);
    // The transform never changes the env (the proxy variables are laid over it by prepareSpawn).
    expect(prepared.inner?.env).toEqual({ A: '1' });
  });

  it('the proxy socket inside a writable root is kept read-only there (it cannot be removed)', () => {
    const prepared = launch(
      { mode: 'require', policy: { type: 'workspace-write', writable_roots: ['/tmp'] } },
      PROXIED,
    );
    const argv = prepared.argv.join(' ');
    expect(argv).toContain(`--bind /tmp /tmp`);
    expect(argv).toContain(`--ro-bind ${SOCKET} ${SOCKET}`);
  });

  it('without a sandbox (absent, null, or mode disabled) the network alone is confined', () => {
    for (const sandbox of [undefined, null, { mode: 'disabled', policy: { type: 'read-only' } }]) {
      for (const managed of [BLOCKED, PROXIED]) {
        const prepared = launch(sandbox, managed);
        expect(prepared.sandboxType).toBe('linux-seccomp');
        expect(prepared.argv.slice(0, 7)).toEqual([
          BW,
          '--new-session',
          '--die-with-parent',
          ...['--bind', '/', '/'],
          '--dev',
        ]);
        expect(prepared.argv).toContain('--unshare-net');
        expect(prepared.inner?.seccomp).toEqual(managed === BLOCKED ? restrictedFilter : proxiedFilter);
      }
    }
  });

  it('the seed member alone (sandbox.enforceManagedNetwork) is the same as blocked', () => {
    const prepared = launch(
      { mode: 'auto', policy: { type: 'danger-full-access' }, enforceManagedNetwork: true },
      null,
    );
    expect(prepared.sandboxType).toBe('linux-seccomp');
    expect(prepared.argv).toContain('--unshare-net');
    expect(prepared.inner?.seccomp).toEqual(restrictedFilter);
  });

  it('fails closed: no fallback to no sandbox under auto when bwrap is missing', () => {
    const expected =
      'failed to prepare process sandbox: managed network is enforced but no sandbox is available on this host:';
    expect(() => launch({ mode: 'auto', policy: { type: 'read-only' } }, BLOCKED, { bwrap: null })).toThrow(
      expected,
    );
    expect(() => launch(null, PROXIED, { bwrap: null })).toThrow(expected);
    expect(() =>
      launch({ policy: { type: 'read-only' }, enforceManagedNetwork: true }, null, { bwrap: null }),
    ).toThrow(expected);
    // Without enforcement, auto still runs unsandboxed (and says so).
    expect(launch({ policy: { type: 'read-only' } }, null, { bwrap: null }).sandboxType).toBe('none');
  });

  it('refuses a proxied launch without a seccomp filter (the filter keeps the command off the socket)', () => {
    expect(() => launch({ policy: { type: 'read-only' } }, PROXIED, { arch: 'riscv64' })).toThrow(
      'failed to prepare process sandbox: no seccomp filter for architecture riscv64 (managed network is enforced)',
    );
  });

  it('refuses a proxied launch on macOS (Seatbelt cannot host the bridge)', () => {
    expect(() =>
      launch({ policy: { type: 'read-only' } }, PROXIED, {
        platform: 'darwin',
        tree: { '/usr/bin/sandbox-exec': 'bin', '/home/dev/proj/': 'dir' },
      }),
    ).toThrow(
      'failed to prepare process sandbox: the managed network proxy is enforced with the Linux sandbox only',
    );
  });
});
