/**
 * The envelope codec: "JSON-RPC lite" as the reference server speaks it. We never send `jsonrpc` and
 * never require it; unknown members are ignored; the four shapes are tried in a fixed order, like
 * an untagged enum, so `{id, method}` is always a request even if it also carries `result`.
 */

export type RequestId = number | string;

export interface RpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

export type IncomingMessage =
  | { readonly kind: 'request'; readonly id: RequestId; readonly method: string; readonly params: unknown }
  | { readonly kind: 'notification'; readonly method: string; readonly params: unknown }
  | { readonly kind: 'response'; readonly id: RequestId; readonly result: unknown }
  | { readonly kind: 'error'; readonly id: RequestId; readonly error: RpcErrorObject };

export type DecodeResult =
  { readonly ok: true; readonly message: IncomingMessage } | { readonly ok: false; readonly reason: string };

/** The codes of the JSON-RPC spec that this protocol uses. */
export const RpcCodes = {
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

/** The id of an error answering a message that could not be parsed at all. */
export const UNPARSEABLE_ID = -1;

// i64 range, as the reference's RequestId::Integer; beyond the safe range JSON.parse already lost
// precision, so refuse rather than echo a different number.
function isRequestId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isErrorObject(value: unknown): value is RpcErrorObject {
  return (
    isRecord(value) &&
    typeof value.code === 'number' &&
    Number.isSafeInteger(value.code) &&
    typeof value.message === 'string'
  );
}

/** Parses one WebSocket message. Never throws. */
export function decodeMessage(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  if (!isRecord(value)) {
    return { ok: false, reason: 'data did not match any variant of untagged enum JSONRPCMessage' };
  }
  const params = value.params === undefined ? null : value.params;
  if (isRequestId(value.id) && typeof value.method === 'string') {
    return { ok: true, message: { kind: 'request', id: value.id, method: value.method, params } };
  }
  if (typeof value.method === 'string') {
    return { ok: true, message: { kind: 'notification', method: value.method, params } };
  }
  if (isRequestId(value.id) && 'result' in value) {
    return { ok: true, message: { kind: 'response', id: value.id, result: value.result } };
  }
  if (isRequestId(value.id) && isErrorObject(value.error)) {
    const { code, message, data } = value.error;
    const error: RpcErrorObject = data === undefined ? { code, message } : { code, message, data };
    return { ok: true, message: { kind: 'error', id: value.id, error } };
  }
  return { ok: false, reason: 'data did not match any variant of untagged enum JSONRPCMessage' };
}

/** The -32600 message for a message that is not JSON or of none of the shapes. */
export function parseFailureMessage(peer: string, reason: string): string {
  return `failed to parse websocket JSON-RPC message from exec-server websocket ${peer}: ${reason}`;
}

export function encodeRequest(id: RequestId, method: string, params: unknown): string {
  return JSON.stringify({ id, method, params });
}

export function encodeNotification(method: string, params: unknown): string {
  return JSON.stringify({ method, params });
}

export function encodeResult(id: RequestId, result: unknown): string {
  return JSON.stringify({ id, result });
}

export function encodeError(id: RequestId, error: RpcErrorObject): string {
  return JSON.stringify({ id, error });
}

/** Inbound frames may be text or binary; both are UTF-8 JSON. */
export function frameText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
