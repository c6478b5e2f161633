// The neighbour (ARP) cache of one interface: states with timers, and a bounded queue of
// frames waiting for resolution. It decides; the router sends (see Router.neighbourEvents).

import type { Ipv4 } from '../packet/address.js';
import { getLe16, getLe32 } from '../packet/bytes.js';
import { KeyedU32Map } from '../util/u32map.js';

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
  /** Entries per interface; a new one beyond it evicts an old one (stale or unresolved first). */
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
  /** The same MAC as the fast path writes it into a frame's words: its first four bytes and its last two, little-endian (bytes.ts getLe32, getLe16). */
  macHead = 0;
  macTail = 0;
  confirmedAt = 0;
  usedAt = 0;
  /** Requests sent since the last confirmation; 0 when not probing. */
  probes = 0;
  nextProbeAt = 0;
  readonly pending: PendingFrame[] = [];
  constructor(readonly ip: Ipv4) {}
}

/** Entries looked at, from the eviction hand on, for a stale or unresolved one to evict. */
const EVICTION_SCAN = 32;

export class NeighbourTable {
  /** Address to entry number; entries are few, long-lived objects (not per-frame state). */
  /** Keyed: a scan chooses the addresses that land here. */
  readonly index = new KeyedU32Map(16);
  /** Read-only outside, as is index: the fast path does get() itself, without a call through the table. */
  readonly entries: (Neighbour | undefined)[] = [];
  private readonly freeIds: number[] = [];
  constructor(public timers: NeighbourTimers) {}

  /** New timers (a reload): entries keep their state and follow the new ones from now on. */
  setTimers(timers: NeighbourTimers): void {
    this.timers = timers;
  }

  get size(): number {
    return this.index.size;
  }
  get(ip: Ipv4): Neighbour | undefined {
    const id = this.index.get(ip);
    return id < 0 ? undefined : this.entries[id];
  }
  /**
   * The entry create() last evicted to make room, or null: the caller releases what waited on
   * it. A full table never refuses a neighbour (a scan must not lock out real hosts).
   */
  evicted: Neighbour | null = null;
  private hand = 0;

  /** A new incomplete entry; when the table is full, an old entry makes room (see `evicted`). */
  create(ip: Ipv4): Neighbour {
    this.evicted = null;
    if (this.index.size >= this.timers.maxEntries) {
      const victim = this.victim();
      this.evicted = victim;
      this.delete(victim.ip);
    }
    const n = new Neighbour(ip);
    const id = this.freeIds.pop() ?? this.entries.length;
    this.entries[id] = n;
    this.index.set(ip, id);
    return n;
  }
  /**
   * Clock-hand choice, bounded work: the first stale entry within EVICTION_SCAN, else the
   * first unresolved one, else the entry under the hand. Confirmed neighbours go last.
   */
  private victim(): Neighbour {
    let unresolved: Neighbour | null = null;
    let first: Neighbour | null = null;
    const size = this.entries.length;
    for (let i = 0; i < EVICTION_SCAN || first === null; i++) {
      const n = this.entries[this.hand];
      this.hand = (this.hand + 1) % size;
      if (n === undefined) continue;
      if (n.state === NeighbourState.Stale) return n;
      if (n.state === NeighbourState.Incomplete) unresolved ??= n;
      first ??= n;
    }
    return unresolved ?? first;
  }

  delete(ip: Ipv4): void {
    const id = this.index.get(ip);
    if (id < 0) return;
    this.index.delete(ip);
    this.entries[id] = undefined;
    this.freeIds.push(id);
  }
  /** An ARP packet from `ip` proved its MAC. */
  confirm(n: Neighbour, mac: Uint8Array, macOffset: number, now: number): void {
    for (let i = 0; i < 6; i++) n.mac[i] = mac[macOffset + i];
    n.macHead = getLe32(n.mac, 0);
    n.macTail = getLe16(n.mac, 4);
    n.state = NeighbourState.Reachable;
    n.confirmedAt = now;
    n.probes = 0;
  }
  /** Every entry; deleting the current one while iterating is allowed. */
  *values(): IterableIterator<Neighbour> {
    for (let id = 0; id < this.entries.length; id++) {
      const n = this.entries[id];
      if (n !== undefined) yield n;
    }
  }
}
