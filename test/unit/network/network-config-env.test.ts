/**
 * The wire members (`networkProxy`, `managedNetwork`), the child's proxy environment, decision
 * records and counters, and the `sandboxDenied` classification.
 */
import { describe, expect, it } from 'vitest';
import {
  applyProxyEnv,
  classifySandboxDenied,
  DecisionCounters,
  decisionRecord,
  DenialLog,
  parseManagedNetworkContext,
  parseNetworkProxyLaunchConfig,
  planManagedNetwork,
  PROXY_ENV_KEYS,
  proxyEnv,
  type SandboxDenialInput,
} from '../../../src/network/index.js';

const proxy = {
  enabled: true,
  enableSocks5: true,
  enableSocks5Udp: false,
  allowUpstreamProxy: false,
  dangerouslyAllowAllUnixSockets: false,
  mode: 'full',
  domains: { 'example.com': 'allow', '*.evil.net': 'deny' },
  unixSockets: null,
  allowLocalBinding: false,
};

function errorOf(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('expected an error');
}

describe('networkProxy', () => {
  it('parses the upstream shape, every member', () => {
    const config = parseNetworkProxyLaunchConfig({
      proxy,
      policyDecisionTimeoutMs: 2500,
      auditMetadata: { sessionId: 's' },
      environmentId: 'env',
      executionId: 'exec',
      somethingNewer: true,
    });
    expect(config).toMatchObject({
      proxy: { ...proxy },
      policyDecisionTimeoutMs: 2500,
      auditMetadata: { sessionId: 's' },
      environmentId: 'env',
      executionId: 'exec',
    });
    expect([...config!.policy.exactAllowed]).toEqual(['example.com']);
  });

  it('is absent when absent or null', () => {
    expect(parseNetworkProxyLaunchConfig(undefined)).toBeNull();
    expect(parseNetworkProxyLaunchConfig(null)).toBeNull();
  });

  it('accepts absent or null domains and unixSockets', () => {
    const { domains: _domains, unixSockets: _unix, ...rest } = proxy;
    expect(parseNetworkProxyLaunchConfig({ proxy: rest })?.proxy.domains).toBeNull();
    expect(parseNetworkProxyLaunchConfig({ proxy: { ...rest, domains: null } })?.policy.allow).toEqual([]);
  });

  it.each([
    [{}, 'invalid network proxy config: networkProxy: missing field `proxy`'],
    [[], 'invalid network proxy config: networkProxy: invalid type: sequence, expected a map'],
    [
      { proxy: 'on' },
      'invalid network proxy config: networkProxy.proxy: invalid type: string "on", expected a map',
    ],
    [
      { proxy: { enabled: true, domains: {} } },
      'invalid network proxy config: networkProxy.proxy: missing field `enableSocks5`',
    ],
    [
      { proxy: { ...proxy, enabled: 'yes' } },
      'invalid network proxy config: networkProxy.proxy.enabled: invalid type: string "yes", expected a boolean',
    ],
    [
      { proxy: { ...proxy, enabled: false } },
      'invalid network proxy config: executor-local network proxy launch requires an enabled proxy',
    ],
    [
      { proxy: { ...proxy, mode: 'bogus' } },
      'invalid network proxy config: networkProxy.proxy.mode: unknown variant `bogus`, expected `limited` or `full`',
    ],
    [
      { proxy: { ...proxy, mode: undefined } },
      'invalid network proxy config: networkProxy.proxy: missing field `mode`',
    ],
    [
      { proxy: { ...proxy, domains: { 'example.com': 'ask' } } },
      'invalid network proxy config: networkProxy.proxy.domains["example.com"]: unknown variant `ask`, expected one of `none`, `allow`, `deny`',
    ],
    [
      { proxy: { ...proxy, domains: { 'example.com': true } } },
      'invalid network proxy config: networkProxy.proxy.domains["example.com"]: invalid type: boolean `true`, expected variant identifier',
    ],
    [
      { proxy: { ...proxy, domains: ['example.com'] } },
      'invalid network proxy config: networkProxy.proxy.domains: invalid type: sequence, expected a map',
    ],
    [
      { proxy: { ...proxy, domains: { '': 'allow' } } },
      'invalid network proxy config: domain pattern is empty',
    ],
    [
      { proxy, policyDecisionTimeoutMs: -1 },
      'invalid network proxy config: networkProxy.policyDecisionTimeoutMs: invalid type: integer `-1`, expected u64',
    ],
    [
      { proxy, environmentId: 7 },
      'invalid network proxy config: networkProxy.environmentId: invalid type: integer `7`, expected a string',
    ],
  ])('refuses %j', (value, message) => {
    expect(errorOf(() => parseNetworkProxyLaunchConfig(value))).toEqual({
      code: 'EXEC_ERR_INVALID_ARGUMENT',
      message,
    });
  });

  it('refuses a config with more domain entries than the bound', () => {
    const domains = Object.fromEntries(
      Array.from({ length: 4097 }, (_, index) => [`h${index}.example.com`, 'allow']),
    );
    expect(errorOf(() => parseNetworkProxyLaunchConfig({ proxy: { ...proxy, domains } })).message).toBe(
      'invalid network proxy config: networkProxy.proxy.domains: more than 4096 entries',
    );
  });
});

describe('managedNetwork and the plan', () => {
  it('parses loopbackPorts and allowLocalBinding', () => {
    expect(parseManagedNetworkContext({ loopbackPorts: [3128, 8081], allowLocalBinding: true })).toEqual({
      loopbackPorts: [3128, 8081],
      allowLocalBinding: true,
    });
    expect(parseManagedNetworkContext({})).toEqual({ loopbackPorts: [], allowLocalBinding: false });
    expect(parseManagedNetworkContext(null)).toBeNull();
  });

  it.each([
    [
      { loopbackPorts: [70000] },
      'invalid network proxy config: managedNetwork.loopbackPorts[0]: invalid value: integer `70000`, expected u16',
    ],
    [
      { loopbackPorts: '3128' },
      'invalid network proxy config: managedNetwork.loopbackPorts: invalid type: string "3128", expected a sequence',
    ],
    [
      { allowLocalBinding: 1 },
      'invalid network proxy config: managedNetwork.allowLocalBinding: invalid type: integer `1`, expected a boolean',
    ],
  ])('refuses %j', (value, message) => {
    expect(errorOf(() => parseManagedNetworkContext(value)).message).toBe(message);
  });

  it('fails closed: enforced without a proxy config is no network at all', () => {
    expect(planManagedNetwork({ enforceManagedNetwork: true, networkProxy: null })).toEqual({
      kind: 'blocked',
    });
    expect(planManagedNetwork({ enforceManagedNetwork: false, networkProxy: null })).toEqual({
      kind: 'none',
    });
    const config = parseNetworkProxyLaunchConfig({ proxy })!;
    expect(planManagedNetwork({ enforceManagedNetwork: true, networkProxy: config })).toEqual({
      kind: 'proxied',
      config,
    });
  });

  it('a proxy config that is not enforced is advisory (the variables only), as in the reference', () => {
    const config = parseNetworkProxyLaunchConfig({ proxy })!;
    expect(planManagedNetwork({ enforceManagedNetwork: false, networkProxy: config })).toEqual({
      kind: 'advisory',
      config,
    });
  });
});

describe('proxyEnv', () => {
  // The variables codex exec-server 0.171.0 set for a process with a managed proxy (probed), with
  // its two ports folded into our one.
  const reference = {
    ALL_PROXY: 'socks5h://127.0.0.1:4000',
    BUNDLE_HTTPS_PROXY: 'http://127.0.0.1:4000',
    BUNDLE_HTTP_PROXY: 'http://127.0.0.1:4000',
    BUNDLE_NO_PROXY: '',
    CODEX_NETWORK_ALLOW_LOCAL_BINDING: '0',
    CODEX_NETWORK_PROXY_ACTIVE: '1',
    DOCKER_HTTPS_PROXY: 'http://127.0.0.1:4000',
    DOCKER_HTTP_PROXY: 'http://127.0.0.1:4000',
    ELECTRON_GET_USE_PROXY: 'true',
    FTP_PROXY: 'socks5h://127.0.0.1:4000',
    HTTPS_PROXY: 'http://127.0.0.1:4000',
    HTTP_PROXY: 'http://127.0.0.1:4000',
    NODE_USE_ENV_PROXY: '1',
    NO_PROXY: '',
    NPM_CONFIG_HTTPS_PROXY: 'http://127.0.0.1:4000',
    NPM_CONFIG_HTTP_PROXY: 'http://127.0.0.1:4000',
    NPM_CONFIG_NOPROXY: '',
    NPM_CONFIG_PROXY: 'http://127.0.0.1:4000',
    PIP_PROXY: 'http://127.0.0.1:4000',
    WSS_PROXY: 'http://127.0.0.1:4000',
    WS_PROXY: 'http://127.0.0.1:4000',
    YARN_HTTPS_PROXY: 'http://127.0.0.1:4000',
    YARN_HTTP_PROXY: 'http://127.0.0.1:4000',
    all_proxy: 'socks5h://127.0.0.1:4000',
    ftp_proxy: 'socks5h://127.0.0.1:4000',
    http_proxy: 'http://127.0.0.1:4000',
    https_proxy: 'http://127.0.0.1:4000',
    no_proxy: '',
    npm_config_http_proxy: 'http://127.0.0.1:4000',
    npm_config_https_proxy: 'http://127.0.0.1:4000',
    npm_config_noproxy: '',
    npm_config_proxy: 'http://127.0.0.1:4000',
    ws_proxy: 'http://127.0.0.1:4000',
    wss_proxy: 'http://127.0.0.1:4000',
  };

  it('sets exactly what the reference sets', () => {
    expect(proxyEnv(4000, { socks5: true, allowLocalBinding: false })).toEqual(reference);
    expect([...PROXY_ENV_KEYS].sort()).toEqual(Object.keys(reference).sort());
  });

  it('without SOCKS5, ALL_PROXY and FTP_PROXY are the HTTP proxy', () => {
    const env = proxyEnv(4000, { socks5: false, allowLocalBinding: false });
    for (const key of ['ALL_PROXY', 'all_proxy', 'FTP_PROXY', 'ftp_proxy'])
      expect(env[key]).toBe('http://127.0.0.1:4000');
  });

  it('with allowLocalBinding, local and private targets bypass the proxy', () => {
    const env = proxyEnv(4000, { socks5: true, allowLocalBinding: true });
    for (const key of [
      'NO_PROXY',
      'no_proxy',
      'npm_config_noproxy',
      'NPM_CONFIG_NOPROXY',
      'BUNDLE_NO_PROXY',
    ]) {
      expect(env[key]).toBe('localhost,127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16');
    }
    expect(env.CODEX_NETWORK_ALLOW_LOCAL_BINDING).toBe('1');
  });

  it('overrides what the request said, keeps the rest', () => {
    const env = applyProxyEnv(
      {
        PATH: '/bin',
        HTTP_PROXY: 'http://evil:1',
        no_proxy: '*',
        NO_PROXY: '*',
        https_proxy: '',
        NODE_USE_ENV_PROXY: '0',
      },
      4000,
      { socks5: true, allowLocalBinding: false },
    );
    expect(env).toMatchObject({
      PATH: '/bin',
      HTTP_PROXY: 'http://127.0.0.1:4000',
      no_proxy: '',
      NO_PROXY: '',
    });
    expect(env.https_proxy).toBe('http://127.0.0.1:4000');
    expect(env.NODE_USE_ENV_PROXY).toBe('1');
  });

  it('brackets an IPv6 proxy host and refuses a bad port', () => {
    expect(proxyEnv(4000, { socks5: true, allowLocalBinding: false, host: '::1' }).HTTP_PROXY).toBe(
      'http://[::1]:4000',
    );
    expect(() => proxyEnv(0, { socks5: true, allowLocalBinding: false })).toThrow(RangeError);
    expect(() => proxyEnv(70000, { socks5: true, allowLocalBinding: false })).toThrow(RangeError);
  });
});

describe('decision records', () => {
  const step = {
    scope: 'domain',
    decision: 'deny',
    source: 'baseline_policy',
    reason: 'not_allowed',
  } as const;

  it('have the reference member order, method and client when known', () => {
    const record = decisionRecord(step, {
      processId: 'p1',
      protocol: 'http',
      host: 'example.org',
      port: 80,
      method: 'GET',
      client: '127.0.0.1:51694',
      nowMs: Date.UTC(2026, 10, 30, 21, 13, 11, 515),
    });
    // As codex 0.171.0 sent it (probed): `network/policyDecision` params.
    expect(JSON.stringify(record)).toBe(
      '{"processId":"p1","timestamp":"2026-11-30T21:13:11.515Z","scope":"domain","decision":"deny","source":"baseline_policy","reason":"not_allowed","protocol":"http","host":"example.org","port":80,"method":"GET","client":"127.0.0.1:51694","policyOverride":false}',
    );
  });

  it('leave method out for SOCKS5 and client out when unknown', () => {
    const record = decisionRecord(step, {
      processId: 'p1',
      protocol: 'socks5_tcp',
      host: 'localhost',
      port: 35189,
      method: null,
      client: null,
      nowMs: 0,
    });
    expect(Object.keys(record)).toEqual([
      'processId',
      'timestamp',
      'scope',
      'decision',
      'source',
      'reason',
      'protocol',
      'host',
      'port',
      'policyOverride',
    ]);
  });

  it('are counted by decision and reason, for the metrics code', () => {
    const counters = new DecisionCounters();
    const seen: string[] = [];
    const stop = counters.onRecord((decision, reason) => seen.push(`${decision}/${reason}`));
    counters.record('deny', 'not_allowed');
    counters.record('allow', 'allow');
    counters.record('deny', 'not_allowed');
    stop();
    counters.record('deny', 'denied');
    expect(counters.snapshot()).toEqual([
      { decision: 'allow', reason: 'allow', count: 1 },
      { decision: 'deny', reason: 'denied', count: 1 },
      { decision: 'deny', reason: 'not_allowed', count: 2 },
    ]);
    expect(seen).toEqual(['deny/not_allowed', 'allow/allow', 'deny/not_allowed']);
  });

  it('keep only denials, and only the most recent ones', () => {
    const log = new DenialLog(2);
    const record = (host: string, decision: 'allow' | 'deny') =>
      decisionRecord(
        { ...step, decision },
        { processId: 'p', protocol: 'http', host, port: 80, method: 'GET', client: null, nowMs: 0 },
      );
    log.add(record('a', 'deny'));
    log.add(record('b', 'allow'));
    log.add(record('c', 'deny'));
    log.add(record('d', 'deny'));
    expect(log.entries().map((entry) => entry.host)).toEqual(['c', 'd']);
    expect(log.total).toBe(3);
  });
});

describe('sandboxDenied', () => {
  /** The classifier's input with the output tail as text. */
  type Case = Omit<SandboxDenialInput, 'outputTail'> & { outputTail: string };
  const base: Case = {
    sandboxType: 'linux-seccomp',
    managedNetwork: false,
    exitCode: 1,
    proxyDenials: 0,
    outputTail: '',
  };

  it.each<[string, Partial<Case>, boolean]>([
    ['exit 0 is never a denial', { exitCode: 0, outputTail: 'Permission denied' }, false],
    ['still running is never a denial', { exitCode: null, outputTail: 'Permission denied' }, false],
    ['EPERM text', { outputTail: 'touch: cannot touch x: Operation not permitted' }, true],
    ['EACCES text', { outputTail: 'bash: /etc/shadow: Permission denied\n' }, true],
    ['EROFS text', { outputTail: 'cp: cannot create regular file: Read-only file system' }, true],
    ['the word seccomp', { outputTail: 'killed by SECCOMP' }, true],
    [
      'the word sandbox, in any case',
      { outputTail: 'bwrap: execvp codex-linux-sandbox: No such file' },
      true,
    ],
    ['landlock', { outputTail: 'Landlock: restricted' }, true],
    ['failed to write file', { outputTail: 'error: failed to write file x' }, true],
    ['a keyword wins over exit 127', { exitCode: 127, outputTail: 'sh: x: Permission denied' }, true],
    ['command not found is not a denial', { exitCode: 127, outputTail: 'sh: 1: nope: not found' }, false],
    ['exit 2 is not a denial', { exitCode: 2 }, false],
    ['exit 126 is not a denial', { exitCode: 126 }, false],
    ['a seccomp kill (SIGSYS) under linux-seccomp', { exitCode: 159 }, true],
    ['SIGSYS under seatbelt is not seccomp', { sandboxType: 'macos-seatbelt', exitCode: 159 }, false],
    ['a plain failure', { exitCode: 1, outputTail: 'assertion failed' }, false],
    ['SIGKILL is not a denial', { exitCode: 137 }, false],
    [
      'no sandbox: output signs do not count',
      { sandboxType: 'none', outputTail: 'Permission denied' },
      false,
    ],
    ['a proxy denial and a failure', { managedNetwork: true, proxyDenials: 1, exitCode: 22 }, true],
    [
      'a proxy denial without an OS sandbox',
      { sandboxType: 'none', managedNetwork: true, proxyDenials: 3, exitCode: 7 },
      true,
    ],
    ['a proxy denial, yet success', { managedNetwork: true, proxyDenials: 1, exitCode: 0 }, false],
    ['managed network without denials', { sandboxType: 'none', managedNetwork: true, exitCode: 1 }, false],
  ])('%s', (_name, input, expected) => {
    const { outputTail, ...rest } = { ...base, ...input };
    expect(classifySandboxDenied({ ...rest, outputTail: () => outputTail })).toBe(expected);
  });
});
