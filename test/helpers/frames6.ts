// IPv6 test frames, built byte by byte and read back: the IPv6 counterpart of frames.ts.

import { formatIpv6, parseIpv6 } from '../../src/packet/address6.js';
import { formatMac } from '../../src/packet/address.js';
import { tcpHeader } from './frames.js';
import { checksum, checksumValid } from '../../src/packet/checksum.js';
import { icmp6ChecksumValid, putIcmp6Checksum } from '../../src/packet/icmp6.js';
import { IPV6_HEADER, Ipv6View, NH_ICMPV6, NH_TCP, NH_UDP, pseudoHeaderSum6 } from '../../src/packet/ipv6.js';

export const a6 = (t: string): Uint8Array => parseIpv6(t)!;

/** An IPv6 frame: Ethernet, the fixed header, `payload` (whose checksum, for ICMPv6, UDP and TCP, is filled in). */
export function frame6(o: { dstMac: Uint8Array; srcMac: Uint8Array; src: string; dst: string; nh: number; payload: Uint8Array; hopLimit?: number }): Uint8Array {
  const f = new Uint8Array(14 + IPV6_HEADER + o.payload.length);
  f.set(o.dstMac, 0);
  f.set(o.srcMac, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  new Ipv6View().point(f, 14).write({ payloadLength: o.payload.length, nextHeader: o.nh, hopLimit: o.hopLimit ?? 64, src: a6(o.src), dst: a6(o.dst) });
  f.set(o.payload, 14 + IPV6_HEADER);
  const up = 14 + IPV6_HEADER;
  if (o.nh === NH_ICMPV6) putIcmp6Checksum(f, 14, up, o.payload.length);
  const at = o.nh === NH_UDP ? up + 6 : o.nh === NH_TCP ? up + 16 : -1;
  if (at >= 0) {
    f[at] = f[at + 1] = 0;
    const c = checksum(f, up, o.payload.length, pseudoHeaderSum6(f, 22, 38, o.payload.length, o.nh)) || (o.nh === NH_UDP ? 0xffff : 0);
    f[at] = c >>> 8;
    f[at + 1] = c & 0xff;
  }
  return f;
}

/** An NS (135) or NA (136) for `target`, with a link-layer option (1 source, 2 target) unless `option` is 0. */
export function nd(type: number, target: string, lla: Uint8Array | null, flags = 0, option = type === 135 ? 1 : 2): Uint8Array {
  const p = new Uint8Array(24 + (lla ? 8 : 0));
  p[0] = type;
  p[4] = flags;
  p.set(a6(target), 8);
  if (lla) {
    p[24] = option;
    p[25] = 1;
    p.set(lla, 26);
  }
  return p;
}

/** A TCP header (no checksum: frame6 fills it in) with `flags` and `data` after it. */
export const tcp6 = tcpHeader;

/** A UDP header (no checksum: frame6 fills it in) with `size` bytes after it. */
export function udp6(sport: number, dport: number, size: number): Uint8Array {
  const p = new Uint8Array(8 + size);
  p[0] = sport >> 8;
  p[1] = sport & 255;
  p[2] = dport >> 8;
  p[3] = dport & 255;
  p[4] = (8 + size) >>> 8;
  p[5] = (8 + size) & 0xff;
  return p;
}

/** An IPv6 frame read back: addresses, the first upper-layer header's fields, and whether its checksum holds. */
export interface Seen6 {
  dstMac: string;
  srcMac: string;
  src: string;
  dst: string;
  hopLimit: number;
  nh: number;
  /** ICMPv6 type and code, or for TCP and UDP the ports. */
  type: number;
  code: number;
  sport: number;
  dport: number;
  /** ICMPv6's second word (flags, MTU, pointer). */
  word: number;
  /** An ND message's target. */
  target: string;
  checksumOk: boolean;
  frame: Uint8Array;
}

export function seen6(f: Uint8Array): Seen6 {
  const ip = new Ipv6View().point(f, 14);
  const up = 14 + IPV6_HEADER;
  const length = ip.payloadLength;
  const sumAt = ip.nextHeader === NH_TCP ? 16 : ip.nextHeader === NH_UDP ? 6 : -1;
  const checksumOk =
    ip.nextHeader === NH_ICMPV6 ? icmp6ChecksumValid(f, 14, up, length)
    : sumAt >= 0 ? checksumValid(f, up, length, pseudoHeaderSum6(f, ip.srcAt, ip.dstAt, length, ip.nextHeader))
    : true;
  return {
    dstMac: formatMac(f, 0),
    srcMac: formatMac(f, 6),
    src: formatIpv6(f, ip.srcAt),
    dst: formatIpv6(f, ip.dstAt),
    hopLimit: ip.hopLimit,
    nh: ip.nextHeader,
    type: f[up],
    code: f[up + 1],
    sport: (f[up] << 8) | f[up + 1],
    dport: (f[up + 2] << 8) | f[up + 3],
    word: ((f[up + 4] << 24) | (f[up + 5] << 16) | (f[up + 6] << 8) | f[up + 7]) >>> 0,
    target: f.length >= up + 24 ? formatIpv6(f, up + 8) : '',
    checksumOk,
    frame: f,
  };
}

export const isIpv6Frame = (f: Uint8Array): boolean => f[12] === 0x86 && f[13] === 0xdd;
