// Reload: a new config's services, real servers and timeouts applied as a difference, so
// tracked connections carry on. It is all or nothing: the change is first made on a scratch
// copy of the live director (same interfaces and routes, same services, on an in-memory
// port), and only when every step succeeds there is it made on the live one. Interface and
// route changes need a restart (and say so).

import type { Config, ServiceConfig } from './config.js';
import { Admin, serviceName, type DestSpec, type ListView, type ServiceRef, type ServiceSpec } from './admin.js';
import { dryRun } from '../build.js';
import { formatIpv4 } from '../packet/address.js';
import { addressPort, formatIpv6 } from '../packet/address6.js';

export interface ReloadReport {
  added: string[];
  removed: string[];
  changed: string[];
  /** Settings applied live besides the services. */
  live: string[];
  needsRestart: string[];
}

const ref = (s: ServiceConfig): ServiceRef => ({ protocol: s.protocol === 6 ? 'tcp' : s.protocol === 17 ? 'udp' : null, vip: s.vip6 ? formatIpv6(s.vip6) : formatIpv4(s.vip), port: s.port, fwmark: s.fwmark });
const name = (s: ServiceConfig) => serviceName(ref(s));
const spec = (s: ServiceConfig): ServiceSpec => ({
  ...ref(s),
  scheduler: s.scheduler,
  persistence: s.persistence,
  netmask: s.vip6 ? String(s.netmask) : formatIpv4(s.netmask),
  onePacket: s.onePacket,
  udpTimeout: s.udpTimeout,
  pe: s.pe,
  flags: s.flags,
  members: s.members.map((m) => ({ protocol: m.protocol === 6 ? 'tcp' : 'udp', port: m.port })),
  iface: s.iface ?? undefined,
});

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What a reload cannot change in a running tapvs. */
export function restartOnly(old: Config, next: Config): string[] {
  const out: string[] = [];
  if (!same(old.interfaces, next.interfaces)) out.push('interfaces');
  if (!same(old.routes, next.routes) || !same(old.routes6, next.routes6)) out.push('routes');
  if (!same(old.management, next.management)) out.push('management');
  if (old.offload !== next.offload) out.push('offload');
  if (!same(old.bgp, next.bgp)) out.push('bgp');
  if (!same(old.system, next.system)) out.push('system (the appliance applies it at boot)');
  if (old.director.maxConnections !== next.director.maxConnections) out.push('director.maxConnections');
  if (old.control.socket !== next.control.socket) out.push('control.socket');
  if (!same(old.control.readOnly?.socket, next.control.readOnly?.socket)) out.push('control.readOnly.socket');
  if (old.control.metrics !== next.control.metrics) out.push('control.metrics');
  if (old.control.maxClients !== next.control.maxClients) out.push('control.maxClients');
  if (!same(old.ha, next.ha)) out.push('ha');
  if (old.director.handoffFile !== next.director.handoffFile) out.push('director.handoffFile');
  return out;
}

/** The settings besides services that a reload changes live, by name. */
export function liveChanges(old: Config, next: Config): string[] {
  const out: string[] = [];
  if (!same(old.icmp, next.icmp)) out.push('icmp');
  if (!same(old.neighbour, next.neighbour)) out.push('neighbour');
  if (old.ttl !== next.ttl) out.push('ttl');
  if (old.log.level !== next.log.level) out.push('log.level');
  if (old.control.mode !== next.control.mode || !same(old.control.readOnly, next.control.readOnly)) out.push('control modes');
  if (!same(old.director.timeouts, next.director.timeouts)) out.push('director.timeouts');
  if (old.director.sloppyTcp !== next.director.sloppyTcp) out.push('director.sloppyTcp');
  if (!same(old.director.defense, next.director.defense)) out.push('director.defense');
  return out;
}

/**
 * A scratch director that is the live one in miniature: the live interfaces and routes (what
 * a reload cannot change), and the live services and servers as they are now.
 */
export function scratchOf(config: Config, live: ListView): Admin {
  const { admin } = dryRun({ ...config, services: [] });
  for (const s of live.services) {
    admin.addService({ ...s, iface: s.iface ?? undefined });
    for (const d of [...s.dests, ...s.failedOut]) admin.addDest(s, d);
  }
  return admin;
}

/**
 * Makes the director's services match `next`, whatever tapvsadm changed since the last load:
 * services and real servers missing from it go, new ones come, the rest are edited in place
 * (their connections carry on). Servers held out by their health check stay out; a new
 * weight is the one they come back with.
 */
export function applyServices(admin: Admin, next: Config): Pick<ReloadReport, 'added' | 'removed' | 'changed'> {
  const report = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  const live = new Map(admin.list().services.map((v) => [serviceName(v), v]));
  const wanted = new Map(next.services.map((s) => [name(s), s]));
  for (const [k, v] of live) {
    if (!wanted.has(k)) {
      admin.deleteService(v);
      report.removed.push(k);
    }
  }
  for (const [k, s] of wanted) {
    const current = live.get(k);
    if (!current) admin.addService(spec(s));
    else admin.editService(spec(s));
    const have = new Map([...(current?.dests ?? []), ...(current?.failedOut ?? [])].map((d) => [addressPort(d.address, d.port), d]));
    const want = new Map(
      s.realServers.map((r): [string, DestSpec] => {
        const address = r.address6 ? formatIpv6(r.address6) : formatIpv4(r.address);
        return [addressPort(address, r.port), { ...r, address }];
      }),
    );
    let changed = false;
    for (const [dk, d] of have) {
      if (!want.has(dk)) {
        admin.deleteDest(ref(s), d);
        changed = true;
      }
    }
    for (const [dk, d] of want) {
      const h = have.get(dk);
      if (!h) admin.addDest(ref(s), d);
      else if (h.configuredWeight !== d.weight || h.method !== d.method || h.upperThreshold !== d.upperThreshold || h.lowerThreshold !== d.lowerThreshold) admin.editDest(ref(s), d);
      else continue;
      changed = true;
    }
    if (!current) report.added.push(k);
    else if (changed || current.scheduler !== s.scheduler || current.persistence !== s.persistence || current.iface !== s.iface || !same(current.members, spec(s).members)) report.changed.push(k);
  }
  const t = next.director.timeouts;
  admin.setTimeouts({ tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp });
  return report;
}

/**
 * The whole reload's director part, all or nothing: tried on a scratch copy first (throws
 * there, naming what failed, and nothing live has changed), then applied to the live one.
 */
export function reloadServices(admin: Admin, running: Config, next: Config): ReloadReport {
  // The new services built whole on the live interfaces and routes: errors name their field.
  dryRun({ ...next, interfaces: running.interfaces, routes: running.routes, management: running.management });
  // Then the difference from what runs now (tapvsadm's changes included), on a scratch copy.
  applyServices(scratchOf(running, admin.list()), next);
  const report = applyServices(admin, next);
  return { ...report, live: liveChanges(running, next), needsRestart: restartOnly(running, next) };
}
