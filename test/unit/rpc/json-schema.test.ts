/**
 * The checked-in JSON Schema of the protocol (docs/protocol.schema.json) is what the method table
 * generates, and a JSON Schema validator accepts and refuses the same requests as the server's own
 * validation does.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { protocolJsonSchema, protocolJsonSchemaText } from '../../../src/rpc/json-schema.js';
import { requestMethodsByName } from '../../../src/rpc/methods.js';
import { parseParams } from '../../../src/rpc/serde-schema.js';

const FILE = new URL('../../../docs/protocol.schema.json', import.meta.url);

const start = { processId: 'p', argv: ['true'], cwd: '/tmp', env: {}, tty: false };
/** [method, params, accepted?] */
const cases: [string, unknown, boolean][] = [
  ['initialize', { clientName: 'x' }, true],
  ['initialize', { clientName: 'x', resumeSessionId: null }, true],
  ['initialize', { clientName: 7 }, false],
  ['initialize', {}, false],
  ['process/start', start, true],
  ['process/start', { ...start, cwd: 'file:///tmp', arg0: null, size: { rows: 24, cols: 80 } }, true],
  ['process/start', { ...start, flowControl: { highWaterBytes: 1024, lowWaterBytes: 0 } }, true],
  ['process/start', { ...start, size: { rows: -1, cols: 80 } }, false],
  ['process/start', { ...start, size: { rows: 1.5, cols: 80 } }, false],
  ['process/start', { ...start, tty: 'yes' }, false],
  ['process/start', { ...start, env: { A: 1 } }, false],
  ['process/start', { processId: 'p', cwd: '/tmp', env: {}, tty: false }, false],
  ['process/start', { ...start, unknownMember: true }, true],
  ['process/read', { processId: 'p', afterSeq: null, maxBytes: 10, waitMs: 0 }, true],
  ['process/read', { processId: 'p', afterSeq: -3 }, false],
  ['process/write', { processId: 'p', chunk: 'aGk=' }, true],
  ['process/write', { processId: 'p' }, false],
  ['process/terminate', { processId: 'p' }, true],
  ['fs/readFile', { path: '/etc/hostname' }, true],
  ['fs/readFile', { path: 42 }, false],
];

describe('the protocol JSON Schema', () => {
  it('is checked in as the method table generates it (run `npm run schema` after changing the table)', () => {
    expect(readFileSync(FILE, 'utf8')).toBe(protocolJsonSchemaText());
  });

  it('describes every request method', () => {
    const titles = (protocolJsonSchema().oneOf as { title: string }[]).map((m) => m.title);
    for (const name of requestMethodsByName.keys()) expect(titles).toContain(name);
  });

  it.each(cases)('%s %j: the schema and the server agree (accepted: %s)', (method, params, accepted) => {
    const validate = new Ajv2020({ strict: false }).compile(protocolJsonSchema());
    const entry = requestMethodsByName.get(method)!;
    let server = true;
    try {
      parseParams(entry.method.params, params);
    } catch {
      server = false;
    }
    expect(server).toBe(accepted);
    expect(validate({ id: 1, method, params })).toBe(accepted);
  });

  it('refuses a message that is not a request of a known method', () => {
    const validate = new Ajv2020({ strict: false }).compile(protocolJsonSchema());
    expect(validate({ id: 1, method: 'process/nope', params: {} })).toBe(false);
    expect(validate({ method: 'initialized', params: {} })).toBe(true);
  });
});
