/**
 * `envPolicy`: the child environment built from the server's own, by upstream's
 * shell-environment-policy rules (`codex-rs/core/src/exec_env.rs`), checked against the reference:
 *
 * 1. inherit: `all` variables, the `core` ones, or `none`;
 * 2. unless `ignoreDefaultExcludes`: drop names matching `*KEY*`, `*SECRET*`, `*TOKEN*`;
 * 3. drop names matching `exclude`;
 * 4. apply `set`;
 * 5. if `includeOnly` is not empty: keep only names matching it.
 *
 * Patterns are globs (`*`, `?`, `[...]`) matched without regard to case. The request's `env` is
 * then laid over the result (it is never filtered). Without `envPolicy` the child env is exactly
 * the request's `env`, as in the seed.
 */

export interface EnvPolicy {
  readonly inherit: 'all' | 'core' | 'none';
  readonly ignoreDefaultExcludes: boolean;
  readonly exclude: readonly string[];
  readonly set: Readonly<Record<string, string>>;
  readonly includeOnly: readonly string[];
}

/** What `core` keeps (the reference's list on Unix; `USERNAME` is Windows only). */
export const CORE_VARIABLES: readonly string[] = Object.freeze([
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'LOGNAME',
  'PATH',
  'SHELL',
  'TEMP',
  'TMP',
  'TMPDIR',
  'USER',
]);

export const DEFAULT_EXCLUDES: readonly string[] = Object.freeze(['*KEY*', '*SECRET*', '*TOKEN*']);

/**
 * Whether `name` matches the glob `pattern`, ignoring case. Iterative, with one backtrack point
 * for the last `*`: linear in practice and never recursive, whatever the pattern.
 */
export function globMatches(pattern: string, name: string): boolean {
  const p = pattern.toUpperCase();
  const n = name.toUpperCase();
  let pi = 0;
  let ni = 0;
  let starP = -1;
  let starN = 0;
  while (ni < n.length) {
    if (pi < p.length) {
      const c = p[pi]!;
      if (c === '*') {
        starP = pi++;
        starN = ni;
        continue;
      }
      if (c === '?') {
        pi++;
        ni++;
        continue;
      }
      if (c === '[') {
        const klass = matchClass(p, pi, n[ni]!);
        if (klass !== null && klass.matched) {
          pi = klass.end;
          ni++;
          continue;
        }
        if (klass === null && n[ni] === '[') {
          pi++;
          ni++;
          continue;
        }
      } else if (c === n[ni]) {
        pi++;
        ni++;
        continue;
      }
    }
    if (starP < 0) return false;
    pi = starP + 1;
    ni = ++starN;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** A `[...]` class at `start`: whether `char` is in it and where it ends; null if unterminated. */
function matchClass(pattern: string, start: number, char: string): { matched: boolean; end: number } | null {
  let i = start + 1;
  const negate = pattern[i] === '!' || pattern[i] === '^';
  if (negate) i++;
  let matched = false;
  let first = true;
  while (i < pattern.length && (pattern[i] !== ']' || first)) {
    first = false;
    const low = pattern[i]!;
    if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
      const high = pattern[i + 2]!;
      if (char >= low && char <= high) matched = true;
      i += 3;
    } else {
      if (char === low) matched = true;
      i++;
    }
  }
  if (i >= pattern.length) return null;
  return { matched: matched !== negate, end: i + 1 };
}

function matchesAny(name: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => globMatches(pattern, name));
}

/** The environment `policy` builds from `base` (the server's own), before the request's `env`. */
export function environmentFromPolicy(
  policy: EnvPolicy,
  base: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined) continue;
    if (policy.inherit === 'none') break;
    if (policy.inherit === 'core' && !CORE_VARIABLES.includes(name)) continue;
    env[name] = value;
  }
  for (const name of Object.keys(env)) {
    if (!policy.ignoreDefaultExcludes && matchesAny(name, DEFAULT_EXCLUDES)) delete env[name];
    else if (matchesAny(name, policy.exclude)) delete env[name];
  }
  Object.assign(env, policy.set);
  if (policy.includeOnly.length > 0) {
    for (const name of Object.keys(env)) if (!matchesAny(name, policy.includeOnly)) delete env[name];
  }
  return env;
}
