/**
 * The main-thread side of the `fs/*` methods: checks the params, fills the defaults, and hands one
 * task to the pool (`run`), which answers with a plain outcome. `ExecRuntime` holds one of these.
 */
import { InvalidArgumentError, errorFromPlain } from '../errors.js';
import type { FsOperation, FsOutcome, FsTask, FsValues } from './protocol.js';
import type {
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
  WriteFileParams,
} from './types.js';

export type FsTaskRunner = (task: FsTask) => Promise<FsOutcome>;

/** The message both the wire schema and the in-process check give for a relative path. */
export function relativePathMessage(field: string, value: unknown): string {
  return `${field} must be an absolute path, got ${JSON.stringify(value)}`;
}

function absolute(params: object, field: string): string {
  const value = (params as Record<string, unknown>)[field];
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new InvalidArgumentError(relativePathMessage(field, value));
  }
  return value;
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
    return this.#call<'readFile'>({ op: 'readFile', path: absolute(params, 'path') }, params.sandbox);
  }

  async writeFile(params: WriteFileParams): Promise<void> {
    const path = absolute(params, 'path');
    if (!(params.data instanceof Uint8Array)) {
      throw new InvalidArgumentError('`data` must be a Uint8Array');
    }
    await this.#call({ op: 'writeFile', path, data: params.data }, params.sandbox);
  }

  async createDirectory(params: CreateDirectoryParams): Promise<void> {
    const operation = {
      op: 'createDirectory',
      path: absolute(params, 'path'),
      recursive: flag(params, 'recursive', true),
    } as const;
    await this.#call(operation, params.sandbox);
  }

  async getMetadata(params: GetMetadataParams): Promise<FileMetadata> {
    return this.#call<'getMetadata'>({ op: 'getMetadata', path: absolute(params, 'path') }, params.sandbox);
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

  async #call<K extends keyof FsValues>(operation: FsOperation, sandbox: unknown): Promise<FsValues[K]> {
    const outcome = await this.#run({ operation, sandbox: sandbox ?? null });
    if (!outcome.ok) throw errorFromPlain(outcome.error);
    return outcome.value as FsValues[K];
  }
}
