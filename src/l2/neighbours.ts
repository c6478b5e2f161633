// The neighbour (ARP) cache of one interface: states with timers, and a bounded queue of
// frames waiting for resolution. It decides; the router sends (see Router.neighbourEvents).

import type { Ipv4 } from '../packet/address.js';

export const enum NeighbourState {
  /** Requests sent, no answer yet; frames wait in `pending`. */
  Incomplete,
  /** Confirmed by an ARP packet from it within reachableMs. */
  Reachable,
  /** Not confirmed lately: still used, and re-probed when used. */
  Stale,
}

export interface NeighbourTimers {
  /** Reachable for this long after confirmation (Linux: base_reachable_time 30 s). */
  reachableMs: number;
  /** Time between requests while resolving or probing. */
  retransmitMs: number;
  /** Requests without an answer before the neighbour is given up. */
  maxProbes: number;
  /** A stale entry unused this long is forgotten. */
  staleGcMs: number;
  /** Frames queued per unresolved neighbour (oldest dropped first). */
  queuePerNeighbour: number;
  /** Entries per interface; new ones beyond it are refused (counted). */
  maxEntries: number;
}

export const DEFAULT_NEIGHBOUR_TIMERS: NeighbourTimers = {
  reachableMs: 30_000,
  retransmitMs: 1_000,
  maxProbes: 3,
  staleGcMs: 60_000,
  queuePerNeighbour: 16,
  maxEntries: 4096,
};

/** A frame parked in a slot until its next hop resolves. */
export interface PendingFrame {
  slot: number;
  offset: number;
  length: number;
}

export class Neighbour {
  state = NeighbourState.Incomplete;
  readonly mac = new Uint8Array(6);
  confirmedAt = 0;
  usedAt = 0;
  /** Requests sent since the last confirmation; 0 when not probing. */
  probes = 0;
  nextProbeAt = 0;
  readonly pending: PendingFrame[] = [];
  constructor(readonly ip: Ipv4) {}
}

export class NeighbourTable {
  private readonly entries = new Map<Ipv4, Neighbour>();
  constructor(readonly timers: NeighbourTimers) {}

  get size(): number {
    return this.entries.size;
  }
  get(ip: Ipv4): Neighbour | undefined {
    return this.entries.get(ip);
  }
  /** A new incomplete entry, or null when the table is full. */
  create(ip: Ipv4): Neighbour | null {
    if (this.entries.size >= this.timers.maxEntries) return null;
    const n = new Neighbour(ip);
    this.entries.set(ip, n);
    return n;
  }
  delete(ip: Ipv4): void {
    this.entries.delete(ip);
  }
  /** An ARP packet from `ip` proved its MAC. */
  confirm(n: Neighbour, mac: Uint8Array, macOffset: number, now: number): void {
    for (let i = 0; i < 6; i++) n.mac[i] = mac[macOffset + i];
    n.state = NeighbourState.Reachable;
    n.confirmedAt = now;
    n.probes = 0;
  }
  values(): IterableIterator<Neighbour> {
    return this.entries.values();
  }
}
