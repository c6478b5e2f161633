// Per-packet tracing: for packets that match a watcher's filter, every decision the router
// and the director make, streamed as one JSON line per packet. Kernel IPVS cannot say why it
// chose a server; tapvs can. The router holds a tracer only while someone watches, so the
// fast path pays one null check per frame otherwise.

import { formatIpv4, parseCidr, prefixMask, readIpv4 } from '../packet/address.js';
import { IPV6_BYTES, formatIpv6, inPrefix6, parseCidr6, type Ipv6 } from '../packet/address6.js';
import { ChainVerdict, ETHERTYPE_IPV6, IPV6_HEADER, Ipv6Chain, walkChain } from '../packet/ipv6.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { PortsView, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TcpView } from '../packet/transport.js';

export interface TraceFilter {
  /** Which packets: 0 both families (an empty filter), 4 or 6. */
  family: 0 | 4 | 6;
  network: number;
  mask: number;
  /** An IPv6 filter's prefix. */
  network6: Ipv6 | null;
  length6: number;
  /** 0 matches any port. */
  port: number;
}

/** "ADDR[/LEN][:PORT]" (IPv6 as "[ADDR[/LEN]]:PORT" or bare without a port), or empty for everything. Throws on anything else. */
export function parseTraceFilter(text: string | undefined): TraceFilter {
  const any: TraceFilter = { family: 0, network: 0, mask: 0, network6: null, length6: 0, port: 0 };
  if (!text) return any;
  const bad = new Error(`trace: '${text}' is not ADDR[/LEN][:PORT], e.g. 10.0.0.0/24:80 or [2001:db8::/64]:80`);
  // IPv6 in brackets, or bare with two colons at least (10.0.0.2:80 is IPv4 and a port).
  const m6 = /^\[([^\]]+)\](?::(\d{1,5}))?$|^([0-9a-fA-F.]*:[0-9a-fA-F.]*:[0-9a-fA-F:.]*(?:\/\d{1,3})?)$/.exec(text);
  if (m6) {
    const prefix = m6[1] ?? m6[3];
    const cidr = parseCidr6(prefix.includes('/') ? prefix : `${prefix}/128`);
    if (!cidr || (m6[2] !== undefined && Number(m6[2]) > 65535)) throw bad;
    return { ...any, family: 6, network6: cidr.address, length6: cidr.length, port: m6[2] === undefined ? 0 : Number(m6[2]) };
  }
  const m = /^([^:]+?)(?::(\d{1,5}))?$/.exec(text);
  const cidr = m ? parseCidr(m[1]) : null;
  if (!m || !cidr || (m[2] !== undefined && Number(m[2]) > 65535)) throw bad;
  const mask = prefixMask(cidr.length);
  return { ...any, family: 4, network: (cidr.address & mask) >>> 0, mask, port: m[2] === undefined ? 0 : Number(m[2]) };
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

const PROTO_NAMES: Record<number, string> = { 1: 'ICMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP', 41: 'IPv6', 58: 'ICMPv6' };

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
  private family: 4 | 6 = 4;
  private readonly src6 = new Uint8Array(IPV6_BYTES);
  private readonly dst6 = new Uint8Array(IPV6_BYTES);
  private readonly chain = new Ipv6Chain();
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
    const type = (b[at + 12] << 8) | b[at + 13];
    const ip = at + ETH_HEADER;
    let proto: number, l4: number, hops: number, ipLength: number;
    if (type === 0x0800 && length >= ETH_HEADER + 20) {
      this.family = 4;
      this.src = readIpv4(b, ip + 12);
      this.dst = readIpv4(b, ip + 16);
      proto = b[ip + 9];
      l4 = ip + (b[ip] & 0x0f) * 4;
      hops = b[ip + 8];
      ipLength = (b[ip + 2] << 8) | b[ip + 3];
    } else if (type === ETHERTYPE_IPV6 && length >= ETH_HEADER + IPV6_HEADER) {
      this.family = 6;
      this.src6.set(b.subarray(ip + 8, ip + 24));
      this.dst6.set(b.subarray(ip + 24, ip + 40));
      // The upper layer past the extension headers (a bounded walk); a broken chain is traced as its first header.
      const walked = walkChain(b, ip, at + length, this.chain) === ChainVerdict.Ok;
      proto = walked ? this.chain.protocol : b[ip + 6];
      l4 = walked ? this.chain.offset : ip + IPV6_HEADER;
      hops = b[ip + 7];
      ipLength = IPV6_HEADER + ((b[ip + 4] << 8) | b[ip + 5]);
    } else return;
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
    const six = this.family === 6;
    const ep = (a: number, a6: Ipv6, p: number) => (six ? (ports ? `[${formatIpv6(a6)}]:${p}` : formatIpv6(a6)) : ports ? `${formatIpv4(a)}:${p}` : formatIpv4(a));
    this.packet = `${PROTO_NAMES[proto] ?? `proto ${proto}`} ${ep(this.src, this.src6, this.sport)} > ${ep(this.dst, this.dst6, this.dport)}${flags} ${six ? 'hlim' : 'ttl'} ${hops} len ${ipLength}`;
  }

  private matches(f: TraceFilter): boolean {
    if (f.family !== 0 && f.family !== this.family) return false;
    const six = this.family === 6;
    const inNet = (a: number, a6: Ipv6) => f.family === 0 || (six ? inPrefix6(a6, 0, f.network6!, f.length6) : ((a & f.mask) >>> 0) === f.network);
    const portOk = (p: number) => f.port === 0 || p === f.port;
    return (inNet(this.src, this.src6) && portOk(this.sport)) || (inNet(this.dst, this.dst6) && portOk(this.dport));
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
