import type { OutputStream, TerminalSize } from '../core/types.js';

/**
 * One inherited descriptor: a file opened read-only, or bytes the child reads from the descriptor
 * to its end (a launch spec, a seccomp program) without anything reaching the disk.
 */
export type ExtraFd =
  { readonly kind: 'file'; readonly path: string } | { readonly kind: 'data'; readonly data: Uint8Array };

/** What a spawn backend is asked to start. */
export interface SpawnRequest {
  /** Absolute path of the program to execute. */
  readonly file: string;
  /** What the child sees as argv (argv[0] may differ from `file`). */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly pipeStdin: boolean;
  readonly size: TerminalSize;
  /**
   * The child's descriptors 3, 4, … in order (under a sandbox: the launcher's spec, and /dev/null
   * that bwrap copies over unreadable files). Usually empty.
   */
  readonly extraFds: readonly ExtraFd[];
  /**
   * The user's program as the start request named it, for error messages (`file` may be a wrapper
   * such as bwrap). Default: `argv[0]`.
   */
  readonly command?: string;
}

export interface SpawnHandlers {
  /** Output bytes; the buffer may be kept (it is not reused by the backend). */
  onData(stream: OutputStream, data: Buffer): void;
  /** The OS reported the exit. */
  onExit(exitCode: number): void;
  /** Exit is known and every output stream reached EOF. Called once, last. */
  onClose(): void;
}

/** A live child from either backend, in its own process group (pid = pgid). */
export interface SpawnedChild {
  readonly pid: number;
  write(data: Uint8Array): Promise<'accepted' | 'stdinClosed'>;
  closeStdin(): void;
  resize(size: TerminalSize): void;
  /** Stop / restart reading output (flow control). */
  pause(): void;
  resume(): void;
  /**
   * Stop waiting for EOF: close our ends of the output and report `onClose` once the exit is known.
   * Used only after a terminate, once the leader has exited, when something the kill could not
   * reach still holds the output open (see docs/operations.md, containment).
   */
  abandonOutput?(): void;
}

/** The program a spawn error names: the user's command, not a wrapper (bwrap, the launcher) in front of it. */
export function shownProgram(request: SpawnRequest): string {
  return request.command ?? request.argv[0] ?? request.file;
}
