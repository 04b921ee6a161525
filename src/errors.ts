/**
 * Coded errors. Every failure the runtime reports is an `ExecError` with a stable `code` under the
 * `EXEC_ERR_` prefix. Callers and tests match on `code`, never on the class: errors that cross a
 * worker-thread boundary or the wire lose their class but keep their code.
 *
 * `docs/errors.md` lists every code; `src/rpc/error-map.ts` maps codes to JSON-RPC errors.
 */

export const ErrorCodes = {
  /** An option or parameter has the wrong type or value. */
  INVALID_ARGUMENT: 'EXEC_ERR_INVALID_ARGUMENT',
  /** `argv` was empty. */
  EMPTY_ARGV: 'EXEC_ERR_EMPTY_ARGV',
  /** A process with this id already exists in the session (running, or exited and retained). */
  DUPLICATE_PROCESS: 'EXEC_ERR_DUPLICATE_PROCESS',
  /** No process with this id in the session. */
  UNKNOWN_PROCESS: 'EXEC_ERR_UNKNOWN_PROCESS',
  /** The sandbox could not be prepared (bad policy, or `require` with no sandbox on this host). */
  SANDBOX: 'EXEC_ERR_SANDBOX',
  /** The OS refused to start the process (missing program, missing cwd, permissions). */
  SPAWN: 'EXEC_ERR_SPAWN',
  /** The operation needs a terminal and the process has none (resize). */
  NOT_A_TTY: 'EXEC_ERR_NOT_A_TTY',
  /** A process limit was reached. */
  LIMIT: 'EXEC_ERR_LIMIT',
  /** The runtime (or session) is closed and takes no new work. */
  CLOSED: 'EXEC_ERR_CLOSED',
  /** The worker thread that owned the process died. */
  WORKER_DIED: 'EXEC_ERR_WORKER_DIED',
  /** The connection to a remote exec server dropped. */
  TRANSPORT: 'EXEC_ERR_TRANSPORT',
  /** A remote exec server answered with an error (client side). */
  REMOTE: 'EXEC_ERR_REMOTE',
  /** A session could not be resumed (unknown, or attached elsewhere). */
  SESSION: 'EXEC_ERR_SESSION',
  /** The session to resume is attached to another connection (JSON-RPC -32010). */
  SESSION_ATTACHED: 'EXEC_ERR_SESSION_ATTACHED',
  /** The named thing does not exist: a file read handle, or (current protocol shape) a path (-32004). */
  NOT_FOUND: 'EXEC_ERR_NOT_FOUND',
  /** An executor-side HTTP request (`http/request`) failed: connection, timeout, body, policy. */
  HTTP: 'EXEC_ERR_HTTP',
  /** A protocol rule was broken (handshake order, invalid request shape). */
  PROTOCOL: 'EXEC_ERR_PROTOCOL',
  /** A filesystem request was invalid for the path it names. */
  FS_INVALID: 'EXEC_ERR_FS_INVALID',
  /** A filesystem operation failed in the OS. */
  FS_IO: 'EXEC_ERR_FS_IO',
  /** A bug: something that should not happen did. */
  INTERNAL: 'EXEC_ERR_INTERNAL',
  /** The caller's AbortSignal fired: the start was not made, or the wait was given up. */
  ABORTED: 'EXEC_ERR_ABORTED',
  /** The server is draining before it stops: it refuses new processes (start them elsewhere). */
  DRAINING: 'EXEC_ERR_DRAINING',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const knownCodes = new Set<string>(Object.values(ErrorCodes));

export class ExecError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** A plain object that survives structured clone and JSON; see `errorFromPlain`. */
  toPlain(): PlainError {
    return { code: this.code, message: this.message };
  }
}

export interface PlainError {
  readonly code: ErrorCode;
  readonly message: string;
}

export class InvalidArgumentError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.INVALID_ARGUMENT, message, options);
  }
}

export class EmptyArgvError extends ExecError {
  constructor() {
    super(ErrorCodes.EMPTY_ARGV, 'argv must not be empty');
  }
}

export class DuplicateProcessError extends ExecError {
  constructor(processId: string) {
    super(ErrorCodes.DUPLICATE_PROCESS, `process ${processId} already exists`);
  }
}

export class UnknownProcessError extends ExecError {
  constructor(processId: string) {
    super(ErrorCodes.UNKNOWN_PROCESS, `unknown process id ${processId}`);
  }
}

export class SandboxError extends ExecError {
  /** `reason` is the part after the fixed prefix, e.g. "no sandbox is available on this host: …". */
  constructor(reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.SANDBOX, `failed to prepare process sandbox: ${reason}`, options);
  }
}

export class SpawnError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.SPAWN, message, options);
  }
}

export class NotATtyError extends ExecError {
  constructor(processId: string) {
    super(ErrorCodes.NOT_A_TTY, `process ${processId} has no terminal to resize`);
  }
}

export class LimitError extends ExecError {
  constructor(message: string) {
    super(ErrorCodes.LIMIT, message);
  }
}

export class ClosedError extends ExecError {
  constructor(what = 'runtime') {
    super(ErrorCodes.CLOSED, `the ${what} is closed`);
  }
}

export class WorkerDiedError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.WORKER_DIED, message, options);
  }
}

export class TransportError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.TRANSPORT, message, options);
  }
}

/** An error answered by a remote server; `rpcCode` is the JSON-RPC code it sent. */
export class RemoteError extends ExecError {
  readonly rpcCode: number;
  constructor(rpcCode: number, message: string, code: ErrorCode = ErrorCodes.REMOTE) {
    super(code, message);
    this.rpcCode = rpcCode;
  }
}

export class SessionError extends ExecError {
  constructor(message: string) {
    super(ErrorCodes.SESSION, message);
  }
}

export class SessionAttachedError extends ExecError {
  constructor(sessionId: string) {
    super(ErrorCodes.SESSION_ATTACHED, `session ${sessionId} is already attached to another connection`);
  }
}

export class NotFoundError extends ExecError {
  constructor(message: string) {
    super(ErrorCodes.NOT_FOUND, message);
  }
}

export class HttpRequestError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.HTTP, message, options);
  }
}

export class ProtocolError extends ExecError {
  constructor(message: string) {
    super(ErrorCodes.PROTOCOL, message);
  }
}

export class FsInvalidError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.FS_INVALID, message, options);
  }
}

export class FsIoError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.FS_IO, message, options);
  }
}

export class InternalError extends ExecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.INTERNAL, message, options);
  }
}

/** The caller's AbortSignal fired; `cause` is the signal's reason. */
export class AbortedError extends ExecError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(ErrorCodes.ABORTED, `${what} was aborted`, options);
  }
}

/** `process/start` on a server that is draining: nothing was started; another server may take it. */
export class DrainingError extends ExecError {
  constructor() {
    super(
      ErrorCodes.DRAINING,
      'the exec server is draining before it stops and starts no new processes; start it on another server',
    );
  }
}

/** Rebuilds an `ExecError` from its plain form (after a thread or wire crossing). */
export function errorFromPlain(plain: PlainError): ExecError {
  const code = knownCodes.has(plain.code) ? plain.code : ErrorCodes.INTERNAL;
  return new ExecError(code, plain.message);
}

export function isExecError(value: unknown): value is ExecError {
  return value instanceof ExecError;
}

/** The `code` of any error-like value, or undefined. */
export function errorCodeOf(value: unknown): ErrorCode | undefined {
  if (value instanceof ExecError) return value.code;
  if (typeof value === 'object' && value !== null && 'code' in value) {
    const code = value.code;
    if (typeof code === 'string' && knownCodes.has(code)) return code as ErrorCode;
  }
  return undefined;
}
