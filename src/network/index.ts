/**
 * Managed network: the domain policy, the runtime's proxy (HTTP with CONNECT, SOCKS5), decision
 * reporting, the child's proxy environment and the `sandboxDenied` classification. What launch
 * preparation, the runtime and the server call; see docs/sandbox.md "Network".
 */
export {
  type ManagedNetworkContext,
  type ManagedNetworkPlan,
  type NetworkProxyLaunchConfig,
  type NetworkProxySettings,
  parseManagedNetworkContext,
  parseNetworkProxyLaunchConfig,
  parseNetworkProxySettings,
  planManagedNetwork,
} from './config.js';
export {
  type DecisionCount,
  DecisionCounters,
  decisionRecord,
  DenialLog,
  type NetworkDecisionMetrics,
} from './decisions.js';
export { applyProxyEnv, LOCAL_NO_PROXY, PROXY_ENV_KEYS, proxyEnv, type ProxyEnvOptions } from './env.js';
export {
  compileNetworkPolicy,
  type CompiledNetworkPolicy,
  decideNetworkRequest,
  DENIAL_TEXTS,
  evaluateNetworkRequest,
  type NetworkMode,
  type NetworkPolicySettings,
  type NetworkRequest,
  type PolicyContext,
  type PolicyEvaluation,
  type PolicyOutcome,
  type PolicyStep,
  type Resolution,
  type Resolver,
} from './policy.js';
export { formatPreamble, MAX_PREAMBLE_BYTES, parsePreamble, PREAMBLE_MAGIC } from './preamble.js';
export {
  NETWORK_PROXY_DEFAULTS,
  NetworkProxy,
  type NetworkProxyOptions,
  type ProxyLease,
  type ProxyRegistration,
  type ProxyStats,
  systemResolver,
} from './proxy.js';
export {
  classifySandboxDenied,
  DENIAL_SCAN_BYTES,
  SANDBOX_DENIAL_KEYWORDS,
  type SandboxDenialInput,
} from './sandbox-denied.js';
