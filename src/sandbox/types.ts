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
}

export interface PreparedLaunch {
  /** What to spawn; argv[0] is an absolute path. */
  readonly argv: readonly string[];
  /** Exactly the request's env: the transform never adds or removes variables. */
  readonly env: Readonly<Record<string, string>>;
  readonly sandboxType: SandboxType;
  /**
   * A classic BPF program that must be readable on descriptor `fd` of the spawned process
   * (argv then carries `--seccomp <fd>`), or null.
   */
  readonly seccomp: { readonly fd: number; readonly program: Uint8Array } | null;
  /** Things worth a log line (e.g. "no seccomp filter for this architecture"). */
  readonly warnings: readonly string[];
  /**
   * Further descriptors the spawned process must have open for reading: open `path` as descriptor
   * `fd` (bwrap reads them, e.g. `/dev/null` for `--ro-bind-data` over an unreadable file).
   * Absent or empty when none are needed.
   */
  readonly inheritFds?: readonly { readonly fd: number; readonly path: string }[];
}

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
  /** Absolute path of a usable bwrap on the server's PATH, never inside `avoidDir`; or why not. */
  findBwrap(avoidDir: string): { path: string } | { error: string };
  /** Whether bwrap can mount a fresh /proc here (probed once, cached). */
  canMountProc(bwrapPath: string): boolean;
}
