// The public API of execvisor: an explicit list of exports.
export { ExecRuntime, ExecSession } from './runtime/exec-runtime.js';
export type { ExecRuntimeOptions, ResolvedRuntimeOptions } from './core/options.js';
export { RUNTIME_DEFAULTS } from './core/options.js';
export { DEFAULT_MAX_BUFFER } from './core/exec.js';
export type { ExecOptions, ExecResult, ExecResultOf } from './core/exec.js';
export { DEFAULT_TERMINATE_GRACE_MS, timedOut } from './core/start-limits.js';
export { OutputDecoder } from './core/output-decoder.js';
export type { LogFields, Logger, LogLevel } from './core/logger.js';
export { silentLogger, stderrLogger } from './core/logger.js';
export type { RuntimeStats } from './supervisor/supervisor.js';
export type {
  ClosedEvent,
  EnvPolicyOptions,
  ExecBackend,
  ExecProcess,
  ExitedEvent,
  FlowControl,
  NetworkDecisionReason,
  NetworkEvent,
  NetworkPolicyDecision,
  NetworkProtocol,
  OutputChunk,
  OutputEvent,
  OutputStream,
  PosixSignal,
  ProcessActivity,
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
export type {
  FileSystemPathOption,
  FileSystemPolicyOption,
  NetworkPolicyOption,
  ReadOnlyAccessOption,
  SandboxModeOption,
  SandboxOptions,
  SandboxPolicyOption,
  SpecialPathOption,
} from './core/sandbox-options.js';
export type {
  DomainPermissionOption,
  ManagedNetworkOption,
  NameResolution,
  NetworkPolicySettingsOption,
  NetworkProxyOption,
  NetworkProxyRuntimeOptions,
  NetworkProxySettingsOption,
} from './core/network-options.js';
export { managedNetworkProxy } from './core/network-options.js';
export { startServer, SERVER_DEFAULTS } from './server/index.js';
export type { ExecServer, ServerOptions, ServerRuntime, RuntimeSession } from './server/index.js';
export { NETWORK_PROXY_DEFAULTS } from './network/proxy.js';
// The wire client and the pool: the same list as `execvisor/client`.
export * from './client/index.js';
export type { ServerCapabilities } from './rpc/wire-types.js';
export {
  AbortedError,
  ClosedError,
  DrainingError,
  DuplicateProcessError,
  EmptyArgvError,
  ErrorCodes,
  ExecError,
  FsInvalidError,
  FsIoError,
  HttpRequestError,
  InternalError,
  InvalidArgumentError,
  LimitError,
  NotATtyError,
  NotFoundError,
  ProtocolError,
  RemoteError,
  SandboxError,
  SessionAttachedError,
  SessionError,
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
