/**
 * Upgrade admission: browser origins are refused (a web page must never drive a local exec server),
 * and with a token configured the request must carry `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time: both sides are hashed to equal-length digests before comparing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer[ \t]+(.+)$/i.exec(header.trim());
  const presented = match?.[1] ?? '';
  return timingSafeEqual(digest(presented), digest(token)) && match !== null;
}

export type Refusal = { readonly status: 401 | 403 | 503; readonly reason: string };

export function admitUpgrade(request: IncomingMessage, token: string | null): Refusal | null {
  if (request.headers.origin !== undefined) {
    return { status: 403, reason: 'requests from browser origins are not accepted' };
  }
  if (token !== null && !bearerMatches(request.headers.authorization, token)) {
    return { status: 401, reason: 'missing or wrong bearer token' };
  }
  return null;
}

const STATUS_TEXT = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' } as const;

/** Answers an upgrade request with a plain HTTP error and drops the socket. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const body = `${refusal.reason}\n`;
  const headers = [
    `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status]}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(refusal.status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
