/**
 * The client end of one WebSocket: numbered requests matched to responses, notifications handed to
 * one listener, and a single disconnect that fails every pending call with a `TransportError`.
 */
import { constants as bufferConstants } from 'node:buffer';
import { WebSocket, type RawData } from 'ws';
import { TransportError } from '../errors.js';
import {
  decodeMessage,
  encodeNotification,
  encodeRequest,
  frameText,
  type IncomingMessage,
} from '../rpc/envelope.js';
import { fromRpcError } from '../rpc/error-map.js';
import type { AnyRequestMethod, ParamsIn, ResultOf } from '../rpc/methods.js';

export const DISCONNECTED = 'exec-server transport disconnected';

export interface PeerOptions {
  readonly token?: string | null;
  readonly connectTimeoutMs?: number;
  /** Largest inbound message accepted from the server. */
  readonly maxMessageBytes?: number;
}

interface Pending {
  readonly method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class RpcPeer {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #disconnect: string | null = null;
  readonly #closed: Promise<void>;
  #onNotification: (method: string, params: unknown) => void = () => {};
  #onDisconnect: (message: string) => void = () => {};

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        const parts: string[] = [];
        if (code !== 1000 && code !== 1005) parts.push(`websocket closed with code ${code}`);
        if (reason.length > 0) parts.push(`(${reason.toString('utf8')})`);
        this.#fail(parts.length === 0 ? DISCONNECTED : `${DISCONNECTED}: ${parts.join(' ')}`);
        resolve();
      });
    });
    ws.on('message', (data: RawData) => this.#onMessage(frameText(data)));
    ws.on('error', () => {
      // 'close' follows every 'error'; the disconnect is reported there.
    });
  }

  /** Opens the socket; rejects with a `TransportError` naming the URL and the cause. */
  static open(url: string, options: PeerOptions = {}): Promise<RpcPeer> {
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
      const fail = (why: string) => {
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(new TransportError(`failed to connect to exec-server at ${url}: ${why}`));
      };
      ws.once('unexpected-response', (_request, response) => {
        fail(`HTTP ${response.statusCode ?? 0} ${response.statusMessage ?? ''}`.trim());
      });
      ws.once('error', (error: Error) => fail(error.message));
      ws.once('open', () => {
        ws.removeAllListeners();
        resolve(new RpcPeer(ws));
      });
    });
  }

  /** The disconnect message once the socket is gone, else null. */
  get disconnected(): string | null {
    return this.#disconnect;
  }

  set onNotification(listener: (method: string, params: unknown) => void) {
    this.#onNotification = listener;
  }

  set onDisconnect(listener: (message: string) => void) {
    this.#onDisconnect = listener;
  }

  call<M extends AnyRequestMethod>(method: M, params: ParamsIn<M>): Promise<ResultOf<M>> {
    if (this.#disconnect !== null) return Promise.reject(new TransportError(this.#disconnect));
    const id = this.#nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.#pending.set(id, { method: method.name, resolve, reject });
      this.#ws.send(encodeRequest(id, method.name, params));
    });
  }

  notify(method: { readonly name: string }, params: unknown): void {
    if (this.#disconnect === null) this.#ws.send(encodeNotification(method.name, params));
  }

  /** Closes the socket and waits for it to be closed. */
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

  /** Drops the socket at once (no close handshake), as a network failure would. */
  terminate(): void {
    this.#ws.terminate();
  }

  #onMessage(text: string): void {
    const decoded = decodeMessage(text);
    if (!decoded.ok) return;
    this.#route(decoded.message);
  }

  #route(message: IncomingMessage): void {
    switch (message.kind) {
      case 'notification':
        this.#onNotification(message.method, message.params);
        return;
      case 'response':
      case 'error': {
        if (typeof message.id !== 'number') return;
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        if (message.kind === 'response') pending.resolve(message.result);
        else pending.reject(fromRpcError(message.error, pending.method));
        return;
      }
      case 'request':
        // The server sends no requests; nothing to answer.
        return;
    }
  }

  #fail(message: string): void {
    if (this.#disconnect !== null) return;
    this.#disconnect = message;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const call of pending) call.reject(new TransportError(message));
    this.#onDisconnect(message);
  }
}
