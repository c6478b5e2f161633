// The forwarding fast path: a plain routed IPv4 unicast frame (no options, for no address of
// ours, to a resolved next hop, fitting the egress MTU, not a super-frame) checked and
// forwarded in one pass over the frame's 16-bit words. Byte by byte, this work costs JavaScript
// about twice what it costs in words; the checks are the router's own.
//
// It only ever declines or forwards. Everything else, including every frame that the full path
// would drop, count, answer, trace or park, is declined before a byte changes, and the router's
// full path (router.ts) takes it from the start. test/unit/fast-path proves that both paths
// leave the same bytes and the same counters, frame for frame.

import type { PacketEngine, RxBurst } from '../io/engine.js';
import { Descriptor, VNET_HEADER_BYTES } from '../io/layout.js';
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
  /** Fixed for the router's life (a reload that changes interfaces is refused). */
  ifaceByPort: readonly (Interface | undefined)[];
  neighboursByPort: readonly (NeighbourTable | undefined)[];
  /** Every address of ours (the router's local map): never forwarded. */
  local: U32Map;
  routes: RouteTable;
  stats: Float64Array;
}

/** A full path for the frames the fast path declines: the router's, from the start. */
export type FullPath = (port: number, slot: number, offset: number, length: number) => void;

// The loop's constants are const enums, which the bundle writes as literals: V8 (node 20) loads
// a module-level const from its context, with a check, at every use in a loop.

/** What the frame's words hold, as they read on a little-endian host. */
const enum Word {
  /** EtherType 0x0800. */
  EtherTypeIpv4 = 0x0008,
  /** The IPv4 header's first byte: version 4, IHL 5 (no options). */
  VersionIhl5 = 0x45,
}

/** A port's row in FastPath.ports: its MAC as the frame's three words, its MTU, and its broadcasts' range. */
const enum Row {
  Mac = 0,
  Mtu = 3,
  Broadcasts = 4,
  BroadcastsEnd = 5,
  Size = 6,
}
/** No word of a frame equals this: a port without an interface declines every frame on its MAC check. */
const NO_MAC_WORD = -1;

export class FastPath {
  /** The clock as of this batch (the router's): a used neighbour's timestamp. */
  now = 0;
  private readonly h: Uint16Array;
  /** Every frame has a virtio-net header before it: only a plain one (no GSO, checksums whole) is fast. */
  private readonly vnetWords: number;
  /** Per port, Row.Size words (see Row.Mac...): the interfaces, flat, read per frame without an object in the way. */
  private readonly ports: Int32Array;
  /** Every interface's directed broadcast addresses (int32), each port's between its row's two bounds. */
  private readonly broadcasts: Int32Array;

  constructor(
    private readonly engine: PacketEngine,
    private readonly t: FastPathTables,
    /** The router: its director, when one is set, rewrites NAT replies on the way through. */
    private readonly router: { readonly director: L4Director | null },
  ) {
    const bytes = engine.bytes;
    this.h = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 1);
    this.vnetWords = engine.layout.largeSlotCount > 0 ? VNET_HEADER_BYTES >>> 1 : 0;
    this.ports = new Int32Array(t.ifaceByPort.length * Row.Size).fill(NO_MAC_WORD);
    const broadcasts: number[] = [];
    t.ifaceByPort.forEach((iface, port) => {
      if (iface === undefined) return;
      const row = port * Row.Size, mac = iface.mac;
      for (let k = 0; k < 3; k++) this.ports[row + Row.Mac + k] = mac[2 * k] | (mac[2 * k + 1] << 8);
      this.ports[row + Row.Mtu] = iface.mtu;
      this.ports[row + Row.Broadcasts] = broadcasts.length;
      for (const b of iface.broadcasts) broadcasts.push(b | 0);
      this.ports[row + Row.BroadcastsEnd] = broadcasts.length;
    });
    this.broadcasts = Int32Array.from(broadcasts);
  }

  /**
   * Forwards the burst's plain routed frames and hands every other frame, in its turn, to
   * `fullPath` untouched. The loop holds its tables in locals: what a declined frame's full path
   * may change (a neighbour learnt, a map grown) is read afresh per frame through its table.
   */
  forwardBurst(burst: RxBurst, fullPath: FullPath): void {
    const t = this.t, h = this.h, engine = this.engine, stats = t.stats, routes = t.routes, ports = this.ports, broadcasts = this.broadcasts;
    const port = burst.port, count = burst.count, words = burst.words, vnetWords = this.vnetWords;
    // Imported constants, once per burst (see Word).
    const needsCsum = VNET_F_NEEDS_CSUM;
    const rxFrames = C.rx_frames, forwarded = C.forwarded, fastPath = C.fast_path, natOut = C.lvs_nat_out;
    const row = port * Row.Size;
    const mac0 = ports[row + Row.Mac], mac1 = ports[row + Row.Mac + 1], mac2 = ports[row + Row.Mac + 2];
    const inFrom = ports[row + Row.Broadcasts], inTo = ports[row + Row.BroadcastsEnd];
    for (let i = 0; i < count; i++) {
      const d = burst.descriptor(i);
      const slot = words[d], offset = words[d + 1] & Descriptor.OffsetMask, length = words[d + 1] >>> Descriptor.OffsetBits;
      declined: {
        const at = engine.slotOffset(slot) + offset;
        if (length < 34 || (at & 1) !== 0) break declined;
        const w = at >>> 1;
        // The virtio-net header (with offloads): its first word is flags | gso_type << 8.
        const vnet = w - vnetWords;
        const vnetFlags = vnetWords !== 0 ? h[vnet] : 0;
        if (vnetFlags >>> 8 !== 0) break declined; // a super-frame
        if (h[w] !== mac0 || h[w + 1] !== mac1 || h[w + 2] !== mac2 || h[w + 6] !== Word.EtherTypeIpv4) break declined;
        const ip = w + 7;
        const totalWord = h[ip + 1];
        const total = ((totalWord & 0xff) << 8) | (totalWord >>> 8);
        const ttlProtocol = h[ip + 4];
        if ((h[ip] & 0xff) !== Word.VersionIhl5 || total < 20 || total > length - 14 || (ttlProtocol & 0xff) <= 1) break declined;
        // A partial checksum goes on as it is (the kernel completes it), if it lies inside the
        // transport header; a lying one is the full path's counted drop.
        if ((vnetFlags & needsCsum) !== 0 && (h[vnet + 3] < 34 || h[vnet + 3] + h[vnet + 4] + 2 > 14 + total)) break declined;
        // The one's-complement sum does not care which byte order the words are read in (RFC 1071).
        let sum = h[ip] + h[ip + 1] + h[ip + 2] + h[ip + 3] + ttlProtocol + h[ip + 5] + h[ip + 6] + h[ip + 7] + h[ip + 8] + h[ip + 9];
        sum = (sum & 0xffff) + (sum >>> 16);
        if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) break declined;
        // Addresses as int32, as every map holds them (util/u32map.ts).
        const s0 = h[ip + 6], s1 = h[ip + 7], d0 = h[ip + 8], d1 = h[ip + 9];
        const src = ((s0 & 0xff) << 24) | ((s0 >>> 8) << 16) | ((s1 & 0xff) << 8) | (s1 >>> 8);
        const dst = ((d0 & 0xff) << 24) | ((d0 >>> 8) << 16) | ((d1 & 0xff) << 8) | (d1 >>> 8);
        // Martian sources, multicast and broadcast destinations, and our own addresses are the full path's.
        if (isMartian(src) || dst >>> 28 >= 0xe || includesEither(broadcasts, inFrom, inTo, src, dst)) break declined;
        if (t.local.get(dst) >= 0) break declined;
        const route = routes.lookupId(dst);
        if (route < 0) break declined;
        const egress = routes.portOf(route);
        const out = egress * Row.Size;
        if (total > ports[out + Row.Mtu] || includes(broadcasts, ports[out + Row.Broadcasts], ports[out + Row.BroadcastsEnd], dst)) break declined;
        const n = t.neighboursByPort[egress]!.get(routes.viaOf(route) || dst);
        // Unresolved, or stale and due a probe: the full path sends the request.
        if (n === undefined || n.state === NeighbourState.Incomplete || (n.state === NeighbourState.Stale && n.probes === 0)) break declined;

        stats[rxFrames]++;
        const director = this.router.director;
        if (director !== null && director.hasNat && director.outbound(slot, at)) stats[natOut]++;
        // TTL down by one: the checksum up by 0x0100 in network order, 1 in these words (RFC 1624).
        h[ip + 4] = h[ip + 4] - 1;
        let c = h[ip + 5] + 1;
        if (c >= 0xffff) c -= 0xffff;
        h[ip + 5] = c;
        stats[forwarded]++;
        stats[fastPath]++;
        n.usedAt = this.now;
        const nm = n.macWords;
        h[w] = nm[0];
        h[w + 1] = nm[1];
        h[w + 2] = nm[2];
        h[w + 3] = ports[out + Row.Mac];
        h[w + 4] = ports[out + Row.Mac + 1];
        h[w + 5] = ports[out + Row.Mac + 2];
        engine.transmit(egress, slot, offset, 14 + total);
        continue;
      }
      fullPath(port, slot, offset, length);
    }
  }
}

/** Is `a` among list[from..to)? (A port's broadcasts: one or two.) */
function includes(list: Int32Array, from: number, to: number, a: number): boolean {
  for (let i = from; i < to; i++) if (list[i] === a) return true;
  return false;
}

/** Is `a` or `b` among list[from..to)? */
function includesEither(list: Int32Array, from: number, to: number, a: number, b: number): boolean {
  for (let i = from; i < to; i++) if (list[i] === a || list[i] === b) return true;
  return false;
}
