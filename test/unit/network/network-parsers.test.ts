/**
 * The byte- and text-level parsers of the managed network: IP literals, SOCKS5 frames, the bridge
 * preamble and HTTP request targets. Hostile inputs next to the happy path.
 */
import { describe, expect, it } from 'vitest';
import {
  formatIp,
  isNonPublicAddress,
  parseIPv4,
  parseIPv6,
  parseIpLiteral,
  parseLegacyIPv4,
  reachesThisHost,
} from '../../../src/network/address.js';
import { endToEndHeaders, parseAuthority, parseHttpTarget } from '../../../src/network/http-target.js';
import { formatPreamble, parsePreamble } from '../../../src/network/preamble.js';
import { parseGreeting, parseRequest, socksReply, SocksReply } from '../../../src/network/socks5.js';

const text = (address: ReturnType<typeof parseIpLiteral>) => (address === null ? null : formatIp(address));

describe('IP literals', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['FE80::1', 'fe80::1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['::ffff:7f00:1', '::ffff:127.0.0.1'],
    ['::FFFF:127.0.0.1', '::ffff:127.0.0.1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::', '::'],
  ])('%s is %s', (input, canonical) => {
    expect(text(parseIpLiteral(input))).toBe(canonical);
  });

  it.each([
    '0177.0.0.1',
    '127.1',
    '0x7f000001',
    '2130706433',
    '256.0.0.1',
    '1.2.3.4.5',
    '1.2.3',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '',
    ':::',
    '1::2::3',
    '12345::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1.2.3.4.5',
    '::ffff:1.2.3',
    '1.2.3.4::',
    'fe80::1%',
    'fe80::1%eth 0',
    'g::1',
  ])('%j is not a strict literal', (input) => {
    expect(parseIpLiteral(input)).toBeNull();
  });

  it.each([
    ['127.1', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0X7F000001', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['10.0x10.1', '10.16.0.1'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['4294967295', '255.255.255.255'],
  ])('the legacy form %s is %s', (input, canonical) => {
    const parsed = parseLegacyIPv4(input);
    expect(parsed === null ? null : formatIp(parsed)).toBe(canonical);
  });

  it.each(['4294967296', '1.2.3.4.5', '256.1', '1.256.1', '09', '0x1g', '1..2', 'example.com', '-1', '1e3'])(
    'the legacy parser refuses %j',
    (input) => {
      expect(parseLegacyIPv4(input)).toBeNull();
    },
  );

  it.each([
    ['8.8.8.8', false],
    ['1.1.1.1', false],
    ['172.15.255.255', false],
    ['172.32.0.0', false],
    ['100.63.255.255', false],
    ['100.128.0.0', false],
    ['169.253.255.255', false],
    ['127.0.0.1', true],
    ['127.255.255.255', true],
    ['10.0.0.0', true],
    ['172.16.0.0', true],
    ['192.168.255.255', true],
    ['169.254.169.254', true],
    ['100.64.0.0', true],
    ['0.1.2.3', true],
    ['192.0.2.1', true],
    ['198.18.0.1', true],
    ['224.0.0.251', true],
    ['240.0.0.1', true],
    ['2606:4700::1111', false],
    ['2001:4860:4860::8888', false],
    ['::ffff:8.8.8.8', false],
    ['2002:808:808::', false],
    ['::1', true],
    ['::', true],
    ['fc00::1', true],
    ['fdff:ffff::1', true],
    ['fe80::1', true],
    ['febf::1', true],
    ['fec0::1', true],
    ['ff02::1', true],
    ['2001:db8::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:192.168.0.1', true],
    ['::127.0.0.1', true],
    ['64:ff9b::7f00:1', true],
    ['64:ff9b:1::1', true],
    ['2002:a00:1::', true],
    ['100::1', true],
  ])('%s non-public: %s', (input, nonPublic) => {
    expect(isNonPublicAddress(parseIpLiteral(input)!)).toBe(nonPublic);
  });

  it('knows which addresses reach this host', () => {
    for (const input of [
      '127.0.0.1',
      '127.8.8.8',
      '0.0.0.0',
      '::1',
      '::',
      '::ffff:127.0.0.1',
      '::ffff:0.0.0.0',
    ]) {
      expect([input, reachesThisHost(parseIpLiteral(input)!)]).toEqual([input, true]);
    }
    for (const input of ['10.0.0.1', '8.8.8.8', 'fe80::1', '::2']) {
      expect([input, reachesThisHost(parseIpLiteral(input)!)]).toEqual([input, false]);
    }
  });

  it('keeps v4 and v6 parsers apart', () => {
    expect(parseIPv4('::1')).toBeNull();
    expect(parseIPv6('127.0.0.1')).toBeNull();
  });
});

describe('SOCKS5 frames', () => {
  it('reads a greeting, byte by byte', () => {
    const greeting = Uint8Array.from([5, 2, 2, 0]);
    for (let length = 0; length < greeting.length; length++) {
      expect(parseGreeting(greeting.subarray(0, length)).status).toBe('incomplete');
    }
    expect(parseGreeting(greeting)).toEqual({ status: 'ok', value: { noAuthOffered: true }, consumed: 4 });
    expect(parseGreeting(Uint8Array.from([5, 1, 2]))).toEqual({
      status: 'ok',
      value: { noAuthOffered: false },
      consumed: 3,
    });
  });

  it('refuses other versions and empty method lists', () => {
    expect(parseGreeting(Uint8Array.from([4, 1, 0])).status).toBe('invalid');
    expect(parseGreeting(Uint8Array.from([5, 0])).status).toBe('invalid');
  });

  it('reads CONNECT requests of each address type', () => {
    expect(parseRequest(Uint8Array.from([5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90, 0xaa]))).toEqual({
      status: 'ok',
      value: { command: 1, addressType: 1, host: '127.0.0.1', port: 8080 },
      consumed: 10,
    });
    const name = Buffer.from('example.com');
    expect(parseRequest(Uint8Array.from([5, 1, 0, 3, name.length, ...name, 0, 80]))).toEqual({
      status: 'ok',
      value: { command: 1, addressType: 3, host: 'example.com', port: 80 },
      consumed: 5 + name.length + 2,
    });
    const v6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(parseRequest(Uint8Array.from([5, 1, 0, 4, ...v6, 1, 187]))).toMatchObject({
      status: 'ok',
      value: { addressType: 4, host: '::1', port: 443 },
    });
  });

  it('waits for a whole request and refuses bad address types', () => {
    expect(parseRequest(Uint8Array.from([5, 1, 0, 3, 20, 97])).status).toBe('incomplete');
    expect(parseRequest(Uint8Array.from([5, 1, 0, 9, 0, 0]))).toMatchObject({
      status: 'invalid',
      reply: SocksReply.ADDRESS_TYPE_NOT_SUPPORTED,
    });
    expect(parseRequest(Uint8Array.from([5, 1, 0, 3, 0, 0, 80]))).toMatchObject({ status: 'invalid' });
  });

  it('passes a hostile domain name through as text for the policy to refuse', () => {
    const name = Buffer.from('evil.com\u0000.allowed.com');
    const parsed = parseRequest(Uint8Array.from([5, 1, 0, 3, name.length, ...name, 0, 80]));
    expect(parsed.status === 'ok' && parsed.value.host).toBe('evil.com\u0000.allowed.com');
  });

  it('writes replies with IPv4, IPv6 or no bound address', () => {
    expect([...socksReply(SocksReply.SUCCEEDED, { address: '127.0.0.1', port: 1080 })]).toEqual([
      5, 0, 0, 1, 127, 0, 0, 1, 4, 56,
    ]);
    expect([...socksReply(SocksReply.NOT_ALLOWED)]).toEqual([5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    const v6 = socksReply(SocksReply.SUCCEEDED, { address: '::1', port: 1 });
    expect(v6.length).toBe(22);
    expect(v6[3]).toBe(4);
    expect(v6[19]).toBe(1);
  });
});

describe('the bridge preamble', () => {
  const token = '0123456789abcdef0123456789abcdef';

  it('round-trips, with and without a client address', () => {
    const line = formatPreamble(token, '127.0.0.1:40000');
    expect(line).toBe(`EXECVISOR-NET/1 ${token} 127.0.0.1:40000\n`);
    const withClient = Buffer.from(`${line}GET / HTTP/1.1\r\n`);
    expect(parsePreamble(withClient)).toEqual({
      status: 'ok',
      token,
      client: '127.0.0.1:40000',
      consumed: line.length,
    });
    expect(parsePreamble(Buffer.from(formatPreamble(token)))).toMatchObject({
      status: 'ok',
      token,
      client: null,
    });
  });

  it('waits for the newline, but not forever', () => {
    expect(parsePreamble(Buffer.from('EXECVISOR-NET/1 0123')).status).toBe('incomplete');
    expect(parsePreamble(Buffer.alloc(300, 0x41)).status).toBe('invalid');
  });

  it.each([
    'GET / HTTP/1.1\n',
    `EXECVISOR-NET/2 ${token}\n`,
    `EXECVISOR-NET/1 ${token.toUpperCase()}\n`,
    `EXECVISOR-NET/1 ${token.slice(1)}\n`,
    `EXECVISOR-NET/1 ${token} 127.0.0.1:1 extra\n`,
    `EXECVISOR-NET/1 ${token} a"b\n`,
    `EXECVISOR-NET/1  ${token}\n`,
  ])('refuses %j', (line) => {
    expect(parsePreamble(Buffer.from(line)).status).toBe('invalid');
  });
});

describe('HTTP request targets', () => {
  it.each([
    ['http://example.com/a?b=c', 'example.com', 'example.com', 80, '/a?b=c'],
    ['http://example.com', 'example.com', 'example.com', 80, '/'],
    ['http://example.com?x', 'example.com', 'example.com', 80, '/?x'],
    ['http://example.com:8080/', 'example.com:8080', 'example.com', 8080, '/'],
    ['HTTP://Example.com:80/#frag', 'example.com', 'Example.com', 80, '/'],
    ['http://[::1]:3000/x', '[::1]:3000', '[::1]', 3000, '/x'],
    ['http://user:pw@example.com/', 'example.com', 'example.com', 80, '/'],
    ['http://0x7f000001:81/', '0x7f000001:81', '0x7f000001', 81, '/'],
    ['/relative', 'example.com:81', 'example.com', 81, '/relative'],
  ])('%s (Host %s) goes to %s:%d%s', (url, hostHeader, host, port, path) => {
    expect(parseHttpTarget(url, hostHeader)).toMatchObject({ ok: true, target: { host, port, path } });
  });

  it('takes the host after the last @, so userinfo cannot smuggle a second host', () => {
    expect(parseHttpTarget('http://allowed.com@evil.net/', undefined)).toMatchObject({
      ok: true,
      target: { host: 'evil.net' },
    });
  });

  it.each([
    ['http://example.com/', 'other.com', 'Host header does not match request target'],
    ['http://example.com:8080/', 'example.com', 'Host header does not match request target'],
    ['http://example.com/', 'example.com:x', 'invalid Host header'],
    ['https://example.com/', 'example.com', 'only http:// targets are forwarded; use CONNECT for https'],
    ['ftp://example.com/', undefined, 'only http:// targets are forwarded; use CONNECT for ftp'],
    ['example.com/', undefined, 'invalid request target'],
    ['/relative', undefined, 'missing Host header'],
    ['http://exa mple.com/', undefined, 'invalid request target'],
    ['http://example.com:0/', undefined, 'invalid request target'],
    ['http://example.com:65536/', undefined, 'invalid request target'],
    ['http://::1/', undefined, 'invalid request target'],
    ['http:///path', undefined, 'invalid request target'],
  ])('refuses %s with Host %j: %s', (url, hostHeader, message) => {
    expect(parseHttpTarget(url, hostHeader)).toEqual({ ok: false, status: 400, message });
  });

  it('parses CONNECT authorities, which need a port', () => {
    expect(parseAuthority('example.com:443', null)).toEqual({ host: 'example.com', port: 443 });
    expect(parseAuthority('[2001:db8::1]:443', null)).toEqual({ host: '[2001:db8::1]', port: 443 });
    expect(parseAuthority('example.com', null)).toBeNull();
    expect(parseAuthority('example.com:+1', null)).toBeNull();
    expect(parseAuthority('[::1]x:443', null)).toBeNull();
  });

  it('drops hop-by-hop headers and those Connection names', () => {
    const raw = [
      'Host',
      'a',
      'Proxy-Authorization',
      'Basic x',
      'Proxy-Connection',
      'keep-alive',
      'Connection',
      'close, X-Drop',
      'X-Drop',
      '1',
      'X-Keep',
      '2',
      'TE',
      'trailers',
      'Transfer-Encoding',
      'chunked',
      'Keep-Alive',
      '5',
      'Upgrade',
      'h2c',
    ];
    expect(endToEndHeaders(raw)).toEqual(['Host', 'a', 'X-Keep', '2']);
    expect(
      endToEndHeaders(['Connection', 'Upgrade', 'Upgrade', 'websocket'], new Set(['connection', 'upgrade'])),
    ).toEqual(['Connection', 'Upgrade', 'Upgrade', 'websocket']);
  });
});
