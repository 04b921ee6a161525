/**
 * Strict standard base64 (padding required, canonical trailing bits), checked in one linear pass.
 *
 * A regular expression over the whole payload backtracks into V8's recursion limit: a `process/write`
 * of 4 MiB or more answered "Maximum call stack size exceeded". This scanner keeps no state but a
 * few counters, whatever the size, and reports the first problem in the words of the Rust `base64`
 * crate the reference server decodes with (`Invalid symbol 33, offset 0.`, `Invalid padding`…), so
 * a current client sees the reference's text.
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

/** Why `text` is not strict standard base64, in the reference's words; null when it is. */
export function base64Problem(text: string): string | null {
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

/** The bytes of strict standard base64, or undefined. Linear in the length, never recursive. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  return base64Problem(text) === null ? Buffer.from(text, 'base64') : undefined;
}
