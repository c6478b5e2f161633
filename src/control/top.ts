// `tapvs top`: one screen of what the director is doing, as `watch ipvsadm -L -n --rate` would
// show it plus what ipvsadm cannot: the table's fill, VRRP state and drops by reason. A pure
// function from two snapshots to lines that fit the terminal; the command refreshes it.

import type { ListView } from './admin.js';
import { addressPort } from '../packet/address6.js';
import type { DaemonView } from './ipvsadm-format.js';

export interface TopSnapshot {
  at: number;
  list: ListView;
  /** The counters op's reply: router counters by name, and the table's size. */
  counters: { router: Record<string, number>; director: { connections: number; capacity: number } };
  daemon: DaemonView;
}

/** Router counters that are work done, not drops: left out of "drops by reason". */
const WORK = new Set(['rx_frames', 'forwarded', 'delivered_local', 'lvs_in_packets', 'lvs_forwarded', 'lvs_conns_created', 'lvs_nat_out', 'icmp_echo_replied', 'arp_requests_answered', 'arp_requests_sent', 'icmp_errors_sent', 'tcp_resets_sent', 'fragmented', 'fragments_sent', 'vrrp_adverts_sent', 'vrrp_adverts_received', 'vrrp_transitions', 'sync_messages_sent', 'sync_messages_received', 'sync_entries_sent', 'sync_entries_received', 'lvs_icmp_forwarded']);

const si = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}K` : String(Math.round(n)));
const cut = (s: string, width: number) => (s.length > width ? `${s.slice(0, width - 1)}~` : s);

/** The screen for `now`, with rates against `before` (null on the first frame). */
export function renderTop(now: TopSnapshot, before: TopSnapshot | null, width = 80, height = 24): string[] {
  const seconds = before ? Math.max(0.001, (now.at - before.at) / 1000) : 0;
  const rate = (k: string) => (before ? Math.max(0, (now.counters.router[k] ?? 0) - (before.counters.router[k] ?? 0)) / seconds : 0);
  const d = now.counters.director;
  const vrrp = now.daemon.vrrp.map((v) => `${v.name} ${v.state}`).join(' ');
  const lines: string[] = [];
  lines.push(`tapvs top  ${new Date(now.at).toISOString().slice(11, 19)}  table ${si(d.connections)}/${si(d.capacity)} (${((100 * d.connections) / d.capacity).toFixed(1)}%)  in ${si(rate('rx_frames'))} fps${vrrp ? `  ${vrrp}` : ''}`);
  lines.push(`${'Prot LocalAddress:Port'.padEnd(30)}${'Sched'.padEnd(6)}${'CPS'.padStart(5)}${'InPPS'.padStart(8)}${'OutPPS'.padStart(8)}${'InBps'.padStart(7)}${'ActConn'.padStart(8)}${'InAct'.padStart(6)}`);
  const drops = Object.keys(now.counters.router)
    .filter((k) => !WORK.has(k) && rate(k) > 0)
    .sort((a, b) => rate(b) - rate(a));
  const footer = [`drops/s: ${drops.length ? drops.map((k) => `${k} ${si(rate(k))}`).join(', ') : 'none'}`, 'q quits'];
  const room = height - lines.length - footer.length;
  const body: string[] = [];
  for (const s of now.list.services) {
    const name = s.fwmark ? `FWM  ${s.fwmark}` : `${(s.protocol ?? "tcp").toUpperCase()}  ${addressPort(s.vip, s.port)}`;
    const act = s.dests.reduce((n, x) => n + x.activeConns, 0);
    const inact = s.dests.reduce((n, x) => n + x.inactConns, 0);
    body.push(`${name.padEnd(30)}${s.scheduler.padEnd(6)}${si(s.rates.cps).padStart(5)}${si(s.rates.inpps).padStart(8)}${si(s.rates.outpps).padStart(8)}${si(s.rates.inbps / 8).padStart(7)}${si(act).padStart(8)}${si(inact).padStart(6)}`);
    for (const x of s.dests) {
      const server = `  -> ${addressPort(x.address, x.port)} ${x.forward} w${x.weight}`;
      body.push(`${server.padEnd(36)}${si(x.rates.cps).padStart(5)}${si(x.rates.inpps).padStart(8)}${si(x.rates.outpps).padStart(8)}${si(x.rates.inbps / 8).padStart(7)}${si(x.activeConns).padStart(8)}${si(x.inactConns).padStart(6)}`);
    }
  }
  if (body.length > room) {
    const shown = body.slice(0, room - 1);
    shown.push(`... ${body.length - shown.length} more lines (a taller terminal shows them)`);
    lines.push(...shown);
  } else lines.push(...body, ...Array(room - body.length).fill(''));
  lines.push(...footer);
  return lines.map((l) => cut(l, width));
}
