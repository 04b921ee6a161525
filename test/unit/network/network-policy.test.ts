/**
 * The domain policy as a table: each row a request, a policy and the decision. Rows marked
 * "reference" are the answers codex exec-server 0.171.0 gave to the same request (probed through
 * its proxy); the others are hostile inputs it was not asked about.
 */
import { describe, expect, it } from 'vitest';
import {
  compileNetworkPolicy,
  decideNetworkRequest,
  evaluateNetworkRequest,
  type NetworkPolicySettings,
  type NetworkRequest,
  type PolicyContext,
  type Resolution,
} from '../../../src/network/index.js';
import type { NetworkDecisionReason, NetworkProtocol } from '../../../src/core/types.js';

const noPorts: PolicyContext = { protectedPorts: new Set() };

function policy(
  domains: Record<string, 'allow' | 'deny' | 'none'> | null,
  extra: Partial<NetworkPolicySettings> = {},
) {
  return compileNetworkPolicy({ mode: 'full', domains, allowLocalBinding: false, ...extra });
}

/** A resolver from a fixed table; unknown names fail like NXDOMAIN. */
function resolverOf(table: Record<string, readonly string[]>) {
  const calls: string[] = [];
  const resolve = (name: string): Promise<Resolution> => {
    calls.push(name);
    const addresses = table[name];
    return Promise.resolve(
      addresses === undefined ? { error: `getaddrinfo ENOTFOUND ${name}` } : { addresses },
    );
  };
  return { resolve, calls };
}

const dns = {
  'example.com': ['93.184.215.14'],
  'api.example.com': ['93.184.215.15'],
  'xn--bcher-kva.example.com': ['93.184.215.16'],
  'rebind.example.com': ['93.184.215.17', '127.0.0.1'],
  'metadata.example.com': ['169.254.169.254'],
  'v6local.example.com': ['fd00::1'],
  'mapped.example.com': ['::ffff:10.0.0.1'],
  vm: ['127.0.0.1'],
} as const;

interface Row {
  readonly name: string;
  readonly host: string;
  readonly domains: Record<string, 'allow' | 'deny' | 'none'> | null;
  readonly expect: NetworkDecisionReason | readonly NetworkDecisionReason[];
  readonly reportedHost?: string;
  readonly protocol?: NetworkProtocol;
  readonly method?: string | null;
  readonly port?: number;
  readonly mode?: 'full' | 'limited';
  readonly allowLocalBinding?: boolean;
}

const rows: Row[] = [
  // Allow lists and deny lists.
  { name: 'reference: exact allow', host: '127.0.0.1', domains: { '127.0.0.1': 'allow' }, expect: 'allow' },
  {
    name: 'reference: host not listed',
    host: 'example.org',
    domains: { 'example.com': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'reference: deny beats allow',
    host: 'localhost',
    domains: { '127.0.0.1': 'allow', localhost: 'deny' },
    expect: 'denied',
  },
  {
    name: 'deny wildcard beats exact allow',
    host: 'api.example.com',
    domains: { 'api.example.com': 'allow', '*.example.com': 'deny' },
    expect: 'denied',
  },
  { name: 'no domains at all', host: 'example.com', domains: null, expect: 'not_allowed' },
  { name: 'empty domains', host: 'example.com', domains: {}, expect: 'not_allowed' },
  {
    name: '"none" is not an allow',
    host: 'example.com',
    domains: { 'example.com': 'none' },
    expect: 'not_allowed',
  },
  { name: '* allows a public name', host: 'example.com', domains: { '*': 'allow' }, expect: 'allow' },
  { name: '* allows a public IP literal', host: '8.8.8.8', domains: { '*': 'allow' }, expect: 'allow' },
  // Wildcards.
  {
    name: 'reference: *.d matches a subdomain',
    host: 'a.example.com',
    domains: { '*.example.com': 'allow', 'example.com': 'deny', '*': 'allow' },
    expect: 'not_allowed_local' /* unresolvable there */,
  },
  {
    name: '*.d matches a subdomain',
    host: 'api.example.com',
    domains: { '*.example.com': 'allow' },
    expect: 'allow',
  },
  {
    name: '*.d does not match the apex',
    host: 'example.com',
    domains: { '*.example.com': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: '**.d matches the apex',
    host: 'example.com',
    domains: { '**.example.com': 'allow' },
    expect: 'allow',
  },
  {
    name: '**.d matches a subdomain',
    host: 'api.example.com',
    domains: { '**.example.com': 'allow' },
    expect: 'allow',
  },
  {
    name: '*.d does not match a suffix without a dot',
    host: 'evilexample.com',
    domains: { '*.example.com': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: '*.d does not match the domain inside a longer name',
    host: 'example.com.evil.net',
    domains: { '*.example.com': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'a wildcard never matches an IP literal',
    host: '93.184.215.14',
    domains: { '*.215.14': 'allow' },
    expect: 'not_allowed',
  },
  // Case, trailing dots, IDN.
  {
    name: 'case is ignored',
    host: 'API.Example.COM',
    domains: { 'api.example.com': 'allow' },
    expect: 'allow',
    reportedHost: 'api.example.com',
  },
  {
    name: 'pattern case is ignored',
    host: 'example.com',
    domains: { 'EXAMPLE.com': 'allow' },
    expect: 'allow',
  },
  {
    name: 'reference: a trailing dot is the same host (deny)',
    host: 'EXAMPLE.com.',
    domains: { 'example.com': 'deny', '*': 'allow' },
    expect: 'denied',
    reportedHost: 'example.com',
  },
  {
    name: 'trailing dots on the pattern',
    host: 'example.com',
    domains: { 'example.com.': 'allow' },
    expect: 'allow',
  },
  {
    name: 'several trailing dots',
    host: 'example.com..',
    domains: { 'example.com': 'allow' },
    expect: 'allow',
  },
  {
    name: 'an empty label is not a host',
    host: 'example..com',
    domains: { '*': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'IDN in the request is its punycode',
    host: 'bücher.example.com',
    domains: { 'xn--bcher-kva.example.com': 'allow' },
    expect: 'allow',
    reportedHost: 'xn--bcher-kva.example.com',
  },
  {
    name: 'IDN in the pattern is its punycode',
    host: 'xn--bcher-kva.example.com',
    domains: { 'bücher.example.com': 'allow' },
    expect: 'allow',
  },
  {
    name: 'full-width letters map to the ASCII name (denied)',
    host: 'ｅｘａｍｐｌｅ.com',
    domains: { 'example.com': 'deny', '*': 'allow' },
    expect: 'denied',
    reportedHost: 'example.com',
  },
  {
    name: 'a NUL byte is not a host',
    host: 'example.com\u0000.evil.net',
    domains: { '*': 'allow' },
    expect: 'not_allowed',
  },
  { name: 'spaces are not a host', host: 'exa mple.com', domains: { '*': 'allow' }, expect: 'not_allowed' },
  {
    name: 'userinfo is not a host',
    host: 'example.com@evil.net',
    domains: { '*': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'a 300-character name is not a host',
    host: `${'a'.repeat(60)}.`.repeat(5) + 'com',
    domains: { '*': 'allow' },
    expect: 'not_allowed',
  },
  // Loopback, private, link-local, metadata literals.
  {
    name: 'reference: loopback with * allowed',
    host: '127.0.0.1',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'reference: loopback not listed',
    host: '127.0.0.1',
    domains: { 'example.com': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'reference: loopback with no domains',
    host: '127.0.0.1',
    domains: null,
    expect: 'not_allowed_local',
  },
  {
    name: 'reference: localhost listed does not allow 127.0.0.1',
    host: '127.0.0.1',
    domains: { localhost: 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'localhost listed allows localhost',
    host: 'localhost',
    domains: { localhost: 'allow' },
    expect: 'allow',
  },
  {
    name: 'LOCALHOST. is localhost',
    host: 'LOCALHOST.',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
    reportedHost: 'localhost',
  },
  {
    name: '127.0.0.2 is loopback too',
    host: '127.0.0.2',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'reference: ::1 with only 127.0.0.1 listed',
    host: '[::1]',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed_local',
    reportedHost: '::1',
  },
  { name: 'reference: [::1] listed allows ::1', host: '::1', domains: { '[::1]': 'allow' }, expect: 'allow' },
  { name: 'reference: 10/8', host: '10.1.2.3', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  { name: '172.16/12', host: '172.31.255.255', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  { name: '172.32 is public', host: '172.32.0.1', domains: { '*': 'allow' }, expect: 'allow' },
  { name: '192.168/16', host: '192.168.1.1', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  {
    name: 'reference: metadata address',
    host: '169.254.169.254',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  { name: 'reference: CGNAT', host: '100.64.0.1', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  { name: 'reference: 0.0.0.0', host: '0.0.0.0', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  { name: 'reference: multicast', host: '224.0.0.1', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  { name: 'broadcast', host: '255.255.255.255', domains: { '*': 'allow' }, expect: 'not_allowed_local' },
  {
    name: 'fc00::/7 unique local',
    host: '[fd00::1]',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'fe80::/10 link-local with a zone',
    host: 'fe80::1%eth0',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'fe80::1%eth0 listed exactly is allowed',
    host: 'fe80::1%eth0',
    domains: { 'fe80::1%eth0': 'allow' },
    expect: 'allow',
  },
  {
    name: 'reference: IPv4-mapped loopback',
    host: '[::ffff:127.0.0.1]',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed_local',
    reportedHost: '::ffff:127.0.0.1',
  },
  {
    name: 'reference: IPv4-mapped loopback in hex',
    host: '[::ffff:7f00:1]',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
    reportedHost: '::ffff:127.0.0.1',
  },
  {
    name: 'IPv4-mapped private',
    host: '[::ffff:10.0.0.1]',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'IPv4-mapped metadata',
    host: '::ffff:169.254.169.254',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'IPv4-compatible loopback',
    host: '[::127.0.0.1]',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'NAT64 of a private address',
    host: '[64:ff9b::a00:1]',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: '6to4 of loopback',
    host: '[2002:7f00:1::]',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  { name: 'a public IPv6 literal', host: '[2606:4700::1111]', domains: { '*': 'allow' }, expect: 'allow' },
  {
    name: 'uncompressed loopback equals ::1',
    host: '[0:0:0:0:0:0:0:1]',
    domains: { '::1': 'allow' },
    expect: 'allow',
    reportedHost: '::1',
  },
  // Legacy numeric IPv4 forms: not literals to the reference, so "not listed" unless allowed by
  // a pattern; then they resolve to the loopback address they name.
  {
    name: 'reference: hex form, only 127.0.0.1 listed',
    host: '0x7f000001',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'reference: decimal form, only 127.0.0.1 listed',
    host: '2130706433',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'reference: octal form, only 127.0.0.1 listed',
    host: '0177.0.0.1',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'reference: short form, only 127.0.0.1 listed',
    host: '127.1',
    domains: { '127.0.0.1': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'reference: hex form with * allowed',
    host: '0x7f000001',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'decimal form with * allowed',
    host: '2130706433',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'octal form with * allowed',
    host: '0177.0.0.1',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'mixed form 0x7f.1 with * allowed',
    host: '0x7f.1',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'hex private 0xa000001 with * allowed',
    host: '0xa000001',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'a full-width IP literal is that literal',
    host: '１２７.０.０.１',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
    reportedHost: '127.0.0.1',
  },
  // Resolution (DNS rebinding): checked on every address, refused on failure.
  {
    name: 'reference: listed name resolving to loopback',
    host: 'vm',
    domains: { vm: 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'any non-public address refuses the name',
    host: 'rebind.example.com',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'a name resolving to the metadata address',
    host: 'metadata.example.com',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'a name resolving to a ULA',
    host: 'v6local.example.com',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'a name resolving to a mapped private address',
    host: 'mapped.example.com',
    domains: { '*': 'allow' },
    expect: 'not_allowed_local',
  },
  {
    name: 'reference: an unresolvable allowed name',
    host: 'nxdomain.example.com',
    domains: { '*.example.com': 'allow' },
    expect: 'not_allowed_local',
  },
  // allowLocalBinding lifts the local checks, not the lists.
  {
    name: 'allowLocalBinding: * reaches loopback',
    host: '127.0.0.1',
    domains: { '*': 'allow' },
    allowLocalBinding: true,
    expect: 'allow',
  },
  {
    name: 'allowLocalBinding: a name resolving to loopback',
    host: 'vm',
    domains: { vm: 'allow' },
    allowLocalBinding: true,
    expect: 'allow',
  },
  {
    name: 'allowLocalBinding: still not listed',
    host: '127.0.0.1',
    domains: { 'example.com': 'allow' },
    allowLocalBinding: true,
    expect: 'not_allowed',
  },
  {
    name: 'allowLocalBinding: deny still wins',
    host: '127.0.0.1',
    domains: { '*': 'allow', '127.0.0.1': 'deny' },
    allowLocalBinding: true,
    expect: 'denied',
  },
  // Ports.
  {
    name: 'port 0 is not a destination',
    host: 'example.com',
    port: 0,
    domains: { '*': 'allow' },
    expect: 'not_allowed',
  },
  {
    name: 'port 65536 is not a destination',
    host: 'example.com',
    port: 65536,
    domains: { '*': 'allow' },
    expect: 'not_allowed',
  },
  // Limited mode.
  {
    name: 'limited: GET',
    host: 'example.com',
    domains: { '*': 'allow' },
    mode: 'limited',
    method: 'GET',
    expect: 'allow',
  },
  {
    name: 'limited: HEAD',
    host: 'example.com',
    domains: { '*': 'allow' },
    mode: 'limited',
    method: 'HEAD',
    expect: 'allow',
  },
  {
    name: 'limited: OPTIONS',
    host: 'example.com',
    domains: { '*': 'allow' },
    mode: 'limited',
    method: 'OPTIONS',
    expect: 'allow',
  },
  {
    name: 'reference: limited POST (domain allow, then mode guard)',
    host: '127.0.0.1',
    domains: { '127.0.0.1': 'allow' },
    mode: 'limited',
    method: 'POST',
    expect: ['allow', 'method_not_allowed'],
  },
  {
    name: 'reference: limited PUT',
    host: '127.0.0.1',
    domains: { '127.0.0.1': 'allow' },
    mode: 'limited',
    method: 'PUT',
    expect: ['allow', 'method_not_allowed'],
  },
  {
    name: 'limited: lowercase get is not GET',
    host: 'example.com',
    domains: { '*': 'allow' },
    mode: 'limited',
    method: 'get',
    expect: ['allow', 'method_not_allowed'],
  },
  {
    name: 'reference: limited CONNECT (domain allow, then mitm_required)',
    host: '127.0.0.1',
    domains: { '127.0.0.1': 'allow' },
    mode: 'limited',
    protocol: 'https_connect',
    method: 'CONNECT',
    expect: ['allow', 'mitm_required'],
  },
  {
    name: 'reference: limited POST to an unlisted host (domain decides)',
    host: 'example.org',
    domains: { '127.0.0.1': 'allow' },
    mode: 'limited',
    method: 'POST',
    expect: 'not_allowed',
  },
  {
    name: 'reference: limited CONNECT to an unlisted host',
    host: 'example.org',
    domains: { '127.0.0.1': 'allow' },
    mode: 'limited',
    protocol: 'https_connect',
    method: 'CONNECT',
    expect: 'not_allowed',
  },
  {
    name: 'reference: limited SOCKS5 (mode guard only)',
    host: '127.0.0.1',
    domains: { '127.0.0.1': 'allow' },
    mode: 'limited',
    protocol: 'socks5_tcp',
    method: null,
    expect: 'method_not_allowed',
  },
  {
    name: 'full: SOCKS5',
    host: 'example.com',
    domains: { '*': 'allow' },
    protocol: 'socks5_tcp',
    method: null,
    expect: 'allow',
  },
  {
    name: 'full: CONNECT',
    host: 'example.com',
    domains: { '*': 'allow' },
    protocol: 'https_connect',
    method: 'CONNECT',
    expect: 'allow',
  },
];

describe('the domain policy', () => {
  it.each(rows)('$name', async (row) => {
    const request: NetworkRequest = {
      host: row.host,
      port: row.port ?? 80,
      protocol: row.protocol ?? 'http',
      method: row.method === undefined ? 'GET' : row.method,
    };
    const compiled = policy(row.domains, {
      mode: row.mode ?? 'full',
      allowLocalBinding: row.allowLocalBinding ?? false,
    });
    const outcome = await decideNetworkRequest(request, compiled, noPorts, resolverOf(dns).resolve);
    const expected = Array.isArray(row.expect) ? row.expect : [row.expect];
    expect(outcome.steps.map((step) => step.reason)).toEqual(expected);
    expect(outcome.allowed).toBe(expected.length === 1 && expected[0] === 'allow');
    if (row.reportedHost !== undefined) expect(outcome.host).toBe(row.reportedHost);
    if (outcome.allowed) expect(outcome.addresses.length).toBeGreaterThan(0);
    else expect(outcome.denial?.reason).toBe(expected[expected.length - 1]);
  });

  it('reports each step with its scope and source', async () => {
    const compiled = policy({ 'example.com': 'allow' }, { mode: 'limited' });
    const outcome = await decideNetworkRequest(
      { host: 'example.com', port: 80, protocol: 'http', method: 'POST' },
      compiled,
      noPorts,
      resolverOf(dns).resolve,
    );
    expect(outcome.steps).toEqual([
      { scope: 'domain', decision: 'allow', source: 'baseline_policy', reason: 'allow' },
      { scope: 'non_domain', decision: 'deny', source: 'mode_guard', reason: 'method_not_allowed' },
    ]);
    expect(outcome.denial).toEqual({
      reason: 'method_not_allowed',
      message: 'Method not allowed in limited mode.',
    });
  });

  it('resolves a name once and returns exactly the addresses it checked', async () => {
    const { resolve, calls } = resolverOf({
      'api.example.com': ['93.184.215.15', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    });
    const outcome = await decideNetworkRequest(
      { host: 'api.example.com', port: 443, protocol: 'https_connect', method: 'CONNECT' },
      policy({ '*.example.com': 'allow' }),
      noPorts,
      resolve,
    );
    expect(calls).toEqual(['api.example.com']);
    expect(outcome.addresses).toEqual(['93.184.215.15', '2606:2800:21f:cb07:6820:80da:af6b:8b2c']);
  });

  it('does not resolve what the lists already refuse, nor IP literals and localhost', async () => {
    const { resolve, calls } = resolverOf(dns);
    const compiled = policy({ 'example.com': 'allow', localhost: 'allow', '93.184.215.14': 'allow' });
    for (const host of ['example.org', 'evil.example.com', '93.184.215.14', 'localhost', '0x7f000001']) {
      await decideNetworkRequest(
        { host, port: 80, protocol: 'http', method: 'GET' },
        compiled,
        noPorts,
        resolve,
      );
    }
    expect(calls).toEqual([]);
    const localhost = await decideNetworkRequest(
      { host: 'localhost', port: 80, protocol: 'http', method: 'GET' },
      compiled,
      noPorts,
      resolve,
    );
    expect(localhost.addresses).toEqual(['127.0.0.1', '::1']);
  });

  it('is pure: without a resolution it asks for one, with it it decides', () => {
    const compiled = policy({ '*': 'allow' });
    const request: NetworkRequest = { host: 'Example.COM.', port: 80, protocol: 'http', method: 'GET' };
    expect(evaluateNetworkRequest(request, compiled, noPorts)).toEqual({
      stage: 'resolve',
      name: 'example.com',
    });
    const decided = evaluateNetworkRequest(request, compiled, noPorts, { addresses: ['10.0.0.1'] });
    expect(decided.stage === 'final' && decided.outcome.denial?.reason).toBe('not_allowed_local');
    const resolverThrew = evaluateNetworkRequest(request, compiled, noPorts, { error: 'timeout' });
    expect(resolverThrew.stage === 'final' && resolverThrew.outcome.denial?.reason).toBe('not_allowed_local');
  });

  it('a resolver that throws is a failed lookup, not a crash', async () => {
    const outcome = await decideNetworkRequest(
      { host: 'example.com', port: 80, protocol: 'http', method: 'GET' },
      policy({ '*': 'allow' }),
      noPorts,
      () => Promise.reject(new Error('resolver exploded')),
    );
    expect(outcome.denial?.reason).toBe('not_allowed_local');
  });

  it('never connects to a protected port on this host, even when local targets are allowed', async () => {
    const context: PolicyContext = { protectedPorts: new Set([4567]) };
    const compiled = policy(
      { '*': 'allow', '127.0.0.1': 'allow', localhost: 'allow' },
      { allowLocalBinding: true },
    );
    const { resolve } = resolverOf({ 'self.example.com': ['127.0.0.1'] });
    for (const host of [
      '127.0.0.1',
      '127.9.9.9',
      'localhost',
      '0.0.0.0',
      '[::1]',
      '[::ffff:127.0.0.1]',
      'self.example.com',
      '2130706433',
    ]) {
      const outcome = await decideNetworkRequest(
        { host, port: 4567, protocol: 'http', method: 'GET' },
        compiled,
        context,
        resolve,
      );
      expect({ host, reason: outcome.denial?.reason, message: outcome.denial?.message }).toEqual({
        host,
        reason: 'not_allowed_local',
        message: 'Sandbox policy blocks connections to the proxy itself.',
      });
    }
    const other = await decideNetworkRequest(
      { host: '127.0.0.1', port: 4568, protocol: 'http', method: 'GET' },
      compiled,
      context,
      resolve,
    );
    expect(other.allowed).toBe(true);
  });
});

describe('compiling a policy', () => {
  function compileError(domains: Record<string, string>): string {
    try {
      compileNetworkPolicy({
        mode: 'full',
        domains: domains as Record<string, 'allow'>,
        allowLocalBinding: false,
      });
    } catch (error) {
      expect((error as { code: string }).code).toBe('EXEC_ERR_INVALID_ARGUMENT');
      return (error as Error).message;
    }
    throw new Error('expected an error');
  }

  it.each([
    ['', 'invalid network proxy config: domain pattern is empty'],
    ['  ', 'invalid network proxy config: domain pattern is empty'],
    [
      'ex*.com',
      'invalid network proxy config: domain pattern "ex*.com" is not supported: use an exact host, *.domain, **.domain or *',
    ],
    [
      '*example.com',
      'invalid network proxy config: domain pattern "*example.com" is not supported: use an exact host, *.domain, **.domain or *',
    ],
    [
      'api.*.com',
      'invalid network proxy config: domain pattern "api.*.com" is not supported: use an exact host, *.domain, **.domain or *',
    ],
    [
      'example.com:443',
      'invalid network proxy config: domain pattern "example.com:443" has a port: patterns name hosts only',
    ],
    [
      '*.10.0.0.1',
      'invalid network proxy config: domain pattern "*.10.0.0.1" puts a wildcard on an IP address',
    ],
    ['exa mple.com', 'invalid network proxy config: domain pattern "exa mple.com" is not a valid host'],
    ['[::1', 'invalid network proxy config: domain pattern "[::1" is not a valid host'],
  ])('refuses %j', (pattern, message) => {
    expect(compileError({ [pattern]: 'allow' })).toBe(message);
  });

  it('refuses a global deny with the reference text (leaving hosts out already denies them)', () => {
    expect(compileError({ 'example.com': 'allow', '*': 'deny' })).toBe(
      'invalid network proxy config: invalid value for network.denied_domains: * (allowed exact hosts or scoped wildcards like *.example.com or **.example.com)',
    );
  });

  it('normalizes what it keeps', () => {
    const compiled = compileNetworkPolicy({
      mode: 'limited',
      domains: { 'Example.COM.': 'allow', '[::1]': 'allow', '*.Evil.net': 'deny', 'x.org': 'none' },
      allowLocalBinding: false,
    });
    expect([...compiled.exactAllowed]).toEqual(['example.com', '::1']);
    expect(compiled.deny).toEqual([{ kind: 'subdomains', domain: 'evil.net' }]);
    expect(compiled.allow).toHaveLength(2);
  });
});
