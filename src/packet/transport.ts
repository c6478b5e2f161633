// TCP (RFC 793) and UDP (RFC 768) headers as views over frame bytes, like Ipv4View: point()
// at a transport header, read and write fields in place, never allocate.

import { ByteView } from './view.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** Ports: the words both protocols start with. */
export class PortsView extends ByteView {
  get srcPort(): number {
    return (this.b[this.o] << 8) | this.b[this.o + 1];
  }
  get dstPort(): number {
    return (this.b[this.o + 2] << 8) | this.b[this.o + 3];
  }
}

export class TcpView extends PortsView {
  /** Offset of the checksum within the header. */
  static readonly CHECKSUM = 16;
  get seq(): number {
    return ((this.b[this.o + 4] << 24) | (this.b[this.o + 5] << 16) | (this.b[this.o + 6] << 8) | this.b[this.o + 7]) >>> 0;
  }
  get flags(): number {
    return this.b[this.o + 13];
  }
  /** Header length in bytes (data offset). */
  get headerLength(): number {
    return (this.b[this.o + 12] >>> 4) << 2;
  }
  /** A SYN without ACK: the only segment that opens a connection. */
  get isOpening(): boolean {
    return (this.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
  }
}

export class UdpView extends PortsView {
  static readonly CHECKSUM = 6;
}
