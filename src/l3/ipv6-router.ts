// IPv6 on the router (RFC 8200, 4443, 4861): validation, local delivery (echo, neighbour
// discovery), forwarding with the hop limit, and ICMPv6 errors. The Router hands it every
// IPv6 frame of an interface with IPv6; frames stay in their slot, as IPv4's do.
//
// The same rules as IPv4's, with IPv6's own: a router never fragments (too big is a Packet Too
// Big with the egress MTU, from a budget of its own so path-MTU discovery is never starved);
// link-local packets never leave their link; no redirects and no router advertisements (RAs are
// off unless configured, and nothing configures them yet). Neighbour solicitations are answered
// only for our own addresses, sent from an address of the outgoing interface; every address is
// checked for duplicates (DAD) when it comes up and then announced, and another node claiming
// one is a warning.

import type { PacketEngine } from '../io/engine.js';
import { VNET_HEADER_BYTES } from '../io/layout.js';
import type { Interface } from '../l2/interface.js';
import { NeighbourState, type NeighbourTimers } from '../l2/neighbours.js';
import { Neighbour6Table, type Neighbour6 } from '../l2/neighbours6.js';
import { formatMac, macEquals } from '../packet/address.js';
import { IPV6_BYTES, formatIpv6, inPrefix6, includes6, indexOf6, ipv6Equals, isLinkLocal6, isLoopback6, isMulticast6, isUnspecified6, multicastMac6, solicitedNode, type Cidr6, type Ipv6 } from '../packet/address6.js';
import { patchChecksum } from '../packet/checksum.js';
import { ETH_HEADER, EthernetView } from '../packet/ethernet.js';
import {
  EXC6_HOP_LIMIT,
  ICMP6_DEST_UNREACH,
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  ICMP6_PACKET_TOO_BIG,
  ICMP6_PARAM_PROBLEM,
  ICMP6_TIME_EXCEEDED,
  NA_FLAG_OVERRIDE,
  NA_FLAG_ROUTER,
  NA_FLAG_SOLICITED,
  ND_HOP_LIMIT,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_NS_NA_LENGTH,
  ND_OPT_SOURCE_LLA,
  ND_OPT_TARGET_LLA,
  ND_REDIRECT,
  ND_ROUTER_ADVERT,
  ND_ROUTER_SOLICIT,
  OPTIONS_MALFORMED,
  OPTION_ABSENT,
  PARAM6_NEXT_HEADER,
  UNREACH6_ADDRESS,
  UNREACH6_NO_ROUTE,
  UNREACH6_PORT,
  findNdOption,
  icmp6ChecksumValid,
  isIcmp6Error,
  putIcmp6Checksum,
} from '../packet/icmp6.js';
import { ChainVerdict, ETHERTYPE_IPV6, IPV6_HEADER, Ipv6Chain, Ipv6View, NH_ICMPV6, NH_TCP, NH_UDP, pseudoHeaderSum6, walkChain } from '../packet/ipv6.js';
import { PROTO_VRRP } from '../packet/vrrp.js';
import { VNET_GSO_TCPV6, isSuperFrame, needsChecksum, vnetCsumOffset, vnetCsumStart, vnetGsoSize, vnetGsoType } from '../packet/vnet.js';
import { C } from './counters.js';
import { IcmpBudget, IcmpKind, type IcmpBudgetConfig } from './icmp-budget.js';
import type { RouteTable6 } from './routes6.js';
import { keyedHash6 } from '../util/hash.js';
import { Verdict, type L4Director, type Log, type Router } from '../router.js';
import { checksum } from '../packet/checksum.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/transport.js';
import { TCP_MIN_HEADER } from '../packet/udp.js';

/** One interface's IPv6: its link-local address (from its MAC), its others, its neighbours. */
export interface Link6 {
  iface: Interface;
  linkLocal: Ipv6;
  addresses: Cidr6[];
  /** The director's VIPs on this link: answered in neighbour discovery, never a source of ours. */
  vips: Ipv6[];
  neighbours: Neighbour6Table;
}

export interface Ipv6Options {
  neighbour: NeighbourTimers;
  icmp: IcmpBudgetConfig;
  /** Hop limit of packets we originate (echo replies, errors). */
  hopLimit: number;
  log: Log;
}

/** RFC 4443 2.4(c): an error quotes as much of the packet as fits in the minimum MTU. */
const MIN_MTU = 1280;
const ICMP6_ERROR_HEADER = 8;
const ND_LENGTH_WITH_LLA = ND_NS_NA_LENGTH + 8;
/** RFC 4862 5.4: DAD waits this long for a defender before the address counts as unique. */
const DAD_WAIT_MS = 1000;
const CONFLICT_LOG_MS = 10_000;
/** RFC 4861 10: DELAY_FIRST_PROBE_TIME. */
const DELAY_FIRST_PROBE_MS = 5000;
const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const ALL_ROUTERS = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
const UNSPECIFIED = new Uint8Array(IPV6_BYTES);
/** The router's drop() without a counter: a frame consumed, not refused. */
const CONSUMED = -1;

export class Ipv6Router {
  readonly links: Link6[];
  private readonly byPort: (Link6 | undefined)[];
  private readonly b: Uint8Array;
  private readonly ip = new Ipv6View();
  private readonly out = new Ipv6View();
  private readonly eth = new EthernetView();
  private readonly chain = new Ipv6Chain();
  private budget: IcmpBudget;
  /** The solicited-node group being written or compared, and a MAC for it. */
  private readonly group = new Uint8Array(IPV6_BYTES);
  private readonly groupMac = new Uint8Array(6);
  /** Addresses (and VIPs) in their DAD wait, to be announced (unsolicited NA) when it is over, and the first such time. */
  private toAnnounce: { link: Link6; address: Ipv6; at: number }[] = [];
  private announceAt = Infinity;
  /** announce() has run: VIPs added from now on are checked and announced on their own. */
  private started = false;
  /**
   * VRRP's IPv6 addresses while this director is their backup (src/ha/): kept on their link,
   * never answered in neighbour discovery or served, never announced. Usually empty.
   */
  private readonly standby: Ipv6[] = [];
  /** Groups joined beyond all-nodes, all-routers and our solicited-node ones (join()). */
  private readonly groups: Ipv6[] = [];
  /** Every address VRRP moves, master or backup: a service going does not take one away. */
  private readonly moved: Ipv6[] = [];
  private readonly conflictLoggedAt = new Map<number, number>();

  constructor(
    private readonly router: Router,
    private readonly engine: PacketEngine,
    links: Link6[],
    readonly routes: RouteTable6,
    private readonly opts: Ipv6Options,
  ) {
    this.b = engine.bytes;
    this.links = links;
    this.byPort = new Array(engine.maxPorts).fill(undefined);
    for (const l of links) this.byPort[l.iface.port] = l;
    this.budget = new IcmpBudget(opts.icmp, router.clock);
  }

  /** A reload's live settings, as the IPv4 side takes them (Router.configure). */
  configure(o: Pick<Ipv6Options, 'neighbour' | 'icmp' | 'hopLimit'>): void {
    if (JSON.stringify(o.icmp) !== JSON.stringify(this.opts.icmp)) this.budget = new IcmpBudget(o.icmp, this.router.clock);
    Object.assign(this.opts, o);
    for (const l of this.links) l.neighbours.timers = o.neighbour;
  }

  // ---- receive

  receive(iface: Interface, slot: number, offset: number, at: number, length: number, linkMulticast: boolean): void {
    const stats = this.router.stats;
    stats[C.ip6_rx]++;
    const link = this.byPort[iface.port];
    if (link === undefined) return this.router.drop(slot, C.ip6_disabled);
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const available = length - ETH_HEADER;
    if (available < IPV6_HEADER) return this.router.drop(slot, C.ip6_malformed);
    const ip = this.ip.point(b, ipAt);
    const payload = ip.payloadLength;
    if (ip.version !== 6 || IPV6_HEADER + payload > available || payload === 0) return this.router.drop(slot, C.ip6_malformed); // no jumbograms
    const frameLength = ETH_HEADER + IPV6_HEADER + payload; // Ethernet padding stays behind
    if (this.router.offload && !this.vnetSane(at, ipAt, frameLength)) return this.router.drop(slot, C.vnet_malformed);
    const srcAt = ip.srcAt;
    const dstAt = ip.dstAt;
    if (isMulticast6(b, srcAt) || isLoopback6(b, srcAt) || isLoopback6(b, dstAt)) return this.router.drop(slot, C.ip6_bad_source);
    if (isMulticast6(b, dstAt)) {
      if (this.joined(link, dstAt)) return this.deliverLocal(link, slot, offset, at, frameLength, true);
      return this.router.drop(slot, C.ip6_multicast); // no multicast routing
    }
    if (this.standby.length > 0 && this.isStandby(b, dstAt)) return this.router.drop(slot, C.ha_backup_dropped);
    const director = this.router.director;
    if (director !== null && director.hasVip6 && director.isVip6(b, dstAt)) return this.toDirector(director, link, slot, offset, at, frameLength);
    if (this.isOurs(link, b, dstAt)) return this.deliverLocal(link, slot, offset, at, frameLength, false);
    if (linkMulticast) return this.router.drop(slot, C.ip6_multicast); // unicast in a group frame: never forwarded
    this.forward(link, slot, offset, at, frameLength);
  }

  /** A packet for a VIP: the director's (forwarded to a real server, or consumed), else local. */
  private toDirector(director: L4Director, link: Link6, slot: number, offset: number, at: number, frameLength: number): void {
    const verdict = director.inbound6(link, slot, offset, at, frameLength);
    if (verdict === Verdict.NotOurs) return this.deliverLocal(link, slot, offset, at, frameLength, false);
    if (verdict === Verdict.Forward) {
      const f = director.forwarding6;
      this.router.stats[C.lvs_forwarded]++;
      this.sendToNeighbour(f.egress, f.nextHop, f.nextHopAt, slot, f.offset, f.frameLength);
    }
  }

  /**
   * The kernel's super-frames: TCP over IPv6 (TCPV6) with the transport right after the fixed
   * header; a partial checksum inside the packet. A lying header is a counted drop.
   */
  private vnetSane(at: number, ipAt: number, frameLength: number): boolean {
    const b = this.b;
    const hdr = at - VNET_HEADER_BYTES;
    const end = at + frameLength;
    if (needsChecksum(b, hdr)) {
      const start = at + vnetCsumStart(b, hdr);
      if (start < ipAt + IPV6_HEADER || start + vnetCsumOffset(b, hdr) + 2 > end) return false;
    }
    if (!isSuperFrame(b, hdr)) return true;
    return vnetGsoType(b, hdr) === VNET_GSO_TCPV6 && b[ipAt + 6] === NH_TCP && vnetGsoSize(b, hdr) > 0 && needsChecksum(b, hdr) && ipAt + IPV6_HEADER + 20 <= end;
  }

  /** What goes on the wire per packet: the whole packet, or for a super-frame one segment. */
  private wireLength(at: number, ipAt: number, frameLength: number): number {
    const b = this.b;
    if (!this.router.offload || !isSuperFrame(b, at - VNET_HEADER_BYTES)) return frameLength - ETH_HEADER;
    const tcpHeader = (b[ipAt + IPV6_HEADER + 12] >>> 4) * 4;
    return Math.min(IPV6_HEADER + tcpHeader + vnetGsoSize(b, at - VNET_HEADER_BYTES), frameLength - ETH_HEADER);
  }

  /** All-nodes, all-routers, and the solicited-node groups of this link's addresses and VIPs. */
  private joined(link: Link6, dstAt: number): boolean {
    const b = this.b;
    if (ipv6Equals(b, dstAt, ALL_NODES, 0) || ipv6Equals(b, dstAt, ALL_ROUTERS, 0)) return true;
    if (this.inGroupOf(link.linkLocal, dstAt)) return true;
    for (const a of link.addresses) if (this.inGroupOf(a.address, dstAt)) return true;
    for (const v of link.vips) if (this.inGroupOf(v, dstAt)) return true;
    return includes6(this.groups, b, dstAt);
  }

  /** A group a protocol of ours listens on (VRRP's ff02::12), on every link. */
  join(group: Ipv6): void {
    if (!includes6(this.groups, group)) this.groups.push(group);
  }

  private inGroupOf(address: Ipv6, dstAt: number): boolean {
    solicitedNode(address, 0, this.group);
    return ipv6Equals(this.b, dstAt, this.group, 0);
  }

  /** One of our addresses: any interface's global ones (a router's weak host model), this link's link-local. */
  private isOurs(link: Link6, b: Uint8Array, o: number): boolean {
    if (ipv6Equals(b, o, link.linkLocal, 0)) return true;
    for (const l of this.links) for (const a of l.addresses) if (ipv6Equals(b, o, a.address, 0)) return true;
    return false;
  }

  /** This link's address that is `b[o..]`, if any (ND targets are per link). */
  private ownOnLink(link: Link6, b: Uint8Array, o: number): Ipv6 | null {
    if (ipv6Equals(b, o, link.linkLocal, 0)) return link.linkLocal;
    for (const a of link.addresses) if (ipv6Equals(b, o, a.address, 0)) return a.address;
    for (const v of link.vips) if (ipv6Equals(b, o, v, 0)) return this.standby.length > 0 && this.isStandby(v, 0) ? null : v;
    return null;
  }

  private isStandby(b: Uint8Array, o: number): boolean {
    return includes6(this.standby, b, o);
  }

  // ---- forwarding

  private forward(link: Link6, slot: number, offset: number, at: number, frameLength: number): void {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const ip = this.ip.point(b, ipAt);
    // RFC 4291 2.5.6: link-local addresses never cross a router.
    if (isLinkLocal6(b, ip.srcAt) || isLinkLocal6(b, ip.dstAt)) {
      if (!isLinkLocal6(b, ip.dstAt)) this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_DEST_UNREACH, 2, 0); // beyond the source's scope
      return this.router.drop(slot, C.ip6_link_local);
    }
    if (isUnspecified6(b, ip.srcAt)) return this.router.drop(slot, C.ip6_bad_source);
    if (ip.hopLimit <= 1) {
      this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_TIME_EXCEEDED, EXC6_HOP_LIMIT, 0);
      return this.router.drop(slot, C.ip6_hop_limit);
    }
    const route = this.routes.lookup(b, ip.dstAt);
    if (route === undefined) {
      this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_DEST_UNREACH, UNREACH6_NO_ROUTE, 0);
      return this.router.drop(slot, C.ip6_no_route);
    }
    const egress = this.byPort[route.iface.port]!;
    if (this.wireLength(at, ipAt, frameLength) > egress.iface.mtu) {
      // Routers never fragment IPv6 (RFC 8200 5): the sender learns the egress MTU.
      this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_PACKET_TOO_BIG, 0, egress.iface.mtu);
      return this.router.drop(slot, C.ip6_too_big);
    }
    // NAT replies from real servers leave with the virtual service's address.
    const director = this.router.director;
    if (director !== null && director.hasNat && director.outbound6(at)) this.router.stats[C.lvs_nat_out]++;
    ip.hopLimit = ip.hopLimit - 1; // no header checksum in IPv6
    this.router.stats[C.ip6_forwarded]++;
    if (route.via === null) this.sendToNeighbour(egress, b, ip.dstAt, slot, offset, frameLength);
    else this.sendToNeighbour(egress, route.via, 0, slot, offset, frameLength);
  }

  /** To the neighbour `nb[no..]` on `link`: now, or parked while it is solicited. */
  sendToNeighbour(link: Link6, nb: Uint8Array, no: number, slot: number, offset: number, frameLength: number): void {
    const now = this.router.clock;
    let n = link.neighbours.get(nb, no);
    if (n !== undefined && n.state !== NeighbourState.Incomplete) {
      n.usedAt = now;
      if (n.state === NeighbourState.Stale && n.probes === 0 && !n.delayed) {
        n.delayed = true; // upper layers may confirm it yet; probe only if they do not
        n.nextProbeAt = now + DELAY_FIRST_PROBE_MS;
      }
      this.eth.point(this.b, this.engine.slotOffset(slot) + offset).write(n.mac, link.iface.mac, ETHERTYPE_IPV6);
      this.engine.transmit(link.iface.port, slot, offset, frameLength);
      return;
    }
    if (n === undefined) {
      n = link.neighbours.create(nb, no);
      if (link.neighbours.evicted !== null) this.router.parking.dropAll(link.neighbours.evicted, C.arp_parked_evicted);
      n.usedAt = now;
      this.solicit(link, n, now, false);
    }
    this.router.parking.park(n, slot, offset, frameLength, link.neighbours.timers.queuePerNeighbour);
  }

  // ---- local delivery

  private deliverLocal(link: Link6, slot: number, offset: number, at: number, frameLength: number, toGroup: boolean): void {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const end = at + frameLength;
    const chain = this.chain;
    const verdict = walkChain(b, ipAt, end, chain);
    if (verdict !== ChainVerdict.Ok) {
      if (verdict === ChainVerdict.HopByHopNotFirst && !toGroup) this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_PARAM_PROBLEM, PARAM6_NEXT_HEADER, chain.problemAt - ipAt);
      return this.router.drop(slot, C.ip6_bad_chain);
    }
    if (chain.fragment) return this.router.drop(slot, C.ip6_local_unhandled); // we reassemble nothing
    const protocol = chain.protocol;
    const at4 = chain.offset;
    const upperLength = end - at4;
    if (protocol === NH_ICMPV6) {
      if (upperLength < 4 || !icmp6ChecksumValid(b, ipAt, at4, upperLength)) return this.router.drop(slot, C.icmp6_malformed);
      const type = b[at4];
      if (type === ND_NEIGHBOR_SOLICIT) return this.solicitation(link, slot, at, ipAt, at4, upperLength);
      if (type === ND_NEIGHBOR_ADVERT) return this.advertisement(link, slot, ipAt, at4, upperLength, toGroup);
      if (type === ND_ROUTER_SOLICIT || type === ND_ROUTER_ADVERT || type === ND_REDIRECT) return this.router.drop(slot, C.nd_ignored); // no RAs, and a router takes no redirects
      if (type === ICMP6_ECHO_REQUEST && !toGroup && upperLength >= 8) return this.echo(link, slot, offset, at, ipAt, at4, frameLength);
      return this.router.drop(slot, C.ip6_local_unhandled);
    }
    if (((protocol === NH_UDP && !toGroup) || (protocol === PROTO_VRRP && toGroup)) && this.router.offerLocal6(link.iface, at, frameLength, protocol, at4, upperLength)) return this.router.drop(slot, CONSUMED);
    if (protocol === NH_UDP && !toGroup) this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_DEST_UNREACH, UNREACH6_PORT, 0);
    else if (protocol !== NH_TCP && protocol !== NH_UDP && !toGroup) this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_PARAM_PROBLEM, PARAM6_NEXT_HEADER, chain.problemAt - ipAt);
    this.router.drop(slot, C.ip6_local_unhandled);
  }

  /** Echo requests are answered in place: addresses swapped (the checksum does not change), type patched. */
  private echo(link: Link6, slot: number, offset: number, at: number, ipAt: number, icmpAt: number, frameLength: number): void {
    const b = this.b;
    const ip = this.ip.point(b, ipAt);
    for (let i = 0; i < IPV6_BYTES; i++) {
      const t = b[ip.srcAt + i];
      b[ip.srcAt + i] = b[ip.dstAt + i];
      b[ip.dstAt + i] = t;
    }
    const old = (b[icmpAt] << 8) | b[icmpAt + 1];
    b[icmpAt] = ICMP6_ECHO_REPLY;
    patchChecksum(b, icmpAt + 2, old, (ICMP6_ECHO_REPLY << 8) | b[icmpAt + 1]);
    ip.hopLimit = this.opts.hopLimit;
    if (this.router.offload) b.fill(0, at - VNET_HEADER_BYTES, at); // a reply of ours: a plain frame
    this.router.stats[C.icmp6_echo_replied]++;
    this.output(link, slot, offset, frameLength);
  }

  /** Routes a packet we originate (its IPv6 header written): link-local destinations stay on `link`. */
  /** Sends a packet we originate (its IPv6 header written) on `link`: to its destination there, or by the route. */
  output(link: Link6, slot: number, offset: number, frameLength: number): void {
    const ip = this.out.point(this.b, this.engine.slotOffset(slot) + offset + ETH_HEADER);
    if (isLinkLocal6(this.b, ip.dstAt)) return this.sendToNeighbour(link, this.b, ip.dstAt, slot, offset, frameLength);
    const route = this.routes.lookup(this.b, ip.dstAt);
    if (route === undefined) return this.router.drop(slot, C.ip6_no_route);
    const egress = this.byPort[route.iface.port]!;
    if (route.via === null) this.sendToNeighbour(egress, this.b, ip.dstAt, slot, offset, frameLength);
    else this.sendToNeighbour(egress, route.via, 0, slot, offset, frameLength);
  }

  // ---- neighbour discovery

  /** RFC 4861 7.1.1's checks shared by NS and NA: from the link, code 0, long enough, a unicast target. */
  private ndValid(ipAt: number, icmpAt: number, length: number): boolean {
    const b = this.b;
    return b[ipAt + 7] === ND_HOP_LIMIT && b[icmpAt + 1] === 0 && length >= ND_NS_NA_LENGTH && !isMulticast6(b, icmpAt + 8);
  }

  /** A neighbour solicitation: answered only for our own addresses on this link (and DAD defended). */
  private solicitation(link: Link6, slot: number, at: number, ipAt: number, icmpAt: number, length: number): void {
    const b = this.b;
    const now = this.router.clock;
    if (!this.ndValid(ipAt, icmpAt, length)) return this.router.drop(slot, C.nd_malformed);
    const end = icmpAt + length;
    const slla = findNdOption(b, icmpAt + ND_NS_NA_LENGTH, end, ND_OPT_SOURCE_LLA);
    if (slla === OPTIONS_MALFORMED) return this.router.drop(slot, C.nd_malformed);
    const fromUnspecified = isUnspecified6(b, ipAt + 8);
    if (fromUnspecified) {
      // DAD (RFC 4862 5.4): to the solicited-node group, and no source link-layer address.
      solicitedNode(b, icmpAt + 8, this.group);
      if (slla !== OPTION_ABSENT || !ipv6Equals(b, ipAt + 24, this.group, 0)) return this.router.drop(slot, C.nd_malformed);
    }
    const target = this.ownOnLink(link, b, icmpAt + 8);
    if (target === null) return this.router.drop(slot, C.nd_not_for_us); // never for addresses we do not own (seed 004)
    if (fromUnspecified) {
      // Another node wants our address: we keep it, and say so to all nodes.
      this.conflict(link, target, formatMac(b, at + 6), 'a node runs duplicate address detection for our address');
      this.advertise(link, target, ALL_NODES, 0, false);
      return this.router.drop(slot, C.nd_solicits_answered);
    }
    // RFC 4861 7.2.3: the solicitor's link-layer address, when given, is cached as stale.
    if (slla !== OPTION_ABSENT && b[slla + 1] === 1) {
      let n = link.neighbours.get(b, ipAt + 8);
      if (n === undefined) {
        n = link.neighbours.create(b, ipAt + 8);
        if (link.neighbours.evicted !== null) this.router.parking.dropAll(link.neighbours.evicted, C.arp_parked_evicted);
        n.usedAt = now;
      }
      if (n.state === NeighbourState.Incomplete || !macEquals(n.mac, 0, b, slla + 2)) {
        link.neighbours.learn(n, b, slla + 2, NeighbourState.Stale, now);
        this.flush(link, n);
      }
    }
    // The answer goes to the solicitor's MAC: from its option, else the frame's source.
    this.advertise(link, target, b, ipAt + 8, true, slla !== OPTION_ABSENT ? slla + 2 : at + 6);
    this.router.drop(slot, C.nd_solicits_answered);
  }

  /** A neighbour advertisement: resolves what we solicited; one for an address of ours is a conflict. */
  private advertisement(link: Link6, slot: number, ipAt: number, icmpAt: number, length: number, toGroup: boolean): void {
    const b = this.b;
    const now = this.router.clock;
    const flags = b[icmpAt + 4];
    if (!this.ndValid(ipAt, icmpAt, length) || (toGroup && (flags & NA_FLAG_SOLICITED) !== 0)) return this.router.drop(slot, C.nd_malformed);
    const tlla = findNdOption(b, icmpAt + ND_NS_NA_LENGTH, icmpAt + length, ND_OPT_TARGET_LLA);
    if (tlla === OPTIONS_MALFORMED || (tlla !== OPTION_ABSENT && b[tlla + 1] !== 1)) return this.router.drop(slot, C.nd_malformed);
    this.router.stats[C.nd_adverts_received]++;
    const own = this.ownOnLink(link, b, icmpAt + 8);
    if (own !== null) {
      this.conflict(link, own, tlla !== OPTION_ABSENT ? formatMac(b, tlla + 2) : 'unknown', 'another node advertises our address');
      return this.router.drop(slot, CONSUMED); // counted by conflict()
    }
    const n = link.neighbours.get(b, icmpAt + 8);
    // RFC 4861 7.2.5: no entry is made for an advertisement nobody asked for.
    if (n === undefined) return this.router.drop(slot, C.nd_ignored);
    const solicited = (flags & NA_FLAG_SOLICITED) !== 0;
    const override = (flags & NA_FLAG_OVERRIDE) !== 0;
    if (n.state === NeighbourState.Incomplete) {
      if (tlla === OPTION_ABSENT) return this.router.drop(slot, C.nd_ignored);
      link.neighbours.learn(n, b, tlla + 2, solicited ? NeighbourState.Reachable : NeighbourState.Stale, now);
      n.isRouter = (flags & NA_FLAG_ROUTER) !== 0;
      this.flush(link, n);
    } else if (tlla === OPTION_ABSENT || macEquals(n.mac, 0, b, tlla + 2) || override) {
      if (tlla !== OPTION_ABSENT) link.neighbours.learn(n, b, tlla + 2, solicited ? NeighbourState.Reachable : NeighbourState.Stale, now);
      else if (solicited) {
        n.state = NeighbourState.Reachable;
        n.confirmedAt = now;
        n.probes = 0;
        n.delayed = false;
      }
      n.isRouter = (flags & NA_FLAG_ROUTER) !== 0;
    } else if (n.state === NeighbourState.Reachable) {
      n.state = NeighbourState.Stale; // a different MAC without override: doubt the one we have
    }
    this.router.drop(slot, CONSUMED);
  }

  /** Frames that waited on `n` leave now that its MAC is known. */
  private flush(link: Link6, n: Neighbour6): void {
    for (const f of n.pending) {
      this.eth.point(this.b, this.engine.slotOffset(f.slot) + f.offset).write(n.mac, link.iface.mac, ETHERTYPE_IPV6);
      this.engine.transmit(link.iface.port, f.slot, f.offset, f.length);
    }
    this.router.parking.unpark(n);
  }

  /** A neighbour solicitation for `n`: to its solicited-node group, or (probing) to it. */
  private solicit(link: Link6, n: Neighbour6, now: number, unicast: boolean): void {
    n.probes++;
    n.nextProbeAt = now + link.neighbours.timers.retransmitMs;
    solicitedNode(n.ip, 0, this.group);
    const dst = unicast ? n.ip : this.group;
    // The source: an address of the outgoing interface, on the target's prefix when we have one.
    this.sendNd(link, unicast ? n.mac : this.groupMacOf(dst), this.sourceFor(link, n.ip, 0), dst, 0, ND_NEIGHBOR_SOLICIT, 0, n.ip, false);
    this.router.stats[C.nd_solicits_sent]++;
  }

  /**
   * A neighbour advertisement for our `target`, to `db[dAt..]` (unicast, to the MAC at
   * `b[macAt]`; or a group): as a router, overriding, solicited when it answers.
   */
  private advertise(link: Link6, target: Ipv6, db: Uint8Array, dAt: number, solicited: boolean, macAt = -1): void {
    const dstMac = macAt >= 0 ? this.b.subarray(macAt, macAt + 6) : this.groupMacOf(db, dAt);
    const flags = NA_FLAG_ROUTER | NA_FLAG_OVERRIDE | (solicited ? NA_FLAG_SOLICITED : 0);
    this.sendNd(link, dstMac, target, db, dAt, ND_NEIGHBOR_ADVERT, flags, target, false);
  }

  /**
   * One NS or NA in a fresh slot, hop limit 255, with our link-layer address as its option
   * (source for an NS, target for an NA) unless `bare` (a DAD probe, from ::, carries none).
   */
  private sendNd(link: Link6, dstMac: Uint8Array, src: Uint8Array, dst: Uint8Array, dstAt: number, type: number, flags: number, target: Uint8Array, bare: boolean): void {
    const slot = this.engine.allocate(); // counted by the engine when the pool is empty
    if (slot < 0) return;
    const b = this.b;
    const offset = this.engine.layout.headroom;
    const at = this.engine.slotOffset(slot) + offset;
    const ipAt = at + ETH_HEADER;
    const icmpAt = ipAt + IPV6_HEADER;
    const length = bare ? ND_NS_NA_LENGTH : ND_LENGTH_WITH_LLA;
    this.eth.point(b, at).write(dstMac, link.iface.mac, ETHERTYPE_IPV6);
    this.out.point(b, ipAt).write({ payloadLength: length, nextHeader: NH_ICMPV6, hopLimit: ND_HOP_LIMIT, src, dst, dstAt });
    this.writeNd(icmpAt, type, flags, target, 0, type === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LLA : ND_OPT_TARGET_LLA, link.iface.mac);
    putIcmp6Checksum(b, ipAt, icmpAt, length);
    this.engine.transmit(link.iface.port, slot, offset, ETH_HEADER + length + IPV6_HEADER);
  }

  private writeNd(icmpAt: number, type: number, flags: number, target: Uint8Array, targetAt: number, option: number, mac: Uint8Array): void {
    const b = this.b;
    b[icmpAt] = type;
    b[icmpAt + 1] = 0;
    b[icmpAt + 4] = flags;
    b[icmpAt + 5] = b[icmpAt + 6] = b[icmpAt + 7] = 0;
    for (let i = 0; i < IPV6_BYTES; i++) b[icmpAt + 8 + i] = target[targetAt + i];
    b[icmpAt + 24] = option;
    b[icmpAt + 25] = 1;
    for (let i = 0; i < 6; i++) b[icmpAt + 26 + i] = mac[i];
  }

  /** The group's Ethernet address, in one buffer reused for each frame we send. */
  private groupMacOf(g: Uint8Array, o = 0): Uint8Array {
    return multicastMac6(g, o, this.groupMac);
  }

  /** An address of `link` to send from toward `peer`: one on its prefix, else the link-local one. */
  sourceFor(link: Link6, pb: Uint8Array, po: number): Ipv6 {
    if (isLinkLocal6(pb, po)) return link.linkLocal;
    for (const a of link.addresses) if (inPrefix6(pb, po, a.address, a.length)) return a.address;
    return link.addresses[0]?.address ?? link.linkLocal;
  }

  private conflict(link: Link6, address: Ipv6, mac: string, why: string): void {
    this.router.stats[C.nd_conflict]++;
    const key = keyedHash6(address, 0);
    const now = this.router.clock;
    if (now - (this.conflictLoggedAt.get(key) ?? -Infinity) < CONFLICT_LOG_MS) return;
    if (this.conflictLoggedAt.size > 1024) this.conflictLoggedAt.clear();
    this.conflictLoggedAt.set(key, now);
    this.opts.log.warn({ iface: link.iface.name, address: formatIpv6(address), claimedBy: mac }, `address conflict: ${why}; keeping it`);
  }

  // ---- for the director (src/lvs/director.ts): its IPv6 packets meet the router's rules

  /** The IPv6 side of an interface (every interface the director forwards by has one). */
  linkOf(iface: Interface): Link6 | undefined {
    return this.byPort[iface.port];
  }

  /** A VIP on `iface`'s link: answered in neighbour discovery from now on, checked and announced. */
  addVip(iface: Interface, vip: Ipv6): void {
    const link = this.byPort[iface.port];
    if (link === undefined || includes6(link.vips, vip)) return;
    link.vips.push(vip);
    if (!this.started || this.isStandby(vip, 0)) return; // announce() checks it with the rest; a VRRP backup's is its master's to announce
    this.checkAndAnnounce(link, vip, this.router.clock);
    this.engine.flush();
  }

  /**
   * VRRP moves `address` (src/ha/): kept on `iface`'s link (added if it is not a VIP there yet),
   * answered and served only while `active`. Becoming active announces nothing by itself: the
   * new master calls advertiseVrrpAddress with its gratuitous ARPs. No DAD: the backup that has
   * it keeps quiet by design.
   */
  setVrrpAddress(iface: Interface, address: Ipv6, active: boolean): void {
    const link = this.byPort[iface.port];
    if (link === undefined) return;
    if (!includes6(link.vips, address)) link.vips.push(address);
    if (!includes6(this.moved, address)) this.moved.push(address);
    const i = indexOf6(this.standby, address);
    if (active && i >= 0) this.standby.splice(i, 1);
    else if (!active && i < 0) this.standby.push(address);
  }

  /** An unsolicited advertisement (override set) to all nodes: the link's caches follow the new master. */
  advertiseVrrpAddress(iface: Interface, address: Ipv6): void {
    const link = this.byPort[iface.port];
    if (link !== undefined) this.advertise(link, address, ALL_NODES, 0, false);
  }

  removeVip(vip: Ipv6): void {
    if (includes6(this.moved, vip)) return; // VRRP still moves it
    for (const l of this.links) {
      const i = indexOf6(l.vips, vip);
      if (i >= 0) l.vips.splice(i, 1);
    }
  }

  /** The one hop-limit check of the director's methods: a packet that would leave with 0 dies with Time Exceeded. */
  expireHopLimit(link: Link6, slot: number, at: number, frameLength: number): boolean {
    const ipAt = at + ETH_HEADER;
    if (this.b[ipAt + 7] > 1) return false;
    this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_TIME_EXCEEDED, EXC6_HOP_LIMIT, 0);
    this.router.drop(slot, C.ip6_hop_limit);
    return true;
  }

  /** Too big for `mtu` on the way out: Packet Too Big with it, before any rewrite; the packet dropped. */
  refuseTooBig(link: Link6, slot: number, at: number, frameLength: number, mtu: number): boolean {
    const ipAt = at + ETH_HEADER;
    if (this.wireLength(at, ipAt, frameLength) <= mtu) return false;
    this.error(link, ipAt, frameLength - ETH_HEADER, ICMP6_PACKET_TOO_BIG, 0, mtu);
    this.router.drop(slot, C.ip6_too_big);
    return true;
  }

  /** Port unreachable from `src` (a VIP with no usable server), as a host with the port closed says. */
  portUnreachable(link: Link6, at: number, frameLength: number, src: Ipv6): void {
    this.error(link, at + ETH_HEADER, frameLength - ETH_HEADER, ICMP6_DEST_UNREACH, UNREACH6_PORT, 0, src);
  }

  /**
   * A TCP reset for the segment at `at` (TCP at `l4`), from its destination, as a closed port
   * answers (RFC 9293 3.10.7.1); rate-limited with the errors, never for a reset.
   */
  tcpReset(link: Link6, at: number, l4: number, segLength: number): void {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    if (segLength < TCP_MIN_HEADER || (b[l4 + 13] & TCP_RST) !== 0 || isMulticast6(b, ipAt + 8) || isUnspecified6(b, ipAt + 8)) return;
    if (!this.budget.take(IcmpKind.Reset, keyedHash6(b, ipAt + 8), this.router.clock)) {
      this.router.stats[C.tcp_resets_rate_limited]++;
      return;
    }
    const slot = this.engine.allocate();
    if (slot < 0) return;
    const offset = this.engine.layout.headroom;
    const outAt = this.engine.slotOffset(slot) + offset + ETH_HEADER;
    const t = outAt + IPV6_HEADER;
    const flags = b[l4 + 13];
    const dataLength = segLength - ((b[l4 + 12] >>> 4) << 2);
    b.fill(0, t, t + TCP_MIN_HEADER);
    b.copyWithin(t, l4 + 2, l4 + 4); // our port is theirs reversed
    b.copyWithin(t + 2, l4, l4 + 2);
    if (flags & TCP_ACK) {
      b.copyWithin(t + 4, l4 + 8, l4 + 12); // seq = their ack
      b[t + 13] = TCP_RST;
    } else {
      const seq = ((b[l4 + 4] << 24) | (b[l4 + 5] << 16) | (b[l4 + 6] << 8) | b[l4 + 7]) >>> 0;
      const ack = (seq + dataLength + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0;
      b[t + 8] = ack >>> 24;
      b[t + 9] = (ack >>> 16) & 0xff;
      b[t + 10] = (ack >>> 8) & 0xff;
      b[t + 11] = ack & 0xff;
      b[t + 13] = TCP_RST | TCP_ACK;
    }
    b[t + 12] = (TCP_MIN_HEADER / 4) << 4;
    this.out.point(b, outAt).write({ payloadLength: TCP_MIN_HEADER, nextHeader: NH_TCP, hopLimit: this.opts.hopLimit, src: b, srcAt: ipAt + 24, dst: b, dstAt: ipAt + 8 });
    const c = checksum(b, t, TCP_MIN_HEADER, pseudoHeaderSum6(b, outAt + 8, outAt + 24, TCP_MIN_HEADER, NH_TCP));
    b[t + 16] = c >>> 8;
    b[t + 17] = c & 0xff;
    this.router.stats[C.tcp_resets_sent]++;
    this.output(link, slot, offset, ETH_HEADER + IPV6_HEADER + TCP_MIN_HEADER);
  }

  // ---- ICMPv6 errors

  /**
   * An ICMPv6 error about the packet at `ipAt` (RFC 4443 2.4): never about an error, nor to a
   * source that is not one host; from an address of the link it arrived on; quoting as much as
   * fits in 1280 bytes. Packet Too Big draws on a budget of its own, so it is never starved.
   */
  private error(link: Link6, ipAt: number, length: number, type: number, code: number, param: number, src: Ipv6 | null = null): void {
    const b = this.b;
    const srcAt = ipAt + 8;
    if (isUnspecified6(b, srcAt) || isMulticast6(b, srcAt)) return;
    if (this.isIcmpError(ipAt, ipAt + length)) return;
    if (!this.budget.take(type === ICMP6_PACKET_TOO_BIG ? IcmpKind.FragNeeded : IcmpKind.Error, keyedHash6(b, srcAt), this.router.clock)) {
      this.router.stats[C.icmp6_errors_suppressed]++;
      return;
    }
    const slot = this.engine.allocate();
    if (slot < 0) return;
    const offset = this.engine.layout.headroom;
    const outAt = this.engine.slotOffset(slot) + offset + ETH_HEADER;
    const icmpAt = outAt + IPV6_HEADER;
    const quote = Math.min(length, MIN_MTU - IPV6_HEADER - ICMP6_ERROR_HEADER);
    const icmpLength = ICMP6_ERROR_HEADER + quote;
    b.copyWithin(icmpAt + ICMP6_ERROR_HEADER, ipAt, ipAt + quote);
    this.out.point(b, outAt).write({ payloadLength: icmpLength, nextHeader: NH_ICMPV6, hopLimit: this.opts.hopLimit, src: src ?? this.sourceFor(link, b, srcAt), dst: b, dstAt: srcAt });
    b[icmpAt] = type;
    b[icmpAt + 1] = code;
    b[icmpAt + 4] = param >>> 24;
    b[icmpAt + 5] = (param >>> 16) & 0xff;
    b[icmpAt + 6] = (param >>> 8) & 0xff;
    b[icmpAt + 7] = param & 0xff;
    putIcmp6Checksum(b, outAt, icmpAt, icmpLength);
    this.router.stats[C.icmp6_errors_sent]++;
    this.output(link, slot, offset, ETH_HEADER + IPV6_HEADER + icmpLength);
  }

  private isIcmpError(ipAt: number, end: number): boolean {
    const chain = this.chain;
    if (walkChain(this.b, ipAt, end, chain) !== ChainVerdict.Ok) return false;
    return chain.protocol === NH_ICMPV6 && chain.fragmentOffset === 0 && chain.offset < end && isIcmp6Error(this.b[chain.offset]);
  }

  // ---- timers

  /** DAD for every address as it comes up (RFC 4862 5.4): a solicitation from ::, then, if unopposed, an announcement. */
  announce(now: number): void {
    this.started = true;
    for (const link of this.links) for (const a of ownAddresses(link)) if (!this.isStandby(a, 0)) this.checkAndAnnounce(link, a, now);
    this.engine.flush();
  }

  private checkAndAnnounce(link: Link6, address: Ipv6, now: number): void {
    this.dadProbe(link, address);
    this.toAnnounce.push({ link, address, at: now + DAD_WAIT_MS });
    this.announceAt = Math.min(this.announceAt, now + DAD_WAIT_MS);
  }

  /** The unsolicited advertisements whose DAD wait is over. */
  private announceDue(now: number): void {
    this.announceAt = Infinity;
    const waiting: typeof this.toAnnounce = [];
    for (const p of this.toAnnounce) {
      if (p.at <= now) this.advertise(p.link, p.address, ALL_NODES, 0, false);
      else {
        waiting.push(p);
        this.announceAt = Math.min(this.announceAt, p.at);
      }
    }
    this.toAnnounce = waiting;
  }

  private dadProbe(link: Link6, address: Ipv6): void {
    solicitedNode(address, 0, this.group);
    this.sendNd(link, this.groupMacOf(this.group), UNSPECIFIED, this.group, 0, ND_NEIGHBOR_SOLICIT, 0, address, true);
    this.router.stats[C.nd_solicits_sent]++;
  }

  tick(now: number): void {
    if (now >= this.announceAt) this.announceDue(now);
    for (const link of this.links) {
      const t = link.neighbours.timers;
      for (const n of link.neighbours.values()) {
        if (n.state === NeighbourState.Incomplete || (n.state === NeighbourState.Stale && (n.probes > 0 || n.delayed))) {
          if (now < n.nextProbeAt) continue;
          if (n.probes >= t.maxProbes) {
            this.giveUp(link, n);
            continue;
          }
          n.delayed = false;
          this.solicit(link, n, now, n.state !== NeighbourState.Incomplete);
        } else if (n.state === NeighbourState.Reachable && now - n.confirmedAt > t.reachableMs) {
          n.delayed = false;
          n.state = NeighbourState.Stale;
        } else if (n.state === NeighbourState.Stale && now - n.usedAt > t.staleGcMs) {
          link.neighbours.delete(n);
        }
      }
    }
  }

  private giveUp(link: Link6, n: Neighbour6): void {
    this.router.stats[C.nd_resolution_failed]++;
    for (const f of n.pending) {
      const ipAt = this.engine.slotOffset(f.slot) + f.offset + ETH_HEADER;
      this.error(link, ipAt, f.length - ETH_HEADER, ICMP6_DEST_UNREACH, UNREACH6_ADDRESS, 0);
    }
    this.router.parking.dropAll(n, CONSUMED); // each answered with an error, counted there
    link.neighbours.delete(n);
  }
}

/** The addresses DAD checks and we announce: the link-local one, then the configured ones. */
const ownAddresses = (link: Link6): Ipv6[] => [link.linkLocal, ...link.addresses.map((a) => a.address), ...link.vips];
