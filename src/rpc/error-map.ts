/**
 * ExecError code ↔ JSON-RPC error. `toRpcError` is the only place a code becomes a JSON-RPC code;
 * `fromRpcError` is its inverse on the client. The error object carries the ExecError code in
 * `data.code` ([ext]; old clients ignore `data`), so our client recovers it exactly; against other
 * servers it falls back to the JSON-RPC code and the fixed message texts.
 */
import { ErrorCodes, ProtocolError, RemoteError, errorCodeOf, type ErrorCode } from '../errors.js';
import { RpcCodes, type RpcErrorObject } from './envelope.js';
import type { Dialect } from './serde-schema.js';

/** JSON-RPC codes of the current protocol shape beyond the spec's own. */
export const ExtendedRpcCodes = {
  /** Something named does not exist (a path, a file read handle). */
  NOT_FOUND: -32004,
  /** The session to resume is attached to another connection. */
  SESSION_ATTACHED: -32010,
  /** [ext] The server is draining and refuses new processes (ours: no reference code means this). */
  DRAINING: -32011,
} as const;

// The OS text of ENOENT as `osErrorText` words it: the one I/O failure the current shape answers
// with its own code.
const ENOENT_SUFFIX = '(os error 2)';

/** A request named a method the server does not have (-32601). */
export class MethodNotFoundError extends ProtocolError {
  constructor(method: string) {
    super(`exec-server stub does not implement \`${method}\` yet`);
  }
}

const RPC_CODE_OF: Readonly<Record<ErrorCode, number>> = {
  [ErrorCodes.PROTOCOL]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.DUPLICATE_PROCESS]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.UNKNOWN_PROCESS]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.NOT_A_TTY]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.SESSION]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.SESSION_ATTACHED]: ExtendedRpcCodes.SESSION_ATTACHED,
  [ErrorCodes.NOT_FOUND]: ExtendedRpcCodes.NOT_FOUND,
  [ErrorCodes.LIMIT]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.FS_INVALID]: RpcCodes.INVALID_REQUEST,
  [ErrorCodes.INVALID_ARGUMENT]: RpcCodes.INVALID_PARAMS,
  [ErrorCodes.EMPTY_ARGV]: RpcCodes.INVALID_PARAMS,
  [ErrorCodes.SANDBOX]: RpcCodes.INVALID_PARAMS,
  [ErrorCodes.SPAWN]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.CLOSED]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.WORKER_DIED]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.FS_IO]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.HTTP]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.TRANSPORT]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.REMOTE]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.INTERNAL]: RpcCodes.INTERNAL_ERROR,
  // Client side only (an AbortSignal never crosses the wire); mapped for completeness.
  [ErrorCodes.ABORTED]: RpcCodes.INTERNAL_ERROR,
  [ErrorCodes.DRAINING]: ExtendedRpcCodes.DRAINING,
};

/**
 * The one mapping from any thrown value to the JSON-RPC error the server answers with. `dialect` is
 * the shape the request was written in: a request of the current shape gets the reference's -32004
 * for a missing path, a request of the seed's shape keeps the seed's -32603.
 */
export function toRpcError(
  error: unknown,
  dialect: Dialect = 'seed',
): RpcErrorObject & { readonly data: { readonly code: ErrorCode } } {
  if (error instanceof MethodNotFoundError) {
    return { code: RpcCodes.METHOD_NOT_FOUND, message: error.message, data: { code: error.code } };
  }
  const code = errorCodeOf(error) ?? ErrorCodes.INTERNAL;
  const message =
    error instanceof Error ? error.message : typeof error === 'string' ? error : 'internal error';
  const rpcCode =
    dialect === 'current' && code === ErrorCodes.FS_IO && message.endsWith(ENOENT_SUFFIX)
      ? ExtendedRpcCodes.NOT_FOUND
      : RPC_CODE_OF[code];
  return { code: rpcCode, message, data: { code } };
}

const knownCodes = new Set<string>(Object.values(ErrorCodes));

// Fallback for servers that do not send `data.code`: the fixed texts of the protocol.
const MESSAGE_PATTERNS: readonly (readonly [number, RegExp, ErrorCode])[] = [
  [RpcCodes.INVALID_REQUEST, /^unknown process id /, ErrorCodes.UNKNOWN_PROCESS],
  [RpcCodes.INVALID_REQUEST, /^process .* already exists$/, ErrorCodes.DUPLICATE_PROCESS],
  [RpcCodes.INVALID_REQUEST, /^(unknown session id |session .* is already attached)/, ErrorCodes.SESSION],
  [ExtendedRpcCodes.SESSION_ATTACHED, /./, ErrorCodes.SESSION_ATTACHED],
  [ExtendedRpcCodes.DRAINING, /./, ErrorCodes.DRAINING],
  [RpcCodes.INVALID_REQUEST, /has no terminal/, ErrorCodes.NOT_A_TTY],
  [RpcCodes.INVALID_REQUEST, /limit/, ErrorCodes.LIMIT],
  [RpcCodes.INVALID_PARAMS, /^argv must not be empty$/, ErrorCodes.EMPTY_ARGV],
  [RpcCodes.INVALID_PARAMS, /^failed to prepare process sandbox: /, ErrorCodes.SANDBOX],
  [RpcCodes.INTERNAL_ERROR, /^the .* is closed$/, ErrorCodes.CLOSED],
];

/**
 * The client side: a JSON-RPC error becomes a `RemoteError` carrying the ExecError code.
 * `method` helps where the code alone is ambiguous: a -32603 from `process/start` is a spawn failure,
 * a -32603 from `fs/*` an I/O error.
 */
export function fromRpcError(error: RpcErrorObject, method?: string): RemoteError {
  return new RemoteError(error.code, error.message, recoverCode(error, method));
}

function recoverCode(error: RpcErrorObject, method: string | undefined): ErrorCode {
  const data = error.data;
  if (typeof data === 'object' && data !== null && 'code' in data) {
    const code = data.code;
    if (typeof code === 'string' && knownCodes.has(code)) return code as ErrorCode;
  }
  for (const [rpcCode, pattern, code] of MESSAGE_PATTERNS) {
    if (error.code === rpcCode && pattern.test(error.message)) return code;
  }
  if (error.code === ExtendedRpcCodes.NOT_FOUND) {
    // The reference's -32004: a missing path of an fs method is an I/O error as the seed knew it.
    return method?.startsWith('fs/') === true && / \(os error \d+\)$/.test(error.message)
      ? ErrorCodes.FS_IO
      : ErrorCodes.NOT_FOUND;
  }
  if (method === 'http/request' && error.code === RpcCodes.INTERNAL_ERROR) return ErrorCodes.HTTP;
  if (method?.startsWith('fs/') === true) {
    // The handshake errors of fs methods are protocol errors like any other.
    if (error.code === RpcCodes.INVALID_REQUEST && !/^client must /.test(error.message)) {
      return ErrorCodes.FS_INVALID;
    }
    if (error.code === RpcCodes.INTERNAL_ERROR) return ErrorCodes.FS_IO;
  }
  switch (error.code) {
    case RpcCodes.INVALID_REQUEST:
    case RpcCodes.METHOD_NOT_FOUND:
      return ErrorCodes.PROTOCOL;
    case RpcCodes.INVALID_PARAMS:
      return ErrorCodes.INVALID_ARGUMENT;
    case RpcCodes.INTERNAL_ERROR:
      return method === 'process/start' ? ErrorCodes.SPAWN : ErrorCodes.INTERNAL;
    default:
      return ErrorCodes.REMOTE;
  }
}
