/**
 * The client end of one connection (WebSocket or stdio command): numbered requests matched to
 * responses, notifications handed to one listener, and a single disconnect that fails every pending
 * call with a `TransportError`.
 *
 * An optional `ShapeAdapter` rewrites what goes out and comes back, so that the code above (the
 * client, the process handles) speaks one shape while the server may speak the other.
 */
import { TransportError } from '../errors.js';
import { decodeFrame } from '../rpc/output-frame.js';
import { encodeNotification, encodeRequest, type IncomingMessage } from '../rpc/envelope.js';
import { fromRpcError } from '../rpc/error-map.js';
import type { AnyRequestMethod, ParamsIn, ResultOf } from '../rpc/methods.js';
import { openTransport, type ClientTransport, type TransportOptions } from './transport.js';

export const DISCONNECTED = 'exec-server transport disconnected';

export type PeerOptions = TransportOptions;

/** Rewrites params before they are sent and results before they are returned, per method. */
export interface ShapeAdapter {
  request(method: string, params: unknown): unknown;
  response(method: string, params: unknown, result: unknown): unknown;
}

interface Pending {
  readonly method: string;
  readonly params: unknown;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class RpcPeer {
  readonly #transport: ClientTransport;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #disconnect: string | null = null;
  readonly #closed: Promise<void>;
  #adapter: ShapeAdapter | null = null;
  #onNotification: (method: string, params: unknown) => void = () => {};
  #onDisconnect: (message: string) => void = () => {};

  private constructor(transport: ClientTransport) {
    this.#transport = transport;
    this.#closed = new Promise((resolve) => {
      transport.onClose((detail) => {
        this.#fail(detail === '' ? DISCONNECTED : `${DISCONNECTED}: ${detail}`);
        resolve();
      });
    });
    transport.onMessage((frame) => this.#onMessage(frame));
  }

  /** Opens `ws://…` or `stdio:<command>`; rejects with a `TransportError` naming the cause. */
  static async open(url: string, options: PeerOptions = {}): Promise<RpcPeer> {
    return new RpcPeer(await openTransport(url, options));
  }

  /** The disconnect message once the connection is gone, else null. */
  get disconnected(): string | null {
    return this.#disconnect;
  }

  set onNotification(listener: (method: string, params: unknown) => void) {
    this.#onNotification = listener;
  }

  set onDisconnect(listener: (message: string) => void) {
    this.#onDisconnect = listener;
  }

  /** From now on, every call goes through `adapter`. */
  set adapter(adapter: ShapeAdapter | null) {
    this.#adapter = adapter;
  }

  call<M extends AnyRequestMethod>(method: M, params: ParamsIn<M>): Promise<ResultOf<M>> {
    if (this.#disconnect !== null) return Promise.reject(new TransportError(this.#disconnect));
    const id = this.#nextId++;
    const sent = this.#adapter === null ? params : this.#adapter.request(method.name, params);
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.#pending.set(id, { method: method.name, params: sent, resolve, reject });
      this.#transport.send(encodeRequest(id, method.name, sent));
    });
  }

  notify(method: { readonly name: string }, params: unknown): void {
    if (this.#disconnect === null) this.#transport.send(encodeNotification(method.name, params));
  }

  /** Closes the connection and waits for it to be closed. */
  async close(): Promise<void> {
    await this.#transport.close();
    await this.#closed;
  }

  /** Drops the connection at once (no close handshake), as a network failure would. */
  terminate(): void {
    this.#transport.terminate();
  }

  #onMessage(frame: string | Buffer): void {
    const decoded = decodeFrame(frame);
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
        if (message.kind === 'error') {
          pending.reject(fromRpcError(message.error, pending.method));
          return;
        }
        const result =
          this.#adapter === null
            ? message.result
            : this.#adapter.response(pending.method, pending.params, message.result);
        pending.resolve(result);
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
