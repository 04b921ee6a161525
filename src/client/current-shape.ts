/**
 * The client speaking the current upstream shape (a server that answers `initialize` with
 * `environmentInfo` and none of our extensions, such as the Rust `codex exec-server`): requests are
 * rewritten on their way out (paths as `file://` URIs, a `writeId` on every write, `interrupt` for
 * SIGINT) and answers on their way back (camelCase `sandboxType` to ours, URIs to native paths,
 * `firstRetainedSeq` where the server has none), so the process handles and callers see one shape.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { SandboxType } from '../core/types.js';
import { toFileUri } from '../core/path-uri.js';
import type { ShapeAdapter } from './rpc-peer.js';

const PATH_MEMBERS = ['path', 'cwd', 'sourcePath', 'destinationPath'] as const;

const KEBAB_SANDBOX_TYPES: Readonly<Record<string, SandboxType>> = {
  none: 'none',
  macosSeatbelt: 'macos-seatbelt',
  linuxSeccomp: 'linux-seccomp',
  windowsRestrictedToken: 'windows-restricted-token',
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nativeOf(path: unknown): unknown {
  if (typeof path !== 'string' || !path.startsWith('file:')) return path;
  try {
    return fileURLToPath(path);
  } catch {
    return path;
  }
}

export const currentShapeAdapter: ShapeAdapter = {
  request(method, params) {
    if (!isObject(params)) return params;
    const out: Json = { ...params };
    for (const member of PATH_MEMBERS) {
      const value = out[member];
      if (typeof value === 'string' && value.startsWith('/')) out[member] = toFileUri(value);
    }
    if (method === 'process/write' && typeof out.writeId !== 'string') out.writeId = randomUUID();
    if (method === 'process/signal' && out.signal === 'SIGINT') out.signal = 'interrupt';
    return out;
  },

  response(method, params, result) {
    if (!isObject(result)) return result;
    switch (method) {
      case 'process/start': {
        const type = result.sandboxType;
        return typeof type === 'string' && type in KEBAB_SANDBOX_TYPES
          ? { ...result, sandboxType: KEBAB_SANDBOX_TYPES[type] }
          : result;
      }
      case 'process/read': {
        if (typeof result.firstRetainedSeq === 'number') return result;
        // The server keeps no account of eviction: claim none.
        const after = isObject(params) && typeof params.afterSeq === 'number' ? params.afterSeq : 0;
        return { ...result, firstRetainedSeq: after + 1 };
      }
      case 'fs/getMetadata':
        return { isSymlink: false, size: 0, ...result };
      case 'fs/canonicalize':
        return { ...result, path: nativeOf(result.path) };
      case 'fs/walk': {
        const entries = Array.isArray(result.entries) ? result.entries : [];
        const errors = Array.isArray(result.errors) ? result.errors : [];
        return {
          ...result,
          entries: entries.map((e: Json) => ({ ...e, path: nativeOf(e.path) })),
          errors: errors.map((e: Json) => ({ ...e, path: nativeOf(e.path) })),
        };
      }
      default:
        return result;
    }
  },
};
