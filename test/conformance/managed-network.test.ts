/**
 * Conformance: the managed network, against the reference and ours. The same `process/start` with
 * upstream's `permissions` sandbox, `enforceManagedNetwork` and `networkProxy` runs curl to local
 * HTTP and TLS origins; every `network/policyDecision` notification must be the same on every
 * target (members and their order, decision, reason, scope, source, protocol, host, port, method;
 * `client` and `timestamp` by form), and so must the errors for bad configs. Then the seed's shape
 * (`sandbox.enforceManagedNetwork`, a native cwd) on ours.
 *
 * Where ours deliberately differs it is said in docs/sandbox.md: `sandboxDenied` is true after a
 * proxy denial; a start with no sandbox is confined on the network rather than run unconfined.
 */
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { commandAvailable, withOrigins } from '../helpers/network-fixtures.js';
import type { RawJsonRpcClient } from '../helpers/raw-ws.js';
import {
  closedNotification,
  fresh,
  readAll,
  startParams,
  startTargets,
  stopTargets,
  uri,
  type Json,
  type Target,
} from './harness.js';

const available = bwrapAvailable() && commandAvailable('curl') && commandAvailable('openssl');
const targets = available ? await startTargets() : [];
afterAll(() => stopTargets(targets));

const origins = withOrigins(available);

/** Upstream's sandbox: read everything, write nothing, no network of its own. */
const permissions = {
  permissions: {
    type: 'managed',
    file_system: {
      type: 'restricted',
      entries: [{ path: { type: 'special', value: { kind: 'root' } }, access: 'read' }],
    },
    network: 'restricted',
  },
  cwd: uri(tmpdir()),
  windowsSandboxLevel: 'disabled',
};

function proxy(domains: Json | null, extra: Json = {}): Json {
  return {
    proxy: {
      enabled: true,
      enableSocks5: true,
      enableSocks5Udp: false,
      allowUpstreamProxy: false,
      dangerouslyAllowAllUnixSockets: false,
      mode: 'full',
      domains,
      unixSockets: null,
      allowLocalBinding: false,
      ...extra,
    },
  };
}

const MEMBERS = [
  'processId',
  'timestamp',
  'scope',
  'decision',
  'source',
  'reason',
  'protocol',
  'host',
  'port',
  'method',
  'client',
  'policyOverride',
];

/** One decision as the tests compare it: the member order, the values, the forms of the rest. */
function shapeOf(params: Json, processId: string) {
  expect(Object.keys(params)).toEqual(MEMBERS.filter((name) => name in params));
  expect(params.processId).toBe(processId);
  expect(params.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(params.client).toMatch(/^127\.0\.0\.1:\d+$/);
  const { processId: _p, timestamp: _t, client: _c, ...rest } = params;
  return rest;
}

describe.runIf(available).each(targets)('conformance: managed network, $name', (target: Target) => {
  let client: RawJsonRpcClient;
  beforeAll(async () => {
    client = await target.ready();
  });

  /** Runs `script` under the managed network to its close; its output, read result and decisions. */
  const run = async (script: string, networkProxy: Json | null, extra: Json = {}) => {
    const id = fresh('net');
    const started = await client.result(
      'process/start',
      startParams(id, ['/bin/sh', '-c', script], {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
        sandbox: permissions,
        enforceManagedNetwork: true,
        ...(networkProxy === null ? {} : { networkProxy }),
        ...extra,
      }),
    );
    const collected = await readAll(client, id);
    await closedNotification(client, id);
    const notifications = client.others.filter((m) => m.params?.processId === id);
    const decisions = notifications
      .filter((m) => m.method === 'network/policyDecision')
      .map((m) => shapeOf(m.params as Json, id));
    const exited = notifications.find((m) => m.method === 'process/exited')?.params as Json;
    return { id, started, collected, decisions, exited };
  };

  const allow = (protocol: string, port: number, method?: string) => ({
    scope: 'domain',
    decision: 'allow',
    source: 'baseline_policy',
    reason: 'allow',
    protocol,
    host: '127.0.0.1',
    port,
    ...(method === undefined ? {} : { method }),
    policyOverride: false,
  });
  const deny = (reason: string, host: string, port: number, method = 'GET') => ({
    scope: 'domain',
    decision: 'deny',
    source: 'baseline_policy',
    reason,
    protocol: 'http',
    host,
    port,
    method,
    policyOverride: false,
  });

  it('allows an exact host, through the proxy, and reports it', async () => {
    const ran = await run(
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/exact`,
      proxy({ '127.0.0.1': 'allow' }),
    );
    expect(ran.started.sandboxType).toBe('linuxSeccomp');
    expect(ran.collected.output).toBe('hello GET /exact\n');
    expect(ran.decisions).toEqual([allow('http', origins.origin.port, 'GET')]);
    // Always present, on the exit as on reads.
    expect(ran.exited).toMatchObject({ exitCode: 0, sandboxDenied: false });
  });

  it('refuses a local name that is not listed (not_allowed_local), with the 403 body of the reference', async () => {
    const ran = await run(
      `curl -sS -m 10 http://localhost:${origins.origin.port}/local`,
      proxy({ '127.0.0.1': 'allow' }),
    );
    expect(ran.decisions).toEqual([deny('not_allowed_local', 'localhost', origins.origin.port)]);
    expect(JSON.parse(ran.collected.output)).toEqual({
      status: 'blocked',
      host: 'localhost',
      reason: 'not_allowed_local',
      decision: 'deny',
      source: 'baseline_policy',
      protocol: 'http',
      port: origins.origin.port,
      message: 'Sandbox policy blocks local/private network addresses.',
    });
  });

  it('never lets `*` allow a loopback address', async () => {
    const ran = await run(
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/star`,
      proxy({ '*': 'allow' }),
    );
    expect(ran.decisions).toEqual([deny('not_allowed_local', '127.0.0.1', origins.origin.port)]);
  });

  it('lets a deny entry win', async () => {
    const ran = await run(
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/denied`,
      proxy({ '127.0.0.1': 'deny', localhost: 'allow' }),
    );
    expect(ran.decisions).toEqual([deny('denied', '127.0.0.1', origins.origin.port)]);
  });

  it('refuses a name no pattern allows (not_allowed), before any lookup', async () => {
    const ran = await run('curl -sS -m 10 http://example.com/', proxy({ '*.example.com': 'allow' }));
    expect(ran.decisions).toEqual([deny('not_allowed', 'example.com', 80)]);
  });

  it('in limited mode refuses POST and CONNECT with a mode-guard decision after the domain allow', async () => {
    const ran = await run(
      `curl -sS -m 10 -X POST http://127.0.0.1:${origins.origin.port}/post; curl -sS -m 10 -k https://127.0.0.1:${origins.tls.port}/`,
      proxy({ '127.0.0.1': 'allow' }, { mode: 'limited' }),
    );
    const guard = (reason: string, protocol: string, port: number, method: string) => ({
      scope: 'non_domain',
      decision: 'deny',
      source: 'mode_guard',
      reason,
      protocol,
      host: '127.0.0.1',
      port,
      method,
      policyOverride: false,
    });
    expect(ran.decisions).toEqual([
      allow('http', origins.origin.port, 'POST'),
      guard('method_not_allowed', 'http', origins.origin.port, 'POST'),
      allow('https_connect', origins.tls.port, 'CONNECT'),
      guard('mitm_required', 'https_connect', origins.tls.port, 'CONNECT'),
    ]);
  });

  it('tunnels HTTPS to an allowed TLS origin (CONNECT)', async () => {
    const ran = await run(
      `curl -sS -m 10 --cacert ${origins.certificate.certPath} https://127.0.0.1:${origins.tls.port}/tls`,
      proxy({ '127.0.0.1': 'allow' }),
    );
    expect(ran.collected.output).toBe('hello GET /tls\n');
    expect(ran.decisions).toEqual([allow('https_connect', origins.tls.port, 'CONNECT')]);
  });

  it('serves SOCKS5 at ALL_PROXY (no method in its decision)', async () => {
    const ran = await run(
      `curl -sS -m 10 -x "$ALL_PROXY" http://127.0.0.1:${origins.origin.port}/socks`,
      proxy({ '127.0.0.1': 'allow' }),
    );
    expect(ran.collected.output).toBe('hello GET /socks\n');
    expect(ran.decisions).toEqual([allow('socks5_tcp', origins.origin.port)]);
  });

  it("gets nothing around the proxy (curl --noproxy '*'), and no decision is made", async () => {
    const ran = await run(
      `curl -sS -m 10 --noproxy '*' http://127.0.0.1:${origins.origin.port}/around; echo "rc=$?"`,
      proxy({ '127.0.0.1': 'allow' }),
    );
    expect(ran.collected.output).toMatch(/rc=7\n$/);
    expect(ran.decisions).toEqual([]);
  });

  it('fails closed: enforced without a proxy config, no network even with the profile saying on', async () => {
    const ran = await run(`curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/closed`, null, {
      sandbox: { ...permissions, permissions: { ...permissions.permissions, network: 'enabled' } },
    });
    expect(ran.collected.exitCode).not.toBe(0);
    expect(ran.decisions).toEqual([]);
    expect(origins.origin.requests.some((request) => request.url === '/closed')).toBe(false);
  });

  it.each([
    [
      { enabled: false },
      'invalid network proxy config: executor-local network proxy launch requires an enabled proxy',
    ],
    [{ mode: 'half' }, 'unknown variant `half`, expected `limited` or `full`'],
    [{ domains: { 'a.com': 'maybe' } }, 'unknown variant `maybe`, expected one of `none`, `allow`, `deny`'],
    [{ enableSocks5: 'yes' }, 'invalid type: string "yes", expected a boolean'],
    [
      { domains: { '*': 'deny' } },
      'invalid network proxy config: invalid value for network.denied_domains: * (allowed exact hosts or scoped wildcards like *.example.com or **.example.com)',
    ],
    [{ domains: { '': 'allow' } }, 'invalid network proxy config: domain pattern is empty'],
  ])('refuses the bad proxy setting %j with the reference text', async (change, message) => {
    const id = fresh('bad');
    const answer = await client.call(
      'process/start',
      startParams(id, ['/bin/true'], {
        sandbox: permissions,
        enforceManagedNetwork: true,
        networkProxy: proxy({ 'a.com': 'allow' }, change),
      }),
    );
    expect(answer.error).toEqual(expect.objectContaining({ code: -32602, message }));
  });

  it.each([
    [{ networkProxy: {} }, 'missing field `proxy`'],
    [{ networkProxy: 'x' }, 'invalid type: string "x", expected struct RemoteNetworkProxyLaunchConfig'],
    [{ managedNetwork: { loopbackPorts: 'x' } }, 'invalid type: string "x", expected a sequence'],
    [{ enforceManagedNetwork: 'yes' }, 'invalid type: string "yes", expected a boolean'],
  ])('refuses %j with the reference text', async (extra, message) => {
    const id = fresh('bad');
    const answer = await client.call(
      'process/start',
      startParams(id, ['/bin/true'], { sandbox: permissions, enforceManagedNetwork: true, ...extra }),
    );
    expect(answer.error).toEqual(expect.objectContaining({ code: -32602, message }));
  });
});

describe.runIf(available)('conformance: managed network in the seed shape (ours)', () => {
  let seedTargets: Target[];
  let client: RawJsonRpcClient;
  beforeAll(async () => {
    seedTargets = await startTargets({ seedOnly: true });
    client = await seedTargets[0]!.ready();
  });
  afterAll(() => stopTargets(seedTargets));

  it("takes the seed's sandbox.enforceManagedNetwork with a top-level networkProxy", async () => {
    const id = fresh('seed');
    const started = await client.result('process/start', {
      processId: id,
      argv: ['/bin/sh', '-c', `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/seed`],
      cwd: tmpdir(),
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      tty: false,
      sandbox: {
        mode: 'require',
        policy: { type: 'read-only', network_access: true },
        enforceManagedNetwork: true,
      },
      networkProxy: proxy({ '127.0.0.1': 'allow' }),
    });
    expect(started).toEqual({ processId: id, sandboxType: 'linux-seccomp' });
    const collected = await readAll(client, id);
    expect(collected.output).toBe('hello GET /seed\n');
    await closedNotification(client, id);
    const decisions = client.others.filter(
      (m) => m.method === 'network/policyDecision' && m.params?.processId === id,
    );
    expect(decisions.map((m) => shapeOf(m.params as Json, id))).toEqual([
      {
        scope: 'domain',
        decision: 'allow',
        source: 'baseline_policy',
        reason: 'allow',
        protocol: 'http',
        host: '127.0.0.1',
        port: origins.origin.port,
        method: 'GET',
        policyOverride: false,
      },
    ]);
  });

  it("the seed's member alone is no network at all", async () => {
    const id = fresh('seed');
    await client.result('process/start', {
      processId: id,
      argv: [
        '/bin/sh',
        '-c',
        `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/seed-closed; echo "rc=$?"`,
      ],
      cwd: tmpdir(),
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      tty: false,
      sandbox: { policy: { type: 'danger-full-access' }, enforceManagedNetwork: true },
    });
    const collected = await readAll(client, id);
    expect(collected.output).toMatch(/rc=7\n$/);
  });

  it('answers sandboxDenied on every read, true after a proxy denial made the process fail', async () => {
    const id = fresh('seed');
    await client.result('process/start', {
      processId: id,
      argv: ['/bin/sh', '-c', `curl -sS -f -m 10 http://localhost:${origins.origin.port}/x`],
      cwd: tmpdir(),
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      tty: false,
      sandbox: { mode: 'require', policy: { type: 'read-only' } },
      enforceManagedNetwork: true,
      networkProxy: proxy({ '127.0.0.1': 'allow' }),
    });
    await closedNotification(client, id);
    const read = await client.result('process/read', {
      processId: id,
      afterSeq: null,
      maxBytes: null,
      waitMs: 0,
    });
    expect(Object.keys(read)).toEqual([
      'chunks',
      'nextSeq',
      'exited',
      'exitCode',
      'closed',
      'failure',
      'sandboxDenied',
      'firstRetainedSeq',
    ]);
    expect(read).toMatchObject({ exitCode: 22, sandboxDenied: true });
    const exited = client.others.find((m) => m.method === 'process/exited' && m.params?.processId === id);
    expect(exited?.params).toEqual({
      processId: id,
      seq: expect.any(Number),
      exitCode: 22,
      sandboxDenied: true,
    });
  });
});
