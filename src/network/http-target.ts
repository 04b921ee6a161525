/**
 * Where a proxied HTTP request goes, read without normalizing it away: the authority is taken as
 * the client wrote it (no WHATWG URL parsing, which would turn `0x7f000001` into `127.0.0.1` before
 * the policy saw it), userinfo is split off, and the `Host` header must name the same place.
 * Also the hop-by-hop headers a proxy drops (RFC 9110 §7.6.1).
 */

export interface Authority {
  /** The host as written (brackets kept for IPv6). */
  readonly host: string;
  readonly port: number;
}

export interface HttpTarget extends Authority {
  /** Path and query, `/` when empty. */
  readonly path: string;
  /** `host[:port]` to send upstream as `Host`. */
  readonly hostHeader: string;
}

export type TargetParse =
  | { readonly ok: true; readonly target: HttpTarget }
  | { readonly ok: false; readonly status: 400; readonly message: string };

/** `host`, `host:port`, `[v6]`, `[v6]:port`; `defaultPort` when the port is absent or empty. */
export function parseAuthority(text: string, defaultPort: number | null): Authority | null {
  if (text.length === 0 || text.length > 1024 || /[\s/?#@\\]/.test(text)) return null;
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    host = text.slice(0, close + 1);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) return null; // bare IPv6 must be bracketed
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  if (host === '' || host === '[]') return null;
  let port: number;
  if (portText === undefined || portText === '') {
    if (defaultPort === null) return null;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return null;
    port = Number(portText);
    if (port < 1 || port > 65535) return null;
  }
  return { host, port };
}

function sameAuthority(a: Authority, b: Authority): boolean {
  return a.port === b.port && a.host.toLowerCase() === b.host.toLowerCase();
}

/**
 * The target of a request to the proxy: absolute-form `http://authority/path` (the usual proxy
 * request) or origin-form `/path` with the destination in `Host` (as the reference accepts).
 */
export function parseHttpTarget(url: string, hostHeader: string | undefined): TargetParse {
  const bad = (message: string) => ({ ok: false, status: 400, message }) as const;
  let authorityText: string;
  let path: string;
  if (url.startsWith('/')) {
    if (hostHeader === undefined) return bad('missing Host header');
    authorityText = hostHeader;
    path = url;
  } else {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
    if (scheme === null) return bad('invalid request target');
    if (scheme[1]!.toLowerCase() !== 'http') {
      return bad(`only http:// targets are forwarded; use CONNECT for ${scheme[1]!.toLowerCase()}`);
    }
    const rest = url.slice(scheme[0].length);
    const end = rest.search(/[/?#]/);
    authorityText = end < 0 ? rest : rest.slice(0, end);
    path = end < 0 ? '/' : rest.slice(end);
    if (path.startsWith('?')) path = `/${path}`;
    const hash = path.indexOf('#');
    if (hash >= 0) path = path.slice(0, hash);
    // Credentials in the URL are the client's business with the origin, not a second host.
    const at = authorityText.lastIndexOf('@');
    if (at >= 0) authorityText = authorityText.slice(at + 1);
  }
  const authority = parseAuthority(authorityText, 80);
  if (authority === null) return bad('invalid request target');
  if (hostHeader !== undefined) {
    const fromHeader = parseAuthority(hostHeader, 80);
    if (fromHeader === null) return bad('invalid Host header');
    if (!sameAuthority(authority, fromHeader)) return bad('Host header does not match request target');
  }
  return {
    ok: true,
    target: {
      ...authority,
      path,
      hostHeader: authority.port === 80 ? authority.host : `${authority.host}:${authority.port}`,
    },
  };
}

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Drops hop-by-hop headers, and those `Connection` names, from raw headers (`[name, value, …]`,
 * as `message.rawHeaders`); `keep` names hop-by-hop headers to pass on anyway (an upgrade's).
 */
export function endToEndHeaders(raw: readonly string[], keep: ReadonlySet<string> = new Set()): string[] {
  const named = new Set<string>();
  for (let index = 0; index + 1 < raw.length; index += 2) {
    if (raw[index]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[index + 1]!.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index]!.toLowerCase();
    if ((HOP_BY_HOP.has(name) || named.has(name)) && !keep.has(name)) continue;
    out.push(raw[index]!, raw[index + 1]!);
  }
  return out;
}
