import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnFlag, ConnTable, MAX_CHAIN, NONE, TICK_MS, type NewConn } from '../../src/lvs/conn-table.js';
import { ip } from '../helpers/frames.js';
import { formatIpv6, parseIpv6 } from '../../src/packet/address6.js';
import { keyedHash6 } from '../../src/util/hash.js';

const TCP = 6;
const VIP = ip('192.168.1.2');
const conn = (i: number, over: Partial<NewConn> = {}): NewConn => ({
  proto: TCP,
  caddr: ip('10.0.0.0') + (i >>> 16),
  cport: 1024 + (i & 0xffff) % 60000,
  vaddr: VIP,
  vport: 80,
  daddr: ip('192.168.1.11'),
  dport: 8080,
  dest: 0,
  service: 0,
  method: 0,
  flags: 0,
  state: 1,
  timeoutMs: 60_000,
  ...over,
});

test('insert, look up by the client view and by the NAT reply, remove', () => {
  const t = new ConnTable(1024, 0);
  const c = conn(7, { flags: ConnFlag.HashedOut });
  const e = t.insert(c, 0);
  assert.is.not(e, NONE);
  assert.is(t.lookupIn(TCP, c.caddr, c.cport, VIP, 80), e);
  assert.is(t.lookupIn(17, c.caddr, c.cport, VIP, 80), NONE, 'protocol is part of the key');
  assert.is(t.lookupIn(TCP, c.caddr, c.cport + 1, VIP, 80), NONE);
  assert.is(t.lookupOut(TCP, c.daddr, c.dport, c.caddr, c.cport), e);
  assert.is(t.size, 1);
  t.remove(e);
  assert.is(t.lookupIn(TCP, c.caddr, c.cport, VIP, 80), NONE);
  assert.is(t.lookupOut(TCP, c.daddr, c.dport, c.caddr, c.cport), NONE);
  assert.is(t.size, 0);
});

test('templates are found only as templates, by masked client and service', () => {
  const t = new ConnTable(64, 0);
  const e = t.insert(conn(1, { flags: ConnFlag.Template, caddr: ip('10.0.0.0'), cport: 5555 }), 0);
  assert.is(t.lookupTemplate(TCP, ip('10.0.0.0'), VIP, 80), e);
  assert.is(t.cport(e), 0, 'templates carry no client port');
  assert.is(t.lookupIn(TCP, ip('10.0.0.0'), 0, VIP, 80), NONE);
});

test('full: inserts are refused, existing entries keep working, freed room is reused', () => {
  const t = new ConnTable(100, 0);
  const ids: number[] = [];
  for (let i = 0; i < 100; i++) ids.push(t.insert(conn(i), 0));
  assert.ok(ids.every((e) => e !== NONE));
  assert.is(t.insert(conn(100), 0), NONE);
  assert.is(t.lookupIn(TCP, conn(42).caddr, conn(42).cport, VIP, 80), ids[42]);
  t.remove(ids[42]);
  assert.is.not(t.insert(conn(100), 0), NONE);
});

test('entries expire on time, not before, and each is reported once', () => {
  const t = new ConnTable(1024, 0);
  const short = t.insert(conn(1, { timeoutMs: 1_000 }), 0);
  const long = t.insert(conn(2, { timeoutMs: 900_000 }), 0);
  const expired: number[] = [];
  const onExpire = (e: number) => (expired.push(e), true);
  t.expire(900, onExpire);
  assert.equal(expired, []);
  t.expire(1_000 + TICK_MS, onExpire);
  assert.equal(expired, [short]);
  t.expire(899_000, onExpire);
  assert.equal(expired, [short], 'a 15-minute entry outlives the wheel horizon correctly');
  t.expire(900_000 + TICK_MS, onExpire);
  assert.equal(expired, [short, long]);
  assert.is(t.size, 0);
});

test('extending a timeout keeps the entry; shortening one expires it early', () => {
  const t = new ConnTable(64, 0);
  const a = t.insert(conn(1, { timeoutMs: 10_000 }), 0);
  const b = t.insert(conn(2, { timeoutMs: 900_000 }), 0);
  t.setTimeout(a, 60_000, 5_000); // traffic at 5 s: now due at 65 s
  t.setTimeout(b, 10_000, 5_000); // ESTABLISHED -> CLOSE: due at 15 s
  const expired: number[] = [];
  t.expire(20_000, (e) => (expired.push(e), true));
  assert.equal(expired, [b]);
  t.expire(66_000, (e) => (expired.push(e), true));
  assert.equal(expired, [b, a]);
});

test('onExpire may keep an entry by extending it', () => {
  const t = new ConnTable(64, 0);
  const tpl = t.insert(conn(1, { flags: ConnFlag.Template, timeoutMs: 1_000 }), 0);
  let asked = 0;
  t.expire(2_000, (e) => {
    asked++;
    t.extend(e, 5_000, 2_000);
    return false;
  });
  assert.is(asked, 1);
  assert.is(t.size, 1);
  t.expire(8_000, () => true);
  assert.is(t.lookupTemplate(TCP, conn(1).caddr, VIP, 80), NONE);
  void tpl;
});

test('expire() does a bounded amount of work per call', () => {
  const t = new ConnTable(10_000, 0);
  for (let i = 0; i < 10_000; i++) t.insert(conn(i, { timeoutMs: 1_000 }), 0);
  assert.is(t.expire(5_000, () => true, 1_000), 1_000);
  assert.is(t.size, 9_000);
  while (t.size) t.expire(5_000, () => true, 1_000);
});

test('a chain past its bound refuses inserts: a hash flood cannot make lookups slow', () => {
  const t = new ConnTable(1 << 16, 0, 1234);
  // With the seed known (only in this test), find keys that share one bucket.
  const bucket = (t as unknown as { hash(...a: number[]): number }).hash.bind(t);
  const target = bucket(TCP, ip('10.0.0.1'), 1024, VIP, 80);
  let placed = 0;
  for (let port = 1024; port < 65535 && placed < MAX_CHAIN + 5; port++) {
    for (let host = 1; host < 255 && placed < MAX_CHAIN + 5; host++) {
      const caddr = ip('10.0.0.0') + host;
      if (bucket(TCP, caddr, port, VIP, 80) !== target) continue;
      t.insert(conn(0, { caddr, cport: port }), 0);
      placed++;
    }
  }
  assert.is(t.size, MAX_CHAIN);
  assert.is(t.chainFull, 5);
});

test('memory per entry stays within 64 bytes', () => {
  const t = new ConnTable(1 << 20, 0);
  assert.ok(t.bytesPerEntry <= 64, `${t.bytesPerEntry} bytes`);
});


// ---- IPv6 entries (issue 15): the same records, full addresses in the IPv6 store

const a6 = (t: string) => parseIpv6(t)!;
const V6 = { c: a6('2001:db8:1::2'), cAt: 0, v: a6('2001:db8::10'), vAt: 0, d: a6('2001:db8:2::11'), dAt: 0 };
const client6 = (i: number) => a6(`2001:db8:1::${(i + 2).toString(16)}`);

test('IPv6: insert, look up in, out and as a template; the addresses read back; remove frees the store', () => {
  const t = new ConnTable(64, 0);
  t.enableIpv6(16);
  const e = t.insert6(conn(0, { flags: ConnFlag.HashedOut }), V6, 0);
  assert.is.not(e, NONE);
  assert.ok(t.isIpv6(e));
  assert.is(t.lookupIn6(TCP, V6.c, 0, conn(0).cport, V6.v, 0, 80), e);
  assert.is(t.lookupIn6(TCP, a6('2001:db8:1::3'), 0, conn(0).cport, V6.v, 0, 80), NONE, 'another client');
  assert.is(t.lookupIn6(17, V6.c, 0, conn(0).cport, V6.v, 0, 80), NONE, 'another protocol');
  assert.is(t.lookupOut6(TCP, V6.d, 0, 8080, V6.c, 0, conn(0).cport), e);
  assert.is(t.lookupOut6(TCP, a6('2001:db8:2::12'), 0, 8080, V6.c, 0, conn(0).cport), NONE, 'another real server');
  assert.is(formatIpv6(t.caddr6(e)), '2001:db8:1::2');
  assert.is(formatIpv6(t.vaddr6(e)), '2001:db8::10');
  assert.is(formatIpv6(t.daddr6(e)), '2001:db8:2::11');
  const tpl = t.insert6(conn(0, { flags: ConnFlag.Template }), { ...V6, c: a6('2001:db8:1::') }, 0);
  assert.is(t.lookupTemplate6(TCP, a6('2001:db8:1::'), 0, V6.v, 0, 80), tpl);
  assert.is(t.lookupIn6(TCP, a6('2001:db8:1::'), 0, 0, V6.v, 0, 80), NONE, 'a template is no connection');
  assert.is(t.size6, 2);
  t.remove(e);
  t.remove(tpl);
  assert.is(t.size6, 0);
  assert.is(t.lookupOut6(TCP, V6.d, 0, 8080, V6.c, 0, conn(0).cport), NONE);
  for (let i = 0; i < 16; i++) assert.is.not(t.insert6(conn(i), { ...V6, c: client6(i) }, 0), NONE, 'the store took back what was freed');
});

test('IPv6: a full store refuses, IPv4 goes on; expiry frees the store', () => {
  const t = new ConnTable(64, 0);
  assert.is(t.insert6(conn(0), V6, 0), NONE, 'no IPv6 store before enableIpv6');
  t.enableIpv6(16);
  for (let i = 0; i < 16; i++) assert.is.not(t.insert6(conn(i, { timeoutMs: 1000 }), { ...V6, c: client6(i) }, 0), NONE);
  assert.is(t.insert6(conn(16), { ...V6, c: client6(16) }, 0), NONE, 'store full');
  assert.is.not(t.insert(conn(1), 0), NONE, 'IPv4 entries still fit');
  let expired = 0;
  t.expire(2000, () => (expired++, true));
  assert.is(expired, 16);
  assert.is(t.size6, 0);
  assert.is.not(t.insert6(conn(16), { ...V6, c: client6(16) }, 0), NONE);
});

test('IPv6 and IPv4 entries never match each other, whatever their words', () => {
  const t = new ConnTable(64, 0);
  t.enableIpv6(16);
  const e6 = t.insert6(conn(0, { flags: ConnFlag.HashedOut }), V6, 0);
  // An IPv4 lookup with the IPv6 entry's exact record words (its folds, its store index).
  const fold = (a: Uint8Array) => keyedHash6(a, 0) | 0;
  const fc = fold(V6.c) >>> 0, fv = fold(V6.v) >>> 0;
  assert.is(t.lookupIn(TCP, fc, conn(0).cport, fv, 80), NONE);
  assert.is(t.lookupOut(TCP, 0, 8080, fc, conn(0).cport), NONE);
  const e4 = t.insert(conn(0, { caddr: fc, vaddr: fv }), 0);
  assert.is(t.lookupIn(TCP, fc, conn(0).cport, fv, 80), e4);
  assert.is(t.lookupIn6(TCP, V6.c, 0, conn(0).cport, V6.v, 0, 80), e6);
});

test('memory: an IPv4 entry costs what it did (<= 64 bytes), an IPv6 entry its record and 52 more', () => {
  const t = new ConnTable(1 << 16, 0);
  t.enableIpv6(1 << 14);
  console.log(`    bytes per entry: IPv4 ${t.bytesPerEntry}, IPv6 ${t.bytesPerEntry6}`);
  assert.ok(t.bytesPerEntry <= 60, `${t.bytesPerEntry}`);
  assert.is(t.bytesPerEntry6, t.bytesPerEntry + 52);
});

test.run();
