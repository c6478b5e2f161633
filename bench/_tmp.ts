import { ConnTable, NONE } from '/work/main/src/lvs/conn-table.js';
function clientOf(i: number): number { let h = Math.imul(i ^ 0x5bd1e995, 0x9e3779b1); h ^= h >>> 15; return h >>> 0; }
const addrOf = (i: number) => (0x0a000000 | (clientOf(i) & 0xffffff)) >>> 0;
const portOf = (i: number) => 1024 + (i % 60000);
function pass(t: ConnTable, entries: number, n: number) {
  const step = 2654435761 % entries | 1; let found = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0, i = 0; k < n; k++, i = (i + step) % entries) if (t.lookupIn(6, addrOf(i), portOf(i), 0xc0a80102, 80) !== NONE) found++;
  return Number(process.hrtime.bigint() - t0) / n;
}
function empty(entries: number, n: number) {
  const step = 2654435761 % entries | 1; let s = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0, i = 0; k < n; k++, i = (i + step) % entries) s += addrOf(i) ^ portOf(i);
  return [Number(process.hrtime.bigint() - t0) / n, s];
}
for (const entries of [100_000, 1_000_000, 4_000_000]) {
  const t = new ConnTable(entries, 0, 12345);
  const conn = { proto: 6, caddr: 0, cport: 0, vaddr: 0xc0a80102, vport: 80, daddr: 0xc0a8010b, dport: 80, dest: 0, service: 0, method: 0, flags: 0, state: 1, timeoutMs: 900_000 };
  for (let i = 0; i < entries; i++) { conn.caddr = addrOf(i); conn.cport = portOf(i); t.insert(conn, 0); }
  const r = [pass(t, entries, 1_000_000), pass(t, entries, 1_000_000), pass(t, entries, 1_000_000)];
  console.log(entries, r.map(x => x.toFixed(1)).join(' '), 'loop', empty(entries, 1_000_000)[0]);
}
