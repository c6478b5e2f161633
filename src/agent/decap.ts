// IP-in-IP decapsulation in user space, for real servers of a tun service (no ipip module is
// assumed): packets from the raw protocol-4 socket lose their outer header in place and leave,
// from the same slot, through the agent's TUN device, which holds the VIP, so the kernel
// receives them as if they had arrived there. Only listed directors may tunnel to us, and
// only packets for this host's VIPs come out: the tunnel is no way into anything else here.

import type { FrameHandler, PacketEngine } from '../io/engine.js';
import { readIpv4 } from '../packet/address.js';
import { PROTO_IPIP } from '../packet/ipv4.js';

export const RAW_PORT = 0;
export const TUN_PORT = 1;

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
  ) {}

  receive(port: number, slot: number, offset: number, length: number): void {
    const e = this.engine;
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
    if (this.directors.size && !this.directors.has(readIpv4(b, at + 12))) {
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
}
