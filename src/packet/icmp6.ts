// ICMPv6 (RFC 4443) and the neighbour discovery messages (RFC 4861) tapvs reads and writes.
// The checksum covers the IPv6 pseudo-header (next header 58).

import { checksum, checksumValid } from './checksum.js';
import { NH_ICMPV6, pseudoHeaderSum6 } from './ipv6.js';

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_REDIRECT = 137;

export const UNREACH6_NO_ROUTE = 0;
export const UNREACH6_ADDRESS = 3;
export const UNREACH6_PORT = 4;
export const EXC6_HOP_LIMIT = 0;
export const PARAM6_HEADER = 0;
export const PARAM6_NEXT_HEADER = 1;

/** RFC 4443 2.4: errors (types below 128) are never sent about errors. */
export const isIcmp6Error = (type: number): boolean => type < 128;

/** RFC 4861: neighbour discovery comes from the link (hop limit 255) or is not believed. */
export const ND_HOP_LIMIT = 255;
/** Type, code, checksum, reserved or flags, target: what an NS or NA holds before its options. */
export const ND_NS_NA_LENGTH = 24;
export const ND_OPT_SOURCE_LLA = 1;
export const ND_OPT_TARGET_LLA = 2;
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;

/** Writes the checksum of the ICMPv6 message at `icmpAt` (`length` bytes) of the packet at `ipAt`. */
export function putIcmp6Checksum(b: Uint8Array, ipAt: number, icmpAt: number, length: number): void {
  b[icmpAt + 2] = 0;
  b[icmpAt + 3] = 0;
  const c = checksum(b, icmpAt, length, pseudoHeaderSum6(b, ipAt + 8, ipAt + 24, length, NH_ICMPV6));
  b[icmpAt + 2] = c >>> 8;
  b[icmpAt + 3] = c & 0xff;
}

export function icmp6ChecksumValid(b: Uint8Array, ipAt: number, icmpAt: number, length: number): boolean {
  return checksumValid(b, icmpAt, length, pseudoHeaderSum6(b, ipAt + 8, ipAt + 24, length, NH_ICMPV6));
}

/** No such option among the message's. */
export const OPTION_ABSENT = -1;
/** An option of length 0, or one that runs past the message: RFC 4861 4.6 drops the message. */
export const OPTIONS_MALFORMED = -2;

/**
 * The offset of the first option of `type` among the options in `[from, end)`, OPTION_ABSENT,
 * or OPTIONS_MALFORMED. Every option is checked, also those after the one found: each step
 * moves at least 8 bytes, so the walk is bounded by the message's length.
 */
export function findNdOption(b: Uint8Array, from: number, end: number, type: number): number {
  let found = OPTION_ABSENT;
  for (let at = from; at < end; ) {
    if (at + 2 > end) return OPTIONS_MALFORMED;
    const length = b[at + 1] * 8;
    if (length === 0 || at + length > end) return OPTIONS_MALFORMED;
    if (b[at] === type && found === OPTION_ABSENT) found = at;
    at += length;
  }
  return found;
}
