// Virtual services and their real servers (IPVS's ip_vs_service and ip_vs_dest).

import type { Scheduler } from './schedulers/scheduler.js';
import type { Ipv6 } from '../packet/address6.js';

/** Forwarding methods, numbered as they are stored in the connection table. */
export const enum Method {
  Dr = 0, // direct routing: rewrite the destination MAC only ("Route" in ipvsadm -L)
  Nat = 1, // rewrite destination address/port, and the replies' source ("Masq")
  Tun = 2, // IP-in-IP to the real server ("Tunnel")
}
export const METHOD_NAMES = ['Route', 'Masq', 'Tunnel'] as const;

/** Per-object traffic counters, as ipvsadm --stats shows them. */
export class TrafficStats {
  conns = 0;
  inPackets = 0;
  outPackets = 0;
  inBytes = 0;
  outBytes = 0;
  reset(): void {
    this.conns = this.inPackets = this.outPackets = this.inBytes = this.outBytes = 0;
  }
}

/**
 * Rates as IPVS's estimator keeps them: sampled every 2 s, smoothed by a quarter of each
 * new sample (about an 8-second average), per second.
 */
export class RateEstimator {
  cps = 0;
  inpps = 0;
  outpps = 0;
  inbps = 0;
  outbps = 0;
  private last = [0, 0, 0, 0, 0];
  sample(s: TrafficStats, intervalS: number): void {
    const now = [s.conns, s.inPackets, s.outPackets, s.inBytes, s.outBytes];
    const rate = now.map((v, i) => Math.max(0, v - this.last[i]) / intervalS);
    this.last = now;
    this.cps += (rate[0] - this.cps) / 4;
    this.inpps += (rate[1] - this.inpps) / 4;
    this.outpps += (rate[2] - this.outpps) / 4;
    this.inbps += (rate[3] * 8 - this.inbps) / 4;
    this.outbps += (rate[4] * 8 - this.outbps) / 4;
  }
}

export class RealServer {
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  /** Over its upper threshold: no new connections until it falls to the lower one. */
  overloaded = false;
  readonly stats = new TrafficStats();
  readonly rates = new RateEstimator();
  /** Set when removed from its service: connections to it may not be scheduled anew. */
  removed = false;

  /** Table entries that carry this server's id: its id may be reused only at zero. */
  get entries(): number {
    return this.activeConns + this.inactConns + this.persistConns;
  }
  /** Out of service by its health check (inhibited or removed), and the weight it goes back to. */
  failed = false;
  healthyWeight = 0;

  constructor(
    /** Index in the director's real-server array (stored in connection entries). */
    readonly id: number,
    readonly addr: number,
    readonly port: number,
    public weight: number,
    public method: Method,
    public upperThreshold = 0,
    public lowerThreshold = 0,
    /** An IPv6 server's address (`addr` then holds its fold, which the schedulers hash); null for IPv4. */
    readonly addr6: Ipv6 | null = null,
  ) {}

  get totalConns(): number {
    return this.activeConns + this.inactConns;
  }

  /** May the scheduler choose it? Weight 0 quiesces a server (no new connections). */
  get available(): boolean {
    return this.weight > 0 && !this.overloaded && !this.removed;
  }

  /** IPVS's threshold rule: overloaded at upper; clear at lower, or at 3/4 of upper without one. */
  updateOverload(): void {
    const total = this.totalConns;
    if (this.upperThreshold && total >= this.upperThreshold) this.overloaded = true;
    else if (this.overloaded && (this.lowerThreshold ? total <= this.lowerThreshold : total * 4 < this.upperThreshold * 3)) this.overloaded = false;
    else if (!this.upperThreshold) this.overloaded = false;
  }
}

export interface ServiceKey {
  /** 6 TCP, 17 UDP; 0 for a firewall-mark service. */
  protocol: number;
  /** The VIP; for an IPv6 service, its fold (foldIpv6: what the schedulers hash). */
  vaddr: number;
  /** An IPv6 service's VIP; null or absent for IPv4. */
  vaddr6?: Ipv6 | null;
  vport: number;
  /** Nonzero for a firewall-mark service (tapvs matches it by address and a port/protocol list). */
  fwmark: number;
}

export class VirtualService {
  readonly dests: RealServer[] = [];
  /** Servers their health check took out ("remove"): not in service, still checked, still configured. */
  readonly failedOut: RealServer[] = [];
  readonly stats = new TrafficStats();
  readonly rates = new RateEstimator();
  /** Firewall-mark services: the protocol/port pairs grouped under the mark. */
  members: { protocol: number; port: number }[] = [];
  /** This service's UDP timeout in ms; 0 uses the director's. */
  udpTimeoutMs = 0;
  /** Persistence engine: 'sip' keeps each SIP call (Call-ID) on one real server. */
  pe: 'sip' | null = null;
  /** Deleted: it takes no packets; its id is reused once no table entry names it. */
  deleted = false;
  /** Table entries (connections and templates) that carry this service's id. */
  entries = 0;

  constructor(
    readonly id: number,
    readonly key: ServiceKey,
    public scheduler: Scheduler,
    /** Persistence timeout in seconds; 0 for none. */
    public persistenceS = 0,
    /** The client netmask persistence groups by: IPv4, a mask; IPv6, a prefix length (ipvsadm -M). */
    public persistenceMask = 0xffffffff,
    /** One-packet scheduling (UDP): every datagram scheduled alone, no entry kept. */
    public onePacket = false,
    /** Scheduler flags (sh-fallback, sh-port, mh-fallback, mh-port). */
    public schedFlags: string[] = [],
  ) {}

  get persistent(): boolean {
    return this.persistenceS > 0;
  }

  /** Re-tells the scheduler after servers or weights change. */
  refresh(): void {
    this.scheduler.update(this.dests, this.schedFlags);
  }
}
