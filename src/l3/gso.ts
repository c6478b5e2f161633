// Software GSO: what the kernel's tcp_gso_segment / __udp_gso_segment do to a super-frame,
// for the few paths the kernel cannot take it on (IP-in-IP out of a TAP: virtio-net has no
// tunnel GSO type; a super-frame too big for the egress MTU without DF). The kernel handles
// every other super-frame at egress, so this is never the common path.
//
// Each segment is a plain frame in a slot of its own: the headers repeated, the IPv4 length,
// ID (+1 per segment) and checksum rewritten, TCP sequence numbers advanced (FIN and PSH on the
// last segment only, CWR on the first), the transport checksum computed in full. A segment is
// at most an MTU, so that sum is cheap, unlike summing 64 KiB at once.

import type { PacketEngine } from '../io/engine.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { PROTO_TCP, PROTO_UDP } from '../packet/ipv4.js';
import { checksum, sum16 } from '../packet/checksum.js';
import { VNET_F_NEEDS_CSUM, vnetCsumOffset, vnetCsumStart, vnetGsoSize } from '../packet/vnet.js';
import { VNET_HEADER_BYTES } from '../io/layout.js';
import { get16, get32, put16, put32 } from '../packet/bytes.js';
import { TCP_FIN, TCP_PSH } from '../packet/transport.js';
import { IPV6_HEADER } from '../packet/ipv6.js';

const TCP_CWR = 0x80;

/** The transport header a super-frame's segments repeat: TCP's data offset, or UDP's 8 bytes. */
export function transportHeaderLength(b: Uint8Array, ipAt: number, ihl: number): number {
  return b[ipAt + 9] === PROTO_TCP ? (b[ipAt + ihl + 12] >>> 4) << 2 : 8;
}

/** Where each segment goes: its slot, offset and frame length. */
export type SegmentSink = (slot: number, offset: number, frameLength: number) => void;

/**
 * Completes a partial transport checksum (NEEDS_CSUM) in place, as skb_checksum_help does:
 * the field already holds the pseudo-header sum, so the sum from csum_start to the end of
 * the packet is the whole checksum. `at` is the frame, its header VNET_HEADER_BYTES before.
 */
export function completeChecksum(b: Uint8Array, at: number, frameLength: number): void {
  const hdr = at - VNET_HEADER_BYTES;
  const start = at + vnetCsumStart(b, hdr);
  const field = start + vnetCsumOffset(b, hdr);
  const c = checksum(b, start, at + frameLength - start);
  b[field] = c >>> 8;
  b[field + 1] = c & 0xff;
  b[hdr] &= ~VNET_F_NEEDS_CSUM;
}

/**
 * Cuts the super-frame at `at` (IPv4 TCP or UDP, or IPv6 TCP with no extension header; already
 * validated by the router) into
 * segments of its gso_size, each handed to `sink`; the caller still owns the original slot.
 * Returns how many were made: fewer than needed when the slot pool ran dry (counted there).
 */
export function segmentSuperFrame(engine: PacketEngine, b: Uint8Array, at: number, frameLength: number, sink: SegmentSink): number {
  const ipAt = at + ETH_HEADER;
  const v6 = b[ipAt] >>> 4 === 6;
  const ihl = v6 ? IPV6_HEADER : (b[ipAt] & 0x0f) << 2;
  const protocol = v6 ? b[ipAt + 6] : b[ipAt + 9];
  const l4 = ipAt + ihl;
  const l4Header = protocol === PROTO_TCP ? (b[l4 + 12] >>> 4) << 2 : 8;
  const headers = ETH_HEADER + ihl + l4Header;
  const payloadAt = at + headers;
  const payload = at + frameLength - payloadAt;
  const mss = vnetGsoSize(b, at - VNET_HEADER_BYTES);
  const id = v6 ? 0 : get16(b, ipAt + 4);
  const seq = get32(b, l4 + 4);
  const tcpFlags = protocol === PROTO_TCP ? b[l4 + 13] : 0;
  const pseudo = protocol + (v6 ? sum16(b, ipAt + 8, 32) : sum16(b, ipAt + 12, 8)); // the pseudo-header's addresses and protocol; its length is per segment
  const headroom = engine.layout.headroom;
  let made = 0;
  for (let done = 0, n = 0; done < payload; done += mss, n++) {
    const chunk = Math.min(mss, payload - done);
    const slot = engine.allocate();
    if (slot < 0) break;
    const s = engine.slotOffset(slot) + headroom;
    b.copyWithin(s, at, at + headers);
    b.copyWithin(s + headers, payloadAt + done, payloadAt + done + chunk);
    const sIp = s + ETH_HEADER;
    const sL4 = sIp + ihl;
    if (v6) put16(b, sIp + 4, l4Header + chunk); // the payload length; no header checksum
    else {
      put16(b, sIp + 2, ihl + l4Header + chunk);
      put16(b, sIp + 4, (id + n) & 0xffff);
      put16(b, sIp + 10, 0);
      put16(b, sIp + 10, checksum(b, sIp, ihl));
    }
    let sumAt: number;
    if (protocol === PROTO_TCP) {
      const last = done + chunk >= payload;
      put32(b, sL4 + 4, (seq + done) >>> 0);
      b[sL4 + 13] = tcpFlags & ~(last ? 0 : TCP_FIN | TCP_PSH) & ~(n === 0 ? 0 : TCP_CWR);
      sumAt = sL4 + 16;
    } else {
      put16(b, sL4 + 4, 8 + chunk);
      sumAt = sL4 + 6;
    }
    put16(b, sumAt, 0);
    let c = checksum(b, sL4, l4Header + chunk, pseudo + l4Header + chunk);
    if (protocol === PROTO_UDP && c === 0) c = 0xffff;
    put16(b, sumAt, c);
    made++;
    sink(slot, headroom, headers + chunk);
  }
  return made;
}
