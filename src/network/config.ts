/**
 * The managed-network members of `process/start`, parsed into a closed model: `networkProxy`
 * (upstream's `RemoteNetworkProxyLaunchConfig`), `managedNetwork` (`ManagedNetworkSandboxContext`)
 * and `enforceManagedNetwork`. Every failure is an `EXEC_ERR_INVALID_ARGUMENT` (-32602) whose
 * message starts `invalid network proxy config:` and names the member, like the reference's.
 *
 * Field by field as upstream serializes them: every boolean and `mode` of `proxy` is required
 * (the reference answers ``missing field `enableSocks5` ``), `domains` and `unixSockets` may be
 * absent or null, unknown members are ignored. A proxy that is not `enabled` is refused (the
 * reference: "executor-local network proxy launch requires an enabled proxy").
 */
import { InvalidArgumentError } from '../errors.js';
import {
  compileNetworkPolicy,
  CONFIG_ERROR_PREFIX,
  type CompiledNetworkPolicy,
  type DomainPermission,
  type NetworkMode,
} from './policy.js';

/** `networkProxy.proxy`, upstream's `RemoteNetworkProxyConfig`. */
export interface NetworkProxySettings {
  readonly enabled: boolean;
  readonly enableSocks5: boolean;
  /** Accepted; UDP is not relayed (UDP ASSOCIATE is answered "command not supported"). */
  readonly enableSocks5Udp: boolean;
  /** Accepted; the proxy always connects directly, it never chains to another proxy. */
  readonly allowUpstreamProxy: boolean;
  /** Accepted; like the reference on Linux, Unix sockets are never proxied. */
  readonly dangerouslyAllowAllUnixSockets: boolean;
  readonly mode: NetworkMode;
  readonly domains: Readonly<Record<string, DomainPermission>> | null;
  readonly unixSockets: Readonly<Record<string, unknown>> | null;
  readonly allowLocalBinding: boolean;
}

/** `networkProxy`, upstream's `RemoteNetworkProxyLaunchConfig`. */
export interface NetworkProxyLaunchConfig {
  readonly proxy: NetworkProxySettings;
  /** The domain policy compiled from `proxy` (patterns validated). */
  readonly policy: CompiledNetworkPolicy;
  /** Reserved for a client that decides unknown hosts itself (not used yet). */
  readonly policyDecisionTimeoutMs: number | null;
  readonly auditMetadata: Readonly<Record<string, unknown>> | null;
  readonly environmentId: string | null;
  readonly executionId: string | null;
}

/** `managedNetwork`, upstream's `ManagedNetworkSandboxContext`. */
export interface ManagedNetworkContext {
  readonly loopbackPorts: readonly number[];
  readonly allowLocalBinding: boolean;
}

function fail(path: string, problem: string): never {
  throw new InvalidArgumentError(`${CONFIG_ERROR_PREFIX}${path}: ${problem}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number')
    return Number.isInteger(value) ? `integer \`${value}\`` : `number \`${value}\``;
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  if (Array.isArray(value)) return 'sequence';
  return typeof value === 'object' ? 'map' : typeof value;
}

function object(path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(path, `invalid type: ${describe(value)}, expected a map`);
  }
  return value as Record<string, unknown>;
}

function requiredBool(path: string, source: Record<string, unknown>, name: string): boolean {
  const value = source[name];
  if (value === undefined) fail(path, `missing field \`${name}\``);
  if (typeof value !== 'boolean')
    fail(`${path}.${name}`, `invalid type: ${describe(value)}, expected a boolean`);
  return value;
}

function optionalString(path: string, source: Record<string, unknown>, name: string): string | null {
  const value = source[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    fail(`${path}.${name}`, `invalid type: ${describe(value)}, expected a string`);
  return value;
}

const MAX_DOMAIN_ENTRIES = 4096;

/** Parses a `domains` map (absent or null: nothing listed). */
export function parseDomainPermissions(
  path: string,
  value: unknown,
): Record<string, DomainPermission> | null {
  if (value === undefined || value === null) return null;
  const entries = Object.entries(object(path, value));
  if (entries.length > MAX_DOMAIN_ENTRIES) fail(path, `more than ${MAX_DOMAIN_ENTRIES} entries`);
  const domains: Record<string, DomainPermission> = Object.create(null) as Record<string, DomainPermission>;
  for (const [pattern, permission] of entries) {
    if (permission !== 'allow' && permission !== 'deny' && permission !== 'none') {
      fail(
        `${path}[${JSON.stringify(pattern)}]`,
        typeof permission === 'string'
          ? `unknown variant \`${permission}\`, expected one of \`none\`, \`allow\`, \`deny\``
          : `invalid type: ${describe(permission)}, expected variant identifier`,
      );
    }
    domains[pattern] = permission;
  }
  return domains;
}

/** Parses `networkProxy.proxy`. */
export function parseNetworkProxySettings(value: unknown, path = 'networkProxy.proxy'): NetworkProxySettings {
  const source = object(path, value);
  const enabled = requiredBool(path, source, 'enabled');
  const enableSocks5 = requiredBool(path, source, 'enableSocks5');
  const enableSocks5Udp = requiredBool(path, source, 'enableSocks5Udp');
  const allowUpstreamProxy = requiredBool(path, source, 'allowUpstreamProxy');
  const dangerouslyAllowAllUnixSockets = requiredBool(path, source, 'dangerouslyAllowAllUnixSockets');
  const mode = source.mode;
  if (mode === undefined) fail(path, 'missing field `mode`');
  if (mode !== 'full' && mode !== 'limited') {
    fail(
      `${path}.mode`,
      typeof mode === 'string'
        ? `unknown variant \`${mode}\`, expected \`limited\` or \`full\``
        : `invalid type: ${describe(mode)}, expected variant identifier`,
    );
  }
  const domains = parseDomainPermissions(`${path}.domains`, source.domains);
  const unixSockets =
    source.unixSockets === undefined || source.unixSockets === null
      ? null
      : object(`${path}.unixSockets`, source.unixSockets);
  const allowLocalBinding = requiredBool(path, source, 'allowLocalBinding');
  return Object.freeze({
    enabled,
    enableSocks5,
    enableSocks5Udp,
    allowUpstreamProxy,
    dangerouslyAllowAllUnixSockets,
    mode,
    domains,
    unixSockets,
    allowLocalBinding,
  });
}

/**
 * Parses `networkProxy` (absent or null: no managed proxy). The domain patterns are compiled here,
 * so a bad one fails the start, never a later request.
 */
export function parseNetworkProxyLaunchConfig(
  value: unknown,
  path = 'networkProxy',
): NetworkProxyLaunchConfig | null {
  if (value === undefined || value === null) return null;
  const source = object(path, value);
  if (source.proxy === undefined) fail(path, 'missing field `proxy`');
  const proxy = parseNetworkProxySettings(source.proxy, `${path}.proxy`);
  if (!proxy.enabled) {
    throw new InvalidArgumentError(
      `${CONFIG_ERROR_PREFIX}executor-local network proxy launch requires an enabled proxy`,
    );
  }
  const timeout = source.policyDecisionTimeoutMs;
  if (
    timeout !== undefined &&
    timeout !== null &&
    (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0)
  ) {
    fail(`${path}.policyDecisionTimeoutMs`, `invalid type: ${describe(timeout)}, expected u64`);
  }
  const auditMetadata =
    source.auditMetadata === undefined || source.auditMetadata === null
      ? null
      : object(`${path}.auditMetadata`, source.auditMetadata);
  return Object.freeze({
    proxy,
    policy: compileNetworkPolicy(proxy),
    policyDecisionTimeoutMs: typeof timeout === 'number' ? timeout : null,
    auditMetadata,
    environmentId: optionalString(path, source, 'environmentId'),
    executionId: optionalString(path, source, 'executionId'),
  });
}

/** Parses `managedNetwork` (absent or null: none). Ports are u16s, as the reference takes them. */
export function parseManagedNetworkContext(
  value: unknown,
  path = 'managedNetwork',
): ManagedNetworkContext | null {
  if (value === undefined || value === null) return null;
  const source = object(path, value);
  const ports = source.loopbackPorts ?? [];
  if (!Array.isArray(ports))
    fail(`${path}.loopbackPorts`, `invalid type: ${describe(ports)}, expected a sequence`);
  const loopbackPorts = ports.map((port: unknown, index) => {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      fail(
        `${path}.loopbackPorts[${index}]`,
        `${typeof port === 'number' && Number.isInteger(port) ? 'invalid value' : 'invalid type'}: ${describe(port)}, expected u16`,
      );
    }
    return port;
  });
  const allowLocalBinding = source.allowLocalBinding ?? false;
  if (typeof allowLocalBinding !== 'boolean') {
    fail(`${path}.allowLocalBinding`, `invalid type: ${describe(allowLocalBinding)}, expected a boolean`);
  }
  return Object.freeze({ loopbackPorts: Object.freeze(loopbackPorts), allowLocalBinding });
}

/**
 * What launch preparation decides from the members together: whether the process gets the managed
 * network, and how.
 * - Enforced (`enforceManagedNetwork` at top level, or the seed's `sandbox.enforceManagedNetwork`)
 *   with a proxy config: `proxied`, the proxy is the only way out (the sandbox gets a private
 *   network namespace and the bridge).
 * - Enforced without one: `blocked`, no network at all, whatever the sandbox policy says about
 *   network access (fail closed; the reference does the same). `managedNetwork` alone (a client
 *   that runs its own proxy) changes nothing: its loopback ports are the client's host's.
 * - A proxy config that is not enforced: `advisory`, as the reference: the child's proxy variables
 *   name the proxy, and the sandbox policy alone decides what else it may reach (under a
 *   network-restricted policy, nothing, so not even the proxy).
 */
export type ManagedNetworkPlan =
  | { readonly kind: 'none' }
  | { readonly kind: 'blocked' }
  | { readonly kind: 'proxied'; readonly config: NetworkProxyLaunchConfig }
  | { readonly kind: 'advisory'; readonly config: NetworkProxyLaunchConfig };

export function planManagedNetwork(input: {
  readonly enforceManagedNetwork: boolean;
  readonly networkProxy: NetworkProxyLaunchConfig | null;
}): ManagedNetworkPlan {
  const { enforceManagedNetwork: enforced, networkProxy: config } = input;
  if (config !== null) return enforced ? { kind: 'proxied', config } : { kind: 'advisory', config };
  return enforced ? { kind: 'blocked' } : { kind: 'none' };
}
