/**
 * Sandboxed filesystem operations: the operation runs in a short-lived helper process
 * (`workers/fs-helper.ts`, run with this Node binary) launched through the same sandbox transform
 * as `process/start`, so the sandbox decides what the operation may touch, not our own path checks.
 * The helper reads one JSON request on stdin and writes one JSON response on stdout.
 *
 * Runs in a pool worker. The reference does the same (`codex-rs/exec-server/src/fs_sandbox.rs`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FsIoError, InternalError, errorFromPlain } from '../errors.js';
import { workerPath } from '../core/worker-path.js';
import {
  parseSandboxLaunchConfig,
  PRIVATE_MOUNT_DIR,
  transformLaunch,
  type FileSystemEntry,
  type HostView,
  type PrivateMount,
  type SandboxLaunchConfig,
  type SandboxTools,
} from '../sandbox/index.js';
import { openExtraStdio } from '../spawn/extra-fds.js';
import { encodeLaunchSpec } from '../spawn/launch-spec.js';
import { descriptors, hostFor } from '../spawn/prepare.js';
import type { ExtraFd } from '../spawn/types.js';
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
  readonly env: Readonly<Record<string, string>>;
  /** Descriptors 3, 4, …: the launcher's spec, /dev/null for bwrap. */
  readonly extraFds: readonly ExtraFd[];
}

export interface HelperLaunchDeps {
  readonly host?: HostView;
  /** The bwrap and launcher the runtime resolved at start. */
  readonly tools?: SandboxTools;
  /** The helper script; default the compiled `workers/fs-helper.js`. */
  readonly helperPath?: string;
  /** The directory sandboxed fs operations run in when the config names no `sandboxPolicyCwd`. */
  readonly defaultCwd?: string;
}

/**
 * How the helper starts inside a Linux sandbox without the policy having to show it anything: Node,
 * the exact shared libraries it loads and our compiled code are bound read-only under the sandbox's
 * private directory, and Node is started through the dynamic loader from there. The operation then
 * sees `/usr`, `/lib`, `/etc`… exactly as a process under the same policy does.
 */
export interface HelperFiles {
  readonly mounts: readonly PrivateMount[];
  /** argv inside the sandbox; argv[0] is the program. */
  readonly argv: readonly string[];
}

/** `LD_TRACE_LOADED_OBJECTS` output → the loader and the libraries, as absolute paths. */
export function parseLoadedObjects(text: string): { loader: string | null; libraries: string[] } {
  let loader: string | null = null;
  const libraries: string[] = [];
  for (const line of text.split('\n')) {
    const mapped = /=>\s+(\/\S+)\s+\(0x/.exec(line);
    if (mapped?.[1] !== undefined) {
      libraries.push(mapped[1]);
      continue;
    }
    const direct = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (direct?.[1] !== undefined) loader = direct[1];
  }
  return { loader, libraries };
}

let helperFilesCache: { helper: string; files: HelperFiles } | undefined;

function helperFiles(helper: string, node: string = process.execPath): HelperFiles {
  if (helperFilesCache?.helper === helper) return helperFilesCache.files;
  const dist = dirname(dirname(helper));
  const root = dirname(dist);
  const inside = (name: string) => `${PRIVATE_MOUNT_DIR}/${name}`;
  const mounts: PrivateMount[] = [
    { source: realpathSync(node), name: 'node' },
    { source: realpathSync(dist), name: 'pkg/dist' },
    // The nearest package.json says the compiled code is ES modules.
    { source: realpathSync(join(root, 'package.json')), name: 'pkg/package.json' },
  ];
  const script = inside(`pkg/dist/${helper.slice(dist.length + 1)}`);
  // The loader lists what it would load and exits without running Node.
  const traced = spawnSync(node, [], {
    env: { LD_TRACE_LOADED_OBJECTS: '1' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  const { loader, libraries } = parseLoadedObjects(typeof traced.stdout === 'string' ? traced.stdout : '');
  let files: HelperFiles;
  if (loader === null) {
    // A static Node needs nothing else.
    files = { mounts, argv: [inside('node'), script] };
  } else {
    for (const path of [loader, ...libraries]) {
      mounts.push({ source: realpathSync(path), name: `lib/${basename(path)}` });
    }
    files = {
      mounts,
      argv: [inside(`lib/${basename(loader)}`), '--library-path', inside('lib'), inside('node'), script],
    };
  }
  helperFilesCache = { helper, files };
  return files;
}

/**
 * The sandboxed launch of the helper under `sandbox`, or null when the transform applies no sandbox
 * (mode `disabled`, or `auto` with a policy that needs none): the caller then runs the operation
 * directly. Throws `SandboxError` for a bad config or an unmet `require`.
 */
export function prepareHelperLaunch(sandbox: unknown, deps: HelperLaunchDeps = {}): HelperLaunch | null {
  if (sandbox === undefined || sandbox === null) return null;
  const host = deps.host ?? hostFor(deps.tools);
  const helper = deps.helperPath ?? workerPath('fs-helper.js');
  const parsed = parseSandboxLaunchConfig(sandbox);
  const cwd = parsed.sandboxPolicyCwd ?? deps.defaultCwd ?? process.cwd();
  const config = { ...parsed, sandboxPolicyCwd: cwd };
  const linux = host.platform === 'linux';
  const files = linux ? helperFiles(helper) : null;
  const prepared = transformLaunch(
    {
      argv: files?.argv ?? [process.execPath, helper],
      cwd,
      // Minimal and explicit: the helper needs no variables, and never gets the server's.
      env: {},
      // On Linux the helper's files come through private mounts; Seatbelt has no such thing, so
      // there the policy is widened to read them.
      sandbox: linux ? config : withHelperReadAccess(config, helperReadRoots(helper)),
      privateMounts: files?.mounts ?? [],
    },
    host,
  );
  if (prepared.sandboxType === 'none') return null;
  const [file, ...args] = prepared.argv;
  if (file === undefined) throw new InternalError('the sandbox transform returned an empty argv');
  const inner = prepared.inner;
  const spec: ExtraFd | null =
    inner === null
      ? null
      : {
          kind: 'data',
          data: encodeLaunchSpec({
            program: inner.program,
            argv: inner.argv,
            env: inner.env,
            seccomp: inner.seccomp,
          }),
        };
  return { file, args, cwd, env: prepared.env, extraFds: descriptors(spec, prepared.inheritFds ?? []) };
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
 * Seatbelt only: under a policy without full read access the helper could not even load, so grant
 * read access to the platform defaults, the Node binary and the package, as the reference grants
 * its helper (`helper_permissions`). Policies that read the whole disk are left exactly as given.
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
  const extra = openExtraStdio(launch.extraFds);
  let child;
  try {
    child = spawn(launch.file, launch.args, {
      cwd: launch.cwd,
      env: { ...launch.env },
      stdio: ['pipe', 'pipe', 'pipe', ...extra.stdio],
      windowsHide: true,
    });
  } finally {
    extra.close();
  }
  extra.feed(child);
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
