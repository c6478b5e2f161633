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
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
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

/** Sum of the TCP/UDP pseudo-header (RFC 793/768): addresses, protocol, length. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
