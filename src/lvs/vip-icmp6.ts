// ICMPv6 errors about virtual-service traffic, as vip-icmp.ts does for IPv4 (seed 001). An
// error sent to a VIP quotes a packet a real server sent from the VIP: it goes to that server
// (for NAT, translated to its address). One on its way from the real servers' side to a client
// quotes the client's packet as the NAT server saw it: the client must see the VIP. Packet Too
// Big is the one that matters: without it path-MTU discovery through the director fails.

import type { ConnTable } from './conn-table.js';
import { NONE } from './conn-table.js';
import { rewriteAddressPort6 } from './nat-rewrite.js';
import { Method, type RealServer } from './service.js';
import { C } from '../l3/counters.js';
import type { Link6 } from '../l3/ipv6-router.js';
import { IPV6_BYTES, formatIpv6 } from '../packet/address6.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { isIcmp6Error, putIcmp6Checksum } from '../packet/icmp6.js';
import { ChainVerdict, IPV6_HEADER, Ipv6Chain, NH_TCP, NH_UDP, walkChain } from '../packet/ipv6.js';
import { Verdict, type Router } from '../router.js';

/** Sends a packet to a real server by a forwarding method (the director's forwardTo, for IPv6). */
export type Forward6 = (ingress: Link6, d: RealServer, method: Method, slot: number, offset: number, at: number, frameLength: number) => Verdict;

const ICMP6_ERROR_HEADER = 8;

export class VipIcmp6 {
  private readonly chain = new Ipv6Chain();
  private readonly vip = new Uint8Array(IPV6_BYTES);
  /** The quoted packet: its header, its transport header and the quote's end; its protocol and ports. */
  private readonly q = { ip: 0, l4: 0, end: 0, protocol: 0, sport: 0, dport: 0 };

  constructor(
    private readonly b: Uint8Array,
    private readonly table: ConnTable,
    private readonly dests: RealServer[],
    private readonly router: Router,
    private readonly forward: Forward6,
  ) {}

  /** An ICMPv6 message for a VIP (at `icmpAt`): an error about a connection goes to its real server. */
  inbound(ingress: Link6, slot: number, offset: number, at: number, frameLength: number, icmpAt: number): Verdict {
    const end = at + frameLength;
    const q = this.quoted(icmpAt, end);
    if (q === null) return Verdict.NotOurs; // echo, neighbour discovery, or about nothing of ours: the router's
    const b = this.b;
    // Quoted: VIP:vport -> client:cport, as the real server sent it.
    const e = this.table.lookupIn6(q.protocol, b, q.ip + 24, q.dport, b, q.ip + 8, q.sport);
    if (e === NONE) {
      this.router.drop(slot, C.lvs_icmp_no_conn);
      return Verdict.Consumed;
    }
    const d = this.dests[this.table.dest(e)];
    const method = this.table.method(e);
    if (this.router.tracing) this.router.trace(`ICMPv6 error for connection to [${formatIpv6(d.addr6!)}]:${d.port}: sent there`);
    if (method === Method.Nat) {
      // The real server knows the connection by its own address and port.
      const ipAt = at + ETH_HEADER;
      b.set(d.addr6!, ipAt + 24);
      this.rewriteQuoted(8, 0, d.addr6!, this.table.dport[e]);
      putIcmp6Checksum(b, ipAt, icmpAt, end - icmpAt);
    }
    this.router.stats[C.lvs_icmp_forwarded]++;
    return this.forward(ingress, d, method === Method.Nat ? Method.Dr : method, slot, offset, at, frameLength);
  }

  /** An ICMPv6 error on its way to a client about its packet to a NAT server: the VIP, not the server, is named. */
  outbound(at: number, icmpAt: number, end: number): boolean {
    const q = this.quoted(icmpAt, end);
    if (q === null) return false;
    const b = this.b;
    // Quoted: client:cport -> RIP:rport, as the client's packet reached the real server.
    const e = this.table.lookupOut6(q.protocol, b, q.ip + 24, q.dport, b, q.ip + 8, q.sport);
    if (e === NONE) return false;
    const ipAt = at + ETH_HEADER;
    const vip = this.table.vaddr6(e, this.vip);
    b.set(vip, ipAt + 8);
    this.rewriteQuoted(24, 2, vip, this.table.vport(e));
    putIcmp6Checksum(b, ipAt, icmpAt, end - icmpAt);
    if (this.router.tracing) this.router.trace(`ICMPv6 error about a NAT connection: source and quote become [${formatIpv6(vip)}]`);
    return true;
  }

  /** The TCP or UDP packet an ICMPv6 error quotes (its ports at least), or null. */
  private quoted(icmpAt: number, end: number): typeof this.q | null {
    const b = this.b;
    const qip = icmpAt + ICMP6_ERROR_HEADER;
    if (end - qip < IPV6_HEADER + 8 || !isIcmp6Error(b[icmpAt]) || b[qip] >>> 4 !== 6) return null;
    const chain = this.chain;
    if (walkChain(b, qip, end, chain) !== ChainVerdict.Ok || chain.fragmentOffset !== 0) return null;
    if ((chain.protocol !== NH_TCP && chain.protocol !== NH_UDP) || chain.offset + 8 > end) return null;
    const q = this.q;
    q.ip = qip;
    q.l4 = chain.offset;
    q.end = end;
    q.protocol = chain.protocol;
    q.sport = (b[q.l4] << 8) | b[q.l4 + 1];
    q.dport = (b[q.l4 + 2] << 8) | b[q.l4 + 3];
    return q;
  }

  /** One address and port of the quoted packet, its transport checksum too when the quote holds it. */
  private rewriteQuoted(addrField: number, portField: number, addr: Uint8Array, port: number): void {
    const b = this.b;
    const q = this.q;
    const sumAt = q.l4 + (q.protocol === NH_TCP ? 16 : 6);
    if (sumAt + 2 <= q.end) return rewriteAddressPort6(b, q.ip, q.l4, q.protocol, addrField, portField, addr, 0, port);
    b.set(addr, q.ip + addrField);
    b[q.l4 + portField] = port >>> 8;
    b[q.l4 + portField + 1] = port & 0xff;
  }
}
