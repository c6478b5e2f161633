// The scheduler interface: IPVS's names and semantics, one small module each.

import type { RealServer } from '../service.js';

/** What a scheduler may look at when choosing for a new connection. Reused, never allocated per packet. */
export interface SchedulingKey {
  caddr: number;
  cport: number;
  /** The packet's destination address (dh, lblc, lblcr schedule by it). */
  daddr: number;
}

export interface Scheduler {
  readonly name: string;
  /** The service's servers or weights changed: rebuild any lookup table. */
  update(dests: readonly RealServer[], flags: readonly string[]): void;
  /** A server for a new connection, or null when none is available. */
  pick(dests: readonly RealServer[], key: SchedulingKey): RealServer | null;
}

/** The load IPVS compares in lc and wlc: active connections weigh 256 inactive ones. */
export function overhead(d: RealServer): number {
  return d.activeConns * 256 + d.inactConns;
}

/** Picks the available server minimising cost(d)/weight(d), without division (IPVS's way). */
export function leastWeighted(dests: readonly RealServer[], cost: (d: RealServer) => number): RealServer | null {
  let best: RealServer | null = null;
  let bestCost = 0;
  for (const d of dests) {
    if (!d.available) continue;
    const c = cost(d);
    if (best === null || c * best.weight < bestCost * d.weight) {
      best = d;
      bestCost = c;
    }
  }
  return best;
}

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
