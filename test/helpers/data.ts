import { createHash } from 'node:crypto';

/** The bytes test/fixtures/checksummed.mjs writes for `seed` (same xorshift32). */
export function checksummedBytes(seed: number, total: number): Buffer {
  let state = seed >>> 0 || 1;
  const out = Buffer.allocUnsafe(total);
  for (let i = 0; i < total; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
