// Connection table: bytes per entry, and inserts and lookups per second at 100k, 1M and 4M
// entries. Keys are spread like real clients (many addresses, many ports); lookups come in a
// shuffled order so caches help no more than they would in traffic. Lookups are timed after a
// warm-up pass (the first pass over a small table would otherwise time the JIT, not the table),
// best of three, in two kinds: independent (unrelated keys, as a burst from many clients: the
// CPU overlaps their misses) and dependent (each key waits for the last lookup's result, so
// misses cannot overlap). With `memlat` (bench/c/memlat.c), each size also gets the memory
// system's own cost at the same working set, for each kind: like is compared with like.

import { spawnSync } from 'node:child_process';
import { ConnTable, NONE } from '../src/lvs/conn-table.js';

export interface TableResult {
  entries: number;
  bytesPerEntry: number;
  insertsPerSecond: number;
  lookupsPerSecond: number;
  /** Independent lookups (unrelated keys). */
  nsPerLookup: number;
  /** Dependent lookups (each key computed from the last result). */
  nsPerDependentLookup: number;
  /** One random read over the table's footprint, in C, this run: independent, and a pointer chase (null without memlat). */
  nsPerMemoryRead: number | null;
  nsPerDependentRead: number | null;
}

/** Client address and port of key i, computed (so the benchmark reads no memory of its own). */
function clientOf(i: number): number {
  let h = Math.imul(i ^ 0x5bd1e995, 0x9e3779b1);
  h ^= h >>> 15;
  return h >>> 0;
}

export function tableBench(entries: number, memlat?: string): TableResult {
  const t = new ConnTable(entries, 0, 12345);
  const conn = { proto: 6, caddr: 0, cport: 0, vaddr: 0xc0a80102, vport: 80, daddr: 0xc0a8010b, dport: 80, dest: 0, service: 0, method: 0, flags: 0, state: 1, timeoutMs: 900_000 };
  // Client i: address 10.x.y.z from the hash, port from the index: every key distinct.
  const addrOf = (i: number) => (0x0a000000 | (clientOf(i) & 0xffffff)) >>> 0;
  const portOf = (i: number) => 1024 + (i % 60000);
  let t0 = process.hrtime.bigint();
  let inserted = 0;
  for (let i = 0; i < entries; i++) {
    conn.caddr = addrOf(i);
    conn.cport = portOf(i);
    if (t.insert(conn, 0) !== NONE) inserted++;
  }
  const insertNs = Number(process.hrtime.bigint() - t0);
  // Look up in a scattered order (a multiplicative permutation), as traffic from many clients would.
  const step = 2654435761 % entries | 1;
  const lookupPass = (dependent: boolean): { found: number; ns: number } => {
    let found = 0;
    const t0 = process.hrtime.bigint();
    for (let n = 0, i = 0; n < entries; n++) {
      const e = t.lookupIn(6, addrOf(i), portOf(i), 0xc0a80102, 80);
      if (e !== NONE) found++;
      // Dependent: the next key is computed from this result (e >>> 31 is 0 for a hit, but the CPU must wait for e to know).
      i = (i + step + (dependent ? e >>> 31 : 0)) % entries;
    }
    return { found, ns: Number(process.hrtime.bigint() - t0) };
  };
  const best = (dependent: boolean) => {
    lookupPass(dependent);
    return [lookupPass(dependent), lookupPass(dependent), lookupPass(dependent)].reduce((a, b) => (b.ns < a.ns ? b : a));
  };
  const { found, ns: lookupNs } = best(false);
  const dependentNs = best(true).ns;
  if (found < inserted * 0.99) throw new Error(`conn-table bench: found ${found} of ${inserted}`);
  const read = (kind: string): number | null => {
    if (!memlat) return null;
    const r = spawnSync(memlat, [String(Math.round(t.bytesPerEntry * entries)), '32', kind], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`memlat: ${r.stderr}`);
    return Number(r.stdout.trim());
  };
  return {
    entries,
    bytesPerEntry: t.bytesPerEntry,
    insertsPerSecond: (inserted * 1e9) / insertNs,
    lookupsPerSecond: (found * 1e9) / lookupNs,
    nsPerLookup: lookupNs / found,
    nsPerDependentLookup: dependentNs / found,
    nsPerMemoryRead: read('independent'),
    nsPerDependentRead: read('dependent'),
  };
}

if (process.argv[1]?.endsWith('conn-table.ts')) {
  for (const n of [100_000, 1_000_000, 4_000_000]) console.log(JSON.stringify(tableBench(n)));
}
