/**
 * `http/request` under a managed-network policy: the server's `httpNetworkDecision` seam
 * (src/server/http-request.ts) answered by the same policy engine as the proxy, so a request the
 * executor makes for a client is decided exactly as one a sandboxed process makes through the
 * proxy: deny patterns win, local and private destinations need an exact allow entry, a name is
 * resolved once and every address checked, and the request then connects to exactly those
 * addresses (no second lookup for DNS rebinding to exploit). Each decision is counted with the
 * proxy's (`execvisor_network_decisions_total`).
 */
import type { NetworkDecisionReason } from '../core/types.js';
import type { NetworkPolicySettingsOption } from '../core/network-options.js';
import { InvalidArgumentError } from '../errors.js';
import { parseDomainPermissions } from './config.js';
import type { DecisionCounters } from './decisions.js';
import {
  compileNetworkPolicy,
  CONFIG_ERROR_PREFIX,
  type CompiledNetworkPolicy,
  decideNetworkRequest,
  type Resolver,
} from './policy.js';
import { systemResolver } from './proxy.js';

/** What the policy says about one destination of an `http/request`. */
export type HttpPolicyVerdict =
  | { readonly decision: 'allow'; readonly addresses: readonly string[] }
  | { readonly decision: 'deny'; readonly reason: NetworkDecisionReason };

export interface HttpPolicyOptions {
  /** Name resolution. Default: `dns.lookup`, bounded by `lookupTimeoutMs`. */
  readonly resolve?: Resolver;
  readonly lookupTimeoutMs?: number;
  /** Ports of this host never to be reached (the server's own listen port). */
  readonly protectedPorts?: ReadonlySet<number>;
  /** Where each decision is counted. */
  readonly counters?: DecisionCounters;
}

/** Parses an `http/request` policy: `{domains, mode?, allowLocalBinding?}` (the proxy's members). */
export function parseHttpNetworkPolicy(value: unknown, path = 'httpNetworkPolicy'): CompiledNetworkPolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${CONFIG_ERROR_PREFIX}${path}: expected a map`);
  }
  const source = value as NetworkPolicySettingsOption;
  const mode = source.mode ?? 'full';
  if (mode !== 'full' && mode !== 'limited') {
    throw new InvalidArgumentError(
      `${CONFIG_ERROR_PREFIX}${path}.mode: unknown variant \`${String(mode)}\`, expected \`limited\` or \`full\``,
    );
  }
  const allowLocalBinding = source.allowLocalBinding ?? false;
  if (typeof allowLocalBinding !== 'boolean') {
    throw new InvalidArgumentError(`${CONFIG_ERROR_PREFIX}${path}.allowLocalBinding: expected a boolean`);
  }
  return compileNetworkPolicy({
    mode,
    domains: parseDomainPermissions(`${path}.domains`, source.domains),
    allowLocalBinding,
  });
}

/** The seam's function for `policy`. */
export function httpPolicyDecision(
  policy: CompiledNetworkPolicy,
  options: HttpPolicyOptions = {},
): (host: string, port: number, scheme: 'http' | 'https', method: string) => Promise<HttpPolicyVerdict> {
  const resolve = options.resolve ?? systemResolver(options.lookupTimeoutMs ?? 10_000);
  const context = { protectedPorts: options.protectedPorts ?? new Set<number>() };
  return async (host, port, scheme, method) => {
    // An https request is a tunnel to the policy (limited mode refuses it: no MITM here either).
    const outcome = await decideNetworkRequest(
      {
        host,
        port,
        protocol: scheme === 'https' ? 'https_connect' : 'http',
        method: scheme === 'https' ? 'CONNECT' : method.toUpperCase(),
      },
      policy,
      context,
      resolve,
    );
    for (const step of outcome.steps) options.counters?.record(step.decision, step.reason);
    return outcome.allowed
      ? { decision: 'allow', addresses: outcome.addresses }
      : { decision: 'deny', reason: outcome.denial?.reason ?? 'not_allowed' };
  };
}
