// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/** One's-complement sum of 16-bit big-endian words, not yet folded or inverted. */
export function sum16(b: Uint8Array, start: number, length: number, initial = 0): number {
  let sum = initial;
  const end = start + (length & ~1);
  for (let i = start; i < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (length & 1) sum += b[end] << 8;
  return sum;
}

export function fold(sum: number): number {
  // Sums of up to 64 KiB of data stay below 2^32, so shifts are safe after the first step.
  if (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value for a region whose checksum field is zero. */
export function checksum(b: Uint8Array, start: number, length: number, initial = 0): number {
  return ~fold(sum16(b, start, length, initial)) & 0xffff;
}

/** True when a region including its checksum field sums to all ones. */
export function checksumValid(b: Uint8Array, start: number, length: number, initial = 0): boolean {
  return fold(sum16(b, start, length, initial)) === 0xffff;
}

/** checksumValid for an IPv4 header, unrolled for the common 20-byte case. */
export function headerChecksumValid(b: Uint8Array, o: number, length: number): boolean {
  if (length !== 20) return checksumValid(b, o, length);
  const sum =
    ((b[o] << 8) | b[o + 1]) + ((b[o + 2] << 8) | b[o + 3]) + ((b[o + 4] << 8) | b[o + 5]) + ((b[o + 6] << 8) | b[o + 7]) + ((b[o + 8] << 8) | b[o + 9]) +
    ((b[o + 10] << 8) | b[o + 11]) + ((b[o + 12] << 8) | b[o + 13]) + ((b[o + 14] << 8) | b[o + 15]) + ((b[o + 16] << 8) | b[o + 17]) + ((b[o + 18] << 8) | b[o + 19]);
  const folded = (sum & 0xffff) + (sum >>> 16);
  return ((folded & 0xffff) + (folded >>> 16)) === 0xffff;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from m to m'.
 * Unlike eqn. 2 it never yields 0x0000 from a nonzero sum.
 */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  const sum = (~hc & 0xffff) + (~oldWord & 0xffff) + newWord;
  return ~fold(sum) & 0xffff;
}

/** Applies updateChecksum16 to the big-endian checksum field at `at`. */
export function patchChecksum(b: Uint8Array, at: number, oldWord: number, newWord: number): void {
  const hc = updateChecksum16((b[at] << 8) | b[at + 1], oldWord, newWord);
  b[at] = hc >>> 8;
  b[at + 1] = hc & 0xff;
}

/**
 * The same change to a partial checksum (CHECKSUM_PARTIAL, virtio-net NEEDS_CSUM): the field
 * holds the folded pseudo-header sum itself, not its complement, so S' = S + ~m + m'.
 */
export function patchPartialChecksum(b: Uint8Array, at: number, oldWord: number, newWord: number): void {
  const s = fold(((b[at] << 8) | b[at + 1]) + (~oldWord & 0xffff) + newWord) & 0xffff;
  b[at] = s >>> 8;
  b[at + 1] = s & 0xff;
}

/** Sum of the TCP/UDP pseudo-header (RFC 793/768): addresses, protocol, length. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
