/**
 * Sandboxed filesystem operations: the operation runs in a short-lived helper process
 * (`workers/fs-helper.ts`, run with this Node binary) launched through the same sandbox transform
 * as `process/start`, so the sandbox decides what the operation may touch, not our own path checks.
 * The helper reads one JSON request on stdin and writes one JSON response on stdout.
 *
 * Runs in a pool worker. The reference does the same (`codex-rs/exec-server/src/fs_sandbox.rs`).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { FsIoError, InternalError, errorFromPlain } from '../errors.js';
import { workerPath } from '../core/worker-path.js';
import {
  nodeHostView,
  parseSandboxLaunchConfig,
  seccompProgramPath,
  transformLaunch,
  type FileSystemEntry,
  type HostView,
  type PreparedLaunch,
  type SandboxLaunchConfig,
} from '../sandbox/index.js';
import {
  toHelperRequest,
  type FsOperation,
  type FsValue,
  type HelperReadFileValue,
  type HelperResponse,
} from './protocol.js';

/** What to spawn for one sandboxed operation. */
export interface HelperLaunch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** Files to open read-only as descriptors 3, 4, … (bwrap's seccomp program, /dev/null). */
  readonly extraFds: readonly string[];
}

export interface HelperLaunchDeps {
  readonly host?: HostView;
  /** The helper script; default the compiled `workers/fs-helper.js`. */
  readonly helperPath?: string;
  /** The directory sandboxed fs operations run in when the config names no `sandboxPolicyCwd`. */
  readonly defaultCwd?: string;
}

let defaultHost: HostView | undefined;

/**
 * The sandboxed launch of the helper under `sandbox`, or null when the transform applies no sandbox
 * (mode `disabled`, or `auto` with a policy that needs none): the caller then runs the operation
 * directly. Throws `SandboxError` for a bad config or an unmet `require`.
 */
export function prepareHelperLaunch(sandbox: unknown, deps: HelperLaunchDeps = {}): HelperLaunch | null {
  if (sandbox === undefined || sandbox === null) return null;
  const host = deps.host ?? (defaultHost ??= nodeHostView());
  const helper = deps.helperPath ?? workerPath('fs-helper.js');
  const config = parseSandboxLaunchConfig(sandbox);
  const cwd = config.sandboxPolicyCwd ?? deps.defaultCwd ?? process.cwd();
  const prepared = transformLaunch(
    {
      argv: [process.execPath, helper],
      cwd,
      // Minimal and explicit: the helper needs no variables, and never gets the server's.
      env: {},
      sandbox: withHelperReadAccess({ ...config, sandboxPolicyCwd: cwd }, helperReadRoots(helper)),
    },
    host,
  );
  if (prepared.sandboxType === 'none') return null;
  const [file, ...args] = prepared.argv;
  if (file === undefined) throw new InternalError('the sandbox transform returned an empty argv');
  return { file, args, cwd, extraFds: extraDescriptors(prepared) };
}

/** Node itself and the compiled package (the helper imports `dist/src/fs/…`). */
function helperReadRoots(helper: string): string[] {
  const roots = new Set<string>();
  for (const path of [process.execPath, dirname(dirname(helper))]) {
    roots.add(path);
    try {
      roots.add(realpathSync(path));
    } catch {
      // A missing path is skipped by the transform anyway.
    }
  }
  return [...roots];
}

/**
 * Under a policy without full read access the helper could not even load: grant read access to
 * the platform defaults, the Node binary and the package, as the reference grants its helper
 * (`helper_permissions`). Policies that read the whole disk are left exactly as given.
 */
export function withHelperReadAccess(
  config: SandboxLaunchConfig,
  readable: readonly string[],
): SandboxLaunchConfig {
  const policy = config.fileSystemPolicy;
  if (policy.kind !== 'restricted') return config;
  const readsRoot = policy.entries.some(
    (entry) => entry.path.type === 'special' && entry.path.value.kind === 'root' && entry.access !== 'none',
  );
  if (readsRoot) return config;
  const extra: FileSystemEntry[] = [
    { path: { type: 'special', value: { kind: 'minimal' } }, access: 'read' },
    ...readable.map((path): FileSystemEntry => ({ path: { type: 'path', path }, access: 'read' })),
  ];
  return { ...config, fileSystemPolicy: { kind: policy.kind, entries: [...policy.entries, ...extra] } };
}

/** The files for descriptors 3, 4, … that the wrapped launch reads (gaps filled with /dev/null). */
function extraDescriptors(prepared: PreparedLaunch): string[] {
  const byFd = new Map<number, string>();
  if (prepared.seccomp !== null) byFd.set(prepared.seccomp.fd, seccompProgramPath(prepared.seccomp.program));
  for (const { fd, path } of prepared.inheritFds ?? []) byFd.set(fd, path);
  if (byFd.size === 0) return [];
  const paths: string[] = [];
  for (let fd = 3; fd <= Math.max(...byFd.keys()); fd++) paths.push(byFd.get(fd) ?? '/dev/null');
  return paths;
}

/** How much of the helper's stderr is kept for an error message. */
const STDERR_LIMIT = 16 * 1024;

/** Runs `operation` in the helper; resolves with its value or rejects with its coded error. */
export async function runInHelper(launch: HelperLaunch, operation: FsOperation): Promise<FsValue> {
  const response = await exchange(launch, JSON.stringify(toHelperRequest(operation)));
  if (!response.ok) throw errorFromPlain(response.error);
  if (operation.op !== 'readFile') return response.value as FsValue;
  const { dataBase64 } = response.value as HelperReadFileValue;
  return { data: Buffer.from(dataBase64, 'base64') };
}

function exchange(launch: HelperLaunch, request: string): Promise<HelperResponse> {
  const fds: number[] = [];
  let child;
  try {
    for (const path of launch.extraFds) fds.push(openSync(path, 'r'));
    child = spawn(launch.file, launch.args, {
      cwd: launch.cwd,
      env: {},
      stdio: ['pipe', 'pipe', 'pipe', ...fds],
      windowsHide: true,
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  // Piped above, so present; `ChildProcess` types them nullable once the stdio array has extra fds.
  const [stdin, out, err] = [child.stdin!, child.stdout!, child.stderr!];
  const stdout: Buffer[] = [];
  let stderr = '';
  out.on('data', (chunk: Buffer) => stdout.push(chunk));
  err.setEncoding('utf8');
  err.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk.slice(0, STDERR_LIMIT - stderr.length);
  });
  // EPIPE when the helper dies before reading its request: the exit status tells the story.
  stdin.on('error', () => undefined);
  stdin.end(request);
  return new Promise((resolve, reject) => {
    child.once('error', (error) =>
      reject(new FsIoError(`failed to start the fs sandbox helper: ${error.message}`)),
    );
    child.once('close', (code, signal) => {
      const status = signal ?? code;
      if (code === 0) {
        try {
          resolve(JSON.parse(Buffer.concat(stdout).toString('utf8')) as HelperResponse);
          return;
        } catch {
          // Falls through to the error below.
        }
      }
      reject(new FsIoError(`fs sandbox helper failed with status ${String(status)}: ${stderr.trim()}`));
    });
  });
}
