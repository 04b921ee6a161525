/**
 * Where a client pool starts a process: pure functions over what the pool knows of its ready
 * servers, so the choice is testable without a server.
 *
 * - Without a key: the least loaded server, by the share of its capacity in use. A server's load is
 *   this pool's own processes there (exact, counted as they start and close) plus everyone else's,
 *   as the server last reported them (its live count less this pool's own at that moment). Ties go
 *   round-robin, so equal servers fill evenly.
 * - With a key (an agent's session): rendezvous hashing (highest random weight). Every pool with the
 *   same servers sends a key to the same one, and when a server comes or goes only the keys on it
 *   move. (The pool keeps a key on the server its live processes are on, so a new server does not
 *   split a running session.)
 */

export interface PlacementCandidate {
  readonly url: string;
  /** This pool's processes there, starts in flight included. */
  readonly own: number;
  /** Other clients' live processes there, as of the server's last report (0 if it never said). */
  readonly others: number;
  /** The server's limit on live processes, or null when it did not say. */
  readonly maxProcesses: number | null;
}

/** Used as the capacity of a server that does not report one (the server's default limit). */
const ASSUMED_MAX_PROCESSES = 4096;

/** The share of its capacity a candidate would have in use with one more process. */
function loadOf(candidate: PlacementCandidate): number {
  const max = candidate.maxProcesses ?? ASSUMED_MAX_PROCESSES;
  return (candidate.own + candidate.others + 1) / Math.max(1, max);
}

/**
 * The index of the least loaded candidate; among equals, the first at or after `from` (taken
 * modulo the length). -1 when there is none.
 */
export function leastLoaded(candidates: readonly PlacementCandidate[], from: number): number {
  const count = candidates.length;
  let best = -1;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (let step = 0; step < count; step++) {
    const index = (((from + step) % count) + count) % count;
    const load = loadOf(candidates[index]!);
    if (load < bestLoad) {
      best = index;
      bestLoad = load;
    }
  }
  return best;
}

/** The index of the URL `key` belongs to among `urls` (rendezvous hashing); -1 when there is none. */
export function rendezvous(key: string, urls: readonly string[]): number {
  let best = -1;
  let bestWeight = -1;
  for (const [index, url] of urls.entries()) {
    const weight = weightOf(`${url}\u0000${key}`);
    // Ties (as good as impossible with 32 bits) go to the smaller URL, the same in every pool.
    if (weight > bestWeight || (weight === bestWeight && url < urls[best]!)) {
      best = index;
      bestWeight = weight;
    }
  }
  return best;
}

/** FNV-1a over the UTF-16 units, then a final avalanche (murmur3's fmix32): a well-spread 32 bits. */
function weightOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
