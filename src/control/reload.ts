// Reload: a new config's services, real servers and timeouts applied as a difference, so
// tracked connections carry on. Interface and route changes need a restart (and say so).

import type { Config, ServiceConfig } from './config.js';
import { Admin, serviceName, type ServiceRef, type ServiceSpec } from './admin.js';
import { formatIpv4 } from '../packet/address.js';

export interface ReloadReport {
  added: string[];
  removed: string[];
  changed: string[];
  needsRestart: string[];
}

const ref = (s: ServiceConfig): ServiceRef => ({ protocol: s.protocol === 6 ? 'tcp' : s.protocol === 17 ? 'udp' : null, vip: formatIpv4(s.vip), port: s.port, fwmark: s.fwmark });
const name = (s: ServiceConfig) => serviceName(ref(s));
const spec = (s: ServiceConfig): ServiceSpec => ({
  ...ref(s),
  scheduler: s.scheduler,
  persistence: s.persistence,
  netmask: formatIpv4(s.netmask),
  onePacket: s.onePacket,
  udpTimeout: s.udpTimeout,
  pe: s.pe,
  flags: s.flags,
  members: s.members.map((m) => ({ protocol: m.protocol === 6 ? 'tcp' : 'udp', port: m.port })),
  iface: s.iface,
});

/**
 * Makes the director's live services match `next`, whatever tapvsadm changed since the last
 * load: services and real servers missing from it go, new ones come, the rest are edited in
 * place (their connections carry on).
 */
export function applyConfig(admin: Admin, old: Config, next: Config): ReloadReport {
  const report: ReloadReport = { added: [], removed: [], changed: [], needsRestart: [] };
  if (JSON.stringify(old.interfaces) !== JSON.stringify(next.interfaces)) report.needsRestart.push('interfaces');
  if (JSON.stringify(old.routes) !== JSON.stringify(next.routes)) report.needsRestart.push('routes');
  if (JSON.stringify(old.management) !== JSON.stringify(next.management)) report.needsRestart.push('management');
  if (old.director.maxConnections !== next.director.maxConnections) report.needsRestart.push('director.maxConnections');
  if (old.control.socket !== next.control.socket) report.needsRestart.push('control.socket');
  if (old.control.metrics !== next.control.metrics) report.needsRestart.push('control.metrics');

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
    const have = new Map((current?.dests ?? []).map((d) => [`${d.address}:${d.port}`, d]));
    const want = new Map(s.realServers.map((r) => [`${formatIpv4(r.address)}:${r.port}`, { ...r, address: formatIpv4(r.address) }]));
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
      else if (h.weight !== d.weight || h.method !== d.method || h.upperThreshold !== d.upperThreshold || h.lowerThreshold !== d.lowerThreshold) admin.editDest(ref(s), d);
      else continue;
      changed = true;
    }
    if (!current) report.added.push(k);
    else if (changed || current.scheduler !== s.scheduler || current.persistence !== s.persistence) report.changed.push(k);
  }
  const t = next.director.timeouts;
  admin.setTimeouts({ tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp });
  return report;
}
