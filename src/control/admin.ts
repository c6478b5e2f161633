// Administration of the director in plain data: what tapvsadm asks over the control socket,
// what a reload and a restore apply. Errors carry ipvsadm's wording, so scripts that match
// on it keep working.

import type { Director } from '../lvs/director.js';
import { SCHEDULER_FLAGS, SCHEDULER_NAMES } from '../lvs/schedulers/index.js';
import { METHOD_NAMES, Method, type RealServer, type VirtualService } from '../lvs/service.js';
import { TCP_STATE_NAMES, TcpState } from '../lvs/tcp-states.js';
import { ConnFlag, NONE, TICK_MS } from '../lvs/conn-table.js';
import { formatIpv4, inSubnet, parseIpv4 } from '../packet/address.js';
import type { Router } from '../router.js';

export class AdminError extends Error {}

export type MethodName = 'dr' | 'nat' | 'tun';
const METHODS: Record<MethodName, Method> = { dr: Method.Dr, nat: Method.Nat, tun: Method.Tun };
const METHOD_BY_NUMBER: MethodName[] = ['dr', 'nat', 'tun'];

export interface ServiceRef {
  protocol: 'tcp' | 'udp' | null;
  vip: string;
  port: number;
  fwmark: number;
}

export interface ServiceSpec extends ServiceRef {
  scheduler?: string;
  /** Seconds; 0 turns persistence off. */
  persistence?: number;
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

/** A service as ipvsadm names it in messages: "TCP 192.168.1.2:80", or "FWM 7". */
export function serviceName(v: ServiceRef): string {
  return v.fwmark ? `FWM ${v.fwmark}` : `${v.protocol === 'tcp' ? 'TCP' : 'UDP'} ${v.vip}:${v.port}`;
}

function addr(text: string, what: string): number {
  const a = parseIpv4(text);
  if (a === null) throw new AdminError(`${what} '${text}' is not an IPv4 address`);
  return a;
}

const statsView = (s: { conns: number; inPackets: number; outPackets: number; inBytes: number; outBytes: number }): StatsView => ({ conns: s.conns, inPackets: s.inPackets, outPackets: s.outPackets, inBytes: s.inBytes, outBytes: s.outBytes });

const destView = (d: RealServer): DestView => ({
  address: formatIpv4(d.addr),
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
  constructor(
    private readonly director: Director,
    private readonly router: Router,
  ) {}

  private find(ref: ServiceRef): VirtualService {
    const svc = this.director.findService({ protocol: protoNumber(ref.protocol), vaddr: addr(ref.vip, 'service address'), vport: ref.port, fwmark: ref.fwmark });
    if (!svc) throw new AdminError('Service not defined');
    return svc;
  }

  private findDest(svc: VirtualService, d: { address: string; port: number }): RealServer {
    const a = addr(d.address, 'real server');
    const port = d.port || svc.key.vport;
    const dest = svc.dests.find((x) => x.addr === a && x.port === port) ?? svc.failedOut.find((x) => x.addr === a && x.port === port);
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
    const vaddr = addr(spec.vip, 'service address');
    const key = { protocol: protoNumber(spec.protocol), vaddr, vport: spec.port, fwmark: spec.fwmark };
    if (this.director.findService(key)) throw new AdminError('Service already exists');
    if (spec.pe && !spec.persistence) throw new AdminError('A persistence engine needs a persistent service (-p)');
    // On a connected network the VIP is an address of that interface (answered in ARP); on
    // none, it is a routed VIP, served but never answered in ARP.
    const iface = spec.iface ? this.router.interfaceByName(spec.iface) : this.router.interfaces.find((i) => i.addresses.some((a) => a.role === 'primary' && inSubnet(vaddr, a.address, a.length)));
    if (spec.iface && !iface) throw new AdminError(`No interface named '${spec.iface}'`);
    const svc = this.director.addService(key, spec.scheduler ?? 'wlc', {
      persistenceS: spec.persistence ?? 0,
      persistenceMask: spec.netmask ? addr(spec.netmask, 'netmask') : 0xffffffff,
      onePacket: spec.onePacket ?? false,
      flags: spec.flags ?? [],
      iface,
    });
    svc.members = (spec.members ?? []).map((m) => ({ protocol: protoNumber(m.protocol), port: m.port }));
    svc.udpTimeoutMs = (spec.udpTimeout ?? 0) * 1000;
    svc.pe = spec.pe ?? null;
    this.director.reindex();
  }

  editService(spec: ServiceSpec): void {
    this.checkService(spec);
    const svc = this.find(spec);
    this.director.editService(svc, spec.scheduler ?? svc.scheduler.name, {
      persistenceS: spec.persistence,
      persistenceMask: spec.netmask ? addr(spec.netmask, 'netmask') : undefined,
      onePacket: spec.onePacket,
      flags: spec.flags,
    });
    if (spec.udpTimeout !== undefined) svc.udpTimeoutMs = spec.udpTimeout * 1000;
    if (spec.pe !== undefined) svc.pe = spec.pe;
    if (spec.members !== undefined) svc.members = spec.members.map((m) => ({ protocol: protoNumber(m.protocol), port: m.port }));
    if (spec.iface !== undefined) this.moveVip(svc.key.vaddr, spec.iface);
    this.director.reindex();
  }

  /** The VIP answered on another interface from now on (its services go with it). */
  private moveVip(vaddr: number, ifaceName: string): void {
    const iface = this.router.interfaceByName(ifaceName);
    if (!iface) throw new AdminError(`No interface named '${ifaceName}'`);
    if (iface.owns(vaddr)) return;
    this.router.removeVip(vaddr);
    this.router.addVip(iface, vaddr);
  }

  deleteService(ref: ServiceRef): void {
    this.director.deleteService(this.find(ref));
  }

  addDest(ref: ServiceRef, d: DestSpec): void {
    const svc = this.find(ref);
    const a = addr(d.address, 'real server');
    const port = d.port || svc.key.vport;
    if ([...svc.dests, ...svc.failedOut].some((x) => x.addr === a && x.port === port)) throw new AdminError('Destination already exists');
    const method = d.method ?? 'dr';
    if (method !== 'nat' && port !== svc.key.vport && svc.key.vport !== 0) throw new AdminError(`Only masquerading (-m) can change the port: ${method} keeps ${svc.key.vport}`);
    const route = this.router.routes.lookup(a);
    if (!route) throw new AdminError(`Real server ${d.address} is not reachable by any route`);
    if (method === 'dr' && route.via !== 0) throw new AdminError(`Direct routing needs ${d.address} on a directly connected network (it is behind ${formatIpv4(route.via)})`);
    this.checkWeight(d);
    this.director.addRealServer(svc, a, port, d.weight ?? 1, METHODS[method], d.upperThreshold ?? 0, d.lowerThreshold ?? 0);
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
        vip: formatIpv4(svc.key.vaddr),
        port: svc.key.vport,
        fwmark: svc.key.fwmark,
        scheduler: svc.scheduler.name,
        persistence: svc.persistenceS,
        pe: svc.pe,
        netmask: formatIpv4(svc.persistenceMask),
        onePacket: svc.onePacket,
        flags: svc.schedFlags,
        members: svc.members.map((m) => ({ protocol: protoName(m.protocol) ?? 'tcp', port: m.port })),
        udpTimeout: svc.udpTimeoutMs / 1000,
        iface: this.router.interfaces.find((i) => i.owns(svc.key.vaddr))?.name ?? null,
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
      entries.push({
        protocol: proto === 6 ? 'TCP' : proto === 17 ? 'UDP' : 'IP',
        expiresS: Math.max(0, Math.round(((t.expiresAt(e) - nowTick) * TICK_MS) / 1000)),
        state: template ? 'NONE' : proto === 6 ? TCP_STATE_NAMES[t.state(e)] : proto === 17 ? 'UDP' : 'NONE',
        client: `${formatIpv4(t.caddr(e))}:${t.cport(e)}`,
        virtual: `${formatIpv4(t.vaddr(e))}:${t.vport(e)}`,
        destination: `${formatIpv4(t.daddr[e])}:${t.dport[e]}`,
        template,
      });
    });
    return { entries, next: next === NONE ? null : next };
  }
}
