// ICMP errors about virtual-service traffic (seed 001). An error sent to a VIP quotes a
// packet a real server sent from the VIP; one from a NAT real server quotes the client's
// packet as the server saw it. Both are matched to their connection through the quoted
// packet and translated where NAT requires it.

import { ConnTable, NONE } from './conn-table.js';
import { rewriteAddressPort } from './nat-rewrite.js';
import { Method, type RealServer } from './service.js';
import { C } from '../l3/counters.js';
import { formatIpv4, readIpv4, writeIpv4 } from '../packet/address.js';
import { checksum } from '../packet/checksum.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { ICMP_REDIRECT, isIcmpError } from '../packet/icmp.js';
import { Ipv4View, PROTO_TCP, PROTO_UDP } from '../packet/ipv4.js';
import { PortsView } from '../packet/transport.js';
import { Verdict, type Router } from '../router.js';

/** Sends a packet to a real server by a forwarding method (the director's forwardTo). */
export type Forward = (d: RealServer, method: Method, slot: number, offset: number, at: number, frameLength: number) => Verdict;

export class VipIcmp {
  private readonly ip = new Ipv4View();
  private readonly outer = new Ipv4View();
  private readonly ports = new PortsView();

  constructor(
    private readonly b: Uint8Array,
    private readonly table: ConnTable,
    private readonly dests: RealServer[],
    private readonly router: Router,
    private readonly forward: Forward,
  ) {}

  /**
   * An ICMP error sent to a VIP quotes a packet a real server sent from the VIP (a router on
   * the client's path cannot tell the director from the server). Found through the quoted
   * packet's connection, it goes to that real server (for NAT, translated to its address).
   */
  inbound(slot: number, offset: number, at: number, frameLength: number): Verdict {
    const q = this.quoted(at);
    if (q === null) return Verdict.NotOurs; // not an error, or not about a connection: the router's business
    const b = this.b;
    // Quoted: VIP:vport -> client:cport, as the real server sent it.
    const e = this.table.lookupIn(q.protocol, readIpv4(b, q.ip + 16), q.dport, readIpv4(b, q.ip + 12), q.sport);
    if (e === NONE) {
      this.router.drop(slot, C.lvs_icmp_no_conn);
      return Verdict.Consumed;
    }
    const d = this.dests[this.table.dest(e)];
    const method = this.table.method(e);
    if (this.router.tracing) this.router.trace(`ICMP error for connection to ${formatIpv4(d.addr)}:${d.port}: sent there`);
    if (method === Method.Nat) {
      // The real server knows the connection by its own address and port.
      const ipAt = at + ETH_HEADER;
      writeIpv4(b, ipAt + 16, d.addr);
      this.rewriteQuoted(q, 12, 0, d.addr, this.table.dport[e]);
      this.ip.point(b, ipAt).updateChecksum();
    }
    this.router.stats[C.lvs_icmp_forwarded]++;
    // Translated already: from here a NAT error just needs routing to the server, as DR does.
    return this.forward(d, method === Method.Nat ? Method.Dr : method, slot, offset, at, frameLength);
  }

  /** ICMP from a NAT real server about a connection: the client must see the VIP. */
  outbound(at: number): boolean {
    const q = this.quoted(at);
    if (q === null) return false;
    const b = this.b;
    // Quoted: client:cport -> RIP:rport, as the client's packet reached the real server.
    const e = this.table.lookupOut(q.protocol, readIpv4(b, q.ip + 16), q.dport, readIpv4(b, q.ip + 12), q.sport);
    if (e === NONE) return false;
    const ipAt = at + ETH_HEADER;
    const vaddr = this.table.vaddr(e);
    writeIpv4(b, ipAt + 12, vaddr);
    this.rewriteQuoted(q, 16, 2, vaddr, this.table.vport(e));
    this.ip.point(b, ipAt).updateChecksum();
    if (this.router.tracing) this.router.trace(`ICMP error from a NAT real server: source becomes ${formatIpv4(vaddr)}`);
    return true;
  }

  private readonly q = { icmp: 0, icmpLength: 0, ip: 0, protocol: 0, l4: 0, l4Length: 0, sport: 0, dport: 0 };

  /** The packet an ICMP error at `at` quotes, if it quotes TCP or UDP with its ports; else null. */
  private quoted(at: number): typeof this.q | null {
    const b = this.b;
    const ip = this.ip.point(b, at + ETH_HEADER);
    if (ip.isFragment) return null;
    const icmp = ip.payloadOffset;
    const icmpLength = ip.totalLength - ip.headerLength;
    if (icmpLength < 8 + 20 + 8 || !isIcmpError(b[icmp]) || b[icmp] === ICMP_REDIRECT) return null;
    const qip = icmp + 8;
    const qihl = (b[qip] & 0x0f) * 4;
    const protocol = b[qip + 9];
    if (b[qip] >> 4 !== 4 || qihl < 20 || (protocol !== PROTO_TCP && protocol !== PROTO_UDP)) return null;
    const l4 = qip + qihl;
    const l4Length = icmp + icmpLength - l4;
    if (l4Length < 8) return null;
    const q = this.q;
    q.icmp = icmp;
    q.icmpLength = icmpLength;
    q.ip = qip;
    q.protocol = protocol;
    q.l4 = l4;
    q.l4Length = l4Length;
    const ports = this.ports.point(b, l4);
    q.sport = ports.srcPort;
    q.dport = ports.dstPort;
    return q;
  }

  /**
   * Rewrites one address and one port of the quoted packet, then its header checksum, its
   * transport checksum when quoted (RFC 1624), and the ICMP checksum over the whole message.
   */
  private rewriteQuoted(q: typeof this.q, addrField: number, portField: number, addr: number, port: number): void {
    const b = this.b;
    const sumAt = q.l4 + (q.protocol === PROTO_TCP ? 16 : 6);
    if (sumAt + 2 <= q.l4 + q.l4Length) {
      rewriteAddressPort(b, q.ip, q.l4, q.protocol, addrField, portField, addr, port);
    } else {
      writeIpv4(b, q.ip + addrField, addr);
      b[q.l4 + portField] = port >>> 8;
      b[q.l4 + portField + 1] = port & 0xff;
    }
    this.outer.point(b, q.ip).updateChecksum();
    b[q.icmp + 2] = b[q.icmp + 3] = 0;
    const c = checksum(b, q.icmp, q.icmpLength);
    b[q.icmp + 2] = c >>> 8;
    b[q.icmp + 3] = c & 0xff;
  }
}
