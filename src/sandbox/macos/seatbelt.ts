/**
 * The macOS Seatbelt profile and `sandbox-exec` argv (spec §6). Pure: it runs only on macOS but is
 * tested everywhere by its exact output. Paths travel as `-D` parameters rather than being spliced
 * into the profile, so no path can inject profile syntax.
 */
import type { FileSystemView, WritableRoot } from '../policy/resolve.js';
import { isStrictlyWithin } from '../policy/paths.js';
import { SEATBELT_PATH } from '../select.js';

/** Deny by default; allow only what ordinary programs need to start and run. */
export const SEATBELT_BASE_POLICY = `(version 1)
; Closed by default: everything below is an explicit allowance.
(deny default)

; Children inherit this profile, so starting programs and forking stays confined.
(allow process-exec)
(allow process-fork)
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))

; The universal sink.
(allow file-write-data
  (require-all (path "/dev/null") (vnode-type CHARACTER-DEVICE)))

; Host facts that runtimes and build tools commonly query.
(allow sysctl-read
  (sysctl-name "hw.activecpu")
  (sysctl-name "hw.byteorder")
  (sysctl-name "hw.cachelinesize_compat")
  (sysctl-name "hw.cpufamily")
  (sysctl-name "hw.cputype")
  (sysctl-name "hw.logicalcpu")
  (sysctl-name "hw.logicalcpu_max")
  (sysctl-name "hw.machine")
  (sysctl-name "hw.memsize")
  (sysctl-name "hw.model")
  (sysctl-name "hw.ncpu")
  (sysctl-name "hw.nperflevels")
  (sysctl-name "hw.pagesize")
  (sysctl-name "hw.pagesize_compat")
  (sysctl-name "hw.physicalcpu")
  (sysctl-name "hw.physicalcpu_max")
  (sysctl-name-prefix "hw.optional.")
  (sysctl-name-prefix "hw.perflevel")
  (sysctl-name "kern.argmax")
  (sysctl-name "kern.hostname")
  (sysctl-name "kern.maxfilesperproc")
  (sysctl-name "kern.osproductversion")
  (sysctl-name "kern.osrelease")
  (sysctl-name "kern.ostype")
  (sysctl-name "kern.osversion")
  (sysctl-name "kern.version")
  (sysctl-name-prefix "kern.proc.pid.")
  (sysctl-name "machdep.cpu.brand_string")
  (sysctl-name "sysctl.proc_cputype")
  (sysctl-name "vm.loadavg"))

; Looking up users and groups.
(allow mach-lookup (global-name "com.apple.system.opendirectoryd.libinfo"))

; Pseudo-terminals, for interactive processes.
(allow pseudo-tty)
(allow file-read* file-write* file-ioctl (literal "/dev/ptmx"))
(allow file-read* file-write*
  (require-all (regex #"^/dev/ttys[0-9]+") (extension "com.apple.sandbox.pty")))
(allow file-ioctl (regex #"^/dev/ttys[0-9]+"))

; POSIX semaphores (for example Python multiprocessing locks).
(allow ipc-posix-sem)

; Reading user preferences through cfprefsd.
(allow user-preference-read)
(allow ipc-posix-shm-read* (ipc-posix-name-prefix "apple.cfprefs."))
(allow mach-lookup
  (global-name "com.apple.cfprefsd.daemon")
  (global-name "com.apple.cfprefsd.agent")
  (local-name "com.apple.cfprefsd.agent"))
`;

/** Outbound/inbound traffic plus the services name resolution and TLS validation talk to. */
export const SEATBELT_NETWORK_POLICY = `(allow network-outbound)
(allow network-inbound)
(allow system-socket)
(allow mach-lookup
  (global-name "com.apple.bsd.dirhelper")
  (global-name "com.apple.system.opendirectoryd.membership")
  (global-name "com.apple.SecurityServer")
  (global-name "com.apple.networkd")
  (global-name "com.apple.ocspd")
  (global-name "com.apple.trustd.agent")
  (global-name "com.apple.SystemConfiguration.DNSConfiguration")
  (global-name "com.apple.SystemConfiguration.configd"))
(allow sysctl-read (sysctl-name-regex #"^net.routetable"))
`;

/** System paths a `minimal` read entry adds on macOS. */
export const MACOS_PLATFORM_DEFAULTS: readonly string[] = [
  '/bin',
  '/sbin',
  '/usr',
  '/System',
  '/Library',
  '/private/etc',
  '/private/var/db/timezone',
  '/dev',
];

interface AccessRoot {
  readonly root: string;
  readonly excluded: readonly string[];
}

interface AccessBlock {
  readonly text: string;
  readonly params: readonly (readonly [string, string])[];
}

/** `(allow <action> …)` over roots, each minus its excluded subpaths (and their creation). */
function accessBlock(action: string, prefix: string, roots: readonly AccessRoot[]): AccessBlock {
  const params: [string, string][] = [];
  const clauses = roots.map(({ root, excluded }, i) => {
    const key = `${prefix}_${i}`;
    params.push([key, root]);
    if (excluded.length === 0) return `(subpath (param "${key}"))`;
    const parts = [`(subpath (param "${key}"))`];
    excluded.forEach((path, j) => {
      const excludedKey = `${key}_EXCLUDED_${j}`;
      params.push([excludedKey, path]);
      // `literal` as well as `subpath`: forbids creating the protected path itself (mkdir .codex).
      parts.push(`(require-not (literal (param "${excludedKey}")))`);
      parts.push(`(require-not (subpath (param "${excludedKey}")))`);
    });
    return `(require-all ${parts.join(' ')})`;
  });
  if (clauses.length === 0) return { text: '', params: [] };
  return { text: `(allow ${action}\n${clauses.join('\n')})\n`, params };
}

export interface SeatbeltOptions {
  readonly restrictNetwork: boolean;
}

export interface SeatbeltProfile {
  readonly profile: string;
  /** `-D` parameters in order: read roots, then write roots. */
  readonly params: readonly (readonly [string, string])[];
}

export function buildSeatbeltProfile(view: FileSystemView, options: SeatbeltOptions): SeatbeltProfile {
  let read: AccessBlock;
  if (view.fullRead) {
    read = { text: '(allow file-read*)\n', params: [] };
  } else {
    const bases = view.rootReadable
      ? ['/']
      : [...new Set([...view.readableRoots, ...view.writableRoots.map((root) => root.root)])];
    read = accessBlock(
      'file-read*',
      'READABLE_ROOT',
      bases.map((root) => ({
        root,
        excluded: view.unreadableRoots.filter((path) => isStrictlyWithin(path, root)),
      })),
    );
    if (view.platformDefaults) {
      const defaults = MACOS_PLATFORM_DEFAULTS.map((path) => `(subpath "${path}")`).join('\n');
      read = { text: `${read.text}(allow file-read*\n${defaults})\n`, params: read.params };
    }
  }

  const writableRoots: readonly WritableRoot[] = view.fullWrite
    ? [{ root: '/', readOnlySubpaths: [] }]
    : view.writableRoots;
  const write = accessBlock(
    'file-write*',
    'WRITABLE_ROOT',
    writableRoots.map((root) => ({ root: root.root, excluded: root.readOnlySubpaths })),
  );

  const sections = [
    SEATBELT_BASE_POLICY,
    `; read\n${read.text}`,
    `; write\n${write.text}`,
    `; network\n${options.restrictNetwork ? '' : SEATBELT_NETWORK_POLICY}`,
  ];
  return { profile: sections.join('\n'), params: [...read.params, ...write.params] };
}

/** `sandbox-exec` from its fixed path (never PATH: a planted one would defeat the sandbox). */
export function seatbeltArgv(profile: SeatbeltProfile, command: readonly string[]): string[] {
  return [
    SEATBELT_PATH,
    '-p',
    profile.profile,
    ...profile.params.map(([key, value]) => `-D${key}=${value}`),
    '--',
    ...command,
  ];
}
