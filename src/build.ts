// Turns a validated config into a running router on a packet engine.

import { ConfigError, realServerText, type Config } from './control/config.js';
import { formatIpv4 } from './packet/address.js';
import { Interface, type InterfaceAddress } from './l2/interface.js';
import { Director, defaultTimeouts } from './lvs/director.js';
import { Method } from './lvs/service.js';
import { TcpState } from './lvs/tcp-states.js';
import { RouteTable } from './l3/routes.js';
import { PacketEngine } from './io/engine.js';
import { MemoryBackend } from './io/memory.js';
import { Router, type Log } from './router.js';
import { Admin } from './control/admin.js';
import { Ipv6Router } from './l3/ipv6-router.js';
import { RouteTable6 } from './l3/routes6.js';
import { Neighbour6Table } from './l2/neighbours6.js';
import { foldIpv6, formatIpv6, linkLocalFromMac, maskPrefix6, type Ipv6 } from './packet/address6.js';

const METHODS = { dr: Method.Dr, nat: Method.Nat, tun: Method.Tun } as const;

/** Interfaces take ports 0..n-1 in config order. VIPs become /32 addresses of their interface. */
export function buildRouter(config: Config, engine: PacketEngine, log: Log, now: () => number = () => performance.now()): Router {
  const interfaces = config.interfaces.map((c, port) => {
    const addresses: InterfaceAddress[] = c.addresses.map((a) => ({ ...a, role: 'primary' as const }));
    for (const svc of config.services) {
      if (svc.vip6 === null && svc.iface === c.name && !addresses.some((a) => a.address === svc.vip)) addresses.push({ address: svc.vip, length: 32, role: 'vip' });
    }
    return new Interface(c.name, port, c.mac, c.mtu, addresses);
  });
  const routes = new RouteTable();
  for (const iface of interfaces) {
    for (const a of iface.addresses) routes.add({ network: a.address, length: a.length, via: 0, iface, kind: 'connected' });
  }
  config.routes.forEach((r, i) => {
    const iface = r.dev !== null ? interfaces.find((x) => x.name === r.dev)! : routes.lookup(r.via)?.iface;
    if (!iface) throw new ConfigError(`$.routes[${i}].via`, `gateway ${formatIpv4(r.via)} is not on any connected network (add 'dev', or an address on its subnet)`);
    try {
      routes.add({ network: r.network, length: r.length, via: r.via, iface, kind: 'static' });
    } catch (e) {
      throw new ConfigError(`$.routes[${i}].to`, (e as Error).message);
    }
  });
  const router = new Router(engine, interfaces, routes, {
    icmpRatePerSecond: config.icmp.ratePerSecond,
    icmpBurst: config.icmp.burst,
    icmpPerDestinationPerSecond: config.icmp.perDestinationPerSecond,
    icmpPerDestinationBurst: config.icmp.perDestinationBurst,
    neighbour: config.neighbour,
    ttl: config.ttl,
    now,
    log,
  });
  engine.handler = router;
  router.v6 = buildIpv6(config, router, engine, interfaces, log);
  buildDirector(config, router, engine, routes);
  return router;
}

/** IPv6 on every interface, once any has an IPv6 address: each gets its link-local one from its MAC. */
function buildIpv6(config: Config, router: Router, engine: PacketEngine, interfaces: Interface[], log: Log): Ipv6Router | null {
  if (!config.interfaces.some((c) => c.addresses6.length > 0)) {
    if (config.routes6.length > 0) throw new ConfigError('$.routes', 'IPv6 routes need an interface with an IPv6 address');
    return null;
  }
  const routes = new RouteTable6();
  const links = interfaces.map((iface, port) => {
    const addresses = config.interfaces[port].addresses6;
    for (const a of addresses) {
      try {
        routes.add({ network: maskPrefix6(a.address, a.length), length: a.length, via: null, iface, kind: 'connected' });
      } catch {
        // two addresses on one prefix: the first one's route serves both
      }
    }
    return { iface, linkLocal: linkLocalFromMac(iface.mac), addresses, vips: [], neighbours: new Neighbour6Table(config.neighbour) };
  });
  config.routes6.forEach((r, i) => {
    const dev = r.dev !== null ? interfaces.find((x) => x.name === r.dev)! : r.via !== null ? routes.lookup(r.via, 0)?.iface : undefined;
    if (!dev) throw new ConfigError(`$.routes[${i}].via`, `gateway ${formatIpv6(r.via!)} is not on any connected IPv6 network (add 'dev', or an address on its prefix)`);
    try {
      routes.add({ network: r.network, length: r.length, via: r.via, iface: dev, kind: 'static' });
    } catch (e) {
      throw new ConfigError(`$.routes[${i}].to`, (e as Error).message);
    }
  });
  return new Ipv6Router(router, engine, links, routes, { neighbour: config.neighbour, icmp: config.icmp, hopLimit: config.ttl, log });
}

/** A real server's gateway as text, null when it is on a connected network; no route is an error. */
function realServerGateway(routes: RouteTable, addr: number, where: string): string | null {
  const route = routes.lookup(addr);
  if (!route) throw new ConfigError(where, `${formatIpv4(addr)} is not reachable by any route`);
  return route.via !== 0 ? formatIpv4(route.via) : null;
}

function realServerGateway6(router: Router, addr: Ipv6, where: string): string | null {
  const route = router.v6?.routes.lookup(addr, 0);
  if (!route) throw new ConfigError(where, `${formatIpv6(addr)} is not reachable by any IPv6 route (the router needs an IPv6 address on its way)`);
  return route.via !== null ? formatIpv6(route.via) : null;
}

/** The director is always there, so tapvsadm can add the first service to a running router. */
function buildDirector(config: Config, router: Router, engine: PacketEngine, routes: RouteTable): Director {
  const t = config.director.timeouts;
  const timeouts = defaultTimeouts();
  timeouts.tcp[TcpState.Established] = t.tcp;
  timeouts.tcp[TcpState.FinWait] = t.tcpfin;
  timeouts.udp = t.udp;
  const director = new Director(router, engine, config.director.maxConnections, timeouts);
  director.defense = { ...config.director.defense };
  director.sloppyTcp = config.director.sloppyTcp;
  config.services.forEach((s, i) => {
    const svc = director.addService({ protocol: s.protocol, vaddr: s.vip6 ? foldIpv6(s.vip6) : s.vip, vaddr6: s.vip6, vport: s.port, fwmark: s.fwmark }, s.scheduler, {
      persistenceS: s.persistence,
      persistenceMask: s.netmask,
      onePacket: s.onePacket,
      flags: s.flags,
      iface: s.vip6 && s.iface !== null ? router.interfaceByName(s.iface) : undefined,
    });
    svc.members = s.members;
    svc.udpTimeoutMs = s.udpTimeout * 1000;
    svc.pe = s.pe;
    s.realServers.forEach((r, j) => {
      const where = `$.services[${i}].realServers[${j}].address`;
      const via = r.address6 ? realServerGateway6(router, r.address6, where) : realServerGateway(routes, r.address, where);
      if (r.method === 'dr' && via !== null) {
        throw new ConfigError(where, `direct routing needs ${realServerText(r)} on a directly connected network (it is behind ${via}); use tun or nat`);
      }
      director.addRealServer(svc, r.address, r.port, r.weight, METHODS[r.method], r.upperThreshold, r.lowerThreshold, r.address6);
    });
  });
  return director;
}

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** What a dry run builds: the whole router and director, on no real port. */
export interface DryRun {
  router: Router;
  admin: Admin;
}

/**
 * Builds `config` as `run` would (every check of routes, gateways and real servers), on an
 * in-memory port with a token connection table: `tapvs check`, and a reload or restore
 * tried out before the live router is touched.
 */
export function dryRun(config: Config): DryRun {
  const engine = new PacketEngine((onWake) => new MemoryBackend({ maxPorts: Math.max(2, config.interfaces.length), slotCount: 128, ringSize: 16 }, onWake), { receive() {} });
  const router = buildRouter({ ...config, director: { ...config.director, maxConnections: 16 } }, engine, silent);
  return { router, admin: new Admin(router.director as Director, router) };
}
