/**
 * Strict standard base64 (padding required, canonical trailing bits), checked in one linear pass.
 *
 * A regular expression over the whole payload backtracks into V8's recursion limit: a `process/write`
 * of 4 MiB or more answered "Maximum call stack size exceeded". Here a decode and re-encode (native,
 * linear) accepts exactly the canonical texts, and a scanner that keeps no state but a few counters
 * words a refusal as the Rust `base64` crate the reference server decodes with does
 * (`Invalid symbol 33, offset 0.`, `Invalid padding`…), so a current client sees the reference's text.
 */

const PAD = 0x3d; // '='

/** Value of each ASCII code in the standard alphabet, -1 outside it. */
const VALUES = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

function valueOf(code: number): number {
  return code < 128 ? (VALUES[code] ?? -1) : -1;
}

/**
 * Canonical base64 is the only text that survives a decode and re-encode unchanged: native code
 * answers the common case, and the scanner below runs only to word a refusal.
 */
function isCanonical(text: string): boolean {
  return Buffer.from(text, 'base64').toString('base64') === text;
}

/** Why `text` is not strict standard base64, in the reference's words; null when it is. */
export function base64Problem(text: string): string | null {
  if (isCanonical(text)) return null;
  return describeProblem(text) ?? 'Invalid padding';
}

/** The first problem of a text that is not canonical base64, found in one linear scan. */
function describeProblem(text: string): string | null {
  const length = text.length;
  // A byte outside the alphabet (padding aside) is reported first, wherever it is.
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code !== PAD && valueOf(code) < 0) return `Invalid symbol ${code}, offset ${i}.`;
  }
  let symbols = length;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) !== PAD) continue;
    // Padding: only at the third or fourth place of the last quad, and only `=` after it.
    let run = 0;
    while (i + run < length && text.charCodeAt(i + run) === PAD) run++;
    const needed = i % 4 === 2 ? 2 : i % 4 === 3 ? 1 : 0;
    if (needed === 0 || i + run < length || run > needed) return `Invalid symbol ${PAD}, offset ${i}.`;
    if (run < needed) return 'Invalid padding';
    symbols = i;
    break;
  }
  const rest = symbols % 4;
  if (rest === 1) return `Invalid input length: ${length}`;
  if (rest !== 0 && symbols === length) return 'Invalid padding';
  if (rest !== 0) {
    // The unused low bits of the last symbol must be zero (canonical encoding).
    const last = symbols - 1;
    const code = text.charCodeAt(last);
    const unused = rest === 2 ? 0x0f : 0x03;
    if ((valueOf(code) & unused) !== 0) return `Invalid last symbol ${code}, offset ${last}.`;
  }
  return null;
}

/** The bytes of strict standard base64, or why not (one decode either way). */
export function decodeBase64(text: string): { readonly bytes: Buffer } | { readonly problem: string } {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') === text) return { bytes };
  return { problem: describeProblem(text) ?? 'Invalid padding' };
}

/** The bytes of strict standard base64, or undefined. Linear in the length, never recursive. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  const decoded = decodeBase64(text);
  return 'bytes' in decoded ? decoded.bytes : undefined;
}
