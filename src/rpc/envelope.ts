/**
 * The envelope codec: "JSON-RPC lite" as the reference server speaks it. We never send `jsonrpc` and
 * never require it; unknown members are ignored; the four shapes are tried in a fixed order, like
 * an untagged enum, so `{id, method}` is always a request even if it also carries `result`.
 */

/**
 * A request id: a string, or an integer (the reference's `RequestId::Integer` is an i64). Integers
 * beyond 2^53 do not survive `JSON.parse`, so they are kept as `bigint`, read from the raw text,
 * and written back digit for digit.
 */
export type RequestId = number | string | bigint;

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

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** The reference's wording when an `id` member is neither an integer nor a string. */
export const BAD_REQUEST_ID = 'data did not match any variant of untagged enum RequestId';
const NOT_AN_OBJECT = 'expected a JSON-RPC object';
const NO_VARIANT = 'data did not match any variant of untagged enum JSONRPCMessage';

type IdCheck = { readonly id: RequestId } | { readonly error: string };

/**
 * The `id` member of a parsed message. A float, a boolean, null or a structure is refused with the
 * reference's text (the message is answered with id -1, the connection stays open); an integer
 * outside the safe range is re-read from `text` so that it is echoed exactly.
 */
function checkId(value: unknown, text: string): IdCheck {
  if (typeof value === 'string') return { id: value };
  if (typeof value !== 'number' || !Number.isInteger(value)) return { error: BAD_REQUEST_ID };
  if (Number.isSafeInteger(value)) return { id: value };
  const literal = topLevelMemberText(text, 'id');
  if (literal === null || !/^-?\d+$/.test(literal)) return { error: BAD_REQUEST_ID };
  const big = BigInt(literal);
  if (big < I64_MIN || big > I64_MAX) {
    return { error: `invalid type: integer \`${literal}\` as u128, expected any value` };
  }
  return { id: big };
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

/** Parses one message (one WebSocket frame or one stdio line). Never throws. */
export function decodeMessage(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  if (!isRecord(value)) return { ok: false, reason: Array.isArray(value) ? NOT_AN_OBJECT : NO_VARIANT };
  const params = value.params === undefined ? null : value.params;
  let id: RequestId | undefined;
  if ('id' in value) {
    const checked = checkId(value.id, text);
    if ('error' in checked) return { ok: false, reason: checked.error };
    id = checked.id;
  }
  if (id !== undefined && typeof value.method === 'string') {
    return { ok: true, message: { kind: 'request', id, method: value.method, params } };
  }
  if (typeof value.method === 'string') {
    return { ok: true, message: { kind: 'notification', method: value.method, params } };
  }
  if (id !== undefined && 'result' in value) {
    return { ok: true, message: { kind: 'response', id, result: value.result } };
  }
  if (id !== undefined && isErrorObject(value.error)) {
    const { code, message, data } = value.error;
    const error: RpcErrorObject = data === undefined ? { code, message } : { code, message, data };
    return { ok: true, message: { kind: 'error', id, error } };
  }
  return { ok: false, reason: NO_VARIANT };
}

/**
 * The raw text of a top-level member's value (`"id": 123` → `123`), or null. A small scanner:
 * only called for integer ids JSON.parse could not hold exactly, on text that already parsed.
 */
export function topLevelMemberText(text: string, name: string): string | null {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return null;
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] !== '}') {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // ':'
    const valueEnd = skipValue(text, i);
    if (key === name) return text.slice(i, valueEnd).trim();
    i = skipSpace(text, valueEnd);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return null;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r'))
    i++;
  return i;
}

/** `i` is at an opening quote; returns the index after the closing one. */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

function skipValue(text: string, i: number): number {
  if (text[i] === '"') return skipString(text, i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = skipString(text, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return text.length;
  }
  let j = i;
  while (j < text.length && text[j] !== ',' && text[j] !== '}') j++;
  return j;
}

/** The -32600 message for a message that is not JSON or of none of the shapes (WebSocket). */
export function parseFailureMessage(peer: string, reason: string): string {
  return `failed to parse websocket JSON-RPC message from exec-server websocket ${peer}: ${reason}`;
}

/** The same for a message read on stdio. */
export function stdioParseFailureMessage(reason: string): string {
  return `failed to parse JSON-RPC message from exec-server stdio: ${reason}`;
}

/** `JSON.stringify` of an id; a bigint id is written as its digits. */
function idText(id: RequestId): string {
  return typeof id === 'bigint' ? id.toString() : JSON.stringify(id);
}

export function encodeRequest(id: RequestId, method: string, params: unknown): string {
  return `{"id":${idText(id)},"method":${JSON.stringify(method)},"params":${JSON.stringify(params) ?? 'null'}}`;
}

export function encodeNotification(method: string, params: unknown): string {
  return JSON.stringify({ method, params });
}

export function encodeResult(id: RequestId, result: unknown): string {
  return `{"id":${idText(id)},"result":${JSON.stringify(result) ?? 'null'}}`;
}

export function encodeError(id: RequestId, error: RpcErrorObject): string {
  return `{"id":${idText(id)},"error":${JSON.stringify(error)}}`;
}

/** Inbound frames may be text or binary; both are UTF-8 JSON. */
export function frameText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
