/** A WebSocket as a `MessageTransport`: one JSON-RPC message per frame, text or binary. */
import type { RawData, WebSocket } from 'ws';
import { frameText, parseFailureMessage } from '../../rpc/envelope.js';
import type { ServerLogger } from '../runtime-port.js';
import type { MessageTransport } from './types.js';

/** WebSocket close code for a peer that broke the protocol (RFC 6455 §7.4.1). */
const CLOSE_PROTOCOL_ERROR = 1002;
/** A peer that never answers the close handshake must not hold a shutdown. */
const CLOSE_GRACE_MS = 1_000;

export class WsTransport implements MessageTransport {
  readonly peer: string;
  readonly releasesMessages = true;
  readonly #ws: WebSocket;

  constructor(ws: WebSocket, peer: string, logger: ServerLogger) {
    this.#ws = ws;
    this.peer = peer;
    ws.on('error', (error) => logger.debug({ peer, err: error }, 'websocket error'));
  }

  get isOpen(): boolean {
    return this.#ws.readyState === this.#ws.OPEN;
  }

  parseFailureMessage(reason: string): string {
    return parseFailureMessage(this.peer, reason);
  }

  send(message: string | Buffer, released?: () => void): void {
    if (!this.isOpen) {
      released?.();
      return;
    }
    // Bytes go out as a text frame too: they are UTF-8 JSON, and ws takes their length as is. The
    // callback runs once the socket has written the frame (or failed to).
    this.#ws.send(message, { binary: false }, released === undefined ? undefined : () => released());
  }

  bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  abort(): void {
    // A fixed reason: a close reason is limited to 123 bytes and must not echo peer input.
    this.#ws.close(CLOSE_PROTOCOL_ERROR, 'protocol violation');
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.CLOSED) return;
    this.#ws.close(code, reason);
    setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  onMessage(listener: (text: string) => void): void {
    this.#ws.on('message', (data: RawData) => listener(frameText(data)));
  }

  onClose(listener: (detail: string) => void): void {
    this.#ws.on('close', (code: number) => listener(String(code)));
  }
}
