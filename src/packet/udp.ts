// UDP (RFC 768) and TCP (RFC 793) port fields, and transport checksums over the pseudo-header.

import { checksum, checksumValid, pseudoHeaderSum } from './checksum.js';
import { PROTO_UDP } from './ipv4.js';
import { pseudoHeaderSum6 } from './ipv6.js';

export const UDP_HEADER = 8;
export const TCP_MIN_HEADER = 20;

export function srcPort(b: Uint8Array, transport: number): number {
  return (b[transport] << 8) | b[transport + 1];
}
export function dstPort(b: Uint8Array, transport: number): number {
  return (b[transport + 2] << 8) | b[transport + 3];
}

/** Computes a UDP or TCP checksum; `field` is the checksum's offset within the segment (6 or 16). */
export function transportChecksum(b: Uint8Array, transport: number, length: number, protocol: number, src: number, dst: number, field: number): number {
  b[transport + field] = 0;
  b[transport + field + 1] = 0;
  let c = checksum(b, transport, length, pseudoHeaderSum(src, dst, protocol, length));
  if (c === 0 && protocol === PROTO_UDP) c = 0xffff; // UDP sends an all-zero sum as all ones
  b[transport + field] = c >>> 8;
  b[transport + field + 1] = c & 0xff;
  return c;
}

/**
 * A received UDP datagram's own length, when its header fits in the `available` bytes and its
 * checksum (if it has one) is good; -1 otherwise. For the control protocols tapvs terminates.
 */
export function receivedUdpLength(b: Uint8Array, udp: number, available: number, src: number, dst: number): number {
  if (available < UDP_HEADER) return -1;
  const declared = (b[udp + 4] << 8) | b[udp + 5];
  if (declared < UDP_HEADER || declared > available) return -1;
  const hasChecksum = b[udp + 6] !== 0 || b[udp + 7] !== 0;
  if (hasChecksum && !checksumValid(b, udp, declared, pseudoHeaderSum(src, dst, PROTO_UDP, declared))) return -1;
  return declared;
}

/** Writes a UDP header in front of `length - 8` payload bytes already in place, with its checksum. */
export function writeUdpHeader(b: Uint8Array, udp: number, sport: number, dport: number, length: number, src: number, dst: number): void {
  putPortsAndLength(b, udp, sport, dport, length);
  transportChecksum(b, udp, length, PROTO_UDP, src, dst, 6);
}

/** receivedUdpLength for IPv6: the checksum is mandatory (RFC 8200 8.1), over the header at `ipAt`'s addresses. */
export function receivedUdpLength6(b: Uint8Array, udp: number, available: number, ipAt: number): number {
  if (available < UDP_HEADER) return -1;
  const declared = (b[udp + 4] << 8) | b[udp + 5];
  if (declared < UDP_HEADER || declared > available) return -1;
  if (b[udp + 6] === 0 && b[udp + 7] === 0) return -1;
  if (!checksumValid(b, udp, declared, pseudoHeaderSum6(b, ipAt + 8, ipAt + 24, declared, PROTO_UDP))) return -1;
  return declared;
}

/** writeUdpHeader for IPv6: the pseudo-header from the IPv6 header at `ipAt` (already written). */
export function writeUdpHeader6(b: Uint8Array, udp: number, sport: number, dport: number, length: number, ipAt: number): void {
  putPortsAndLength(b, udp, sport, dport, length);
  b[udp + 6] = 0;
  b[udp + 7] = 0;
  let c = checksum(b, udp, length, pseudoHeaderSum6(b, ipAt + 8, ipAt + 24, length, PROTO_UDP));
  if (c === 0) c = 0xffff;
  b[udp + 6] = c >>> 8;
  b[udp + 7] = c & 0xff;
}

function putPortsAndLength(b: Uint8Array, udp: number, sport: number, dport: number, length: number): void {
  b[udp] = sport >>> 8;
  b[udp + 1] = sport & 0xff;
  b[udp + 2] = dport >>> 8;
  b[udp + 3] = dport & 0xff;
  b[udp + 4] = length >>> 8;
  b[udp + 5] = length & 0xff;
}
