// Administration of the director in plain data: what tapvsadm asks over the control socket,
// what a reload and a restore apply. Errors carry ipvsadm's wording, so scripts that match
// on it keep working.

import type { Director } from '../lvs/director.js';
import { SCHEDULER_FLAGS, SCHEDULER_NAMES } from '../lvs/schedulers/index.js';
import { METHOD_NAMES, Method, type RealServer, type ServiceKey, type VirtualService } from '../lvs/service.js';
import { TCP_STATE_NAMES, TcpState } from '../lvs/tcp-states.js';
import { ConnFlag, NONE, TICK_MS } from '../lvs/conn-table.js';
import { formatIpv4, inSubnet, parseIpv4 } from '../packet/address.js';
import { addressPort, foldIpv6, formatIpv6, inPrefix6, ipv6Equals, isIpv6Text, parseIpv6, type Ipv6 } from '../packet/address6.js';
import type { Interface } from '../l2/interface.js';
import type { Router } from '../router.js';

export class AdminError extends Error {}

export type MethodName = 'dr' | 'nat' | 'tun';
const METHODS: Record<MethodName, Method> = { dr: Method.Dr, nat: Method.Nat, tun: Method.Tun };
const METHOD_BY_NUMBER: MethodName[] = ['dr', 'nat', 'tun'];

export interface ServiceRef {
  protocol: 'tcp' | 'udp' | null;
  /** IPv4 dotted or IPv6 text (no brackets); '::' names an IPv6 firewall-mark service (ipvsadm -f N -6). */
  vip: string;
  port: number;
  fwmark: number;
}

export interface ServiceSpec extends ServiceRef {
  scheduler?: string;
  /** Seconds; 0 turns persistence off. */
  persistence?: number;
  /** IPv4: a dotted mask; IPv6: a prefix length (ipvsadm's -M for IPv6). */
  netmask?: string;
  onePacket?: boolean;
  /** Seconds; 0 uses the director's UDP timeout. */
  udpTimeout?: number;
  /** Persistence engine: 'sip', or null for none. */
  pe?: 'sip' | null;
  flags?: string[];
  /** Firewall-mark services: the protocol/port pairs under the mark. */
  members?: { protocol: 'tcp' | 'udp'; port: number }[];
  iface?: string;
}

export interface DestSpec {
  address: string;
  port: number;
  weight?: number;
  method?: MethodName;
  upperThreshold?: number;
  lowerThreshold?: number;
}

export interface RateView {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface StatsView {
  conns: number;
  inPackets: number;
  outPackets: number;
  inBytes: number;
  outBytes: number;
}

export interface DestView {
  address: string;
  port: number;
  method: MethodName;
  forward: string;
  /** In effect now (0 while a health check holds the server out). */
  weight: number;
  /** As configured: what the server has when healthy. */
  configuredWeight: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  upperThreshold: number;
  lowerThreshold: number;
  stats: StatsView;
  rates: RateView;
}

export interface ServiceView extends ServiceRef {
  scheduler: string;
  persistence: number;
  pe: 'sip' | null;
  netmask: string;
  onePacket: boolean;
  flags: string[];
  members: { protocol: 'tcp' | 'udp'; port: number }[];
  /** Seconds; 0 uses the director's UDP timeout. */
  udpTimeout: number;
  /** The interface that answers ARP for the VIP. */
  iface: string | null;
  stats: StatsView;
  rates: RateView;
  /** The servers in service, as ipvsadm lists them. */
  dests: DestView[];
  /** Servers their health check took out of the service: configured, checked, not listed by ipvsadm. */
  failedOut: DestView[];
}

export interface ListView {
  version: string;
  size: number;
  services: ServiceView[];
}

export interface Timeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export interface ConnView {
  protocol: string;
  expiresS: number;
  state: string;
  client: string;
  virtual: string;
  destination: string;
  template: boolean;
}

export interface ConnPage {
  entries: ConnView[];
  /** Where the next page starts, or null: the listing is complete. */
  next: number | null;
}

/** Entries per page of the connection listing, and table slots one page may walk. */
export const CONNECTION_PAGE = 5000;
const CONNECTION_PAGE_SCAN = 1 << 18;

/** The ipvsadm-compatible version string tapvsadm prints. */
export const IPVS_VERSION = '1.2.1';

const rateView = (r: RateView): RateView => ({ cps: Math.round(r.cps), inpps: Math.round(r.inpps), outpps: Math.round(r.outpps), inbps: Math.round(r.inbps), outbps: Math.round(r.outbps) });
const protoNumber = (p: 'tcp' | 'udp' | null) => (p === 'tcp' ? 6 : p === 'udp' ? 17 : 0);
const protoName = (n: number): 'tcp' | 'udp' | null => (n === 6 ? 'tcp' : n === 17 ? 'udp' : null);

/** A service as ipvsadm names it in messages: "TCP 192.168.1.2:80", "TCP [2001:db8::1]:80", or "FWM 7". */
export function serviceName(v: ServiceRef): string {
  if (v.fwmark) return `FWM ${v.fwmark}${isIpv6Text(v.vip) ? ' IPv6' : ''}`;
  return `${v.protocol === 'tcp' ? 'TCP' : 'UDP'} ${addressPort(v.vip, v.port)}`;
}

/** An address of either family: IPv4 as a number, IPv6 as bytes (with its fold in `v4`, as the director keys it). */
interface Address {
  v4: number;
  v6: Ipv6 | null;
}

function addr(text: string, what: string): Address {
  if (isIpv6Text(text)) {
    const v6 = parseIpv6(text);
    if (v6 === null) throw new AdminError(`${what} '${text}' is not an IPv6 address`);
    return { v4: foldIpv6(v6), v6 };
  }
  const a = parseIpv4(text);
  if (a === null) throw new AdminError(`${what} '${text}' is not an IPv4 address`);
  return { v4: a, v6: null };
}

const sameAddress = (d: RealServer, a: Address): boolean => (a.v6 !== null ? d.addr6 !== null && ipv6Equals(d.addr6, 0, a.v6, 0) : d.addr6 === null && d.addr === a.v4);

/** A persistence netmask: IPv4 a dotted mask, IPv6 a prefix length 1-128. */
function netmask(text: string, ipv6: boolean): number {
  if (!ipv6) return addr(text, 'netmask').v4;
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1 || Number(text) > 128) throw new AdminError(`IPv6 netmask '${text}' is not a prefix length (1-128)`);
  return Number(text);
}

const statsView = (s: { conns: number; inPackets: number; outPackets: number; inBytes: number; outBytes: number }): StatsView => ({ conns: s.conns, inPackets: s.inPackets, outPackets: s.outPackets, inBytes: s.inBytes, outBytes: s.outBytes });

const destView = (d: RealServer): DestView => ({
  address: d.addr6 ? formatIpv6(d.addr6) : formatIpv4(d.addr),
  port: d.port,
  method: METHOD_BY_NUMBER[d.method],
  forward: METHOD_NAMES[d.method],
  // A server its health check holds out is listed at weight 0; configured is what it gets back.
  weight: d.weight,
  configuredWeight: d.failed ? d.healthyWeight : d.weight,
  activeConns: d.activeConns,
  inactConns: d.inactConns,
  persistConns: d.persistConns,
  upperThreshold: d.upperThreshold,
  lowerThreshold: d.lowerThreshold,
  stats: statsView(d.stats),
  rates: rateView(d.rates),
});

export class Admin {
  private readonly scratch6 = new Uint8Array(16);

  constructor(
    private readonly director: Director,
    private readonly router: Router,
  ) {}

  private keyOf(ref: ServiceRef): ServiceKey {
    const a = addr(ref.vip, 'service address');
    return { protocol: protoNumber(ref.protocol), vaddr: a.v4, vaddr6: a.v6, vport: ref.port, fwmark: ref.fwmark };
  }

  private find(ref: ServiceRef): VirtualService {
    const svc = this.director.findService(this.keyOf(ref));
    if (!svc) throw new AdminError('Service not defined');
    return svc;
  }

  private findDest(svc: VirtualService, d: { address: string; port: number }): RealServer {
    const a = addr(d.address, 'real server');
    const port = d.port || svc.key.vport;
    const dest = [...svc.dests, ...svc.failedOut].find((x) => sameAddress(x, a) && x.port === port);
    if (!dest) throw new AdminError('No such destination');
    return dest;
  }

  private checkService(spec: ServiceSpec): void {
    if (spec.scheduler !== undefined && !SCHEDULER_NAMES.includes(spec.scheduler)) throw new AdminError(`Scheduler not found: ${spec.scheduler} (known: ${SCHEDULER_NAMES.join(', ')})`);
    for (const f of spec.flags ?? []) if (!SCHEDULER_FLAGS.includes(f)) throw new AdminError(`Invalid scheduler flag: ${f}`);
    if (spec.onePacket && spec.protocol === 'tcp') throw new AdminError('One-packet scheduling is only for UDP');
    if (spec.persistence !== undefined && (!Number.isInteger(spec.persistence) || spec.persistence < 0)) throw new AdminError('Illegal timeout');
    if (spec.pe && spec.pe !== 'sip') throw new AdminError(`Persistence engine not found: ${spec.pe} (known: sip)`);
    if (spec.pe && spec.protocol === 'tcp') throw new AdminError('The SIP persistence engine is for UDP services');
  }

  addService(spec: ServiceSpec): void {
    this.checkService(spec);
    const key = this.keyOf(spec);
    const vip6 = key.vaddr6 ?? null;
    if (this.director.findService(key)) throw new AdminError('Service already exists');
    if (spec.pe && !spec.persistence) throw new AdminError('A persistence engine needs a persistent service (-p)');
    if (vip6 && !this.router.v6) throw new AdminError('An IPv6 service needs an IPv6 address on an interface');
    // On a connected network the VIP is an address of that interface (answered in ARP or
    // neighbour discovery); on none, it is a routed VIP, served but never answered.
    const iface = spec.iface ? this.router.interfaceByName(spec.iface) : vip6 ? this.onLink6(vip6) : this.router.interfaces.find((i) => i.addresses.some((a) => a.role === 'primary' && inSubnet(key.vaddr, a.address, a.length)));
    if (spec.iface && !iface) throw new AdminError(`No interface named '${spec.iface}'`);
    const svc = this.director.addService(key, spec.scheduler ?? 'wlc', {
      persistenceS: spec.persistence ?? 0,
      persistenceMask: spec.netmask ? netmask(spec.netmask, vip6 !== null) : vip6 ? 128 : 0xffffffff,
      onePacket: spec.onePacket ?? false,
      flags: spec.flags ?? [],
      iface,
    });
    svc.members = (spec.members ?? []).map((m) => ({ protocol: protoNumber(m.protocol), port: m.port }));
    svc.udpTimeoutMs = (spec.udpTimeout ?? 0) * 1000;
    svc.pe = spec.pe ?? null;
    this.director.reindex();
  }

  /** The interface whose IPv6 prefix holds `vip`. */
  private onLink6(vip: Ipv6): Interface | undefined {
    return this.router.v6?.links.find((l) => l.addresses.some((a) => inPrefix6(vip, 0, a.address, a.length)))?.iface;
  }

  /** The interface that answers for a service's VIP, or null (a routed VIP). */
  private vipInterface(key: ServiceKey): string | null {
    const vip6 = key.vaddr6;
    if (vip6) return this.router.v6?.links.find((l) => l.vips.some((v) => ipv6Equals(v, 0, vip6, 0)))?.iface.name ?? null;
    return this.router.interfaces.find((i) => i.owns(key.vaddr))?.name ?? null;
  }

  editService(spec: ServiceSpec): void {
    this.checkService(spec);
    const svc = this.find(spec);
    this.director.editService(svc, spec.scheduler ?? svc.scheduler.name, {
      persistenceS: spec.persistence,
      persistenceMask: spec.netmask ? netmask(spec.netmask, svc.key.vaddr6 != null) : undefined,
      onePacket: spec.onePacket,
      flags: spec.flags,
    });
    if (spec.udpTimeout !== undefined) svc.udpTimeoutMs = spec.udpTimeout * 1000;
    if (spec.pe !== undefined) svc.pe = spec.pe;
    if (spec.members !== undefined) svc.members = spec.members.map((m) => ({ protocol: protoNumber(m.protocol), port: m.port }));
    if (spec.iface !== undefined) this.moveVip(svc.key, spec.iface);
    this.director.reindex();
  }

  /** The VIP answered on another interface from now on (its services go with it). */
  private moveVip(key: ServiceKey, ifaceName: string): void {
    const iface = this.router.interfaceByName(ifaceName);
    if (!iface) throw new AdminError(`No interface named '${ifaceName}'`);
    const vip6 = key.vaddr6;
    if (vip6) {
      const v6 = this.router.v6!;
      if (!v6.linkOf(iface)) throw new AdminError(`Interface '${ifaceName}' has no IPv6`);
      v6.removeVip(vip6);
      v6.addVip(iface, vip6);
      return;
    }
    if (iface.owns(key.vaddr)) return;
    this.router.removeVip(key.vaddr);
    this.router.addVip(iface, key.vaddr);
  }

  deleteService(ref: ServiceRef): void {
    this.director.deleteService(this.find(ref));
  }

  addDest(ref: ServiceRef, d: DestSpec): void {
    const svc = this.find(ref);
    const a = addr(d.address, 'real server');
    const ipv6 = svc.key.vaddr6 != null;
    if ((a.v6 !== null) !== ipv6) throw new AdminError(`Real server ${d.address} is ${a.v6 ? 'IPv6' : 'IPv4'}, the service ${ipv6 ? 'IPv6' : 'IPv4'}: they must be the same family`);
    const port = d.port || svc.key.vport;
    if ([...svc.dests, ...svc.failedOut].some((x) => sameAddress(x, a) && x.port === port)) throw new AdminError('Destination already exists');
    const method = d.method ?? 'dr';
    if (method !== 'nat' && port !== svc.key.vport && svc.key.vport !== 0) throw new AdminError(`Only masquerading (-m) can change the port: ${method} keeps ${svc.key.vport}`);
    const via = this.gatewayTo(a, d.address);
    if (method === 'dr' && via !== null) throw new AdminError(`Direct routing needs ${d.address} on a directly connected network (it is behind ${via})`);
    this.checkWeight(d);
    this.director.addRealServer(svc, a.v4, port, d.weight ?? 1, METHODS[method], d.upperThreshold ?? 0, d.lowerThreshold ?? 0, a.v6);
  }

  /** The gateway a real server is behind as text, null when it is on a connected network. */
  private gatewayTo(a: Address, text: string): string | null {
    if (a.v6) {
      const route = this.router.v6?.routes.lookup(a.v6, 0);
      if (!route) throw new AdminError(`Real server ${text} is not reachable by any IPv6 route`);
      return route.via ? formatIpv6(route.via) : null;
    }
    const route = this.router.routes.lookup(a.v4);
    if (!route) throw new AdminError(`Real server ${text} is not reachable by any route`);
    return route.via !== 0 ? formatIpv4(route.via) : null;
  }

  editDest(ref: ServiceRef, d: DestSpec): void {
    const svc = this.find(ref);
    const dest = this.findDest(svc, d);
    this.checkWeight(d);
    this.director.editRealServer(
      svc,
      dest,
      d.weight ?? dest.weight,
      d.method ? METHODS[d.method] : dest.method,
      d.upperThreshold ?? dest.upperThreshold,
      d.lowerThreshold ?? dest.lowerThreshold,
    );
  }

  deleteDest(ref: ServiceRef, d: { address: string; port: number }): void {
    const svc = this.find(ref);
    this.director.deleteRealServer(svc, this.findDest(svc, d));
  }

  private checkWeight(d: DestSpec): void {
    if (d.weight !== undefined && (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 65535)) throw new AdminError('Illegal weight specified');
    const u = d.upperThreshold ?? 0, l = d.lowerThreshold ?? 0;
    if (!Number.isInteger(u) || u < 0 || !Number.isInteger(l) || l < 0) throw new AdminError('Illegal threshold specified');
    if (u && l > u) throw new AdminError('Lower threshold is above upper threshold');
  }

  clear(): void {
    for (const svc of this.director.liveServices()) this.director.deleteService(svc);
  }

  zero(ref?: ServiceRef): void {
    this.director.zero(ref ? this.find(ref) : undefined);
  }

  getTimeouts(): Timeouts {
    const t = this.director.timeouts;
    return { tcp: t.tcp[TcpState.Established], tcpfin: t.tcp[TcpState.FinWait], udp: t.udp };
  }

  /** ipvsadm --set: a 0 leaves that timeout as it is. */
  setTimeouts(t: Timeouts): void {
    for (const v of [t.tcp, t.tcpfin, t.udp]) if (!Number.isInteger(v) || v < 0) throw new AdminError('Illegal timeout');
    const next = { tcp: [...this.director.timeouts.tcp], udp: this.director.timeouts.udp };
    if (t.tcp) next.tcp[TcpState.Established] = t.tcp;
    if (t.tcpfin) next.tcp[TcpState.FinWait] = t.tcpfin;
    if (t.udp) next.udp = t.udp;
    this.director.setTimeouts(next);
  }

  list(): ListView {
    return {
      version: IPVS_VERSION,
      size: this.director.table.capacity,
      services: this.director.liveServices().map((svc) => ({
        protocol: protoName(svc.key.protocol),
        vip: svc.key.vaddr6 ? formatIpv6(svc.key.vaddr6) : formatIpv4(svc.key.vaddr),
        port: svc.key.vport,
        fwmark: svc.key.fwmark,
        scheduler: svc.scheduler.name,
        persistence: svc.persistenceS,
        pe: svc.pe,
        netmask: svc.key.vaddr6 ? String(svc.persistenceMask) : formatIpv4(svc.persistenceMask),
        onePacket: svc.onePacket,
        flags: svc.schedFlags,
        members: svc.members.map((m) => ({ protocol: protoName(m.protocol) ?? 'tcp', port: m.port })),
        udpTimeout: svc.udpTimeoutMs / 1000,
        iface: this.vipInterface(svc.key),
        stats: statsView(svc.stats),
        rates: rateView(svc.rates),
        dests: svc.dests.map(destView),
        failedOut: svc.failedOut.map(destView),
      })),
    };
  }

  /**
   * One page of the connection table (ipvsadm -L -c): up to `limit` entries from the cursor
   * `after` (0 to start), and the cursor of the next page, or null at the end. Each page costs
   * a bounded amount of work, so listing millions of entries never stalls the packet path.
   */
  connections(after = 0, limit = CONNECTION_PAGE): ConnPage {
    const t = this.director.table;
    const nowTick = t.tick(this.router.clock);
    const entries: ConnView[] = [];
    const count = Math.max(1, Math.min(CONNECTION_PAGE, Math.floor(limit)));
    const next = t.page(Math.max(0, Math.floor(after)), count, CONNECTION_PAGE_SCAN, (e) => {
      const template = (t.flags(e) & ConnFlag.Template) !== 0;
      const proto = t.proto(e);
      const v6 = t.isIpv6(e);
      entries.push({
        protocol: proto === 6 ? 'TCP' : proto === 17 ? 'UDP' : 'IP',
        expiresS: Math.max(0, Math.round(((t.expiresAt(e) - nowTick) * TICK_MS) / 1000)),
        state: template ? 'NONE' : proto === 6 ? TCP_STATE_NAMES[t.state(e)] : proto === 17 ? 'UDP' : 'NONE',
        client: v6 ? `[${formatIpv6(t.caddr6(e, this.scratch6))}]:${t.cport(e)}` : `${formatIpv4(t.caddr(e))}:${t.cport(e)}`,
        virtual: v6 ? `[${formatIpv6(t.vaddr6(e, this.scratch6))}]:${t.vport(e)}` : `${formatIpv4(t.vaddr(e))}:${t.vport(e)}`,
        destination: v6 ? `[${formatIpv6(t.daddr6(e, this.scratch6))}]:${t.dport[e]}` : `${formatIpv4(t.daddr[e])}:${t.dport[e]}`,
        template,
      });
    });
    return { entries, next: next === NONE ? null : next };
  }
}
