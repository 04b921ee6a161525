/**
 * stdio as a `MessageTransport` (`serve --listen stdio`): one JSON message per line on stdin, one
 * per line on stdout, nothing else on stdout (logs go to stderr). Blank lines are ignored, as the
 * reference ignores them. EOF on stdin ends the connection, and with it the server.
 */
import type { Readable, Writable } from 'node:stream';
import { RpcCodes, UNPARSEABLE_ID, encodeError, stdioParseFailureMessage } from '../../rpc/envelope.js';
import { LineDecoder } from '../../rpc/line-framing.js';
import type { ServerLogger } from '../runtime-port.js';
import type { MessageTransport } from './types.js';

export class StdioTransport implements MessageTransport {
  readonly peer = 'stdio';
  readonly #input: Readable;
  readonly #output: Writable;
  readonly #logger: ServerLogger;
  readonly #messageListeners: ((text: string) => void)[] = [];
  readonly #closeListeners: ((detail: string) => void)[] = [];
  #open = true;

  constructor(input: Readable, output: Writable, maxMessageBytes: number, logger: ServerLogger) {
    this.#input = input;
    this.#output = output;
    this.#logger = logger;
    const decoder = new LineDecoder(maxMessageBytes, {
      line: (text) => {
        if (text.trim() === '') return;
        for (const listener of this.#messageListeners) listener(text);
      },
      oversized: (bytes) => {
        const message = stdioParseFailureMessage(
          `message of at least ${bytes} bytes exceeds the limit of ${maxMessageBytes} bytes`,
        );
        logger.warn({ bytes, maxMessageBytes }, 'refusing an oversized stdio message');
        this.send(encodeError(UNPARSEABLE_ID, { code: RpcCodes.INVALID_REQUEST, message }));
      },
    });
    input.on('data', (chunk: Buffer) => {
      if (this.#open) decoder.push(chunk);
    });
    input.once('end', () => {
      decoder.end();
      this.#finish('eof');
    });
    input.once('error', (error) => {
      logger.debug({ err: error }, 'stdin error');
      this.#finish('input error');
    });
    output.on('error', (error) => {
      // EPIPE: the reader is gone; nothing more can be said.
      logger.debug({ err: error }, 'stdout error');
      this.#finish('output error');
    });
  }

  get isOpen(): boolean {
    return this.#open;
  }

  parseFailureMessage(reason: string): string {
    return stdioParseFailureMessage(reason);
  }

  /** The output stream may keep a written buffer (a pipe in a test): `released` is never called. */
  readonly releasesMessages = false;

  send(message: string | Buffer): void {
    if (!this.#open) return;
    if (typeof message === 'string') {
      this.#output.write(`${message}\n`);
    } else {
      this.#output.write(message);
      this.#output.write('\n');
    }
  }

  bufferedAmount(): number {
    return this.#output.writableLength;
  }

  abort(): void {
    this.#logger.warn({}, 'ignoring a message that breaks the protocol (stdio keeps the connection)');
  }

  close(_code: number, reason: string): void {
    this.#logger.debug({ reason }, 'closing stdio');
    this.#finish(reason);
  }

  onMessage(listener: (text: string) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: (detail: string) => void): void {
    this.#closeListeners.push(listener);
  }

  #finish(detail: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#input.pause();
    this.#input.removeAllListeners('data');
    for (const listener of this.#closeListeners) listener(detail);
  }
}
