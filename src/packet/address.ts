// IPv4 addresses as unsigned 32-bit numbers, MAC addresses as 6-byte arrays, and their text forms.

export type Ipv4 = number;

const IPV4_TEXT = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad text; returns null when it is not exactly four numbers 0..255. */
export function parseIpv4(text: string): Ipv4 | null {
  const m = IPV4_TEXT.exec(text);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = Number(m[i]);
    if (part > 255 || (m[i].length > 1 && m[i][0] === '0')) return null;
    v = v * 256 + part;
  }
  return v >>> 0;
}

export function formatIpv4(a: Ipv4): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function prefixMask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export interface Cidr {
  address: Ipv4;
  length: number;
}

/** "10.0.0.1/24" (or a bare address, taken as /32); null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const [addr, len, extra] = text.split('/');
  if (extra !== undefined) return null;
  const address = parseIpv4(addr);
  if (address === null) return null;
  if (len === undefined) return { address, length: 32 };
  if (!/^\d{1,2}$/.test(len) || Number(len) > 32) return null;
  return { address, length: Number(len) };
}

export function inSubnet(a: Ipv4, network: Ipv4, length: number): boolean {
  const mask = prefixMask(length);
  return ((a & mask) >>> 0) === ((network & mask) >>> 0);
}

export function readIpv4(b: Uint8Array, o: number): Ipv4 {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function writeIpv4(b: Uint8Array, o: number, a: Ipv4): void {
  b[o] = a >>> 24;
  b[o + 1] = a >>> 16;
  b[o + 2] = a >>> 8;
  b[o + 3] = a;
}

/** 224.0.0.0/4, 240.0.0.0/4 (incl. limited broadcast), 0.0.0.0/8 and 127.0.0.0/8: never a unicast host. */
export function isMartian(a: Ipv4): boolean {
  const top = a >>> 24;
  return top >= 224 || top === 0 || top === 127;
}

export type Mac = Uint8Array;
export const BROADCAST_MAC: Mac = new Uint8Array([255, 255, 255, 255, 255, 255]);
export const ZERO_MAC: Mac = new Uint8Array(6);

export function parseMac(text: string): Mac | null {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text);
  if (!m) return null;
  return new Uint8Array(m.slice(1).map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array, o = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[o + i].toString(16).padStart(2, '0');
  return s;
}

export function macEquals(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  return a[ao] === b[bo] && a[ao + 1] === b[bo + 1] && a[ao + 2] === b[bo + 2] && a[ao + 3] === b[bo + 3] && a[ao + 4] === b[bo + 4] && a[ao + 5] === b[bo + 5];
}
