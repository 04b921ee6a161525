/**
 * IP address literals: strict parsing (the forms a URL or a SOCKS request carries), the legacy
 * numeric IPv4 forms `inet_aton` accepts (`127.1`, `0x7f000001`, `0177.0.0.1`, `2130706433`), one
 * canonical text per address, and the classification the policy needs: is this address public, or
 * loopback / private / link-local / metadata / reserved?
 *
 * Pure functions over bytes; no resolver, no sockets.
 */

export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
  /** An IPv6 zone (`fe80::1%eth0`), without the `%`; null when absent. */
  readonly zone: string | null;
}

const DECIMAL_OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Dotted-decimal IPv4 with exactly four octets and no leading zeros (what Rust and URLs accept). */
export function parseIPv4(text: string): IpAddress | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let index = 0; index < 4; index++) {
    const part = parts[index]!;
    if (!DECIMAL_OCTET.test(part)) return null;
    bytes[index] = Number(part);
  }
  return { family: 4, bytes, zone: null };
}

/**
 * The numeric IPv4 forms of `inet_aton(3)`: one to four parts, each decimal, octal (leading 0) or
 * hex (0x), the last part filling the remaining bytes. What a system resolver turns `0x7f.1` into;
 * the proxy classifies these itself rather than trusting a resolver to agree.
 */
export function parseLegacyIPv4(text: string): IpAddress | null {
  if (text.length === 0 || text.length > 64) return null;
  const parts = text.split('.');
  if (parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = part.length === 1 ? 0 : parseInt(part.slice(1), 8);
    else if (/^[1-9]\d*$/.test(part)) value = Number(part);
    else return null;
    if (!Number.isSafeInteger(value)) return null;
    values.push(value);
  }
  const last = values.pop()!;
  for (const value of values) if (value > 0xff) return null;
  const lastBytes = 4 - values.length;
  if (last >= 2 ** (8 * lastBytes)) return null;
  const bytes = new Uint8Array(4);
  values.forEach((value, index) => (bytes[index] = value));
  for (let index = 0; index < lastBytes; index++) {
    bytes[3 - index] = Math.floor(last / 2 ** (8 * index)) % 256;
  }
  return { family: 4, bytes, zone: null };
}

/** An IPv6 literal without brackets, optionally with a `%zone`; embedded IPv4 tails accepted. */
export function parseIPv6(text: string): IpAddress | null {
  let zone: string | null = null;
  let body = text;
  const percent = text.indexOf('%');
  if (percent >= 0) {
    zone = text.slice(percent + 1);
    body = text.slice(0, percent);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) return null;
  }
  if (body.length < 2 || body.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(body)) return null;
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (half: string): number[] | null => {
    if (half === '') return [];
    const groups: number[] = [];
    const pieces = half.split(':');
    for (let index = 0; index < pieces.length; index++) {
      const piece = pieces[index]!;
      if (index === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (v4 === null) return null;
        groups.push((v4.bytes[0]! << 8) | v4.bytes[1]!, (v4.bytes[2]! << 8) | v4.bytes[3]!);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return null;
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  // An embedded IPv4 tail may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    groups = head;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return { family: 6, bytes, zone };
}

/** A strict IPv4 or IPv6 literal (brackets already removed). */
export function parseIpLiteral(text: string): IpAddress | null {
  return parseIPv4(text) ?? (text.includes(':') ? parseIPv6(text) : null);
}

/** The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`) IPv6 address carries, else null. */
function mappedIPv4(bytes: Uint8Array): Uint8Array | null {
  for (let index = 0; index < 10; index++) if (bytes[index] !== 0) return null;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return null;
  return bytes.subarray(12, 16);
}

/**
 * The canonical text: dotted decimal for IPv4; RFC 5952 for IPv6 (lowercase, longest zero run
 * compressed), with IPv4-mapped addresses in their dotted form, as the reference prints them.
 */
export function formatIp(address: IpAddress): string {
  const { bytes } = address;
  if (address.family === 4) return Array.from(bytes).join('.');
  const zone = address.zone === null ? '' : `%${address.zone}`;
  const mapped = mappedIPv4(bytes);
  if (mapped !== null) return `::ffff:${Array.from(mapped).join('.')}${zone}`;
  const groups: number[] = [];
  for (let index = 0; index < 16; index += 2) groups.push((bytes[index]! << 8) | bytes[index + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let index = 0; index < 8;) {
    if (groups[index] !== 0) {
      index++;
      continue;
    }
    let end = index;
    while (end < 8 && groups[end] === 0) end++;
    if (end - index > bestLength && end - index >= 2) {
      bestStart = index;
      bestLength = end - index;
    }
    index = end;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((group) => group.toString(16))
      .join(':');
  if (bestStart < 0) return `${hex(0, 8)}${zone}`;
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}${zone}`;
}

type Range = readonly [base: readonly number[], prefixBits: number];

// Not globally reachable (RFC 6890 and friends): what an agent must not reach unless named.
const NON_PUBLIC_V4: readonly Range[] = [
  [[0, 0, 0, 0], 8], // "this network"; 0.0.0.0 connects to the local host
  [[10, 0, 0, 0], 8], // private
  [[100, 64, 0, 0], 10], // carrier-grade NAT
  [[127, 0, 0, 0], 8], // loopback
  [[169, 254, 0, 0], 16], // link-local, including the cloud metadata address 169.254.169.254
  [[172, 16, 0, 0], 12], // private
  [[192, 0, 0, 0], 24], // IETF protocol assignments
  [[192, 0, 2, 0], 24], // documentation
  [[192, 88, 99, 0], 24], // 6to4 relay anycast
  [[192, 168, 0, 0], 16], // private
  [[198, 18, 0, 0], 15], // benchmarking
  [[198, 51, 100, 0], 24], // documentation
  [[203, 0, 113, 0], 24], // documentation
  [[224, 0, 0, 0], 4], // multicast
  [[240, 0, 0, 0], 4], // reserved, and broadcast
];

const NON_PUBLIC_V6: readonly Range[] = [
  [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 128], // unspecified
  [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128], // loopback
  [[0x00, 0x64, 0xff, 0x9b, 0, 1], 48], // local-use NAT64
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64], // discard-only
  [[0x20, 0x01, 0x0d, 0xb8], 32], // documentation
  [[0xfc], 7], // unique local (fc00::/7)
  [[0xfe, 0x80], 10], // link-local
  [[0xfe, 0xc0], 10], // site-local (deprecated)
  [[0xff], 8], // multicast
];

function inRange(bytes: Uint8Array, [base, prefixBits]: Range): boolean {
  for (let bit = 0; bit < prefixBits; bit += 8) {
    const index = bit / 8;
    const bits = Math.min(8, prefixBits - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((bytes[index] ?? 0) & mask) !== ((base[index] ?? 0) & mask)) return false;
  }
  return true;
}

function isNonPublicV4(bytes: Uint8Array): boolean {
  return NON_PUBLIC_V4.some((range) => inRange(bytes, range));
}

/**
 * IPv4 addresses embedded in IPv6 forms that lead to them: IPv4-mapped (`::ffff:0:0/96`),
 * IPv4-compatible (`::/96`), well-known NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
 */
function embeddedIPv4(bytes: Uint8Array): Uint8Array | null {
  const mapped = mappedIPv4(bytes);
  if (mapped !== null) return mapped;
  if (bytes.subarray(0, 12).every((byte) => byte === 0)) return bytes.subarray(12, 16);
  if (inRange(bytes, [[0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96])) return bytes.subarray(12, 16);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.subarray(2, 6);
  return null;
}

/** Whether an address is anything but a globally reachable unicast address. */
export function isNonPublicAddress(address: IpAddress): boolean {
  if (address.family === 4) return isNonPublicV4(address.bytes);
  if (NON_PUBLIC_V6.some((range) => inRange(address.bytes, range))) return true;
  const v4 = embeddedIPv4(address.bytes);
  return v4 !== null && isNonPublicV4(v4);
}

/** Loopback or unspecified: an address that reaches this host's own listeners. */
export function reachesThisHost(address: IpAddress): boolean {
  if (address.family === 4) return address.bytes[0] === 127 || address.bytes[0] === 0;
  if (address.bytes.subarray(0, 15).every((byte) => byte === 0)) return address.bytes[15]! <= 1;
  const mapped = mappedIPv4(address.bytes);
  return mapped !== null && (mapped[0] === 127 || mapped[0] === 0);
}
