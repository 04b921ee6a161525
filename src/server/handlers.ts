/**
 * The server's handler for each method of the table in `rpc/methods.ts`, keyed by the same keys:
 * the type below makes a method without a handler a compile error.
 *
 * Ordering rule: a handler does everything that must follow arrival order (id registration, lane
 * entry) synchronously, before its first `await`; the Connection calls handlers in arrival order.
 */
import {
  DuplicateProcessError,
  EmptyArgvError,
  FsInvalidError,
  InvalidArgumentError,
  LimitError,
  ProtocolError,
  UnknownProcessError,
  errorCodeOf,
  ErrorCodes,
} from '../errors.js';
import type { FileHandleTable } from '../fs/file-handles.js';
import { MAX_BASE64_BYTES, toBase64 } from '../fs/protocol.js';
import type { FileSystemBackend } from '../fs/types.js';
import type { ExecProcess, SandboxType, SignalName, WriteStatus } from '../core/types.js';
import { MethodNotFoundError } from '../rpc/error-map.js';
import {
  isSandboxContext,
  methodNames,
  requestMethods,
  serverNotifications,
  type MethodKey,
  type ParamsOut,
  type RequestMethods,
  type ResultOf,
} from '../rpc/methods.js';
import type { Dialect } from '../rpc/serde-schema.js';
import type { EmptyResult, InitializeResult, WireReadResult, WireSandboxType } from '../rpc/wire-types.js';
import { environmentInfo } from './environment-info.js';
import type { ServerHealth } from './health.js';
import {
  prepareHttpRequest,
  readBody,
  sendHttpRequest,
  streamBody,
  type HttpDecision,
} from './http-request.js';
import type { FileIdentityProbe } from './runtime-port.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { SessionRecord, SessionRegistry } from './session-registry.js';
import { serverVersion } from './server-version.js';

/** What handlers see of their connection. */
export interface ConnectionState {
  readonly options: ResolvedServerOptions;
  readonly registry: SessionRegistry;
  /** The runtime's `fs/*` methods, or null when it has none (then `fs/*` is -32601). */
  readonly fileSystem: FileSystemBackend | null;
  /** Opens a file under a sandbox in the sandboxed helper (`fs/open`); null: not offered. */
  readonly identifyFile: FileIdentityProbe | null;
  /** `fs/open` handles of this connection. */
  readonly files: FileHandleTable;
  /** `http/request` stream ids whose terminal body delta has not been sent yet. */
  readonly httpStreams: Set<string>;
  /** Aborted when the connection goes away: in-flight HTTP requests stop with it. */
  readonly httpAbort: AbortController;
  readonly httpDecision: HttpDecision | null;
  /** Bytes queued on the transport and not yet written. */
  outboundBuffered(): number;
  /** Sends a notification on this connection. */
  notify(method: string, params: unknown): void;
  /** `initialize` succeeded: the handshake deadline no longer applies. */
  initialized(): void;
  /** The connection's identity in the session registry. */
  readonly owner: object;
  /** The server's readiness, capacity and drain: starts are admitted and counted there. */
  readonly health: ServerHealth;
  phase: 'new' | 'initialized' | 'ready';
  session: SessionRecord | null;
  /** Starts in flight on this connection, by processId; settle to undefined on failure. */
  readonly pendingStarts: Map<string, Promise<ExecProcess | undefined>>;
  /** Per-process chain keeping stdin effects (write, closeStdin) in arrival order. */
  readonly stdinLanes: Map<string, Promise<unknown>>;
  /** Start sending this process's events as notifications. */
  follow(processId: string, process: ExecProcess): void;
  /** After a resume: follow every process the session still has. */
  followSession(): void;
}

/** What a handler knows of the request beyond its params. */
export interface RequestContext {
  /** The shape the request was written in: answers follow it (see `dialectOf`). */
  readonly dialect: Dialect;
}

type Handler<K extends MethodKey> = (
  state: ConnectionState,
  params: ParamsOut<RequestMethods[K]>,
  context: RequestContext,
) => Promise<ResultOf<RequestMethods[K]>>;

export type HandlerTable = { readonly [K in MethodKey]: Handler<K> };

// setTimeout overflows past 2^31-1 ms and would fire at once.
const MAX_WAIT_MS = 2_147_483_647;
const EMPTY: EmptyResult = {};

function sessionOf(state: ConnectionState): SessionRecord {
  // The Connection enforces the handshake before any exec handler runs.
  if (state.session === null)
    throw new ProtocolError('client must call initialize before using exec methods');
  return state.session;
}

/** The process, once a start of it in flight on this connection has settled. */
async function lookup(state: ConnectionState, processId: string): Promise<ExecProcess | undefined> {
  const session = sessionOf(state);
  const pending = state.pendingStarts.get(processId);
  if (pending !== undefined) await pending;
  return session.runtimeSession.get(processId);
}

async function mustLookup(state: ConnectionState, processId: string): Promise<ExecProcess> {
  const process = await lookup(state, processId);
  if (process === undefined) throw new UnknownProcessError(processId);
  return process;
}

/** Runs `task` after every earlier stdin effect on the same process (synchronously enqueued). */
function onStdinLane<T>(state: ConnectionState, processId: string, task: () => Promise<T>): Promise<T> {
  const previous = state.stdinLanes.get(processId) ?? Promise.resolve();
  const result = previous.then(task, task);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  state.stdinLanes.set(processId, tail);
  void tail.then(() => {
    if (state.stdinLanes.get(processId) === tail) state.stdinLanes.delete(processId);
  });
  return result;
}

function fileSystemOf(state: ConnectionState, method: { readonly name: string }): FileSystemBackend {
  if (state.fileSystem === null) throw new MethodNotFoundError(method.name);
  return state.fileSystem;
}

const CAMEL_SANDBOX_TYPES: Readonly<Record<SandboxType, WireSandboxType>> = {
  none: 'none',
  'macos-seatbelt': 'macosSeatbelt',
  'linux-seccomp': 'linuxSeccomp',
  'windows-restricted-token': 'windowsRestrictedToken',
};

/**
 * The reference's `sandboxType` spelling for a current-shape `sandbox` (or none, in a current-shape
 * request: an enforced managed network confines it all the same), the seed's otherwise.
 */
function sandboxTypeFor(
  sandbox: unknown,
  dialect: Dialect,
  type: SandboxType,
): SandboxType | WireSandboxType {
  const current =
    isSandboxContext(sandbox) || ((sandbox === null || sandbox === undefined) && dialect === 'current');
  return current ? CAMEL_SANDBOX_TYPES[type] : type;
}

export const handlers: HandlerTable = {
  initialize: (state, params) => {
    if (state.phase !== 'new') {
      return Promise.reject(new ProtocolError('initialize may only be sent once per connection'));
    }
    // Every session detaches on disconnect and may be resumed for the TTL, as upstream's do.
    const resumeId = params.resumeSessionId;
    const record =
      typeof resumeId === 'string'
        ? state.registry.resume(resumeId, state.owner)
        : state.registry.create(state.owner);
    state.session = record;
    state.phase = 'initialized';
    state.initialized();
    if (typeof resumeId === 'string') state.followSession();
    const result: InitializeResult = {
      sessionId: record.id,
      environmentInfo: { ...environmentInfo(), capacity: state.health.capacity() },
      serverVersion: serverVersion(),
      capabilities: {
        methods: methodNames,
        detachable: record.detachable,
        detachTtlMs: state.options.detachTtlMs,
        maxMessageBytes: state.options.maxMessageBytes,
      },
    };
    return Promise.resolve(result);
  },

  start: async (state, params, context) => {
    const session = sessionOf(state);
    const { processId } = params;
    // A draining server starts nothing new (EXEC_ERR_DRAINING: certainly not started, so a client
    // pool may start it elsewhere).
    state.health.admitStart();
    if (params.argv.length === 0) throw new EmptyArgvError();
    if (state.pendingStarts.has(processId) || session.open.has(processId)) {
      throw new DuplicateProcessError(processId);
    }
    const limit = state.options.maxProcessesPerConnection;
    if (session.open.size >= limit) {
      throw new LimitError(`process limit of this connection reached (${limit} processes not yet closed)`);
    }
    // Called synchronously: the runtime checks and inserts the id before it awaits anything.
    const starting = session.runtimeSession.start({
      processId,
      argv: params.argv,
      cwd: params.cwd.native,
      env: params.env,
      envPolicy: params.envPolicy ?? null,
      metadata: params.metadata ?? null,
      tty: params.tty,
      pipeStdin: params.pipeStdin ?? false,
      arg0: params.arg0 ?? null,
      sandbox: params.sandbox ?? null,
      enforceManagedNetwork: params.enforceManagedNetwork ?? null,
      networkProxy: params.networkProxy ?? null,
      managedNetwork: params.managedNetwork ?? null,
      size: params.size ?? null,
      // Without a client-requested flowControl the server paces the process itself: it acknowledges
      // output as the notifications leave (see NotificationForwarder), so a client slower than the
      // child gets backpressure instead of evicted output.
      flowControl: params.flowControl ?? state.options.serverFlowControl,
    });
    state.health.track(starting);
    session.open.add(processId);
    const serverPaced = params.flowControl == null && state.options.serverFlowControl !== null;
    if (serverPaced) session.autoAck.add(processId);
    state.pendingStarts.set(
      processId,
      starting.then(
        (process) => process,
        () => undefined,
      ),
    );
    let process: ExecProcess;
    try {
      process = await starting;
    } catch (error) {
      session.open.delete(processId);
      if (serverPaced) session.autoAck.delete(processId);
      throw error;
    } finally {
      state.pendingStarts.delete(processId);
    }
    const forget = () => {
      session.open.delete(processId);
      session.autoAck.delete(processId);
    };
    void process.closed.then(forget, forget);
    // Replayed events go out before the start response: output may precede it (§4).
    state.follow(processId, process);
    return { processId, sandboxType: sandboxTypeFor(params.sandbox, context.dialect, process.sandboxType) };
  },

  read: async (state, params) => {
    const process = await mustLookup(state, params.processId);
    const result = await process.read({
      afterSeq: params.afterSeq ?? null,
      maxBytes: params.maxBytes ?? null,
      waitMs: Math.min(params.waitMs ?? 0, MAX_WAIT_MS),
      acknowledge: params.acknowledge ?? null,
    });
    const wire: WireReadResult = {
      chunks: result.chunks.map((c) => ({
        seq: c.seq,
        stream: c.stream,
        chunk: Buffer.from(c.chunk.buffer, c.chunk.byteOffset, c.chunk.byteLength).toString('base64'),
      })),
      nextSeq: result.nextSeq,
      exited: result.exited,
      exitCode: result.exitCode,
      closed: result.closed,
      failure: result.failure,
      sandboxDenied: result.sandboxDenied ?? false,
      firstRetainedSeq: result.firstRetainedSeq,
    };
    return wire;
  },

  write: (state, params) =>
    onStdinLane(state, params.processId, async () => {
      const process = await lookup(state, params.processId);
      if (process === undefined) return { status: 'unknownProcess' as WriteStatus };
      try {
        return { status: await process.write(params.chunk, { writeId: params.writeId ?? null }) };
      } catch (error) {
        // Removed between lookup and write: the protocol answers this with a status, not an error.
        if (errorCodeOf(error) === ErrorCodes.UNKNOWN_PROCESS)
          return { status: 'unknownProcess' as WriteStatus };
        throw error;
      }
    }),

  closeStdin: (state, params) =>
    onStdinLane(state, params.processId, async () => {
      await (await mustLookup(state, params.processId)).closeStdin();
      return EMPTY;
    }),

  terminate: async (state, params) => {
    const process = await lookup(state, params.processId);
    if (process === undefined) return { running: false };
    try {
      return { running: await process.terminate({ graceMs: params.graceMs ?? null }) };
    } catch (error) {
      if (errorCodeOf(error) === ErrorCodes.UNKNOWN_PROCESS) return { running: false };
      throw error;
    }
  },

  signal: async (state, params) => {
    await (await mustLookup(state, params.processId)).signal(params.signal as SignalName);
    return EMPTY;
  },

  resize: async (state, params) => {
    await (await mustLookup(state, params.processId)).resize({ rows: params.rows, cols: params.cols });
    return EMPTY;
  },

  ack: async (state, params) => {
    await (await mustLookup(state, params.processId)).ack(params.seq);
    return EMPTY;
  },

  list: async (state, params) => {
    const session = sessionOf(state);
    const only = params?.processId ?? null;
    if (only === null) return { processes: await session.runtimeSession.list() };
    // One process: a direct lookup (waiting for its start if one is in flight on this connection),
    // so a client may send this right behind its `process/start` to learn the pid.
    const process = await lookup(state, only);
    return { processes: process === undefined ? [] : [process.info()] };
  },

  readFile: async (state, params) => {
    const { data } = await fileSystemOf(state, requestMethods.readFile).readFile({
      ...params,
      path: params.path.native,
    });
    // The answer is one JSON text: its base64 must fit in one JS string.
    if (data.byteLength > MAX_BASE64_BYTES) {
      throw new FsInvalidError(`file is too large to send over the wire: limit is ${MAX_BASE64_BYTES} bytes`);
    }
    return { dataBase64: toBase64(data) };
  },

  writeFile: async (state, params) => {
    await fileSystemOf(state, requestMethods.writeFile).writeFile({
      path: params.path.native,
      data: params.dataBase64,
      followSymlinks: params.followSymlinks,
      sandbox: params.sandbox,
    });
    return EMPTY;
  },

  createDirectory: async (state, params) => {
    await fileSystemOf(state, requestMethods.createDirectory).createDirectory({
      ...params,
      path: params.path.native,
    });
    return EMPTY;
  },

  getMetadata: async (state, params) => {
    // The seed's four members and the current shape's `isSymlink` and `size`: extra members are
    // ignored by a seed client, so one answer serves both.
    const { isDirectory, isFile, isSymlink, size, createdAtMs, modifiedAtMs } = await fileSystemOf(
      state,
      requestMethods.getMetadata,
    ).getMetadata({ ...params, path: params.path.native });
    return { isDirectory, isFile, isSymlink, size, createdAtMs, modifiedAtMs };
  },

  readDirectory: async (state, params) => {
    const { entries } = await fileSystemOf(state, requestMethods.readDirectory).readDirectory({
      ...params,
      path: params.path.native,
    });
    return {
      entries: entries.map(({ fileName, isDirectory, isFile }) => ({ fileName, isDirectory, isFile })),
    };
  },

  remove: async (state, params) => {
    await fileSystemOf(state, requestMethods.remove).remove({ ...params, path: params.path.native });
    return EMPTY;
  },

  copy: async (state, params) => {
    await fileSystemOf(state, requestMethods.copy).copy({
      ...params,
      sourcePath: params.sourcePath.native,
      destinationPath: params.destinationPath.native,
    });
    return EMPTY;
  },

  canonicalize: async (state, params) => {
    const path = await fileSystemOf(state, requestMethods.canonicalize).canonicalize({
      path: params.path.native,
      sandbox: params.sandbox,
    });
    return { path: params.path.render(path) };
  },

  walk: async (state, params) => {
    const outcome = await fileSystemOf(state, requestMethods.walk).walk({
      path: params.path.native,
      options: params.options,
      sandbox: params.sandbox,
    });
    const render = (path: string) => params.path.render(path);
    return {
      entries: outcome.entries.map(({ path, kind }) => ({ path: render(path), kind })),
      errors: outcome.errors.map(({ path, message }) => ({ path: render(path), message })),
      truncated: outcome.truncated,
    };
  },

  open: async (state, params) => {
    const { handleId, path, sandbox } = params;
    let expected = null;
    if (sandbox !== undefined && sandbox !== null) {
      if (state.identifyFile === null) {
        throw new FsInvalidError('streaming file reads do not support platform sandboxing');
      }
      // The sandbox decides what may be read: its helper opens the path, we open that same inode.
      expected = await state.identifyFile(path.native, sandbox);
      if (!expected.isFile) throw new FsInvalidError(`path \`${path.native}\` is not a file`);
    }
    await state.files.open(handleId, path.native, expected);
    return { handleId };
  },

  readBlock: async (state, params) => {
    const { chunk, eof } = await state.files.readBlock(params.handleId, params.offset, params.len);
    return { chunk: toBase64(chunk), eof };
  },

  close: async (state, params) => {
    await state.files.close(params.handleId);
    return EMPTY;
  },

  environmentInfo: (state) => Promise.resolve({ ...environmentInfo(), capacity: state.health.capacity() }),

  environmentStatus: () => Promise.resolve({ status: 'ready' as const }),

  httpRequest: async (state, params) => {
    const { requestId } = params;
    const stream = params.streamResponse ?? false;
    const input = {
      method: params.method,
      url: params.url,
      headers: params.headers ?? [],
      body: params.bodyBase64 ?? null,
      timeoutMs: params.timeoutMs ?? null,
      redirectPolicy: params.redirectPolicy ?? 'follow',
    } as const;
    const prepared = prepareHttpRequest(input, process.env);
    if (stream) {
      if (state.httpStreams.has(requestId)) {
        throw new InvalidArgumentError(
          `http/request streamResponse requestId \`${requestId}\` is already active`,
        );
      }
      // Reserved until the terminal delta went out, even if the caller stops reading earlier.
      state.httpStreams.add(requestId);
    }
    const signals = [state.httpAbort.signal];
    if (input.timeoutMs !== null) signals.push(AbortSignal.timeout(Math.min(input.timeoutMs, MAX_WAIT_MS)));
    const signal = AbortSignal.any(signals);
    try {
      const { head, body } = await sendHttpRequest(input, prepared, state.httpDecision, signal);
      if (!stream) {
        const bytes = await readBody(body, signal);
        return { status: head.status, headers: head.headers, bodyBase64: toBase64(bytes) };
      }
      // The answer (status and headers) goes out first; the body follows as notifications, from
      // the next turn of the event loop (the answer is sent in a microtask before it).
      setImmediate(() => {
        void streamBody(
          body,
          {
            delta: (seq, bytes, done, error) => {
              state.notify(serverNotifications.httpBodyDelta.name, {
                requestId,
                seq,
                deltaBase64: toBase64(bytes),
                done,
                error,
              });
              return !state.httpAbort.signal.aborted;
            },
            congested: () => state.outboundBuffered() > state.options.outboundHighWaterBytes,
          },
          signal,
        ).finally(() => state.httpStreams.delete(requestId));
      });
      return { status: head.status, headers: head.headers, bodyBase64: '' };
    } catch (error) {
      if (stream) state.httpStreams.delete(requestId);
      throw error;
    }
  },
};
