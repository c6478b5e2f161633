// IPv6 addresses: 16 bytes in network order, as they lie in a packet. Text forms as RFC 4291
// 2.2 reads them and RFC 5952 writes them (lowercase, the longest run of two or more zero groups
// as "::", the leftmost on a tie, IPv4-mapped addresses with a dotted quad).

import { parseIpv4 } from './address.js';

export type Ipv6 = Uint8Array;
export const IPV6_BYTES = 16;

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses IPv6 text (with "::" and a trailing dotted quad allowed); null when it is not one. */
export function parseIpv6(text: string): Ipv6 | null {
  if (text.length > 45 || text.includes('%')) return null; // zones are not addresses of packets
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (HEX_GROUP.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  if (halves[0].includes('.') && halves.length === 2) return null; // a dotted quad only at the end
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const a = new Uint8Array(IPV6_BYTES);
  all.forEach((g, i) => {
    a[2 * i] = g >>> 8;
    a[2 * i + 1] = g & 0xff;
  });
  return a;
}

/** RFC 5952 text for the address at `b[o..o+16)`. */
export function formatIpv6(b: Uint8Array, o = 0): string {
  const g = (i: number) => (b[o + 2 * i] << 8) | b[o + 2 * i + 1];
  // ::ffff:a.b.c.d, IPv4-mapped (RFC 5952 5).
  if (g(0) === 0 && g(1) === 0 && g(2) === 0 && g(3) === 0 && g(4) === 0 && g(5) === 0xffff) {
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  }
  let bestAt = -1;
  let bestLength = 1; // a single zero group is not shortened (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (g(i) !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g(j) === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => g(from + k).toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

export function ipv6Equals(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let i = 0; i < IPV6_BYTES; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** Where in `list` the address `b[o..]` is, or -1: for the short lists of our own addresses. */
export function indexOf6(list: readonly Uint8Array[], b: Uint8Array, o = 0): number {
  for (let i = 0; i < list.length; i++) if (ipv6Equals(list[i], 0, b, o)) return i;
  return -1;
}

/** Whether the address `b[o..]` is in `list`. */
export const includes6 = (list: readonly Uint8Array[], b: Uint8Array, o = 0): boolean => indexOf6(list, b, o) >= 0;

/** fe80::/10: link-local unicast, never forwarded (RFC 4291 2.5.6). */
export const isLinkLocal6 = (b: Uint8Array, o: number): boolean => b[o] === 0xfe && (b[o + 1] & 0xc0) === 0x80;
/** ff00::/8. */
export const isMulticast6 = (b: Uint8Array, o: number): boolean => b[o] === 0xff;

export function isUnspecified6(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < IPV6_BYTES; i++) if (b[o + i] !== 0) return false;
  return true;
}

/** ::1. */
export function isLoopback6(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 15; i++) if (b[o + i] !== 0) return false;
  return b[o + 15] === 1;
}

/**
 * RFC 4291 2.7.1 and 4861 7.2: the solicited-node multicast group of an address,
 * ff02::1:ffXX:XXXX from its last 24 bits, written at `out[oo..]`.
 */
export function solicitedNode(b: Uint8Array, o: number, out: Uint8Array, oo = 0): void {
  out.fill(0, oo, oo + IPV6_BYTES);
  out[oo] = 0xff;
  out[oo + 1] = 0x02;
  out[oo + 11] = 0x01;
  out[oo + 12] = 0xff;
  out[oo + 13] = b[o + 13];
  out[oo + 14] = b[o + 14];
  out[oo + 15] = b[o + 15];
}

/** The Ethernet group address of an IPv6 multicast address: 33:33 and its last 32 bits (RFC 2464 7), into `out`. */
export function multicastMac6(b: Uint8Array, o: number, out: Uint8Array = new Uint8Array(6)): Uint8Array {
  out[0] = out[1] = 0x33;
  out[2] = b[o + 12];
  out[3] = b[o + 13];
  out[4] = b[o + 14];
  out[5] = b[o + 15];
  return out;
}

export interface Cidr6 {
  address: Ipv6;
  length: number;
}

/** "2001:db8::1/64": an address and its prefix length (0..128); null when it is not one. */
export function parseCidr6(text: string): Cidr6 | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIpv6(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === null || !/^\d{1,3}$/.test(lengthText)) return null;
  const length = Number(lengthText);
  return length <= 128 ? { address, length } : null;
}

/** Does the address at `b[o..]` lie in `prefix`/`length`? */
export function inPrefix6(b: Uint8Array, o: number, prefix: Uint8Array, length: number): boolean {
  const whole = length >>> 3;
  for (let i = 0; i < whole; i++) if (b[o + i] !== prefix[i]) return false;
  const bits = length & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (b[o + whole] & mask) === (prefix[whole] & mask);
}

/** The prefix's first `length` bits of `a[ao..]`, the rest zero (a network address), into `out`. */
export function maskPrefix6(a: Uint8Array, length: number, out: Uint8Array = new Uint8Array(IPV6_BYTES), ao = 0): Ipv6 {
  for (let i = 0; i < IPV6_BYTES; i++) {
    const bits = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = a[ao + i] & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** fe80::/64 with the modified EUI-64 interface identifier of a MAC (RFC 4291 2.5.1, appendix A). */
export function linkLocalFromMac(mac: Uint8Array): Ipv6 {
  return new Uint8Array([0xfe, 0x80, 0, 0, 0, 0, 0, 0, mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]]);
}

/**
 * The four words of an IPv6 address XORed into one, as IPVS's schedulers fold it: the same on
 * every director (unkeyed), for source and Maglev hashing. Never for a table an outsider fills.
 */
export function foldIpv6(b: Uint8Array, o = 0): number {
  let f = 0;
  for (let i = 0; i < 16; i += 4) f ^= (b[o + i] << 24) | (b[o + i + 1] << 16) | (b[o + i + 2] << 8) | b[o + i + 3];
  return f >>> 0;
}

/** Whether an address in text is IPv6 (IPv4's dotted form has no colon). */
export const isIpv6Text = (address: string): boolean => address.includes(':');

/** An address with its port as ipvsadm and URLs write it: IPv6 in brackets. */
export const addressPort = (address: string, port: number): string => (isIpv6Text(address) ? `[${address}]:${port}` : `${address}:${port}`);
