import { describe, expect, it } from 'vitest';
import {
  AUDIT_ARCH,
  buildSeccompProgram,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  seccompArchOf,
  SYSCALL_NUMBERS,
} from '../../../src/sandbox/linux/seccomp-bpf.js';
import type { SeccompArch } from '../../../src/sandbox/linux/seccomp-bpf.js';

/**
 * A classic-BPF interpreter for the subset a seccomp filter may use, run over a `seccomp_data`
 * built from (arch, nr, args). Independent of the generator: it decodes the raw bytes.
 */
function runFilter(program: Uint8Array, arch: number, nr: number, args: readonly bigint[] = []): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setInt32(0, nr, true);
  data.setUint32(4, arch, true);
  data.setBigUint64(8, 0n, true);
  for (let i = 0; i < 6; i++) data.setBigUint64(16 + i * 8, args[i] ?? 0n, true);

  const code = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const count = program.byteLength / 8;
  expect(Number.isInteger(count)).toBe(true);
  let acc = 0;
  for (let pc = 0, steps = 0; pc < count && steps < 4096; steps++) {
    const op = code.getUint16(pc * 8, true);
    const jt = code.getUint8(pc * 8 + 2);
    const jf = code.getUint8(pc * 8 + 3);
    const k = code.getUint32(pc * 8 + 4, true);
    switch (op) {
      case 0x20: // ld [k]
        expect(k % 4).toBe(0);
        acc = data.getUint32(k, true);
        pc += 1;
        break;
      case 0x15: // jeq #k
        pc += 1 + (acc === k ? jt : jf);
        break;
      case 0x35: // jge #k
        pc += 1 + (acc >>> 0 >= k ? jt : jf);
        break;
      case 0x25: // jgt #k
        pc += 1 + (acc >>> 0 > k ? jt : jf);
        break;
      case 0x54: // and #k
        acc = (acc & k) >>> 0;
        pc += 1;
        break;
      case 0x06: // ret #k
        return k;
      default:
        throw new Error(`unexpected opcode 0x${op.toString(16)} at ${pc}`);
    }
  }
  throw new Error('filter fell off the end');
}

const EPERM_VERDICT = SECCOMP_RET_ERRNO | 1;

describe.each<SeccompArch>(['x86_64', 'aarch64'])('seccomp filter for %s', (arch) => {
  const restricted = buildSeccompProgram({ arch, restrictNetwork: true });
  const open = buildSeccompProgram({ arch, restrictNetwork: false });
  const nr = SYSCALL_NUMBERS[arch];
  const audit = AUDIT_ARCH[arch];
  const READ = arch === 'x86_64' ? 0 : 63;

  it('is a whole number of 8-byte instructions', () => {
    expect(restricted.byteLength % 8).toBe(0);
    expect(restricted.byteLength / 8).toBeLessThan(64);
  });

  it('denies the calls that reach a new peer with EPERM when the network is restricted', () => {
    for (const name of ['connect', 'accept', 'accept4', 'bind', 'listen', 'sendmmsg', 'recvmmsg'] as const) {
      expect(runFilter(restricted, audit, nr[name]), name).toBe(EPERM_VERDICT);
      expect(runFilter(open, audit, nr[name]), name).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it('allows calls on an already-open socket (stdio socket pairs), and sendto only without an address', () => {
    for (const name of ['getpeername', 'getsockname', 'shutdown', 'getsockopt', 'setsockopt'] as const) {
      expect(runFilter(restricted, audit, nr[name]), name).toBe(SECCOMP_RET_ALLOW);
    }
    expect(runFilter(restricted, audit, nr.sendto, [1n, 0x1000n, 5n, 0n, 0n, 0n])).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(restricted, audit, nr.sendto, [1n, 0x1000n, 5n, 0n, 0x7ffd0000n, 16n])).toBe(
      EPERM_VERDICT,
    );
    // A pointer whose low half is zero is still an address.
    expect(runFilter(restricted, audit, nr.sendto, [1n, 0x1000n, 5n, 0n, 0x7ffd00000000n, 16n])).toBe(
      EPERM_VERDICT,
    );
    expect(runFilter(open, audit, nr.sendto, [1n, 0x1000n, 5n, 0n, 0x7ffd0000n, 16n])).toBe(
      SECCOMP_RET_ALLOW,
    );
  });

  it('allows socket/socketpair only for AF_UNIX when restricted', () => {
    expect(runFilter(restricted, audit, nr.socket, [1n])).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(restricted, audit, nr.socketpair, [1n])).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(restricted, audit, nr.socket, [2n])).toBe(EPERM_VERDICT); // AF_INET
    expect(runFilter(restricted, audit, nr.socket, [10n])).toBe(EPERM_VERDICT); // AF_INET6
    expect(runFilter(restricted, audit, nr.socket, [16n])).toBe(EPERM_VERDICT); // AF_NETLINK
    expect(runFilter(restricted, audit, nr.socketpair, [2n])).toBe(EPERM_VERDICT);
    expect(runFilter(open, audit, nr.socket, [2n])).toBe(SECCOMP_RET_ALLOW);
  });

  it('refuses AF_UNIX datagram sockets when restricted (sendmsg could address any path with them)', () => {
    const SOCK_STREAM = 1n;
    const SOCK_DGRAM = 2n;
    const SOCK_SEQPACKET = 5n;
    const SOCK_CLOEXEC = 0o2000000n;
    const SOCK_NONBLOCK = 0o4000n;
    for (const call of [nr.socket, nr.socketpair]) {
      expect(runFilter(restricted, audit, call, [1n, SOCK_STREAM])).toBe(SECCOMP_RET_ALLOW);
      expect(runFilter(restricted, audit, call, [1n, SOCK_SEQPACKET | SOCK_CLOEXEC])).toBe(SECCOMP_RET_ALLOW);
      expect(runFilter(restricted, audit, call, [1n, SOCK_DGRAM])).toBe(EPERM_VERDICT);
      expect(runFilter(restricted, audit, call, [1n, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK])).toBe(
        EPERM_VERDICT,
      );
      expect(runFilter(open, audit, call, [1n, SOCK_DGRAM])).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it('always denies ptrace and io_uring', () => {
    for (const program of [restricted, open]) {
      for (const name of ['ptrace', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'] as const) {
        expect(runFilter(program, audit, nr[name]), name).toBe(EPERM_VERDICT);
      }
    }
  });

  it('allows everything else', () => {
    expect(runFilter(restricted, audit, READ)).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(restricted, audit, 1000)).toBe(SECCOMP_RET_ALLOW);
  });

  it('kills a syscall made through another ABI', () => {
    const other = arch === 'x86_64' ? AUDIT_ARCH.aarch64 : AUDIT_ARCH.x86_64;
    expect(runFilter(restricted, other, READ)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(restricted, 0x40000003 /* i386 */, READ)).toBe(SECCOMP_RET_KILL_PROCESS);
  });
});

describe.each<SeccompArch>(['x86_64', 'aarch64'])('proxied seccomp filter for %s', (arch) => {
  const proxied = buildSeccompProgram({ arch, restrictNetwork: true, proxied: true });
  const nr = SYSCALL_NUMBERS[arch];
  const audit = AUDIT_ARCH[arch];
  const [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_VSOCK] = [1n, 2n, 10n, 16n, 17n, 40n];
  const [STREAM, DGRAM, RAW, SEQPACKET, PACKET] = [1n, 2n, 3n, 5n, 10n];
  const FLAGS = 0o2000000n | 0o4000n; // SOCK_CLOEXEC | SOCK_NONBLOCK

  it('allows IP stream and datagram sockets (the namespace holds only its loopback and the bridge)', () => {
    for (const family of [AF_INET, AF_INET6]) {
      expect(runFilter(proxied, audit, nr.socket, [family, STREAM])).toBe(SECCOMP_RET_ALLOW);
      expect(runFilter(proxied, audit, nr.socket, [family, STREAM | FLAGS])).toBe(SECCOMP_RET_ALLOW);
      expect(runFilter(proxied, audit, nr.socket, [family, DGRAM])).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it('refuses raw and packet sockets, and every other family, AF_UNIX included', () => {
    for (const family of [AF_INET, AF_INET6]) {
      expect(runFilter(proxied, audit, nr.socket, [family, RAW]), 'raw').toBe(EPERM_VERDICT);
      expect(runFilter(proxied, audit, nr.socket, [family, PACKET]), 'packet').toBe(EPERM_VERDICT);
    }
    for (const family of [AF_UNIX, AF_NETLINK, AF_PACKET, AF_VSOCK]) {
      expect(runFilter(proxied, audit, nr.socket, [family, STREAM]), String(family)).toBe(EPERM_VERDICT);
    }
  });

  it('keeps AF_UNIX stream and seqpacket socket pairs, not datagram ones', () => {
    expect(runFilter(proxied, audit, nr.socketpair, [AF_UNIX, STREAM | FLAGS])).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(proxied, audit, nr.socketpair, [AF_UNIX, SEQPACKET])).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(proxied, audit, nr.socketpair, [AF_UNIX, DGRAM])).toBe(EPERM_VERDICT);
    expect(runFilter(proxied, audit, nr.socketpair, [AF_INET, STREAM])).toBe(EPERM_VERDICT);
  });

  it('allows the calls that use a socket (they reach only the namespace)', () => {
    for (const name of ['connect', 'bind', 'listen', 'accept', 'accept4', 'sendmmsg', 'recvmmsg'] as const) {
      expect(runFilter(proxied, audit, nr[name]), name).toBe(SECCOMP_RET_ALLOW);
    }
    expect(runFilter(proxied, audit, nr.sendto, [3n, 0x1000n, 5n, 0n, 0x7ffd0000n, 16n])).toBe(
      SECCOMP_RET_ALLOW,
    );
  });

  it('still denies ptrace and io_uring, x32 numbers, and kills another ABI', () => {
    for (const name of ['ptrace', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'] as const) {
      expect(runFilter(proxied, audit, nr[name]), name).toBe(EPERM_VERDICT);
    }
    const other = arch === 'x86_64' ? AUDIT_ARCH.aarch64 : AUDIT_ARCH.x86_64;
    expect(runFilter(proxied, other, 0)).toBe(SECCOMP_RET_KILL_PROCESS);
    if (arch === 'x86_64') expect(runFilter(proxied, audit, 0x40000000 + 41)).toBe(EPERM_VERDICT);
  });

  it('is only built restricting the network', () => {
    expect(() => buildSeccompProgram({ arch, restrictNetwork: false, proxied: true })).toThrow(/restricts/);
  });
});

describe('seccomp filter x32 guard', () => {
  it('denies x32 syscall numbers on x86_64', () => {
    const program = buildSeccompProgram({ arch: 'x86_64', restrictNetwork: false });
    expect(runFilter(program, AUDIT_ARCH.x86_64, 0x40000000 + 42)).toBe(EPERM_VERDICT);
    expect(runFilter(program, AUDIT_ARCH.x86_64, 0x40000000)).toBe(EPERM_VERDICT);
  });
});

describe('seccompArchOf', () => {
  it('maps Node and uname spellings', () => {
    expect(seccompArchOf('x64')).toBe('x86_64');
    expect(seccompArchOf('x86_64')).toBe('x86_64');
    expect(seccompArchOf('arm64')).toBe('aarch64');
    expect(seccompArchOf('aarch64')).toBe('aarch64');
    expect(seccompArchOf('riscv64')).toBeNull();
    expect(seccompArchOf('ia32')).toBeNull();
  });
});
