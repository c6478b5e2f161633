// The director: virtual services on the router. Packets for a VIP are matched to a service,
// to a tracked connection (or scheduled onto a real server, through a persistence template
// when the service is persistent), and forwarded by the real server's method. NAT replies
// are rewritten back to the VIP on their way through. Every method decrements TTL like a
// router (seed 000).

import { ConnFlag, ConnTable, NONE, TICK_MS, type Addresses6 } from './conn-table.js';
import { createScheduler, type SchedulingKey } from './schedulers/index.js';
import { METHOD_NAMES, Method, RealServer, VirtualService, type ServiceKey } from './service.js';
import { DEFAULT_TCP_TIMEOUTS_S, DEFAULT_UDP_TIMEOUT_S, Direction, SECURE_SYN_RECV_TIMEOUT_S, TCP_STATE_NAMES, TCP_TRANSITIONS, TCP_TRANSITIONS_SECURE, TcpState, nextTcpState, tcpEvent } from './tcp-states.js';
import type { Interface } from '../l2/interface.js';
import { C } from '../l3/counters.js';
import type { PacketEngine } from '../io/engine.js';
import { formatIpv4, type Ipv4 } from '../packet/address.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { ICMP_DEST_UNREACH, UNREACH_PORT } from '../packet/icmp.js';
import { FLAG_DF, IPV4_MIN_HEADER, Ipv4View, OFFSET_MASK, PROTO_ICMP, PROTO_IPIP, PROTO_TCP, PROTO_UDP } from '../packet/ipv4.js';
import { Verdict, type Forwarding, type Forwarding6, type L4Director, type Router } from '../router.js';
import type { Link6 } from '../l3/ipv6-router.js';
import { IPV6_BYTES, foldIpv6, formatIpv6, ipv6Equals, maskPrefix6, type Ipv6 } from '../packet/address6.js';
import { ChainVerdict, IPV6_HEADER, Ipv6Chain, Ipv6View, NH_ICMPV6, NH_IPV6, walkChain } from '../packet/ipv6.js';
import { VipIcmp6 } from './vip-icmp6.js';
import { TcpView, UdpView } from '../packet/transport.js';
import { TCP_MIN_HEADER, UDP_HEADER } from '../packet/udp.js';
import { U32Map } from '../util/u32map.js';
import { rewriteAddressPort, rewriteAddressPort6 } from './nat-rewrite.js';
import { VipIcmp } from './vip-icmp.js';
import { FloodDefense, type Defense } from './defense.js';
import { sipCallIdHash } from './sip.js';
import { CONN_F_DROUTE, CONN_F_FWD_MASK, CONN_F_INACTIVE, CONN_F_MASQ, CONN_F_NOOUTPUT, CONN_F_TEMPLATE, CONN_F_TUNNEL, type SyncConn } from '../ha/sync-wire.js';
import { TCP_RST } from '../packet/transport.js';
import { clearVnet } from '../packet/vnet.js';
import { VNET_HEADER_BYTES } from '../io/layout.js';

export interface Timeouts {
  /** Seconds per TCP state (TcpState order), UDP seconds. */
  tcp: number[];
  udp: number;
}

export const defaultTimeouts = (): Timeouts => ({ tcp: [...DEFAULT_TCP_TIMEOUTS_S], udp: DEFAULT_UDP_TIMEOUT_S });

/** Service ids are 16 bits in the connection table. */
const MAX_SERVICE_ID = 0xffff;
/** How many connection entries expiry may examine per tick: bounds the cost of one tick. */
const EXPIRE_BUDGET = 200_000;
const IPIP_OVERHEAD = IPV4_MIN_HEADER;
const ESTIMATOR_INTERVAL_MS = 2000;
/** TCP states in which a new SYN on the same ports starts a new connection (by TcpState). */
const REUSABLE_STATE = Uint8Array.from(TCP_STATE_NAMES, (n) => (['FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK'].includes(n) ? 1 : 0));
/** TCP states a backup is told about (as ip_vs_sync_conn_needed): the connection is real by then. */
const SYNCED_STATE = Uint8Array.from(TCP_STATE_NAMES, (n) => (['ESTABLISHED', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT'].includes(n) ? 1 : 0));
/** A live connection is synced again every SYNC_PERIOD packets, the first time at SYNC_THRESHOLD (the kernel's sync_threshold 3 50). */
const SYNC_THRESHOLD = 3;
const SYNC_PERIOD = 50;
/** Our methods as the kernel's IP_VS_CONN_F_FWD_* codes, indexed by Method. */
const SYNC_FWD = [CONN_F_DROUTE, CONN_F_MASQ, CONN_F_TUNNEL];

export class Director implements L4Director {
  readonly table: ConnTable;
  /** By id. A deleted service stays (flagged) until no entry names it; then its id is reused. */
  readonly services: VirtualService[] = [];
  /** Real servers by id (the id is what connection entries store); reused the same way. */
  readonly dests: RealServer[] = [];
  timeouts: Timeouts;
  /** drop_entry, drop_packet and secure_tcp (lvs/defense.ts). */
  readonly flood: FloodDefense;
  /**
   * Told of every entry a backup should learn (src/ha/sync.ts): a TCP connection reaching a
   * synced state, every SYNC_PERIOD packets after, a new template. Null when sync is off.
   */
  onSync: ((e: number) => void) | null = null;
  /**
   * sloppy_tcp: a mid-stream segment of a connection we do not know opens one, as a SYN
   * would (after a crash, or a flow moved from another director; with sh or mh it reaches
   * the same server). Off, such a segment is answered with a RST.
   */
  sloppyTcp = false;

  private readonly router: Router;
  private readonly b: Uint8Array;
  private readonly vipIndex = new U32Map();
  private readonly byVip: VirtualService[][] = [];
  /** IPv6 VIPs and their services: a list scanned per packet, as long as the config's VIPs. */
  private readonly vips6: { vip: Ipv6; services: VirtualService[] }[] = [];
  /**
   * The packet being served, when IPv6: where its client and virtual addresses lie in the slot
   * memory, and the link it came in on (errors about it go out from that link's address).
   */
  private six = false;
  private caddrAt = 0;
  private vaddrAt = 0;
  private l4At = 0;
  private protocol6 = 0;
  private ingress6: Link6 = null as unknown as Link6;
  private readonly ip6 = new Ipv6View();
  private readonly chain = new Ipv6Chain();
  /** A masked IPv6 client (a persistence template's key), and an entry's addresses read back. */
  private readonly masked6 = new Uint8Array(IPV6_BYTES);
  private readonly client6 = new Uint8Array(IPV6_BYTES);
  /** The addresses an IPv6 insert files (re-pointed per insert, never allocated). */
  private readonly addresses6: Addresses6 = { c: this.masked6, cAt: 0, v: this.masked6, vAt: 0, d: this.masked6, dAt: 0 };
  /** IPv6 connections the table may hold (its IPv6 store is made with the first IPv6 service). */
  private readonly capacity6: number;
  private readonly tcpTimeoutMs = new Float64Array(DEFAULT_TCP_TIMEOUTS_S.length);
  private udpTimeoutMs = 0;
  private readonly key: SchedulingKey = { caddr: 0, cport: 0, daddr: 0 };
  private readonly ip = new Ipv4View();
  private readonly tcp = new TcpView();
  private readonly udp = new UdpView();
  /** Where a packet the director forwards goes next: filled by forwardTo, read by the router. */
  readonly forwarding: Forwarding = { egress: null as unknown as Interface, nextHop: 0, offset: 0, frameLength: 0 };
  readonly forwarding6: Forwarding6 = { egress: null as unknown as Link6, nextHop: new Uint8Array(IPV6_BYTES), nextHopAt: 0, offset: 0, frameLength: 0 };
  private readonly outer = new Ipv4View();
  private readonly icmp: VipIcmp;
  private readonly icmp6: VipIcmp6;
  /** Deleted services and servers waiting for their last entry, and ids free for reuse. */
  private retiredServices: VirtualService[] = [];
  private retiredDests: RealServer[] = [];
  private readonly freeServiceIds: number[] = [];
  private readonly freeDestIds: number[] = [];
  /** NAT servers in service, and live NAT connections: replies need rewriting while either is. */
  private natDests = 0;
  private natConns = 0;
  /**
   * NAT real servers of per-packet services (one-packet scheduling, SIP): no connection entry
   * remembers their clients, so replies are known by their source, <proto, RIP, rport>.
   */
  private opsNat = new Map<number, VirtualService>();

  private readonly engine: PacketEngine;

  constructor(router: Router, engine: PacketEngine, capacity: number, timeouts: Timeouts = defaultTimeouts(), capacity6 = Math.max(16, capacity >>> 2)) {
    this.router = router;
    this.engine = engine;
    this.b = engine.bytes;
    this.table = new ConnTable(capacity, router.clock);
    this.capacity6 = capacity6;
    this.timeouts = timeouts;
    this.setTimeouts(timeouts);
    this.flood = new FloodDefense(this.table, router.stats, (e) => this.closeConnection(e));
    const forward = (d: RealServer, method: Method, slot: number, offset: number, at: number, frameLength: number) => this.forwardTo(d, method, slot, offset, at, frameLength);
    this.icmp = new VipIcmp(this.b, this.table, this.dests, router, forward);
    this.icmp6 = new VipIcmp6(this.b, this.table, this.dests, router, (link, d, method, slot, offset, at, frameLength) => {
      this.six = true;
      this.ingress6 = link;
      return this.forwardTo(d, method, slot, offset, at, frameLength);
    });
    router.director = this;
  }

  /** The defences' settings (the kernel's sysctls) and what acts now. */
  get defense(): Defense {
    return this.flood.config;
  }
  set defense(d: Defense) {
    this.flood.config = d;
  }
  get defenseActive(): FloodDefense['active'] {
    return this.flood.active;
  }
  set onDefenseChange(fn: FloodDefense['onChange']) {
    this.flood.onChange = fn;
  }

  /** Any NAT server, or NAT connection still alive: only then are forwarded packets offered to outbound(). */
  get hasNat(): boolean {
    return this.natDests > 0 || this.natConns > 0;
  }

  setTimeouts(t: Timeouts): void {
    this.timeouts = t;
    t.tcp.forEach((s, i) => (this.tcpTimeoutMs[i] = s * 1000));
    this.udpTimeoutMs = t.udp * 1000;
  }

  // ---- configuration

  addService(key: ServiceKey, scheduler: string, opts: { persistenceS?: number; persistenceMask?: number; onePacket?: boolean; flags?: string[]; iface?: Interface } = {}): VirtualService {
    if (this.findService(key)) throw new Error(`service ${describeKey(key)} already exists`);
    const id = this.freeServiceIds.pop() ?? this.services.length;
    if (id > MAX_SERVICE_ID) throw new Error(`too many virtual services (${MAX_SERVICE_ID + 1}, counting deleted ones whose connections are still tracked)`);
    const vip6 = key.vaddr6 ?? null;
    const fullMask = vip6 ? 128 : 0xffffffff;
    const svc = new VirtualService(id, key, createScheduler(scheduler), opts.persistenceS ?? 0, opts.persistenceMask ?? fullMask, opts.onePacket ?? false, opts.flags ?? []);
    this.services[id] = svc;
    if (vip6 !== null) {
      this.table.enableIpv6(this.capacity6);
      const entry = this.vips6.find((v) => ipv6Equals(v.vip, 0, vip6, 0));
      if (entry) entry.services.push(svc);
      else this.vips6.push({ vip: vip6, services: [svc] });
      if (opts.iface) this.router.v6?.addVip(opts.iface, vip6);
      svc.refresh();
      return svc;
    }
    let v = this.vipIndex.get(key.vaddr);
    if (v < 0) {
      v = this.byVip.length;
      this.byVip.push([]);
      this.vipIndex.set(key.vaddr, v);
    }
    this.byVip[v].push(svc);
    if (opts.iface) this.router.addVip(opts.iface, key.vaddr);
    else this.router.addRoutedVip(key.vaddr);
    svc.refresh();
    return svc;
  }

  /** A real server: IPv4 at `addr`, or (for an IPv6 service) IPv6 at `addr6`, `addr` being ignored. */
  addRealServer(svc: VirtualService, addr: Ipv4, port: number, weight: number, method: Method, upper = 0, lower = 0, addr6: Ipv6 | null = null): RealServer {
    if ((svc.key.vaddr6 ? 1 : 0) !== (addr6 ? 1 : 0)) throw new Error(`a real server of ${describeKey(svc.key)} must be ${addr6 ? 'IPv4' : 'IPv6'} too`);
    const folded = addr6 ? foldIpv6(addr6) : addr;
    if (svc.dests.some((d) => sameAddress(d, folded, addr6) && d.port === port)) throw new Error(`real server already in ${describeKey(svc.key)}`);
    const d = new RealServer(this.freeDestIds.pop() ?? this.dests.length, folded, port, weight, method, upper, lower, addr6);
    this.dests[d.id] = d;
    svc.dests.push(d);
    svc.refresh();
    this.reindex();
    return d;
  }

  /** Changes a service's scheduler, persistence or flags; its connections carry on. */
  editService(svc: VirtualService, scheduler: string, opts: { persistenceS?: number; persistenceMask?: number; onePacket?: boolean; flags?: string[] }): void {
    if (scheduler !== svc.scheduler.name) svc.scheduler = createScheduler(scheduler);
    if (opts.persistenceS !== undefined) svc.persistenceS = opts.persistenceS;
    if (opts.persistenceMask !== undefined) svc.persistenceMask = opts.persistenceMask;
    if (opts.onePacket !== undefined) svc.onePacket = opts.onePacket;
    if (opts.flags !== undefined) svc.schedFlags = opts.flags;
    svc.refresh();
    this.reindex();
  }

  /** Removes a service: its servers take no new connections; tracked ones run out their timers. */
  deleteService(svc: VirtualService): void {
    for (const d of [...svc.dests, ...svc.failedOut]) {
      d.removed = true;
      d.failed = false;
      this.retiredDests.push(d);
    }
    svc.dests.length = 0;
    svc.failedOut.length = 0;
    const vip6 = svc.key.vaddr6 ?? null;
    if (vip6 !== null) {
      const i = this.vips6.findIndex((v) => ipv6Equals(v.vip, 0, vip6, 0));
      const list = this.vips6[i].services;
      list.splice(list.indexOf(svc), 1);
      if (list.length === 0) {
        this.vips6.splice(i, 1);
        this.router.v6?.removeVip(vip6);
      }
    }
    const v = vip6 !== null ? -1 : this.vipIndex.get(svc.key.vaddr);
    if (v >= 0) {
      const list = this.byVip[v];
      list.splice(list.indexOf(svc), 1);
      if (list.length === 0) {
        this.vipIndex.delete(svc.key.vaddr);
        this.router.removeVip(svc.key.vaddr);
      }
    }
    svc.deleted = true;
    this.retiredServices.push(svc);
    this.reindex();
    this.recycleIds();
  }

  /**
   * Changes a real server's settings. A server its health check holds out keeps weight 0 (or
   * stays out of the service): the new weight is the one it gets back when healthy.
   */
  editRealServer(svc: VirtualService, d: RealServer, weight: number, method: Method, upper: number, lower: number): void {
    if (d.failed) d.healthyWeight = weight;
    else d.weight = weight;
    d.method = method;
    d.upperThreshold = upper;
    d.lowerThreshold = lower;
    d.updateOverload();
    svc.refresh();
    this.reindex();
  }

  /** Removes a real server from its service: no new connections; tracked ones run out their timers. */
  deleteRealServer(svc: VirtualService, d: RealServer): void {
    d.removed = true;
    d.failed = false; // an administrator's removal is final: no health check brings it back
    const i = svc.dests.indexOf(d);
    if (i >= 0) svc.dests.splice(i, 1);
    const out = svc.failedOut.indexOf(d);
    if (out >= 0) svc.failedOut.splice(out, 1);
    this.retiredDests.push(d);
    this.recycleIds();
    svc.refresh();
    this.reindex();
  }

  /**
   * A health check's verdict. Failing: weight 0 (inhibit: tracked connections carry on, no new
   * ones) or out of the service (remove: its connections move or reset, as for any removed
   * server). Healthy again: back in the service with the weight it had.
   */
  setHealth(svc: VirtualService, d: RealServer, healthy: boolean, onFail: 'inhibit' | 'remove'): void {
    if (healthy === !d.failed) return;
    if (d.removed && !d.failed) return; // taken out by an administrator: not ours to bring back
    if (!healthy) {
      d.failed = true;
      d.healthyWeight = d.weight;
      if (onFail === 'remove') {
        d.removed = true;
        const i = svc.dests.indexOf(d);
        if (i >= 0) svc.dests.splice(i, 1);
        svc.failedOut.push(d);
      } else d.weight = 0;
    } else {
      d.failed = false;
      d.weight = d.healthyWeight;
      const out = svc.failedOut.indexOf(d);
      if (out >= 0) {
        svc.failedOut.splice(out, 1);
        d.removed = false;
        if (!svc.dests.includes(d)) svc.dests.push(d);
      }
    }
    svc.refresh();
    this.reindex();
  }

  /** Services that exist (deleted ones leave a hole, so connection entries keep valid ids). */
  liveServices(): VirtualService[] {
    return this.services.filter((s) => !s.deleted);
  }

  /** Zeroes traffic counters (ipvsadm -Z). */
  zero(svc?: VirtualService): void {
    for (const s of svc ? [svc] : this.liveServices()) {
      s.stats.reset();
      for (const d of s.dests) d.stats.reset();
    }
  }

  findService(key: ServiceKey): VirtualService | undefined {
    const vip6 = key.vaddr6 ?? null;
    const list = vip6 !== null ? this.servicesOf6(vip6, 0) : this.byVip[this.vipIndex.get(key.vaddr)];
    return list?.find((s) => s.key.protocol === key.protocol && s.key.vport === key.vport && s.key.fwmark === key.fwmark);
  }

  isVip(addr: Ipv4): boolean {
    return this.vipIndex.has(addr);
  }

  get hasVip6(): boolean {
    return this.vips6.length > 0;
  }

  isVip6(b: Uint8Array, o: number): boolean {
    return this.servicesOf6(b, o) !== undefined;
  }

  /** The services of the IPv6 VIP at `b[o..]`. */
  private servicesOf6(b: Uint8Array, o: number): VirtualService[] | undefined {
    const vips = this.vips6;
    for (let i = 0; i < vips.length; i++) if (ipv6Equals(vips[i].vip, 0, b, o)) return vips[i].services;
    return undefined;
  }

  /** The service a packet belongs to: exact protocol and port, a port-0 (all ports) service, or a mark group. */
  private match(addr: Ipv4, protocol: number, port: number): VirtualService | null {
    const v = this.vipIndex.get(addr);
    return v < 0 ? null : matchPort(this.byVip[v], protocol, port);
  }

  // ---- packets from clients

  /**
   * A packet for one of our addresses. NotOurs: the router delivers it as local traffic.
   * Consumed: dropped or answered here. Forward: rewritten in place; `forwarding` says where.
   */
  inbound(ingress: Interface, slot: number, offset: number, at: number, frameLength: number): Verdict {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const protocol = b[ipAt + 9];
    if (protocol === PROTO_ICMP) return this.icmp.inbound(slot, offset, at, frameLength);
    if (protocol !== PROTO_TCP && protocol !== PROTO_UDP) return Verdict.NotOurs;
    const ip = this.ip.point(b, ipAt);
    const vaddr = ip.dst;
    if (!this.vipIndex.has(vaddr)) return Verdict.NotOurs;
    const stats = this.router.stats;
    // Later fragments carry no ports to match; we reassemble nothing.
    if (ip.isFragment) return this.refuse(slot, C.lvs_fragment);
    const l4 = ipAt + ip.headerLength;
    const l4Length = ip.totalLength - ip.headerLength;
    if (l4Length < (protocol === PROTO_TCP ? TCP_MIN_HEADER : UDP_HEADER)) return this.refuse(slot, C.lvs_malformed);
    const ports = protocol === PROTO_TCP ? this.tcp.point(b, l4) : this.udp.point(b, l4);
    const cport = ports.srcPort;
    const vport = ports.dstPort;
    const svc = this.match(vaddr, protocol, vport);
    if (svc === null) return Verdict.NotOurs; // not a service port: the router answers as for any local address
    if (protocol === PROTO_UDP && (svc.onePacket || svc.pe === 'sip') && this.router.superFrame(at)) {
      // Datagrams a UDP_SEGMENT sender let the kernel batch: each is scheduled, or finds its call, on its own.
      this.router.segment(slot, at, frameLength, (s, o, l) => this.router.receive(ingress.port, s, o, l));
      return Verdict.Consumed;
    }
    this.six = false;
    return this.serve(svc, protocol, ip.src, cport, vaddr, vport, l4, l4Length, ip.totalLength, slot, offset, at, frameLength);
  }

  /** inbound() for IPv6: the extension headers walked (bounded), then served as IPv4 is. */
  inbound6(ingress: Link6, slot: number, offset: number, at: number, frameLength: number): Verdict {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const end = at + frameLength;
    const services = this.servicesOf6(b, ipAt + 24);
    if (services === undefined) return Verdict.NotOurs;
    const chain = this.chain;
    if (walkChain(b, ipAt, end, chain) !== ChainVerdict.Ok) return Verdict.NotOurs; // the router answers a broken chain
    const protocol = chain.protocol;
    if (protocol === NH_ICMPV6) return this.icmp6.inbound(ingress, slot, offset, at, frameLength, chain.offset);
    if (protocol !== PROTO_TCP && protocol !== PROTO_UDP) return Verdict.NotOurs;
    if (chain.fragment) return this.refuse(slot, C.lvs_fragment); // no ports to match in later fragments; we reassemble nothing
    const l4 = chain.offset;
    const l4Length = end - l4;
    if (l4Length < (protocol === PROTO_TCP ? TCP_MIN_HEADER : UDP_HEADER)) return this.refuse(slot, C.lvs_malformed);
    const ports = protocol === PROTO_TCP ? this.tcp.point(b, l4) : this.udp.point(b, l4);
    const svc = matchPort(services, protocol, ports.dstPort);
    if (svc === null) return Verdict.NotOurs;
    this.six = true;
    this.ingress6 = ingress;
    this.caddrAt = ipAt + 8;
    this.vaddrAt = ipAt + 24;
    this.l4At = l4;
    this.protocol6 = protocol;
    return this.serve(svc, protocol, foldIpv6(b, ipAt + 8), ports.srcPort, svc.key.vaddr, ports.dstPort, l4, l4Length, frameLength - ETH_HEADER, slot, offset, at, frameLength);
  }

  /**
   * Either family's packet for `svc`, its transport header at `l4` (the tcp or udp view points
   * at it): its connection found or scheduled, then forwarded. `caddr` and `vaddr` are IPv4
   * addresses, or for IPv6 their folds (the schedulers' view; the table reads the packet's).
   */
  private serve(svc: VirtualService, protocol: number, caddr: number, cport: number, vaddr: number, vport: number, l4: number, l4Length: number, bytes: number, slot: number, offset: number, at: number, frameLength: number): Verdict {
    const b = this.b;
    const stats = this.router.stats;
    stats[C.lvs_in_packets]++;
    const tracing = this.router.tracing;
    if (tracing) this.router.trace(`service ${describeKey(svc.key)} ${svc.scheduler.name}${svc.persistent ? ` persistent ${svc.persistenceS}` : ''}${svc.onePacket ? ' ops' : ''}`);
    const now = this.router.clock;
    const tcpFlags = protocol === PROTO_TCP ? this.tcp.flags : 0;

    // The SIP engine keys persistence by call, not by client port: like one-packet scheduling it
    // keeps no per-port entry, and each datagram finds its server through its call's template.
    const perPacket = svc.onePacket || (svc.pe === 'sip' && protocol === PROTO_UDP);
    const callId = svc.pe === 'sip' && protocol === PROTO_UDP ? sipCallIdHash(b, l4 + 8, l4Length - 8) : -1;
    if (tracing && svc.pe === 'sip') this.router.trace(callId >= 0 ? `SIP Call-ID hash ${callId.toString(16)}` : 'no SIP Call-ID: client persistence');
    let e = perPacket ? NONE : this.six ? this.table.lookupIn6(protocol, b, this.caddrAt, cport, b, this.vaddrAt, vport) : this.table.lookupIn(protocol, caddr, cport, vaddr, vport);
    const isSyn = protocol === PROTO_TCP && this.tcp.isOpening;
    if (e !== NONE) {
      const old = this.dests[this.table.dest(e)];
      // A SYN on a closing connection is the client reusing its port: schedule it anew rather
      // than drop it (the conn_reuse_mode stalls of kernel IPVS).
      const reused = isSyn && REUSABLE_STATE[this.table.state(e)] === 1;
      // A removed server's connections do not black-hole until their timeout: UDP flows and
      // new SYNs go to a live server, other TCP segments get a RST (expire_nodest_conn).
      if (reused || old.removed) {
        if (tracing) this.router.trace(reused ? 'old connection closing: scheduled anew' : `server ${formatAddress(old)} is gone: connection expired`);
        this.closeConnection(e);
        e = NONE;
        stats[reused ? C.lvs_conn_reused : C.lvs_nodest_expired]++;
        if (!reused && protocol === PROTO_TCP && !isSyn) {
          this.reset(at, l4, l4Length);
          return this.refuse(slot, C.lvs_no_conn);
        }
      }
    }
    let dest: RealServer;
    let method: Method;
    if (e === NONE) {
      // Only a SYN (without ACK) opens a TCP connection, unless sloppy. Anything else has
      // nothing to follow: a RST tells the client at once, rather than letting it hang.
      if (protocol === PROTO_TCP && !isSyn && (!this.sloppyTcp || tcpFlags & TCP_RST)) {
        if (tracing) this.router.trace('no connection for a mid-stream segment: reset');
        this.reset(at, l4, l4Length);
        return this.refuse(slot, C.lvs_no_conn);
      }
      if (this.flood.dropThisPacket()) return this.refuse(slot, C.lvs_defense_dropped_packets);
      const chosen = this.schedule(svc, protocol, caddr, cport, vaddr, vport, now, callId);
      if (chosen === null) {
        // No usable server: say so, from the VIP, as a host with the port closed would.
        if (protocol === PROTO_UDP) this.portUnreachable(svc, at, frameLength);
        else this.reset(at, l4, l4Length);
        return this.refuse(slot, C.lvs_no_dest);
      }
      dest = chosen;
      method = dest.method;
      if (tracing) {
        const how = this.chosenByTemplate ? (callId >= 0 ? 'SIP call template' : `persistence template ${this.six ? `${formatIpv6(this.masked6)}/${svc.persistenceMask}` : formatIpv4((caddr & svc.persistenceMask) >>> 0)}`) : `scheduler ${svc.scheduler.name}`;
        this.router.trace(`new connection: ${how} -> ${formatAddress(dest)}:${dest.port} (weight ${dest.weight}, active ${dest.activeConns}, inactive ${dest.inactConns})`);
      }
      if (!(perPacket && this.chosenByTemplate)) {
        svc.stats.conns++;
        dest.stats.conns++;
      }
      if (!perPacket) {
        e = this.open(svc, dest, protocol, caddr, cport, vaddr, vport, now);
        if (e === NONE) return this.refuse(slot, C.lvs_table_full);
      }
    } else {
      dest = this.dests[this.table.dest(e)];
      // A connection keeps the method it started with, whatever the server's is now (as IPVS).
      method = this.table.method(e);
      if (tracing) this.router.trace(`connection ${TCP_STATE_NAMES[this.table.state(e)] ?? ''} -> ${formatAddress(dest)}:${dest.port}`);
    }

    if (e !== NONE) {
      let changed = false;
      if (protocol === PROTO_TCP) changed = this.tcpTransition(e, dest, method === Method.Nat ? Direction.Input : Direction.InputOnly, tcpFlags, now);
      else this.table.setTimeout(e, svc.udpTimeoutMs || this.udpTimeoutMs, now);
      this.table.addPackets(e, 1);
      if (this.onSync !== null) this.offerSync(e, svc, changed);
    }
    svc.stats.inPackets++;
    svc.stats.inBytes += bytes;
    dest.stats.inPackets++;
    dest.stats.inBytes += bytes;
    return this.forwardTo(dest, method, slot, offset, at, frameLength);
  }

  /** Whether the last server came from a persistence template (for the trace). */
  private chosenByTemplate = false;

  private schedule(svc: VirtualService, protocol: number, caddr: Ipv4, cport: number, vaddr: Ipv4, vport: number, now: number, callId = -1): RealServer | null {
    const key = this.key;
    key.caddr = caddr;
    key.cport = cport;
    key.daddr = vaddr;
    this.chosenByTemplate = false;
    if (!svc.persistent) return svc.scheduler.pick(svc.dests, key);

    // Persistence: a template per (masked) client, or per SIP call, remembers its server.
    const pe = callId >= 0;
    const masked = pe ? callId : (caddr & svc.persistenceMask) >>> 0;
    const tplPort = svc.key.fwmark ? 0 : svc.key.vport;
    const tplProto = svc.key.fwmark ? 0 : protocol;
    if (this.six) this.templateClient6(svc, callId);
    const tpl = this.six ? this.findTemplate6(svc, protocol, pe) : pe ? this.table.lookupTemplate(tplProto, masked, vaddr, tplPort, true) : this.findTemplate(svc, protocol, caddr, vaddr);
    if (tpl !== NONE) {
      const d = this.dests[this.table.dest(tpl)];
      if (d.available) {
        this.table.setTimeout(tpl, svc.persistenceS * 1000, now);
        this.chosenByTemplate = true;
        return d;
      }
      this.closeTemplate(tpl); // its server went away: choose anew
    }
    const d = svc.scheduler.pick(svc.dests, key);
    if (d === null) return null;
    const template = { proto: tplProto, caddr: masked, cport: 0, vaddr, vport: tplPort, daddr: d.addr, dport: d.port, dest: d.id, service: svc.id, method: d.method, flags: ConnFlag.Template | (pe ? ConnFlag.PeData : 0), state: 0, timeoutMs: svc.persistenceS * 1000 };
    const t = this.six ? this.table.insert6(template, this.pointAddresses6(this.masked6, 0, svc.key.vaddr6!, 0, d.addr6!), now) : this.table.insert(template, now);
    if (t !== NONE) {
      d.persistConns++;
      svc.entries++;
      if (this.onSync !== null) this.onSync(t);
    }
    return d;
  }

  /**
   * A client's persistence template for a service: keyed by the masked client address and the
   * service's port (a firewall-mark service's template covers all its protocols and ports).
   */
  private findTemplate(svc: VirtualService, protocol: number, caddr: Ipv4, vaddr: Ipv4): number {
    return this.table.lookupTemplate(svc.key.fwmark ? 0 : protocol, (caddr & svc.persistenceMask) >>> 0, vaddr, svc.key.fwmark ? 0 : svc.key.vport);
  }

  /** findTemplate for IPv6: the key (templateClient6's) is in masked6; a persistence mask is a prefix length. */
  private findTemplate6(svc: VirtualService, protocol: number, pe: boolean): number {
    return this.table.lookupTemplate6(svc.key.fwmark ? 0 : protocol, this.masked6, 0, svc.key.vaddr6!, 0, svc.key.fwmark ? 0 : svc.key.vport, pe);
  }

  /** The IPv6 packet's template key into masked6: its client within the service's prefix length, or its call. */
  private templateClient6(svc: VirtualService, callId: number): void {
    if (callId >= 0) this.callKey6(callId);
    else maskPrefix6(this.b, svc.persistenceMask, this.masked6, this.caddrAt);
  }

  /** The template that controls entry `e` of a persistent service (either family). */
  private templateOf(svc: VirtualService, e: number): number {
    const t = this.table;
    if (!t.isIpv6(e)) return this.findTemplate(svc, t.proto(e), t.caddr(e), t.vaddr(e));
    t.caddr6(e, this.client6);
    maskPrefix6(this.client6, svc.persistenceMask, this.masked6);
    return this.findTemplate6(svc, t.proto(e), false);
  }

  /** The addresses an IPv6 insert files, in the one reused object. */
  private pointAddresses6(c: Uint8Array, cAt: number, v: Uint8Array, vAt: number, d: Uint8Array): Addresses6 {
    const a = this.addresses6;
    a.c = c;
    a.cAt = cAt;
    a.v = v;
    a.vAt = vAt;
    a.d = d;
    a.dAt = 0;
    return a;
  }

  private open(svc: VirtualService, d: RealServer, protocol: number, caddr: Ipv4, cport: number, vaddr: Ipv4, vport: number, now: number): number {
    const nat = d.method === Method.Nat;
    const c = {
        proto: protocol,
        caddr,
        cport,
        vaddr,
        vport,
        daddr: d.addr,
        dport: nat ? d.port || vport : vport,
        dest: d.id,
        service: svc.id,
        method: d.method,
        flags: nat ? ConnFlag.HashedOut : ConnFlag.InputOnly,
        state: TcpState.None,
        timeoutMs: protocol === PROTO_TCP ? this.tcpTimeoutMs[TcpState.None] : svc.udpTimeoutMs || this.udpTimeoutMs,
      };
    const e = this.six ? this.table.insert6(c, this.pointAddresses6(this.b, this.caddrAt, this.b, this.vaddrAt, d.addr6!), now) : this.table.insert(c, now);
    if (e === NONE) {
      // Full: drop_entry makes room by evicting an embryonic connection (a flood's SYN).
      if (this.flood.makeRoom()) return this.open(svc, d, protocol, caddr, cport, vaddr, vport, now);
      return NONE;
    }
    this.router.stats[C.lvs_conns_created]++;
    svc.entries++;
    if (nat) this.natConns++;
    d.activeConns++; // as IPVS: active until the protocol says otherwise
    d.updateOverload();
    if (svc.persistent) {
      const tpl = this.templateOf(svc, e);
      if (tpl !== NONE) this.table.addPackets(tpl, 1); // a template counts the connections it controls
    }
    return e;
  }

  /** Tells sync about a connection when a backup should hear of it (and its template, when it first does). */
  private offerSync(e: number, svc: VirtualService, changed: boolean): void {
    const t = this.table;
    const tcp = t.proto(e) === PROTO_TCP;
    if (tcp && SYNCED_STATE[t.state(e)] === 0) return;
    if (!(tcp && changed) && t.packets(e) % SYNC_PERIOD !== SYNC_THRESHOLD) return;
    this.onSync!(e);
    // Its template goes with it the first time (it was synced when made; this refreshes its timer).
    if (svc.persistent && (tcp ? changed && t.state(e) === TcpState.Established : t.packets(e) === SYNC_THRESHOLD)) {
      const tpl = this.templateOf(svc, e);
      if (tpl !== NONE) this.onSync!(tpl);
    }
  }

  /** Returns whether the state changed. */
  private tcpTransition(e: number, d: RealServer, dir: Direction, flags: number, now: number): boolean {
    const t = this.table;
    const old = t.state(e);
    const state = nextTcpState(this.defenseActive.secureTcp ? TCP_TRANSITIONS_SECURE : TCP_TRANSITIONS, dir, tcpEvent(flags), old);
    if (state !== old) {
      if (this.router.tracing) this.router.trace(`state ${TCP_STATE_NAMES[old]} -> ${TCP_STATE_NAMES[state]}`);
      t.setState(e, state);
      const inactive = (t.flags(e) & ConnFlag.Inactive) !== 0;
      if (!inactive && state !== TcpState.Established) {
        d.activeConns--;
        d.inactConns++;
        t.setFlags(e, t.flags(e) | ConnFlag.Inactive);
      } else if (inactive && state === TcpState.Established) {
        d.inactConns--;
        d.activeConns++;
        t.setFlags(e, t.flags(e) & ~ConnFlag.Inactive);
      }
    }
    // secure_tcp: embryonic connections get 10 s, not 60, to hear from the server.
    const timeout = this.defenseActive.secureTcp && (state === TcpState.SynRecv || state === TcpState.SynAck) ? SECURE_SYN_RECV_TIMEOUT_S * 1000 : this.tcpTimeoutMs[state];
    t.setTimeout(e, timeout, now);
    return state !== old;
  }

  // ---- forwarding methods

  /** Drops a packet the director took, counting why. */
  private refuse(slot: number, reason: number): Verdict {
    this.router.drop(slot, reason);
    return Verdict.Consumed;
  }

  /**
   * The forwarding method: the packet rewritten in place for the real server, and where the
   * router's IP output is to send it (`forwarding`). TTL and MTU decisions that must see the
   * packet before its rewrite are made here; the rest is the router's.
   */
  private forwardTo(d: RealServer, method: Method, slot: number, offset: number, at: number, frameLength: number): Verdict {
    if (this.six) return this.forwardTo6(d, method, slot, offset, at, frameLength);
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const ip = this.ip.point(b, ipAt);
    if (this.router.expireTtl(slot, at)) return Verdict.Consumed;
    const route = this.router.routes.lookup(d.addr);
    if (route === undefined) return this.refuse(slot, C.lvs_dest_unroutable);
    const f = this.forwarding;
    f.egress = route.iface;
    f.nextHop = route.via || d.addr;
    f.offset = offset;
    f.frameLength = frameLength;

    if (this.router.tracing) this.router.trace(`${METHOD_NAMES[method]} to ${formatIpv4(d.addr)}:${d.port}`);
    // Too big for the way to the server: frag-needed before the NAT rewrite, so that the
    // client reads the packet it sent (to the VIP), not one to an address it never knew.
    if (method !== Method.Tun && this.router.refuseTooBig(route.iface, slot, at, frameLength)) return Verdict.Consumed;
    if (method === Method.Nat) {
      const l4 = ipAt + ip.headerLength;
      const vport = this.udp.point(b, l4).dstPort;
      rewriteAddressPort(b, ipAt, l4, ip.protocol, 16, 2, d.addr, d.port || vport, this.router.partialChecksum(at));
    }
    ip.decrementTtl();
    if (method !== Method.Tun) return Verdict.Forward;

    const egress = route.iface;
    // The client must learn the tunnel's smaller MTU (PMTU discovery through the director).
    if (this.router.refuseTooBig(egress, slot, at, frameLength, egress.mtu - IPIP_OVERHEAD)) return Verdict.Consumed;
    const source = egress.sourceFor(d.addr);
    if (source === null || offset < IPIP_OVERHEAD) return this.refuse(slot, C.lvs_dest_unroutable);
    this.tunnel = d.addr;
    this.tunnelSource = source;
    // virtio-net has no GSO type for IP-in-IP, and the kernel would not complete a checksum
    // inside one for the real server's decapsulation: both are done here, before wrapping.
    if (this.router.superFrame(at)) {
      this.router.segment(slot, at, frameLength, this.sendTunnelled);
      return Verdict.Consumed;
    }
    if (this.router.partialChecksum(at)) this.router.completeChecksum(at, frameLength);
    this.encapsulate(slot, offset, frameLength);
    return Verdict.Forward;
  }

  /** The tunnel encapsulate() wraps for: set per packet by forwardTo. */
  private tunnel: Ipv4 = 0;
  private tunnelSource: Ipv4 = 0;

  /**
   * IP-in-IP to `tunnel`: the outer header goes in the headroom in front of the inner one, no
   * copy of the packet; `forwarding` says where the wrapped frame now starts.
   */
  private encapsulate(slot: number, offset: number, frameLength: number): void {
    const b = this.b;
    const at = this.engine.slotOffset(slot) + offset;
    const ipAt = at + ETH_HEADER;
    const ip = this.ip.point(b, ipAt);
    this.outer.point(b, ipAt - IPIP_OVERHEAD).write({
      tos: ip.tos,
      totalLength: ip.totalLength + IPIP_OVERHEAD,
      id: this.router.nextIpId(),
      flagsFragment: ip.flagsFragment & FLAG_DF,
      ttl: ip.ttl,
      protocol: PROTO_IPIP,
      src: this.tunnelSource,
      dst: this.tunnel,
    });
    if (this.router.offload) clearVnet(b, at - IPIP_OVERHEAD - VNET_HEADER_BYTES); // a plain frame: checksums complete
    const f = this.forwarding;
    f.offset = offset - IPIP_OVERHEAD;
    f.frameLength = frameLength + IPIP_OVERHEAD;
  }

  /** One segment of a super-frame for the tunnel: wrapped, then out as any forwarded packet. */
  private readonly sendTunnelled = (slot: number, offset: number, frameLength: number): void => {
    this.encapsulate(slot, offset, frameLength);
    const f = this.forwarding;
    this.router.transmitIp(f.egress, f.nextHop, slot, f.offset, f.frameLength);
  };

  // ---- IPv6

  /** forwardTo for IPv6: the hop limit and Packet Too Big (never fragmenting) before any rewrite. */
  private forwardTo6(d: RealServer, method: Method, slot: number, offset: number, at: number, frameLength: number): Verdict {
    const v6 = this.router.v6!;
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const link = this.ingress6;
    if (v6.expireHopLimit(link, slot, at, frameLength)) return Verdict.Consumed;
    const addr6 = d.addr6!;
    const route = v6.routes.lookup(addr6, 0);
    const egress = route && v6.linkOf(route.iface);
    if (!egress) return this.refuse(slot, C.lvs_dest_unroutable);
    const f = this.forwarding6;
    f.egress = egress;
    f.nextHop = route.via ?? addr6;
    f.nextHopAt = 0;
    f.offset = offset;
    f.frameLength = frameLength;
    if (this.router.tracing) this.router.trace(`${METHOD_NAMES[method]} to [${formatIpv6(addr6)}]:${d.port}`);
    // The client must learn the path's MTU, the tunnel's smaller one included, from the packet it sent.
    if (v6.refuseTooBig(link, slot, at, frameLength, egress.iface.mtu - (method === Method.Tun ? IPV6_HEADER : 0))) return Verdict.Consumed;
    if (method === Method.Nat) {
      const l4 = this.l4At;
      rewriteAddressPort6(b, ipAt, l4, this.protocol6, 24, 2, addr6, 0, d.port || this.udp.point(b, l4).dstPort, this.router.partialChecksum(at));
    }
    b[ipAt + 7]--; // the hop limit (expireHopLimit saw it above 1)
    if (method !== Method.Tun) return Verdict.Forward;

    const source = v6.sourceFor(egress, addr6, 0);
    if (offset < IPV6_HEADER) return this.refuse(slot, C.lvs_dest_unroutable);
    this.tunnel6 = addr6;
    this.tunnelSource6 = source;
    if (this.router.superFrame(at)) {
      this.router.segment(slot, at, frameLength, this.sendTunnelled6);
      return Verdict.Consumed;
    }
    if (this.router.partialChecksum(at)) this.router.completeChecksum(at, frameLength);
    this.encapsulate6(slot, offset, frameLength);
    return Verdict.Forward;
  }

  private tunnel6: Ipv6 = this.masked6;
  private tunnelSource6: Ipv6 = this.masked6;

  /** IPv6-in-IPv6 (RFC 2473) to `tunnel6`: the outer header in the headroom, no copy of the packet. */
  private encapsulate6(slot: number, offset: number, frameLength: number): void {
    const b = this.b;
    const at = this.engine.slotOffset(slot) + offset;
    const ipAt = at + ETH_HEADER;
    const inner = this.ip6.point(b, ipAt);
    const trafficClass = inner.trafficClass, flowLabel = inner.flowLabel, hopLimit = inner.hopLimit;
    this.ip6.point(b, ipAt - IPV6_HEADER).write({ trafficClass, flowLabel, payloadLength: frameLength - ETH_HEADER, nextHeader: NH_IPV6, hopLimit, src: this.tunnelSource6, dst: this.tunnel6 });
    if (this.router.offload) clearVnet(b, at - IPV6_HEADER - VNET_HEADER_BYTES);
    const f = this.forwarding6;
    f.offset = offset - IPV6_HEADER;
    f.frameLength = frameLength + IPV6_HEADER;
  }

  private readonly sendTunnelled6 = (slot: number, offset: number, frameLength: number): void => {
    this.encapsulate6(slot, offset, frameLength);
    const f = this.forwarding6;
    this.router.v6!.sendToNeighbour(f.egress, f.nextHop, f.nextHopAt, slot, f.offset, f.frameLength);
  };

  /** A RST for the segment being served, from the VIP (either family). */
  private reset(at: number, l4: number, l4Length: number): void {
    if (this.six) this.router.v6!.tcpReset(this.ingress6, at, l4, l4Length);
    else this.router.tcpReset(at);
  }

  /** Port unreachable from the VIP: a service with no usable server looks like a closed port. */
  private portUnreachable(svc: VirtualService, at: number, frameLength: number): void {
    if (this.six) this.router.v6!.portUnreachable(this.ingress6, at, frameLength, svc.key.vaddr6!);
    else this.router.icmpError(at, ICMP_DEST_UNREACH, UNREACH_PORT, 0, svc.key.vaddr);
  }

  /** outbound() for IPv6: a NAT reply's source becomes the VIP. */
  outbound6(at: number): boolean {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const end = ipAt + IPV6_HEADER + ((b[ipAt + 4] << 8) | b[ipAt + 5]);
    const chain = this.chain;
    if (walkChain(b, ipAt, end, chain) !== ChainVerdict.Ok || chain.fragment) return false;
    const protocol = chain.protocol;
    if (protocol === NH_ICMPV6) return this.icmp6.outbound(at, chain.offset, end);
    if (protocol !== PROTO_TCP && protocol !== PROTO_UDP) return false;
    const l4 = chain.offset;
    if (end - l4 < (protocol === PROTO_TCP ? TCP_MIN_HEADER : UDP_HEADER)) return false;
    const ports = protocol === PROTO_TCP ? this.tcp.point(b, l4) : this.udp.point(b, l4);
    const e = this.table.lookupOut6(protocol, b, ipAt + 8, ports.srcPort, b, ipAt + 24, ports.dstPort);
    if (e === NONE) return false;
    const t = this.table;
    t.vaddr6(e, this.client6);
    rewriteAddressPort6(b, ipAt, l4, protocol, 8, 0, this.client6, 0, t.vport(e), this.router.partialChecksum(at));
    if (this.router.tracing) this.router.trace(`NAT reply: source becomes [${formatIpv6(this.client6)}]:${t.vport(e)}`);
    this.replied(e, protocol, end - ipAt);
    return true;
  }

  // ---- NAT replies

  /** Rebuilds the index of per-packet NAT servers: on configuration changes (the admin calls it after editing a service by hand), never per packet. */
  reindex(): void {
    this.opsNat = new Map();
    this.natDests = 0;
    for (const svc of this.liveServices()) {
      for (const d of svc.dests) if (d.method === Method.Nat) this.natDests++;
      if (!(svc.onePacket || svc.pe === 'sip')) continue;
      for (const d of [...svc.dests, ...svc.failedOut]) if (d.method === Method.Nat) this.opsNat.set(opsKey(PROTO_UDP, d.addr, d.port), svc);
    }
  }

  /**
   * A reply from a NAT server of a per-packet service (seed 003: with one-packet scheduling
   * the kernel let these out with the server's private address): its source becomes the VIP.
   */
  private opsNatReply(ipAt: number, l4: number, protocol: number, src: Ipv4, sport: number): boolean {
    if (protocol !== PROTO_UDP) return false;
    const svc = this.opsNat.get(opsKey(protocol, src, sport)) ?? this.opsNat.get(opsKey(protocol, src, 0));
    if (svc === undefined) return false;
    const vport = svc.key.fwmark || svc.key.vport === 0 ? sport : svc.key.vport;
    rewriteAddressPort(this.b, ipAt, l4, protocol, 12, 0, svc.key.vaddr, vport, this.router.partialChecksum(ipAt - ETH_HEADER));
    if (this.router.tracing) this.router.trace(`NAT reply of a per-packet service: source becomes ${formatIpv4(svc.key.vaddr)}:${vport}`);
    svc.stats.outPackets++;
    svc.stats.outBytes += this.ip.totalLength;
    return true;
  }

  outbound(_slot: number, at: number): boolean {
    const b = this.b;
    const ipAt = at + ETH_HEADER;
    const protocol = b[ipAt + 9];
    if (protocol === PROTO_ICMP) return this.icmp.outbound(at);
    if (protocol !== PROTO_TCP && protocol !== PROTO_UDP) return false;
    const ip = this.ip.point(b, ipAt);
    if ((ip.flagsFragment & OFFSET_MASK) !== 0) return false;
    const l4 = ipAt + ip.headerLength;
    if (ip.totalLength - ip.headerLength < (protocol === PROTO_TCP ? TCP_MIN_HEADER : UDP_HEADER)) return false;
    const ports = protocol === PROTO_TCP ? this.tcp.point(b, l4) : this.udp.point(b, l4);
    const sport = ports.srcPort;
    const e = this.table.lookupOut(protocol, ip.src, sport, ip.dst, ports.dstPort);
    if (e === NONE) return this.opsNat.size > 0 && this.opsNatReply(ipAt, l4, protocol, ip.src, sport);
    const t = this.table;
    rewriteAddressPort(b, ipAt, l4, protocol, 12, 0, t.vaddr(e), t.vport(e), this.router.partialChecksum(at));
    if (this.router.tracing) this.router.trace(`NAT reply: source becomes ${formatIpv4(t.vaddr(e))}:${t.vport(e)}`);
    this.replied(e, protocol, ip.totalLength);
    return true;
  }

  /** A NAT reply of connection `e` went out: its state, timer, sync and counters. */
  private replied(e: number, protocol: number, bytes: number): void {
    const t = this.table;
    const d = this.dests[t.dest(e)];
    const now = this.router.clock;
    const changed = protocol === PROTO_TCP ? this.tcpTransition(e, d, Direction.Output, this.tcp.flags, now) : (t.setTimeout(e, this.udpTimeoutMs, now), false);
    if (changed && this.onSync !== null && SYNCED_STATE[t.state(e)] === 1) this.onSync(e);
    const svc = this.services[t.service[e]];
    if (svc) {
      svc.stats.outPackets++;
      svc.stats.outBytes += bytes;
    }
    d.stats.outPackets++;
    d.stats.outBytes += bytes;
  }

  // ---- sync: entries as the IPVS sync protocol carries them (src/ha/)

  /** Entry `e` as a sync message carries it, with the time it has left. */
  describeForSync(e: number, out: SyncConn, now: number): void {
    const t = this.table;
    const flags = t.flags(e);
    const method = t.method(e);
    const template = (flags & ConnFlag.Template) !== 0;
    out.protocol = t.proto(e);
    out.flags = SYNC_FWD[method] | (method !== Method.Nat ? CONN_F_NOOUTPUT : 0) | (flags & ConnFlag.Inactive ? CONN_F_INACTIVE : 0) | (template ? CONN_F_TEMPLATE : 0);
    out.state = t.state(e);
    out.cport = t.cport(e);
    out.vport = t.vport(e);
    out.dport = t.dport[e];
    out.fwmark = this.services[t.service[e]]?.key.fwmark ?? 0;
    out.timeoutS = Math.max(1, Math.round(((t.expiresAt(e) - t.tick(now)) * TICK_MS) / 1000));
    const pe = (flags & ConnFlag.PeData) !== 0;
    out.ipv6 = t.isIpv6(e);
    if (out.ipv6) {
      // A SIP template's key is its call's hash in the first word of the client address.
      const c = t.caddr6(e, out.caddr6);
      out.callId = pe ? ((c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3]) >>> 0 : -1;
      if (pe) c.fill(0);
      t.vaddr6(e, out.vaddr6);
      t.daddr6(e, out.daddr6);
      out.caddr = out.vaddr = out.daddr = 0;
      return;
    }
    out.caddr = pe ? 0 : t.caddr(e);
    out.callId = pe ? t.caddr(e) : -1;
    out.vaddr = t.vaddr(e);
    out.daddr = t.daddr[e];
  }

  /**
   * Takes an entry a master sent (or a previous process handed over): its service and real
   * server must exist here. Replaces an entry we had for the same connection. Returns false
   * when it cannot be kept (no such service or server, table full).
   */
  importSynced(c: SyncConn, now: number): boolean {
    const template = (c.flags & CONN_F_TEMPLATE) !== 0;
    const svc = this.syncedService(c);
    if (!svc || svc.deleted) return false;
    const fwd = c.flags & CONN_F_FWD_MASK;
    const method = fwd === CONN_F_MASQ ? Method.Nat : fwd === CONN_F_TUNNEL ? Method.Tun : Method.Dr;
    const six = c.ipv6;
    const d = [...svc.dests, ...svc.failedOut].find((x) => (six ? x.addr6 !== null && ipv6Equals(x.addr6, 0, c.daddr6, 0) : x.addr === c.daddr) && (method !== Method.Nat || template || (x.port || c.vport) === c.dport));
    if (d === undefined) return false;
    const pe = c.callId >= 0;
    const caddr = pe ? c.callId : c.caddr;
    const t = this.table;
    // An IPv6 template's key: the (already masked) client, or the call's hash in its first word.
    const key6 = pe && six ? this.callKey6(c.callId) : c.caddr6;
    let old: number;
    if (six) old = template ? t.lookupTemplate6(c.protocol, key6, 0, c.vaddr6, 0, c.vport, pe) : t.lookupIn6(c.protocol, c.caddr6, 0, c.cport, c.vaddr6, 0, c.vport);
    else old = template ? t.lookupTemplate(c.protocol, caddr, c.vaddr, c.vport, pe) : t.lookupIn(c.protocol, caddr, c.cport, c.vaddr, c.vport);
    if (old !== NONE) {
      if (template) this.closeTemplate(old);
      else this.closeConnection(old);
    }
    const nat = method === Method.Nat;
    const inactive = !template && c.protocol === PROTO_TCP && c.state !== TcpState.Established;
    const entry = {
      proto: c.protocol,
      caddr: six ? foldIpv6(key6) : caddr,
      cport: template ? 0 : c.cport,
      vaddr: svc.key.vaddr,
      vport: c.vport,
      daddr: d.addr,
      dport: c.dport,
      dest: d.id,
      service: svc.id,
      method,
      flags: template ? ConnFlag.Template | (pe ? ConnFlag.PeData : 0) : (nat ? ConnFlag.HashedOut : ConnFlag.InputOnly) | (inactive ? ConnFlag.Inactive : 0),
      state: template ? 0 : c.state,
      timeoutMs: c.timeoutS * 1000,
    };
    const e = six ? t.insert6(entry, this.pointAddresses6(key6, 0, c.vaddr6, 0, d.addr6!), now) : t.insert(entry, now);
    if (e === NONE) return false;
    svc.entries++;
    if (template) {
      d.persistConns++;
      return true;
    }
    if (nat) this.natConns++;
    if (inactive) d.inactConns++;
    else d.activeConns++;
    d.updateOverload();
    if (svc.persistent) {
      const tpl = this.templateOf(svc, e);
      if (tpl !== NONE) t.addPackets(tpl, 1);
    }
    return true;
  }

  /** The service a synced entry belongs to, by its VIP and port (or mark), in its family. */
  private syncedService(c: SyncConn): VirtualService | null | undefined {
    if (!c.ipv6) return c.fwmark !== 0 ? this.findService({ protocol: 0, vaddr: c.vaddr, vport: 0, fwmark: c.fwmark }) : this.match(c.vaddr, c.protocol, c.vport);
    if (c.fwmark !== 0) return this.findService({ protocol: 0, vaddr: 0, vaddr6: c.vaddr6, vport: 0, fwmark: c.fwmark });
    const services = this.servicesOf6(c.vaddr6, 0);
    return services === undefined ? null : matchPort(services, c.protocol, c.vport);
  }

  /** A SIP call's IPv6 template key (templateClient6's form), in masked6. */
  private callKey6(callId: number): Uint8Array {
    const m = this.masked6;
    m.fill(0);
    m[0] = callId >>> 24;
    m[1] = (callId >>> 16) & 0xff;
    m[2] = (callId >>> 8) & 0xff;
    m[3] = callId & 0xff;
    return m;
  }

  // ---- expiry

  private lastEstimate = -Infinity;

  /** Runs connection expiry (bounded work per call), the defences, and the rate estimator every 2 s. */
  tick(now: number): void {
    this.table.expire(now, this.onExpire, EXPIRE_BUDGET);
    this.flood.tick(now);
    this.recycleIds();
    if (now - this.lastEstimate >= ESTIMATOR_INTERVAL_MS) {
      const interval = this.lastEstimate === -Infinity ? ESTIMATOR_INTERVAL_MS / 1000 : (now - this.lastEstimate) / 1000;
      this.lastEstimate = now;
      for (const svc of this.liveServices()) {
        svc.rates.sample(svc.stats, interval);
        for (const d of svc.dests) d.rates.sample(d.stats, interval);
      }
    }
  }

  private readonly onExpire = (e: number): boolean => {
    const t = this.table;
    const d = this.dests[t.dest(e)];
    const svc = this.services[t.service[e]];
    if (t.flags(e) & ConnFlag.Template) {
      // A template outlives its timeout while connections it chose are still alive.
      if (t.packets(e) > 0 && !svc.deleted) {
        t.extend(e, svc.persistenceS * 1000, this.router.clock);
        return false;
      }
      d.persistConns--;
      svc.entries--;
      return true;
    }
    if (t.flags(e) & ConnFlag.Inactive) d.inactConns--;
    else d.activeConns--;
    d.updateOverload();
    svc.entries--;
    if (t.method(e) === Method.Nat) this.natConns--;
    if (!svc.deleted && svc.persistent) {
      const tpl = this.templateOf(svc, e);
      if (tpl !== NONE && t.packets(tpl) > 0) t.addPackets(tpl, -1);
    }
    return true;
  };

  /** Ends a connection now, with the same bookkeeping as expiry. */
  private closeConnection(e: number): void {
    this.onExpire(e);
    this.table.remove(e);
  }

  private closeTemplate(tpl: number): void {
    this.dests[this.table.dest(tpl)].persistConns--;
    this.services[this.table.service[tpl]].entries--;
    this.table.remove(tpl);
  }

  /** Ids of deleted services and servers that no entry names any more become free for reuse (at deletion, and on every tick for those that still had entries). */
  private recycleIds(): void {
    if (this.retiredServices.length) {
      this.retiredServices = this.retiredServices.filter((s) => (s.entries === 0 ? (this.freeServiceIds.push(s.id), false) : true));
    }
    if (this.retiredDests.length) {
      this.retiredDests = this.retiredDests.filter((d) => (d.entries === 0 ? (this.freeDestIds.push(d.id), false) : true));
    }
  }
}

/** <proto, address, port> as one exact number key (49 bits). */
const opsKey = (protocol: number, addr: number, port: number) => (addr * 65536 + port) * 2 + (protocol === PROTO_UDP ? 1 : 0);

export function describeKey(k: ServiceKey): string {
  if (k.fwmark) return `FWM ${k.fwmark}${k.vaddr6 ? ' IPv6' : ''}`;
  return `${k.protocol === PROTO_TCP ? 'TCP' : 'UDP'} ${k.vaddr6 ? `[${formatIpv6(k.vaddr6)}]` : formatIpv4(k.vaddr)}:${k.vport}`;
}

/** Of one VIP's services, the one for `protocol` and `port`, as match() describes. */
function matchPort(list: VirtualService[], protocol: number, port: number): VirtualService | null {
  let wildcard: VirtualService | null = null;
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (s.key.fwmark !== 0) {
      for (const m of s.members) if (m.protocol === protocol && (m.port === port || m.port === 0)) return s;
    } else if (s.key.protocol === protocol) {
      if (s.key.vport === port) return s;
      if (s.key.vport === 0) wildcard = s;
    }
  }
  return wildcard;
}

const sameAddress = (d: RealServer, folded: number, addr6: Ipv6 | null): boolean => (addr6 ? d.addr6 !== null && ipv6Equals(d.addr6, 0, addr6, 0) : d.addr6 === null && d.addr === folded);

/** A real server's address as ipvsadm writes it: IPv4 dotted, IPv6 in brackets. */
export const formatAddress = (d: RealServer): string => (d.addr6 ? `[${formatIpv6(d.addr6)}]` : formatIpv4(d.addr));
