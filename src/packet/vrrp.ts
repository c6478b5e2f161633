// VRRP advertisements: version 3 (RFC 5798) and version 2 (RFC 3768) over IPv4, and version 3
// over IPv6 (RFC 5798 5.1.2: from the link-local address to ff02::12, its addresses 16 bytes each).
//
//   v3: ver|type  vrid  priority  count | rsvd(4) max-adver-int(12, centiseconds) | checksum | addresses
//   v2: ver|type  vrid  priority  count | auth type  adver-int(seconds) | checksum | addresses | 8 bytes auth
//
// v3's checksum covers the IP pseudo-header of its family (RFC 5798 5.2.8); v2's covers the
// message alone.

import { ByteView } from './view.js';
import { readIpv4, writeIpv4, type Ipv4 } from './address.js';
import { checksum, checksumValid, pseudoHeaderSum } from './checksum.js';
import { IPV6_BYTES } from './address6.js';
import { pseudoHeaderSum6 } from './ipv6.js';

export const PROTO_VRRP = 112;
/** 224.0.0.18, and its Ethernet group address 01:00:5e:00:00:12. */
export const VRRP_GROUP: Ipv4 = 0xe0000012;
export const VRRP_TTL = 255;
/** ff02::12, and its Ethernet group address 33:33:00:00:00:12. */
export const VRRP_GROUP6 = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12);
export const VRRP_MAC6 = Uint8Array.of(0x33, 0x33, 0, 0, 0, 0x12);
export const VRRP_HEADER = 8;
const V2_AUTH_DATA = 8;
const TYPE_ADVERTISEMENT = 1;
/** Priority 0: the master is leaving (RFC 5798 6.4.3); 255: the address owner. */
export const PRIORITY_RELEASE = 0;
export const PRIORITY_OWNER = 255;

export class VrrpView extends ByteView {
  get version(): number {
    return this.b[this.o] >>> 4;
  }
  get type(): number {
    return this.b[this.o] & 0x0f;
  }
  get vrid(): number {
    return this.b[this.o + 1];
  }
  get priority(): number {
    return this.b[this.o + 2];
  }
  get count(): number {
    return this.b[this.o + 3];
  }
  /** The advertisement interval in centiseconds, whichever version (v2 carries seconds). */
  get intervalCs(): number {
    if (this.version === 2) return this.b[this.o + 5] * 100;
    return ((this.b[this.o + 4] & 0x0f) << 8) | this.b[this.o + 5];
  }
  address(i: number): Ipv4 {
    return readIpv4(this.b, this.o + VRRP_HEADER + 4 * i);
  }
  /** The message's length on the wire for its address count. */
  get length(): number {
    return VRRP_HEADER + 4 * this.count + (this.version === 2 ? V2_AUTH_DATA : 0);
  }

  /**
   * Whether this is an advertisement we can take: version 2 or 3, type 1, the length its count
   * says (within `available`), and a valid checksum for its version. Authentication (v2) is
   * not checked: RFC 5798 removed it, and keepalived's default is none.
   */
  validAdvertisement(available: number, src: Ipv4, dst: Ipv4): boolean {
    const version = this.version;
    if ((version !== 2 && version !== 3) || this.type !== TYPE_ADVERTISEMENT) return false;
    if (available < VRRP_HEADER || this.length > available) return false;
    const length = this.length;
    return checksumValid(this.b, this.o, length, version === 3 ? pseudoHeaderSum(src, dst, PROTO_VRRP, length) : 0);
  }

  /** The message's length when it carries IPv6 addresses (version 3 only). */
  get length6(): number {
    return VRRP_HEADER + IPV6_BYTES * this.count;
  }

  /** validAdvertisement over IPv6: version 3, type 1, the length its count says, the checksum over the header at `ipAt`'s addresses. */
  validAdvertisement6(available: number, ipAt: number): boolean {
    if (this.version !== 3 || this.type !== TYPE_ADVERTISEMENT) return false;
    if (available < VRRP_HEADER || this.length6 > available) return false;
    const length = this.length6;
    return checksumValid(this.b, this.o, length, pseudoHeaderSum6(this.b, ipAt + 8, ipAt + 24, length, PROTO_VRRP));
  }

  /** Writes a version 3 advertisement of IPv6 addresses after the IPv6 header at `ipAt` (written: its addresses are summed); returns its length. */
  write6(vrid: number, priority: number, intervalCs: number, addresses: readonly Uint8Array[], ipAt: number): number {
    const b = this.b, o = this.o;
    b[o] = (3 << 4) | TYPE_ADVERTISEMENT;
    b[o + 1] = vrid;
    b[o + 2] = priority;
    b[o + 3] = addresses.length;
    b[o + 4] = (intervalCs >>> 8) & 0x0f;
    b[o + 5] = intervalCs & 0xff;
    b[o + 6] = 0;
    b[o + 7] = 0;
    addresses.forEach((a, i) => b.set(a, o + VRRP_HEADER + IPV6_BYTES * i));
    const length = VRRP_HEADER + IPV6_BYTES * addresses.length;
    const c = checksum(b, o, length, pseudoHeaderSum6(b, ipAt + 8, ipAt + 24, length, PROTO_VRRP));
    b[o + 6] = c >>> 8;
    b[o + 7] = c & 0xff;
    return length;
  }

  /** Writes an advertisement; returns its length. */
  write(version: 2 | 3, vrid: number, priority: number, intervalCs: number, addresses: readonly Ipv4[], src: Ipv4, dst: Ipv4): number {
    const b = this.b, o = this.o;
    b[o] = (version << 4) | TYPE_ADVERTISEMENT;
    b[o + 1] = vrid;
    b[o + 2] = priority;
    b[o + 3] = addresses.length;
    if (version === 3) {
      b[o + 4] = (intervalCs >>> 8) & 0x0f;
      b[o + 5] = intervalCs & 0xff;
    } else {
      b[o + 4] = 0; // no authentication
      b[o + 5] = Math.max(1, Math.round(intervalCs / 100));
    }
    b[o + 6] = 0;
    b[o + 7] = 0;
    addresses.forEach((a, i) => writeIpv4(b, o + VRRP_HEADER + 4 * i, a));
    const length = VRRP_HEADER + 4 * addresses.length + (version === 2 ? V2_AUTH_DATA : 0);
    if (version === 2) b.fill(0, o + length - V2_AUTH_DATA, o + length);
    const c = checksum(b, o, length, version === 3 ? pseudoHeaderSum(src, dst, PROTO_VRRP, length) : 0);
    b[o + 6] = c >>> 8;
    b[o + 7] = c & 0xff;
    return length;
  }
}

/** The virtual router MAC for a VRID (RFC 5798 7.3): 00:00:5e:00:01:VRID. */
export function virtualMac(vrid: number): Uint8Array {
  return Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x01, vrid);
}

/** The Ethernet group address of an IPv4 multicast group (RFC 1112 6.4). */
export function multicastMac(group: Ipv4): Uint8Array {
  return Uint8Array.of(0x01, 0x00, 0x5e, (group >>> 16) & 0x7f, (group >>> 8) & 0xff, group & 0xff);
}
