// The IPv6 neighbour cache of one interface (RFC 4861 7.3): the same states and timers as the
// ARP cache (l2/neighbours.ts), keyed by a keyed hash of the 16-byte address, each bucket a
// short list compared byte for byte, so colliding addresses only share a bucket.

import { IPV6_BYTES, ipv6Equals } from '../packet/address6.js';
import { keyedHash6 } from '../util/hash.js';
import { NeighbourState, type NeighbourTimers, type PendingFrame } from './neighbours.js';

export class Neighbour6 {
  state = NeighbourState.Incomplete;
  readonly ip = new Uint8Array(IPV6_BYTES);
  readonly mac = new Uint8Array(6);
  /** The neighbour said it is a router (NA's R flag). */
  isRouter = false;
  confirmedAt = 0;
  usedAt = 0;
  probes = 0;
  nextProbeAt = 0;
  /** RFC 4861 7.3.3 DELAY: used while stale, probed only if nothing confirms it meanwhile. */
  delayed = false;
  readonly pending: PendingFrame[] = [];
  constructor(b: Uint8Array, o: number) {
    for (let i = 0; i < IPV6_BYTES; i++) this.ip[i] = b[o + i];
  }
}

export class Neighbour6Table {
  private readonly buckets = new Map<number, Neighbour6[]>();
  private count = 0;
  /** The entry create() last evicted to make room, or null (see NeighbourTable.evicted). */
  evicted: Neighbour6 | null = null;

  constructor(public timers: NeighbourTimers) {}

  get size(): number {
    return this.count;
  }

  get(b: Uint8Array, o: number): Neighbour6 | undefined {
    const bucket = this.buckets.get(keyedHash6(b, o));
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) if (ipv6Equals(bucket[i].ip, 0, b, o)) return bucket[i];
    return undefined;
  }

  /** A new incomplete entry; a full table evicts a stale entry first, else an unresolved one, else any. */
  create(b: Uint8Array, o: number): Neighbour6 {
    this.evicted = null;
    if (this.count >= this.timers.maxEntries) {
      const victim = this.victim();
      this.evicted = victim;
      this.delete(victim);
    }
    const n = new Neighbour6(b, o);
    const h = keyedHash6(b, o);
    const bucket = this.buckets.get(h);
    if (bucket) bucket.push(n);
    else this.buckets.set(h, [n]);
    this.count++;
    return n;
  }

  /** Bounded: looks at no more than 32 entries (Map order: the oldest first). */
  private victim(): Neighbour6 {
    let unresolved: Neighbour6 | null = null;
    let first: Neighbour6 | null = null;
    let seen = 0;
    for (const bucket of this.buckets.values()) {
      for (const n of bucket) {
        if (n.state === NeighbourState.Stale) return n;
        if (n.state === NeighbourState.Incomplete) unresolved ??= n;
        first ??= n;
      }
      if (++seen >= 32) break;
    }
    return unresolved ?? first!;
  }

  delete(n: Neighbour6): void {
    const h = keyedHash6(n.ip, 0);
    const bucket = this.buckets.get(h);
    if (bucket === undefined) return;
    const i = bucket.indexOf(n);
    if (i < 0) return;
    bucket.splice(i, 1);
    if (bucket.length === 0) this.buckets.delete(h);
    this.count--;
  }

  /** A neighbour advertisement (or a solicitation's source option) gave its MAC. */
  learn(n: Neighbour6, b: Uint8Array, macAt: number, state: NeighbourState, now: number): void {
    for (let i = 0; i < 6; i++) n.mac[i] = b[macAt + i];
    n.state = state;
    if (state === NeighbourState.Reachable) n.confirmedAt = now;
    n.probes = 0;
    n.delayed = false;
  }

  /** Every entry; deleting the current one while iterating is allowed (each bucket is walked from its end). */
  *values(): IterableIterator<Neighbour6> {
    for (const bucket of this.buckets.values()) for (let i = bucket.length - 1; i >= 0; i--) yield bucket[i];
  }
}
