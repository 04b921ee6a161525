/**
 * The environment a managed-network child sees: the proxy, in every variable common tools look
 * for, exactly as the reference server (codex 0.171.0) sets them. These override the request's
 * env: a request cannot point its process around the proxy by sending its own `HTTP_PROXY` or
 * `NO_PROXY`.
 *
 * Here HTTP and SOCKS5 share one port (the proxy tells them apart by the first byte), so both
 * URLs name the same port.
 */

export interface ProxyEnvOptions {
  /** SOCKS5 enabled: `ALL_PROXY` and `FTP_PROXY` are `socks5h://` URLs, else the HTTP URL. */
  readonly socks5: boolean;
  /** `allowLocalBinding`: local and private targets bypass the proxy (`NO_PROXY`), else nothing does. */
  readonly allowLocalBinding: boolean;
  /** The address the child reaches the proxy at. Default `127.0.0.1`. */
  readonly host?: string;
}

const HTTP_URL_KEYS = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'http_proxy',
  'https_proxy',
  'YARN_HTTP_PROXY',
  'YARN_HTTPS_PROXY',
  'npm_config_http_proxy',
  'npm_config_https_proxy',
  'npm_config_proxy',
  'NPM_CONFIG_HTTP_PROXY',
  'NPM_CONFIG_HTTPS_PROXY',
  'NPM_CONFIG_PROXY',
  'BUNDLE_HTTP_PROXY',
  'BUNDLE_HTTPS_PROXY',
  'PIP_PROXY',
  'DOCKER_HTTP_PROXY',
  'DOCKER_HTTPS_PROXY',
  // WebSocket clients that look for their own variables.
  'WS_PROXY',
  'WSS_PROXY',
  'ws_proxy',
  'wss_proxy',
] as const;

const ALL_PROXY_KEYS = ['ALL_PROXY', 'all_proxy', 'FTP_PROXY', 'ftp_proxy'] as const;

/** The reference sets these five (not `YARN_NO_PROXY`). */
export const NO_PROXY_KEYS = [
  'NO_PROXY',
  'no_proxy',
  'npm_config_noproxy',
  'NPM_CONFIG_NOPROXY',
  'BUNDLE_NO_PROXY',
] as const;

/** What `NO_PROXY` holds when local binding is allowed (the reference's value). */
export const LOCAL_NO_PROXY = 'localhost,127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16';

/** Every variable `proxyEnv` sets, for tests and for stripping them again. */
export const PROXY_ENV_KEYS: readonly string[] = Object.freeze([
  ...HTTP_URL_KEYS,
  ...ALL_PROXY_KEYS,
  ...NO_PROXY_KEYS,
  'NODE_USE_ENV_PROXY',
  'ELECTRON_GET_USE_PROXY',
  'CODEX_NETWORK_PROXY_ACTIVE',
  'CODEX_NETWORK_ALLOW_LOCAL_BINDING',
]);

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The variables to lay over the request's env for a proxy at `host:port`. */
export function proxyEnv(port: number, options: ProxyEnvOptions): Record<string, string> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`proxy port must be an integer from 1 to 65535, got ${String(port)}`);
  }
  const authority = `${formatHost(options.host ?? '127.0.0.1')}:${port}`;
  const httpUrl = `http://${authority}`;
  const allUrl = options.socks5 ? `socks5h://${authority}` : httpUrl;
  const noProxy = options.allowLocalBinding ? LOCAL_NO_PROXY : '';
  const env: Record<string, string> = {
    CODEX_NETWORK_PROXY_ACTIVE: '1',
    CODEX_NETWORK_ALLOW_LOCAL_BINDING: options.allowLocalBinding ? '1' : '0',
  };
  for (const key of HTTP_URL_KEYS) env[key] = httpUrl;
  for (const key of NO_PROXY_KEYS) env[key] = noProxy;
  env.ELECTRON_GET_USE_PROXY = 'true';
  // Node's built-in fetch and http honour the proxy variables only with this set.
  env.NODE_USE_ENV_PROXY = '1';
  for (const key of ALL_PROXY_KEYS) env[key] = allUrl;
  return env;
}

/** The request's env with the proxy variables laid over it (they win). */
export function applyProxyEnv(
  env: Readonly<Record<string, string>>,
  port: number,
  options: ProxyEnvOptions,
): Record<string, string> {
  return { ...env, ...proxyEnv(port, options) };
}
