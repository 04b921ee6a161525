/**
 * `environment/info` (also sent as `environmentInfo` in the `initialize` answer): what a current
 * client asks of the executor before it decides what to send. Paths are `file://` URIs. Each
 * capability is true only where this server implements the feature behind it.
 */
import { existsSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { basename, isAbsolute } from 'node:path';
import { toFileUri } from '../core/path-uri.js';
import type { EnvironmentCapabilities, EnvironmentInfo } from '../rpc/wire-types.js';
import { serverVersion } from './server-version.js';

export const ENVIRONMENT_CAPABILITIES: EnvironmentCapabilities = Object.freeze({
  // `process/start` takes `networkProxy` and runs the proxy; it is enforced with the Linux sandbox.
  networkProxyLaunch: process.platform === 'linux',
  // No `capabilityRoots/discoverV1` method.
  capabilityDiscoverySandbox: false,
  // No `environmentConfig/read` method.
  environmentConfigRead: false,
  // `http/request` headers resolve `valueEnvVar` from the server's environment.
  httpHeaderEnvVars: true,
  // `fs/open` under a sandbox: the sandboxed helper opens the file, the server reads that inode.
  sandboxedFileStreaming: true,
  // `shellSnapshot` is accepted and ignored.
  shellSnapshotV2: false,
});

/** Rust's `std::env::consts::OS` names. */
function platformOs(): string {
  switch (process.platform) {
    case 'darwin':
      return 'macos';
    case 'win32':
      return 'windows';
    default:
      return process.platform;
  }
}

/** The user's login shell (passwd), else `$SHELL`, else `/bin/sh`. */
function defaultShell(): { name: string; path: string } {
  let path: string | undefined;
  try {
    path = userInfo().shell ?? undefined;
  } catch {
    path = undefined;
  }
  if (path === undefined || path === '' || !existsSync(path)) path = process.env.SHELL;
  if (path === undefined || path === '' || !existsSync(path)) path = '/bin/sh';
  return { name: basename(path), path };
}

function uriOf(path: string | undefined): string | undefined {
  return path !== undefined && path !== '' && isAbsolute(path) ? toFileUri(path) : undefined;
}

/** What this server reports about its environment, now. */
export function environmentInfo(): EnvironmentInfo {
  const tmpdirEnv = process.env.TMPDIR;
  const temporaryDirectories: string[] = [];
  const fromEnv = uriOf(tmpdirEnv);
  if (fromEnv !== undefined) temporaryDirectories.push(fromEnv);
  const info: EnvironmentInfo = {
    shell: defaultShell(),
    executorVersion: serverVersion(),
    cwd: uriOf(process.cwd()) ?? null,
    platformOs: platformOs(),
    temporaryDirectories,
    capabilities: ENVIRONMENT_CAPABILITIES,
  };
  const home = uriOf(homedir());
  const temp = uriOf(tmpdir());
  return {
    ...info,
    ...(home !== undefined ? { userHomeDir: home } : {}),
    ...(temp !== undefined ? { tempDir: temp } : {}),
  };
}
