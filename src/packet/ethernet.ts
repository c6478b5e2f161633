// Ethernet II frames (no 802.1Q: tagged frames are counted as unknown ethertype).

import { ByteView } from './view.js';

export const ETH_HEADER = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

export class EthernetView extends ByteView {
  get etherType(): number {
    return (this.b[this.o + 12] << 8) | this.b[this.o + 13];
  }
  set etherType(v: number) {
    this.b[this.o + 12] = v >>> 8;
    this.b[this.o + 13] = v & 0xff;
  }
  get dstOffset(): number {
    return this.o;
  }
  get srcOffset(): number {
    return this.o + 6;
  }
  get isBroadcast(): boolean {
    const b = this.b, o = this.o;
    return (b[o] & b[o + 1] & b[o + 2] & b[o + 3] & b[o + 4] & b[o + 5]) === 0xff;
  }
  get isMulticast(): boolean {
    return (this.b[this.o] & 1) === 1;
  }
  setDst(mac: Uint8Array): void {
    copyMac(this.b, this.o, mac);
  }
  setSrc(mac: Uint8Array): void {
    copyMac(this.b, this.o + 6, mac);
  }
  /** Writes a whole header. */
  write(dst: Uint8Array, src: Uint8Array, etherType: number): void {
    copyMac(this.b, this.o, dst);
    copyMac(this.b, this.o + 6, src);
    this.etherType = etherType;
  }
}

/** Six byte stores beat TypedArray.set() for six bytes by several times. */
function copyMac(b: Uint8Array, o: number, mac: Uint8Array): void {
  b[o] = mac[0];
  b[o + 1] = mac[1];
  b[o + 2] = mac[2];
  b[o + 3] = mac[3];
  b[o + 4] = mac[4];
  b[o + 5] = mac[5];
}
