/**
 * zod schema builders whose failures read like the reference server's (serde_json) messages:
 * ``missing field `processId` ``, `invalid type: string "x", expected a boolean`,
 * ``unknown variant `x`, expected one of `a`, `b` ``. Clients written for the reference may match
 * on these texts, so each builder fixes its own message rather than letting zod phrase it.
 * Like serde, only the first failure is reported.
 */
import { z } from 'zod';
import { FsInvalidError, InvalidArgumentError } from '../errors.js';
import { decodeBase64 } from './base64.js';

type Issue = { readonly input?: unknown; readonly path?: readonly PropertyKey[] | undefined };

/** How serde names the value it got (`serde::de::Unexpected`). */
export function describeUnexpected(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
  }
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (Array.isArray(value)) return 'sequence';
  return 'map';
}

function missingOr(issue: Issue, message: () => string): string {
  // JSON never yields `undefined` inside arrays or maps, so undefined input means an absent member.
  if (issue.input === undefined) {
    const last = issue.path?.[issue.path.length - 1];
    if (typeof last === 'string') return `missing field \`${last}\``;
  }
  return message();
}

function invalidType(expected: string) {
  return (issue: Issue) =>
    missingOr(issue, () => `invalid type: ${describeUnexpected(issue.input)}, expected ${expected}`);
}

function invalidValue(expected: string) {
  return (issue: Issue) =>
    missingOr(issue, () => `invalid value: ${describeUnexpected(issue.input)}, expected ${expected}`);
}

export function str() {
  return z.string({ error: invalidType('a string') });
}

export function bool() {
  return z.boolean({ error: invalidType('a boolean') });
}

/** An unsigned integer (serde `u64`, or `u16`, `u32`…); JS limits it to the safe range. */
export function uint(serdeName = 'u64', max = Number.MAX_SAFE_INTEGER) {
  return z
    .number({ error: invalidType(serdeName) })
    .refine((n) => Number.isInteger(n), { error: invalidType(serdeName), abort: true })
    .refine((n) => n >= 0 && n <= max, { error: invalidValue(serdeName) })
    .meta({ type: 'integer', minimum: 0, maximum: max });
}

export function seq<T extends z.ZodType>(item: T) {
  return z.array(item, { error: invalidType('a sequence') });
}

export function stringMap() {
  return z.record(z.string(), str(), { error: invalidType('a map') });
}

/** A map from strings to `value` (serde `HashMap<String, V>`). */
export function mapOf<T extends z.ZodType>(value: T) {
  return z.record(z.string(), value, { error: invalidType('a map') });
}

/** Any JSON map (serde `HashMap<String, serde_json::Value>`). */
export function anyMap() {
  return z.record(z.string(), z.unknown(), { error: invalidType('a map') });
}

export function struct<T extends z.ZodRawShape>(name: string, shape: T) {
  return z.object(shape, { error: invalidType(`struct ${name}`) });
}

/** A unit-variant enum serialized as its name. */
export function variants<const T extends readonly [string, ...string[]]>(values: T) {
  // serde's wording: "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, `c`".
  const quoted = values.map((v) => `\`${v}\``);
  const expected =
    quoted.length === 1
      ? quoted[0]!
      : quoted.length === 2
        ? `${quoted[0]} or ${quoted[1]}`
        : `one of ${quoted.join(', ')}`;
  return z.enum(values, {
    error: (issue: Issue) =>
      missingOr(issue, () =>
        typeof issue.input === 'string'
          ? `unknown variant \`${issue.input}\`, expected ${expected}`
          : `invalid type: ${describeUnexpected(issue.input)}, expected variant identifier`,
      ),
  });
}

export { decodeBase64Strict } from './base64.js';

/**
 * A base64 string member, decoded to bytes. A bad payload fails with the seed's text
 * (``invalid base64 in `chunk` ``); the issue also carries the reference's own wording
 * (`Invalid symbol 33, offset 0.`), which `parseParams` answers to a client of the current shape.
 */
export function base64(field: string) {
  return str().transform((text, ctx) => {
    const decoded = decodeBase64(text);
    if ('problem' in decoded) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid base64 in \`${field}\``,
        input: text,
        params: { base64Problem: decoded.problem },
      });
      return z.NEVER;
    }
    return decoded.bytes;
  });
}

/** Which shape of the protocol a request was written in (see `dialectOf` in methods.ts). */
export type Dialect = 'seed' | 'current';

/**
 * Validates params. Absent params are null, as the reference reads them; the first failure becomes
 * an `InvalidArgumentError` (-32602) with the serde-style message.
 */
export function parseParams<T extends z.ZodType>(
  schema: T,
  params: unknown,
  dialect: Dialect = 'seed',
  method?: string,
): z.output<T> {
  const result = schema.safeParse(params, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const problem = (issue as { params?: { base64Problem?: unknown } } | undefined)?.params?.base64Problem;
  if (dialect === 'current' && typeof problem === 'string') {
    // The reference's texts: `fs/writeFile` reports a bad payload as invalid input (-32600).
    if (method === 'fs/writeFile') {
      throw new FsInvalidError(`fs/writeFile requires valid base64 dataBase64: ${problem}`);
    }
    throw new InvalidArgumentError(problem);
  }
  throw new InvalidArgumentError(issue?.message ?? 'invalid params');
}
