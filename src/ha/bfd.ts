// BFD on tapvs's data-plane addresses (RFC 5880, single hop RFC 5881): the BGP speaker on this
// director's kernel (BIRD, over the management leg) keeps a BFD session to the next hop of every
// VIP route it announces for tapvs. While tapvs answers, the routes stand; when tapvs dies or
// hangs, the session times out within its detection time and BIRD withdraws them, long before a
// BGP hold time would, and although BIRD itself still runs.
//
// Only the configured peers get a session (one each, made when the peer first speaks), so the
// state is bounded by the config; every other BFD packet is a counted drop. A peer may be IPv4
// or IPv6 (RFC 5881 5: hop limit 255, the UDP checksum mandatory): BIRD keeps one session per
// next hop, so a director announcing IPv6 VIPs answers on its IPv6 address too.

import type { PacketEngine } from '../io/engine.js';
import type { Interface } from '../l2/interface.js';
import { C } from '../l3/counters.js';
import { formatIpv4, type Ipv4 } from '../packet/address.js';
import { IPV6_BYTES, formatIpv6, ipv6Equals, type Ipv6 } from '../packet/address6.js';
import { IPV6_HEADER, Ipv6View, NH_UDP } from '../packet/ipv6.js';
import { BFD_LENGTH, BFD_PORT, BFD_SOURCE_PORT_BASE, BFD_STATE_NAMES, BFD_TTL, BfdState, BfdView, type BfdFields } from '../packet/bfd.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { IPV4_MIN_HEADER, Ipv4View, PROTO_UDP } from '../packet/ipv4.js';
import { UDP_HEADER, receivedUdpLength, receivedUdpLength6, writeUdpHeader, writeUdpHeader6 } from '../packet/udp.js';
import type { LocalListener, Log, Router } from '../router.js';
import { BfdSession, type BfdTimers } from './bfd-session.js';

export interface BfdConfig extends BfdTimers {
  /** The addresses allowed a session: the BGP speakers' (management) addresses. */
  peers: Ipv4[];
  /** The same, over IPv6. */
  peers6: Ipv6[];
}

/** How often timers run: transmit and detection deadlines are met to within this. */
const TICK_MS = 10;
/** Network control (CS6), as routing protocols send. */
const TOS_NETWORK_CONTROL = 0xc0;

export interface BfdStatus {
  peer: string;
  local: string | null;
  iface: string | null;
  state: (typeof BFD_STATE_NAMES)[number];
  remoteState: (typeof BFD_STATE_NAMES)[number];
  detectionMs: number;
  changes: number;
}

const DIAG_REASONS: Record<number, string> = { 1: 'nothing heard within the detection time', 3: 'the peer said it is down', 7: 'administratively down' };

/** A configured peer, and its session once it has spoken. */
class Peer {
  session: BfdSession | null = null;
  /** Where the peer reached us: its packets must keep coming that way, ours leave from there. */
  iface: Interface | null = null;
  local: Ipv4 = 0;
  /** An IPv6 peer's: the address it reached us at. */
  readonly local6 = new Uint8Array(IPV6_BYTES);
  changes = 0;
  constructor(
    /** An IPv4 peer's address (0 for an IPv6 peer). */
    readonly address: Ipv4,
    /** An IPv6 peer's address, or null. */
    readonly address6: Ipv6 | null,
    /** RFC 5881 4: one source port per session, from 49152 up. */
    readonly sourcePort: number,
  ) {}

  get name(): string {
    return this.address6 ? formatIpv6(this.address6) : formatIpv4(this.address);
  }
  get localName(): string | null {
    if (this.address6) return this.iface ? formatIpv6(this.local6) : null;
    return this.local ? formatIpv4(this.local) : null;
  }
}

export class BfdResponder implements LocalListener {
  private readonly peers: Peer[];
  private readonly ip = new Ipv4View();
  private readonly ip6 = new Ipv6View();
  private readonly bfd = new BfdView();
  private readonly b: Uint8Array;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly router: Router,
    private readonly engine: PacketEngine,
    private readonly config: BfdConfig,
    private readonly log: Log,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.b = engine.bytes;
    const addresses: [Ipv4, Ipv6 | null][] = [...config.peers.map((a): [Ipv4, null] => [a, null]), ...config.peers6.map((a): [Ipv4, Ipv6] => [0, a])];
    this.peers = addresses.map(([a, a6], i) => new Peer(a, a6, BFD_SOURCE_PORT_BASE + i));
  }

  start(): void {
    this.router.listen(this, true);
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
  }

  /** Graceful stop: every live session is told AdminDown, then nothing more is said or heard. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.peers) p.session?.adminDown();
    this.router.listen(this, false);
    this.engine.flush();
  }

  tick(): void {
    const now = this.now();
    for (const p of this.peers) if (p.session && now >= p.session.nextDeadline) p.session.tick(now);
    this.engine.flush();
  }

  joined(): boolean {
    return false;
  }

  claimed(): void {}

  receive(iface: Interface, ipAt: number, length: number): boolean {
    const b = this.b;
    const ip = this.ip.point(b, ipAt);
    if (ip.protocol !== PROTO_UDP) return false;
    const udp = ip.payloadOffset;
    const udpLength = length - ip.headerLength;
    if (udpLength < UDP_HEADER || ((b[udp + 2] << 8) | b[udp + 3]) !== BFD_PORT) return false;
    const stats = this.router.stats;
    stats[C.bfd_received]++;
    const declared = receivedUdpLength(b, udp, udpLength, ip.src, ip.dst);
    const view = this.bfd.point(b, udp + UDP_HEADER);
    // RFC 5881 5: TTL 255, or it did not come from this link.
    const valid = ip.ttl === BFD_TTL && declared >= 0 && view.wellFormed(declared - UDP_HEADER);
    const src = ip.src;
    const peer = valid ? this.sessionFor(iface, this.peers.find((p) => p.address6 === null && p.address === src), view) : null;
    if (peer === null) {
      stats[C.bfd_dropped]++;
      return true;
    }
    peer.local = ip.dst;
    peer.session!.receive(this.now(), view);
    this.engine.flush();
    return true;
  }

  receive6(iface: Interface, ipAt: number, nextHeader: number, udp: number, udpLength: number): boolean {
    const b = this.b;
    if (nextHeader !== NH_UDP || udpLength < UDP_HEADER || ((b[udp + 2] << 8) | b[udp + 3]) !== BFD_PORT) return false;
    const stats = this.router.stats;
    stats[C.bfd_received]++;
    const declared = receivedUdpLength6(b, udp, udpLength, ipAt);
    const view = this.bfd.point(b, udp + UDP_HEADER);
    const valid = this.ip6.point(b, ipAt).hopLimit === BFD_TTL && declared >= 0 && view.wellFormed(declared - UDP_HEADER);
    const peer = valid ? this.sessionFor(iface, this.peers.find((p) => p.address6 !== null && ipv6Equals(p.address6, 0, b, ipAt + 8)), view) : null;
    if (peer === null) {
      stats[C.bfd_dropped]++;
      return true;
    }
    for (let i = 0; i < IPV6_BYTES; i++) peer.local6[i] = b[ipAt + 24 + i];
    peer.session!.receive(this.now(), view);
    this.engine.flush();
    return true;
  }

  /** RFC 5880 6.8.6: by Your Discriminator when set; else, for a Down peer, by its address and link. */
  private sessionFor(iface: Interface, peer: Peer | undefined, view: BfdView): Peer | null {
    if (peer === undefined) return null;
    const yours = view.yourDiscr;
    if (yours === 0 && view.state !== BfdState.Down && view.state !== BfdState.AdminDown) return null;
    if (peer.session === null) {
      if (yours !== 0) return null; // a discriminator we never gave
      peer.session = new BfdSession(this.newDiscriminator(), this.config, { send: (_s, f) => this.send(peer, f), transition: (s, from, to) => this.transition(peer, s, from, to) });
      peer.iface = iface;
    }
    if (yours !== 0 && yours !== peer.session.localDiscr) return null;
    if (peer.iface !== iface) {
      if (peer.session.state === BfdState.Up) return null; // single hop: one link per session
      peer.iface = iface; // the peer moved while the session was down
    }
    return peer;
  }

  private newDiscriminator(): number {
    for (;;) {
      const d = (Math.random() * 0xffffffff) >>> 0;
      if (d !== 0 && !this.peers.some((p) => p.session?.localDiscr === d)) return d;
    }
  }

  private send(peer: Peer, fields: BfdFields): void {
    const slot = this.engine.allocate(); // counted by the engine when the pool is empty
    if (slot < 0) return;
    const b = this.b;
    const offset = this.engine.layout.headroom;
    const ipAt = this.engine.slotOffset(slot) + offset + ETH_HEADER;
    if (peer.address6 !== null) return this.send6(peer, fields, slot, offset, ipAt);
    const udp = ipAt + IPV4_MIN_HEADER;
    const udpLength = UDP_HEADER + BFD_LENGTH;
    this.bfd.point(b, udp + UDP_HEADER).write(fields);
    writeUdpHeader(b, udp, peer.sourcePort, BFD_PORT, udpLength, peer.local, peer.address);
    this.ip.point(b, ipAt).write({ tos: TOS_NETWORK_CONTROL, totalLength: IPV4_MIN_HEADER + udpLength, id: this.router.nextIpId(), ttl: BFD_TTL, protocol: PROTO_UDP, src: peer.local, dst: peer.address });
    this.router.stats[C.bfd_sent]++;
    this.router.output(slot, offset, ETH_HEADER + IPV4_MIN_HEADER + udpLength);
  }

  /** Single hop over IPv6: hop limit 255 and network control, straight to the peer on its link. */
  private send6(peer: Peer, fields: BfdFields, slot: number, offset: number, ipAt: number): void {
    const b = this.b;
    const link = peer.iface ? this.router.v6?.linkOf(peer.iface) : undefined;
    if (link === undefined) return this.engine.release(slot);
    const udp = ipAt + IPV6_HEADER;
    const udpLength = UDP_HEADER + BFD_LENGTH;
    this.bfd.point(b, udp + UDP_HEADER).write(fields);
    this.ip6.point(b, ipAt).write({ trafficClass: TOS_NETWORK_CONTROL, payloadLength: udpLength, nextHeader: NH_UDP, hopLimit: BFD_TTL, src: peer.local6, dst: peer.address6! });
    writeUdpHeader6(b, udp, peer.sourcePort, BFD_PORT, udpLength, ipAt);
    this.router.stats[C.bfd_sent]++;
    this.router.v6!.output(link, slot, offset, ETH_HEADER + IPV6_HEADER + udpLength);
  }

  private transition(peer: Peer, session: BfdSession, from: BfdState, to: BfdState): void {
    peer.changes++;
    this.router.stats[C.bfd_state_changes]++;
    const fields = { peer: peer.name, local: peer.localName, iface: peer.iface?.name, diag: session.diag };
    const line = `bfd: session with ${peer.name} ${BFD_STATE_NAMES[from]} -> ${BFD_STATE_NAMES[to]}${DIAG_REASONS[session.diag] ? ` (${DIAG_REASONS[session.diag]})` : ''}`;
    if (from === BfdState.Up) this.log.warn(fields, line);
    else this.log.info(fields, line);
  }

  status(): BfdStatus[] {
    return this.peers.map((p) => ({
      peer: p.name,
      local: p.localName,
      iface: p.iface?.name ?? null,
      state: BFD_STATE_NAMES[p.session?.state ?? BfdState.Down],
      remoteState: BFD_STATE_NAMES[p.session?.remoteState ?? BfdState.Down],
      detectionMs: p.session?.detectionTimeMs ?? 0,
      changes: p.changes,
    }));
  }
}
