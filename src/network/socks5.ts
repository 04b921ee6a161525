/**
 * SOCKS5 (RFC 1928) framing: the greeting, the request and the reply, as pure functions over
 * bytes. Only `CONNECT` with no authentication is served; the proxy answers anything else with
 * the matching error reply. Addresses come out as text for the policy: IPv4 dotted, IPv6
 * canonical, and a domain name (`socks5h`) exactly as sent, to be validated by the policy.
 */
import { formatIp, parseIPv4, parseIPv6 } from './address.js';

export const SOCKS_VERSION = 0x05;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_NONE_ACCEPTABLE = 0xff;
export const COMMAND_CONNECT = 0x01;

/** Reply codes (RFC 1928 §6). */
export const SocksReply = Object.freeze({
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
});

export type SocksParse<T> =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly problem: string; readonly reply: number | null }
  | { readonly status: 'ok'; readonly value: T; readonly consumed: number };

const incomplete = { status: 'incomplete' } as const;

/** `VER NMETHODS METHODS…`: whether no-authentication is offered. */
export function parseGreeting(bytes: Uint8Array): SocksParse<{ readonly noAuthOffered: boolean }> {
  if (bytes.length < 2) return incomplete;
  if (bytes[0] !== SOCKS_VERSION) return { status: 'invalid', problem: 'not SOCKS version 5', reply: null };
  const count = bytes[1]!;
  if (count === 0) return { status: 'invalid', problem: 'no authentication methods offered', reply: null };
  if (bytes.length < 2 + count) return incomplete;
  const methods = bytes.subarray(2, 2 + count);
  return { status: 'ok', value: { noAuthOffered: methods.includes(METHOD_NO_AUTH) }, consumed: 2 + count };
}

export interface SocksRequest {
  readonly command: number;
  /** 1 IPv4, 3 domain name, 4 IPv6. */
  readonly addressType: 1 | 3 | 4;
  readonly host: string;
  readonly port: number;
}

/** `VER CMD RSV ATYP DST.ADDR DST.PORT`. */
export function parseRequest(bytes: Uint8Array): SocksParse<SocksRequest> {
  if (bytes.length < 5) return incomplete;
  if (bytes[0] !== SOCKS_VERSION) return { status: 'invalid', problem: 'not SOCKS version 5', reply: null };
  const command = bytes[1]!;
  const addressType = bytes[3]!;
  let host: string;
  let offset: number;
  if (addressType === 0x01) {
    if (bytes.length < 10) return incomplete;
    host = formatIp({ family: 4, bytes: bytes.slice(4, 8), zone: null });
    offset = 8;
  } else if (addressType === 0x04) {
    if (bytes.length < 22) return incomplete;
    host = formatIp({ family: 6, bytes: bytes.slice(4, 20), zone: null });
    offset = 20;
  } else if (addressType === 0x03) {
    const length = bytes[4]!;
    if (length === 0) {
      return {
        status: 'invalid',
        problem: 'empty domain name',
        reply: SocksReply.ADDRESS_TYPE_NOT_SUPPORTED,
      };
    }
    if (bytes.length < 5 + length + 2) return incomplete;
    // Not trusted: the policy validates the name and refuses anything that is not a host name.
    host = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(5, 5 + length));
    offset = 5 + length;
  } else {
    return {
      status: 'invalid',
      problem: `address type ${addressType} is not supported`,
      reply: SocksReply.ADDRESS_TYPE_NOT_SUPPORTED,
    };
  }
  const port = (bytes[offset]! << 8) | bytes[offset + 1]!;
  return {
    status: 'ok',
    value: { command, addressType: addressType, host, port },
    consumed: offset + 2,
  };
}

/** A reply with the bound address (an IPv4 or IPv6 literal; 0.0.0.0:0 when unknown). */
export function socksReply(
  code: number,
  bound?: { readonly address: string; readonly port: number },
): Buffer {
  const port = bound?.port ?? 0;
  const address = (bound === undefined ? null : (parseIPv4(bound.address) ?? parseIPv6(bound.address))) ?? {
    family: 4,
    bytes: new Uint8Array(4),
  };
  const reply = Buffer.alloc(4 + address.bytes.length + 2);
  reply.set([SOCKS_VERSION, code, 0x00, address.family === 4 ? 0x01 : 0x04], 0);
  reply.set(address.bytes, 4);
  reply.writeUInt16BE(port, 4 + address.bytes.length);
  return reply;
}
