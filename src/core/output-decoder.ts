/**
 * Streaming UTF-8 decoding of process output. A chunk boundary carries no meaning (docs/api.md):
 * a character may be split across two chunks, so decoding each chunk with a fresh `TextDecoder`
 * garbles it. One streaming decoder per stream keeps the unfinished bytes for the next chunk of
 * the same stream, whatever the other streams do in between.
 */
import { TextDecoder } from 'node:util';
import type { OutputStream } from './types.js';

export class OutputDecoder {
  readonly #decoders = new Map<OutputStream, TextDecoder>();

  /** The text of one chunk (an output event or a `read()` chunk), as far as it is complete. */
  decode(output: { readonly stream: OutputStream; readonly chunk: Uint8Array }): string {
    let decoder = this.#decoders.get(output.stream);
    if (decoder === undefined) {
      decoder = new TextDecoder('utf-8');
      this.#decoders.set(output.stream, decoder);
    }
    return decoder.decode(output.chunk, { stream: true });
  }

  /** The end of `stream` (default: of every stream): a character left unfinished becomes U+FFFD. */
  end(stream?: OutputStream): string {
    let text = '';
    for (const [name, decoder] of this.#decoders) {
      if (stream === undefined || name === stream) text += decoder.decode();
    }
    return text;
  }
}
