/**
 * Reusable buffers for output frames. A stream of output makes a frame of a few hundred KiB per
 * chunk; allocating each anew is memory outside V8's heap that it must account for and collect
 * (measured: a fifth of the server's time on one fast stream). A frame is carved from a slab of the
 * next power of two at or above its size (so a slab is never more than twice its frame), and the
 * slab comes back once the socket has written its frame (the send callback), for the next frame of
 * that size class. Frames under 32 KiB or over 2 MiB are allocated on their own.
 *
 * The pool is shared by the whole process. It keeps idle slabs up to `MAX_FREE_BYTES` in all (what
 * a congested connection has in flight: its outbound high-water mark and the kernel's socket
 * buffer), and lets them all go once no frame was taken for `IDLE_RELEASE_MS`.
 */
const MIN_SLAB_BYTES = 32 * 1024;
const MAX_SLAB_BYTES = 2 * 1024 * 1024;
const MAX_FREE_BYTES = 24 * 1024 * 1024;
const IDLE_RELEASE_MS = 2_000;

/** Idle slabs by size class (their byte length). */
const free = new Map<number, ArrayBuffer[]>();
let freeBytes = 0;
let taken = 0;
let idleTimer: NodeJS.Timeout | null = null;

function slabSize(size: number): number {
  let slab = MIN_SLAB_BYTES;
  while (slab < size) slab *= 2;
  return slab;
}

/** A buffer of exactly `size` bytes (uninitialized). */
export function takeFrame(size: number): Buffer {
  if (size < MIN_SLAB_BYTES || size > MAX_SLAB_BYTES) return Buffer.allocUnsafe(size);
  taken++;
  const bytes = slabSize(size);
  const slab = free.get(bytes)?.pop();
  if (slab === undefined) return Buffer.allocUnsafeSlow(bytes).subarray(0, size);
  freeBytes -= bytes;
  return Buffer.from(slab, 0, size);
}

/** `frame` (from `takeFrame`) is no longer referenced by anything: its slab may be reused. */
export function returnFrame(frame: Buffer): void {
  const slab = frame.buffer as ArrayBuffer;
  const bytes = slab.byteLength;
  if (frame.byteOffset !== 0 || bytes < MIN_SLAB_BYTES || bytes > MAX_SLAB_BYTES) return;
  if ((bytes & (bytes - 1)) !== 0 || freeBytes + bytes > MAX_FREE_BYTES) return;
  let list = free.get(bytes);
  if (list === undefined) free.set(bytes, (list = []));
  list.push(slab);
  freeBytes += bytes;
  if (idleTimer === null) watchIdle(taken);
}

function watchIdle(takenBefore: number): void {
  idleTimer = setTimeout(() => {
    idleTimer = null;
    if (taken === takenBefore) {
      free.clear();
      freeBytes = 0;
    } else {
      watchIdle(taken);
    }
  }, IDLE_RELEASE_MS);
  idleTimer.unref();
}
