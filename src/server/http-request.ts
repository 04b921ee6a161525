/**
 * `http/request`: an HTTP request made by the executor, for clients whose own network is elsewhere
 * (upstream's `http_request.rs`). The answer carries the status and headers and either the whole
 * body, or nothing, with the body following as ordered `http/request/bodyDelta` notifications
 * (`streamResponse`). Texts, limits and defaults are the reference's, checked against its binary:
 * redirects followed up to 10 (method becomes GET after 301/302/303, credentials dropped across
 * hosts, `referer` set), `timeoutMs` absent or null = no deadline, errors `http/request failed: …`.
 *
 * Managed network: every destination (the first and each redirect) is put to the server's
 * `HttpDecision` when it has one; a `deny` fails the request before a connection is made. A
 * decision that names the addresses it checked (the policy engine's, src/network/http-policy.ts)
 * pins the connection to them: the URL's name is not looked up again.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { HttpRequestError, InvalidArgumentError } from '../errors.js';

/**
 * What a decision says: `allow` or `deny`, or the long form, whose `addresses` (when allowed) are
 * the only ones the request may connect to and whose `reason` (when denied) is named in the error.
 */
export type HttpDecisionResult =
  | 'allow'
  | 'deny'
  | { readonly decision: 'allow'; readonly addresses?: readonly string[] | null }
  | { readonly decision: 'deny'; readonly reason?: string | null };

/** The managed-network seam: may this executor connect to `host:port`? */
export type HttpDecision = (
  host: string,
  port: number,
  scheme: 'http' | 'https',
  method: string,
) => HttpDecisionResult | Promise<HttpDecisionResult>;

export interface HttpHeaderParam {
  readonly name: string;
  readonly value: string;
  /** The value is `value` followed by this variable of the server's environment. */
  readonly valueEnvVar?: string | null;
}

export interface HttpRequestInput {
  readonly method: string;
  readonly url: string;
  readonly headers: readonly HttpHeaderParam[];
  readonly body: Uint8Array | null;
  readonly timeoutMs: number | null;
  readonly redirectPolicy: 'follow' | 'stop';
}

export interface HttpResponseHead {
  readonly status: number;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
}

export const HTTP_LIMITS = Object.freeze({
  /** Redirects followed before `too many redirects` (reqwest's default policy). */
  maxRedirects: 10,
  /** A buffered body larger than this fails the request (the answer is one JSON text). */
  maxBufferedBodyBytes: 64 * 1024 * 1024,
  /** Most bytes one `bodyDelta` carries (upstream's MAX_HTTP_BODY_DELTA_BYTES). */
  maxDeltaBytes: 1024 * 1024,
});

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Visible ASCII, space, tab and obs-text; never CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'www-authenticate']);

type Header = [name: string, value: string];

/** Checks the request and resolves header values; throws -32602 errors with the reference's texts. */
export function prepareHttpRequest(
  input: HttpRequestInput,
  env: Readonly<Record<string, string | undefined>>,
): { readonly url: URL; readonly headers: Header[] } {
  if (!TOKEN.test(input.method))
    throw new InvalidArgumentError('http/request method is invalid: invalid HTTP method');
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    const why = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(input.url) ? 'invalid URL' : 'relative URL without a base';
    throw new InvalidArgumentError(`http/request url is invalid: ${why}`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') {
    throw new InvalidArgumentError(`http/request only supports http and https URLs, got ${scheme}`);
  }
  const headers: Header[] = [];
  for (const header of input.headers) {
    if (!TOKEN.test(header.name)) {
      throw new InvalidArgumentError('http/request header name is invalid: invalid HTTP header name');
    }
    let value = header.value;
    if (header.valueEnvVar != null) {
      const fromEnv = env[header.valueEnvVar];
      if (fromEnv === undefined) {
        throw new InvalidArgumentError(
          `http/request header ${header.name} requires executor environment variable ${header.valueEnvVar}`,
        );
      }
      value += fromEnv;
    }
    if (!HEADER_VALUE.test(value)) {
      throw new InvalidArgumentError(
        `http/request header value is invalid for ${header.name}: failed to parse header value`,
      );
    }
    headers.push([header.name, value]);
  }
  return { url, headers };
}

function defaultPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** Host name without IPv6 brackets, as a policy sees it. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function sendFailure(url: URL): HttpRequestError {
  return new HttpRequestError(`http/request failed: error sending request for url (${url.href})`);
}

/**
 * Sends the request, following redirects per `redirectPolicy`, and resolves with the final
 * response, its body not yet read (paused). `signal` aborts everything (deadline, disconnect).
 */
export async function sendHttpRequest(
  input: HttpRequestInput,
  prepared: { readonly url: URL; readonly headers: Header[] },
  decision: HttpDecision | null,
  signal: AbortSignal,
): Promise<{ readonly head: HttpResponseHead; readonly body: IncomingMessage }> {
  let url = prepared.url;
  let method = input.method;
  let body = input.body;
  let headers = prepared.headers;
  if (!headers.some(([name]) => name.toLowerCase() === 'accept')) headers = [...headers, ['accept', '*/*']];
  for (let redirects = 0; ; redirects++) {
    let pinned: readonly string[] | null = null;
    if (decision !== null) {
      const scheme = url.protocol === 'https:' ? 'https' : 'http';
      const verdict = await decision(hostOf(url), defaultPort(url), scheme, method);
      const allowed = verdict === 'allow' || (typeof verdict === 'object' && verdict.decision === 'allow');
      if (!allowed) {
        const reason = typeof verdict === 'object' && 'reason' in verdict ? verdict.reason : null;
        throw new HttpRequestError(
          `http/request failed: the managed network policy denies ${hostOf(url)}:${defaultPort(url)}${reason == null ? '' : ` (${reason})`}`,
        );
      }
      if (typeof verdict === 'object' && 'addresses' in verdict && verdict.addresses != null) {
        pinned = verdict.addresses.length > 0 ? verdict.addresses : null;
      }
    }
    const response = await exchange(url, method, headers, body, signal, pinned);
    const location = response.headers.location;
    const status = response.statusCode ?? 0;
    if (
      input.redirectPolicy === 'stop' ||
      location === undefined ||
      ![301, 302, 303, 307, 308].includes(status)
    ) {
      return { head: headOf(response), body: response };
    }
    response.resume(); // this hop's body is not wanted
    if (redirects >= HTTP_LIMITS.maxRedirects)
      throw new HttpRequestError('http/request failed: too many redirects');
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      return { head: headOf(response), body: response };
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      return { head: headOf(response), body: response };
    if (status === 303 || ((status === 301 || status === 302) && method !== 'GET' && method !== 'HEAD')) {
      method = 'GET';
      body = null;
      headers = headers.filter(([name]) => !/^(content-length|content-type|transfer-encoding)$/i.test(name));
    }
    if (next.host !== url.host)
      headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase()));
    headers = headers.filter(([name]) => name.toLowerCase() !== 'referer');
    if (!(url.protocol === 'https:' && next.protocol === 'http:')) {
      const referer = new URL(url.href);
      referer.username = '';
      referer.password = '';
      referer.hash = '';
      headers.push(['referer', referer.href]);
    }
    url = next;
  }
}

/**
 * A `lookup` that answers with the addresses a policy checked, whatever name it is asked about
 * (the request's own host: Node asks for nothing else).
 */
function pinnedLookup(addresses: readonly string[]) {
  const entries: LookupAddress[] = addresses.map((address) => ({
    address,
    family: address.includes(':') ? 6 : 4,
  }));
  return (
    _hostname: string,
    options: LookupOptions,
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ): void => {
    if (options.all === true) callback(null, entries);
    else callback(null, entries[0]!.address, entries[0]!.family);
  };
}

function exchange(
  url: URL,
  method: string,
  headers: readonly Header[],
  body: Uint8Array | null,
  signal: AbortSignal,
  pinned: readonly string[] | null = null,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // Raw header pairs keep repeats and order; Node then adds no Host of its own.
    const flat: string[] = [];
    if (!headers.some(([name]) => name.toLowerCase() === 'host')) flat.push('host', url.host);
    for (const [name, value] of headers) flat.push(name, value);
    if (body !== null && !headers.some(([name]) => name.toLowerCase() === 'content-length')) {
      flat.push('content-length', String(body.byteLength));
    }
    let request;
    try {
      request = send(url, {
        method,
        headers: flat,
        signal,
        agent: false,
        ...(pinned === null ? {} : { lookup: pinnedLookup(pinned) }),
      });
    } catch {
      reject(sendFailure(url));
      return;
    }
    request.once('error', () => reject(sendFailure(url)));
    request.once('response', (response) => {
      response.pause();
      resolve(response);
    });
    request.end(body === null ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}

function headOf(response: IncomingMessage): HttpResponseHead {
  const headers: { name: string; value: string }[] = [];
  const raw = response.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2)
    headers.push({ name: raw[i]!.toLowerCase(), value: raw[i + 1]! });
  return { status: response.statusCode ?? 0, headers };
}

/** Reads a whole body, within the buffered limit. */
export function readBody(body: IncomingMessage, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const fail = (why: string) => {
      body.destroy();
      reject(new HttpRequestError(`failed to read http/request response body: ${why}`));
    };
    const onAbort = () => fail('error decoding response body');
    signal.addEventListener('abort', onAbort, { once: true });
    body.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > HTTP_LIMITS.maxBufferedBodyBytes) {
        fail(`the body exceeds ${HTTP_LIMITS.maxBufferedBodyBytes} bytes; use streamResponse`);
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => {
      signal.removeEventListener('abort', onAbort);
      if (body.complete) resolve(Buffer.concat(chunks, length));
      else fail('error decoding response body');
    });
    body.once('error', () => {
      signal.removeEventListener('abort', onAbort);
      fail('error decoding response body');
    });
    body.once('aborted', () => fail('error decoding response body'));
    body.resume();
  });
}

export interface BodySink {
  /** Sends one delta; false stops the stream (the connection is gone). */
  delta(seq: number, bytes: Uint8Array, done: boolean, error: string | null): boolean;
  /** Whether the connection is congested (the stream pauses until it is not). */
  congested(): boolean;
}

/**
 * Streams `body` as deltas numbered from 1, then a terminal delta (`done`, with `error` when the
 * body failed). Resolves once the terminal delta was sent (or the connection went away).
 */
export function streamBody(body: IncomingMessage, sink: BodySink, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let seq = 1;
    let finished = false;
    const finish = (error: string | null) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener('abort', onAbort);
      if (error !== null) body.destroy();
      sink.delta(seq, new Uint8Array(0), true, error);
      resolve();
    };
    const onAbort = () => finish('error decoding response body');
    signal.addEventListener('abort', onAbort, { once: true });
    body.on('data', (chunk: Buffer) => {
      for (let at = 0; at < chunk.length && !finished; at += HTTP_LIMITS.maxDeltaBytes) {
        if (!sink.delta(seq++, chunk.subarray(at, at + HTTP_LIMITS.maxDeltaBytes), false, null)) {
          finished = true;
          body.destroy();
          resolve();
          return;
        }
      }
      if (sink.congested()) {
        body.pause();
        const wait = setInterval(() => {
          if (finished || !sink.congested()) {
            clearInterval(wait);
            if (!finished) body.resume();
          }
        }, 10);
        wait.unref();
      }
    });
    body.once('end', () => finish(body.complete ? null : 'error decoding response body'));
    body.once('error', () => finish('error decoding response body'));
    body.once('aborted', () => finish('error decoding response body'));
    body.resume();
  });
}
