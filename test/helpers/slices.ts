/**
 * A cheap, deterministic, verifiable output source for stress tests: one seeded file of
 * pseudo-random bytes (test/helpers/data.ts), and children that copy a slice of it to stdout with
 * `dd` in uneven blocks. Starting hundreds of `dd`s costs a fraction of starting as many `node`
 * fixtures, and every byte a child writes is known in advance, so the test checks each one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksummedBytes } from './data.js';

export interface SliceSource {
  readonly path: string;
  readonly bytes: Buffer;
  /** Removes the temp directory holding the file. */
  remove(): void;
}

export function createSliceSource(seed: number, size: number): SliceSource {
  const dir = mkdtempSync(join(tmpdir(), 'execvisor-slices-'));
  const path = join(dir, `source-${seed}.bin`);
  const bytes = checksummedBytes(seed, size);
  writeFileSync(path, bytes);
  return { path, bytes, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Block sizes for `dd`: odd, mostly prime, so writes never line up with pipe or batch sizes. */
const BLOCK_SIZES = [1, 511, 4093, 7919, 16_381, 65_521, 131_071, 1000];

/** One slice for child `index`: its offset in the source, its length, and its dd block size. */
export interface Slice {
  readonly offset: number;
  readonly count: number;
  readonly blockSize: number;
}

export function sliceFor(source: SliceSource, index: number, count: number): Slice {
  const room = source.bytes.length - count;
  if (room < 0)
    throw new Error(`source of ${source.bytes.length} bytes is smaller than a ${count}-byte slice`);
  // A spread of offsets (7919 is prime), different for neighbouring children.
  const offset = room === 0 ? 0 : (index * 7919) % (room + 1);
  // Block size 1 makes a million write calls: keep it for small slices only.
  const sizes = count > 65_536 ? BLOCK_SIZES.slice(2) : BLOCK_SIZES;
  return { offset, count, blockSize: sizes[index % sizes.length]! };
}

/** argv of a child that writes exactly `slice` of the source to stdout. */
export function sliceArgv(source: SliceSource, slice: Slice): string[] {
  return [
    '/bin/dd',
    `if=${source.path}`,
    'iflag=skip_bytes,count_bytes',
    `skip=${slice.offset}`,
    `count=${slice.count}`,
    `bs=${slice.blockSize}`,
    'status=none',
  ];
}

/**
 * Checks a stream against the bytes it must carry, chunk by chunk, without keeping it: every byte
 * is compared at its position; the first mismatch (or overflow) is recorded.
 */
export class StreamVerifier {
  readonly #expected: Buffer;
  #position = 0;
  #error: string | null = null;

  constructor(expected: Buffer) {
    this.#expected = expected;
  }

  push(chunk: Uint8Array): void {
    if (this.#error !== null) return;
    const end = this.#position + chunk.byteLength;
    if (end > this.#expected.length) {
      this.#error = `overflow: ${end} bytes received, ${this.#expected.length} expected`;
      return;
    }
    const want = this.#expected.subarray(this.#position, end);
    if (!want.equals(chunk)) {
      let at = 0;
      while (at < chunk.byteLength && chunk[at] === want[at]) at++;
      this.#error = `byte ${this.#position + at} differs`;
      return;
    }
    this.#position = end;
  }

  /** Bytes verified so far. */
  get verified(): number {
    return this.#position;
  }

  /** null when every expected byte arrived and matched; otherwise what went wrong. */
  verdict(): string | null {
    if (this.#error !== null) return this.#error;
    if (this.#position !== this.#expected.length) {
      return `short: ${this.#position} of ${this.#expected.length} bytes`;
    }
    return null;
  }
}
