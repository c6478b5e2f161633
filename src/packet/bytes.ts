// Big-endian (network order) words in a byte array: what the wire formats that have no view of
// their own (sync messages, software GSO's rewritten headers) read and write. And the same bytes
// as little-endian numbers: what an Int32Array over them holds on a little-endian host.

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function get32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** b[o..o+4) as a little-endian int32: the word an Int32Array reads there on a little-endian host. */
export function getLe32(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}

/** b[o..o+2) as a little-endian uint16. */
export function getLe16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/** Whether this host stores numbers little-endian (x86, arm64): typed arrays then hold getLe32's words. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
