// Per-packet tracing: for packets that match a watcher's filter, every decision the router
// and the director make, streamed as one JSON line per packet. Kernel IPVS cannot say why it
// chose a server; tapvs can. The router holds a tracer only while someone watches, so the
// fast path pays one null check per frame otherwise.

import { formatIpv4, parseCidr, prefixMask, readIpv4 } from '../packet/address.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { PortsView, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TcpView } from '../packet/transport.js';

export interface TraceFilter {
  network: number;
  mask: number;
  /** 0 matches any port. */
  port: number;
}

/** "ADDR[/LEN][:PORT]", or empty for everything. Throws on anything else. */
export function parseTraceFilter(text: string | undefined): TraceFilter {
  if (!text) return { network: 0, mask: 0, port: 0 };
  const m = /^([^:]+?)(?::(\d{1,5}))?$/.exec(text);
  const cidr = m ? parseCidr(m[1]) : null;
  if (!m || !cidr || (m[2] !== undefined && Number(m[2]) > 65535)) throw new Error(`trace: '${text}' is not ADDR[/LEN][:PORT], e.g. 10.0.0.0/24:80`);
  const mask = prefixMask(cidr.length);
  return { network: (cidr.address & mask) >>> 0, mask, port: m[2] === undefined ? 0 : Number(m[2]) };
}

export interface TraceRecord {
  time: string;
  iface: string;
  packet: string;
  decisions: string[];
}

interface Watcher {
  filter: TraceFilter;
  send(record: TraceRecord): void;
}

const PROTO_NAMES: Record<number, string> = { 1: 'ICMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP' };

export class PacketTracer {
  /** True while the current frame matches some watcher: decision points check it. */
  on = false;
  private decisions: string[] = [];
  private packet = '';
  private iface = '';
  private watchers = new Set<Watcher>();
  private matched: Watcher[] = [];
  private src = 0;
  private dst = 0;
  private sport = 0;
  private dport = 0;
  private readonly ports = new PortsView();
  private readonly tcp = new TcpView();

  get watching(): boolean {
    return this.watchers.size > 0;
  }

  watch(filter: TraceFilter, send: (r: TraceRecord) => void): () => void {
    const w: Watcher = { filter, send };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /** Looks at a frame before the router does; decides whether this one is traced. */
  begin(b: Uint8Array, at: number, length: number, iface: string): void {
    this.on = false;
    if (length < ETH_HEADER + 20 || ((b[at + 12] << 8) | b[at + 13]) !== 0x0800) return;
    const ip = at + ETH_HEADER;
    this.src = readIpv4(b, ip + 12);
    this.dst = readIpv4(b, ip + 16);
    const proto = b[ip + 9];
    const l4 = ip + (b[ip] & 0x0f) * 4;
    const ports = (proto === 6 || proto === 17) && l4 + 4 <= at + length;
    const view = this.ports.point(b, l4);
    this.sport = ports ? view.srcPort : 0;
    this.dport = ports ? view.dstPort : 0;
    this.matched = [...this.watchers].filter((w) => this.matches(w.filter));
    if (this.matched.length === 0) return;
    this.on = true;
    this.iface = iface;
    this.decisions = [];
    let flags = '';
    if (proto === 6 && l4 + 14 <= at + length) {
      const f = this.tcp.point(b, l4).flags;
      flags = ` [${f & TCP_SYN ? 'S' : ''}${f & TCP_FIN ? 'F' : ''}${f & TCP_RST ? 'R' : ''}${f & TCP_PSH ? 'P' : ''}${f & TCP_ACK ? '.' : ''}]`;
    }
    const ep = (a: number, p: number) => (ports ? `${formatIpv4(a)}:${p}` : formatIpv4(a));
    this.packet = `${PROTO_NAMES[proto] ?? `proto ${proto}`} ${ep(this.src, this.sport)} > ${ep(this.dst, this.dport)}${flags} ttl ${b[ip + 8]} len ${(b[ip + 2] << 8) | b[ip + 3]}`;
  }

  private matches(f: TraceFilter): boolean {
    const inNet = (a: number) => ((a & f.mask) >>> 0) === f.network;
    const portOk = (p: number) => f.port === 0 || p === f.port;
    return (inNet(this.src) && portOk(this.sport)) || (inNet(this.dst) && portOk(this.dport));
  }

  note(decision: string): void {
    this.decisions.push(decision);
  }

  end(): void {
    if (!this.on) return;
    this.on = false;
    const record: TraceRecord = { time: new Date().toISOString(), iface: this.iface, packet: this.packet, decisions: this.decisions };
    for (const w of this.matched) w.send(record);
  }
}

/** One line for a terminal. */
export function formatTraceRecord(r: TraceRecord): string {
  return `${r.time.slice(11, 23)} ${r.iface} ${r.packet}\n    ${r.decisions.join('\n    ')}`;
}
