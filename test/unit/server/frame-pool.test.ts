import { describe, expect, it } from 'vitest';
import { returnFrame, takeFrame } from '../../../src/server/frame-pool.js';

describe('the output frame pool', () => {
  it('carves a frame from a slab at most twice its size, and reuses the slab once returned', () => {
    const first = takeFrame(87 * 1024);
    expect(first.byteLength).toBe(87 * 1024);
    expect(first.buffer.byteLength).toBe(128 * 1024);
    returnFrame(first);
    const second = takeFrame(100 * 1024);
    expect(second.buffer).toBe(first.buffer);
    // Another size class gets its own slab.
    const third = takeFrame(300 * 1024);
    expect(third.buffer.byteLength).toBe(512 * 1024);
    expect(third.buffer).not.toBe(first.buffer);
  });

  it('does not pool small or oversized frames', () => {
    const small = takeFrame(1024);
    const huge = takeFrame(3 * 1024 * 1024);
    returnFrame(huge);
    expect(takeFrame(3 * 1024 * 1024).buffer).not.toBe(huge.buffer);
    expect(small.byteLength).toBe(1024);
  });
});
