/**
 * Reusable buffers for output frames. A stream of output makes a frame of a few hundred KiB per
 * chunk; allocating each anew is memory outside V8's heap that it must account for and collect
 * (measured: a fifth of the server's time on one fast stream). Frames are carved from fixed-size
 * slabs, and a slab comes back once the socket has written its frame (the send callback), for the
 * next frame. Frames larger than a slab, or small, are allocated on their own.
 *
 * The pool is shared by the whole process. It keeps as many idle slabs as a congested connection
 * has frames in flight (its outbound high-water mark and the kernel's socket buffer), at most
 * `MAX_FREE_SLABS`, and lets them all go once no frame was taken for `IDLE_RELEASE_MS`.
 */
const SLAB_BYTES = 512 * 1024;
const MAX_FREE_SLABS = 48;
/** Smaller frames come from Node's own small-buffer pool or a plain allocation. */
const MIN_POOLED_BYTES = 32 * 1024;
const IDLE_RELEASE_MS = 2_000;

const free: ArrayBuffer[] = [];
let taken = 0;
let idleTimer: NodeJS.Timeout | null = null;

/** A buffer of exactly `size` bytes (uninitialized). */
export function takeFrame(size: number): Buffer {
  if (size < MIN_POOLED_BYTES || size > SLAB_BYTES) return Buffer.allocUnsafe(size);
  taken++;
  const slab = free.pop();
  return slab === undefined
    ? Buffer.allocUnsafeSlow(SLAB_BYTES).subarray(0, size)
    : Buffer.from(slab, 0, size);
}

/** `frame` (from `takeFrame`) is no longer referenced by anything: its slab may be reused. */
export function returnFrame(frame: Buffer): void {
  const slab = frame.buffer;
  if (slab.byteLength !== SLAB_BYTES || frame.byteOffset !== 0 || free.length >= MAX_FREE_SLABS) return;
  free.push(slab as ArrayBuffer);
  if (idleTimer === null) watchIdle(taken);
}

/** Idle slabs in the pool (for tests). */
export function idleFrameSlabs(): number {
  return free.length;
}

function watchIdle(takenBefore: number): void {
  idleTimer = setTimeout(() => {
    idleTimer = null;
    if (taken === takenBefore) free.length = 0;
    else watchIdle(taken);
  }, IDLE_RELEASE_MS);
  idleTimer.unref();
}
