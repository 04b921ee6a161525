/**
 * The method table: every JSON-RPC method and notification is declared here once, with its wire
 * name, params schema and result type. The server dispatches from `requestMethods` (its handler
 * table is keyed by the same keys and must cover every entry); the client and the tests call
 * through the same objects, so no method name is spelled twice.
 *
 * The `fs/*` methods have `scope: 'fs'`: the handshake rule and its error texts follow from it.
 */
import { constants as osConstants } from 'node:os';
import { z } from 'zod';
import type { SandboxOptions } from '../core/sandbox-options.js';
import { relativePathMessage } from '../fs/file-system.js';
import { bool, base64, seq, str, stringMap, struct, uint, variants } from './serde-schema.js';
import type {
  ClosedNotification,
  EmptyResult,
  ExitedNotification,
  FsMetadataResult,
  FsReadDirectoryResult,
  FsReadFileResult,
  InitializeResult,
  ListResult,
  OutputNotification,
  StartResult,
  TerminateResult,
  WireReadResult,
  WriteResult,
} from './wire-types.js';

/**
 * Which handshake rule a method obeys: `handshake` methods run before `initialize`; `exec` and
 * `fs` methods need the full handshake, and their error texts name their family.
 */
export type MethodScope = 'handshake' | 'exec' | 'fs';

export interface RequestMethod<Name extends string, Params extends z.ZodType, Result> {
  readonly name: Name;
  readonly scope: MethodScope;
  readonly params: Params;
  /** Type-level only: the result type. */
  readonly result?: Result;
}

export interface NotificationMethod<Name extends string, Params extends z.ZodType> {
  readonly name: Name;
  readonly params: Params;
}

function request<Result>() {
  return <const Name extends string, Params extends z.ZodType>(
    name: Name,
    scope: MethodScope,
    params: Params,
  ): RequestMethod<Name, Params, Result> => ({ name, scope, params });
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

/** An absolute path (fs methods refuse relative ones with -32602). */
const absolutePath = (field: string) =>
  str().refine((path) => path.startsWith('/'), {
    error: (issue) => relativePathMessage(field, issue.input),
  });

// Validated by the sandbox layer, which reports `failed to prepare process sandbox: …`; typed here
// (accepting any value) so callers of the client and the runtime see one `SandboxOptions` type.
const sandbox = z.custom<SandboxOptions | null>().optional();

const terminalSize = struct('TerminalSize', { rows: uint('u16', 0xffff), cols: uint('u16', 0xffff) });

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
      cwd: str(),
      env: stringMap(),
      tty: bool(),
      arg0: str().nullish(),
      sandbox,
      pipeStdin: bool().nullish(),
      size: terminalSize.nullish(),
      flowControl: struct('FlowControl', { highWaterBytes: uint(), lowWaterBytes: uint() }).nullish(),
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
    struct('FsReadFileParams', { path: absolutePath('path'), sandbox }),
  ),
  writeFile: request<EmptyResult>()(
    'fs/writeFile',
    'fs',
    struct('FsWriteFileParams', { path: absolutePath('path'), dataBase64: base64('dataBase64'), sandbox }),
  ),
  createDirectory: request<EmptyResult>()(
    'fs/createDirectory',
    'fs',
    struct('FsCreateDirectoryParams', { path: absolutePath('path'), recursive: bool().nullish(), sandbox }),
  ),
  getMetadata: request<FsMetadataResult>()(
    'fs/getMetadata',
    'fs',
    struct('FsGetMetadataParams', { path: absolutePath('path'), sandbox }),
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
    }) satisfies z.ZodType<ExitedNotification>,
  ),
  closed: notification(
    'process/closed',
    z.object({ processId: z.string(), seq: z.number() }) satisfies z.ZodType<ClosedNotification>,
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

/** The handshake error texts name the method family. */
export function handshakeFamily(scope: MethodScope): string {
  return scope === 'fs' ? 'filesystem methods' : 'exec methods';
}
