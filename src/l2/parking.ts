// Frames parked on unresolved next hops. Each waits in its neighbour's queue (per-neighbour
// cap), and all of them together are capped at a share of the slot pool: a scan of unused
// on-link addresses must not take the slots that every port needs to receive. Past the cap
// the oldest parked frame is dropped (counted), so new traffic to live hosts keeps moving.

import type { PendingFrame } from './neighbours.js';

/** What frames wait on: an ARP or an IPv6 neighbour entry. */
type Neighbour = { readonly pending: PendingFrame[] };

export class ArpParking {
  /** Frames parked now, over every neighbour of every interface. */
  count = 0;
  /** Neighbours in the order their queues became non-empty; emptied ones are skipped, then compacted. */
  private order: Neighbour[] = [];
  private head = 0;

  constructor(
    readonly cap: number,
    /** Releases a dropped frame's slot, counting it under the reason. */
    private readonly drop: (slot: number, reason: number) => void,
    private readonly reasons: { queueFull: number; overCap: number },
  ) {}

  park(n: Neighbour, slot: number, offset: number, length: number, perNeighbour: number): void {
    if (n.pending.length >= perNeighbour) this.dropOldestOf(n, this.reasons.queueFull);
    else if (this.count >= this.cap) this.dropOldest();
    if (n.pending.length === 0) this.order.push(n);
    n.pending.push({ slot, offset, length });
    this.count++;
  }

  /** The neighbour's frames leave (sent, or dropped by the caller): no longer parked. */
  unpark(n: Neighbour): void {
    this.count -= n.pending.length;
    n.pending.length = 0;
  }

  /** Drops everything parked on `n` (it was evicted, or gave up) under `reason`. */
  dropAll(n: Neighbour, reason: number): void {
    for (const f of n.pending) this.drop(f.slot, reason);
    this.unpark(n);
  }

  /** Timers: forget emptied queues, so the order list stays as long as what is parked. */
  compact(): void {
    if (this.head === 0 && this.order.length <= this.count) return;
    this.order = this.order.slice(this.head).filter((n) => n.pending.length > 0);
    this.head = 0;
  }

  private dropOldest(): void {
    while (this.head < this.order.length) {
      const n = this.order[this.head];
      if (n.pending.length > 0) {
        this.dropOldestOf(n, this.reasons.overCap);
        if (n.pending.length === 0) this.head++;
        return;
      }
      this.head++;
    }
  }

  private dropOldestOf(n: Neighbour, reason: number): void {
    this.drop(n.pending.shift()!.slot, reason);
    this.count--;
  }
}
