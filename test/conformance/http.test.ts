/**
 * Conformance: `http/request` and `http/request/bodyDelta` (upstream http_request.rs case for case,
 * plus redirects, errors and header env values), against the reference and ours. The peer is a
 * local HTTP server that answers by path and tells each test what it received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawJsonRpcClient } from '../helpers/raw-ws.js';
import { b64, fresh, startTargets, stopTargets, text, type Json, type Target } from './harness.js';

const targets = await startTargets();

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** Requests the peer saw, by the `case` query parameter. */
const seen = new Map<string, Seen>();
/** Responses a test finishes itself (streaming, slow), by case. */
const held = new Map<string, ServerResponse>();
const heldWaiters = new Map<string, (response: ServerResponse) => void>();

const peer: Server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const url = new URL(request.url ?? '/', 'http://peer');
    const name = url.searchParams.get('case') ?? '';
    seen.set(name, {
      method: request.method ?? '',
      url: request.url ?? '',
      headers: request.headers,
      body: Buffer.concat(chunks).toString(),
    });
    switch (url.pathname) {
      case '/buffered':
        response.writeHead(201, { 'x-mcp-test': 'buffered' });
        response.end('response-body');
        return;
      case '/redirect':
        response.writeHead(302, { location: `/buffered?case=${name}-target` });
        response.end('moved');
        return;
      case '/loop':
        response.writeHead(302, { location: `/loop?case=${name}` });
        response.end();
        return;
      case '/hold': {
        held.set(name, response);
        heldWaiters.get(name)?.(response);
        return;
      }
      default:
        response.writeHead(404);
        response.end('not found');
    }
  });
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const response of held.values()) response.destroy();
  await stopTargets(targets);
  await new Promise<void>((resolve) => peer.close(() => resolve()));
});

/** The held response of `name`, once its request arrived. */
function heldResponse(name: string): Promise<ServerResponse> {
  const ready = held.get(name);
  if (ready !== undefined) return Promise.resolve(ready);
  return new Promise((resolve) => heldWaiters.set(name, resolve));
}

const header = (headers: unknown, name: string) =>
  (headers as Json[]).find((h) => h.name === name)?.value as string | undefined;

describe.each(targets)('conformance: http/request, $name', (target: Target) => {
  let client: RawJsonRpcClient;
  beforeAll(async () => {
    client = await target.ready();
  });
  const request = (params: Json) =>
    client.call('http/request', { method: 'GET', requestId: fresh('req'), timeoutMs: 5_000, ...params });

  // exec_server_http_request_buffers_response_body
  it('sends one request and answers status, headers and the whole body', async () => {
    const name = fresh('buffered');
    const answer = await request({
      method: 'POST',
      url: `${base}/buffered?case=${name}`,
      headers: [{ name: 'x-codex-test', value: 'buffered' }],
      bodyBase64: b64('request-body'),
    });
    expect(seen.get(name)).toMatchObject({ method: 'POST', body: 'request-body' });
    expect(seen.get(name)?.headers['x-codex-test']).toBe('buffered');
    expect(answer.result.status).toBe(201);
    expect(header(answer.result.headers, 'x-mcp-test')).toBe('buffered');
    expect(text(answer.result.bodyBase64)).toBe('response-body');
  });

  // exec_server_http_request_streams_response_body_notifications
  it('answers first, then streams the body as ordered deltas ending with done', async () => {
    const name = fresh('stream');
    const requestId = fresh('stream-id');
    const id = client.request('http/request', {
      method: 'GET',
      url: `${base}/hold?case=${name}`,
      headers: [{ name: 'accept', value: 'text/event-stream' }],
      timeoutMs: 5_000,
      requestId,
      streamResponse: true,
    });
    const response = await heldResponse(name);
    response.writeHead(200, { 'x-mcp-test': 'streaming' });
    response.write('hello ');
    const answer = await client.answer(id);
    expect(answer.result.status).toBe(200);
    expect(header(answer.result.headers, 'x-mcp-test')).toBe('streaming');
    expect(answer.result.bodyBase64).toBe('');
    response.end('world');
    const deltas = () =>
      client.others.filter((m) => m.method === 'http/request/bodyDelta' && m.params.requestId === requestId);
    await client.until(
      () => (deltas().some((m) => m.params.done === true) ? true : undefined),
      'the last delta',
    );
    const params: Json[] = deltas().map((m) => m.params as Json);
    expect(params.map((p) => p.seq as number)).toEqual(params.map((_, i) => i + 1));
    expect(params.map((p) => text(p.deltaBase64)).join('')).toBe('hello world');
    expect(params.at(-1)).toMatchObject({ done: true, error: null });
    // The answer went out before any delta.
    const answerAt = client.raw.findIndex((t) => t.startsWith(`{"id":${id},`) || t.includes(`"id":${id}}`));
    const firstDelta = client.raw.findIndex((t) => t.includes('bodyDelta') && t.includes(requestId));
    expect(answerAt).toBeGreaterThanOrEqual(0);
    expect(answerAt).toBeLessThan(firstDelta);
  });

  // exec_server_http_request_rejects_duplicate_stream_request_ids
  it('keeps a streamed requestId reserved until its last delta', async () => {
    const name = fresh('dup');
    const requestId = fresh('dup-id');
    const first = client.request('http/request', {
      method: 'GET',
      url: `${base}/hold?case=${name}`,
      requestId,
      streamResponse: true,
    });
    const response = await heldResponse(name);
    response.writeHead(200);
    response.write('hello');
    await client.answer(first);
    const duplicate = await request({
      url: `${base}/buffered?case=${fresh('x')}`,
      requestId,
      streamResponse: true,
    });
    expect(duplicate.error).toMatchObject({
      code: -32602,
      message: `http/request streamResponse requestId \`${requestId}\` is already active`,
    });
    response.end();
    await client.until(
      () =>
        client.others.some(
          (m) => m.method === 'http/request/bodyDelta' && m.params.requestId === requestId && m.params.done,
        )
          ? true
          : undefined,
      'the last delta',
    );
  });

  // exec_server_http_request_honors_nullable_timeout
  it('waits without a deadline for timeoutMs null, and fails a short one with http/request failed', async () => {
    const slow = fresh('slow');
    const id = client.request('http/request', {
      method: 'GET',
      url: `${base}/hold?case=${slow}`,
      timeoutMs: null,
      requestId: fresh('r'),
    });
    const response = await heldResponse(slow);
    await new Promise((resolve) => setTimeout(resolve, 100));
    response.end('slow-success');
    expect(text((await client.answer(id)).result.bodyBase64)).toBe('slow-success');

    const late = fresh('late');
    const failed = client.request('http/request', {
      method: 'GET',
      url: `${base}/hold?case=${late}`,
      timeoutMs: 10,
      requestId: fresh('r'),
    });
    const error = (await client.answer(failed)).error;
    expect(error.code).toBe(-32603);
    expect(error.message).toMatch(/^http\/request failed: /);
    (await heldResponse(late)).end('too-late');
  });

  it('follows redirects (a GET after 302) or stops at them', async () => {
    const name = fresh('redir');
    const followed = await request({
      method: 'POST',
      url: `${base}/redirect?case=${name}`,
      bodyBase64: b64('x'),
    });
    expect(followed.result.status).toBe(201);
    expect(seen.get(`${name}-target`)).toMatchObject({ method: 'GET', body: '' });
    expect(seen.get(`${name}-target`)?.headers.referer).toBe(`${base}/redirect?case=${name}`);
    const stopped = await request({ url: `${base}/redirect?case=${fresh('stop')}`, redirectPolicy: 'stop' });
    expect(stopped.result.status).toBe(302);
    expect(text(stopped.result.bodyBase64)).toBe('moved');
    expect((await request({ url: `${base}/loop?case=${fresh('loop')}` })).error).toMatchObject({
      code: -32603,
      message: 'http/request failed: too many redirects',
    });
  });

  it('refuses bad requests with the reference texts', async () => {
    const refusals: [Json, number, string][] = [
      [{ url: 'ftp://x/' }, -32602, 'http/request only supports http and https URLs, got ftp'],
      [{ url: 'not a url' }, -32602, 'http/request url is invalid: relative URL without a base'],
      [{ method: 'GE T', url: `${base}/` }, -32602, 'http/request method is invalid: invalid HTTP method'],
      [
        { url: `${base}/`, headers: [{ name: 'bad name', value: 'v' }] },
        -32602,
        'http/request header name is invalid: invalid HTTP header name',
      ],
      [
        { url: `${base}/`, headers: [{ name: 'x', value: 'a\nb' }] },
        -32602,
        'http/request header value is invalid for x: failed to parse header value',
      ],
      [
        { url: 'http://127.0.0.1:1/' },
        -32603,
        'http/request failed: error sending request for url (http://127.0.0.1:1/)',
      ],
    ];
    for (const [params, code, message] of refusals) {
      expect((await request(params)).error, message).toMatchObject({ code, message });
    }
    expect((await client.call('http/request', { method: 'GET', url: `${base}/` })).error).toMatchObject({
      code: -32602,
      message: 'missing field `requestId`',
    });
  });

  it('fills a header from the executor environment (valueEnvVar)', async () => {
    const name = fresh('envhdr');
    const answer = await request({
      url: `${base}/buffered?case=${name}`,
      headers: [{ name: 'x-mark', value: 'mark ', valueEnvVar: 'CONFORMANCE_MARK' }],
    });
    expect(answer.result.status).toBe(201);
    expect(seen.get(name)?.headers['x-mark']).toBe('mark exec-server');
    expect(
      (
        await request({
          url: `${base}/buffered`,
          headers: [{ name: 'x-e', value: '', valueEnvVar: 'NOT_SET_ANYWHERE' }],
        })
      ).error,
    ).toMatchObject({
      code: -32602,
      message: 'http/request header x-e requires executor environment variable NOT_SET_ANYWHERE',
    });
  });
});
