// The forwarding fast path: a plain routed IPv4 unicast frame (no options, for no address of
// ours, to a resolved next hop, fitting the egress MTU, not a super-frame) checked and
// forwarded in one pass that reads the IPv4 header as 32-bit words in network order (a
// DataView: V8 compiles each get and set to one load or store and a bounds check), and the
// Ethernet addresses as the host's own words (an Int32Array: no byte swap, and no check of
// the view again after each store). The checks are the router's own. Little-endian hosts only
// (the router builds no fast path on others).
//
// It only ever declines or forwards. Everything else, including every frame that the full path
// would drop, count, answer, trace or park, is declined before a byte changes, and the router's
// full path (router.ts) takes it from the start. test/unit/fast-path proves that both paths
// leave the same bytes and the same counters, frame for frame.

import { PortState, type PacketEngine, type RxBurst } from '../io/engine.js';
import type { Ring } from '../io/ring.js';
import { Descriptor } from '../io/layout.js';
import { isMartian } from '../packet/address.js';
import { getLe16, getLe32 } from '../packet/bytes.js';
import { VNET_F_NEEDS_CSUM } from '../packet/vnet.js';
import type { Interface } from '../l2/interface.js';
import { NeighbourState, type Neighbour, type NeighbourTable } from '../l2/neighbours.js';
import type { L4Director } from '../router.js';
import { Fibonacci, Slot, type KeyedU32Map, type U32Map } from '../util/u32map.js';
import { C } from './counters.js';
import type { RouteTable } from './routes.js';

/** What the fast path reads of the router: its tables, as the router holds them. */
export interface FastPathTables {
  /** Both fixed for the router's life (a reload that changes interfaces is refused), tables and all. */
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

/** Where the frame's fields are, in bytes from the frame's start (the virtio-net header's are before it). */
const enum At {
  /** The virtio_net_hdr (VNET_HEADER_BYTES, the kernel's 10): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, little-endian. */
  VnetFlags = -10,
  VnetGsoType = -9,
  VnetCsumStart = -4,
  VnetCsumOffset = -2,
  Ip = 14,
  /** The IPv4 header's words: version, IHL, TOS, total length; id, fragment; TTL, protocol, checksum; source; destination. */
  IpLength = Ip,
  IpFragment = Ip + 4,
  IpTtl = Ip + 8,
  IpSource = Ip + 12,
  IpDestination = Ip + 16,
}
const enum Field {
  /**
   * The frame's word 3 (bytes 12-15, little-endian) without its last byte: EtherType IPv4
   * (08 00), then version 4 and IHL 5 (45: no options).
   */
  Ipv4NoOptions = 0x450008,
  /** The smallest frame read: Ethernet and an IPv4 header without options. */
  MinFrame = 34,
}

/**
 * A port's row in FastPath.ports: its MAC as the first three words of a frame hold it (the
 * words as an Int32Array over the frame reads and writes them, little-endian), and its MTU.
 */
const enum Row {
  /** A frame to this port: its word 0 (the MAC's first four bytes), and word 1's low half (the last two). */
  DestinationHead = 0,
  DestinationTail = 1,
  /** A frame from this port: word 1's high half (the MAC's first two bytes, in place), and word 2 (its last four). */
  SourceHead = 2,
  SourceTail = 3,
  Mtu = 4,
  Size = 5,
}
/** No frame's word 1 has this as its low half (a uint16): a port without an interface declines every frame on its MAC check. */
const NO_MAC = -1;

export class FastPath {
  /** The clock as of this batch (the router's): a used neighbour's timestamp. */
  now = 0;
  private readonly view: DataView;
  /** The same memory as int32 words: the Ethernet header's, read and written whole (a frame starts on a word). */
  private readonly frameWords: Int32Array;
  /** Every frame has a virtio-net header before it: only a plain one (no GSO, checksums whole) is fast. */
  private readonly hasVnet: boolean;
  /** The engine's slot geometry (engine.slotOffset), fixed for its life. */
  private readonly slotsOffset: number;
  private readonly slotSize: number;
  /** Per port, Row.Size numbers (see Row): the interfaces, flat, read per frame without an object in the way. */
  private readonly ports: Int32Array;
  /** Per port, its neighbour table's index and entries (NeighbourTable.get without the table in the way). */
  private readonly neighbourIndexByPort: (KeyedU32Map | undefined)[];
  private readonly neighbourEntriesByPort: (readonly (Neighbour | undefined)[] | undefined)[];
  /** Every interface's directed broadcast addresses (int32). */
  private readonly broadcasts: Int32Array;
  /**
   * Their bitwise AND: every bit each of them has. An address without all of these is none of
   * them, so one AND and compare clears nearly every address without a look at the list.
   */
  private readonly broadcastBits: number;

  constructor(
    private readonly engine: PacketEngine,
    private readonly t: FastPathTables,
    /** The router: its director, when one is set, rewrites NAT replies on the way through. */
    private readonly router: { readonly director: L4Director | null },
  ) {
    const bytes = engine.bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.frameWords = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    this.hasVnet = engine.layout.largeSlotCount > 0;
    this.slotsOffset = engine.layout.slotsOffset;
    this.slotSize = engine.layout.slotSize;
    this.ports = new Int32Array(t.ifaceByPort.length * Row.Size).fill(NO_MAC);
    this.neighbourIndexByPort = t.neighboursByPort.map((table) => table?.index);
    this.neighbourEntriesByPort = t.neighboursByPort.map((table) => table?.entries);
    const broadcasts: number[] = [];
    t.ifaceByPort.forEach((iface, port) => {
      if (iface === undefined) return;
      const row = port * Row.Size, mac = iface.mac;
      this.ports[row + Row.DestinationHead] = getLe32(mac, 0);
      this.ports[row + Row.DestinationTail] = getLe16(mac, 4);
      this.ports[row + Row.SourceHead] = getLe16(mac, 0) << 16;
      this.ports[row + Row.SourceTail] = getLe32(mac, 2);
      this.ports[row + Row.Mtu] = iface.mtu;
      for (const b of iface.broadcasts) broadcasts.push(b | 0);
    });
    this.broadcasts = Int32Array.from(broadcasts);
    this.broadcastBits = broadcasts.reduce((bits, b) => bits & b, -1);
  }

  /**
   * Forwards the burst's plain routed frames and hands every other frame, in its turn, to
   * `fullPath` untouched: runs of frames forwarded here, each ended by a frame for the full path.
   * Every frame of a run was received and forwarded, so the run's counts go in once, before the
   * frame that ended it takes the full path (V8 pays a bounds check and a load per counter per
   * frame, C next to nothing).
   */
  forwardBurst(burst: RxBurst, fullPath: FullPath): void {
    const count = burst.count, words = burst.words, stats = this.t.stats;
    for (let from = 0; from < count; ) {
      const end = this.forwardRun(burst, from), forwardedHere = end - from;
      stats[C.rx_frames] += forwardedHere;
      stats[C.forwarded] += forwardedHere;
      stats[C.fast_path] += forwardedHere;
      if (end === count) return;
      const d = burst.descriptor(end);
      fullPath(burst.port, words[d], words[d + 1] & Descriptor.OffsetMask, words[d + 1] >>> Descriptor.OffsetBits);
      from = end + 1;
    }
  }

  /**
   * Forwards frames from `from` on; returns the index of the first it declines (or the burst's
   * count). No full path and no control-plane code runs during a run, so it holds in locals
   * what only they may change: the port's row, the director, the clock, the ring's geometry,
   * the local map's and the route table's arrays (a change may replace them), the engine's TX
   * rings and port states, and the current egress's neighbour map, entries, TX ring and state
   * and the neighbour entry last found (taken again when a frame goes out of another port, or
   * to another neighbour; every frame is still looked up). V8 checks an object again at each
   * turn of a loop, so each table read through its object costs a check and a load per frame;
   * held in a local it costs neither, and a predicted compare takes the load off the chain
   * that starts at the frame's destination.
   */
  private forwardRun(burst: RxBurst, from: number): number {
    const t = this.t, v = this.view, frameWords = this.frameWords, engine = this.engine, stats = t.stats, routes = t.routes, ports = this.ports;
    const broadcasts = this.broadcasts, broadcastBits = this.broadcastBits;
    // `| 0`: V8 then holds these as int32, not as tagged small integers to untag at every use.
    const port = burst.port, count = burst.count | 0, words = burst.words, base = burst.base | 0, first = burst.first | 0, mask = burst.mask | 0;
    const slotsOffset = this.slotsOffset | 0, slotSize = this.slotSize | 0, hasVnet = this.hasVnet;
    const local = t.local, localKeys = local.keyTable, localValues = local.valueTable, localMask = local.tableMask | 0, localShift = local.tableShift | 0;
    const neighbourIndexByPort = this.neighbourIndexByPort, neighbourEntriesByPort = this.neighbourEntriesByPort;
    const txRings = engine.txRings, portStates = engine.state;
    let egressNow = -1, egressNeighbours: KeyedU32Map | undefined, egressEntries: readonly (Neighbour | undefined)[] | undefined;
    let egressRing: Ring | undefined, egressOpen = false;
    let neighbourId = -1, neighbourEgress = -1, neighbour: Neighbour | undefined;
    const prefixMasks = routes.prefixMasks, prefixMaps = routes.prefixMaps, egressPorts = routes.egressPorts, nextHops = routes.nextHops;
    const director = this.router.director, now = this.now, needsCsum = VNET_F_NEEDS_CSUM;
    const natOut = C.lvs_nat_out;
    const row = port * Row.Size;
    const inHead = ports[row + Row.DestinationHead], inTail = ports[row + Row.DestinationTail];
    for (let i = from; i < count; i++) {
      const d = base + (((first + i) & mask) << 1); // burst.descriptor(i)
      const slot = words[d], offset = words[d + 1] & Descriptor.OffsetMask, length = words[d + 1] >>> Descriptor.OffsetBits;
      const at = slotsOffset + slot * slotSize + offset;
      if (length < Field.MinFrame) return i;
      // The virtio-net header (with offloads): a super-frame, or a partial checksum that must lie inside the transport header.
      const vnetFlags = hasVnet ? v.getUint8(at + At.VnetFlags) : 0;
      if (hasVnet && v.getUint8(at + At.VnetGsoType) !== 0) return i;
      const word = at >> 2;
      if ((at & 3) !== 0 || frameWords[word] !== inHead || (frameWords[word + 1] & 0xffff) !== inTail) return i;
      if ((frameWords[word + 3] & 0xffffff) !== Field.Ipv4NoOptions) return i;
      const w0 = v.getInt32(at + At.IpLength), w1 = v.getInt32(at + At.IpFragment), w2 = v.getInt32(at + At.IpTtl);
      const src = v.getInt32(at + At.IpSource), dst = v.getInt32(at + At.IpDestination);
      const total = w0 & 0xffff;
      if (total < 20 || total > length - At.Ip || w2 >>> 24 <= 1) return i;
      if ((vnetFlags & needsCsum) !== 0) {
        const start = v.getUint16(at + At.VnetCsumStart, true);
        if (start < Field.MinFrame || start + v.getUint16(at + At.VnetCsumOffset, true) + 2 > At.Ip + total) return i;
      }
      let sum = (w0 >>> 16) + total + (w1 >>> 16) + (w1 & 0xffff) + (w2 >>> 16) + (w2 & 0xffff) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
      sum = (sum & 0xffff) + (sum >>> 16);
      if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) return i;
      // Martian sources, multicast destinations, any subnet broadcast of ours (as source or
      // destination, on any interface: more than the full path refuses, never less), and our
      // own addresses are the full path's.
      if (isMartian(src) || dst >>> 28 >= 0xe) return i;
      if (((src & broadcastBits) === broadcastBits || (dst & broadcastBits) === broadcastBits) && includesEither(broadcasts, src, dst)) return i;
      // The local map, probed as U32Map.get does. Written out: through a function V8 inlines,
      // the same loop measured about 1 ns slower (the route lookup below is written out too).
      for (let k = Math.imul(dst, Fibonacci.Multiplier) >>> localShift; localValues[k] !== Slot.Empty; k = (k + 1) & localMask) {
        if (localKeys[k] === dst) return i;
      }
      // The route, looked up as RouteTable.lookupId does (written out, as the local map's probe).
      let route = -1;
      for (let p = 0; p < prefixMasks.length; p++) {
        route = prefixMaps[p].get(dst & prefixMasks[p]);
        if (route >= 0) break;
      }
      if (route < 0) return i;
      const egress = egressPorts[route];
      const out = egress * Row.Size;
      if (total > ports[out + Row.Mtu]) return i;
      if (egress !== egressNow) {
        egressNow = egress;
        egressNeighbours = neighbourIndexByPort[egress];
        egressEntries = neighbourEntriesByPort[egress];
        egressRing = txRings[egress];
        egressOpen = portStates[egress] !== PortState.Closed;
      }
      const id = egressNeighbours!.get(nextHops[route] || dst);
      // The entry for that id, kept while the next frames go to the same one.
      if (id !== neighbourId || egress !== neighbourEgress) {
        neighbourId = id;
        neighbourEgress = egress;
        neighbour = id < 0 ? undefined : egressEntries![id];
      }
      const n = neighbour;
      // Unresolved, or stale and due a probe: the full path sends the request.
      if (n === undefined || n.state === NeighbourState.Incomplete || (n.state === NeighbourState.Stale && n.probes === 0)) return i;

      if (director !== null && director.hasNat && director.outbound(slot, at)) stats[natOut]++;
      // TTL down by one (read again: NAT rewrote the checksum); the checksum up by 0x0100 (RFC 1624).
      const ttl = v.getInt32(at + At.IpTtl);
      let c = (ttl & 0xffff) + 0x0100;
      if (c >= 0xffff) c -= 0xffff;
      v.setInt32(at + At.IpTtl, (((ttl >>> 16) - 0x0100) << 16) | c);
      n.usedAt = now;
      // Destination and source MACs, 12 bytes in three words.
      frameWords[word] = n.macHead;
      frameWords[word + 1] = n.macTail | ports[out + Row.SourceHead];
      frameWords[word + 2] = ports[out + Row.SourceTail];
      // engine.transmit(), with the engine's tables in locals.
      if (!egressOpen || !egressRing!.tryPut(slot, offset, At.Ip + total)) engine.refuseTransmit(slot);
    }
    return count;
  }
}

/** Is `a` or `b` in `list`? */
function includesEither(list: Int32Array, a: number, b: number): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === a || list[i] === b) return true;
  return false;
}
