// The hashing schedulers: sh (source), dh (destination), mh (Maglev), and the locality-based
// lblc and lblcr, which remember which server serves which destination address.

import type { RealServer } from '../service.js';
import { stableHash2 } from '../../util/hash.js';
import { gcd, leastWeighted, overhead, type Scheduler, type SchedulingKey } from './scheduler.js';

/** Stable, not keyed: every director must build the same tables from the same servers. */
const mix = (a: number, b = 0): number => stableHash2(a, b);

/**
 * The servers a hash table is built from, by address and port rather than by when each was
 * added: every director behind one VIP must build the same table, however its servers came
 * (config order, tapvsadm -a, a server removed and added again).
 */
const eligibleInAddressOrder = (dests: readonly RealServer[]): RealServer[] => dests.filter((d) => d.weight > 0 && !d.removed).sort((a, b) => a.addr - b.addr || a.port - b.port);

const SH_BUCKETS = 256;

/**
 * A 256-bucket table, each server holding as many consecutive buckets as its weight, in turn
 * (IPVS's sh/dh layout). Without fallback, a key whose server is unavailable gets none.
 */
class BucketHash implements Scheduler {
  private table: (RealServer | null)[] = new Array(SH_BUCKETS).fill(null);
  private fallback = false;
  private withPort = false;
  constructor(
    readonly name: 'sh' | 'dh',
    private readonly flagPrefix: string,
  ) {}
  update(dests: readonly RealServer[], flags: readonly string[]): void {
    this.fallback = flags.includes(`${this.flagPrefix}-fallback`);
    this.withPort = flags.includes(`${this.flagPrefix}-port`);
    const eligible = eligibleInAddressOrder(dests);
    let i = 0, used = 0;
    for (let b = 0; b < SH_BUCKETS; b++) {
      if (eligible.length === 0) {
        this.table[b] = null;
        continue;
      }
      const d = eligible[i % eligible.length];
      this.table[b] = d;
      if (++used >= d.weight) {
        used = 0;
        i++;
      }
    }
  }
  pick(_dests: readonly RealServer[], key: SchedulingKey): RealServer | null {
    const addr = this.name === 'sh' ? key.caddr : key.daddr;
    const h = mix(addr, this.withPort ? key.cport : 0);
    const first = this.table[h % SH_BUCKETS];
    if (first?.available) return first;
    if (!this.fallback) return null;
    for (let offset = 1; offset < SH_BUCKETS; offset++) {
      const d = this.table[mix(addr, offset) % SH_BUCKETS];
      if (d?.available) return d;
    }
    return null;
  }
}

export const sourceHashing = () => new BucketHash('sh', 'sh');
export const destinationHashing = () => new BucketHash('dh', 'dh');

/** Maglev's table size: a prime well above servers x 100, for an even spread. */
export const MAGLEV_TABLE_SIZE = 65537;

/**
 * Maglev hashing (Eisenbud et al., NSDI 2016): each server walks its own permutation of the
 * table, claiming free entries in turn (weight/gcd turns per round). Adding or removing a
 * server moves few keys that belonged to the others. The permutations come from the stable
 * hash and the servers are taken in address order, so the table is a function of the server
 * set alone: the same on every director.
 */
export class MaglevHashing implements Scheduler {
  readonly name = 'mh';
  private readonly size: number;
  private lookup: Int32Array;
  private servers: readonly RealServer[] = [];
  private fallback = false;
  private withPort = false;

  constructor(size = MAGLEV_TABLE_SIZE) {
    this.size = size;
    this.lookup = new Int32Array(size).fill(-1);
  }

  update(dests: readonly RealServer[], flags: readonly string[]): void {
    this.fallback = flags.includes('mh-fallback');
    this.withPort = flags.includes('mh-port');
    const eligible = eligibleInAddressOrder(dests);
    this.servers = eligible;
    this.lookup.fill(-1);
    if (eligible.length === 0) return;
    const M = this.size;
    const g = eligible.reduce((acc, d) => gcd(acc, d.weight), 0);
    const offset = eligible.map((d) => mix(d.addr, d.port) % M);
    const skip = eligible.map((d) => (mix(d.port, d.addr ^ 0x5bd1e995) % (M - 1)) + 1);
    const next = new Array(eligible.length).fill(0);
    let filled = 0;
    while (filled < M) {
      for (let i = 0; i < eligible.length && filled < M; i++) {
        for (let turn = eligible[i].weight / g; turn > 0 && filled < M; turn--) {
          let c: number;
          do c = (offset[i] + next[i]++ * skip[i]) % M;
          while (this.lookup[c] >= 0);
          this.lookup[c] = i;
          filled++;
        }
      }
    }
  }

  pick(_dests: readonly RealServer[], key: SchedulingKey): RealServer | null {
    if (this.servers.length === 0) return null;
    const h = mix(key.caddr, this.withPort ? key.cport : 0);
    const first = this.servers[this.lookup[h % this.size]];
    if (first.available) return first;
    if (!this.fallback) return null;
    for (let offset = 1; offset < this.servers.length * 4; offset++) {
      const d = this.servers[this.lookup[mix(key.caddr, offset) % this.size]];
      if (d.available) return d;
    }
    return null;
  }

  /** The server index behind each table entry (for the minimal-disruption test). */
  snapshot(): Int32Array {
    return this.lookup.slice();
  }

  /** The server a snapshot's index stands for. */
  serverAt(index: number): RealServer {
    return this.servers[index];
  }
}

/** Remembered destination-address entries per locality scheduler, at most. */
const LOCALITY_ENTRIES = 16384;

function remember<V>(m: Map<number, V>, key: number, value: V): void {
  if (m.size >= LOCALITY_ENTRIES && !m.has(key)) m.delete(m.keys().next().value as number);
  m.set(key, value);
}

/** Overloaded in lblc's sense: more active connections than weight, while another server sits half idle. */
function localityOverloaded(d: RealServer, dests: readonly RealServer[]): boolean {
  if (d.activeConns <= d.weight) return false;
  return dests.some((x) => x.available && x.activeConns * 2 < x.weight);
}

/** Locality-based least connection: a destination address stays with its server unless overloaded. */
export class LocalityLeastConnection implements Scheduler {
  readonly name = 'lblc';
  private readonly table = new Map<number, RealServer>();
  update(): void {
    for (const [k, d] of this.table) if (d.removed) this.table.delete(k);
  }
  pick(dests: readonly RealServer[], key: SchedulingKey): RealServer | null {
    const known = this.table.get(key.daddr);
    if (known?.available && !localityOverloaded(known, dests)) return known;
    const d = leastWeighted(dests, overhead);
    if (d) remember(this.table, key.daddr, d);
    return d;
  }
}

/** Locality-based least connection with replication: a set of servers per destination address. */
export class LocalityLeastConnectionReplicated implements Scheduler {
  readonly name = 'lblcr';
  private readonly table = new Map<number, RealServer[]>();
  update(): void {
    for (const [k, set] of this.table) {
      const kept = set.filter((d) => !d.removed);
      if (kept.length) this.table.set(k, kept);
      else this.table.delete(k);
    }
  }
  pick(dests: readonly RealServer[], key: SchedulingKey): RealServer | null {
    const set = this.table.get(key.daddr) ?? [];
    let d = leastWeighted(set, overhead);
    if (d === null || localityOverloaded(d, dests)) {
      const added = leastWeighted(dests, overhead);
      if (added && !set.includes(added)) set.push(added);
      d = added ?? d;
    } else if (set.length > 1) {
      // The set shrinks again when its busiest member is no longer needed.
      let busiest = set[0];
      for (const x of set) if (overhead(x) * busiest.weight > overhead(busiest) * x.weight) busiest = x;
      if (busiest !== d && busiest.activeConns > busiest.weight) set.splice(set.indexOf(busiest), 1);
    }
    if (set.length) remember(this.table, key.daddr, set);
    return d;
  }
}
