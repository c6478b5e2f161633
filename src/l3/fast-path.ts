// The forwarding fast path: a plain routed IPv4 unicast frame (no options, for no address of
// ours, to a resolved next hop, fitting the egress MTU, not a super-frame) checked and
// forwarded in one pass over the frame's 16-bit words. Byte by byte, this work costs JavaScript
// about twice what it costs in words; the checks are the router's own.
//
// It only ever declines or forwards. Everything else, including every frame that the full path
// would drop, count, answer, trace or park, is declined before a byte changes, and the router's
// full path (router.ts) takes it from the start. test/unit/fast-path proves that both paths
// leave the same bytes and the same counters, frame for frame.

import type { PacketEngine } from '../io/engine.js';
import { VNET_HEADER_BYTES } from '../io/layout.js';
import { isMartian } from '../packet/address.js';
import { VNET_F_NEEDS_CSUM } from '../packet/vnet.js';
import type { Interface } from '../l2/interface.js';
import { NeighbourState, type NeighbourTable } from '../l2/neighbours.js';
import type { L4Director } from '../router.js';
import type { U32Map } from '../util/u32map.js';
import { C } from './counters.js';
import type { RouteTable } from './routes.js';

/** The words are read in the host's byte order: the fast path runs only where that is little-endian. */
export const FAST_PATH_SUPPORTED = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** What the fast path reads of the router: its tables, as the router holds them. */
export interface FastPathTables {
  ifaceByPort: readonly (Interface | undefined)[];
  neighboursByPort: readonly (NeighbourTable | undefined)[];
  /** Every address of ours (the router's local map): never forwarded. */
  local: U32Map;
  routes: RouteTable;
  stats: Float64Array;
}

/** EtherType 0x0800 as the word reads on a little-endian host; and version 4, IHL 5 (the first byte). */
const ETHERTYPE_IPV4_WORD = 0x0008;
const VERSION_IHL_5 = 0x45;

export class FastPath {
  /** The clock as of this batch (the router's): a used neighbour's timestamp. */
  now = 0;
  private readonly h: Uint16Array;
  /** Every frame has a virtio-net header before it: only a plain one (no GSO, checksums whole) is fast. */
  private readonly vnetWords: number;

  constructor(
    private readonly engine: PacketEngine,
    private readonly t: FastPathTables,
    /** The router: its director, when one is set, rewrites NAT replies on the way through. */
    private readonly router: { readonly director: L4Director | null },
  ) {
    const bytes = engine.bytes;
    this.h = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 1);
    this.vnetWords = engine.layout.largeSlotCount > 0 ? VNET_HEADER_BYTES >>> 1 : 0;
  }

  /** Forwards the frame and returns true, or returns false having changed nothing. */
  forward(port: number, slot: number, offset: number, length: number): boolean {
    const t = this.t;
    const iface = t.ifaceByPort[port];
    const at = this.engine.slotOffset(slot) + offset;
    if (iface === undefined || length < 34 || (at & 1) !== 0) return false;
    const h = this.h;
    const w = at >>> 1;
    // The virtio-net header (with offloads): its first word is flags | gso_type << 8.
    const vnet = w - this.vnetWords;
    const vnetFlags = this.vnetWords !== 0 ? h[vnet] : 0;
    if (vnetFlags >>> 8 !== 0) return false; // a super-frame
    const mac = iface.mac;
    if (h[w] !== (mac[0] | (mac[1] << 8)) || h[w + 1] !== (mac[2] | (mac[3] << 8)) || h[w + 2] !== (mac[4] | (mac[5] << 8))) return false;
    if (h[w + 6] !== ETHERTYPE_IPV4_WORD) return false;
    const ip = w + 7;
    const totalWord = h[ip + 1];
    const total = ((totalWord & 0xff) << 8) | (totalWord >>> 8);
    const ttlProtocol = h[ip + 4];
    if ((h[ip] & 0xff) !== VERSION_IHL_5 || total < 20 || total > length - 14 || (ttlProtocol & 0xff) <= 1) return false;
    // A partial checksum goes on as it is (the kernel completes it), if it lies inside the
    // transport header; a lying one is the full path's counted drop.
    if ((vnetFlags & VNET_F_NEEDS_CSUM) !== 0 && (h[vnet + 3] < 34 || h[vnet + 3] + h[vnet + 4] + 2 > 14 + total)) return false;
    // The one's-complement sum does not care which byte order the words are read in (RFC 1071).
    let sum = h[ip] + h[ip + 1] + h[ip + 2] + h[ip + 3] + ttlProtocol + h[ip + 5] + h[ip + 6] + h[ip + 7] + h[ip + 8] + h[ip + 9];
    sum = (sum & 0xffff) + (sum >>> 16);
    if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) return false;
    const s0 = h[ip + 6], s1 = h[ip + 7], d0 = h[ip + 8], d1 = h[ip + 9];
    const src = (((s0 & 0xff) << 24) | ((s0 >>> 8) << 16) | ((s1 & 0xff) << 8) | (s1 >>> 8)) >>> 0;
    const dst = (((d0 & 0xff) << 24) | ((d0 >>> 8) << 16) | ((d1 & 0xff) << 8) | (d1 >>> 8)) >>> 0;
    // Martian sources, multicast and broadcast destinations, and our own addresses are the full path's.
    if (isMartian(src) || dst >>> 28 >= 0xe || iface.isSubnetBroadcast(src) || iface.isSubnetBroadcast(dst)) return false;
    if (t.local.get(dst) >= 0) return false;
    const route = t.routes.lookup(dst);
    if (route === undefined) return false;
    const egress = route.iface;
    if (total > egress.mtu || egress.isSubnetBroadcast(dst)) return false;
    const n = t.neighboursByPort[egress.port]!.get(route.via || dst);
    // Unresolved, or stale and due a probe: the full path sends the request.
    if (n === undefined || n.state === NeighbourState.Incomplete || (n.state === NeighbourState.Stale && n.probes === 0)) return false;

    const stats = t.stats;
    stats[C.rx_frames]++;
    const director = this.router.director;
    if (director !== null && director.hasNat && director.outbound(slot, at)) stats[C.lvs_nat_out]++;
    // TTL down by one: the checksum up by 0x0100 in network order, 1 in these words (RFC 1624).
    h[ip + 4] = h[ip + 4] - 1;
    let c = h[ip + 5] + 1;
    if (c >= 0xffff) c -= 0xffff;
    h[ip + 5] = c;
    stats[C.forwarded]++;
    stats[C.fast_path]++;
    n.usedAt = this.now;
    const nm = n.mac, em = egress.mac;
    h[w] = nm[0] | (nm[1] << 8);
    h[w + 1] = nm[2] | (nm[3] << 8);
    h[w + 2] = nm[4] | (nm[5] << 8);
    h[w + 3] = em[0] | (em[1] << 8);
    h[w + 4] = em[2] | (em[3] << 8);
    h[w + 5] = em[4] | (em[5] << 8);
    this.engine.transmit(egress.port, slot, offset, 14 + total);
    return true;
  }
}
