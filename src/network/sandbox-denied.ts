/**
 * `sandboxDenied`: did a process fail because its sandbox refused something? There is no exact
 * signal (a program may print "permission denied" for its own reasons), so, like the reference
 * (codex `is_likely_sandbox_denied`), this is a classification:
 *
 * - never while running or after exit 0;
 * - yes when the managed-network proxy denied this process a request (the reference leaves this
 *   out: a proxy 403 makes the tool fail, and that failure is the sandbox's doing);
 * - otherwise never without an OS sandbox (`sandboxType: none`);
 * - yes when its output shows a denial: `operation not permitted` (EPERM), `permission denied`
 *   (EACCES), `read-only file system` (EROFS), or the words `seccomp`, `sandbox`, `landlock`,
 *   `failed to write file` (case-insensitive, the reference's list);
 * - no for the shell's own failures, exit 2 (misuse), 126 (not executable), 127 (not found);
 * - yes for a seccomp kill under the Linux sandbox: SIGSYS, exit 128 + 31 = 159;
 * - otherwise no.
 */
import type { SandboxType } from '../core/types.js';

export interface SandboxDenialInput {
  readonly sandboxType: SandboxType;
  /** Whether the process ran behind the managed-network proxy. */
  readonly managedNetwork: boolean;
  /** The exit code, 128 + signal for a signal death; null while running. */
  readonly exitCode: number | null;
  /** How many requests the proxy denied this process. */
  readonly proxyDenials: number;
  /**
   * The end of the process's output (any stream; see `DENIAL_SCAN_BYTES`), asked for only when the
   * cheaper signs did not decide (it copies and decodes up to 64 KiB).
   */
  readonly outputTail: () => string;
}

/** How much of the end of the output the classification reads. */
export const DENIAL_SCAN_BYTES = 64 * 1024;

export const SANDBOX_DENIAL_KEYWORDS: readonly string[] = Object.freeze([
  'operation not permitted',
  'permission denied',
  'read-only file system',
  'seccomp',
  'sandbox',
  'landlock',
  'failed to write file',
]);

const NOT_SANDBOX_EXIT_CODES: ReadonlySet<number> = new Set([2, 126, 127]);
const SIGSYS = 31;

export function classifySandboxDenied(input: SandboxDenialInput): boolean {
  if (input.exitCode === null || input.exitCode === 0) return false;
  if (input.managedNetwork && input.proxyDenials > 0) return true;
  // The output signs count only under an OS sandbox: unconfined, EPERM is the program's own.
  if (input.sandboxType === 'none') return false;
  const tail = input.outputTail().toLowerCase();
  if (SANDBOX_DENIAL_KEYWORDS.some((keyword) => tail.includes(keyword))) return true;
  if (NOT_SANDBOX_EXIT_CODES.has(input.exitCode)) return false;
  return input.sandboxType === 'linux-seccomp' && input.exitCode === 128 + SIGSYS;
}
