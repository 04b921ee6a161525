import { describe, expect, it } from 'vitest';
import { parseHostPort, resolvePoolOptions, wsUrlOf } from '../../../src/client/pool-options.js';

describe('resolvePoolOptions', () => {
  it('fills the defaults', () => {
    const resolved = resolvePoolOptions({
      servers: ['ws://127.0.0.1:1', 'ws://127.0.0.1:1', 'ws://127.0.0.1:2'],
    });
    expect(resolved).toMatchObject({
      source: { kind: 'static', urls: ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'] },
      token: null,
      clientName: 'execvisor-pool',
      connectTimeoutMs: 10_000,
      healthIntervalMs: 2_000,
      reconnectWithinMs: null,
      closeTimeoutMs: 5_000,
    });
    expect(resolvePoolOptions({ servers: { dns: 'execvisor.agents.svc:8765' } }).source).toMatchObject({
      kind: 'dns',
      host: 'execvisor.agents.svc',
      port: 8765,
      refreshMs: 5_000,
    });
  });

  it('refuses bad options with a message that names the option and shows the value', () => {
    const cases: [unknown, RegExp][] = [
      [{ servers: [] }, /servers must name at least one server/],
      [{ servers: ['http://x:1'] }, /servers must be ws:\/\/IP:PORT .* got "http:\/\/x:1"/],
      [{ servers: 'ws://x:1' }, /servers must be a list of URLs or \{dns/],
      [{ servers: { dns: 'no-port' } }, /servers.dns must be name:port .* got "no-port"/],
      [{ servers: { dns: 'x:70000' } }, /servers.dns must be name:port/],
      [{ servers: { dns: 'x:1', refreshMs: 0 } }, /servers.refreshMs must be an integer from 10/],
      [{ servers: ['ws://x:1'], healthIntervalMs: 1.5 }, /healthIntervalMs must be an integer/],
      [{ servers: ['ws://x:1'], token: '' }, /token must be a non-empty string/],
      [{ servers: ['ws://x:1'], resolver: 'dns' }, /resolver must be a function/],
      [null, /options must be an object, got null/],
    ];
    for (const [options, message] of cases) {
      expect(() => resolvePoolOptions(options as never), String(message)).toThrow(message);
      try {
        resolvePoolOptions(options as never);
      } catch (error) {
        expect((error as { code: string }).code).toBe('EXEC_ERR_INVALID_ARGUMENT');
      }
    }
  });
});

describe('server addresses', () => {
  it('reads name:port, with an IPv6 address in brackets', () => {
    expect(parseHostPort('svc.ns:8765')).toEqual({ host: 'svc.ns', port: 8765 });
    expect(parseHostPort('[fd00::1]:80')).toEqual({ host: 'fd00::1', port: 80 });
    expect(wsUrlOf('fd00::1', 80)).toBe('ws://[fd00::1]:80');
    expect(wsUrlOf('10.1.2.3', 8765)).toBe('ws://10.1.2.3:8765');
  });
});
