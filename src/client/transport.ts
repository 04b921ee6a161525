/**
 * The client's end of a connection, whatever carries it: a WebSocket (`ws://IP:PORT`), or a command
 * whose stdin and stdout speak JSON lines (`stdio:<command>`, for example
 * `stdio:ssh host execvisor serve --listen stdio`: the client starts the command with `/bin/sh -c`
 * and the server on the far end serves this one connection).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { constants as bufferConstants } from 'node:buffer';
import { WebSocket, type RawData } from 'ws';
import { TransportError } from '../errors.js';
import { LineDecoder } from '../rpc/line-framing.js';

export interface ClientTransport {
  send(text: string): void;
  /** Every inbound message: a line's text, or a WebSocket frame's bytes (see `decodeFrame`). */
  onMessage(listener: (frame: string | Buffer) => void): void;
  /** Once, when the connection is gone; `detail` says how ('' for a normal close). */
  onClose(listener: (detail: string) => void): void;
  /** Closes gracefully and resolves once closed. */
  close(): Promise<void>;
  /** Drops the connection at once, as a network failure would. */
  terminate(): void;
}

export interface TransportOptions {
  readonly token?: string | null;
  readonly connectTimeoutMs?: number;
  /** Largest inbound message accepted from the server. */
  readonly maxMessageBytes?: number;
}

/** Why a connection could not be opened: the server's HTTP answer, or the socket's error code. */
export type ConnectFailure = { readonly status: number } | { readonly errno: string | null };

/**
 * Whether a failure to connect may pass if tried again: the network (a timeout, a reset, no route
 * for now), not the server's refusal. Nobody listening (ECONNREFUSED) or an HTTP answer (401, 503
 * shutting down) means the server (and its sessions) is not coming back at that address.
 */
export function isTransientConnectFailure(error: unknown): boolean {
  if (!(error instanceof TransportError)) return false;
  const cause = error.cause as ConnectFailure | undefined;
  if (cause === undefined) return false;
  if ('status' in cause) return false;
  return cause.errno !== 'ECONNREFUSED';
}

/** The `stdio:` prefix of a remote that is a command. */
export const STDIO_PREFIX = 'stdio:';

/** Opens `url`: `ws://…` or `stdio:<command>`. Rejects with a `TransportError` naming the cause. */
export function openTransport(url: string, options: TransportOptions = {}): Promise<ClientTransport> {
  if (url.startsWith(STDIO_PREFIX)) return openStdioCommand(url.slice(STDIO_PREFIX.length), options);
  return openWebSocket(url, options);
}

/** A frame as one Buffer (ws hands a Buffer unless told otherwise). */
function frameBytes(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return data;
}

function openWebSocket(url: string, options: TransportOptions): Promise<ClientTransport> {
  const headers: Record<string, string> = {};
  if (options.token != null) headers.authorization = `Bearer ${options.token}`;
  const ws = new WebSocket(url, {
    headers,
    perMessageDeflate: false,
    // Default: the largest text a JS string can hold, so that any `fs/readFile` answer the server
    // can produce (it caps the base64 below this) is accepted rather than closing the socket.
    maxPayload: options.maxMessageBytes ?? bufferConstants.MAX_STRING_LENGTH,
    handshakeTimeout: options.connectTimeoutMs ?? 10_000,
  });
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause: ConnectFailure) => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(new TransportError(`failed to connect to exec-server at ${url}: ${why}`, { cause }));
    };
    ws.once('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      fail(`HTTP ${status} ${response.statusMessage ?? ''}`.trim(), { status });
    });
    ws.once('error', (error: NodeJS.ErrnoException) => fail(error.message, { errno: error.code ?? null }));
    ws.once('open', () => {
      ws.removeAllListeners();
      resolve(new WsClientTransport(ws));
    });
  });
}

class WsClientTransport implements ClientTransport {
  readonly #ws: WebSocket;
  readonly #closed: Promise<void>;
  #closeListener: (detail: string) => void = () => {};

  constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        const parts: string[] = [];
        if (code !== 1000 && code !== 1005) parts.push(`websocket closed with code ${code}`);
        if (reason.length > 0) parts.push(`(${reason.toString('utf8')})`);
        this.#closeListener(parts.join(' '));
        resolve();
      });
    });
    ws.on('error', () => {
      // 'close' follows every 'error'; the disconnect is reported there.
    });
  }

  send(text: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  onMessage(listener: (frame: string | Buffer) => void): void {
    this.#ws.on('message', (data: RawData) => listener(frameBytes(data)));
  }

  onClose(listener: (detail: string) => void): void {
    this.#closeListener = listener;
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(1000);
      const force = setTimeout(() => this.#ws.terminate(), 2_000);
      force.unref();
      await this.#closed;
      clearTimeout(force);
    }
    await this.#closed;
  }

  terminate(): void {
    this.#ws.terminate();
  }
}

/** A stdio command that has not exited this long after its stdin closed is killed. */
const STDIO_EXIT_GRACE_MS = 5_000;

function openStdioCommand(command: string, options: TransportOptions): Promise<ClientTransport> {
  if (command.trim() === '') {
    return Promise.reject(new TransportError('failed to connect to exec-server: `stdio:` needs a command'));
  }
  return new Promise((resolve, reject) => {
    let child: CommandProcess;
    try {
      // The server's logs (its stderr) go to ours; stdin and stdout carry the protocol.
      child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'inherit'] });
    } catch (error) {
      reject(new TransportError(`failed to start exec-server command \`${command}\`: ${String(error)}`));
      return;
    }
    child.once('error', (error) =>
      reject(new TransportError(`failed to start exec-server command \`${command}\`: ${error.message}`)),
    );
    child.once('spawn', () => resolve(new StdioClientTransport(child, options.maxMessageBytes)));
  });
}

type CommandProcess = ChildProcessByStdio<Writable, Readable, null>;

class StdioClientTransport implements ClientTransport {
  readonly #child: CommandProcess;
  readonly #exited: Promise<void>;
  readonly #decoder: LineDecoder;
  #messageListener: (frame: string | Buffer) => void = () => {};
  #closeListener: (detail: string) => void = () => {};
  #open = true;

  constructor(child: CommandProcess, maxMessageBytes = bufferConstants.MAX_STRING_LENGTH) {
    this.#child = child;
    this.#decoder = new LineDecoder(maxMessageBytes, {
      line: (text) => {
        if (text.trim() !== '') this.#messageListener(text);
      },
      oversized: () => this.terminate(),
    });
    child.stdout.on('data', (chunk: Buffer) => this.#decoder.push(chunk));
    child.stdin.on('error', () => {
      // EPIPE: the command is gone; its exit reports it.
    });
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#decoder.end();
        this.#open = false;
        this.#closeListener(
          code === 0
            ? ''
            : `stdio command exited with ${signal !== null ? `signal ${signal}` : `code ${code}`}`,
        );
        resolve();
      });
    });
  }

  send(text: string): void {
    if (this.#open) this.#child.stdin.write(`${text}\n`);
  }

  onMessage(listener: (frame: string | Buffer) => void): void {
    this.#messageListener = listener;
  }

  onClose(listener: (detail: string) => void): void {
    this.#closeListener = listener;
  }

  /** EOF on the command's stdin ends the server's connection (and the server); wait for it. */
  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.stdin.end();
      const force = setTimeout(() => this.#child.kill('SIGKILL'), STDIO_EXIT_GRACE_MS);
      force.unref();
      await this.#exited;
      clearTimeout(force);
    }
    await this.#exited;
  }

  terminate(): void {
    this.#child.kill('SIGKILL');
  }
}
