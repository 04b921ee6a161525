/**
 * The managed-network proxy end to end, without a sandbox: curl through it to local HTTP and TLS
 * origins, over its two doors (a process's loopback port; the bridge socket with the preamble).
 * Every test host here is loopback, so the policies allow `127.0.0.1` or `localhost` exactly (the
 * only way a local address is allowed).
 */
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NetworkPolicyDecision } from '../../src/core/types.js';
import {
  applyProxyEnv,
  NetworkProxy,
  type NetworkProxyOptions,
  parseNetworkProxyLaunchConfig,
  type ProxyLease,
  type Resolution,
} from '../../src/network/index.js';
import {
  commandAvailable,
  curl,
  curlWithEnv,
  killAllCurl,
  startBridge,
  withOrigins,
} from '../helpers/network-fixtures.js';
import { managedNetworkProxy, type NetworkProxySettingsOption } from '../../src/core/network-options.js';

const available = commandAvailable('curl') && commandAvailable('openssl');

function config(
  domains: Record<string, 'allow' | 'deny'> | null,
  extra: Partial<NetworkProxySettingsOption> = {},
) {
  return parseNetworkProxyLaunchConfig(managedNetworkProxy(domains, extra))!;
}

const cleanups: (() => Promise<void> | void)[] = [];

async function startProxy(options: NetworkProxyOptions = {}): Promise<NetworkProxy> {
  const proxy = await NetworkProxy.start(options);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A lease whose decisions are collected, with its loopback port. */
async function leaseOn(
  proxy: NetworkProxy,
  processId: string,
  domains: Parameters<typeof config>[0],
  extra = {},
) {
  const decisions: NetworkPolicyDecision[] = [];
  const lease = proxy.register({
    processId,
    config: config(domains, extra),
    onDecision: (d) => decisions.push(d),
  });
  cleanups.push(() => lease.close());
  const port = await lease.listenLoopback();
  return { lease, port, decisions };
}

afterEach(async () => {
  killAllCurl();
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe.skipIf(!available)('the managed-network proxy', () => {
  const origins = withOrigins(true);

  it('forwards a request to an allowed host, and reports the allow', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-allowed', { '127.0.0.1': 'allow' });
    const result = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/x?y=1`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello GET /x?y=1\n' });
    expect(decisions).toEqual([
      {
        processId: 'p-allowed',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        scope: 'domain',
        decision: 'allow',
        source: 'baseline_policy',
        reason: 'allow',
        protocol: 'http',
        host: '127.0.0.1',
        port: origins.origin.port,
        method: 'GET',
        client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        policyOverride: false,
      },
    ]);
    expect(proxy.metrics.snapshot()).toEqual([{ decision: 'allow', reason: 'allow', count: 1 }]);
  });

  it('decides each request of a kept-alive connection', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-keepalive', { '127.0.0.1': 'allow' });
    const result = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/1`,
      `http://127.0.0.1:${origins.origin.port}/2`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello GET /1\nhello GET /2\n' });
    expect(decisions).toHaveLength(2);
    expect(proxy.stats().connectionsTotal).toBe(1);
  });

  it('is what a child finds in the environment proxyEnv makes, whatever the request said', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-env', { localhost: 'allow' });
    const env = applyProxyEnv(
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HTTP_PROXY: 'http://127.0.0.1:1',
        NO_PROXY: '*',
        no_proxy: '*',
      },
      port,
      { socks5: true, allowLocalBinding: false },
    );
    const viaHttp = await curlWithEnv([`http://localhost:${origins.origin.port}/env`], env);
    expect(viaHttp).toMatchObject({ code: 0, stdout: 'hello GET /env\n' });
    // curl takes ALL_PROXY (socks5h) for a scheme with no variable of its own.
    const { http_proxy: _lower, HTTP_PROXY: _upper, ...allOnly } = env;
    const viaSocks = await curlWithEnv([`http://localhost:${origins.origin.port}/all`], allOnly);
    expect(viaSocks).toMatchObject({ code: 0, stdout: 'hello GET /all\n' });
    expect(decisions.map((d) => d.protocol)).toEqual(['http', 'socks5_tcp']);
  });

  it('strips hop-by-hop and proxy headers, and streams a request body', async () => {
    const proxy = await startProxy();
    const { port } = await leaseOn(proxy, 'p-headers', { '127.0.0.1': 'allow' });
    const before = origins.origin.requests.length;
    const result = await curl([
      '-x',
      `http://proxyuser:secret@127.0.0.1:${port}`,
      '-H',
      'Connection: close, X-Drop',
      '-H',
      'X-Drop: 1',
      '-H',
      'X-Keep: 2',
      '--data-binary',
      'payload',
      `http://127.0.0.1:${origins.origin.port}/post`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello POST /post payload\n' });
    const seen = origins.origin.requests[before]!;
    expect(seen.headers['x-keep']).toBe('2');
    expect(seen.headers['x-drop']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers['proxy-connection']).toBeUndefined();
    expect(seen.headers.host).toBe(`127.0.0.1:${origins.origin.port}`);
  });

  it('refuses a host that is not allowed with a 403 naming the reason, and reports it', async () => {
    const proxy = await startProxy();
    const { lease, port, decisions } = await leaseOn(proxy, 'p-denied', { '127.0.0.1': 'allow' });
    const result = await curl(['-i', '-x', `http://127.0.0.1:${port}`, 'http://example.org/']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(result.stdout).toMatch(/\r\nx-proxy-error: blocked-by-allowlist\r\n/);
    const body = JSON.parse(result.stdout.slice(result.stdout.indexOf('\r\n\r\n') + 4)) as Record<
      string,
      unknown
    >;
    expect(body).toEqual({
      status: 'blocked',
      host: 'example.org',
      reason: 'not_allowed',
      decision: 'deny',
      source: 'baseline_policy',
      protocol: 'http',
      port: 80,
      message: 'Domain not in allowlist.',
    });
    expect(decisions.map((d) => [d.decision, d.reason, d.host])).toEqual([
      ['deny', 'not_allowed', 'example.org'],
    ]);
    expect(lease.denials().map((d) => d.reason)).toEqual(['not_allowed']);
    expect(lease.deniedTotal).toBe(1);
    expect(proxy.metrics.snapshot()).toEqual([{ decision: 'deny', reason: 'not_allowed', count: 1 }]);
  });

  it('lets a deny entry win over an allow entry', async () => {
    const proxy = await startProxy();
    // (A global `*` deny is refused as a config, as the reference refuses it.)
    const { port, decisions } = await leaseOn(proxy, 'p-deny-wins', {
      localhost: 'allow',
      '**.localhost': 'deny',
    });
    const result = await curl([
      '-i',
      '-x',
      `http://127.0.0.1:${port}`,
      `http://localhost:${origins.origin.port}/`,
    ]);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 403 /);
    expect(result.stdout).toMatch(/x-proxy-error: blocked-by-denylist/);
    expect(decisions.map((d) => d.reason)).toEqual(['denied']);
  });

  it('refuses loopback unless that exact host is listed', async () => {
    const proxy = await startProxy();
    const cases: (Record<string, 'allow' | 'deny'> | null)[] = [
      { '*': 'allow' },
      { localhost: 'allow' },
      null,
    ];
    for (const domains of cases) {
      const { port, decisions } = await leaseOn(proxy, `p-local-${JSON.stringify(domains)}`, domains);
      const result = await curl([
        '-i',
        '-x',
        `http://127.0.0.1:${port}`,
        `http://127.0.0.1:${origins.origin.port}/`,
      ]);
      expect(result.stdout).toMatch(/^HTTP\/1\.1 403 /);
      expect(decisions.map((d) => d.reason)).toEqual(['not_allowed_local']);
    }
    const { port } = await leaseOn(proxy, 'p-localhost', { localhost: 'allow' });
    const viaName = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      `http://localhost:${origins.origin.port}/named`,
    ]);
    expect(viaName).toMatchObject({ code: 0, stdout: 'hello GET /named\n' });
  });

  it('tunnels CONNECT to an allowed TLS server', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-tls', { localhost: 'allow' });
    const result = await curl([
      '--cacert',
      origins.certificate.certPath,
      '-x',
      `http://127.0.0.1:${port}`,
      `https://localhost:${origins.tls.port}/secure`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello GET /secure\n' });
    expect(decisions).toMatchObject([
      {
        protocol: 'https_connect',
        method: 'CONNECT',
        host: 'localhost',
        port: origins.tls.port,
        decision: 'allow',
      },
    ]);
  });

  it('refuses CONNECT to a host not allowed with a plain 403', async () => {
    const proxy = await startProxy();
    const { port } = await leaseOn(proxy, 'p-tls-denied', { localhost: 'allow' });
    const result = await curl([
      '-v',
      '--cacert',
      origins.certificate.certPath,
      '-x',
      `http://127.0.0.1:${port}`,
      `https://127.0.0.1:${origins.tls.port}/`,
    ]);
    expect(result.code).toBe(56);
    expect(result.stderr).toMatch(/< HTTP\/1\.1 403 Forbidden/);
    expect(result.stderr).toMatch(/< x-proxy-error: blocked-by-allowlist/);
  });

  it('serves SOCKS5 with hostnames (socks5h) and addresses, on the same port', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-socks', { localhost: 'allow', '127.0.0.1': 'allow' });
    const named = await curl([
      '--socks5-hostname',
      `127.0.0.1:${port}`,
      `http://localhost:${origins.origin.port}/socks-h`,
    ]);
    expect(named).toMatchObject({ code: 0, stdout: 'hello GET /socks-h\n' });
    const addressed = await curl([
      '--socks5',
      `127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/socks`,
    ]);
    expect(addressed).toMatchObject({ code: 0, stdout: 'hello GET /socks\n' });
    const tunnelled = await curl([
      '--cacert',
      origins.certificate.certPath,
      '-x',
      `socks5h://127.0.0.1:${port}`,
      `https://localhost:${origins.tls.port}/over-socks`,
    ]);
    expect(tunnelled).toMatchObject({ code: 0, stdout: 'hello GET /over-socks\n' });
    expect(decisions.map((d) => [d.protocol, d.host, 'method' in d])).toEqual([
      ['socks5_tcp', 'localhost', false],
      ['socks5_tcp', '127.0.0.1', false],
      ['socks5_tcp', 'localhost', false],
    ]);
  });

  it('refuses a SOCKS5 request that is not allowed, and SOCKS5 altogether when disabled', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-socks-denied', { localhost: 'allow' });
    const denied = await curl([
      '--socks5-hostname',
      `127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/`,
    ]);
    expect(denied.code).toBe(97);
    expect(decisions.map((d) => d.reason)).toEqual(['not_allowed_local']);
    const off = await leaseOn(proxy, 'p-socks-off', { localhost: 'allow' }, { enableSocks5: false });
    const refused = await curl([
      '--socks5-hostname',
      `127.0.0.1:${off.port}`,
      `http://localhost:${origins.origin.port}/`,
    ]);
    expect(refused.code).toBe(97);
    expect(off.decisions).toEqual([]);
  });

  it('in limited mode allows GET only, refuses other methods and CONNECT with a second decision', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(
      proxy,
      'p-limited',
      { '127.0.0.1': 'allow' },
      { mode: 'limited' },
    );
    const get = await curl(['-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${origins.origin.port}/ok`]);
    expect(get).toMatchObject({ code: 0, stdout: 'hello GET /ok\n' });
    const post = await curl([
      '-i',
      '-x',
      `http://127.0.0.1:${port}`,
      '-d',
      'x',
      `http://127.0.0.1:${origins.origin.port}/no`,
    ]);
    expect(post.stdout).toMatch(/^HTTP\/1\.1 403 /);
    expect(post.stdout).toMatch(/x-proxy-error: blocked-by-method-policy/);
    expect(post.stdout).toContain('"source":"mode_guard"');
    const tunnel = await curl([
      '-v',
      '-p',
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/`,
    ]);
    expect(tunnel.stderr).toMatch(/< x-proxy-error: blocked-by-mitm-required/);
    expect(decisions.map((d) => [d.scope, d.decision, d.source, d.reason])).toEqual([
      ['domain', 'allow', 'baseline_policy', 'allow'],
      ['domain', 'allow', 'baseline_policy', 'allow'],
      ['non_domain', 'deny', 'mode_guard', 'method_not_allowed'],
      ['domain', 'allow', 'baseline_policy', 'allow'],
      ['non_domain', 'deny', 'mode_guard', 'mitm_required'],
    ]);
  });

  it('never proxies to itself (the reference loops until it runs out of descriptors)', async () => {
    const proxy = await startProxy();
    const { port, decisions } = await leaseOn(proxy, 'p-self', { '127.0.0.1': 'allow' });
    const result = await curl(['-i', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${port}/`]);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 403 /);
    expect(result.stdout).toContain('Sandbox policy blocks connections to the proxy itself.');
    expect(decisions.map((d) => d.reason)).toEqual(['not_allowed_local']);
    const release = proxy.protectPort(origins.origin.port);
    const server = await curl([
      '-i',
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/`,
    ]);
    expect(server.stdout).toMatch(/^HTTP\/1\.1 403 /);
    release();
    const again = await curl(['-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${origins.origin.port}/`]);
    expect(again.code).toBe(0);
  });

  it('resolves a name once and connects to the address it checked (no DNS rebinding)', async () => {
    const answers: Resolution[] = [{ addresses: ['127.0.0.1'] }, { addresses: ['10.9.9.9'] }];
    const calls: string[] = [];
    const proxy = await startProxy({
      resolve: (name) => {
        calls.push(name);
        return Promise.resolve(answers.shift() ?? { error: 'no more answers' });
      },
    });
    const { port, decisions } = await leaseOn(
      proxy,
      'p-rebind',
      { 'rebind.example': 'allow' },
      { allowLocalBinding: true },
    );
    const result = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      `http://rebind.example:${origins.origin.port}/rebound`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello GET /rebound\n' });
    expect(calls).toEqual(['rebind.example']);
    expect(decisions.map((d) => d.host)).toEqual(['rebind.example']);
    const strict = await leaseOn(proxy, 'p-rebind-strict', { 'rebind.example': 'allow' });
    answers.unshift({ addresses: ['93.184.215.14', '127.0.0.1'] });
    const refused = await curl([
      '-i',
      '-x',
      `http://127.0.0.1:${strict.port}`,
      `http://rebind.example:${origins.origin.port}/`,
    ]);
    expect(refused.stdout).toMatch(/^HTTP\/1\.1 403 /);
    expect(strict.decisions.map((d) => d.reason)).toEqual(['not_allowed_local']);
  });

  it('answers 502 when the upstream refuses, and 400 for a request it cannot route', async () => {
    const proxy = await startProxy();
    const { port } = await leaseOn(proxy, 'p-errors', { '127.0.0.1': 'allow' });
    // Port 1 on loopback: nothing listens there (tcpmux is long gone).
    const closedPort = 1;
    const refused = await curl(['-i', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${closedPort}/`]);
    expect(refused.stdout).toMatch(/^HTTP\/1\.1 502 /);
    const raw = await rawExchange(port, 'GET https://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain('use CONNECT for https');
    const mismatch = await rawExchange(
      port,
      `GET http://127.0.0.1:${origins.origin.port}/ HTTP/1.1\r\nHost: example.com\r\n\r\n`,
    );
    expect(mismatch).toContain('Host header does not match request target');
  });

  it('refuses a request head over the size limit with 431', async () => {
    const proxy = await startProxy({ maxHeaderBytes: 4096 });
    const { port } = await leaseOn(proxy, 'p-big', { '127.0.0.1': 'allow' });
    const raw = await rawExchange(
      port,
      `GET http://127.0.0.1:${origins.origin.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${origins.origin.port}\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
  });

  describe('the bridge door', () => {
    it('attributes each connection to the lease its preamble names', async () => {
      const proxy = await startProxy();
      const one = proxy.register({ processId: 'bridged-1', config: config({ '127.0.0.1': 'allow' }) });
      const two = proxy.register({ processId: 'bridged-2', config: config({ localhost: 'allow' }) });
      cleanups.push(
        () => one.close(),
        () => two.close(),
      );
      const seen: NetworkPolicyDecision[] = [];
      const subscription = proxy.decisions$.subscribe((decision) => seen.push(decision));
      cleanups.push(() => subscription.unsubscribe());
      const bridgeOne = await startBridge(proxy.socketPath, one.token);
      const bridgeTwo = await startBridge(proxy.socketPath, two.token);
      cleanups.push(
        () => bridgeOne.close(),
        () => bridgeTwo.close(),
      );
      const viaOne = await curl([
        '-x',
        `http://127.0.0.1:${bridgeOne.port}`,
        `http://127.0.0.1:${origins.origin.port}/one`,
      ]);
      expect(viaOne).toMatchObject({ code: 0, stdout: 'hello GET /one\n' });
      const viaTwo = await curl([
        '-i',
        '-x',
        `http://127.0.0.1:${bridgeTwo.port}`,
        `http://127.0.0.1:${origins.origin.port}/two`,
      ]);
      expect(viaTwo.stdout).toMatch(/^HTTP\/1\.1 403 /);
      const socks = await curl([
        '--socks5-hostname',
        `127.0.0.1:${bridgeTwo.port}`,
        `http://localhost:${origins.origin.port}/three`,
      ]);
      expect(socks).toMatchObject({ code: 0, stdout: 'hello GET /three\n' });
      expect(seen.map((d) => [d.processId, d.reason, d.protocol])).toEqual([
        ['bridged-1', 'allow', 'http'],
        ['bridged-2', 'not_allowed_local', 'http'],
        ['bridged-2', 'allow', 'socks5_tcp'],
      ]);
      // The client address is the one the bridge saw, from the preamble.
      expect(seen[0]!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    });

    it('drops a connection with an unknown token or no preamble, and closes a revoked lease', async () => {
      const proxy = await startProxy();
      const lease = proxy.register({ processId: 'revoked', config: config({ '127.0.0.1': 'allow' }) });
      const bridge = await startBridge(proxy.socketPath, lease.token);
      cleanups.push(() => bridge.close());
      const forged = await startBridge(proxy.socketPath, 'f'.repeat(32));
      cleanups.push(() => forged.close());
      expect(
        (await curl(['-x', `http://127.0.0.1:${forged.port}`, `http://127.0.0.1:${origins.origin.port}/`]))
          .code,
      ).not.toBe(0);
      const direct = await rawExchangePath(
        proxy.socketPath,
        `GET http://127.0.0.1:${origins.origin.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${origins.origin.port}\r\n\r\n`,
      );
      expect(direct).toBe('');
      expect(proxy.stats().badPreambles).toBe(2);
      expect(
        (await curl(['-x', `http://127.0.0.1:${bridge.port}`, `http://127.0.0.1:${origins.origin.port}/`]))
          .code,
      ).toBe(0);
      await lease.close();
      expect(
        (await curl(['-x', `http://127.0.0.1:${bridge.port}`, `http://127.0.0.1:${origins.origin.port}/`]))
          .code,
      ).not.toBe(0);
    });

    it('lives in a private directory that close() removes', async () => {
      const proxy = await NetworkProxy.start();
      expect(existsSync(proxy.socketPath)).toBe(true);
      await proxy.close();
      expect(existsSync(dirname(proxy.socketPath))).toBe(false);
    });
  });

  it('closing a lease cuts its open tunnels', async () => {
    const proxy = await startProxy();
    const { lease, port } = await leaseOn(proxy, 'p-cut', { '127.0.0.1': 'allow' });
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `CONNECT 127.0.0.1:${origins.origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origins.origin.port}\r\n\r\n`,
    );
    const established = await firstData(socket);
    expect(established).toMatch(/^HTTP\/1\.1 200 /);
    expect(lease.openConnections).toBe(1);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await lease.close();
    await closed;
    await expect(lease.listenLoopback()).rejects.toThrow(/closed/);
  });

  it('buffers a bounded amount both ways when one side does not read (backpressure)', async () => {
    const proxy = await startProxy();
    const { port } = await leaseOn(proxy, 'p-backpressure', { '127.0.0.1': 'allow' });
    const total = 64 << 20;
    const chunk = Buffer.alloc(1 << 20, 0x61);
    // A raw TCP origin: streams `total` bytes (honouring drain), and never reads what it is sent.
    let sent = 0;
    const sinkSockets = new Set<Socket>();
    const sink = createNetServer((socket) => {
      sinkSockets.add(socket);
      socket.on('error', () => undefined);
      socket.pause();
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of sinkSockets) socket.destroy();
      return new Promise<void>((resolve) => sink.close(() => resolve()));
    });
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    cleanups.push(() => void client.destroy());
    await new Promise((resolve) => client.once('connect', resolve));
    const sinkPort = (sink.address() as { port: number }).port;
    client.write(`CONNECT 127.0.0.1:${sinkPort} HTTP/1.1\r\nHost: 127.0.0.1:${sinkPort}\r\n\r\n`);
    const head = await firstData(client);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    client.pause();
    // The origin's first bytes may share a read with the proxy's answer.
    let received = head.length - head.indexOf('\r\n\r\n') - 4;
    // Downstream: the client reads nothing, so the proxy must stop reading the origin.
    await vi.waitFor(() => expect(proxy.stats().pausedReads).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    expect(proxy.stats().bufferedBytes).toBeLessThan(4 << 20);
    expect(sent).toBeLessThan(total);
    // Upstream: the origin reads nothing, so the client's writes must back up, not the proxy.
    let written = 0;
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!client.write(chunk)) return void client.once('drain', pump);
      }
    };
    pump();
    await vi.waitFor(() => expect(proxy.stats().pausedReads).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    expect(proxy.stats().bufferedBytes).toBeLessThan(8 << 20);
    // And everything still arrives once the client reads.
    client.on('data', (data: Buffer) => (received += data.length));
    client.resume();
    await vi.waitFor(() => expect(received).toBe(total), { timeout: 30_000 });
  });

  it('carries a half-close through a tunnel, and the whole reply after it', async () => {
    const proxy = await startProxy();
    const { port } = await leaseOn(proxy, 'p-half-close', { '127.0.0.1': 'allow' });
    const reply = 16 << 20;
    // Answers only once the request ended (the client's FIN came through), then closes.
    const origin = createNetServer({ allowHalfOpen: true }, (socket) => {
      let request = '';
      socket.on('data', (data: Buffer) => (request += data.toString()));
      socket.on('end', () => socket.end(Buffer.alloc(reply, request === 'ping' ? 0x62 : 0x21)));
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => origin.close(() => resolve())));
    const originPort = (origin.address() as { port: number }).port;
    const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => undefined);
    cleanups.push(() => void client.destroy());
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
    const head = await firstData(client);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    let received = head.length - head.indexOf('\r\n\r\n') - 4;
    let wrong = 0;
    client.on('data', (data: Buffer) => {
      received += data.length;
      if (data.some((byte) => byte !== 0x62)) wrong++;
    });
    const ended = new Promise((resolve) => client.once('end', resolve));
    client.end('ping');
    await ended;
    expect({ received, wrong }).toEqual({ received: reply, wrong: 0 });
  });

  it('survives 200 concurrent connections from 20 processes, each attributed right', async () => {
    const proxy = await startProxy();
    const leases: { lease: ProxyLease; port: number; decisions: NetworkPolicyDecision[] }[] = [];
    const bridges: number[] = [];
    for (let index = 0; index < 20; index++) {
      const entry = await leaseOn(proxy, `proc-${index}`, { '127.0.0.1': 'allow' });
      leases.push(entry);
      // Half of them come in through the bridge socket, as a sandboxed process would.
      if (index % 2 === 1) {
        const bridge = await startBridge(proxy.socketPath, entry.lease.token);
        cleanups.push(() => bridge.close());
        bridges[index] = bridge.port;
      }
    }
    // All 200 are opened before any is answered: the origin holds them until every one arrived.
    const held = await startHoldingOrigin(200);
    cleanups.push(() => held.close());
    const results = await Promise.all(
      leases.flatMap((entry, index) =>
        Array.from({ length: 10 }, (_, n) =>
          proxiedGet(bridges[index] ?? entry.port, `http://127.0.0.1:${held.port}/${index}/${n}`),
        ),
      ),
    );
    expect(results.filter((result) => result === 'ok')).toHaveLength(200);
    expect(held.peak).toBe(200);
    for (const [index, entry] of leases.entries()) {
      expect(entry.decisions).toHaveLength(10);
      expect(new Set(entry.decisions.map((d) => d.processId))).toEqual(new Set([`proc-${index}`]));
    }
    expect(proxy.stats().connectionsRejected).toBe(0);
  });

  it('a slowloris client does not block others, and is cut off at the headers deadline', async () => {
    const proxy = await startProxy({ headersTimeoutMs: 1_000 });
    const { port } = await leaseOn(proxy, 'p-slow', { '127.0.0.1': 'allow' });
    const slow: Socket[] = [];
    const closed: Promise<unknown>[] = [];
    for (let index = 0; index < 50; index++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      cleanups.push(() => void socket.destroy());
      await new Promise((resolve) => socket.once('connect', resolve));
      // Half a request head, then nothing: never completes.
      socket.write(`GET http://127.0.0.1:${origins.origin.port}/ HTTP/1.1\r\nHost: 127.0.0.1`);
      slow.push(socket);
      closed.push(new Promise((resolve) => socket.once('close', resolve)));
    }
    // A trickle keeps one alive by activity, which an idle timeout would not cut.
    const trickle = setInterval(() => slow[0]!.write('x'), 100);
    cleanups.push(() => clearInterval(trickle));
    const meanwhile = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${origins.origin.port}/fast`,
    ]);
    expect(meanwhile).toMatchObject({ code: 0, stdout: 'hello GET /fast\n' });
    await Promise.all(closed);
    clearInterval(trickle);
    expect(proxy.stats().handshakeTimeouts).toBeGreaterThanOrEqual(50);
  });
});

/** Writes `text` to the proxy port and returns everything read until the server closes or 5 s. */
function rawExchange(port: number, text: string): Promise<string> {
  return exchange(connect(port, '127.0.0.1'), text);
}

function rawExchangePath(path: string, text: string): Promise<string> {
  return exchange(connect({ path }), text);
}

function exchange(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.once('connect', () => socket.write(text));
    socket.setTimeout(5_000, () => socket.destroy());
    socket.once('close', () => resolve(received));
  });
}

function firstData(socket: Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (data: Buffer) => resolve(data.toString('latin1'))));
}

/** GET through an HTTP proxy port with Node's client; resolves 'ok' or the failure. */
function proxiedGet(proxyPort: number, url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: proxyPort,
      path: url,
      headers: { host: new URL(url).host },
      agent: false,
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (data: Buffer) => (body += data.toString()));
      res.on('end', () =>
        resolve(res.statusCode === 200 && body === 'held\n' ? 'ok' : `${res.statusCode}: ${body}`),
      );
    });
    req.on('error', (error) => resolve(String(error)));
    req.end();
  });
}

/** An origin that answers nobody until `count` requests are open at once. */
async function startHoldingOrigin(count: number) {
  const { createServer } = await import('node:http');
  const waiting: (() => void)[] = [];
  let peak = 0;
  const server = createServer((_req, res) => {
    waiting.push(() => res.end('held\n'));
    peak = Math.max(peak, waiting.length);
    if (waiting.length === count) for (const release of waiting.splice(0)) release();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get peak() {
      return peak;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
