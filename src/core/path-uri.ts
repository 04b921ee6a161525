/**
 * Paths on the wire: the seed's native absolute paths (`/tmp/x`) and the current protocol's
 * `file://` URIs (`file:///tmp/x`, `file://localhost/tmp/a%20b`). Both are accepted wherever a path
 * is; a `WirePath` remembers which form the client used, so an answer that carries a path
 * (`fs/canonicalize`, `fs/walk`) speaks the client's form back.
 *
 * URI rules follow the reference (`codex-utils-path-uri`): scheme `file` only, host empty or
 * `localhost`, no query, no fragment, percent-decoding of the path. Error texts are the reference's.
 */
import { pathToFileURL } from 'node:url';

export type PathForm = 'native' | 'uri';

export class WirePath {
  /** The absolute native path (a URI's path percent-decoded). */
  readonly native: string;
  readonly form: PathForm;

  constructor(native: string, form: PathForm) {
    this.native = native;
    this.form = form;
  }

  /** A path in the same form as this one: a URI for a URI client, a native path otherwise. */
  render(native: string): string {
    return this.form === 'uri' ? toFileUri(native) : native;
  }
}

/** `file:///tmp/a%20b` for `/tmp/a b`, encoded as the reference encodes it. */
export function toFileUri(native: string): string {
  return pathToFileURL(native).href;
}

export type ParsedPath =
  { readonly ok: true; readonly path: WirePath } | { readonly ok: false; readonly why: string };

/** Parses a path member; `relative` words the refusal of a relative native path. */
export function parseWirePath(text: string, relative: (value: string) => string): ParsedPath {
  if (text.startsWith('/')) {
    if (text.includes('\0')) return { ok: false, why: relative(text) };
    return { ok: true, path: new WirePath(text, 'native') };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  if (scheme === null) return { ok: false, why: relative(text) };
  if (scheme[1]!.toLowerCase() !== 'file') {
    return { ok: false, why: `unsupported path URI scheme \`${scheme[1]!.toLowerCase()}\`` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, why: `invalid URI: \`${text}\`` };
  }
  if (url.search !== '' || text.includes('?')) {
    return { ok: false, why: 'query parameters are not allowed in path URIs' };
  }
  if (url.hash !== '' || text.includes('#'))
    return { ok: false, why: 'fragments are not allowed in path URIs' };
  if (url.hostname !== '' && url.hostname !== 'localhost') {
    return { ok: false, why: `'${text}' is invalid on '${process.platform}'` };
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {
    return { ok: false, why: `invalid percent-encoding in \`${text}\`` };
  }
  if (decoded.includes('\0') || !decoded.startsWith('/')) {
    return { ok: false, why: `'${text}' is invalid on '${process.platform}'` };
  }
  // `new URL` has already resolved `.` and `..` segments, as the reference's URL parser does.
  return { ok: true, path: new WirePath(decoded, 'uri') };
}

/** Whether a raw member looks like a URI path (decides the request's dialect before parsing). */
export function isUriPath(value: unknown): boolean {
  return typeof value === 'string' && /^file:/i.test(value);
}
