/**
 * The method table: every JSON-RPC method and notification is declared here once, with its wire
 * name, params schema and result type. The server dispatches from `requestMethods` (its handler
 * table is keyed by the same keys and must cover every entry); the client and the tests call
 * through the same objects, so no method name is spelled twice.
 *
 * Each method has a `scope` (the handshake rule and its error texts follow from it) and says whether
 * the seed protocol had it (`since`): a request is answered in the shape it was written in, and
 * `dialectOf` tells the two shapes apart before the params are parsed.
 */
import { constants as osConstants } from 'node:os';
import { z } from 'zod';
import type { SandboxOptions } from '../core/sandbox-options.js';
import { relativePathMessage } from '../fs/file-system.js';
import { isUriPath, parseWirePath, type WirePath } from '../core/path-uri.js';
import {
  anyMap,
  bool,
  base64,
  mapOf,
  seq,
  str,
  stringMap,
  struct,
  uint,
  variants,
  type Dialect,
} from './serde-schema.js';
import type { NetworkPolicyDecision } from '../core/types.js';
import type { ManagedNetworkOption, NetworkProxyOption } from '../core/network-options.js';
import type {
  ClosedNotification,
  EmptyResult,
  ExitedNotification,
  EnvironmentInfo,
  EnvironmentStatus,
  FsCanonicalizeResult,
  FsMetadataResult,
  FsOpenResult,
  FsReadBlockResult,
  FsReadDirectoryResult,
  FsReadFileResult,
  FsWalkResult,
  HttpBodyDeltaNotification,
  HttpRequestResult,
  InitializeResult,
  ListResult,
  OutputNotification,
  StartResult,
  TerminateResult,
  WireReadResult,
  WriteResult,
} from './wire-types.js';

/**
 * Which handshake rule a method obeys: `handshake` methods run before `initialize`; every other
 * scope needs the full handshake, and its error texts name the family (`exec methods`,
 * `filesystem methods`, `environment info methods`…).
 */
export type MethodScope = 'handshake' | 'exec' | 'fs' | 'environmentInfo' | 'environmentStatus' | 'http';

/** `seed`: the method existed in the seed protocol; `current`: it came with the current upstream one. */
export type MethodOrigin = 'seed' | 'current';

export interface RequestMethod<Name extends string, Params extends z.ZodType, Result> {
  readonly name: Name;
  readonly scope: MethodScope;
  readonly params: Params;
  readonly since: MethodOrigin;
  /** Type-level only: the result type. */
  readonly result?: Result;
}

export interface NotificationMethod<Name extends string, Params extends z.ZodType> {
  readonly name: Name;
  readonly params: Params;
}

function request<Result>(since: MethodOrigin = 'seed') {
  return <const Name extends string, Params extends z.ZodType>(
    name: Name,
    scope: MethodScope,
    params: Params,
  ): RequestMethod<Name, Params, Result> => ({ name, scope, params, since });
}

function notification<const Name extends string, Params extends z.ZodType>(
  name: Name,
  params: Params,
): NotificationMethod<Name, Params> {
  return { name, params };
}

const processId = str();
const optionalUint = (serdeName = 'u64', max?: number) => uint(serdeName, max).nullish();

const SIGNAL_ALIASES = ['interrupt', 'terminate', 'kill', 'hangup'] as const;

/** `interrupt`, `terminate`, `kill`, `hangup`, or a signal name this OS knows (`SIGUSR1`). */
const signalName = str().refine(
  (name) =>
    (SIGNAL_ALIASES as readonly string[]).includes(name) ||
    (/^SIG[A-Z0-9]+$/.test(name) && name in osConstants.signals),
  {
    error: (issue) =>
      `unknown signal \`${String(issue.input)}\`, expected one of ${SIGNAL_ALIASES.map((s) => `\`${s}\``).join(', ')} or a signal name such as \`SIGUSR1\``,
  },
);

/**
 * A path member: a native absolute path (the seed's shape) or a `file://` URI (the current shape),
 * parsed into a `WirePath` that remembers which. A relative path is refused with -32602.
 */
const absolutePath = (field: string) =>
  str().transform((text, ctx): WirePath => {
    const parsed = parseWirePath(text, (value) => relativePathMessage(field, value));
    if (parsed.ok) return parsed.path;
    // The reference words a cwd on a foreign host with its own prefix.
    const message =
      field === 'cwd' && parsed.why.includes(' is invalid on ')
        ? `cwd URI \`${text}\` is not valid on this exec-server host: ${parsed.why}`
        : parsed.why;
    ctx.addIssue({ code: 'custom', message, input: text });
    return z.NEVER;
  });

/** `{}` or absent: a method without params (serde's unit struct refuses any member). */
const noParams = z.unknown().superRefine((value, ctx) => {
  if (value === null || value === undefined) return;
  const empty = typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
  if (!empty) {
    const got = Array.isArray(value) ? 'sequence' : typeof value === 'object' ? 'map' : typeof value;
    ctx.addIssue({ code: 'custom', message: `invalid type: ${got}, expected unit`, input: value });
  }
});

const envPolicy = struct('ExecEnvPolicy', {
  inherit: variants(['all', 'core', 'none']),
  ignoreDefaultExcludes: bool(),
  exclude: seq(str()),
  set: stringMap(),
  includeOnly: seq(str()),
});

const shellInfo = struct('ShellInfo', { name: str(), path: str() });

// Validated by the sandbox layer, which reports `failed to prepare process sandbox: …`; typed here
// (accepting any value) so callers of the client and the runtime see one `SandboxOptions` type.
const sandbox = z.custom<SandboxOptions | null>().optional();

const terminalSize = struct('TerminalSize', { rows: uint('u16', 0xffff), cols: uint('u16', 0xffff) });

// Managed network, as upstream serializes it: the structure is checked here (serde's texts, as the
// reference answers them); what it means (an enabled proxy, valid host patterns) is checked by
// src/network/config.ts when the start is normalized (`invalid network proxy config: …`).
const networkProxy = struct('RemoteNetworkProxyLaunchConfig', {
  proxy: struct('RemoteNetworkProxyConfig', {
    enabled: bool(),
    enableSocks5: bool(),
    enableSocks5Udp: bool(),
    allowUpstreamProxy: bool(),
    dangerouslyAllowAllUnixSockets: bool(),
    mode: variants(['limited', 'full']),
    domains: mapOf(variants(['none', 'allow', 'deny'])).nullish(),
    unixSockets: anyMap().nullish(),
    allowLocalBinding: bool(),
  }),
  policyDecisionTimeoutMs: uint().nullish(),
  auditMetadata: anyMap().nullish(),
  environmentId: str().nullish(),
  executionId: str().nullish(),
}).transform((value) => value as NetworkProxyOption);

const managedNetwork = struct('ManagedNetworkSandboxContext', {
  loopbackPorts: seq(uint('u16', 0xffff)).nullish(),
  allowLocalBinding: bool().nullish(),
}).transform((value) => value as ManagedNetworkOption);

export const requestMethods = {
  initialize: request<InitializeResult>()(
    'initialize',
    'handshake',
    struct('InitializeParams', {
      clientName: str(),
      // [ext] Present (a string, or null for a fresh session) = this connection may detach.
      resumeSessionId: str().nullish(),
    }),
  ),
  start: request<StartResult>()(
    'process/start',
    'exec',
    struct('ExecParams', {
      processId,
      argv: seq(str()),
      cwd: absolutePath('cwd'),
      env: stringMap(),
      tty: bool(),
      arg0: str().nullish(),
      sandbox,
      pipeStdin: bool().nullish(),
      size: terminalSize.nullish(),
      flowControl: struct('FlowControl', { highWaterBytes: uint(), lowWaterBytes: uint() }).nullish(),
      // The current shape: the child env built from the server's own (see src/spawn/env-policy.ts).
      envPolicy: envPolicy.nullish(),
      // Attribution only (thread and tool call ids); kept with the process, never interpreted.
      metadata: struct('ExecMetadata', { threadId: str().nullish(), toolCallId: str().nullish() }).nullish(),
      // Accepted and ignored: the `shellSnapshotV2` capability is false.
      shellSnapshot: struct('ShellSnapshotRequest', { scopeId: str(), shell: shellInfo }).nullish(),
      // Managed network (see docs/sandbox.md "Network"); the seed's `sandbox.enforceManagedNetwork`
      // keeps working beside the top-level member.
      enforceManagedNetwork: bool().nullish(),
      networkProxy: networkProxy.nullish(),
      managedNetwork: managedNetwork.nullish(),
    }),
  ),
  read: request<WireReadResult>()(
    'process/read',
    'exec',
    struct('ReadParams', {
      processId,
      afterSeq: optionalUint(),
      maxBytes: optionalUint(),
      waitMs: optionalUint(),
      /** [ext] Flow control: false = this read does not acknowledge what it returns. */
      acknowledge: bool().nullish(),
    }),
  ),
  write: request<WriteResult>()(
    'process/write',
    'exec',
    struct('WriteParams', { processId, chunk: base64('chunk'), writeId: str().nullish() }),
  ),
  terminate: request<TerminateResult>()(
    'process/terminate',
    'exec',
    struct('TerminateParams', { processId, graceMs: optionalUint() }),
  ),
  signal: request<EmptyResult>()(
    'process/signal',
    'exec',
    struct('SignalParams', { processId, signal: signalName }),
  ),
  resize: request<EmptyResult>()(
    'process/resize',
    'exec',
    struct('ResizeParams', { processId, rows: uint('u16', 0xffff), cols: uint('u16', 0xffff) }),
  ),
  closeStdin: request<EmptyResult>()('process/closeStdin', 'exec', struct('CloseStdinParams', { processId })),
  ack: request<EmptyResult>()('process/ack', 'exec', struct('AckParams', { processId, seq: uint() })),
  list: request<ListResult>()(
    'process/list',
    'exec',
    // `{}` or absent; [ext] `processId` narrows the answer to one process.
    struct('ListParams', { processId: str().nullish() }).nullish(),
  ),
  readFile: request<FsReadFileResult>()(
    'fs/readFile',
    'fs',
    struct('FsReadFileParams', { path: absolutePath('path'), followSymlinks: bool().nullish(), sandbox }),
  ),
  writeFile: request<EmptyResult>()(
    'fs/writeFile',
    'fs',
    struct('FsWriteFileParams', {
      path: absolutePath('path'),
      dataBase64: base64('dataBase64'),
      followSymlinks: bool().nullish(),
      sandbox,
    }),
  ),
  createDirectory: request<EmptyResult>()(
    'fs/createDirectory',
    'fs',
    struct('FsCreateDirectoryParams', {
      path: absolutePath('path'),
      recursive: bool().nullish(),
      followSymlinks: bool().nullish(),
      sandbox,
    }),
  ),
  getMetadata: request<FsMetadataResult>()(
    'fs/getMetadata',
    'fs',
    struct('FsGetMetadataParams', { path: absolutePath('path'), followSymlinks: bool().nullish(), sandbox }),
  ),
  readDirectory: request<FsReadDirectoryResult>()(
    'fs/readDirectory',
    'fs',
    struct('FsReadDirectoryParams', { path: absolutePath('path'), sandbox }),
  ),
  remove: request<EmptyResult>()(
    'fs/remove',
    'fs',
    struct('FsRemoveParams', {
      path: absolutePath('path'),
      recursive: bool().nullish(),
      force: bool().nullish(),
      followSymlinks: bool().nullish(),
      sandbox,
    }),
  ),
  copy: request<EmptyResult>()(
    'fs/copy',
    'fs',
    struct('FsCopyParams', {
      sourcePath: absolutePath('sourcePath'),
      destinationPath: absolutePath('destinationPath'),
      recursive: bool(),
      sandbox,
    }),
  ),
  canonicalize: request<FsCanonicalizeResult>('current')(
    'fs/canonicalize',
    'fs',
    struct('FsCanonicalizeParams', { path: absolutePath('path'), sandbox }),
  ),
  walk: request<FsWalkResult>('current')(
    'fs/walk',
    'fs',
    struct('FsWalkParams', {
      path: absolutePath('path'),
      options: struct('WalkOptions', {
        maxDepth: uint('usize'),
        maxDirectories: uint('usize'),
        maxEntries: uint('usize'),
        followDirectorySymlinks: bool(),
      }),
      sandbox,
    }),
  ),
  open: request<FsOpenResult>('current')(
    'fs/open',
    'fs',
    struct('FsOpenParams', { handleId: str(), path: absolutePath('path'), sandbox }),
  ),
  readBlock: request<FsReadBlockResult>('current')(
    'fs/readBlock',
    'fs',
    struct('FsReadBlockParams', { handleId: str(), offset: uint(), len: uint('usize') }),
  ),
  close: request<EmptyResult>('current')('fs/close', 'fs', struct('FsCloseParams', { handleId: str() })),
  environmentInfo: request<EnvironmentInfo>('current')('environment/info', 'environmentInfo', noParams),
  environmentStatus: request<EnvironmentStatus>('current')(
    'environment/status',
    'environmentStatus',
    noParams,
  ),
  httpRequest: request<HttpRequestResult>('current')(
    'http/request',
    'http',
    struct('HttpRequestParams', {
      method: str(),
      url: str(),
      headers: seq(
        struct('HttpHeader', { name: str(), value: str(), valueEnvVar: str().nullish() }),
      ).nullish(),
      bodyBase64: base64('bodyBase64').nullish(),
      timeoutMs: uint().nullish(),
      redirectPolicy: variants(['follow', 'stop']).nullish(),
      requestId: str(),
      streamResponse: bool().nullish(),
    }),
  ),
} as const;

export type RequestMethods = typeof requestMethods;
export type MethodKey = keyof RequestMethods;
export type AnyRequestMethod = RequestMethods[MethodKey];

/** What a caller sends (base64 members as strings; optional members may be omitted). */
export type ParamsIn<M extends AnyRequestMethod> = z.input<M['params']>;
/** What a handler receives after validation (base64 members decoded). */
export type ParamsOut<M extends AnyRequestMethod> = z.output<M['params']>;
export type ResultOf<M extends AnyRequestMethod> = NonNullable<M['result']>;

/** Notifications the client sends. */
export const clientNotifications = {
  initialized: notification('initialized', z.unknown().optional()),
} as const;

/** Notifications the server sends. */
export const serverNotifications = {
  output: notification(
    'process/output',
    z.object({
      processId: z.string(),
      seq: z.number(),
      stream: variants(['stdout', 'stderr', 'pty']),
      chunk: z.string(),
    }) satisfies z.ZodType<OutputNotification>,
  ),
  exited: notification(
    'process/exited',
    z.object({
      processId: z.string(),
      seq: z.number(),
      exitCode: z.number(),
      // Always sent by this server and the current reference; absent from older servers.
      sandboxDenied: z.boolean().optional(),
    }) satisfies z.ZodType<ExitedNotification>,
  ),
  closed: notification(
    'process/closed',
    z.object({ processId: z.string(), seq: z.number() }) satisfies z.ZodType<ClosedNotification>,
  ),
  /** A managed-network decision (params: the record, member order as the reference's). */
  policyDecision: notification(
    'network/policyDecision',
    z
      .object({
        processId: z.string(),
        timestamp: z.string(),
        scope: variants(['domain', 'non_domain']),
        decision: variants(['allow', 'deny']),
        source: variants(['baseline_policy', 'mode_guard']),
        reason: z.string(),
        protocol: z.string(),
        host: z.string(),
        port: z.number(),
        method: z.string().optional(),
        client: z.string().optional(),
        policyOverride: z.boolean(),
      })
      .loose()
      .transform((value) => value as NetworkPolicyDecision),
  ),
  httpBodyDelta: notification(
    'http/request/bodyDelta',
    z.object({
      requestId: z.string(),
      seq: z.number(),
      deltaBase64: z.string(),
      done: z.boolean(),
      error: z.string().nullable(),
    }) satisfies z.ZodType<HttpBodyDeltaNotification>,
  ),
} as const;

export type ServerNotificationKey = keyof typeof serverNotifications;
export type NotificationParams<K extends ServerNotificationKey> = z.output<
  (typeof serverNotifications)[K]['params']
>;

/** Lookup by wire name, built from the table. */
export const requestMethodsByName: ReadonlyMap<string, { key: MethodKey; method: AnyRequestMethod }> =
  new Map(
    (Object.keys(requestMethods) as MethodKey[]).map((key) => [
      requestMethods[key].name,
      { key, method: requestMethods[key] },
    ]),
  );

/** Every wire method name, for `capabilities`. */
export const methodNames: readonly string[] = Object.values(requestMethods).map((m) => m.name);

const FAMILIES: Readonly<Record<MethodScope, string>> = {
  handshake: 'handshake methods',
  exec: 'exec methods',
  fs: 'filesystem methods',
  environmentInfo: 'environment info methods',
  environmentStatus: 'environment status methods',
  http: 'http methods',
};

/** The handshake error texts name the method family. */
export function handshakeFamily(scope: MethodScope): string {
  return FAMILIES[scope];
}

const PATH_MEMBERS = ['path', 'cwd', 'sourcePath', 'destinationPath'] as const;

/**
 * The shape a request was written in, from its raw params: a method the seed did not have, a
 * `file://` path, a `FileSystemSandboxContext` sandbox (it has `permissions`), or a `writeId` on
 * `process/write` (required upstream, optional in the seed) make it `current`; anything else is
 * answered exactly as the seed specified.
 */
export function dialectOf(method: AnyRequestMethod, params: unknown): Dialect {
  if (method.since === 'current') return 'current';
  if (typeof params !== 'object' || params === null) return 'seed';
  const raw = params as Record<string, unknown>;
  if (PATH_MEMBERS.some((member) => isUriPath(raw[member]))) return 'current';
  if (isSandboxContext(raw.sandbox)) return 'current';
  if (method.name === 'process/write' && typeof raw.writeId === 'string') return 'current';
  return 'seed';
}

/** Whether a raw `sandbox` member is the current shape (`FileSystemSandboxContext`). */
export function isSandboxContext(sandbox: unknown): boolean {
  return typeof sandbox === 'object' && sandbox !== null && 'permissions' in sandbox;
}
