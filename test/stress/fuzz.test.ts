/**
 * Hostile input: a fast-check generator sends 10,000 malformed or adversarial messages over raw
 * WebSockets to a live `execvisor serve` (wrong types, huge numbers, deep nesting, bad base64,
 * unknown ids, interleaved handshakes, binary frames, oversize strings and frames). The server
 * stays up, answers every request that has a usable id with a well-formed result or error (never
 * an internal crash), closes only connections that broke the protocol, and a well-behaved client
 * running processes meanwhile gets every byte of its output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecServerClient } from '../../src/client/index.js';
import { topLevelMemberText } from '../../src/rpc/envelope.js';
import { RawClient, type Json } from '../helpers/raw-ws.js';
import { isRunning, spawnServe, stopAll, type ServeProcess } from '../helpers/serve.js';
import {
  StreamVerifier,
  createSliceSource,
  sliceArgv,
  sliceFor,
  type SliceSource,
} from '../helpers/slices.js';

const CASES = 10_000;
const SEED = 0x5eed_2024;
const MAX_MESSAGE_BYTES = 1 << 20;

let server: ServeProcess;
let source: SliceSource;
let fsRoot: string;
beforeAll(async () => {
  source = createSliceSource(4242, 1 << 20);
  // Every path a fuzzed fs/* request names lives under here (or is not absolute at all).
  fsRoot = mkdtempSync(join(tmpdir(), 'execvisor-fuzz-'));
  server = await spawnServe(['--max-message-bytes', String(MAX_MESSAGE_BYTES), '--log-level', 'error']);
});
afterAll(async () => {
  await stopAll();
  source?.remove();
  if (fsRoot !== undefined) rmSync(fsRoot, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The generator. Values are plain JSON plus placeholders that become raw JSON text the serializer
// cannot produce: huge or odd numbers, and very deep nesting.

const NUMBER_TEXTS = [
  '1e400',
  '-1e400',
  '1e308',
  '9007199254740993',
  '18446744073709551616',
  '-0',
  '1.5',
  '-1',
  '4294967296',
  '2147483648',
  '0.0000001',
  '123456789012345678901234567890',
];
const hugeNumber = fc.constantFrom(...NUMBER_TEXTS).map((text) => `@@RAW:${text}@@`);
const deep = fc
  .tuple(fc.constantFrom(100, 1_000, 10_000, 50_000), fc.boolean())
  .map(([depth, arrays]) => `@@DEEP:${arrays ? 'a' : 'o'}${depth}@@`);
const oversizeString = fc.constantFrom(64 * 1024, 256 * 1024, 900 * 1024).map((size) => `@@BIG:${size}@@`);
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 20 }),
  hugeNumber,
);
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: scalar },
  { weight: 2, arbitrary: fc.array(scalar, { maxLength: 4 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 4 }) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: oversizeString },
);

const processIds = fc.oneof(
  fc.constantFrom('p1', 'p2', 'p3', '', '__proto__', 'constructor', 'toString', 'x'.repeat(5000)),
  fc.string({ maxLength: 12 }),
);
const base64ish = fc.oneof(
  fc.constantFrom('aGk=', '', 'a===', '====', 'not base64!', 'aGk', '\u0000', 'AAAA'.repeat(1000)),
  fc.base64String({ maxLength: 40 }),
  fc.string({ maxLength: 20 }),
);
const safeArgv = fc.constantFrom(
  ['true'],
  ['/bin/echo', 'fuzz'],
  ['sleep', '0.01'],
  ['/bin/cat'],
  ['/definitely/not/here'],
  [],
  [''],
);
const cwds = fc.constantFrom('/tmp', '/', 'relative', '', '/definitely/not/a/dir');
const fsPaths = fc.oneof(
  fc.constantFrom('relative/path', '', '.', '..'),
  fc.string({ maxLength: 10 }).map((name) => `@@FS:${name}@@`),
);
const sandboxes = fc.oneof(
  fc.constant(null),
  fc.record({ mode: fc.constantFrom('require', 'auto', 'disabled', 'nope'), policy: junk }),
  fc.record({
    mode: fc.constantFrom('require', 'auto'),
    policy: fc.record({
      type: fc.constantFrom('read-only', 'workspace-write', 'danger-full-access', 'nope'),
      writable_roots: fc.oneof(fc.constant([]), junk),
      network_access: fc.oneof(fc.boolean(), junk),
    }),
  }),
  junk,
);

/** Each member: a plausible value most of the time, anything at all otherwise, sometimes absent. */
function member<T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: good },
    { weight: 2, arbitrary: junk },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const paramsByMethod: Record<string, fc.Arbitrary<unknown>> = {
  initialize: fc.record({
    clientName: member(fc.string({ maxLength: 10 })),
    resumeSessionId: member(fc.oneof(fc.constant(null), fc.uuid(), fc.string({ maxLength: 8 }))),
  }),
  'process/start': fc.record({
    processId: member(processIds),
    argv: member(safeArgv),
    cwd: member(cwds),
    env: member(fc.constantFrom({}, { PATH: '/usr/bin:/bin' }, { A: '' })),
    tty: member(fc.boolean()),
    arg0: member(fc.option(fc.string({ maxLength: 8 }))),
    pipeStdin: member(fc.boolean()),
    sandbox: sandboxes,
    size: member(fc.record({ rows: member(fc.nat(500)), cols: member(fc.nat(500)) })),
    flowControl: member(fc.record({ highWaterBytes: member(fc.nat()), lowWaterBytes: member(fc.nat()) })),
  }),
  'process/read': fc.record({
    processId: member(processIds),
    afterSeq: member(fc.oneof(fc.constant(null), fc.nat(), hugeNumber)),
    maxBytes: member(fc.oneof(fc.constant(null), fc.nat(), hugeNumber)),
    // Bounded waits: a fuzzed long poll would only slow the run down.
    waitMs: member(
      fc.oneof(
        fc.constant(null),
        fc.nat(20),
        hugeNumber.filter((text) => text.includes('-')),
      ),
    ),
  }),
  'process/write': fc.record({
    processId: member(processIds),
    chunk: member(base64ish),
    writeId: member(fc.option(fc.string({ maxLength: 6 }))),
  }),
  'process/terminate': fc.record({ processId: member(processIds), graceMs: member(fc.option(fc.nat(50))) }),
  'process/signal': fc.record({
    processId: member(processIds),
    signal: member(
      fc.constantFrom('interrupt', 'terminate', 'kill', 'hangup', 'SIGUSR1', 'SIGNOPE', 'SIG', ''),
    ),
  }),
  'process/resize': fc.record({
    processId: member(processIds),
    rows: member(fc.oneof(fc.nat(1000), hugeNumber)),
    cols: member(fc.oneof(fc.nat(1000), hugeNumber)),
  }),
  'process/closeStdin': fc.record({ processId: member(processIds) }),
  'process/ack': fc.record({ processId: member(processIds), seq: member(fc.oneof(fc.nat(), hugeNumber)) }),
  'process/list': fc.oneof(fc.constant({}), fc.record({ processId: member(processIds) })),
  'fs/readFile': fc.record({ path: member(fsPaths) }),
  'fs/writeFile': fc.record({ path: member(fsPaths), dataBase64: member(base64ish) }),
  'fs/createDirectory': fc.record({ path: member(fsPaths), recursive: member(fc.boolean()) }),
  'fs/getMetadata': fc.record({ path: member(fsPaths) }),
  'fs/readDirectory': fc.record({ path: member(fsPaths) }),
  'fs/remove': fc.record({
    path: member(fsPaths),
    recursive: member(fc.boolean()),
    force: member(fc.boolean()),
  }),
  'fs/copy': fc.record({
    sourcePath: member(fsPaths),
    destinationPath: member(fsPaths),
    recursive: member(fc.boolean()),
  }),
};
const KNOWN_METHODS = Object.keys(paramsByMethod);

type IdKind = 'int' | 'string' | 'negative' | 'absent' | 'null' | 'float' | 'bool' | 'object' | 'unsafe';

interface MessageCase {
  readonly kind: 'message';
  readonly slot: number;
  readonly idKind: IdKind;
  readonly method: unknown;
  readonly params: unknown;
  readonly extra: Record<string, unknown>;
  readonly binary: boolean;
  readonly mutation: 'none' | 'truncate' | 'garbage' | 'bom' | 'wrapArray';
}
interface RawCase {
  readonly kind: 'raw';
  readonly slot: number;
  readonly bytes: Uint8Array;
  readonly binary: boolean;
}
interface OversizeCase {
  readonly kind: 'oversize';
  readonly binary: boolean;
}
type FuzzCase = MessageCase | RawCase | OversizeCase;

const SLOTS = 5;
const methodArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...KNOWN_METHODS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'initialized',
      'process/output',
      'Process/Start',
      'process/',
      '__proto__',
      'constructor',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: junk },
);
const messageCase: fc.Arbitrary<MessageCase> = methodArb.chain((method) =>
  fc.record({
    kind: fc.constant('message' as const),
    slot: fc.nat(SLOTS - 1),
    idKind: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom<IdKind>('int', 'string', 'negative') },
      {
        weight: 2,
        arbitrary: fc.constantFrom<IdKind>('absent', 'null', 'float', 'bool', 'object', 'unsafe'),
      },
    ),
    method: fc.constant(method),
    params: fc.oneof(
      {
        weight: 8,
        arbitrary:
          typeof method === 'string' && Object.hasOwn(paramsByMethod, method)
            ? paramsByMethod[method]!
            : junk,
      },
      { weight: 2, arbitrary: junk },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    extra: fc.oneof(
      { weight: 8, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.record({ result: junk }) },
      {
        weight: 1,
        arbitrary: fc.record({
          error: fc.oneof(junk, fc.record({ code: fc.integer(), message: fc.string() })),
        }),
      },
      { weight: 1, arbitrary: fc.record({ jsonrpc: fc.constantFrom('2.0', '1.0') }) },
    ),
    binary: fc.boolean(),
    mutation: fc.oneof(
      { weight: 20, arbitrary: fc.constant('none' as const) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'truncate' as const,
          'garbage' as const,
          'bom' as const,
          'wrapArray' as const,
        ),
      },
    ),
  }),
);
const rawCase: fc.Arbitrary<RawCase> = fc.record({
  kind: fc.constant('raw' as const),
  slot: fc.nat(SLOTS - 1),
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.string({ maxLength: 64 }).map((text) => new TextEncoder().encode(text)),
    fc
      .constantFrom('', 'null', '[]', '1', '"x"', '{', '{}', '{"id":', '\u0000', '\ud800')
      .map((text) => Buffer.from(text)),
  ),
  binary: fc.boolean(),
});
const caseArb: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 90, arbitrary: messageCase },
  { weight: 9, arbitrary: rawCase },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('oversize' as const), binary: fc.boolean() }) },
);

// ---------------------------------------------------------------------------------------------
// Encoding and the oracle.

function expandPlaceholders(text: string): string {
  return text.replace(/"@@(RAW|DEEP|BIG|FS):([^@]*)@@"/g, (_, kind: string, arg: string) => {
    switch (kind) {
      case 'RAW':
        return arg;
      case 'DEEP': {
        const depth = Number(arg.slice(1));
        return arg.startsWith('a')
          ? `${'['.repeat(depth)}${']'.repeat(depth)}`
          : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      }
      case 'BIG':
        return JSON.stringify('x'.repeat(Number(arg)));
      default:
        return JSON.stringify(join(fsRoot, arg.replace(/[/\\.]/g, '_')));
    }
  });
}

let nextId = 1;
function idFor(kind: IdKind): unknown {
  const n = nextId++;
  switch (kind) {
    case 'int':
      return n;
    case 'string':
      return `id-${n}`;
    case 'negative':
      return -(n + 1); // never -1: that is the id of a parse error answer
    case 'absent':
      return undefined;
    case 'null':
      return null;
    case 'float':
      return n + 0.5;
    case 'bool':
      return true;
    case 'object':
      return { n };
    case 'unsafe':
      return `@@RAW:${2 ** 60 + n * 4096}@@`;
  }
}

/** What the server must do with a frame, by the envelope rules of docs/protocol.md §2. */
type Expectation =
  | { readonly type: 'answer'; readonly id: number | string; readonly method: string }
  | { readonly type: 'parseError' }
  | { readonly type: 'close' }
  | { readonly type: 'silence' };

function isUsableId(value: unknown): value is number | string {
  return typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));
}

/**
 * An id is an integer or a string (the reference's i64 `RequestId`). An integer beyond 2^53 is
 * still an id, echoed digit for digit (JSON.parse reads both sides alike, so the lossy number keys
 * the answer); a float, a boolean, null or a structure makes the message unparseable (answered with
 * id -1, the connection kept), never a notification.
 */
function idOf(message: Json, text: string): { usable: number | string } | 'absent' | 'bad' {
  if (!('id' in message) || message.id === undefined) return 'absent';
  if (isUsableId(message.id)) return { usable: message.id };
  if (typeof message.id === 'number' && Number.isInteger(message.id)) {
    const literal = topLevelMemberText(text, 'id') ?? '';
    if (/^-?\d+$/.test(literal) && BigInt(literal) >= -(2n ** 63n) && BigInt(literal) < 2n ** 63n) {
      return { usable: message.id };
    }
  }
  return 'bad';
}

function expectationOf(text: string, phase: Phase): Expectation {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { type: 'parseError' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { type: 'parseError' };
  const message = value as Json;
  const id = idOf(message, text);
  if (id === 'bad') return { type: 'parseError' };
  if (id !== 'absent' && typeof message.method === 'string') {
    return { type: 'answer', id: id.usable, method: message.method };
  }
  if (typeof message.method === 'string') {
    return message.method === 'initialized' && phase !== 'new' ? { type: 'silence' } : { type: 'close' };
  }
  if (id !== 'absent' && 'result' in message) return { type: 'close' };
  const error = message.error as Json | undefined;
  if (
    id !== 'absent' &&
    typeof error === 'object' &&
    error !== null &&
    !Array.isArray(error) &&
    typeof error.code === 'number' &&
    Number.isSafeInteger(error.code) &&
    typeof error.message === 'string'
  ) {
    return { type: 'close' };
  }
  return { type: 'parseError' };
}

function encode(fuzz: MessageCase): string {
  const envelope: Record<string, unknown> = { ...fuzz.extra };
  const id = idFor(fuzz.idKind);
  if (id !== undefined) envelope.id = id;
  if (fuzz.method !== undefined) envelope.method = fuzz.method;
  if (fuzz.params !== undefined) envelope.params = fuzz.params;
  let text = expandPlaceholders(JSON.stringify(envelope));
  switch (fuzz.mutation) {
    case 'truncate':
      text = text.slice(0, Math.max(1, text.length >> 1));
      break;
    case 'garbage':
      text += '}{';
      break;
    case 'bom':
      text = `\ufeff${text}`;
      break;
    case 'wrapArray':
      text = `[${text}]`;
      break;
    case 'none':
      break;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Connection slots, each kept near a handshake phase; the fuzzer moves them between phases.

type Phase = 'new' | 'initialized' | 'ready';
interface Slot {
  client: RawClient;
  phase: Phase;
  parseErrors: number;
}
// Most slots past the handshake, so most requests reach the method handlers.
const TARGET_PHASES: readonly Phase[] = ['new', 'initialized', 'ready', 'ready', 'ready'];

async function openSlot(index: number): Promise<Slot> {
  const client = await RawClient.open(server.url);
  const phase = TARGET_PHASES[index % TARGET_PHASES.length]!;
  if (phase !== 'new') await client.result('initialize', { clientName: `fuzz-${index}` });
  if (phase === 'ready') client.send({ method: 'initialized' });
  return { client, phase, parseErrors: 0 };
}

interface Tally {
  cases: number;
  answered: number;
  results: number;
  errorsByCode: Record<string, number>;
  parseErrors: number;
  protocolCloses: number;
  oversizeCloses: number;
  silent: number;
  binaryFrames: number;
  problems: string[];
}

function checkAnswer(
  answer: Json,
  expected: { id: number | string; method: string },
  tally: Tally,
  sent: string,
): void {
  const show = () => `${sent.slice(0, 300)} → ${JSON.stringify(answer).slice(0, 300)}`;
  tally.answered++;
  // The id comes back unchanged, type and all (1 and "1" are different ids).
  if (answer.id !== expected.id) tally.problems.push(`id not echoed: ${show()}`);
  if ('result' in answer && !('error' in answer)) {
    tally.results++;
    return;
  }
  const error = answer.error as Json | undefined;
  if (
    error === undefined ||
    'result' in answer ||
    // -32004 (not found) and -32010 (session attached elsewhere) are the current shape's.
    ![-32600, -32601, -32602, -32603, -32004, -32010].includes(error.code as number) ||
    typeof error.message !== 'string' ||
    error.message.length === 0
  ) {
    tally.problems.push(`malformed answer: ${show()}`);
    return;
  }
  const code = `${error.code as number}${error.data?.code ? ` ${error.data.code as string}` : ''}`;
  tally.errorsByCode[code] = (tally.errorsByCode[code] ?? 0) + 1;
  // -32603 is fine for an OS failure (a missing program), never for a crash inside the server.
  if (
    error.data?.code === 'EXEC_ERR_INTERNAL' ||
    /TypeError|RangeError|ReferenceError|Maximum call stack/.test(error.message)
  ) {
    tally.problems.push(`internal error: ${show()}`);
  }
}

async function runCase(fuzz: FuzzCase, slots: Slot[], tally: Tally): Promise<void> {
  tally.cases++;
  if (fuzz.kind === 'oversize') {
    const client = await RawClient.open(server.url);
    const text = JSON.stringify({
      id: 1,
      method: 'initialize',
      params: { clientName: 'x'.repeat(MAX_MESSAGE_BYTES) },
    });
    client.send(fuzz.binary ? Buffer.from(text) : text);
    const code = await client.closed();
    if (code !== 1009) tally.problems.push(`oversize frame closed with ${code}, not 1009`);
    if (client.answers.size > 0) tally.problems.push('oversize frame was answered');
    tally.oversizeCloses++;
    return;
  }
  const slot = slots[fuzz.slot]!;
  const text = fuzz.kind === 'raw' ? Buffer.from(fuzz.bytes).toString('utf8') : encode(fuzz);
  const frame = fuzz.binary ? (fuzz.kind === 'raw' ? Buffer.from(fuzz.bytes) : Buffer.from(text)) : text;
  if (fuzz.binary) tally.binaryFrames++;
  // Raw bytes sent as a text frame must be valid UTF-8 for ws to send them as they are.
  const expectation: Expectation | { type: 'tooBig' } =
    Buffer.byteLength(frame) > MAX_MESSAGE_BYTES ? { type: 'tooBig' } : expectationOf(text, slot.phase);
  slot.client.send(frame);
  switch (expectation.type) {
    case 'answer': {
      let answer: Json;
      try {
        answer = await slot.client.answer(expectation.id, 15_000);
      } catch (error) {
        tally.problems.push(`no answer (${(error as Error).message}) to ${text.slice(0, 300)}`);
        slots[fuzz.slot] = await openSlot(fuzz.slot);
        return;
      }
      checkAnswer(answer, expectation, tally, text);
      if (expectation.method === 'initialize' && 'result' in answer && slot.phase === 'new')
        slot.phase = 'initialized';
      return;
    }
    case 'parseError': {
      slot.parseErrors++;
      try {
        const error = await slot.client.until(
          () =>
            slot.client.others.filter((m) => m.id === -1).length >= slot.parseErrors
              ? slot.client.others.filter((m) => m.id === -1).at(-1)
              : undefined,
          'a parse error answer',
          15_000,
        );
        if (error.error?.code !== -32600)
          tally.problems.push(`parse error with code ${JSON.stringify(error.error)}`);
      } catch (error) {
        tally.problems.push(
          `no parse error answer (${(error as Error).message}) to ${JSON.stringify(text.slice(0, 200))}`,
        );
        slots[fuzz.slot] = await openSlot(fuzz.slot);
        return;
      }
      tally.parseErrors++;
      return;
    }
    case 'close': {
      const code = await slot.client.closed(15_000).catch(() => null);
      if (code !== 1002)
        tally.problems.push(`protocol violation closed with ${code}, not 1002: ${text.slice(0, 200)}`);
      tally.protocolCloses++;
      slots[fuzz.slot] = await openSlot(fuzz.slot);
      return;
    }
    case 'tooBig': {
      const code = await slot.client.closed(15_000).catch(() => null);
      if (code !== 1009) tally.problems.push(`oversize message closed with ${code}, not 1009`);
      tally.oversizeCloses++;
      slots[fuzz.slot] = await openSlot(fuzz.slot);
      return;
    }
    case 'silence':
      if (slot.phase === 'initialized') slot.phase = 'ready';
      tally.silent++;
      return;
  }
}

// ---------------------------------------------------------------------------------------------

describe('hostile input', () => {
  it(`${CASES} fuzzed messages: the server stays up, answers each usable id, and a bystander loses nothing`, async () => {
    const cases = fc.sample(caseArb, { numRuns: CASES, seed: SEED });
    const bystander = await ExecServerClient.connect(server.url, { clientName: 'bystander' });
    let fuzzing = true;
    const bystanderRuns = (async () => {
      let runs = 0;
      let bytes = 0;
      const failures: string[] = [];
      for (let index = 0; fuzzing && index < 100_000; index++) {
        const slice = sliceFor(source, index, 256 * 1024);
        const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
        const process = await bystander.start({ argv: sliceArgv(source, slice), cwd: '/', env: {} });
        await new Promise<void>((resolve, reject) =>
          process.events$.subscribe({
            next: (event) => (event.type === 'output' ? verifier.push(event.chunk) : undefined),
            complete: resolve,
            error: reject,
          }),
        );
        const verdict = verifier.verdict();
        if (verdict !== null || (await process.exited) !== 0)
          failures.push(`run ${index}: ${verdict ?? 'exit'}`);
        runs++;
        bytes += verifier.verified;
      }
      return { runs, bytes, failures };
    })();

    const slots: Slot[] = [];
    for (let index = 0; index < SLOTS; index++) slots.push(await openSlot(index));
    const tally: Tally = {
      cases: 0,
      answered: 0,
      results: 0,
      errorsByCode: {},
      parseErrors: 0,
      protocolCloses: 0,
      oversizeCloses: 0,
      silent: 0,
      binaryFrames: 0,
      problems: [],
    };
    const began = Date.now();
    try {
      for (const fuzz of cases) {
        await runCase(fuzz, slots, tally);
        if (!isRunning(server.child)) {
          tally.problems.push(`server exited after case ${tally.cases}: ${server.stderr().slice(-2000)}`);
          break;
        }
        if (tally.problems.length > 20) break;
      }
    } finally {
      fuzzing = false;
    }
    const bystanderResult = await bystanderRuns;
    await bystander.close();
    for (const slot of slots) slot.client.ws.terminate();

    console.log(
      `[fuzz] ${tally.cases} cases (seed ${SEED}) in ${Date.now() - began} ms: ${tally.answered} answered ` +
        `(${tally.results} results, errors ${JSON.stringify(tally.errorsByCode)}), ${tally.parseErrors} parse errors, ` +
        `${tally.protocolCloses} protocol closes, ${tally.oversizeCloses} oversize closes (1009), ${tally.silent} silent, ` +
        `${tally.binaryFrames} binary frames; bystander ${bystanderResult.runs} runs, ${bystanderResult.bytes} bytes verified`,
    );
    expect(tally.problems).toEqual([]);
    expect(isRunning(server.child)).toBe(true);
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
    expect(bystanderResult.failures).toEqual([]);
    expect(bystanderResult.runs).toBeGreaterThan(0);
    expect(tally.cases).toBe(CASES);
    // Whatever the fuzzer did, the server ends answering as before.
    const after = await RawClient.open(server.url);
    await after.handshake();
    expect(await after.result('process/list', {})).toEqual({ processes: [] });
    after.ws.terminate();
  });

  it('an oversize frame closes only its sender (1009), mid-stream of another client', async () => {
    const bystander = await ExecServerClient.connect(server.url, { clientName: 'bystander-2' });
    try {
      const slice = sliceFor(source, 7, 512 * 1024);
      const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
      const [dd, ...ddArgs] = sliceArgv(source, slice);
      const process = await bystander.start({
        argv: ['/bin/sh', '-c', `read line; exec ${dd} ${ddArgs.join(' ')}`],
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
        pipeStdin: true,
      });
      const senders = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(server.url)));
      for (const [index, sender] of senders.entries()) {
        const text = JSON.stringify({
          id: 1,
          method: 'initialize',
          params: { clientName: 'y'.repeat(MAX_MESSAGE_BYTES + index) },
        });
        sender.send(index % 2 === 0 ? text : Buffer.from(text));
      }
      for (const sender of senders) expect(await sender.closed()).toBe(1009);
      expect(await process.write('go\n')).toBe('accepted');
      await new Promise<void>((resolve, reject) =>
        process.events$.subscribe({
          next: (event) => (event.type === 'output' ? verifier.push(event.chunk) : undefined),
          complete: resolve,
          error: reject,
        }),
      );
      expect(verifier.verdict()).toBeNull();
    } finally {
      await bystander.close();
    }
  });
});
