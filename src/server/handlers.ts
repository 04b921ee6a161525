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
  LimitError,
  ProtocolError,
  UnknownProcessError,
  errorCodeOf,
  ErrorCodes,
} from '../errors.js';
import { MAX_BASE64_BYTES, toBase64 } from '../fs/protocol.js';
import type { FileSystemBackend } from '../fs/types.js';
import type { ExecProcess, SignalName, WriteStatus } from '../core/types.js';
import { MethodNotFoundError } from '../rpc/error-map.js';
import {
  methodNames,
  requestMethods,
  type MethodKey,
  type ParamsOut,
  type RequestMethods,
  type ResultOf,
} from '../rpc/methods.js';
import type { EmptyResult, InitializeResult, WireReadResult } from '../rpc/wire-types.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { SessionRecord, SessionRegistry } from './session-registry.js';
import { serverVersion } from './server-version.js';

/** What handlers see of their connection. */
export interface ConnectionState {
  readonly options: ResolvedServerOptions;
  readonly registry: SessionRegistry;
  /** The runtime's `fs/*` methods, or null when it has none (then `fs/*` is -32601). */
  readonly fileSystem: FileSystemBackend | null;
  /** The connection's identity in the session registry. */
  readonly owner: object;
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

type Handler<K extends MethodKey> = (
  state: ConnectionState,
  params: ParamsOut<RequestMethods[K]>,
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

export const handlers: HandlerTable = {
  initialize: (state, params) => {
    if (state.phase !== 'new') {
      return Promise.reject(new ProtocolError('initialize may only be sent once per connection'));
    }
    // Only a client that sent the member (even as null) knows about sessions and may detach.
    const detachable = 'resumeSessionId' in params && params.resumeSessionId !== undefined;
    const resumeId = params.resumeSessionId;
    const record =
      typeof resumeId === 'string'
        ? state.registry.resume(resumeId, state.owner)
        : state.registry.create(state.owner, detachable);
    state.session = record;
    state.phase = 'initialized';
    if (typeof resumeId === 'string') state.followSession();
    const result: InitializeResult = {
      sessionId: record.id,
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

  start: async (state, params) => {
    const session = sessionOf(state);
    const { processId } = params;
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
      cwd: params.cwd,
      env: params.env,
      tty: params.tty,
      pipeStdin: params.pipeStdin ?? false,
      arg0: params.arg0 ?? null,
      sandbox: params.sandbox ?? null,
      size: params.size ?? null,
      // Without a client-requested flowControl the server paces the process itself: it acknowledges
      // output as the notifications leave (see NotificationForwarder), so a client slower than the
      // child gets backpressure instead of evicted output.
      flowControl: params.flowControl ?? state.options.serverFlowControl,
    });
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
    return { processId, sandboxType: process.sandboxType };
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
    const { data } = await fileSystemOf(state, requestMethods.readFile).readFile(params);
    // The answer is one JSON text: its base64 must fit in one JS string.
    if (data.byteLength > MAX_BASE64_BYTES) {
      throw new FsInvalidError(`file is too large to send over the wire: limit is ${MAX_BASE64_BYTES} bytes`);
    }
    return { dataBase64: toBase64(data) };
  },

  writeFile: async (state, params) => {
    await fileSystemOf(state, requestMethods.writeFile).writeFile({
      path: params.path,
      data: params.dataBase64,
      sandbox: params.sandbox,
    });
    return EMPTY;
  },

  createDirectory: async (state, params) => {
    await fileSystemOf(state, requestMethods.createDirectory).createDirectory(params);
    return EMPTY;
  },

  getMetadata: async (state, params) => {
    const { isDirectory, isFile, createdAtMs, modifiedAtMs } = await fileSystemOf(
      state,
      requestMethods.getMetadata,
    ).getMetadata(params);
    return { isDirectory, isFile, createdAtMs, modifiedAtMs };
  },

  readDirectory: async (state, params) => {
    const { entries } = await fileSystemOf(state, requestMethods.readDirectory).readDirectory(params);
    return {
      entries: entries.map(({ fileName, isDirectory, isFile }) => ({ fileName, isDirectory, isFile })),
    };
  },

  remove: async (state, params) => {
    await fileSystemOf(state, requestMethods.remove).remove(params);
    return EMPTY;
  },

  copy: async (state, params) => {
    await fileSystemOf(state, requestMethods.copy).copy(params);
    return EMPTY;
  },
};
