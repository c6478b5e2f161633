// UDP (RFC 768) and TCP (RFC 793) port fields, and transport checksums over the pseudo-header.

import { checksum, pseudoHeaderSum } from './checksum.js';

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
  if (c === 0 && protocol === 17) c = 0xffff; // UDP sends an all-zero sum as all ones
  b[transport + field] = c >>> 8;
  b[transport + field + 1] = c & 0xff;
  return c;
}
