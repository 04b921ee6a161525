/**
 * `--listen ws://IP:PORT` or `--listen stdio` (also `stdio://`). Host names are refused on purpose:
 * what a name resolves to can change, and the loopback check below must judge the address that is
 * actually bound.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.js';

export interface WsListenAddress {
  readonly host: string;
  readonly port: number;
}

/** One connection over this process's stdin and stdout. */
export interface StdioListenAddress {
  readonly stdio: true;
}

export type ListenAddress = WsListenAddress | StdioListenAddress;

export const DEFAULT_LISTEN_URL = 'ws://127.0.0.1:0';

export function isStdioListen(address: ListenAddress): address is StdioListenAddress {
  return 'stdio' in address;
}

/** Parses a listen URL; throws `InvalidArgumentError` with the reference's exact texts. */
export function parseListenUrl(url: string): ListenAddress {
  if (url === 'stdio' || url === 'stdio://') return { stdio: true };
  if (!url.startsWith('ws://')) {
    throw new InvalidArgumentError(
      `unsupported --listen URL \`${url}\`; expected \`ws://IP:PORT\` or \`stdio\``,
    );
  }
  const invalid = () =>
    new InvalidArgumentError(`invalid websocket --listen URL \`${url}\`; expected \`ws://IP:PORT\``);
  const rest = url.slice('ws://'.length);
  const match = /^(?:\[([^\]]+)\]|([^:[\]/]+)):(\d{1,5})$/.exec(rest);
  if (!match) throw invalid();
  const v6 = match[1];
  const v4 = match[2];
  const port = Number(match[3]);
  if (port > 65535) throw invalid();
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw invalid();
    return { host: v6, port };
  }
  if (v4 === undefined || isIP(v4) !== 4) throw invalid();
  return { host: v4, port };
}

/** Whether only this machine can reach the address (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  const lower = host.toLowerCase();
  return lower === '::1' || lower.startsWith('::ffff:127.');
}

export function formatWsUrl(host: string, port: number): string {
  return isIP(host) === 6 ? `ws://[${host}]:${port}` : `ws://${host}:${port}`;
}
