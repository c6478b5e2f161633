// Building and reading frames in tests (off the fast path: plain arrays and objects are fine).

import { formatIpv4, parseIpv4, parseMac, readIpv4 } from '../../src/packet/address.js';
import { checksum, checksumValid } from '../../src/packet/checksum.js';
import { transportChecksum } from '../../src/packet/udp.js';

export const ip = (text: string): number => {
  const v = parseIpv4(text);
  if (v === null) throw new Error(`bad address ${text}`);
  return v;
};
export const mac = (text: string): Uint8Array => parseMac(text)!;

export interface Ipv4Spec {
  src: string;
  dst: string;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  df?: boolean;
  flagsFragment?: number;
  id?: number;
}

export function ipv4Packet(s: Ipv4Spec): Uint8Array {
  const p = new Uint8Array(20 + s.payload.length);
  p[0] = 0x45;
  const total = p.length;
  p[2] = total >> 8;
  p[3] = total & 255;
  const id = s.id ?? 0x1234;
  p[4] = id >> 8;
  p[5] = id & 255;
  const ff = s.flagsFragment ?? (s.df ? 0x4000 : 0);
  p[6] = ff >> 8;
  p[7] = ff & 255;
  p[8] = s.ttl ?? 64;
  p[9] = s.protocol;
  const src = ip(s.src), dst = ip(s.dst);
  p.set([src >>> 24, (src >>> 16) & 255, (src >>> 8) & 255, src & 255], 12);
  p.set([dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255], 16);
  const c = checksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 255;
  p.set(s.payload, 20);
  return p;
}

export function udpPayload(src: string, dst: string, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  u[0] = sport >> 8;
  u[1] = sport & 255;
  u[2] = dport >> 8;
  u[3] = dport & 255;
  u[4] = u.length >> 8;
  u[5] = u.length & 255;
  u.set(data, 8);
  transportChecksum(u, 0, u.length, 17, ip(src), ip(dst), 6);
  return u;
}

/** A 20-byte TCP header (window 255) with flags and a payload, its checksum computed. */
export function tcpSegment(src: string, dst: string, sport: number, dport: number, flags: number, payload = new Uint8Array(0)): Uint8Array {
  const t = tcpHeader(sport, dport, flags, payload);
  transportChecksum(t, 0, t.length, 6, ip(src), ip(dst), 16);
  return t;
}

/** A TCP header with `flags` and `payload` after it, its checksum still zero. */
export function tcpHeader(sport: number, dport: number, flags: number, payload = new Uint8Array(0)): Uint8Array {
  const t = new Uint8Array(20 + payload.length);
  t[0] = sport >> 8;
  t[1] = sport & 255;
  t[2] = dport >> 8;
  t[3] = dport & 255;
  t[12] = 0x50;
  t[13] = flags;
  t[14] = 0xff;
  t.set(payload, 20);
  return t;
}

export function icmpEcho(type: number, id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  m[4] = id >> 8;
  m[5] = id & 255;
  m[6] = seq >> 8;
  m[7] = seq & 255;
  m.set(data, 8);
  const c = checksum(m, 0, m.length);
  m[2] = c >> 8;
  m[3] = c & 255;
  return m;
}

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 255;
  f.set(payload, 14);
  return f;
}

export function arpPacket(op: number, senderMac: Uint8Array, senderIp: string, targetMac: Uint8Array, targetIp: string): Uint8Array {
  const a = new Uint8Array(28);
  a.set([0, 1, 8, 0, 6, 4, 0, op]);
  a.set(senderMac, 8);
  const s = ip(senderIp), t = ip(targetIp);
  a.set([s >>> 24, (s >>> 16) & 255, (s >>> 8) & 255, s & 255], 14);
  a.set(targetMac, 18);
  a.set([t >>> 24, (t >>> 16) & 255, (t >>> 8) & 255, t & 255], 24);
  return a;
}

/** A parsed frame, for assertions. */
export interface Parsed {
  dstMac: string;
  srcMac: string;
  type: number;
  arp?: { op: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string };
  ip?: { src: string; dst: string; ttl: number; protocol: number; totalLength: number; flagsFragment: number; id: number; headerOk: boolean; payload: Uint8Array };
  icmp?: { type: number; code: number; mtu: number; checksumOk: boolean; quoted: Uint8Array };
}

const hex = (b: Uint8Array, o: number) => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

export function parse(f: Uint8Array): Parsed {
  const out: Parsed = { dstMac: hex(f, 0), srcMac: hex(f, 6), type: (f[12] << 8) | f[13] };
  if (out.type === 0x0806) {
    out.arp = { op: f[21], senderMac: hex(f, 22), senderIp: formatIpv4(readIpv4(f, 28)), targetMac: hex(f, 32), targetIp: formatIpv4(readIpv4(f, 38)) };
  } else if (out.type === 0x0800) {
    const ihl = (f[14] & 15) * 4;
    const total = (f[16] << 8) | f[17];
    const payload = f.subarray(14 + ihl, 14 + total);
    out.ip = {
      src: formatIpv4(readIpv4(f, 26)),
      dst: formatIpv4(readIpv4(f, 30)),
      ttl: f[22],
      protocol: f[23],
      totalLength: total,
      flagsFragment: (f[20] << 8) | f[21],
      id: (f[18] << 8) | f[19],
      headerOk: checksumValid(f, 14, ihl),
      payload,
    };
    if (out.ip.protocol === 1) {
      out.icmp = { type: payload[0], code: payload[1], mtu: (payload[6] << 8) | payload[7], checksumOk: checksumValid(payload, 0, payload.length), quoted: payload.subarray(8) };
    }
  }
  return out;
}
