/**
 * Hostile input to the managed-network proxy: fast-check throws 3,000 byte sequences (100 runs of 30
 * concurrent connections) at both doors
 * (raw garbage, and garbage behind the shapes the proxy looks for: HTTP request lines and headers,
 * CONNECT, SOCKS5 greetings and requests with every address type, bridge preambles with good and bad
 * tokens), cut off at random points or followed by a half-close. The proxy never crashes, never
 * answers a request of one process with another's policy, never reaches a host the policy refuses,
 * and a well-behaved client is served throughout.
 */
import fc from 'fast-check';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkPolicyDecision } from '../../src/core/types.js';
import {
  formatPreamble,
  NetworkProxy,
  parseNetworkProxyLaunchConfig,
  type ProxyLease,
} from '../../src/network/index.js';
import { managedNetworkProxy } from '../../src/core/network-options.js';

const RUNS = 100;
const PER_RUN = 30;
const SEED = 0x6e_e7;

let proxy: NetworkProxy;
let lease: ProxyLease;
let port: number;
let origin: Server;
let originPort: number;
const decisions: NetworkPolicyDecision[] = [];
const reached: string[] = [];

beforeAll(async () => {
  origin = createServer((req: IncomingMessage, res) => {
    reached.push(`${req.method} ${req.url}`);
    res.end('ok\n');
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as { port: number }).port;
  proxy = await NetworkProxy.start({
    headersTimeoutMs: 300,
    connectTimeoutMs: 500,
    resolve: () => Promise.resolve({ error: 'no DNS here' }),
  });
  lease = proxy.register({
    processId: 'fuzzed',
    config: parseNetworkProxyLaunchConfig(
      // Only the origin is reachable: loopback by exact entry, on the origin's port in practice.
      managedNetworkProxy({ '127.0.0.1': 'allow', 'allowed.example': 'allow', '*.evil.example': 'deny' }),
    )!,
    onDecision: (decision) => decisions.push(decision),
  });
  port = await lease.listenLoopback();
});

afterAll(async () => {
  await proxy?.close();
  origin?.closeAllConnections();
  await new Promise<void>((resolve) => origin?.close(() => resolve()));
});

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const ascii = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-:[]@%/ ?#\r\n\t*'),
  maxLength: 80,
});
const hostText = () =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom('127.0.0.1', 'allowed.example', 'localhost', '[::1]', 'a.evil.example'),
    },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '0x7f000001',
        '2130706433',
        '0177.0.0.1',
        '127.1',
        '[::ffff:127.0.0.1]',
        '169.254.169.254',
        'ALLOWED.EXAMPLE.',
        'bücher.example',
        '',
        '[',
        '[::1',
        'allowed.example@127.0.0.1',
        '10.0.0.1',
        '0.0.0.0',
        'x.allowed.example',
      ),
    },
    { weight: 1, arbitrary: ascii },
  );
// The origin's port most of the time: allowed requests then really go somewhere.
const portNumber = () =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(-1) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 70000 }) },
  );
const withPort = (p: number) => (p === -1 ? originPort : p);

const httpRequest = fc
  .tuple(
    fc.constantFrom('GET', 'GET', 'POST', 'CONNECT', 'CONNECT', 'PUT', 'get', 'OPTIONS', 'PRI', 'G\u0000T'),
    fc.constantFrom('http://', 'http://', 'https://', 'ftp://', '', '//'),
    hostText(),
    portNumber(),
    fc.constantFrom('/', '/x?y', '', '#f'),
    fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', ''),
    fc.constantFrom('match', 'match', 'other', 'none'),
    fc.array(
      fc.tuple(
        fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Expect', 'X'),
        ascii,
      ),
      {
        maxLength: 4,
      },
    ),
    fc.oneof(fc.constant(''), ascii),
  )
  .map(([method, scheme, host, rawPort, path, version, hostHeader, headers, body]) => {
    const authority = `${host}:${withPort(rawPort)}`;
    const target = method === 'CONNECT' ? authority : `${scheme}${authority}${path}`;
    const hostLine =
      hostHeader === 'match'
        ? `Host: ${authority}\r\n`
        : hostHeader === 'other'
          ? 'Host: other.example\r\n'
          : '';
    const extra = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
    return Buffer.from(
      `${method} ${target} ${version}\r\n${hostLine}${extra}Connection: close\r\n\r\n${body}`,
    );
  });

const socksRequest = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(Uint8Array.from([0])) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }) },
    ),
    fc.constantFrom(1, 1, 1, 2, 3, 9),
    fc.constantFrom(1, 3, 3, 4, 7),
    hostText(),
    bytes(20),
    portNumber(),
  )
  .map(([methods, command, type, host, junk, rawPort]) => {
    const target = withPort(rawPort) & 0xffff;
    const greeting = Buffer.from([5, methods.length, ...methods]);
    let address: Buffer;
    if (type === 1) address = Buffer.from(host === '127.0.0.1' ? [127, 0, 0, 1] : junk.subarray(0, 4));
    else if (type === 4)
      address = Buffer.from(host === '[::1]' ? [...new Uint8Array(15), 1] : junk.subarray(0, 16));
    else if (type === 3) address = Buffer.from([Buffer.byteLength(host) & 0xff, ...Buffer.from(host)]);
    else address = Buffer.from(junk);
    const request = Buffer.concat([
      Buffer.from([5, command, 0, type]),
      address,
      Buffer.from([target >> 8, target & 0xff]),
    ]);
    return Buffer.concat([
      greeting,
      request,
      Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ]);
  });

const preambled = fc
  .tuple(fc.constantFrom('good', 'bad', 'garbage'), fc.oneof(httpRequest, socksRequest, bytes(64)))
  .map(([kind, rest]) => {
    const line =
      kind === 'good'
        ? formatPreamble(lease.token, '127.0.0.1:1')
        : kind === 'bad'
          ? formatPreamble('0'.repeat(32))
          : 'EXECVISOR-NET/1 x\n';
    return { door: 'bridge' as const, data: Buffer.concat([Buffer.from(line), rest]) };
  });

const input = fc.oneof(
  fc.oneof(httpRequest, socksRequest, bytes(512)).map((data) => ({ door: 'loopback' as const, data })),
  preambled,
);

const ending = fc.constantFrom('wait', 'wait', 'half-close', 'destroy');

/** Sends one input and waits until the proxy closes the connection, or ends it ourselves. */
function send(
  door: 'loopback' | 'bridge',
  data: Uint8Array,
  how: 'wait' | 'half-close' | 'destroy',
  cut: number,
): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket =
      door === 'loopback' ? connect(port, '127.0.0.1') : connect({ path: proxy.socketPath });
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    const timer = setTimeout(() => socket.destroy(), 1_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => {
      socket.write(data.subarray(0, Math.min(data.length, cut)));
      if (how === 'half-close') socket.end();
      else if (how === 'destroy') socket.destroy();
    });
  });
}

async function wellBehaved(): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `GET http://127.0.0.1:${originPort}/probe HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`,
  );
  let answer = '';
  socket.on('data', (data: Buffer) => (answer += data.toString()));
  await new Promise((resolve) => socket.once('close', resolve));
  return answer;
}

describe('the managed-network proxy under hostile input', () => {
  it(`survives ${RUNS * PER_RUN} hostile connections and keeps serving`, async () => {
    let run = 0;
    const connection = fc.tuple(
      input,
      ending,
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(1 << 20) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) },
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(connection, { minLength: PER_RUN, maxLength: PER_RUN }), async (batch) => {
        await Promise.all(batch.map(([{ door, data }, how, cut]) => send(door, data, how, cut)));
        run++;
        if (run % 20 === 0) expect(await wellBehaved()).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*ok\n$/);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    expect(await wellBehaved()).toMatch(/^HTTP\/1\.1 200 OK/);
    // The inputs got past the parsers: every protocol was allowed somewhere, every reason refused.
    const seen = new Set(decisions.map((d) => `${d.protocol}/${d.reason}`));
    for (const expected of ['http/allow', 'https_connect/allow', 'socks5_tcp/allow', 'http/not_allowed']) {
      expect(seen).toContain(expected);
    }
    expect(new Set(decisions.map((d) => d.reason))).toEqual(
      new Set(['allow', 'denied', 'not_allowed', 'not_allowed_local']),
    );
    // Attribution: only this lease exists, and every decision names it.
    expect(new Set(decisions.map((d) => d.processId))).toEqual(new Set(['fuzzed']));
    // Nothing the policy refuses was reached: every allow was for an allowed host.
    for (const decision of decisions.filter((d) => d.decision === 'allow')) {
      expect(['127.0.0.1', 'allowed.example']).toContain(decision.host);
    }
    expect(reached.every((line) => !line.includes('evil'))).toBe(true);
    // Every connection is gone: no leak of sockets or deadlines.
    await expect.poll(() => proxy.stats().connectionsOpen, { timeout: 10_000 }).toBe(0);
  });
});
