// Metrics in Prometheus's text exposition format (version 0.0.4), served over HTTP on the
// address `control.metrics` names. Everything here is read from counters the router and the
// director keep anyway: a scrape costs a walk over services and ports, never the fast path.

import { createServer, type Server } from 'node:http';
import { serviceName, type ListView } from './admin.js';
import { addressPort } from '../packet/address6.js';

export interface MetricsSnapshot {
  router: Record<string, number>;
  engine: Record<string, number>;
  ports: { iface: string; counters: Record<string, number> }[];
  ipvs: ListView;
  table: { entries: number; capacity: number };
  defenseActive: Record<string, boolean>;
  /** VRRP instances and the sync daemon (src/ha/); sync messages and entries are router events. */
  ha: { vrrp: { name: string; vrid: number; state: string; transitions: number; priority: number }[]; resync: { state: string; ms: number | null; entries: number | null } | null };
}

const VRRP_STATES = ['INIT', 'BACKUP', 'MASTER'];

type Labels = Record<string, string>;

/** Builds one exposition: each family's HELP and TYPE once, then its samples. */
class Exposition {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();

  sample(name: string, type: 'counter' | 'gauge', help: string, labels: Labels, value: number): void {
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    }
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    this.lines.push(`${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(m: MetricsSnapshot): string {
  const out = new Exposition();
  for (const [event, n] of Object.entries(m.router)) {
    out.sample('tapvs_router_events_total', 'counter', 'Frames and packets by what the router did with them (every drop has a reason).', { event }, n);
  }
  for (const [event, n] of Object.entries(m.engine)) out.sample('tapvs_engine_events_total', 'counter', 'Ring and slot events in the packet engine.', { event }, n);
  for (const p of m.ports) {
    for (const [event, n] of Object.entries(p.counters)) out.sample('tapvs_port_events_total', 'counter', "Per-interface counters of the addon's port thread.", { iface: p.iface, event }, n);
  }
  out.sample('tapvs_connection_table_entries', 'gauge', 'Connections and persistence templates in the table.', {}, m.table.entries);
  out.sample('tapvs_connection_table_capacity', 'gauge', 'The connection table size (director.maxConnections).', {}, m.table.capacity);
  for (const [defense, on] of Object.entries(m.defenseActive)) out.sample('tapvs_defense_active', 'gauge', 'Whether a flood defence is acting now (1) or not (0).', { defense }, on ? 1 : 0);

  for (const s of m.ipvs.services) {
    const service = serviceName(s);
    out.sample('tapvs_service_connections_total', 'counter', 'Connections scheduled for a virtual service.', { service }, s.stats.conns);
    for (const [direction, packets, bytes] of [['in', s.stats.inPackets, s.stats.inBytes], ['out', s.stats.outPackets, s.stats.outBytes]] as const) {
      out.sample('tapvs_service_packets_total', 'counter', 'Packets of a virtual service (out: NAT replies; DR and TUN replies bypass the director).', { service, direction }, packets);
      out.sample('tapvs_service_bytes_total', 'counter', 'Bytes of a virtual service.', { service, direction }, bytes);
    }
    for (const d of s.dests) {
      const labels = { service, server: addressPort(d.address, d.port), forward: d.forward };
      out.sample('tapvs_real_server_weight', 'gauge', 'A real server\'s weight (0: no new connections).', labels, d.weight);
      out.sample('tapvs_real_server_active_connections', 'gauge', 'ESTABLISHED connections on a real server (ActiveConn).', labels, d.activeConns);
      out.sample('tapvs_real_server_inactive_connections', 'gauge', 'Other connections on a real server (InActConn).', labels, d.inactConns);
      out.sample('tapvs_real_server_connections_total', 'counter', 'Connections scheduled to a real server.', labels, d.stats.conns);
      for (const [direction, packets, bytes] of [['in', d.stats.inPackets, d.stats.inBytes], ['out', d.stats.outPackets, d.stats.outBytes]] as const) {
        out.sample('tapvs_real_server_packets_total', 'counter', 'Packets to (in) and from (out, NAT) a real server.', { ...labels, direction }, packets);
        out.sample('tapvs_real_server_bytes_total', 'counter', 'Bytes to (in) and from (out, NAT) a real server.', { ...labels, direction }, bytes);
      }
    }
  }
  for (const v of m.ha.vrrp) {
    const labels = { instance: v.name, vrid: String(v.vrid) };
    for (const state of VRRP_STATES) out.sample('tapvs_vrrp_state', 'gauge', 'The VRRP state of an instance: 1 for the state it is in.', { ...labels, state }, v.state === state ? 1 : 0);
    out.sample('tapvs_vrrp_transitions_total', 'counter', 'VRRP state changes of an instance.', labels, v.transitions);
    out.sample('tapvs_vrrp_priority', 'gauge', 'The VRRP priority an instance advertises.', labels, v.priority);
  }
  if (m.ha.resync) {
    out.sample('tapvs_sync_resync_done', 'gauge', 'Whether the bulk resync of a (re)joining director has ended (1: table received or none to get; 0: waiting or gave up).', {}, m.ha.resync.state === 'done' ? 1 : 0);
    out.sample('tapvs_sync_resync_seconds', 'gauge', 'How long the bulk resync took.', {}, (m.ha.resync.ms ?? 0) / 1000);
    out.sample('tapvs_sync_resync_entries', 'gauge', 'Entries the peer said its table held at the bulk resync.', {}, m.ha.resync.entries ?? 0);
  }
  const mem = process.memoryUsage();
  out.sample('tapvs_process_heap_used_bytes', 'gauge', 'V8 heap in use.', {}, mem.heapUsed);
  out.sample('tapvs_process_resident_bytes', 'gauge', 'Resident set size.', {}, mem.rss);
  return out.text();
}

/** Listens on "ADDR:PORT" and answers GET /metrics; anything else gets a 404 or 405. */
export function startMetricsServer(listen: string, snapshot: () => MetricsSnapshot): Promise<Server> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  const port = Number(listen.slice(at + 1));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('tapvs serves /metrics only\n');
    } else {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : renderMetrics(snapshot()));
    }
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 5_000;
  server.maxConnections = 32;
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`metrics: cannot listen on ${listen}: ${e.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}
