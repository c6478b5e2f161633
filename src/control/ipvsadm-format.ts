// ipvsadm's output formats, column for column, from the control socket's plain data.

import type { ConnView, DestView, ListView, ServiceView, Timeouts } from './admin.js';
import { addressPort, isIpv6Text, parseIpv6 } from '../packet/address6.js';
import type { ListOptions } from './ipvsadm-args.js';

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

/** ipvsadm's print_largenum: 9 columns, scaled with K/M/G/T unless --exact. */
export function largeNumber(n: number, exact: boolean): string {
  if (exact) {
    const s = String(n);
    return lpad(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (n < 1e8) return lpad(n, 9);
  if (n < 1e9) return `${lpad(Math.floor(n / 1e3), 8)}K`;
  if (n < 1e11) return `${lpad(Math.floor(n / 1e6), 8)}M`;
  if (n < 1e14) return `${lpad(Math.floor(n / 1e9), 8)}G`;
  return `${lpad(Math.floor(n / 1e12), 8)}T`;
}

// As ipvsadm, an IPv4 name is cut to its column; an IPv6 one is never cut.
function serviceName(s: ServiceView): string {
  const ipv6 = isIpv6Text(s.vip);
  if (s.fwmark) return `FWM  ${s.fwmark}${ipv6 ? ' IPv6' : ''}`;
  const name = `${s.protocol === 'tcp' ? 'TCP' : 'UDP'}  ${addressPort(s.vip, s.port)}`;
  return ipv6 ? name : name.slice(0, 33);
}

const destName = (d: DestView) => (isIpv6Text(d.address) ? addressPort(d.address, d.port) : `${d.address}:${d.port}`.slice(0, 28));

/** The netmask a persistent service shows, or null for the whole address (255.255.255.255, or 128 for IPv6). */
const shownNetmask = (s: ServiceView): string | null => (s.netmask === (isIpv6Text(s.vip) ? '128' : '255.255.255.255') ? null : s.netmask);

function title(o: ListOptions): string {
  const head = (cols: string[], w: number[]) => `${pad('Prot LocalAddress:Port', 33)} ${cols.map((c, i) => (w[i] > 0 ? lpad(c, w[i]) : pad(c, -w[i]))).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (o.stats) return head(['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'], [8, 8, 8, 8, 8]);
  if (o.rate) return head(['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'], [8, 8, 8, 8, 8]);
  if (o.thresholds) return head(['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'], [-10, -10, -10, -10]);
  if (o.persistentConn) return head(['Weight', 'PersistConn', 'ActiveConn', 'InActConn'], [-9, -11, -10, -10]);
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

function serviceLine(s: ServiceView, o: ListOptions): string {
  const name = serviceName(s);
  if (o.stats) return pad(name, 33) + [s.stats.conns, s.stats.inPackets, s.stats.outPackets, s.stats.inBytes, s.stats.outBytes].map((n) => largeNumber(n, o.exact)).join('');
  if (o.rate) return pad(name, 33) + [s.rates.cps, s.rates.inpps, s.rates.outpps, s.rates.inbps, s.rates.outbps].map((n) => largeNumber(n, o.exact)).join('');
  let line = `${name} ${s.scheduler}`;
  if (s.persistence) {
    line += ` persistent ${s.persistence}`;
    if (shownNetmask(s) !== null) line += ` mask ${s.netmask}`;
    if (s.pe) line += ` pe ${s.pe}`;
  }
  if (s.onePacket) line += ' ops';
  if (s.flags.length) line += ` (${s.flags.join(',')})`;
  return line;
}

function destLine(d: DestView, o: ListOptions): string {
  const name = destName(d);
  if (o.stats) return `  -> ${pad(name, 28)}${[d.stats.conns, d.stats.inPackets, d.stats.outPackets, d.stats.inBytes, d.stats.outBytes].map((n) => largeNumber(n, o.exact)).join('')}`;
  if (o.rate) return `  -> ${pad(name, 28)} ${lpad(d.rates.cps, 8)} ${lpad(d.rates.inpps, 8)} ${lpad(d.rates.outpps, 8)}${largeNumber(d.rates.inbps, o.exact)}${largeNumber(d.rates.outbps, o.exact)}`;
  if (o.thresholds) return `  -> ${pad(name, 28)} ${pad(d.upperThreshold, 10)} ${pad(d.lowerThreshold, 10)} ${pad(d.activeConns, 10)} ${pad(d.inactConns, 10)}`;
  if (o.persistentConn) return `  -> ${pad(name, 28)} ${pad(d.weight, 9)} ${pad(d.persistConns, 11)} ${pad(d.activeConns, 10)} ${pad(d.inactConns, 10)}`;
  return `  -> ${pad(name, 28)} ${pad(d.forward, 7)} ${pad(d.weight, 6)} ${pad(d.activeConns, 10)} ${pad(d.inactConns, 10)}`;
}

/** Orders addresses of either family: IPv4 first, each by value. */
function compareAddresses(a: string, b: string): number {
  const a6 = isIpv6Text(a), b6 = isIpv6Text(b);
  if (a6 !== b6) return a6 ? 1 : -1;
  if (!a6) return ipNum(a) - ipNum(b);
  const x = parseIpv6(a)!, y = parseIpv6(b)!;
  for (let i = 0; i < 16; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

const ipNum = (a: string) => a.split('.').reduce((n, x) => n * 256 + Number(x), 0);

/** ipvsadm's order: services by protocol, address, port (fwmark last); servers by address, port. */
function sorted(view: ListView): ServiceView[] {
  const protoRank = (s: ServiceView) => (s.fwmark ? 2 : s.protocol === 'tcp' ? 0 : 1);
  return [...view.services]
    .sort((a, b) => protoRank(a) - protoRank(b) || a.fwmark - b.fwmark || compareAddresses(a.vip, b.vip) || a.port - b.port)
    .map((s) => ({ ...s, dests: [...s.dests].sort((x, y) => compareAddresses(x.address, y.address) || x.port - y.port) }));
}

export function formatList(view: ListView, o: ListOptions, only?: ServiceView): string {
  const services = only ? [only] : sorted(view); // ipvsadm sorts by default; --sort is accepted
  let out = only ? '' : `IP Virtual Server version ${view.version} (size=${view.size})\n`;
  out += title(o);
  for (const s of services) {
    out += `${serviceLine(s, o)}\n`;
    for (const d of s.dests) out += `${destLine(d, o)}\n`;
  }
  return out;
}

/** ipvsadm -S: the rules, replayable by -R. */
export function formatSave(view: ListView): string {
  let out = '';
  for (const s of sorted(view)) {
    const name = s.fwmark ? `-f ${s.fwmark}${isIpv6Text(s.vip) ? ' -6' : ''}` : `${s.protocol === 'tcp' ? '-t' : '-u'} ${addressPort(s.vip, s.port)}`;
    let line = `-A ${name} -s ${s.scheduler}`;
    if (s.persistence) {
      line += ` -p ${s.persistence}`;
      if (shownNetmask(s) !== null) line += ` -M ${s.netmask}`;
      if (s.pe) line += ` --pe ${s.pe}`;
    }
    if (s.onePacket) line += ' -o';
    if (s.flags.length) line += ` -b ${s.flags.join(',')}`;
    out += `${line}\n`;
    for (const d of s.dests) {
      const sw = d.method === 'nat' ? '-m' : d.method === 'tun' ? '-i' : '-g';
      let dl = `-a ${name} -r ${addressPort(d.address, d.port)} ${sw} -w ${d.weight}`;
      if (d.upperThreshold) dl += ` -x ${d.upperThreshold}`;
      if (d.lowerThreshold) dl += ` -y ${d.lowerThreshold}`;
      out += `${dl}\n`;
    }
  }
  return out;
}

export const CONNECTIONS_HEADER = `IPVS connection entries\npro expire ${pad('state', 11)} ${pad('source', 18)} ${pad('virtual', 18)} destination\n`;

export function formatConnections(conns: ConnView[]): string {
  return CONNECTIONS_HEADER + formatConnectionRows(conns);
}

/** Lines of -L -c without its header: one page of a paged listing. */
export function formatConnectionRows(conns: ConnView[]): string {
  let out = '';
  for (const c of conns) {
    const mm = String(Math.floor(c.expiresS / 60)).padStart(2, '0');
    const ss = String(c.expiresS % 60).padStart(2, '0');
    out += `${pad(c.protocol, 3)} ${mm}:${ss}  ${pad(c.state, 11)} ${pad(c.client, 18)} ${pad(c.virtual, 18)} ${c.destination}\n`;
  }
  return out;
}

export const formatTimeout = (t: Timeouts) => `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;

/** What `tapvsadm -L --daemon` shows: the sync daemons (src/ha/), then the VRRP instances. */
export interface DaemonView {
  sync: { master: boolean; backup: boolean; iface: string; syncid: number; maxlen: number; peer: string | null; sending: boolean; resync: { state: string; ms: number | null; entries: number | null } } | null;
  vrrp: { name: string; iface: string; vrid: number; state: string; priority: number; transitions: number; master: string | null; holding: boolean }[];
}

/** ipvsadm's daemon lines (as ipvsadm 1.29+ prints them), then one line per VRRP instance. */
export function formatDaemons(v: DaemonView): string {
  const lines: string[] = [];
  const s = v.sync;
  if (s) {
    const where = `mcast=${s.iface}, syncid=${s.syncid}, maxlen=${s.maxlen}, ${s.peer ? `peer=${s.peer}` : 'group=224.0.0.81'}, port=8848, ttl=1`;
    if (s.master) lines.push(`master sync daemon (${where})`);
    if (s.backup) lines.push(`backup sync daemon (${where})`);
  }
  for (const r of v.vrrp) {
    const master = r.state === 'MASTER' ? '' : `, master ${r.master ?? 'unknown'}`;
    lines.push(`vrrp instance ${r.name} (${r.iface}, vrid ${r.vrid}, priority ${r.priority}): ${r.state}${master}${r.holding ? ', waiting for the table' : ''}, ${r.transitions} transitions`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
