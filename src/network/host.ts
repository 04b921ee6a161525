/**
 * Host names as the policy sees them: one canonical text per host (lowercase ASCII, IDN turned
 * into punycode, trailing dots dropped, IP literals in canonical form), and the domain patterns of
 * a policy (`example.com`, `*.example.com`, `**.example.com`, `*`).
 */
import { domainToASCII } from 'node:url';
import { formatIp, type IpAddress, parseIpLiteral } from './address.js';

export interface HostName {
  /** The canonical text: what patterns match and what decisions report. */
  readonly text: string;
  /** The address when the host is an IP literal (strict forms only), else null. */
  readonly ip: IpAddress | null;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const MAX_NAME_LENGTH = 253;

/**
 * Canonicalizes a host (no port) or returns null when it is not a valid host: empty, too long, bad
 * characters, an empty label, or brackets around something that is not an IPv6 literal.
 */
export function parseHostName(input: string): HostName | null {
  let host = input.trim();
  if (host.length === 0 || host.length > 1024) return null;
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return null;
    // RFC 6874: a zone in a URL is written `%25zone`.
    const ip = parseIpLiteral(host.slice(1, -1).replace('%25', '%'));
    if (ip === null || ip.family !== 6) return null;
    return { text: formatIp(ip), ip };
  }
  if (host.includes(':')) {
    const ip = parseIpLiteral(host);
    return ip === null ? null : { text: formatIp(ip), ip };
  }
  host = host.replace(/\.+$/, '');
  const ip = parseIpLiteral(host);
  if (ip !== null) return { text: formatIp(ip), ip };
  // IDN and full-width forms are mapped the way a URL parser maps them, so the name that is
  // decided on is the name that is resolved and connected to.
  const ascii = /^[\x21-\x7e]+$/.test(host) ? host.toLowerCase() : domainToASCII(host);
  if (ascii === '' || ascii.length > MAX_NAME_LENGTH) return null;
  const labels = ascii.split('.');
  if (!labels.every((label) => LABEL.test(label))) return null;
  // A name that maps to an IP literal only after IDN mapping (`１２７.0.0.1`) is that literal.
  const mappedIp = parseIpLiteral(ascii);
  if (mappedIp !== null) return { text: formatIp(mappedIp), ip: mappedIp };
  return { text: ascii, ip: null };
}

/** `localhost` in any case, with or without trailing dots: a loopback name by definition (RFC 6761). */
export function isLocalhostName(host: HostName): boolean {
  return host.ip === null && host.text === 'localhost';
}

export type DomainPattern =
  | { readonly kind: 'any' }
  | { readonly kind: 'exact'; readonly host: string }
  /** `*.example.com`: any subdomain, not the apex. */
  | { readonly kind: 'subdomains'; readonly domain: string }
  /** `**.example.com`: the apex and any subdomain. */
  | { readonly kind: 'apexAndSubdomains'; readonly domain: string };

/** Parses one domain pattern; the message says why it is invalid. */
export function parseDomainPattern(input: string): DomainPattern | { readonly error: string } {
  const pattern = input.trim();
  if (pattern.length === 0) return { error: 'domain pattern is empty' };
  if (pattern === '*') return { kind: 'any' };
  let kind: 'subdomains' | 'apexAndSubdomains' | 'exact' = 'exact';
  let rest = pattern;
  if (pattern.startsWith('**.')) {
    kind = 'apexAndSubdomains';
    rest = pattern.slice(3);
  } else if (pattern.startsWith('*.')) {
    kind = 'subdomains';
    rest = pattern.slice(2);
  }
  if (/[*?{}]/.test(rest)) {
    return {
      error: `domain pattern ${JSON.stringify(input)} is not supported: use an exact host, *.domain, **.domain or *`,
    };
  }
  if (/^[^[]*:\d+$/.test(rest) && !rest.includes('::') && rest.split(':').length === 2) {
    return { error: `domain pattern ${JSON.stringify(input)} has a port: patterns name hosts only` };
  }
  const host = parseHostName(rest);
  if (host === null) return { error: `domain pattern ${JSON.stringify(input)} is not a valid host` };
  if (kind !== 'exact' && host.ip !== null) {
    return { error: `domain pattern ${JSON.stringify(input)} puts a wildcard on an IP address` };
  }
  return kind === 'exact' ? { kind, host: host.text } : { kind, domain: host.text };
}

export function patternMatches(pattern: DomainPattern, host: HostName): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'exact':
      return host.text === pattern.host;
    case 'subdomains':
      return host.ip === null && host.text.endsWith(`.${pattern.domain}`);
    case 'apexAndSubdomains':
      return host.ip === null && (host.text === pattern.domain || host.text.endsWith(`.${pattern.domain}`));
  }
}
