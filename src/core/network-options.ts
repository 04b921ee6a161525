/**
 * The managed-network members of a start as callers write them, typed as upstream serializes them
 * (`RemoteNetworkProxyLaunchConfig`, `ManagedNetworkSandboxContext`), so the in-process API and
 * the wire take the same objects. Validated at run time (`src/network/config.ts`) as well, since
 * JSON from the wire carries no types. See docs/sandbox.md "Network".
 */

/** `allow` and `deny` name hosts; `none` is accepted and means not listed. */
export type DomainPermissionOption = 'allow' | 'deny' | 'none';

/** `networkProxy.proxy` (upstream's `RemoteNetworkProxyConfig`): every boolean and `mode` required. */
export interface NetworkProxySettingsOption {
  /** Must be true (the reference refuses a launch with a disabled proxy). */
  readonly enabled: boolean;
  /** Serve SOCKS5 (`ALL_PROXY` is then a `socks5h://` URL) besides HTTP. */
  readonly enableSocks5: boolean;
  /** Accepted; UDP is not relayed. */
  readonly enableSocks5Udp: boolean;
  /** Accepted; the proxy never chains to another proxy. */
  readonly allowUpstreamProxy: boolean;
  /** Accepted; Unix sockets are never proxied. */
  readonly dangerouslyAllowAllUnixSockets: boolean;
  /** `limited`: GET, HEAD and OPTIONS over plain HTTP only, no tunnels. */
  readonly mode: 'full' | 'limited';
  /** Host patterns (`example.com`, `*.example.com`, `**.example.com`, `*`) to allow or deny. */
  readonly domains?: Readonly<Record<string, DomainPermissionOption>> | null;
  readonly unixSockets?: Readonly<Record<string, unknown>> | null;
  /** Local and private destinations may be reached (and bypass the proxy through `NO_PROXY`). */
  readonly allowLocalBinding: boolean;
}

/** `networkProxy` (upstream's `RemoteNetworkProxyLaunchConfig`). */
export interface NetworkProxyOption {
  readonly proxy: NetworkProxySettingsOption;
  /** Reserved for a client that decides unknown hosts itself (not used yet). */
  readonly policyDecisionTimeoutMs?: number | null;
  readonly auditMetadata?: Readonly<Record<string, unknown>> | null;
  readonly environmentId?: string | null;
  readonly executionId?: string | null;
}

/**
 * A `networkProxy` with every required member at its usual value (SOCKS5 on, UDP, upstream
 * proxies and Unix sockets off, `full` mode, no local binding) and `domains` as given; `proxy`
 * overrides any of them. Spelling the upstream shape out in full is what the wire needs; this is
 * the short form for code.
 */
export function managedNetworkProxy(
  domains: Readonly<Record<string, DomainPermissionOption>> | null,
  proxy: Partial<NetworkProxySettingsOption> = {},
  rest: Omit<NetworkProxyOption, 'proxy'> = {},
): NetworkProxyOption {
  return {
    ...rest,
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
      ...proxy,
    },
  };
}

/**
 * A domain policy on its own (for `http/request`, see `startServer`'s `httpNetworkPolicy`): the
 * members of `networkProxy.proxy` that decide, with the same meaning.
 */
export interface NetworkPolicySettingsOption {
  readonly domains?: Readonly<Record<string, DomainPermissionOption>> | null;
  /** Default `full`. */
  readonly mode?: 'full' | 'limited' | null;
  /** Default false. */
  readonly allowLocalBinding?: boolean | null;
}

/** `managedNetwork` (upstream's `ManagedNetworkSandboxContext`): validated, see docs/sandbox.md. */
export interface ManagedNetworkOption {
  readonly loopbackPorts?: readonly number[] | null;
  readonly allowLocalBinding?: boolean | null;
}

/** The result of resolving a name: its addresses, or why there are none. */
export type NameResolution = { readonly addresses: readonly string[] } | { readonly error: string };

/**
 * The runtime's managed-network proxy (`ExecRuntimeOptions.networkProxy`): where its socket lives
 * and its bounds. The proxy starts with the first start that has a `networkProxy`.
 */
export interface NetworkProxyRuntimeOptions {
  /** Directory for the bridge socket; default: a fresh 0700 directory under the OS temp dir. */
  readonly socketDir?: string | null;
  /** Upstream connect timeout, all addresses of a name together. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Deadline for the preamble, a SOCKS5 handshake, or a request's headers. Default 30 000 ms. */
  readonly headersTimeoutMs?: number;
  /** A tunnel or kept-alive connection without traffic this long is closed. Default 600 000 ms. */
  readonly idleTimeoutMs?: number;
  /** Largest request head (request line and headers) accepted. Default 32 KiB. */
  readonly maxHeaderBytes?: number;
  /** Client connections open at once, all processes together. Default 4096. */
  readonly maxConnections?: number;
  /** Client connections open at once for one process. Default 512. */
  readonly maxConnectionsPerProcess?: number;
  /** Denials kept per process for `info()`. Default 64. */
  readonly deniedPerProcess?: number;
  /** Name resolution; default `dns.lookup` (all addresses) bounded by `connectTimeoutMs`. */
  readonly resolve?: (name: string) => Promise<NameResolution>;
}
