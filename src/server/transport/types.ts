/**
 * One connection's byte pipe, whatever carries it: a WebSocket (one message per frame) or stdio
 * (one message per line). The `Connection` speaks JSON-RPC over this and never sees the carrier.
 */

export interface MessageTransport {
  /** How logs and parse errors name the peer (`127.0.0.1:5000`, `stdio`). */
  readonly peer: string;
  /** Whether messages may still be sent. */
  readonly isOpen: boolean;
  /** The -32600 text for a message that could not be parsed, in the carrier's own words. */
  parseFailureMessage(reason: string): string;
  /**
   * One message: JSON text, or its UTF-8 bytes (output notifications are built as bytes).
   * `released`, when `releasesMessages`: called once the carrier holds no reference to `message`
   * any more (written to the socket, or dropped), so its memory may be reused.
   */
  send(message: string | Buffer, released?: () => void): void;
  /** Whether `send` calls `released` (a socket can tell; a stream that may keep the buffer cannot). */
  readonly releasesMessages: boolean;
  /** Bytes queued and not yet written (for the notification backpressure). */
  bufferedAmount(): number;
  /**
   * The peer broke the protocol. A WebSocket closes without a reply (code 1002). On stdio the
   * reference ignores the message and keeps the connection, and so do we: closing would end the
   * server for a peer that cannot reconnect.
   */
  abort(): void;
  /** Close gracefully (server shutdown, handshake timeout) with a code and a short fixed reason. */
  close(code: number, reason: string): void;
  /** Every inbound message, in order. */
  onMessage(listener: (text: string) => void): void;
  /** Once, when the carrier is gone; `detail` names how (a close code). */
  onClose(listener: (detail: string) => void): void;
}
