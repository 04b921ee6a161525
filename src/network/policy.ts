/**
 * The domain policy of the managed network, decided in one pure function.
 *
 * Order (the reference's, observed from codex 0.171.0 and kept exactly, because clients compare
 * decisions):
 *  1. SOCKS5 under `mode: limited` is refused outright (the mode guard cannot see a method);
 *  2. a deny pattern wins over everything (`denied`);
 *  3. unless `allowLocalBinding`, a loopback / private / link-local / metadata IP literal, or
 *     `localhost`, is refused unless that exact host is an allow entry (`not_allowed_local`);
 *  4. a host that no allow pattern matches is refused (`not_allowed`); no allow patterns, none
 *     allowed;
 *  5. a name is resolved once; unless `allowLocalBinding`, a failed lookup or any non-public
 *     address refuses it (`not_allowed_local`: DNS rebinding), and the proxy connects to exactly
 *     the addresses checked here, never resolving again;
 *  6. `mode: limited` then allows only GET, HEAD and OPTIONS over plain HTTP and refuses CONNECT
 *     (a second, `non_domain` decision after the domain allow).
 * Beyond the reference: the proxy never connects to one of its own (or its server's) listening
 * ports on this host, which would loop.
 *
 * `evaluateNetworkRequest` is pure and synchronous; when a name must be resolved it says so, and
 * the caller evaluates again with the addresses (`decideNetworkRequest` does both with an injected
 * resolver).
 */
import type { NameResolution } from '../core/network-options.js';
import type { NetworkDecisionReason, NetworkProtocol } from '../core/types.js';
import { InvalidArgumentError } from '../errors.js';
import { formatIp, isNonPublicAddress, parseIpLiteral, parseLegacyIPv4, reachesThisHost } from './address.js';
import {
  type DomainPattern,
  type HostName,
  isLocalhostName,
  parseDomainPattern,
  parseHostName,
  patternMatches,
} from './host.js';

export type NetworkMode = 'full' | 'limited';
/** `none` is accepted (the reference's third value) and means the same as not listed. */
export type DomainPermission = 'allow' | 'deny' | 'none';

export interface NetworkPolicySettings {
  readonly mode: NetworkMode;
  /** Pattern → permission; null or empty: nothing is allowed. */
  readonly domains: Readonly<Record<string, DomainPermission>> | null;
  readonly allowLocalBinding: boolean;
}

export interface CompiledNetworkPolicy {
  readonly mode: NetworkMode;
  readonly allow: readonly DomainPattern[];
  readonly deny: readonly DomainPattern[];
  /** Canonical hosts allowed by an exact entry: the only way a local literal is allowed. */
  readonly exactAllowed: ReadonlySet<string>;
  readonly allowLocalBinding: boolean;
}

/** Prefix of every configuration error, as the reference words it. */
export const CONFIG_ERROR_PREFIX = 'invalid network proxy config: ';

/** Compiles the settings; a bad pattern is an `EXEC_ERR_INVALID_ARGUMENT` naming it. */
export function compileNetworkPolicy(settings: NetworkPolicySettings): CompiledNetworkPolicy {
  const allow: DomainPattern[] = [];
  const deny: DomainPattern[] = [];
  const exactAllowed = new Set<string>();
  for (const [raw, permission] of Object.entries(settings.domains ?? {})) {
    const pattern = parseDomainPattern(raw);
    if ('error' in pattern) throw new InvalidArgumentError(`${CONFIG_ERROR_PREFIX}${pattern.error}`);
    if (permission === 'deny' && pattern.kind === 'any') {
      // The reference's text: a global deny would only ever mean "no network", which is what
      // leaving a host out already says.
      throw new InvalidArgumentError(
        `${CONFIG_ERROR_PREFIX}invalid value for network.denied_domains: ${raw.trim()} (allowed exact hosts or scoped wildcards like *.example.com or **.example.com)`,
      );
    }
    if (permission === 'allow') {
      allow.push(pattern);
      if (pattern.kind === 'exact') exactAllowed.add(pattern.host);
    } else if (permission === 'deny') {
      deny.push(pattern);
    }
  }
  return Object.freeze({
    mode: settings.mode,
    allow: Object.freeze(allow),
    deny: Object.freeze(deny),
    exactAllowed,
    allowLocalBinding: settings.allowLocalBinding,
  });
}

export interface NetworkRequest {
  /** The host as the client named it (a name, an IP literal, `[v6]`); not yet trusted. */
  readonly host: string;
  readonly port: number;
  readonly protocol: NetworkProtocol;
  /** The HTTP method (`CONNECT` for tunnels); null for SOCKS5. */
  readonly method: string | null;
}

export interface PolicyContext {
  /** Ports of this host's own listeners (the proxy's, the server's): never a destination. */
  readonly protectedPorts: ReadonlySet<number>;
}

/** One decision step, the part of a `network/policyDecision` record the policy owns. */
export interface PolicyStep {
  readonly scope: 'domain' | 'non_domain';
  readonly decision: 'allow' | 'deny';
  readonly source: 'baseline_policy' | 'mode_guard';
  readonly reason: NetworkDecisionReason;
}

export interface PolicyOutcome {
  readonly allowed: boolean;
  /** The canonical host (the client's text, trimmed, when it is not a valid host). */
  readonly host: string;
  /** Every decision made, in order: one, or a domain allow then a mode-guard deny. */
  readonly steps: readonly PolicyStep[];
  /** When allowed: the checked addresses to try, in order. Empty when denied. */
  readonly addresses: readonly string[];
  /** When denied: the reason of the final step and its text for the 403 body. */
  readonly denial: { readonly reason: NetworkDecisionReason; readonly message: string } | null;
}

/** The result of resolving a name: its addresses, or why there are none. */
export type Resolution = NameResolution;

export type PolicyEvaluation =
  | { readonly stage: 'final'; readonly outcome: PolicyOutcome }
  | { readonly stage: 'resolve'; readonly name: string };

/** The texts of each refusal: the 403 body's `message` and the `x-proxy-error` header. */
export const DENIAL_TEXTS: Readonly<
  Record<Exclude<NetworkDecisionReason, 'allow'>, { readonly message: string; readonly header: string }>
> = Object.freeze({
  denied: { message: 'Domain denied by the sandbox policy.', header: 'blocked-by-denylist' },
  not_allowed: { message: 'Domain not in allowlist.', header: 'blocked-by-allowlist' },
  not_allowed_local: {
    message: 'Sandbox policy blocks local/private network addresses.',
    header: 'blocked-by-allowlist',
  },
  method_not_allowed: { message: 'Method not allowed in limited mode.', header: 'blocked-by-method-policy' },
  mitm_required: { message: 'MITM required for limited HTTPS.', header: 'blocked-by-mitm-required' },
});

const SELF_CONNECT_MESSAGE = 'Sandbox policy blocks connections to the proxy itself.';
const LIMITED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
const LOCALHOST_ADDRESSES: readonly string[] = ['127.0.0.1', '::1'];

const allowStep: PolicyStep = Object.freeze({
  scope: 'domain',
  decision: 'allow',
  source: 'baseline_policy',
  reason: 'allow',
});

function domainDeny(
  host: string,
  reason: 'denied' | 'not_allowed' | 'not_allowed_local',
  message?: string,
): PolicyOutcome {
  return {
    allowed: false,
    host,
    steps: [{ scope: 'domain', decision: 'deny', source: 'baseline_policy', reason }],
    addresses: [],
    denial: { reason, message: message ?? DENIAL_TEXTS[reason].message },
  };
}

function modeDeny(
  host: string,
  steps: readonly PolicyStep[],
  reason: 'method_not_allowed' | 'mitm_required',
) {
  const step: PolicyStep = { scope: 'non_domain', decision: 'deny', source: 'mode_guard', reason };
  return {
    allowed: false,
    host,
    steps: [...steps, step],
    addresses: [],
    denial: { reason, message: DENIAL_TEXTS[reason].message },
  } satisfies PolicyOutcome;
}

function isLocalLiteral(host: HostName): boolean {
  return isLocalhostName(host) || (host.ip !== null && isNonPublicAddress(host.ip));
}

/**
 * Decides a request. `resolution` is the answer for the name a previous call asked to resolve;
 * without it a name that needs resolving yields `{stage: 'resolve'}`.
 */
export function evaluateNetworkRequest(
  request: NetworkRequest,
  policy: CompiledNetworkPolicy,
  context: PolicyContext,
  resolution?: Resolution,
): PolicyEvaluation {
  const final = (outcome: PolicyOutcome): PolicyEvaluation => ({ stage: 'final', outcome });
  const parsed = parseHostName(request.host);
  const hostText = parsed?.text ?? request.host.trim();
  const socks = request.protocol === 'socks5_tcp' || request.protocol === 'socks5_udp';
  if (socks && policy.mode === 'limited') return final(modeDeny(hostText, [], 'method_not_allowed'));
  if (parsed === null || !Number.isInteger(request.port) || request.port < 1 || request.port > 65535) {
    return final(domainDeny(hostText, 'not_allowed'));
  }
  const host = parsed;
  if (policy.deny.some((pattern) => patternMatches(pattern, host)))
    return final(domainDeny(host.text, 'denied'));
  const localLiteral = isLocalLiteral(host);
  if (!policy.allowLocalBinding && localLiteral && !policy.exactAllowed.has(host.text)) {
    return final(domainDeny(host.text, 'not_allowed_local'));
  }
  if (!policy.allow.some((pattern) => patternMatches(pattern, host))) {
    return final(domainDeny(host.text, 'not_allowed'));
  }

  // Allowed by name: find the addresses to connect to, checking each one.
  let addresses: readonly string[];
  if (host.ip !== null) {
    addresses = [formatIp(host.ip)];
  } else if (isLocalhostName(host)) {
    addresses = LOCALHOST_ADDRESSES;
  } else {
    const legacy = parseLegacyIPv4(host.text);
    if (legacy !== null) {
      addresses = [formatIp(legacy)];
    } else if (resolution === undefined) {
      return { stage: 'resolve', name: host.text };
    } else if ('error' in resolution || resolution.addresses.length === 0) {
      // A lookup that failed proves nothing about where the name points: refused.
      if (!policy.allowLocalBinding) return final(domainDeny(host.text, 'not_allowed_local'));
      addresses = [];
    } else {
      addresses = resolution.addresses;
    }
  }
  const parsedAddresses = addresses.map((text) => parseIpLiteral(text));
  if (parsedAddresses.some((address) => address === null))
    return final(domainDeny(host.text, 'not_allowed_local'));
  const checked = parsedAddresses as NonNullable<(typeof parsedAddresses)[number]>[];
  if (!policy.allowLocalBinding && !localLiteral && checked.some((address) => isNonPublicAddress(address))) {
    return final(domainDeny(host.text, 'not_allowed_local'));
  }
  if (context.protectedPorts.has(request.port) && checked.some((address) => reachesThisHost(address))) {
    return final(domainDeny(host.text, 'not_allowed_local', SELF_CONNECT_MESSAGE));
  }

  const steps = [allowStep];
  if (policy.mode === 'limited') {
    if (request.protocol === 'https_connect') return final(modeDeny(host.text, steps, 'mitm_required'));
    if (request.method === null || !LIMITED_METHODS.has(request.method)) {
      return final(modeDeny(host.text, steps, 'method_not_allowed'));
    }
  }
  return final({ allowed: true, host: host.text, steps, addresses: checked.map(formatIp), denial: null });
}

/** Resolves a name to its addresses; the default proxy resolver wraps `dns.lookup`. */
export type Resolver = (name: string) => Promise<Resolution>;

/** Evaluates, resolving once when the policy asks for it. */
export async function decideNetworkRequest(
  request: NetworkRequest,
  policy: CompiledNetworkPolicy,
  context: PolicyContext,
  resolve: Resolver,
): Promise<PolicyOutcome> {
  const first = evaluateNetworkRequest(request, policy, context);
  if (first.stage === 'final') return first.outcome;
  let resolution: Resolution;
  try {
    resolution = await resolve(first.name);
  } catch (error) {
    resolution = { error: error instanceof Error ? error.message : String(error) };
  }
  const second = evaluateNetworkRequest(request, policy, context, resolution);
  // A resolution always settles the evaluation; a second request to resolve is a bug.
  if (second.stage !== 'final') return domainDeny(first.name, 'not_allowed_local');
  return second.outcome;
}
