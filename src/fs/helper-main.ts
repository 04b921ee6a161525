/**
 * The sandboxed helper's logic (`workers/fs-helper.ts` only calls this): read one JSON request from
 * stdin, run it with the same operation code as the unsandboxed path, write one JSON response to
 * stdout. A refusal by the sandbox is an OS error like any other and goes back in the response;
 * only a broken request or an internal failure makes the helper exit non-zero.
 */
import type { Readable, Writable } from 'node:stream';
import { InternalError } from '../errors.js';
import { toFsError } from './os-error.js';
import { MAX_READ_FILE_BYTES, runFsOperation } from './operations.js';
import {
  MAX_BASE64_BYTES,
  fromHelperRequest,
  toBase64,
  type HelperRequest,
  type HelperResponse,
} from './protocol.js';

const OPERATIONS = new Set<string>([
  'readFile',
  'writeFile',
  'createDirectory',
  'getMetadata',
  'readDirectory',
  'remove',
  'copy',
  'canonicalize',
  'walk',
  'identify',
]);

async function readAll(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseRequest(text: string): HelperRequest {
  const request = JSON.parse(text) as { op?: unknown } | null;
  if (
    typeof request !== 'object' ||
    request === null ||
    typeof request.op !== 'string' ||
    !OPERATIONS.has(request.op)
  ) {
    throw new InternalError('fs helper: malformed request');
  }
  return request as HelperRequest;
}

async function respond(request: HelperRequest): Promise<HelperResponse> {
  try {
    const value = await runFsOperation(
      fromHelperRequest(request),
      Math.min(MAX_READ_FILE_BYTES, MAX_BASE64_BYTES),
    );
    if (value !== null && 'data' in value) return { ok: true, value: { dataBase64: toBase64(value.data) } };
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: toFsError(error).toPlain() };
  }
}

/** Resolves with the exit code. */
export async function runFsHelper(input: Readable, output: Writable): Promise<number> {
  let request: HelperRequest;
  try {
    request = parseRequest(await readAll(input));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const response = JSON.stringify(await respond(request));
  await new Promise<void>((resolve, reject) =>
    output.write(response, (error) => (error ? reject(error) : resolve())),
  );
  return 0;
}
