// The public API of execvisor: an explicit list of exports.
export { ExecRuntime, ExecSession } from './runtime/exec-runtime.js';
export type { ExecRuntimeOptions, ResolvedRuntimeOptions } from './core/options.js';
export { RUNTIME_DEFAULTS } from './core/options.js';
export type { Logger } from './core/logger.js';
export { silentLogger, stderrLogger } from './core/logger.js';
export type { RuntimeStats } from './supervisor/supervisor.js';
export type {
  ClosedEvent,
  EnvPolicyOptions,
  ExecBackend,
  ExecProcess,
  ExitedEvent,
  FlowControl,
  OutputChunk,
  OutputEvent,
  OutputStream,
  ProcessEvent,
  ProcessInfo,
  ReadOptions,
  ReadResult,
  SandboxType,
  SignalName,
  StartMetadata,
  StartOptions,
  TerminalSize,
  TerminateOptions,
  WriteOptions,
  WriteStatus,
} from './core/types.js';
export {
  ClosedError,
  DuplicateProcessError,
  EmptyArgvError,
  ErrorCodes,
  ExecError,
  FsInvalidError,
  FsIoError,
  InvalidArgumentError,
  LimitError,
  NotATtyError,
  RemoteError,
  SandboxError,
  SpawnError,
  TransportError,
  UnknownProcessError,
  WorkerDiedError,
  errorCodeOf,
  isExecError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export type {
  CanonicalizeParams,
  CopyParams,
  CreateDirectoryParams,
  DirectoryEntry,
  FileMetadata,
  FileSystemBackend,
  GetMetadataParams,
  ReadDirectoryParams,
  ReadDirectoryResult,
  ReadFileParams,
  ReadFileResult,
  RemoveParams,
  WalkEntry,
  WalkOptions,
  WalkOutcome,
  WalkParams,
  WriteFileParams,
} from './fs/types.js';
