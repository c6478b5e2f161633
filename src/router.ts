// The router: the frame handler the packet engine calls for every received frame.
// Ethernet demultiplexing, ARP, IPv4 validation, local delivery (echo), forwarding with TTL and
// MTU handling, ICMP errors, and next-hop resolution. Frames are handled in place in their ring
// slot; a forwarded frame leaves from the slot it arrived in.

import { Interface } from './l2/interface.js';
import { DEFAULT_NEIGHBOUR_TIMERS, Neighbour, NeighbourState, NeighbourTable, type NeighbourTimers } from './l2/neighbours.js';
import { C, ROUTER_COUNTERS, counterRecord, newCounterArray, type RouterCounters } from './l3/counters.js';
import type { PacketTracer } from './control/trace.js';
import { U32Map } from './util/u32map.js';
import { ArpParking } from './l2/parking.js';
import { IcmpBudget, IcmpKind } from './l3/icmp-budget.js';
import { RouteTable } from './l3/routes.js';
import { FastPath } from './l3/fast-path.js';
import { HOST_LITTLE_ENDIAN } from './packet/bytes.js';
import type { PacketEngine, FrameHandler, RxBurst } from './io/engine.js';
import { BROADCAST_MAC, ZERO_MAC, formatIpv4, formatMac, isMartian, macEquals, writeIpv4, type Ipv4 } from './packet/address.js';
import { ARP_LENGTH, ARP_REPLY, ARP_REQUEST, ArpView } from './packet/arp.js';
import { checksum, checksumValid, headerChecksumValid, patchChecksum } from './packet/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER, EthernetView } from './packet/ethernet.js';
import {
  EXC_TTL,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER,
  ICMP_TIME_EXCEEDED,
  UNREACH_FRAG_NEEDED,
  UNREACH_HOST,
  UNREACH_NET,
  UNREACH_PORT,
  UNREACH_PROTOCOL,
  isIcmpError,
} from './packet/icmp.js';
import { FLAG_MF, IPV4_MIN_HEADER, Ipv4View, OFFSET_MASK, PROTO_ICMP, PROTO_TCP, PROTO_UDP } from './packet/ipv4.js';
import { TCP_MIN_HEADER, transportChecksum } from './packet/udp.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpView } from './packet/transport.js';
import { VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_UDP_L4, clearVnet, isSuperFrame, needsChecksum, vnetCsumOffset, vnetCsumStart, vnetGsoSize, vnetGsoType } from './packet/vnet.js';
import { VNET_HEADER_BYTES } from './io/layout.js';
import { completeChecksum, segmentSuperFrame, transportHeaderLength } from './l3/gso.js';
import type { Ipv6Router, Link6 } from './l3/ipv6-router.js';
import { ETHERTYPE_IPV6 } from './packet/ipv6.js';

export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What the director decided about a packet for one of our addresses. */
export const enum Verdict {
  /** Not a virtual service's: the router delivers it as local traffic. */
  NotOurs = 0,
  /** Dropped (counted) or answered by the director: the slot is gone. */
  Consumed = 1,
  /** Rewritten in place for a real server: the router's IP output sends it (see Forwarding). */
  Forward = 2,
}

/** Where a packet the director forwards goes: the IP output's input. */
export interface Forwarding {
  egress: Interface;
  nextHop: Ipv4;
  /** The frame's offset in its slot and its length: a tunnel header moves both. */
  offset: number;
  frameLength: number;
}

/** Where an IPv6 packet the director forwards goes: the IPv6 output's input. */
export interface Forwarding6 {
  egress: Link6;
  /** The neighbour: `nextHop[nextHopAt..]`, 16 bytes. */
  nextHop: Uint8Array;
  nextHopAt: number;
  offset: number;
  frameLength: number;
}

/**
 * The load balancer's hooks into the router (src/lvs/director.ts). The director decides and
 * rewrites; the router transmits: a frame meets classify, director, IP output, TX, in order.
 */
export interface L4Director {
  /** Any NAT service configured: only then are forwarded packets offered to outbound(). */
  readonly hasNat: boolean;
  /** A packet for one of our addresses (see Verdict). */
  inbound(ingress: Interface, slot: number, offset: number, at: number, frameLength: number): Verdict;
  /** Filled when inbound() says Forward. */
  readonly forwarding: Forwarding;
  /** A packet being forwarded: rewrites a NAT reply's source in place; true when it did. */
  outbound(slot: number, at: number): boolean;
  /** Any IPv6 virtual service: only then are IPv6 packets checked against isVip6(). */
  readonly hasVip6: boolean;
  isVip6(b: Uint8Array, o: number): boolean;
  /** inbound() for IPv6 (src/l3/ipv6-router.ts hands it the packets for VIPs). */
  inbound6(ingress: Link6, slot: number, offset: number, at: number, frameLength: number): Verdict;
  readonly forwarding6: Forwarding6;
  /** outbound() for IPv6. */
  outbound6(at: number): boolean;
  /** Timers: connection expiry. */
  tick(now: number): void;
}

/**
 * A control-plane protocol tapvs speaks on its own interfaces (VRRP, IPVS sync and BFD; src/ha/):
 * offered the packets for the multicast groups it joined, and unicast UDP for our addresses.
 * It reads the packet where it lies and keeps nothing; the router releases the slot.
 */
export interface LocalListener {
  joined(group: Ipv4): boolean;
  /** An IPv4 packet at `ipAt` of `length` bytes; true when it was this listener's. */
  receive(iface: Interface, ipAt: number, length: number): boolean;
  /**
   * An IPv6 packet for us (unicast UDP, or a group's VRRP): the header at `ipAt`, the upper
   * layer `nextHeader` at `upperAt` (`upperLength` bytes); true when it was this listener's.
   */
  receive6?(iface: Interface, ipAt: number, nextHeader: number, upperAt: number, upperLength: number): boolean;
  /** Another host claims (in ARP) an address VRRP gave us: two masters at once. */
  claimed(iface: Interface, addr: Ipv4, mac: string): void;
}

export interface RouterOptions {
  /** ICMP errors per second across the router, and the burst allowed (RFC 1812 4.3.2.8). */
  icmpRatePerSecond: number;
  icmpBurst: number;
  /** The same per destination (and kind: errors, frag-needed, resets; l3/icmp-budget.ts). */
  icmpPerDestinationPerSecond: number;
  icmpPerDestinationBurst: number;
  neighbour: NeighbourTimers;
  /** TTL of packets the router originates. */
  ttl: number;
  now: () => number;
  log: Log;
}

export const DEFAULT_ROUTER_OPTIONS: Omit<RouterOptions, 'log'> = {
  icmpRatePerSecond: 100,
  icmpBurst: 50,
  icmpPerDestinationPerSecond: 20,
  icmpPerDestinationBurst: 20,
  neighbour: DEFAULT_NEIGHBOUR_TIMERS,
  ttl: 64,
  now: () => performance.now(),
};

/** RFC 1812 4.3.2.3: quote as much of the offending packet as fits in 576 bytes. */
const ICMP_ERROR_MAX_IP_LENGTH = 576;
/** drop() without a counter: frames that are consumed, not refused (ARP replies we learnt from). */
const NOT_COUNTED = -1;
/** The share of the slot pool that frames waiting for ARP may hold, all interfaces together. */
export const PARKED_SHARE = 1 / 8;
/** Log an address conflict, and defend the address, at most this often per address. */
const CONFLICT_INTERVAL_MS = 10_000;
/** Marks a local address held back on a VRRP backup: packets to it are dropped and counted. */
const STANDBY = 1 << 16;
/** The local map's value for a routed VIP: an address of no interface. */
const ROUTED = STANDBY - 1;

export class Router implements FrameHandler {
  /** Counters indexed by C (see l3/counters.ts); `counters` gives them by name. */
  readonly stats = newCounterArray();
  readonly interfaces: Interface[];
  readonly routes: RouteTable;
  private readonly engine: PacketEngine;
  private readonly opts: RouterOptions;
  /** Set by the director when virtual services are configured. */
  director: L4Director | null = null;
  /** Control-plane protocols on our addresses: VRRP and sync (src/ha/ha.ts), BFD (src/ha/bfd.ts). */
  private readonly listeners: LocalListener[] = [];
  /** IPv6, when an interface has an IPv6 address (src/l3/ipv6-router.ts); else IPv6 is a counted drop. */
  v6: Ipv6Router | null = null;
  /** Set only while someone runs `tapvs trace`: otherwise frames take the plain path. */
  tracer: PacketTracer | null = null;
  private readonly log: Log;
  private readonly b: Uint8Array;
  /** Plain routed IPv4 frames, forwarded in words (l3/fast-path.ts); null where it cannot run, or turned off. */
  private fast: FastPath | null = null;
  /**
   * Every frame in a slot has a virtio-net header just before it (the engine has large slots:
   * its TAPs take super-frames and partial checksums). Frames the router builds have a zero one.
   */
  readonly offload: boolean;
  private readonly ifaceByPort: (Interface | undefined)[];
  private readonly neighboursByPort: (NeighbourTable | undefined)[];
  /** Every address we own, to the port of its interface (plus STANDBY while a VRRP backup's). */
  private readonly local = new U32Map();
  /** Addresses VRRP moves, and whether we are their master now. */
  private readonly vrrpActive = new Map<Ipv4, boolean>();
  private icmpBudget: IcmpBudget;
  private readonly conflictLoggedAt = new Map<Ipv4, number>();
  /** Frames waiting for their next hop's MAC, capped together. */
  readonly parking: ArpParking;
  private ipId = 1;
  /** The clock, read once per batch: a clock read per frame costs more than routing it. */
  private now: number;
  // Views re-pointed at each frame; never allocated per frame.
  private readonly eth = new EthernetView();
  private readonly arp = new ArpView();
  private readonly ip = new Ipv4View();
  private readonly out = new Ipv4View();
  private readonly tcp = new TcpView();

  constructor(engine: PacketEngine, interfaces: Interface[], routes: RouteTable, opts: RouterOptions) {
    this.engine = engine;
    this.interfaces = interfaces;
    this.routes = routes;
    this.opts = { ...opts };
    this.log = opts.log;
    this.b = engine.bytes;
    this.offload = engine.layout.largeSlotCount > 0;
    this.ifaceByPort = new Array(engine.maxPorts).fill(undefined);
    this.neighboursByPort = new Array(engine.maxPorts).fill(undefined);
    for (const iface of interfaces) {
      this.ifaceByPort[iface.port] = iface;
      this.neighboursByPort[iface.port] = new NeighbourTable(opts.neighbour);
      for (const a of iface.addresses) this.local.set(a.address, iface.port);
    }
    this.now = opts.now();
    this.fastPath = true;
    this.icmpBudget = new IcmpBudget(budgetConfig(opts), this.now);
    this.parking = new ArpParking(Math.max(16, Math.floor(engine.layout.slotCount * PARKED_SHARE)), (slot, reason) => this.drop(slot, reason), { queueFull: C.arp_queue_full, overCap: C.arp_parked_over_cap });
  }

  /** Settings that change live on reload: the ICMP budgets, neighbour timers, the TTL we originate with. */
  configure(o: Pick<RouterOptions, 'icmpRatePerSecond' | 'icmpBurst' | 'icmpPerDestinationPerSecond' | 'icmpPerDestinationBurst' | 'neighbour' | 'ttl'>): void {
    if (JSON.stringify(budgetConfig(o)) !== JSON.stringify(budgetConfig(this.opts))) this.icmpBudget = new IcmpBudget(budgetConfig(o), this.now);
    Object.assign(this.opts, o);
    for (const table of this.neighboursByPort) table?.setTimers(o.neighbour);
    this.v6?.configure({ neighbour: o.neighbour, icmp: budgetConfig(o), hopLimit: o.ttl });
  }

  get counters(): RouterCounters {
    return counterRecord(this.stats);
  }

  beginBatch(): void {
    this.now = this.opts.now();
    if (this.fast !== null) this.fast.now = this.now;
  }

  /** Whether plain routed frames take the fast path (a little-endian host's only); off, every frame takes the full one (the fast path's test compares the two). */
  get fastPath(): boolean {
    return this.fast !== null;
  }
  set fastPath(on: boolean) {
    this.fast = on && HOST_LITTLE_ENDIAN ? new FastPath(this.engine, { ifaceByPort: this.ifaceByPort, neighboursByPort: this.neighboursByPort, local: this.local, routes: this.routes, stats: this.stats }, this) : null;
    if (this.fast !== null) this.fast.now = this.now;
  }

  /** The clock as of this batch. */
  get clock(): number {
    return this.now;
  }

  /** Announces every address once (a gratuitous ARP request, RFC 5227 2.3). */
  announce(): void {
    for (const iface of this.interfaces) {
      for (const a of iface.addresses) if (!a.standby) this.gratuitousArp(iface, a.address);
    }
    this.v6?.announce(this.now);
    this.engine.flush();
  }

  /** A gratuitous ARP request for one of our addresses (RFC 5227 2.3), from its MAC. */
  gratuitousArp(iface: Interface, addr: Ipv4): void {
    this.sendArp(iface, ARP_REQUEST, BROADCAST_MAC, addr, ZERO_MAC, addr, iface.macFor(addr));
  }

  /**
   * VRRP moves `addr` (src/ha/): on `iface` (added if it is not a VIP there yet), answered,
   * served and announced only while `active`. A backup keeps it as a counted drop.
   */
  setVrrpAddress(iface: Interface, addr: Ipv4, active: boolean): void {
    this.vrrpActive.set(addr, active);
    let a = iface.addresses.find((x) => x.address === addr);
    if (a === undefined) {
      a = { address: addr, length: 32, role: 'vip' };
      iface.addresses.push(a);
    }
    a.vrrp = true;
    this.markStandby(iface, a, !active);
  }

  private markStandby(iface: Interface, a: { address: Ipv4; standby?: boolean }, standby: boolean): void {
    a.standby = standby;
    this.local.set(a.address, iface.port | (standby ? STANDBY : 0));
  }

  /** A VIP comes up on an interface: answered in ARP from now on, and announced. */
  addVip(iface: Interface, addr: Ipv4): void {
    if (iface.owns(addr)) return;
    const active = this.vrrpActive.get(addr);
    const a = { address: addr, length: 32, role: 'vip' as const, vrrp: active !== undefined };
    iface.addresses.push(a);
    this.markStandby(iface, a, active === false);
    if (active === false) return; // a VRRP backup's: its master announces it
    this.gratuitousArp(iface, addr);
    this.engine.flush();
  }

  /**
   * A routed VIP: on no connected network, sent to us by an upstream router's route (as BGP and
   * ECMP deployments do). Served, never answered in ARP, never a source of ours.
   */
  addRoutedVip(addr: Ipv4): void {
    if (!this.local.has(addr)) this.local.set(addr, ROUTED);
  }

  removeVip(addr: Ipv4): void {
    if (this.vrrpActive.has(addr)) return; // VRRP still moves it: it stays, as the instance's address
    for (const iface of this.interfaces) {
      const i = iface.addresses.findIndex((a) => a.address === addr && a.role === 'vip');
      if (i >= 0) iface.addresses.splice(i, 1);
    }
    this.local.delete(addr);
  }

  interfaceByName(name: string): Interface | undefined {
    return this.interfaces.find((i) => i.name === name);
  }

  neighbours(iface: Interface): NeighbourTable {
    return this.neighboursByPort[iface.port]!;
  }

  // ---- receive path

  receive(port: number, slot: number, offset: number, length: number): void {
    const tracer = this.tracer;
    if (tracer === null) return this.process(port, slot, offset, length);
    tracer.begin(this.b, this.engine.slotOffset(slot) + offset, length, this.ifaceByPort[port]?.name ?? `port ${port}`);
    this.process(port, slot, offset, length);
    tracer.end();
  }

  /** A port's burst: plain routed frames through the fast path, the rest (or all, while tracing) frame by frame. */
  receiveBurst(burst: RxBurst): void {
    const fast = this.fast;
    if (fast !== null && this.tracer === null) return fast.forwardBurst(burst, this.fullPath);
    for (let i = 0; i < burst.count; i++) this.receive(burst.port, burst.slot(i), burst.offset(i), burst.length(i));
  }

  /** The full path, for the frames the fast path declines. */
  private readonly fullPath = (port: number, slot: number, offset: number, length: number): void => this.process(port, slot, offset, length);

  /** A note for `tapvs trace`, when the current frame is traced. */
  trace(decision: string): void {
    if (this.tracer !== null && this.tracer.on) this.tracer.note(decision);
  }

  get tracing(): boolean {
    return this.tracer !== null && this.tracer.on;
  }

  private process(port: number, slot: number, offset: number, length: number): void {
    this.stats[C.rx_frames]++;
    const iface = this.ifaceByPort[port];
    if (iface === undefined) return this.drop(slot, C.eth_other_host);
    if (length < ETH_HEADER) return this.drop(slot, C.eth_runt);
    const at = this.engine.slotOffset(slot) + offset;
    const eth = this.eth.point(this.b, at);
    if (!macEquals(this.b, at, iface.mac, 0) && !eth.isBroadcast && !(iface.vmac !== null && macEquals(this.b, at, iface.vmac, 0))) {
      // Multicast goes on only for a listener (VRRP, sync), which checks the group, and for
      // IPv6 (33:33:..., neighbour discovery).
      if (!eth.isMulticast) return this.drop(slot, C.eth_other_host);
      const ipv6Group = this.v6 !== null && this.b[at] === 0x33 && this.b[at + 1] === 0x33;
      if (this.listeners.length === 0 && !ipv6Group) return this.drop(slot, C.eth_multicast);
    }
    const type = eth.etherType;
    if (type === ETHERTYPE_IPV4) return this.receiveIpv4(iface, slot, offset, at, length, eth.isBroadcast);
    if (type === ETHERTYPE_ARP) return this.receiveArp(iface, slot, at, length);
    if (type === ETHERTYPE_IPV6) return this.receiveIpv6(iface, slot, offset, at, length, eth.isMulticast);
    this.drop(slot, C.eth_unknown_type);
  }

  private receiveIpv6(iface: Interface, slot: number, offset: number, at: number, length: number, linkMulticast: boolean): void {
    if (this.v6 === null) return this.drop(slot, C.ip6_disabled);
    this.v6.receive(iface, slot, offset, at, length, linkMulticast);
  }

  private receiveArp(iface: Interface, slot: number, at: number, length: number): void {
    if (length < ETH_HEADER + ARP_LENGTH) return this.drop(slot, C.arp_malformed);
    const arp = this.arp.point(this.b, at + ETH_HEADER);
    const op = arp.operation;
    if (!arp.isEthernetIpv4 || (op !== ARP_REQUEST && op !== ARP_REPLY)) return this.drop(slot, C.arp_malformed);
    const senderIp = arp.senderIp;
    const targetIp = arp.targetIp;
    const now = this.now;

    if (this.local.has(senderIp) && !macEquals(this.b, arp.senderMacOffset, iface.macFor(senderIp), 0)) {
      // A VRRP address is not defended: VRRP settles who holds it. While we hold it, another
      // claimant is a second master (a partition), which VRRP alone may never see.
      // On a backup, the master's announcements are what should happen: not counted.
      const vrrp = this.vrrpActive.get(senderIp);
      if (vrrp === undefined) this.addressConflict(iface, senderIp, formatMac(this.b, arp.senderMacOffset), now);
      else if (vrrp) for (const l of this.listeners) l.claimed(iface, senderIp, formatMac(this.b, arp.senderMacOffset));
      return this.drop(slot, vrrp === false ? NOT_COUNTED : C.arp_conflict);
    }

    const forUs = iface.answersFor(targetIp);
    // RFC 826 merge: refresh a sender we know. Learn a new one only from a request to us, and
    // only on its own link: a reply nobody asked for, or an off-link sender, creates nothing.
    if (senderIp !== 0 && !isMartian(senderIp) && !iface.isSubnetBroadcast(senderIp)) {
      const table = this.neighbours(iface);
      let n = table.get(senderIp);
      if (!n && forUs && op === ARP_REQUEST && iface.isOnLink(senderIp)) n = this.createNeighbour(iface, table, senderIp);
      if (n) this.resolved(iface, n, arp.senderMacOffset, now);
    }

    if (op !== ARP_REQUEST || !forUs) return this.drop(slot, op === ARP_REQUEST ? C.arp_not_for_us : NOT_COUNTED);

    // Answer in place: the request becomes the reply and leaves from the slot it came in.
    const eth = this.eth.point(this.b, at);
    const b = this.b;
    const mac = iface.macFor(targetIp);
    b.copyWithin(at, arp.senderMacOffset, arp.senderMacOffset + 6); // Ethernet dst = requester
    eth.setSrc(mac);
    b.copyWithin(arp.targetMacOffset, arp.senderMacOffset, arp.senderMacOffset + 10); // target = requester MAC+IP
    b.set(mac, arp.senderMacOffset);
    writeIpv4(b, arp.senderMacOffset + 6, targetIp);
    b[arp.o + 7] = ARP_REPLY;
    this.stats[C.arp_requests_answered]++;
    this.engine.transmit(iface.port, slot, at - this.engine.slotOffset(slot), ETH_HEADER + ARP_LENGTH);
  }

  private addressConflict(iface: Interface, ip: Ipv4, mac: string, now: number): void {
    const last = this.conflictLoggedAt.get(ip);
    if (last !== undefined && now - last < CONFLICT_INTERVAL_MS) return;
    this.conflictLoggedAt.set(ip, now);
    this.log.warn({ iface: iface.name, address: formatIpv4(ip), claimedBy: mac, ours: formatMac(iface.mac) }, 'address conflict: another host claims one of our addresses');
    // Defend it once (RFC 5227 2.4 (b)), so neighbours that learnt the impostor learn us again.
    this.sendArp(iface, ARP_REQUEST, BROADCAST_MAC, ip, ZERO_MAC, ip);
  }

  private receiveIpv4(iface: Interface, slot: number, offset: number, at: number, length: number, linkBroadcast: boolean): void {
    const ipAt = at + ETH_HEADER;
    const available = length - ETH_HEADER;
    if (available < IPV4_MIN_HEADER) return this.drop(slot, C.ip_runt);
    const ip = this.ip.point(this.b, ipAt);
    if (ip.version !== 4) return this.drop(slot, C.ip_bad_version);
    const ihl = ip.headerLength;
    if (ihl < IPV4_MIN_HEADER || ihl > available) return this.drop(slot, C.ip_bad_header_length);
    const total = ip.totalLength;
    if (total < ihl || total > available) return this.drop(slot, C.ip_bad_total_length);
    if (!headerChecksumValid(this.b, ipAt, ihl)) return this.drop(slot, C.ip_bad_checksum);
    if (this.offload && !this.vnetSane(at, ihl, total)) return this.drop(slot, C.vnet_malformed);
    const src = ip.src;
    if (isMartian(src) || iface.isSubnetBroadcast(src)) return this.drop(slot, C.ip_martian_source);
    const dst = ip.dst;
    const frameLength = ETH_HEADER + total; // Ethernet padding stays behind

    const owner = this.local.get(dst);
    if (owner >= 0) {
      if (owner >= STANDBY) return this.drop(slot, C.ha_backup_dropped);
      const verdict = this.director === null ? Verdict.NotOurs : this.director.inbound(iface, slot, offset, at, frameLength);
      if (verdict === Verdict.NotOurs) return this.deliverLocal(slot, offset, at, frameLength, iface);
      if (verdict === Verdict.Forward) {
        const f = this.director!.forwarding;
        this.stats[C.lvs_forwarded]++;
        this.transmitIp(f.egress, f.nextHop, slot, f.offset, f.frameLength);
      }
      return;
    }
    // RFC 1812 5.3.4: nothing that arrived as a link-layer broadcast is forwarded.
    if (linkBroadcast || dst === 0xffffffff || iface.isSubnetBroadcast(dst)) return this.drop(slot, C.ip_broadcast);
    if (dst >>> 28 === 0xe) {
      if (this.listeners.length > 0 && this.partialChecksum(at)) this.completeChecksum(at, frameLength);
      for (const l of this.listeners) if (l.joined(dst) && l.receive(iface, at + ETH_HEADER, total)) return this.drop(slot, NOT_COUNTED);
      return this.drop(slot, C.ip_multicast);
    }
    this.forward(slot, offset, at, frameLength, dst);
  }

  // ---- super-frames and partial checksums

  /**
   * The virtio-net header agrees with the packet: a super-frame is TCP (TCPV4) or UDP (UDP_L4)
   * over an unfragmented IPv4 packet, with a segment size and a partial checksum in its
   * transport header; a partial checksum lies inside the packet. The kernel writes these, but
   * what the fast path trusts is checked (a lying header is a counted drop).
   */
  private vnetSane(at: number, ihl: number, total: number): boolean {
    const b = this.b;
    const hdr = at - VNET_HEADER_BYTES;
    const ipAt = at + ETH_HEADER;
    if (needsChecksum(b, hdr)) {
      const start = vnetCsumStart(b, hdr);
      if (start < ETH_HEADER + ihl || start + vnetCsumOffset(b, hdr) + 2 > ETH_HEADER + total) return false;
    }
    const type = vnetGsoType(b, hdr);
    if (type === VNET_GSO_NONE) return true;
    const protocol = b[ipAt + 9];
    const l4Header = transportHeaderLength(b, ipAt, ihl);
    const sane =
      ((type === VNET_GSO_TCPV4 && protocol === PROTO_TCP && l4Header >= TCP_MIN_HEADER) || (type === VNET_GSO_UDP_L4 && protocol === PROTO_UDP)) &&
      needsChecksum(b, hdr) &&
      vnetGsoSize(b, hdr) > 0 &&
      ihl + l4Header <= total &&
      (b[ipAt + 6] & 0x3f) === 0 && b[ipAt + 7] === 0; // neither MF nor an offset
    if (sane) this.stats[C.gso_super_frames]++;
    return sane;
  }

  /** The IP length each packet leaves with: a super-frame's segments', else the packet's own. */
  private wireIpLength(at: number, frameLength: number): number {
    const b = this.b;
    if (!this.offload || !isSuperFrame(b, at - VNET_HEADER_BYTES)) return frameLength - ETH_HEADER;
    const ipAt = at + ETH_HEADER;
    const ihl = (b[ipAt] & 0x0f) << 2;
    return Math.min(ihl + transportHeaderLength(b, ipAt, ihl) + vnetGsoSize(b, at - VNET_HEADER_BYTES), frameLength - ETH_HEADER);
  }

  /** Whether the frame's transport checksum is partial (pseudo-header only, completed at egress). */
  partialChecksum(at: number): boolean {
    return this.offload && needsChecksum(this.b, at - VNET_HEADER_BYTES);
  }

  /** Whether the frame at `at` is a super-frame. */
  superFrame(at: number): boolean {
    return this.offload && isSuperFrame(this.b, at - VNET_HEADER_BYTES);
  }

  /**
   * Cuts a super-frame into plain segments (l3/gso.ts), each given to `send`; the original
   * slot is released. For what the kernel cannot segment: a tunnel, or no DF and no room.
   */
  segment(slot: number, at: number, frameLength: number, send: (slot: number, offset: number, frameLength: number) => void): void {
    this.stats[C.gso_segmented]++;
    this.stats[C.gso_segments_sent] += segmentSuperFrame(this.engine, this.b, at, frameLength, send);
    this.engine.release(slot);
  }

  /** Completes a partial checksum in software: for a frame that is about to be cut or wrapped. */
  completeChecksum(at: number, frameLength: number): void {
    completeChecksum(this.b, at, frameLength);
    this.stats[C.checksums_completed]++;
  }

  // ---- forwarding

  /**
   * The one TTL check, for routing and every director method: a packet that would leave with
   * TTL 0 dies here, with time exceeded to its source (seed 000: the fix for routing loops
   * between directors). Returns whether it died.
   */
  expireTtl(slot: number, at: number): boolean {
    if (this.ip.point(this.b, at + ETH_HEADER).ttl > 1) return false;
    this.icmpError(at, ICMP_TIME_EXCEEDED, EXC_TTL, 0);
    this.drop(slot, C.ttl_expired);
    return true;
  }

  private forward(slot: number, offset: number, at: number, frameLength: number, dst: Ipv4): void {
    if (this.expireTtl(slot, at)) return;
    const ip = this.ip.point(this.b, at + ETH_HEADER);
    const route = this.routes.lookup(dst);
    if (route === undefined) {
      this.icmpError(at, ICMP_DEST_UNREACH, UNREACH_NET, 0);
      return this.drop(slot, C.no_route);
    }
    if (this.tracing) this.trace(`route ${formatIpv4(route.network)}/${route.length} ${route.via ? `via ${formatIpv4(route.via)}` : 'on-link'} dev ${route.iface.name}`);
    // RFC 2644: a directed broadcast to a network of ours is not forwarded onto it.
    if (route.iface.isSubnetBroadcast(dst)) return this.drop(slot, C.ip_broadcast);
    // Too big with DF: refused before any NAT rewrite, so frag-needed quotes the packet as its
    // sender wrote it and goes to that sender (a NAT real server, not the VIP: seed 001).
    if (this.refuseTooBig(route.iface, slot, at, frameLength)) return;
    // NAT replies from real servers leave with the virtual service's address.
    if (this.director !== null && this.director.hasNat && this.director.outbound(slot, at)) this.stats[C.lvs_nat_out]++;
    ip.point(this.b, at + ETH_HEADER).decrementTtl();
    this.stats[C.forwarded]++;
    // No ICMP redirect even when the packet leaves by the interface it came in on.
    this.transmitIp(route.iface, route.via || dst, slot, offset, frameLength);
  }

  /**
   * Sends an IPv4 packet (TTL already handled) toward `nextHop` on `egress`: too big for the
   * egress MTU, it is refused with frag-needed (DF) or fragmented; then next-hop resolution.
   */
  transmitIp(egress: Interface, nextHop: Ipv4, slot: number, offset: number, frameLength: number): void {
    if (frameLength - ETH_HEADER > egress.mtu) {
      const at = this.engine.slotOffset(slot) + offset;
      // A super-frame whose segments fit goes whole: the kernel cuts it at egress.
      if (this.wireIpLength(at, frameLength) > egress.mtu) {
        if (this.refuseTooBig(egress, slot, at, frameLength)) return;
        if (this.superFrame(at)) return this.segment(slot, at, frameLength, (s, o, l) => this.transmitIp(egress, nextHop, s, o, l));
        if (this.partialChecksum(at)) this.completeChecksum(at, frameLength);
        return this.fragment(egress, nextHop, slot, at);
      }
    }
    this.sendToNextHop(egress, nextHop, slot, offset, frameLength);
  }

  /**
   * A packet too big for `egress` with DF set: frag-needed with the egress MTU (RFC 1191) to
   * its source, and the packet dropped. Called before any rewrite, so the error quotes what
   * the sender sent. Returns whether it refused the packet.
   */
  refuseTooBig(egress: Interface, slot: number, at: number, frameLength: number, mtu = egress.mtu): boolean {
    if (frameLength - ETH_HEADER <= mtu) return false;
    if (this.wireIpLength(at, frameLength) <= mtu || !this.out.point(this.b, at + ETH_HEADER).dontFragment) return false;
    this.icmpError(at, ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, mtu);
    this.drop(slot, C.frag_needed);
    return true;
  }

  /** RFC 791 fragmentation into fresh slots; the original slot is released. */
  private fragment(egress: Interface, nextHop: Ipv4, slot: number, at: number): void {
    const b = this.b;
    const ip = this.ip.point(b, at + ETH_HEADER);
    const ihl = ip.headerLength;
    const total = ip.totalLength;
    const flags = ip.flagsFragment;
    const baseOffset = flags & OFFSET_MASK;
    const step = (egress.mtu - ihl) & ~7;
    const payloadAt = at + ETH_HEADER + ihl;
    const payloadLength = total - ihl;
    this.stats[C.fragmented]++;
    for (let done = 0; done < payloadLength; done += step) {
      const chunk = Math.min(step, payloadLength - done);
      const last = done + chunk >= payloadLength;
      const fslot = this.engine.allocate(); // counted by the engine when the pool is empty
      if (fslot < 0) break;
      const foff = this.engine.layout.headroom;
      const fat = this.engine.slotOffset(fslot) + foff;
      b.copyWithin(fat + ETH_HEADER, at + ETH_HEADER, at + ETH_HEADER + ihl);
      b.copyWithin(fat + ETH_HEADER + ihl, payloadAt + done, payloadAt + done + chunk);
      const f = this.out.point(b, fat + ETH_HEADER);
      f.totalLength = ihl + chunk;
      f.flagsFragment = (flags & ~OFFSET_MASK & 0xffff) | (last ? flags & FLAG_MF : FLAG_MF) | (baseOffset + (done >>> 3));
      f.updateChecksum();
      this.stats[C.fragments_sent]++;
      this.sendToNextHop(egress, nextHop, fslot, foff, ETH_HEADER + ihl + chunk);
    }
    this.engine.release(slot);
  }

  /** Writes the Ethernet header and transmits, or parks the frame while the next hop resolves. */
  private sendToNextHop(egress: Interface, nextHop: Ipv4, slot: number, offset: number, frameLength: number): void {
    const table = this.neighboursByPort[egress.port]!;
    let n = table.get(nextHop);
    const now = this.now;
    if (n !== undefined && n.state !== NeighbourState.Incomplete) {
      if (this.tracing) this.trace(`send ${egress.name} to ${formatIpv4(nextHop)} at ${formatMac(n.mac)}`);
      n.usedAt = now;
      if (n.state === NeighbourState.Stale && n.probes === 0) this.probe(egress, n, now, n.mac);
      const at = this.engine.slotOffset(slot) + offset;
      this.eth.point(this.b, at).write(n.mac, egress.mac, ETHERTYPE_IPV4);
      this.engine.transmit(egress.port, slot, offset, frameLength);
      return;
    }
    if (n === undefined) {
      n = this.createNeighbour(egress, table, nextHop);
      n.usedAt = now;
      this.probe(egress, n, now, BROADCAST_MAC);
    }
    if (this.tracing) this.trace(`wait for ARP: ${formatIpv4(nextHop)} on ${egress.name}`);
    this.parking.park(n, slot, offset, frameLength, table.timers.queuePerNeighbour);
  }

  /** A new neighbour entry; what waited on one it evicted to make room is dropped, counted. */
  private createNeighbour(iface: Interface, table: NeighbourTable, ip: Ipv4): Neighbour {
    const n = table.create(ip);
    if (table.evicted !== null) {
      this.stats[C.neighbour_evicted]++;
      this.parking.dropAll(table.evicted, C.arp_parked_evicted);
      if (this.tracing) this.trace(`neighbour table of ${iface.name} full: evicted ${formatIpv4(table.evicted.ip)}`);
    }
    return n;
  }

  private probe(iface: Interface, n: Neighbour, now: number, dstMac: Uint8Array): void {
    n.probes++;
    n.nextProbeAt = now + this.opts.neighbour.retransmitMs;
    const source = iface.sourceFor(n.ip);
    if (source === null) return; // an interface without a primary address cannot ask
    this.sendArp(iface, ARP_REQUEST, dstMac, source, ZERO_MAC, n.ip);
    this.stats[C.arp_requests_sent]++;
  }

  private resolved(iface: Interface, n: Neighbour, macAt: number, now: number): void {
    this.neighbours(iface).confirm(n, this.b, macAt, now);
    for (const f of n.pending) {
      this.eth.point(this.b, this.engine.slotOffset(f.slot) + f.offset).write(n.mac, iface.mac, ETHERTYPE_IPV4);
      this.engine.transmit(iface.port, f.slot, f.offset, f.length);
    }
    this.parking.unpark(n);
  }

  /** Neighbour timers: retransmit, give up (host unreachable for what waited), age, forget. */
  tick(now = this.opts.now()): void {
    this.now = now;
    this.director?.tick(now);
    this.v6?.tick(now);
    const t = this.opts.neighbour;
    for (const iface of this.interfaces) {
      const table = this.neighbours(iface);
      for (const n of table.values()) {
        if (n.state === NeighbourState.Reachable && now - n.confirmedAt > t.reachableMs) n.state = NeighbourState.Stale;
        if (n.probes > 0 && now >= n.nextProbeAt) {
          if (n.probes < t.maxProbes) {
            this.probe(iface, n, now, n.state === NeighbourState.Incomplete ? BROADCAST_MAC : n.mac);
          } else {
            this.giveUp(iface, n);
            table.delete(n.ip);
          }
        } else if (n.state === NeighbourState.Stale && n.probes === 0 && now - n.usedAt > t.staleGcMs) {
          table.delete(n.ip);
        }
      }
    }
    this.parking.compact();
    this.engine.flush();
  }

  private giveUp(iface: Interface, n: Neighbour): void {
    this.stats[C.arp_resolution_failed]++;
    this.log.debug({ iface: iface.name, neighbour: formatIpv4(n.ip), waiting: n.pending.length }, 'neighbour did not answer ARP');
    for (const f of n.pending) this.icmpError(this.engine.slotOffset(f.slot) + f.offset, ICMP_DEST_UNREACH, UNREACH_HOST, 0);
    this.parking.dropAll(n, NOT_COUNTED);
  }

  // ---- local delivery

  private deliverLocal(slot: number, offset: number, at: number, frameLength: number, iface: Interface): void {
    const ip = this.ip.point(this.b, at + ETH_HEADER);
    this.stats[C.delivered_local]++;
    if (ip.isFragment) return this.drop(slot, C.local_unhandled); // we reassemble nothing
    const protocol = ip.protocol;
    if (protocol === PROTO_ICMP) return this.localIcmp(slot, offset, at, frameLength);
    if (protocol === PROTO_UDP) {
      // From the kernel of this host (a BGP speaker's BFD, say), a UDP checksum may be partial.
      if (this.partialChecksum(at)) this.completeChecksum(at, frameLength);
      for (const l of this.listeners) if (l.receive(iface, at + ETH_HEADER, frameLength - ETH_HEADER)) return this.drop(slot, NOT_COUNTED);
      this.icmpError(at, ICMP_DEST_UNREACH, UNREACH_PORT, 0);
      return this.drop(slot, C.local_unreachable_port);
    }
    if (protocol !== PROTO_TCP) this.icmpError(at, ICMP_DEST_UNREACH, UNREACH_PROTOCOL, 0);
    this.drop(slot, C.local_unhandled);
  }

  /** Echo requests are answered in place: same slot, addresses swapped, checksums patched. */
  private localIcmp(slot: number, offset: number, at: number, frameLength: number): void {
    const b = this.b;
    const ip = this.ip.point(b, at + ETH_HEADER);
    const icmpAt = ip.payloadOffset;
    const icmpLength = ip.totalLength - ip.headerLength;
    if (icmpLength < ICMP_HEADER || !checksumValid(b, icmpAt, icmpLength)) return this.drop(slot, C.icmp_malformed);
    if (b[icmpAt] !== ICMP_ECHO_REQUEST) return this.drop(slot, C.local_unhandled);
    const oldWord = (b[icmpAt] << 8) | b[icmpAt + 1];
    b[icmpAt] = ICMP_ECHO_REPLY;
    patchChecksum(b, icmpAt + 2, oldWord, (ICMP_ECHO_REPLY << 8) | b[icmpAt + 1]);
    const requester = ip.src;
    ip.src = ip.dst;
    ip.dst = requester;
    b[ip.o + 8] = this.opts.ttl;
    ip.updateChecksum();
    if (this.offload) clearVnet(b, at - VNET_HEADER_BYTES); // a reply of ours: a plain frame
    this.stats[C.icmp_echo_replied]++;
    this.output(slot, offset, frameLength);
  }

  /** Offers (or stops offering) a control-plane protocol the packets for it. */
  /** An IPv6 packet for us, offered to the listeners (src/l3/ipv6-router.ts); true when one took it. */
  offerLocal6(iface: Interface, at: number, frameLength: number, nextHeader: number, upperAt: number, upperLength: number): boolean {
    if (this.listeners.length === 0) return false;
    if (this.partialChecksum(at)) this.completeChecksum(at, frameLength);
    for (const l of this.listeners) if (l.receive6?.(iface, at + ETH_HEADER, nextHeader, upperAt, upperLength)) return true;
    return false;
  }

  listen(listener: LocalListener, on: boolean): void {
    const i = this.listeners.indexOf(listener);
    if (on && i < 0) this.listeners.push(listener);
    if (!on && i >= 0) this.listeners.splice(i, 1);
  }

  /** Routes a packet the router originates (its IPv4 header already written). */
  output(slot: number, offset: number, frameLength: number): void {
    const dst = this.out.point(this.b, this.engine.slotOffset(slot) + offset + ETH_HEADER).dst;
    const route = this.routes.lookup(dst);
    if (route === undefined) return this.drop(slot, C.no_route);
    this.sendToNextHop(route.iface, route.via || dst, slot, offset, frameLength);
  }

  // ---- ICMP errors

  /**
   * Sends an ICMP error about the packet at `at` (its slot stays the caller's). Never about an
   * ICMP error, a non-first fragment, a broadcast or multicast, or a martian source
   * (RFC 1122 3.2.2, RFC 1812 4.3.2.7); rate-limited by a token bucket.
   */
  icmpError(at: number, type: number, code: number, mtu: number, from: Ipv4 = 0): void {
    const b = this.b;
    const orig = this.ip.point(b, at + ETH_HEADER);
    const src = orig.src;
    // Nor about a packet we sent ourselves (a reset whose client did not answer ARP): no one to tell.
    if (orig.isLaterFragment || isMartian(src) || orig.dst >>> 28 >= 0xe || this.eth.point(b, at).isMulticast || this.local.has(src)) {
      this.stats[C.icmp_error_suppressed]++;
      return;
    }
    if (orig.protocol === PROTO_ICMP) {
      const icmpAt = orig.payloadOffset;
      if (orig.totalLength - orig.headerLength < 1 || isIcmpError(b[icmpAt])) {
        this.stats[C.icmp_error_suppressed]++;
        return;
      }
    }
    const kind = type === ICMP_DEST_UNREACH && code === UNREACH_FRAG_NEEDED ? IcmpKind.FragNeeded : IcmpKind.Error;
    if (!this.icmpBudget.take(kind, src, this.now)) {
      this.stats[C.icmp_rate_limited]++;
      return;
    }
    // From the address of the interface the error leaves by, as Linux does by default
    // (a virtual service answers from its VIP instead, and says so in `from`).
    const back = this.routes.lookup(src);
    if (from === 0) from = back?.iface.sourceFor(src) ?? 0;
    if (from === 0) {
      this.stats[C.icmp_error_suppressed]++;
      return;
    }
    const slot = this.engine.allocate(); // counted by the engine when the pool is empty
    if (slot < 0) return;
    const offset = this.engine.layout.headroom;
    const fat = this.engine.slotOffset(slot) + offset;
    const quoted = Math.min(orig.totalLength, ICMP_ERROR_MAX_IP_LENGTH - IPV4_MIN_HEADER - ICMP_HEADER);
    const icmpAt = fat + ETH_HEADER + IPV4_MIN_HEADER;
    b.copyWithin(icmpAt + ICMP_HEADER, orig.o, orig.o + quoted);
    // A super-frame is quoted as its first segment: the IPv4 length that segment has on the wire.
    if (this.superFrame(at)) this.quoteAsSegment(icmpAt + ICMP_HEADER, this.wireIpLength(at, ETH_HEADER + orig.totalLength));
    b[icmpAt] = type;
    b[icmpAt + 1] = code;
    b[icmpAt + 2] = 0;
    b[icmpAt + 3] = 0;
    b[icmpAt + 4] = 0;
    b[icmpAt + 5] = 0;
    b[icmpAt + 6] = mtu >>> 8; // next-hop MTU for frag-needed (RFC 1191), zero otherwise
    b[icmpAt + 7] = mtu & 0xff;
    const c = checksum(b, icmpAt, ICMP_HEADER + quoted);
    b[icmpAt + 2] = c >>> 8;
    b[icmpAt + 3] = c & 0xff;
    const totalLength = IPV4_MIN_HEADER + ICMP_HEADER + quoted;
    this.out.point(b, fat + ETH_HEADER).write({ totalLength, id: this.nextIpId(), ttl: this.opts.ttl, protocol: PROTO_ICMP, src: from, dst: src, tos: 0xc0 });
    this.stats[C.icmp_errors_sent]++;
    if (this.tracing) this.trace(`icmp error type ${type} code ${code} to ${formatIpv4(src)}`);
    this.output(slot, offset, ETH_HEADER + totalLength);
  }

  private quoteAsSegment(quotedIp: number, segmentLength: number): void {
    const q = this.out.point(this.b, quotedIp);
    q.totalLength = segmentLength;
    q.updateChecksum();
  }

  /**
   * Answers a TCP segment with a RST from the address it was sent to (RFC 793 reset
   * generation), with a budget of its own (l3/icmp-budget.ts). Never answers a RST.
   */
  tcpReset(at: number): void {
    const b = this.b;
    const orig = this.ip.point(b, at + ETH_HEADER);
    const l4 = orig.payloadOffset;
    const segLength = orig.totalLength - orig.headerLength;
    if (orig.protocol !== PROTO_TCP || orig.isLaterFragment || segLength < TCP_MIN_HEADER) return;
    const seg = this.tcp.point(b, l4);
    const flags = seg.flags;
    if (flags & TCP_RST || isMartian(orig.src)) return;
    if (!this.icmpBudget.take(IcmpKind.Reset, orig.src, this.now)) {
      this.stats[C.tcp_resets_rate_limited]++;
      return;
    }
    const slot = this.engine.allocate(); // counted by the engine when the pool is empty
    if (slot < 0) return;
    const offset = this.engine.layout.headroom;
    const fat = this.engine.slotOffset(slot) + offset;
    const t = fat + ETH_HEADER + IPV4_MIN_HEADER;
    const dataLength = segLength - seg.headerLength;
    b.fill(0, t, t + TCP_MIN_HEADER);
    b.copyWithin(t, l4 + 2, l4 + 4); // source port: theirs was our destination
    b.copyWithin(t + 2, l4, l4 + 2);
    if (flags & TCP_ACK) {
      b.copyWithin(t + 4, l4 + 8, l4 + 12); // seq = their ack
      b[t + 13] = TCP_RST;
    } else {
      writeIpv4(b, t + 8, (seg.seq + dataLength + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0); // ack what they sent
      b[t + 13] = TCP_RST | TCP_ACK;
    }
    b[t + 12] = (TCP_MIN_HEADER / 4) << 4;
    const src = orig.dst, dst = orig.src;
    transportChecksum(b, t, TCP_MIN_HEADER, PROTO_TCP, src, dst, TcpView.CHECKSUM);
    this.out.point(b, fat + ETH_HEADER).write({ totalLength: IPV4_MIN_HEADER + TCP_MIN_HEADER, id: this.nextIpId(), ttl: this.opts.ttl, protocol: PROTO_TCP, src, dst });
    this.stats[C.tcp_resets_sent]++;
    if (this.tracing) this.trace(`TCP reset to ${formatIpv4(dst)}`);
    this.output(slot, offset, ETH_HEADER + IPV4_MIN_HEADER + TCP_MIN_HEADER);
  }

  // ---- frames we build

  private sendArp(iface: Interface, op: number, dstMac: Uint8Array, senderIp: Ipv4, targetMac: Uint8Array, targetIp: Ipv4, senderMac = iface.mac): void {
    const slot = this.engine.allocate(); // counted by the engine when the pool is empty
    if (slot < 0) return;
    const offset = this.engine.layout.headroom;
    const at = this.engine.slotOffset(slot) + offset;
    this.eth.point(this.b, at).write(dstMac, senderMac, ETHERTYPE_ARP);
    this.arp.point(this.b, at + ETH_HEADER).write(op, senderMac, senderIp, targetMac, targetIp);
    this.engine.transmit(iface.port, slot, offset, ETH_HEADER + ARP_LENGTH);
  }

  /** Sends a frame whose IPv4 packet (to an IPv4 multicast group) is written, from `srcMac`. */
  transmitMulticast(iface: Interface, slot: number, offset: number, frameLength: number, groupMac: Uint8Array, srcMac: Uint8Array, etherType = ETHERTYPE_IPV4): void {
    this.eth.point(this.b, this.engine.slotOffset(slot) + offset).write(groupMac, srcMac, etherType);
    this.engine.transmit(iface.port, slot, offset, frameLength);
  }

  /** The one IP identification counter, for every header tapvs writes (errors, resets, tunnels). */
  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  /** Releases a frame's slot, counting why (C index, or NOT_COUNTED). */
  drop(slot: number, reason: number): void {
    if (reason !== NOT_COUNTED) this.stats[reason]++;
    if (this.tracing) this.trace(reason === NOT_COUNTED ? 'consumed' : `drop: ${ROUTER_COUNTERS[reason]}`);
    this.engine.release(slot);
  }
}

function budgetConfig(o: Pick<RouterOptions, 'icmpRatePerSecond' | 'icmpBurst' | 'icmpPerDestinationPerSecond' | 'icmpPerDestinationBurst'>) {
  return { ratePerSecond: o.icmpRatePerSecond, burst: o.icmpBurst, perDestinationPerSecond: o.icmpPerDestinationPerSecond, perDestinationBurst: o.icmpPerDestinationBurst };
}
