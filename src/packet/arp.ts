// ARP for IPv4 over Ethernet (RFC 826).

import { ByteView } from './view.js';
import { readIpv4, writeIpv4, type Ipv4 } from './address.js';

export const ARP_LENGTH = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export class ArpView extends ByteView {
  /** Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses: the only kind we speak. */
  get isEthernetIpv4(): boolean {
    const b = this.b, o = this.o;
    return b[o] === 0 && b[o + 1] === 1 && b[o + 2] === 0x08 && b[o + 3] === 0 && b[o + 4] === 6 && b[o + 5] === 4;
  }
  get operation(): number {
    return (this.b[this.o + 6] << 8) | this.b[this.o + 7];
  }
  get senderMacOffset(): number {
    return this.o + 8;
  }
  get senderIp(): Ipv4 {
    return readIpv4(this.b, this.o + 14);
  }
  get targetMacOffset(): number {
    return this.o + 18;
  }
  get targetIp(): Ipv4 {
    return readIpv4(this.b, this.o + 24);
  }

  write(operation: number, senderMac: Uint8Array, senderIp: Ipv4, targetMac: Uint8Array, targetIp: Ipv4): void {
    const b = this.b, o = this.o;
    b[o] = 0;
    b[o + 1] = 1;
    b[o + 2] = 0x08;
    b[o + 3] = 0;
    b[o + 4] = 6;
    b[o + 5] = 4;
    b[o + 6] = 0;
    b[o + 7] = operation;
    b.set(senderMac, o + 8);
    writeIpv4(b, o + 14, senderIp);
    b.set(targetMac, o + 18);
    writeIpv4(b, o + 24, targetIp);
  }
}
