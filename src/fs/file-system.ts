/**
 * The main-thread side of the `fs/*` methods: checks the params, fills the defaults, and hands one
 * task to the pool (`run`), which answers with a plain outcome. `ExecRuntime` holds one of these.
 */
import { InvalidArgumentError, errorFromPlain } from '../errors.js';
import { parseWirePath } from '../core/path-uri.js';
import type { FileIdentity, FsOperation, FsOutcome, FsTask, FsValues } from './protocol.js';
import type {
  CanonicalizeParams,
  CopyParams,
  CreateDirectoryParams,
  FileMetadata,
  FileSystemBackend,
  GetMetadataParams,
  ReadDirectoryParams,
  ReadDirectoryResult,
  ReadFileParams,
  ReadFileResult,
  RemoveParams,
  WalkOutcome,
  WalkParams,
  WriteFileParams,
} from './types.js';

export type FsTaskRunner = (task: FsTask) => Promise<FsOutcome>;

/** The message both the wire schema and the in-process check give for a relative path. */
export function relativePathMessage(field: string, value: unknown): string {
  return `${field} must be an absolute path, got ${JSON.stringify(value)}`;
}

/** A path member: absolute, native or a `file://` URI (decoded to the native path). */
function absolute(params: object, field: string): string {
  const value = (params as Record<string, unknown>)[field];
  if (typeof value !== 'string') throw new InvalidArgumentError(relativePathMessage(field, value));
  const parsed = parseWirePath(value, (text) => relativePathMessage(field, text));
  if (!parsed.ok) throw new InvalidArgumentError(parsed.why);
  return parsed.path.native;
}

function flag(params: object, field: string, fallback: boolean | null): boolean {
  const value = (params as Record<string, unknown>)[field];
  if (typeof value === 'boolean') return value;
  if ((value === undefined || value === null) && fallback !== null) return fallback;
  throw new InvalidArgumentError(
    `\`${field}\` must be a boolean, got ${JSON.stringify(value) ?? 'undefined'}`,
  );
}

export class FileSystemRunner implements FileSystemBackend {
  readonly #run: FsTaskRunner;

  constructor(run: FsTaskRunner) {
    this.#run = run;
  }

  async readFile(params: ReadFileParams): Promise<ReadFileResult> {
    const operation = {
      op: 'readFile',
      path: absolute(params, 'path'),
      followSymlinks: flag(params, 'followSymlinks', true),
    } as const;
    return this.#call<'readFile'>(operation, params.sandbox);
  }

  async writeFile(params: WriteFileParams): Promise<void> {
    const path = absolute(params, 'path');
    if (!(params.data instanceof Uint8Array)) {
      throw new InvalidArgumentError('`data` must be a Uint8Array');
    }
    const followSymlinks = flag(params, 'followSymlinks', true);
    await this.#call({ op: 'writeFile', path, data: params.data, followSymlinks }, params.sandbox);
  }

  async createDirectory(params: CreateDirectoryParams): Promise<void> {
    const operation = {
      op: 'createDirectory',
      path: absolute(params, 'path'),
      recursive: flag(params, 'recursive', true),
      followSymlinks: flag(params, 'followSymlinks', true),
    } as const;
    await this.#call(operation, params.sandbox);
  }

  async getMetadata(params: GetMetadataParams): Promise<FileMetadata> {
    const operation = {
      op: 'getMetadata',
      path: absolute(params, 'path'),
      followSymlinks: flag(params, 'followSymlinks', true),
    } as const;
    return this.#call<'getMetadata'>(operation, params.sandbox);
  }

  async readDirectory(params: ReadDirectoryParams): Promise<ReadDirectoryResult> {
    return this.#call<'readDirectory'>(
      { op: 'readDirectory', path: absolute(params, 'path') },
      params.sandbox,
    );
  }

  async remove(params: RemoveParams): Promise<void> {
    const operation = {
      op: 'remove',
      path: absolute(params, 'path'),
      recursive: flag(params, 'recursive', true),
      force: flag(params, 'force', true),
      followSymlinks: flag(params, 'followSymlinks', true),
    } as const;
    await this.#call(operation, params.sandbox);
  }

  async copy(params: CopyParams): Promise<void> {
    const operation = {
      op: 'copy',
      sourcePath: absolute(params, 'sourcePath'),
      destinationPath: absolute(params, 'destinationPath'),
      recursive: flag(params, 'recursive', null),
    } as const;
    await this.#call(operation, params.sandbox);
  }

  async canonicalize(params: CanonicalizeParams): Promise<string> {
    const operation = { op: 'canonicalize', path: absolute(params, 'path') } as const;
    return (await this.#call<'canonicalize'>(operation, params.sandbox)).path;
  }

  async walk(params: WalkParams): Promise<WalkOutcome> {
    const options = params.options as WalkParams['options'] | undefined;
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(
        '`options` must be {maxDepth, maxDirectories, maxEntries, followDirectorySymlinks}',
      );
    }
    const bound = (name: 'maxDepth' | 'maxDirectories' | 'maxEntries') => {
      const value = options[name];
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new InvalidArgumentError(
          `\`options.${name}\` must be a non-negative integer, got ${JSON.stringify(value)}`,
        );
      }
      return value;
    };
    const operation = {
      op: 'walk',
      path: absolute(params, 'path'),
      options: {
        maxDepth: bound('maxDepth'),
        maxDirectories: bound('maxDirectories'),
        maxEntries: bound('maxEntries'),
        followDirectorySymlinks: flag(options, 'followDirectorySymlinks', false),
      },
    } as const;
    return this.#call<'walk'>(operation, params.sandbox);
  }

  /** Opens `path` under `sandbox` in the sandboxed helper and names the inode it found. */
  async identify(path: string, sandbox: unknown): Promise<FileIdentity> {
    return this.#call<'identify'>({ op: 'identify', path }, sandbox);
  }

  async #call<K extends keyof FsValues>(operation: FsOperation, sandbox: unknown): Promise<FsValues[K]> {
    const outcome = await this.#run({ operation, sandbox: sandbox ?? null });
    if (!outcome.ok) throw errorFromPlain(outcome.error);
    return outcome.value as FsValues[K];
  }
}
