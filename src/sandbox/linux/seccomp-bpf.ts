/**
 * Generates the seccomp layer of the Linux sandbox as a classic BPF program (an array of
 * `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }`, 8 bytes each, little-endian) that our
 * launcher loads inside the sandbox, right before it execs the command (no_new_privs, then
 * seccomp(2)). Generated here rather than taken from libseccomp so the server has no native
 * dependency for it and the program is unit-testable byte for byte.
 *
 * Layout: check `seccomp_data.arch` (a syscall made through another ABI, such as the 32-bit
 * `int 0x80` entry on x86_64 with its `socketcall` multiplexer, has other numbers, so the process is
 * killed rather than the call misread), refuse x32 numbers, load the syscall number, deny listed
 * numbers with EPERM, let `socket`/`socketpair` through only for AF_UNIX stream and seqpacket
 * sockets and `sendto` only without a destination address, allow everything else.
 *
 * Calls that take a peer address, with network restricted: connect, bind, listen, accept(4) and
 * sendmmsg are denied; sendto is denied when it names an address. sendmsg cannot be judged by its
 * address (a classic BPF filter cannot read `msghdr.msg_name`), so instead no socket it could
 * address is allowed to exist: no socket but AF_UNIX can be created, and AF_UNIX datagram sockets
 * (`socket` and `socketpair`, the only kind that delivers to a path or an abstract name given per
 * message) are refused. On the AF_UNIX stream and seqpacket sockets that remain the kernel ignores
 * or refuses a message address (EISCONN / EOPNOTSUPP), so sendmsg stays allowed, with its uses that
 * carry no address (descriptor passing, scatter-gather writes on socket pairs). What breaks:
 * programs that make their own Unix datagram sockets (syslog(3) to /dev/log, sd_notify), which fail
 * with EPERM. The reference filter (openai/codex linux-sandbox) leaves sendmsg and Unix datagram
 * sockets alone; anthropic's sandbox-runtime refuses every new AF_UNIX socket.
 *
 * Deliberate difference from the reference list: our children's stdout and stderr are AF_UNIX socket
 * pairs (that is how Node's child_process makes pipes), and runtimes probe their stdio with
 * getsockname/getsockopt (libuv's uv_guess_handle: Node silently discards stdout when it fails) and
 * write with send(). So the calls that only act on an already-open socket — getsockname,
 * getpeername, getsockopt, setsockopt, shutdown, and sendto with no address — are allowed. No
 * network socket can be created to use them on, and every call that reaches a new peer (connect,
 * bind, listen, accept, sendto with an address, sendmmsg) stays denied.
 *
 * Managed network (`proxied`): the process runs in a network namespace of its own whose only way
 * out is the bridge on its loopback (127.0.0.1:3128, started by the launcher before this filter),
 * so it must be able to make TCP connections there. IP sockets (AF_INET, AF_INET6; stream and
 * datagram, never raw or packet) may be made and connect, bind, listen, accept, sendto and the
 * mmsg calls are allowed: every address they can reach is inside the namespace. What stays closed
 * is every other family: no new AF_UNIX socket (so no connect to a host socket by path or abstract
 * name, the proxy's own socket included: only the bridge may use it), no netlink, packet or vsock
 * socket. AF_UNIX stream and seqpacket `socketpair` stays allowed as above: a pair is connected and
 * can address nothing.
 */

export type SeccompArch = 'x86_64' | 'aarch64';

/** `struct seccomp_data` offsets: nr (s32), arch (u32), instruction_pointer (u64), args[6] (u64). */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
/** Low 32 bits of args[0] on a little-endian host: the socket domain is an `int`. */
const OFFSET_ARG0_LO = 16;
/** Low 32 bits of args[1]: the socket type (an `int`, with SOCK_NONBLOCK/SOCK_CLOEXEC or'ed in). */
const OFFSET_ARG1_LO = 16 + 8;
/** args[4] of sendto is the destination address pointer (both halves must be zero). */
const OFFSET_ARG4_LO = 16 + 4 * 8;
const OFFSET_ARG4_HI = OFFSET_ARG4_LO + 4;

const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K
const BPF_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const EPERM = 1;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
/** The socket type without its flags (SOCK_TYPE_MASK in the kernel). */
const SOCK_TYPE_MASK = 0xf;

export const AUDIT_ARCH: Record<SeccompArch, number> = {
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
};

/** x32 syscalls on x86_64 set this bit; they share the arch value, so they are refused by number. */
const X32_SYSCALL_BIT = 0x40000000;

type NetworkSyscall = 'connect' | 'accept' | 'accept4' | 'bind' | 'listen' | 'sendmmsg' | 'recvmmsg';
/** Calls on an already-open socket: allowed (see the header). */
type SocketUse = 'getpeername' | 'getsockname' | 'shutdown' | 'sendto' | 'getsockopt' | 'setsockopt';
type AlwaysDenied = 'ptrace' | 'io_uring_setup' | 'io_uring_enter' | 'io_uring_register';
type SocketCreation = 'socket' | 'socketpair';
type Syscall = NetworkSyscall | SocketUse | AlwaysDenied | SocketCreation;

/** From arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h (aarch64). */
export const SYSCALL_NUMBERS: Record<SeccompArch, Record<Syscall, number>> = {
  x86_64: {
    socket: 41,
    connect: 42,
    accept: 43,
    sendto: 44,
    shutdown: 48,
    bind: 49,
    listen: 50,
    getsockname: 51,
    getpeername: 52,
    socketpair: 53,
    setsockopt: 54,
    getsockopt: 55,
    ptrace: 101,
    accept4: 288,
    recvmmsg: 299,
    sendmmsg: 307,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
  },
  aarch64: {
    socket: 198,
    socketpair: 199,
    bind: 200,
    listen: 201,
    accept: 202,
    connect: 203,
    getsockname: 204,
    getpeername: 205,
    sendto: 206,
    setsockopt: 208,
    getsockopt: 209,
    shutdown: 210,
    ptrace: 117,
    accept4: 242,
    recvmmsg: 243,
    sendmmsg: 269,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
  },
};

const NETWORK_SYSCALLS: readonly NetworkSyscall[] = [
  'connect',
  'accept',
  'accept4',
  'bind',
  'listen',
  'sendmmsg',
  'recvmmsg',
];
const ALWAYS_DENIED: readonly AlwaysDenied[] = [
  'ptrace',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
];

/** Node's `process.arch` (or `uname -m`) → the arch we have a filter for, or null. */
export function seccompArchOf(arch: string): SeccompArch | null {
  if (arch === 'x64' || arch === 'x86_64') return 'x86_64';
  if (arch === 'arm64' || arch === 'aarch64') return 'aarch64';
  return null;
}

export interface SeccompOptions {
  readonly arch: SeccompArch;
  /** Deny the network syscalls (network policy `restricted`). */
  readonly restrictNetwork: boolean;
  /**
   * Managed network (needs `restrictNetwork`): IP sockets and the calls that use them are allowed,
   * every other socket family is not (see the header). Default false.
   */
  readonly proxied?: boolean;
}

type Label =
  'allow' | 'deny' | 'kill' | 'socketArgs' | 'sendtoArgs' | 'ipSocketArgs' | 'ipSocketType' | 'ipAllow';
type Insn = { readonly label?: Label } & (
  | { readonly op: 'ld'; readonly offset: number }
  | { readonly op: 'and'; readonly k: number }
  | { readonly op: 'jeq' | 'jge'; readonly k: number; readonly jt: Label | null; readonly jf: Label | null }
  | { readonly op: 'ret'; readonly k: number }
);

/**
 * Assembles with symbolic jump targets (null = fall through), then encodes. Classic BPF jumps only
 * go forward, by at most 255 instructions, which this program (< 50 instructions) never approaches.
 */
function encode(insns: readonly Insn[]): Uint8Array {
  const labels = new Map<Label, number>();
  insns.forEach((insn, index) => {
    if (insn.label !== undefined) labels.set(insn.label, index);
  });
  const offset = (from: number, label: Label | null): number => {
    if (label === null) return 0;
    const target = labels.get(label);
    if (target === undefined || target <= from || target - from - 1 > 255) {
      throw new Error(`seccomp assembler: bad jump to ${label}`);
    }
    return target - from - 1;
  };
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach((insn, index) => {
    const at = index * 8;
    switch (insn.op) {
      case 'ld':
        view.setUint16(at, BPF_LD_W_ABS, true);
        view.setUint32(at + 4, insn.offset, true);
        break;
      case 'and':
        view.setUint16(at, BPF_AND_K, true);
        view.setUint32(at + 4, insn.k >>> 0, true);
        break;
      case 'jeq':
      case 'jge':
        view.setUint16(at, insn.op === 'jeq' ? BPF_JEQ_K : BPF_JGE_K, true);
        view.setUint8(at + 2, offset(index, insn.jt));
        view.setUint8(at + 3, offset(index, insn.jf));
        view.setUint32(at + 4, insn.k >>> 0, true);
        break;
      case 'ret':
        view.setUint16(at, BPF_RET_K, true);
        view.setUint32(at + 4, insn.k >>> 0, true);
        break;
    }
  });
  return out;
}

export function buildSeccompProgram(options: SeccompOptions): Uint8Array {
  if (options.proxied === true) {
    if (!options.restrictNetwork) throw new Error('a proxied seccomp filter restricts the network');
    return buildProxiedProgram(options.arch);
  }
  const numbers = SYSCALL_NUMBERS[options.arch];
  const denied = [...(options.restrictNetwork ? NETWORK_SYSCALLS : []), ...ALWAYS_DENIED].map(
    (s) => numbers[s],
  );
  const insns: Insn[] = [
    { op: 'ld', offset: OFFSET_ARCH },
    { op: 'jeq', k: AUDIT_ARCH[options.arch], jt: null, jf: 'kill' },
    { op: 'ld', offset: OFFSET_NR },
  ];
  if (options.arch === 'x86_64') insns.push({ op: 'jge', k: X32_SYSCALL_BIT, jt: 'deny', jf: null });
  for (const nr of denied) insns.push({ op: 'jeq', k: nr, jt: 'deny', jf: null });
  if (options.restrictNetwork) {
    insns.push({ op: 'jeq', k: numbers.socket, jt: 'socketArgs', jf: null });
    insns.push({ op: 'jeq', k: numbers.socketpair, jt: 'socketArgs', jf: null });
    insns.push({ op: 'jeq', k: numbers.sendto, jt: 'sendtoArgs', jf: null });
  }
  insns.push({ op: 'ret', k: SECCOMP_RET_ALLOW, label: 'allow' });
  if (options.restrictNetwork) {
    // socket/socketpair: AF_UNIX only, and not datagrams (they can be addressed per message).
    insns.push({ op: 'ld', offset: OFFSET_ARG0_LO, label: 'socketArgs' });
    insns.push({ op: 'jeq', k: AF_UNIX, jt: null, jf: 'deny' });
    insns.push({ op: 'ld', offset: OFFSET_ARG1_LO });
    insns.push({ op: 'and', k: SOCK_TYPE_MASK });
    insns.push({ op: 'jeq', k: SOCK_DGRAM, jt: 'deny', jf: null });
    insns.push({ op: 'ret', k: SECCOMP_RET_ALLOW });
    insns.push({ op: 'ld', offset: OFFSET_ARG4_LO, label: 'sendtoArgs' });
    insns.push({ op: 'jeq', k: 0, jt: null, jf: 'deny' });
    insns.push({ op: 'ld', offset: OFFSET_ARG4_HI });
    insns.push({ op: 'jeq', k: 0, jt: null, jf: 'deny' });
    insns.push({ op: 'ret', k: SECCOMP_RET_ALLOW });
  }
  insns.push({ op: 'ret', k: SECCOMP_RET_ERRNO | EPERM, label: 'deny' });
  insns.push({ op: 'ret', k: SECCOMP_RET_KILL_PROCESS, label: 'kill' });
  return encode(insns);
}

/** The managed-network filter: IP sockets only (see the header). */
function buildProxiedProgram(arch: SeccompArch): Uint8Array {
  const numbers = SYSCALL_NUMBERS[arch];
  const insns: Insn[] = [
    { op: 'ld', offset: OFFSET_ARCH },
    { op: 'jeq', k: AUDIT_ARCH[arch], jt: null, jf: 'kill' },
    { op: 'ld', offset: OFFSET_NR },
  ];
  if (arch === 'x86_64') insns.push({ op: 'jge', k: X32_SYSCALL_BIT, jt: 'deny', jf: null });
  for (const name of ALWAYS_DENIED) insns.push({ op: 'jeq', k: numbers[name], jt: 'deny', jf: null });
  insns.push({ op: 'jeq', k: numbers.socket, jt: 'ipSocketArgs', jf: null });
  insns.push({ op: 'jeq', k: numbers.socketpair, jt: 'socketArgs', jf: null });
  insns.push({ op: 'ret', k: SECCOMP_RET_ALLOW, label: 'allow' });
  // socket: AF_INET or AF_INET6, stream or datagram.
  insns.push({ op: 'ld', offset: OFFSET_ARG0_LO, label: 'ipSocketArgs' });
  insns.push({ op: 'jeq', k: AF_INET, jt: 'ipSocketType', jf: null });
  insns.push({ op: 'jeq', k: AF_INET6, jt: 'ipSocketType', jf: 'deny' });
  insns.push({ op: 'ld', offset: OFFSET_ARG1_LO, label: 'ipSocketType' });
  insns.push({ op: 'and', k: SOCK_TYPE_MASK });
  insns.push({ op: 'jeq', k: SOCK_STREAM, jt: 'ipAllow', jf: null });
  insns.push({ op: 'jeq', k: SOCK_DGRAM, jt: 'ipAllow', jf: 'deny' });
  insns.push({ op: 'ret', k: SECCOMP_RET_ALLOW, label: 'ipAllow' });
  // socketpair: AF_UNIX, not datagrams (as under `restricted`).
  insns.push({ op: 'ld', offset: OFFSET_ARG0_LO, label: 'socketArgs' });
  insns.push({ op: 'jeq', k: AF_UNIX, jt: null, jf: 'deny' });
  insns.push({ op: 'ld', offset: OFFSET_ARG1_LO });
  insns.push({ op: 'and', k: SOCK_TYPE_MASK });
  insns.push({ op: 'jeq', k: SOCK_DGRAM, jt: 'deny', jf: null });
  insns.push({ op: 'ret', k: SECCOMP_RET_ALLOW });
  insns.push({ op: 'ret', k: SECCOMP_RET_ERRNO | EPERM, label: 'deny' });
  insns.push({ op: 'ret', k: SECCOMP_RET_KILL_PROCESS, label: 'kill' });
  return encode(insns);
}
