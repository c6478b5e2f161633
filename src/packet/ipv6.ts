// IPv6 headers (RFC 8200) and the walk over extension headers to the upper layer.
//
//   ver(4) tc(8) flow(20) | payload length | next header | hop limit | src (16) | dst (16)
//
// The walk is bounded: at most MAX_EXTENSION_HEADERS headers, each inside the packet, Hop-by-Hop
// only first (RFC 8200 4.1), and a first fragment must hold the whole chain (RFC 7112): a chain
// that breaks any of these is refused, never followed further. (That the upper-layer header itself
// fits, in a first fragment too, is for its reader to check: its length depends on the protocol.)

import { ByteView } from './view.js';
import { sum16 } from './checksum.js';

export const IPV6_HEADER = 40;
export const ETHERTYPE_IPV6 = 0x86dd;

export const NH_HOP_BY_HOP = 0;
export const NH_TCP = 6;
export const NH_UDP = 17;
export const NH_IPV6 = 41;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ESP = 50;
export const NH_AH = 51;
export const NH_ICMPV6 = 58;
export const NH_NONE = 59;
export const NH_DEST_OPTIONS = 60;
const NH_MOBILITY = 135;
const NH_HIP = 139;
const NH_SHIM6 = 140;

/** More than any real packet carries (RFC 8200 4.1 orders at most seven kinds). */
export const MAX_EXTENSION_HEADERS = 8;
const FRAGMENT_HEADER = 8;

export class Ipv6View extends ByteView {
  get version(): number {
    return this.b[this.o] >>> 4;
  }
  get trafficClass(): number {
    return ((this.b[this.o] & 0x0f) << 4) | (this.b[this.o + 1] >>> 4);
  }
  get flowLabel(): number {
    return ((this.b[this.o + 1] & 0x0f) << 16) | (this.b[this.o + 2] << 8) | this.b[this.o + 3];
  }
  get payloadLength(): number {
    return (this.b[this.o + 4] << 8) | this.b[this.o + 5];
  }
  set payloadLength(v: number) {
    this.b[this.o + 4] = v >>> 8;
    this.b[this.o + 5] = v & 0xff;
  }
  get nextHeader(): number {
    return this.b[this.o + 6];
  }
  get hopLimit(): number {
    return this.b[this.o + 7];
  }
  set hopLimit(v: number) {
    this.b[this.o + 7] = v;
  }
  /** Where the source and destination addresses lie in `b`. */
  get srcAt(): number {
    return this.o + 8;
  }
  get dstAt(): number {
    return this.o + 24;
  }

  /** Writes a header; the addresses are copied from `src`/`dst` at their offsets. */
  write(opts: { trafficClass?: number; flowLabel?: number; payloadLength: number; nextHeader: number; hopLimit: number; src: Uint8Array; srcAt?: number; dst: Uint8Array; dstAt?: number }): void {
    const b = this.b;
    const o = this.o;
    const tc = opts.trafficClass ?? 0;
    const flow = opts.flowLabel ?? 0;
    b[o] = 0x60 | (tc >>> 4);
    b[o + 1] = ((tc & 0x0f) << 4) | ((flow >>> 16) & 0x0f);
    b[o + 2] = (flow >>> 8) & 0xff;
    b[o + 3] = flow & 0xff;
    this.payloadLength = opts.payloadLength;
    b[o + 6] = opts.nextHeader;
    b[o + 7] = opts.hopLimit;
    for (let i = 0; i < 16; i++) b[o + 8 + i] = opts.src[(opts.srcAt ?? 0) + i];
    for (let i = 0; i < 16; i++) b[o + 24 + i] = opts.dst[(opts.dstAt ?? 0) + i];
  }
}

export const enum ChainVerdict {
  Ok = 0,
  /** A header runs past the packet, or a first fragment does not hold the whole chain. */
  Truncated = 1,
  TooMany = 2,
  /** Hop-by-Hop options anywhere but first (RFC 8200 4.3: a parameter problem). */
  HopByHopNotFirst = 3,
}

/** Where the walk ended: the upper layer's protocol and offset, and the fragment header if any. */
export class Ipv6Chain {
  /** The upper-layer protocol (or NH_NONE, NH_ESP, or what follows a non-first fragment). */
  protocol = 0;
  /** Its offset in the array. */
  offset = 0;
  /** Extension headers walked. */
  headers = 0;
  fragment = false;
  /** In 8-byte units, as on the wire; 0 for a first fragment (and unfragmented packets). */
  fragmentOffset = 0;
  moreFragments = false;
  fragmentId = 0;
  /** For a parameter problem: the offset of the field at fault (the next-header field naming a bad header, or the upper layer). */
  problemAt = 0;
}

/**
 * Walks from the fixed header at `ipAt` to the upper layer, within `end` (the packet's end as
 * its payload length says, already checked against what arrived). Never reads past `end`.
 */
export function walkChain(b: Uint8Array, ipAt: number, end: number, out: Ipv6Chain): ChainVerdict {
  let next = b[ipAt + 6];
  let at = ipAt + IPV6_HEADER;
  let nextAt = ipAt + 6;
  out.headers = 0;
  out.fragment = false;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;
  for (;;) {
    let length: number;
    if (next === NH_HOP_BY_HOP || next === NH_ROUTING || next === NH_DEST_OPTIONS || next === NH_MOBILITY || next === NH_HIP || next === NH_SHIM6) {
      if (next === NH_HOP_BY_HOP && out.headers > 0) {
        out.problemAt = nextAt;
        return ChainVerdict.HopByHopNotFirst;
      }
      if (at + 2 > end) return ChainVerdict.Truncated;
      length = (b[at + 1] + 1) * 8;
    } else if (next === NH_AH) {
      if (at + 2 > end) return ChainVerdict.Truncated;
      length = (b[at + 1] + 2) * 4;
    } else if (next === NH_FRAGMENT) {
      if (at + FRAGMENT_HEADER > end) return ChainVerdict.Truncated;
      length = FRAGMENT_HEADER;
      out.fragment = true;
      out.fragmentOffset = ((b[at + 2] << 8) | b[at + 3]) >>> 3;
      out.moreFragments = (b[at + 3] & 1) === 1;
      out.fragmentId = ((b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7]) >>> 0;
      if (out.fragmentOffset !== 0) {
        // Not the first fragment: what follows is the middle of the upper layer, not a header.
        out.protocol = b[at];
        out.offset = at + FRAGMENT_HEADER;
        out.headers++;
        return ChainVerdict.Ok;
      }
    } else {
      out.protocol = next;
      out.offset = at;
      out.problemAt = nextAt; // the field that named it, should it be unknown
      return ChainVerdict.Ok;
    }
    if (at + length > end) return ChainVerdict.Truncated;
    if (++out.headers > MAX_EXTENSION_HEADERS) return ChainVerdict.TooMany;
    nextAt = at;
    next = b[at];
    at += length;
  }
}

/** Sum of the IPv6 pseudo-header (RFC 8200 8.1): addresses, upper-layer length, next header. */
export function pseudoHeaderSum6(b: Uint8Array, srcAt: number, dstAt: number, length: number, nextHeader: number): number {
  return sum16(b, srcAt, 16, sum16(b, dstAt, 16)) + (length >>> 16) + (length & 0xffff) + nextHeader;
}
