import { describe, expect, it } from 'vitest';
import { isLoopback, parseListenUrl } from '../../../src/server/listen-url.js';
import { resolveServerOptions } from '../../../src/server/server-options.js';

describe('parseListenUrl', () => {
  it('accepts ws://IP:PORT for IPv4 and bracketed IPv6', () => {
    expect(parseListenUrl('ws://127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenUrl('ws://[::1]:8080')).toEqual({ host: '::1', port: 8080 });
  });

  it('refuses host names and other shapes with the reference text', () => {
    for (const url of [
      'ws://localhost:1234',
      'ws://127.0.0.1',
      'ws://127.0.0.1:70000',
      'ws://127.0.0.1:1/',
      'ws://::1:1',
    ]) {
      expect(() => parseListenUrl(url), url).toThrow(
        `invalid websocket --listen URL \`${url}\`; expected \`ws://IP:PORT\``,
      );
    }
  });

  it('refuses other schemes with the reference text', () => {
    for (const url of ['http://127.0.0.1:1234', 'stdio:/', 'STDIO', 'stdio://x', 'tcp://x']) {
      expect(() => parseListenUrl(url), url).toThrow(
        `unsupported --listen URL \`${url}\`; expected \`ws://IP:PORT\` or \`stdio\``,
      );
    }
  });

  it('accepts stdio and stdio://', () => {
    expect(parseListenUrl('stdio')).toEqual({ stdio: true });
    expect(parseListenUrl('stdio://')).toEqual({ stdio: true });
  });
});

describe('loopback rule', () => {
  it('knows loopback addresses', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.1.2.3')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('0.0.0.0')).toBe(false);
    expect(isLoopback('10.0.0.1')).toBe(false);
    expect(isLoopback('::')).toBe(false);
  });

  it('refuses a non-loopback address without a token', () => {
    expect(() => resolveServerOptions({ listen: 'ws://0.0.0.0:0' })).toThrow(/without a token/);
    expect(resolveServerOptions({ listen: 'ws://0.0.0.0:0', token: 't' }).token).toBe('t');
  });
});
