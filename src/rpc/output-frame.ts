/**
 * The `process/output` notification as raw frame bytes, both ways: the bulk of what an exec server
 * sends, nearly all of it one base64 string.
 *
 * V8 keeps a string over about 128 KiB in its large-object space: making one (a base64 text, a
 * frame's text) and collecting it costs several times what the bytes themselves do. So the base64
 * never exists as one string on either side:
 *
 * Encoding: base64 needs no JSON escaping, so the frame is the envelope's head, the base64 text and
 * `"}}`: exactly the bytes `JSON.stringify({method, params})` would give (same member order). The
 * base64 is written into the frame buffer slice by slice (each a multiple of 3 bytes, so the slices'
 * texts join into the text of the whole), and the frame goes to the socket as bytes: no string of
 * the chunk's size, no UTF-8 length scan or encode of it by the WebSocket library.
 *
 * Decoding: a frame that opens with the head of an output notification has its `chunk` cut out
 * before `JSON.parse` sees the rest. `params.chunk` is then the base64 text, made only if something
 * reads it, and `outputChunkBytes(params)` the decoded bytes, read from the frame slice by slice.
 * Anything unexpected (another shape, an escape, a non-ASCII byte, members in an unusual nesting)
 * falls back to `JSON.parse` of the whole text: `params` always holds what `JSON.parse` would give.
 */
import { isAscii } from 'node:buffer';
import { decodeMessage, frameText, type DecodeResult } from './envelope.js';
import { serverNotifications } from './methods.js';

const METHOD = serverNotifications.output.name;

/** What every output notification starts with, in the member order of `{method, params}`. */
const HEAD = `{"method":${JSON.stringify(METHOD)},"params":{`;
const HEAD_BYTES = Buffer.from(HEAD, 'latin1');
const CHUNK_KEY = Buffer.from('"chunk":"', 'latin1');
const TAIL = '"}}';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const PAD = 0x3d;
const DASH = 0x2d;
const UNDERSCORE = 0x5f;
/**
 * Decode in place when the frame's memory is at most this many times the chunk's bytes (a frame of
 * its own); a small frame that shares a socket read's buffer gets a buffer of its own instead, so a
 * retained chunk does not hold a larger buffer alive.
 */
const IN_PLACE_MAX_OVERHEAD = 1.5;
/** Bytes encoded per slice: a multiple of 3, its text (32 KiB) well under V8's large-object size. */
const ENCODE_SLICE_BYTES = 24 * 1024;
/** Base64 characters decoded per slice: a multiple of 4, under V8's large-object size. */
const DECODE_SLICE_CHARS = 64 * 1024;

/** Base64 text length (padded) of `bytes` bytes. */
function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** The frame text up to the opening quote of the chunk (member order of `{method, params}`). */
function outputFrameHead(processId: string, seq: number, stream: string): string {
  return `${HEAD}"processId":${JSON.stringify(processId)},"seq":${seq},"stream":${JSON.stringify(stream)},"chunk":"`;
}

/**
 * The text frame of `{"method":"process/output","params":{processId, seq, stream, chunk}}` with
 * `chunk` the base64 of `data`, as UTF-8 bytes, in a buffer of exactly its size from `allocate`.
 */
export function encodeOutputFrame(
  processId: string,
  seq: number,
  stream: string,
  data: Uint8Array,
  allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): Buffer {
  const head = outputFrameHead(processId, seq, stream);
  const headBytes = Buffer.byteLength(head, 'utf8');
  const frame = allocate(headBytes + base64Length(data.byteLength) + TAIL.length);
  let at = frame.write(head, 0, 'utf8');
  const source = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let from = 0; from < source.length; from += ENCODE_SLICE_BYTES) {
    const text = source.toString('base64', from, Math.min(from + ENCODE_SLICE_BYTES, source.length));
    at += frame.write(text, at, 'latin1');
  }
  frame.write(TAIL, at, 'latin1');
  return frame;
}

/**
 * The frame and range of the chunk behind each `params` that `parseOutputFrame` made; once decoded
 * (in place: see `outputChunkBytes`), the bytes, or the text if decoding it failed half way.
 */
interface ChunkSource {
  readonly frame: Buffer;
  readonly start: number;
  readonly end: number;
  bytes: Buffer | null;
  text: string | null;
}
const chunkSources = new WeakMap<object, ChunkSource>();

/**
 * The parsed value of a frame that is an output notification with a plain `params.chunk` string,
 * as `JSON.parse` of its text would give it; null for any other frame (parse it as usual).
 */
export function parseOutputFrame(frame: Buffer): unknown {
  if (frame.length < HEAD_BYTES.length + CHUNK_KEY.length || !startsWith(frame, HEAD_BYTES)) return null;
  const key = frame.indexOf(CHUNK_KEY, HEAD_BYTES.length);
  if (key < 0) return null;
  const start = key + CHUNK_KEY.length;
  const end = frame.indexOf(QUOTE, start);
  if (end < 0) return null;
  const body = frame.subarray(start, end);
  if (body.indexOf(BACKSLASH) >= 0 || !isAscii(body)) return null;
  // A repeated key: JSON.parse keeps the last one; leave that to it.
  if (frame.indexOf(CHUNK_KEY, end) >= 0) return null;
  // The rest, with the chunk emptied: small, and parsed by the real parser.
  let value: unknown;
  try {
    value = JSON.parse(frame.toString('utf8', 0, start) + frame.toString('utf8', end));
  } catch {
    return null;
  }
  if (!isPlainOutput(value)) return null;
  const params = value.params;
  const source: ChunkSource = { frame, start, end, bytes: null, text: null };
  Object.defineProperty(params, 'chunk', {
    enumerable: true,
    configurable: true,
    get: () => (source.text ??= source.bytes?.toString('base64') ?? frame.toString('latin1', start, end)),
    set: (replacement: unknown) => {
      chunkSources.delete(params);
      Object.defineProperty(params, 'chunk', { value: replacement, enumerable: true, writable: true });
    },
  });
  chunkSources.set(params, source);
  return value;
}

/**
 * The decoded bytes of `params.chunk` for params that `decodeFrame` made from an output frame
 * (without making its base64 string); null for any other params, or a chunk that is not canonical
 * standard base64 (decode `params.chunk` as usual then: it still gives the text).
 *
 * A frame that is mostly its chunk is decoded in place: each slice of text is copied out before
 * its bytes are written over text already read (bytes are 3/4 of the text, so writing never
 * overtakes reading), and the chunk is a view of the frame, with no second buffer of its size to
 * allocate and collect. The frame is of no other use once parsed.
 */
export function outputChunkBytes(params: unknown): Buffer | null {
  if (typeof params !== 'object' || params === null) return null;
  const source = chunkSources.get(params);
  if (source === undefined || source.text !== null) return source?.bytes ?? null;
  if (source.bytes !== null) return source.bytes;
  const { frame, start, end } = source;
  const length = end - start;
  if (length % 4 !== 0) return null;
  let padding = 0;
  if (length > 0 && frame[end - 1] === PAD) padding = frame[end - 2] === PAD ? 2 : 1;
  // Padding only as the last one or two characters; the URL-safe alphabet (which Node's decoder
  // also takes) is not canonical: left to the usual decoder.
  if (firstIndex(frame, PAD, start, end) < end - padding) return null;
  if (firstIndex(frame, DASH, start, end) < end || firstIndex(frame, UNDERSCORE, start, end) < end)
    return null;
  const size = (length / 4) * 3 - padding;
  const inPlace = frame.buffer.byteLength <= size * IN_PLACE_MAX_OVERHEAD;
  const bytes = inPlace ? frame.subarray(start, start + size) : Buffer.allocUnsafe(size);
  let written = 0;
  for (let from = start; from < end; from += DECODE_SLICE_CHARS) {
    const text = frame.toString('latin1', from, Math.min(from + DECODE_SLICE_CHARS, end));
    const count = bytes.write(text, written, 'base64');
    if (count !== (text.length / 4) * 3 - (from + text.length === end ? padding : 0)) {
      // A character outside the alphabet (the decoder skips it). What was decoded in place was
      // canonical text: its base64 gives that text back, and the rest was not yet overwritten.
      if (inPlace) {
        source.text =
          bytes.toString('base64', 0, written) + text + frame.toString('latin1', from + text.length, end);
      }
      return null;
    }
    written += count;
  }
  source.bytes = bytes;
  return bytes;
}

/** The index of `byte` in `frame[from, end)`, or `end`. */
function firstIndex(frame: Buffer, byte: number, from: number, end: number): number {
  const found = frame.indexOf(byte, from);
  return found < 0 || found > end ? end : found;
}

/**
 * About how many bytes an output notification's chunk holds (its base64 length × 3/4), without
 * making the base64 string of one that `decodeFrame` parsed; 0 when there is no chunk.
 */
export function outputChunkSize(params: unknown): number {
  if (typeof params !== 'object' || params === null) return 0;
  const source = chunkSources.get(params);
  if (source !== undefined) return source.bytes?.length ?? Math.floor(((source.end - source.start) * 3) / 4);
  const chunk = (params as { chunk?: unknown }).chunk;
  return typeof chunk === 'string' ? Math.floor((chunk.length * 3) / 4) : 0;
}

/**
 * One inbound frame or line as a message: an output notification through `parseOutputFrame`,
 * anything else through `decodeMessage` (the same result, only faster for output).
 */
export function decodeFrame(frame: string | Buffer): DecodeResult {
  if (typeof frame === 'string') return decodeMessage(frame);
  const output = parseOutputFrame(frame);
  if (output !== null) {
    const { method, params } = output as OutputShape;
    if (typeof method === 'string' && !('id' in (output as object))) {
      return { ok: true, message: { kind: 'notification', method, params } };
    }
  }
  return decodeMessage(frameText(frame));
}

type OutputShape = { method: string; params: Record<string, unknown> };

/**
 * The emptied key was `params.chunk` itself only if params holds no structure it could have been
 * nested in (output params are flat) and its chunk came back empty.
 */
function isPlainOutput(value: unknown): value is OutputShape {
  if (typeof value !== 'object' || value === null) return false;
  const params = (value as { params?: unknown }).params;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return false;
  const record = params as Record<string, unknown>;
  if (record.chunk !== '') return false;
  for (const member of Object.values(record)) {
    if (typeof member === 'object' && member !== null) return false;
  }
  return true;
}

function startsWith(frame: Buffer, prefix: Buffer): boolean {
  return frame.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
