/**
 * The seam between the process actor and the sandbox: `transformLaunch()` turns a launch request and
 * a SandboxLaunchConfig into what is actually spawned. It is pure apart from the injected `HostView`.
 */
import type { SandboxType } from '../core/types.js';

export interface LaunchRequest {
  /** argv[0] is already resolved to an absolute program path. */
  readonly argv: readonly string[];
  /** Absolute working directory. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** The raw `sandbox` member of the start request (unvalidated); undefined/null = no sandbox. */
  readonly sandbox: unknown;
  /**
   * Host files to show inside a Linux sandbox, read-only, under `PRIVATE_MOUNT_DIR` (the fs helper's
   * Node binary, its libraries and code), whatever the policy lets the command itself read. `name`
   * is a relative path below that directory.
   */
  readonly privateMounts?: readonly PrivateMount[];
  /**
   * Managed network enforced for this launch (absent or null: the policy alone decides):
   * `blocked`, no network whatever the policy says; `proxied`, a private network namespace whose
   * only way out is the bridge to the runtime's proxy, whose Unix socket is `socketPath` on the
   * host. Either way the launch is confined on the network even when `sandbox` asks for nothing,
   * and refused when no sandbox can do that here.
   */
  readonly managedNetwork?: ManagedNetworkLaunch | null;
}

export type ManagedNetworkLaunch =
  { readonly kind: 'blocked' } | { readonly kind: 'proxied'; readonly socketPath: string };

export interface PrivateMount {
  readonly source: string;
  readonly name: string;
}

/** What the launcher inside a Linux sandbox runs: it applies `seccomp`, then execs the program. */
export interface InnerLaunch {
  /** Absolute path of the program (as seen inside the sandbox). */
  readonly program: string;
  /** Exactly the argv the program gets; argv[0] is the program path (the caller may swap in arg0). */
  readonly argv: readonly string[];
  /** Exactly the request's env. */
  readonly env: Readonly<Record<string, string>>;
  /** The classic BPF program the launcher loads before the exec, or null (no filter for this arch). */
  readonly seccomp: Uint8Array | null;
}

export interface PreparedLaunch {
  /** What to spawn; argv[0] is an absolute path. */
  readonly argv: readonly string[];
  /**
   * The environment of what is spawned: the request's env when the command is spawned directly, an
   * empty one when a wrapper (bwrap) is spawned: the request's env reaches only the final program,
   * through `inner`.
   */
  readonly env: Readonly<Record<string, string>>;
  readonly sandboxType: SandboxType;
  /**
   * For a Linux sandbox: the launch spec the launcher inside reads from descriptor `SPEC_FD` of the
   * spawned process (see src/native/launcher/launcher.c). Null when the command is spawned directly.
   */
  readonly inner: InnerLaunch | null;
  /** Things worth a log line (e.g. "no seccomp filter for this architecture"). */
  readonly warnings: readonly string[];
  /**
   * Further descriptors the spawned process must have open for reading: open `path` as descriptor
   * `fd` (bwrap reads them, e.g. `/dev/null` for `--ro-bind-data` over an unreadable file).
   * Absent or empty when none are needed.
   */
  readonly inheritFds?: readonly { readonly fd: number; readonly path: string }[];
}

/** An executable the runtime resolved at start, or why there is none. */
export type ResolvedTool = { readonly path: string } | { readonly error: string };

/** The few host facts the transform needs, injectable for tests. */
export interface HostView {
  readonly platform: NodeJS.Platform;
  readonly arch: string;
  /** `$TMPDIR` of the server. */
  readonly tmpdir: string | undefined;
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  isFile(path: string): boolean;
  isSymlink(path: string): boolean;
  /** Canonical path of an existing path (symlinks resolved). Throws if it does not exist. */
  realpath(path: string): string;
  readTextFile(path: string): string | undefined;
  /**
   * The trusted bwrap, resolved once when the runtime started (an explicit path or a fixed system
   * location), never from anything in the request.
   */
  readonly bwrap: ResolvedTool;
  /** The `execvisor-launcher` executable bwrap runs as the sandbox's first program. */
  readonly launcher: ResolvedTool;
  /** Whether bwrap can mount a fresh /proc here (probed once, cached). */
  canMountProc(bwrapPath: string): boolean;
}
