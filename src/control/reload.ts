// Reload: a new config's services, real servers and timeouts applied as a difference, so
// tracked connections carry on. Interface and route changes need a restart (and say so).

import type { Config, ServiceConfig } from './config.js';
import { Admin, type ServiceRef, type ServiceSpec } from './admin.js';
import { formatIpv4 } from '../packet/address.js';

export interface ReloadReport {
  added: string[];
  removed: string[];
  changed: string[];
  needsRestart: string[];
}

const ref = (s: ServiceConfig): ServiceRef => ({ protocol: s.protocol === 6 ? 'tcp' : s.protocol === 17 ? 'udp' : null, vip: formatIpv4(s.vip), port: s.port, fwmark: s.fwmark });
const name = (s: ServiceConfig) => (s.fwmark ? `FWM ${s.fwmark}` : `${s.protocol === 6 ? 'TCP' : 'UDP'} ${formatIpv4(s.vip)}:${s.port}`);
const spec = (s: ServiceConfig): ServiceSpec => ({
  ...ref(s),
  scheduler: s.scheduler,
  persistence: s.persistence,
  netmask: formatIpv4(s.netmask),
  onePacket: s.onePacket,
  flags: s.flags,
  members: s.members.map((m) => ({ protocol: m.protocol === 6 ? 'tcp' : 'udp', port: m.port })),
  iface: s.iface,
});

export function applyConfig(admin: Admin, old: Config, next: Config): ReloadReport {
  const report: ReloadReport = { added: [], removed: [], changed: [], needsRestart: [] };
  if (JSON.stringify(old.interfaces) !== JSON.stringify(next.interfaces)) report.needsRestart.push('interfaces');
  if (JSON.stringify(old.routes) !== JSON.stringify(next.routes)) report.needsRestart.push('routes');
  if (old.director.maxConnections !== next.director.maxConnections) report.needsRestart.push('director.maxConnections');

  const key = (s: ServiceConfig) => name(s);
  const before = new Map(old.services.map((s) => [key(s), s]));
  const after = new Map(next.services.map((s) => [key(s), s]));
  for (const [k, s] of before) {
    if (!after.has(k)) {
      admin.deleteService(ref(s));
      report.removed.push(k);
    }
  }
  for (const [k, s] of after) {
    const was = before.get(k);
    if (!was) {
      admin.addService(spec(s));
      for (const r of s.realServers) admin.addDest(ref(s), { ...r, address: formatIpv4(r.address) });
      report.added.push(k);
      continue;
    }
    if (JSON.stringify(was) === JSON.stringify(s)) continue;
    admin.editService(spec(s));
    const destKey = (r: { address: number; port: number }) => `${r.address}:${r.port}`;
    const oldDests = new Map(was.realServers.map((r) => [destKey(r), r]));
    const newDests = new Map(s.realServers.map((r) => [destKey(r), r]));
    for (const [dk, r] of oldDests) if (!newDests.has(dk)) admin.deleteDest(ref(s), { address: formatIpv4(r.address), port: r.port });
    for (const [dk, r] of newDests) {
      const d = { ...r, address: formatIpv4(r.address) };
      if (oldDests.has(dk)) admin.editDest(ref(s), d);
      else admin.addDest(ref(s), d);
    }
    report.changed.push(k);
  }
  const t = next.director.timeouts;
  admin.setTimeouts({ tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp });
  return report;
}
