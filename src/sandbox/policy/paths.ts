/**
 * Lexical helpers for absolute POSIX paths. Prefix tests are by *component* (`/a/b` is under `/a`,
 * `/ab` is not), which is what mount and Seatbelt `subpath` semantics mean.
 */
import { posix } from 'node:path';

/** `/a//b/./c/` → `/a/b/c`; `..` is resolved lexically (the input must be absolute). */
export function normalizeAbsolute(path: string): string {
  const normalized = posix.normalize(path);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

export function joinPath(base: string, rest: string): string {
  return normalizeAbsolute(posix.join(base, rest));
}

/** True when `path` equals `root` or lies below it. */
export function isWithin(path: string, root: string): boolean {
  if (root === '/') return path.startsWith('/');
  return path === root || path.startsWith(`${root}/`);
}

/** True when `path` lies strictly below `root`. */
export function isStrictlyWithin(path: string, root: string): boolean {
  return path !== root && isWithin(path, root);
}

/** Number of components: `/` → 0, `/a/b` → 2. */
export function depth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}

/** The directories strictly between `ancestor` and `path`, then `path` itself, outermost first. */
export function pathsBetween(ancestor: string, path: string): string[] {
  const rest = path.slice(ancestor === '/' ? 1 : ancestor.length + 1).split('/');
  const out: string[] = [];
  let current = ancestor;
  for (const part of rest) {
    current = joinPath(current, part);
    out.push(current);
  }
  return out;
}

/** Stable sort by depth (shallower first), keeping the given order among equal depths. */
export function sortByDepth<T>(items: readonly T[], pathOf: (item: T) => string): T[] {
  return items
    .map((item, index) => ({ item, index, depth: depth(pathOf(item)) }))
    .sort((a, b) => a.depth - b.depth || a.index - b.index)
    .map(({ item }) => item);
}

/**
 * Orders paths so that every path comes after any other path that contains it, keeping the given
 * order otherwise. Mount order only matters between nested paths (a later bind over a parent would
 * hide an earlier one below it), and keeping the entry order elsewhere makes argv predictable.
 */
export function ancestorsFirst<T>(items: readonly T[], pathOf: (item: T) => string): T[] {
  const out: T[] = [];
  for (const item of items) {
    const path = pathOf(item);
    const firstDescendant = out.findIndex((other) => isStrictlyWithin(pathOf(other), path));
    if (firstDescendant === -1) out.push(item);
    else out.splice(firstDescendant, 0, item);
  }
  return out;
}
