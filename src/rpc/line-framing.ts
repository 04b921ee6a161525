/**
 * JSON lines: one message per `\n`-terminated line, as the stdio transport frames them (both the
 * server's `--listen stdio` and the client's `stdio:` remote). Bytes are split on `\n` before they
 * are decoded, so a multi-byte character split across reads is never mangled, and a line longer
 * than the limit is dropped whole (reported once) instead of being buffered without bound.
 */

export interface LineDecoderEvents {
  /** One complete line, without its terminator (a trailing `\r` is removed too). */
  line(text: string): void;
  /** A line exceeded `maxLineBytes`; its bytes up to the next `\n` are discarded. */
  oversized(bytes: number): void;
}

export class LineDecoder {
  readonly #maxLineBytes: number;
  readonly #events: LineDecoderEvents;
  #parts: Buffer[] = [];
  #length = 0;
  /** Inside an oversized line: drop bytes until the next newline. */
  #skipping = false;

  constructor(maxLineBytes: number, events: LineDecoderEvents) {
    this.#maxLineBytes = maxLineBytes;
    this.#events = events;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline;
      this.#append(chunk.subarray(start, end));
      if (newline < 0) return;
      this.#finishLine();
      start = newline + 1;
    }
  }

  /** End of input: a last line without a terminator still counts. */
  end(): void {
    if (this.#length > 0 || this.#parts.length > 0) this.#finishLine();
  }

  #append(bytes: Buffer): void {
    if (this.#skipping || bytes.length === 0) return;
    if (this.#length + bytes.length > this.#maxLineBytes) {
      this.#events.oversized(this.#length + bytes.length);
      this.#parts = [];
      this.#length = 0;
      this.#skipping = true;
      return;
    }
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  #finishLine(): void {
    if (this.#skipping) {
      this.#skipping = false;
      return;
    }
    const bytes = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    this.#events.line(text);
  }
}
