/**
 * The bridge preamble: the first line a bridge (ours, inside a sandbox's network namespace) sends
 * on each connection to the runtime's proxy socket, naming the process the connection belongs to.
 *
 *   EXECVISOR-NET/1 <token> [<client>]\n
 *
 * `token` is the 32 lowercase hex digits of the process's proxy lease; `client` is the address the
 * connection came from inside the sandbox (`127.0.0.1:43210`), reported in decisions. Everything
 * after the newline is the client's own protocol (HTTP or SOCKS5), forwarded unchanged.
 */

export const PREAMBLE_MAGIC = 'EXECVISOR-NET/1';
/** A longer first line is refused: the bridge never sends one. */
export const MAX_PREAMBLE_BYTES = 256;

const TOKEN = /^[0-9a-f]{32}$/;
const CLIENT = /^[0-9A-Za-z.:[\]%_-]{1,64}$/;

export function formatPreamble(token: string, client?: string): string {
  return client === undefined ? `${PREAMBLE_MAGIC} ${token}\n` : `${PREAMBLE_MAGIC} ${token} ${client}\n`;
}

export type PreambleParse =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly problem: string }
  | {
      readonly status: 'ok';
      readonly token: string;
      readonly client: string | null;
      readonly consumed: number;
    };

export function parsePreamble(bytes: Uint8Array): PreambleParse {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0) {
    return bytes.length >= MAX_PREAMBLE_BYTES
      ? { status: 'invalid', problem: `no preamble line within ${MAX_PREAMBLE_BYTES} bytes` }
      : { status: 'incomplete' };
  }
  if (newline >= MAX_PREAMBLE_BYTES) {
    return { status: 'invalid', problem: `preamble line longer than ${MAX_PREAMBLE_BYTES} bytes` };
  }
  const line = Buffer.from(bytes.subarray(0, newline)).toString('latin1').replace(/\r$/, '');
  const parts = line.split(' ');
  if (parts[0] !== PREAMBLE_MAGIC) return { status: 'invalid', problem: 'not an execvisor bridge preamble' };
  const token = parts[1] ?? '';
  if (!TOKEN.test(token)) return { status: 'invalid', problem: 'malformed token' };
  const client = parts[2] ?? null;
  if (parts.length > 3 || (client !== null && !CLIENT.test(client))) {
    return { status: 'invalid', problem: 'malformed client address' };
  }
  return { status: 'ok', token, client, consumed: newline + 1 };
}
