// IP-in-IP and IPv6-in-IPv6 decapsulation in user space, for real servers of a tun service
// (no ipip or ip6_tunnel module is assumed): packets from the raw protocol-4 socket lose their
// outer header in place and leave, from the same slot, through the agent's TUN device, which
// holds the VIP, so the kernel receives them as if they had arrived there. The raw IPv6 socket
// (next header 41) gives the inner packet behind the outer source address (the addon's
// 16-byte prefix). Only listed directors may tunnel to us, and only packets for this host's
// VIPs come out: the tunnel is no way into anything else here.

import type { FrameHandler, PacketEngine } from '../io/engine.js';
import { readIpv4 } from '../packet/address.js';
import { IPV6_BYTES, includes6, type Ipv6 } from '../packet/address6.js';
import { PROTO_IPIP } from '../packet/ipv4.js';
import { IPV6_HEADER } from '../packet/ipv6.js';

export const RAW_PORT = 0;
export const TUN_PORT = 1;
/** The raw IPv6 socket, when the host has an IPv6 VIP. */
export const RAW6_PORT = 2;

/** IPv6 directors and VIPs: few, so a list compared byte by byte. */
export interface Decap6 {
  directors: readonly Ipv6[];
  vips: readonly Ipv6[];
}

export const DECAP_COUNTERS = ['decapsulated', 'not_ipip', 'malformed', 'foreign_director', 'not_for_vip', 'from_tun'] as const;
export type DecapCounters = Record<(typeof DECAP_COUNTERS)[number], number>;

export class Decapsulator implements FrameHandler {
  readonly counters: DecapCounters = { decapsulated: 0, not_ipip: 0, malformed: 0, foreign_director: 0, not_for_vip: 0, from_tun: 0 };

  constructor(
    private readonly engine: PacketEngine,
    /** Outer source addresses allowed to tunnel to us; empty allows any. */
    private readonly directors: ReadonlySet<number>,
    /** This host's VIPs: the only inner destinations let through. */
    private readonly vips: ReadonlySet<number>,
    private readonly six: Decap6 = { directors: [], vips: [] },
  ) {}

  /** A director list of either family limits both: an IPv4-only list lets no IPv6 tunnel in. */
  private get anyDirector(): boolean {
    return this.directors.size === 0 && this.six.directors.length === 0;
  }

  receive(port: number, slot: number, offset: number, length: number): void {
    const e = this.engine;
    if (port === RAW6_PORT) return this.receive6(slot, offset, length);
    if (port !== RAW_PORT) {
      this.counters.from_tun++; // the kernel routed something into the VIP device: nothing to do
      return e.release(slot);
    }
    const b = e.bytes;
    const at = e.slotOffset(slot) + offset;
    const ihl = (b[at] & 0x0f) * 4;
    if (length < 40 || b[at] >> 4 !== 4 || ihl < 20 || length < ihl + 20) {
      this.counters.malformed++;
      return e.release(slot);
    }
    if (b[at + 9] !== PROTO_IPIP) {
      this.counters.not_ipip++;
      return e.release(slot);
    }
    if (!this.anyDirector && !this.directors.has(readIpv4(b, at + 12))) {
      this.counters.foreign_director++;
      return e.release(slot);
    }
    const inner = at + ihl;
    const innerLength = (b[inner + 2] << 8) | b[inner + 3];
    if (b[inner] >> 4 !== 4 || innerLength < 20 || innerLength > length - ihl) {
      this.counters.malformed++;
      return e.release(slot);
    }
    if (!this.vips.has(readIpv4(b, inner + 16))) {
      this.counters.not_for_vip++;
      return e.release(slot);
    }
    this.counters.decapsulated++;
    e.transmit(TUN_PORT, slot, offset + ihl, innerLength);
  }

  /** [outer source (16 bytes)][inner IPv6 packet], from the raw IPv6 socket. */
  private receive6(slot: number, offset: number, length: number): void {
    const e = this.engine;
    const b = e.bytes;
    const at = e.slotOffset(slot) + offset;
    const inner = at + IPV6_BYTES;
    const available = length - IPV6_BYTES;
    if (available < IPV6_HEADER || b[inner] >> 4 !== 6) {
      this.counters.malformed++;
      return e.release(slot);
    }
    if (!this.anyDirector && !includes6(this.six.directors, b, at)) {
      this.counters.foreign_director++;
      return e.release(slot);
    }
    const innerLength = IPV6_HEADER + ((b[inner + 4] << 8) | b[inner + 5]);
    if (innerLength > available) {
      this.counters.malformed++;
      return e.release(slot);
    }
    if (!includes6(this.six.vips, b, inner + 24)) {
      this.counters.not_for_vip++;
      return e.release(slot);
    }
    this.counters.decapsulated++;
    e.transmit(TUN_PORT, slot, offset + IPV6_BYTES, innerLength);
  }
}
