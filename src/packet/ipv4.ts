// IPv4 headers (RFC 791).

import { ByteView } from './view.js';
import { readIpv4, writeIpv4, type Ipv4 } from './address.js';
import { checksum } from './checksum.js';

export const IPV4_MIN_HEADER = 20;
export const PROTO_ICMP = 1;
export const PROTO_IPIP = 4;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const FLAG_DF = 0x4000;
export const FLAG_MF = 0x2000;
export const OFFSET_MASK = 0x1fff;

export class Ipv4View extends ByteView {
  get version(): number {
    return this.b[this.o] >>> 4;
  }
  get headerLength(): number {
    return (this.b[this.o] & 0x0f) << 2;
  }
  get tos(): number {
    return this.b[this.o + 1];
  }
  get totalLength(): number {
    return (this.b[this.o + 2] << 8) | this.b[this.o + 3];
  }
  set totalLength(v: number) {
    this.b[this.o + 2] = v >>> 8;
    this.b[this.o + 3] = v & 0xff;
  }
  get identification(): number {
    return (this.b[this.o + 4] << 8) | this.b[this.o + 5];
  }
  /** Flags and fragment offset, as the 16-bit word on the wire. */
  get flagsFragment(): number {
    return (this.b[this.o + 6] << 8) | this.b[this.o + 7];
  }
  set flagsFragment(v: number) {
    this.b[this.o + 6] = v >>> 8;
    this.b[this.o + 7] = v & 0xff;
  }
  get dontFragment(): boolean {
    return (this.b[this.o + 6] & 0x40) !== 0;
  }
  /** Not the first fragment: it carries no transport header. */
  get isLaterFragment(): boolean {
    return (this.flagsFragment & OFFSET_MASK) !== 0;
  }
  get isFragment(): boolean {
    return (this.flagsFragment & (FLAG_MF | OFFSET_MASK)) !== 0;
  }
  get ttl(): number {
    return this.b[this.o + 8];
  }
  get protocol(): number {
    return this.b[this.o + 9];
  }
  get checksumField(): number {
    return (this.b[this.o + 10] << 8) | this.b[this.o + 11];
  }
  get src(): Ipv4 {
    return readIpv4(this.b, this.o + 12);
  }
  set src(a: Ipv4) {
    writeIpv4(this.b, this.o + 12, a);
  }
  get dst(): Ipv4 {
    return readIpv4(this.b, this.o + 16);
  }
  set dst(a: Ipv4) {
    writeIpv4(this.b, this.o + 16, a);
  }
  get payloadOffset(): number {
    return this.o + this.headerLength;
  }

  /**
   * TTL minus one, the checksum patched incrementally (RFC 1624): the TTL is the high byte of
   * its word, so the word falls by 0x0100 and the one's-complement checksum rises by as much,
   * with the end-around carry. Never yields 0xffff (as Linux's ip_decrease_ttl).
   */
  decrementTtl(): void {
    const b = this.b, o = this.o;
    b[o + 8] = b[o + 8] - 1;
    let c = ((b[o + 10] << 8) | b[o + 11]) + 0x0100;
    if (c >= 0xffff) c -= 0xffff;
    b[o + 10] = c >>> 8;
    b[o + 11] = c & 0xff;
  }

  updateChecksum(): void {
    this.b[this.o + 10] = 0;
    this.b[this.o + 11] = 0;
    const c = checksum(this.b, this.o, this.headerLength);
    this.b[this.o + 10] = c >>> 8;
    this.b[this.o + 11] = c & 0xff;
  }

  /** A 20-byte header with a fresh checksum. */
  write(opts: { tos?: number; totalLength: number; id: number; flagsFragment?: number; ttl: number; protocol: number; src: Ipv4; dst: Ipv4 }): void {
    const b = this.b, o = this.o;
    b[o] = 0x45;
    b[o + 1] = opts.tos ?? 0;
    this.totalLength = opts.totalLength;
    b[o + 4] = opts.id >>> 8;
    b[o + 5] = opts.id & 0xff;
    this.flagsFragment = opts.flagsFragment ?? 0;
    b[o + 8] = opts.ttl;
    b[o + 9] = opts.protocol;
    this.src = opts.src;
    this.dst = opts.dst;
    this.updateChecksum();
  }
}
