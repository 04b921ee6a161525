/**
 * The executables a sandboxed launch runs outside the sandbox (bwrap) or as its first program (our
 * launcher), resolved once when the runtime starts, never from anything a request carries (its cwd,
 * env, PATH or writable roots): a workspace must not be able to supply its own "bwrap".
 */
import { accessSync, constants, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../errors.js';
import type { ResolvedTool } from './types.js';

/** Where bwrap is looked for when no path is given, in order. */
export const BWRAP_LOCATIONS: readonly string[] = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'];

export interface SandboxTools {
  readonly bwrap: ResolvedTool;
  readonly launcher: ResolvedTool;
}

export type BwrapSource = 'option' | 'env' | 'default';

export interface BwrapChoice {
  /** The explicit path (`bwrapPath` option, `--bwrap`), if any. */
  readonly explicit?: string | undefined;
  /** `EXECVISOR_BWRAP` of the server's environment, if set. */
  readonly env?: string | undefined;
  readonly platform?: NodeJS.Platform;
  readonly candidates?: readonly string[];
}

/** Why `path` is not an executable regular file, or null when it is one. */
export function notExecutable(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return 'not a regular file';
    accessSync(path, constants.X_OK);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not executable' : String(error);
  }
}

/**
 * The trusted bwrap: the explicit path, else `EXECVISOR_BWRAP`, else the first executable of the
 * fixed locations. An explicit path that is not an absolute executable file throws (a startup
 * error, never a silent fallback to another bwrap or to no sandbox).
 */
export function resolveBwrap(choice: BwrapChoice = {}): ResolvedTool & { readonly source?: BwrapSource } {
  const platform = choice.platform ?? process.platform;
  const explicit: [string, BwrapSource, string] | null =
    choice.explicit !== undefined
      ? [choice.explicit, 'option', 'bwrapPath']
      : choice.env !== undefined && choice.env !== ''
        ? [choice.env, 'env', 'EXECVISOR_BWRAP']
        : null;
  if (explicit !== null) {
    const [path, source, name] = explicit;
    if (!path.startsWith('/')) {
      throw new InvalidArgumentError(`${name} must be an absolute path, got ${JSON.stringify(path)}`);
    }
    const why = notExecutable(path);
    if (why !== null) {
      throw new InvalidArgumentError(`${name} ${JSON.stringify(path)} is not an executable file (${why})`);
    }
    return { path, source };
  }
  if (platform !== 'linux') return { error: `bwrap is not used on ${platform}` };
  const candidates = choice.candidates ?? BWRAP_LOCATIONS;
  for (const candidate of candidates) {
    if (notExecutable(candidate) === null) return { path: candidate, source: 'default' };
  }
  return {
    error: `bwrap not found (looked in ${candidates.join(', ')}; install bubblewrap or pass --bwrap)`,
  };
}

/** Where `npm ci` builds the launcher (node-gyp, binding.gyp at the package root). */
export function launcherBuildPath(): string {
  const here = import.meta.url;
  // src/sandbox/tools.ts (tests) or dist/src/sandbox/tools.js (built): the package root above.
  const relative = here.endsWith('.ts')
    ? '../../build/Release/execvisor-launcher'
    : '../../../build/Release/execvisor-launcher';
  return fileURLToPath(new URL(relative, here));
}

export function resolveLauncher(path: string = launcherBuildPath()): ResolvedTool {
  const why = notExecutable(path);
  return why === null
    ? { path }
    : { error: `execvisor-launcher is not built (${path}: ${why}; run npm ci or npm rebuild)` };
}

export function resolveSandboxTools(choice: BwrapChoice = {}): SandboxTools & { bwrapSource?: BwrapSource } {
  const { source, ...bwrap } = resolveBwrap(choice);
  return { bwrap, launcher: resolveLauncher(), ...(source !== undefined ? { bwrapSource: source } : {}) };
}
