/** Validates and normalizes `StartOptions` from an in-process caller. */
import { isAbsolute } from 'node:path';
import { EmptyArgvError, InvalidArgumentError } from '../errors.js';
import type {
  EnvPolicyOptions,
  FlowControl,
  StartMetadata,
  StartOptions,
  TerminalSize,
} from '../core/types.js';
import { integer, show } from '../core/options.js';
import { parseWirePath } from '../core/path-uri.js';
import {
  type ManagedNetworkPlan,
  parseManagedNetworkContext,
  parseNetworkProxyLaunchConfig,
  planManagedNetwork,
} from '../network/config.js';
import { environmentFromPolicy } from '../spawn/env-policy.js';

export interface NormalizedStart {
  readonly processId: string | undefined;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly pipeStdin: boolean;
  readonly arg0: string | null;
  readonly sandbox: unknown;
  readonly size: TerminalSize;
  readonly flowControl: FlowControl | null;
  readonly metadata: StartMetadata | null;
  /** Managed network: what the three members (and the seed's sandbox member) ask for together. */
  readonly network: ManagedNetworkPlan;
}

const DEFAULT_SIZE: TerminalSize = Object.freeze({ rows: 24, cols: 80 });

/**
 * `maxFlowWindowBytes` bounds `flowControl.highWaterBytes`: the window is memory the runtime holds
 * for a consumer, so the runtime, not the request, decides how large it may be.
 */
export function normalizeStart(options: StartOptions, maxFlowWindowBytes: number): NormalizedStart {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`start options must be an object, got ${show(options)}`);
  }
  const { processId, argv, env } = options;
  const cwd = nativeCwd(options.cwd);
  if (processId !== undefined && (typeof processId !== 'string' || processId.length === 0)) {
    throw new InvalidArgumentError(`processId must be a non-empty string, got ${show(processId)}`);
  }
  if (!Array.isArray(argv))
    throw new InvalidArgumentError(`argv must be an array of strings, got ${show(argv)}`);
  if (argv.length === 0) throw new EmptyArgvError();
  for (const [index, arg] of argv.entries()) {
    if (typeof arg !== 'string')
      throw new InvalidArgumentError(`argv[${index}] must be a string, got ${show(arg)}`);
    if (arg.includes('\0')) throw new InvalidArgumentError(`argv[${index}] must not contain NUL bytes`);
  }
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0')) {
    throw new InvalidArgumentError(`cwd must be an absolute path, got ${show(cwd)}`);
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    throw new InvalidArgumentError(`env must be an object of strings, got ${show(env)}`);
  }
  for (const [key, value] of Object.entries(env)) {
    if (typeof value !== 'string')
      throw new InvalidArgumentError(`env.${key} must be a string, got ${show(value)}`);
    if (key.length === 0 || key.includes('=') || key.includes('\0') || value.includes('\0')) {
      throw new InvalidArgumentError(`env has an invalid entry ${show(key)}`);
    }
  }
  const tty = flag('tty', options.tty);
  const pipeStdin = flag('pipeStdin', options.pipeStdin);
  const arg0 = options.arg0 ?? null;
  if (arg0 !== null && (typeof arg0 !== 'string' || arg0.includes('\0'))) {
    throw new InvalidArgumentError(`arg0 must be a string, got ${show(arg0)}`);
  }
  const size = options.size ?? DEFAULT_SIZE;
  if (typeof size !== 'object')
    throw new InvalidArgumentError(`size must be {rows, cols}, got ${show(size)}`);
  const rows = integer('size.rows', size.rows, 24, 1, 65_535);
  const cols = integer('size.cols', size.cols, 80, 1, 65_535);
  let flowControl: FlowControl | null = null;
  if (options.flowControl != null) {
    const high = integer(
      'flowControl.highWaterBytes',
      options.flowControl.highWaterBytes,
      Math.min(1 << 20, maxFlowWindowBytes),
      1,
      Number.MAX_SAFE_INTEGER,
    );
    if (high > maxFlowWindowBytes) {
      throw new InvalidArgumentError(
        `flowControl.highWaterBytes must be at most ${maxFlowWindowBytes} ` +
          `(the runtime's maxFlowWindowBytes), got ${high}`,
      );
    }
    const low = integer(
      'flowControl.lowWaterBytes',
      options.flowControl.lowWaterBytes,
      Math.floor(high / 2),
      0,
      Number.MAX_SAFE_INTEGER,
    );
    if (low > high) {
      throw new InvalidArgumentError(
        `flowControl.lowWaterBytes must not exceed highWaterBytes, got ${low} > ${high}`,
      );
    }
    flowControl = { highWaterBytes: high, lowWaterBytes: low };
  }
  const policy = envPolicyOf(options.envPolicy);
  const network = networkPlanOf(options);
  return {
    processId,
    argv: [...(argv as readonly string[])],
    cwd,
    // With a policy, the server's own environment is the base and the request's is laid over it.
    env: policy === null ? { ...env } : { ...environmentFromPolicy(policy, process.env), ...env },
    tty,
    pipeStdin: tty ? false : pipeStdin,
    arg0,
    sandbox: options.sandbox ?? null,
    size: { rows, cols },
    flowControl,
    metadata: metadataOf(options.metadata),
    network,
  };
}

/**
 * `enforceManagedNetwork` (top level, or the seed's member of `sandbox`), `networkProxy` and
 * `managedNetwork` parsed together; errors are -32602 `invalid network proxy config: …`.
 */
function networkPlanOf(options: StartOptions): ManagedNetworkPlan {
  const networkProxy = parseNetworkProxyLaunchConfig(options.networkProxy);
  // Validated only: it describes a client's own proxy, which a sandbox here cannot reach.
  parseManagedNetworkContext(options.managedNetwork);
  const sandbox = options.sandbox as { readonly enforceManagedNetwork?: unknown } | null | undefined;
  const enforced =
    flag('enforceManagedNetwork', options.enforceManagedNetwork) ||
    (typeof sandbox === 'object' && sandbox !== null && sandbox.enforceManagedNetwork === true);
  return planManagedNetwork({ enforceManagedNetwork: enforced, networkProxy });
}

/** A `file://` cwd is taken as its native path; anything else is checked as given. */
function nativeCwd(cwd: unknown): unknown {
  if (typeof cwd !== 'string' || !/^file:/i.test(cwd)) return cwd;
  const parsed = parseWirePath(cwd, () => `cwd must be an absolute path, got ${show(cwd)}`);
  if (!parsed.ok)
    throw new InvalidArgumentError(`cwd URI \`${cwd}\` is not valid on this host: ${parsed.why}`);
  return parsed.path.native;
}

function strings(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new InvalidArgumentError(`${name} must be an array of strings, got ${show(value)}`);
  }
  return value as string[];
}

function envPolicyOf(value: EnvPolicyOptions | null | undefined): EnvPolicyOptions | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object')
    throw new InvalidArgumentError(`envPolicy must be an object, got ${show(value)}`);
  if (!['all', 'core', 'none'].includes(value.inherit)) {
    throw new InvalidArgumentError(
      `envPolicy.inherit must be "all", "core" or "none", got ${show(value.inherit)}`,
    );
  }
  const set = value.set ?? {};
  if (
    typeof set !== 'object' ||
    Array.isArray(set) ||
    Object.values(set).some((v) => typeof v !== 'string')
  ) {
    throw new InvalidArgumentError(`envPolicy.set must be an object of strings, got ${show(set)}`);
  }
  return {
    inherit: value.inherit,
    ignoreDefaultExcludes: flag('envPolicy.ignoreDefaultExcludes', value.ignoreDefaultExcludes),
    exclude: strings('envPolicy.exclude', value.exclude ?? []),
    set,
    includeOnly: strings('envPolicy.includeOnly', value.includeOnly ?? []),
  };
}

function metadataOf(value: StartMetadata | null | undefined): StartMetadata | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object')
    throw new InvalidArgumentError(`metadata must be an object, got ${show(value)}`);
  for (const key of ['threadId', 'toolCallId'] as const) {
    const member = value[key];
    if (member !== undefined && member !== null && typeof member !== 'string') {
      throw new InvalidArgumentError(`metadata.${key} must be a string, got ${show(member)}`);
    }
  }
  return { threadId: value.threadId ?? null, toolCallId: value.toolCallId ?? null };
}

function flag(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw new InvalidArgumentError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}
