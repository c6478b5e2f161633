// Connection sync (IPVS sync protocol v1) and the restart handoff, frame by frame: what the
// master writes, what a backup keeps, and what it refuses.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROADCAST_MAC, ZERO_MAC, parseIpv4 } from '../../src/packet/address.js';
import type { Director } from '../../src/lvs/director.js';
import { arpPacket, ethernet, ipv4Packet, mac, parse, tcpSegment, udpPayload } from '../helpers/frames.js';
import { testRouter, type TestRouter } from '../helpers/memory-router.js';
import { CONN_F_MASQ, CONN_F_TEMPLATE, SYNC_CONN_V4, SYNC_HEADER, SyncControl, newSyncConn, readMessage, writeConn, writeControl, writeHeader, type SyncConn } from '../../src/ha/sync-wire.js';
import { readHandoff, writeHandoff } from '../../src/ha/handoff.js';
import { HighAvailability } from '../../src/ha/ha.js';
import { SYNC_CONN_V6, SYNC_PORT } from '../../src/ha/sync-wire.js';
import { formatIpv6 } from '../../src/packet/address6.js';
import { NH_ICMPV6, NH_TCP } from '../../src/packet/ipv6.js';
import { a6, frame6, nd, tcp6 } from '../helpers/frames6.js';
import { tsharkFields } from '../helpers/tshark-frames.js';
import { parseConfig } from '../../src/control/config.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const GW_MAC = mac('02:cc:00:00:00:01');
const VIP = '192.168.1.2';
const CLIENT = '10.10.10.10';

const config = (method: 'dr' | 'nat', extra: Record<string, unknown> = {}) => ({
  interfaces: [{ name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24'] }],
  routes: [{ to: 'default', via: '192.168.1.1' }],
  services: [
    { protocol: 'tcp', vip: VIP, port: 80, scheduler: 'rr', ...extra, realServers: [{ address: '192.168.1.11', method, ...(method === 'nat' ? { port: 8080 } : {}) }, { address: '192.168.1.12', method, ...(method === 'nat' ? { port: 8080 } : {}) }] },
    { protocol: 'udp', vip: VIP, port: 5060, scheduler: 'rr', persistence: 60, pe: 'sip', realServers: [{ address: '192.168.1.11', method: 'dr' }, { address: '192.168.1.12', method: 'dr' }] },
  ],
  icmp: { ratePerSecond: 1000, burst: 1000 },
});

const director = (t: TestRouter) => t.router.director as unknown as Director;
function lan(t: TestRouter): void {
  for (const [m, a] of [[GW_MAC, '192.168.1.1'], [mac('02:aa:00:00:00:11'), '192.168.1.11'], [mac('02:aa:00:00:00:12'), '192.168.1.12']] as const) {
    t.inject(0, ethernet(BROADCAST_MAC, m, 0x0806, arpPacket(1, m, a, ZERO_MAC, '192.168.1.10')));
  }
  t.take(0);
}
const fromClient = (sport: number, flags: number) => ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 6, payload: tcpSegment(CLIENT, VIP, sport, 80, flags) }));
const invite = (callId: string, sport: number) =>
  ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 17, payload: udpPayload(CLIENT, VIP, sport, 5060, new TextEncoder().encode(`INVITE sip:a@b SIP/2.0\r\nCall-ID: ${callId}\r\n\r\n`)) }));

/** Every entry of a director as sync would say it (sorted, so two tables compare). */
function entries(d: Director): SyncConn[] {
  const out: SyncConn[] = [];
  d.table.forEach((e) => {
    const c = newSyncConn();
    d.describeForSync(e, c, 0);
    out.push({ ...c, timeoutS: 0 });
  });
  return out.sort((a, b) => a.cport - b.cport || a.flags - b.flags || a.callId - b.callId);
}

/** Opens connections on a master: two established TCP, one in SYN_RECV, and a SIP call. */
function busyMaster(method: 'dr' | 'nat'): TestRouter {
  const t = testRouter(config(method));
  lan(t);
  for (const port of [40000, 40001]) {
    t.inject(0, fromClient(port, 0x02));
    t.inject(0, fromClient(port, 0x10));
  }
  t.inject(0, fromClient(40002, 0x02));
  t.inject(0, invite('call-1@client', 5070));
  t.take(0);
  return t;
}

test('the master offers a connection when it is established and a template when it is made; not a SYN_RECV one', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const offered: number[] = [];
  director(t).onSync = (e) => offered.push(e);
  t.inject(0, fromClient(40000, 0x02));
  assert.is(offered.length, 0, 'SYN_RECV is not synced');
  t.inject(0, fromClient(40000, 0x10));
  assert.is(offered.length, 1, 'ESTABLISHED is');
  for (let i = 0; i < 60; i++) t.inject(0, fromClient(40000, 0x10));
  assert.is(offered.length, 3, 'then at its 3rd packet and every 50 after (the kernel\'s sync_threshold 3 50)');
  t.inject(0, invite('c@x', 5070));
  assert.is(offered.length, 4, 'a SIP call template when it is made');
});

test('a backup that takes a master table entry by entry has the same table: DR, NAT, SIP templates', () => {
  for (const method of ['dr', 'nat'] as const) {
    const master = busyMaster(method);
    const backup = testRouter(config(method));
    const b = new Uint8Array(2048);
    let length = SYNC_HEADER;
    let count = 0;
    const c = newSyncConn();
    director(master).table.forEach((e) => {
      director(master).describeForSync(e, c, 0);
      length += writeConn(b, length, c);
      count++;
    });
    writeHeader(b, 0, 7, count, length);
    const kept: boolean[] = [];
    const refused = readMessage(b, 0, length, 7, newSyncConn(), { conn: (x) => kept.push(director(backup).importSynced(x, 0)), control: () => {} });
    assert.is(refused, null);
    assert.is(kept.filter(Boolean).length, count, method);
    assert.equal(entries(director(backup)), entries(director(master)), method);
    const rs = director(backup).services[0].dests.map((d) => [d.activeConns, d.inactConns]);
    const ms = director(master).services[0].dests.map((d) => [d.activeConns, d.inactConns]);
    assert.equal(rs, ms, 'active and inactive counts follow');
    if (method === 'nat') {
      const tpl = entries(director(backup)).find((x) => x.flags & CONN_F_TEMPLATE);
      assert.ok(tpl && tpl.callId >= 0, 'the SIP template keeps its Call-ID hash');
      assert.is(entries(director(backup)).filter((x) => (x.flags & 7) === CONN_F_MASQ).length, 3);
    }
  }
});

test('after takeover, a synced connection carries on at the backup (the same server), a new SYN is scheduled, a SIP call stays', () => {
  const master = busyMaster('dr');
  const backup = testRouter(config('dr'));
  lan(backup);
  const c = newSyncConn();
  director(master).table.forEach((e) => {
    director(master).describeForSync(e, c, 0);
    director(backup).importSynced(c, 0);
  });
  master.inject(0, fromClient(40001, 0x18));
  const before = parse(master.take(0)[0]).dstMac;
  backup.inject(0, fromClient(40001, 0x18));
  const out = backup.take(0).map(parse);
  assert.equal(out.map((f) => f.dstMac), [before], 'the same real server, no RST');
  master.inject(0, invite('call-1@client', 5071));
  backup.inject(0, invite('call-1@client', 5071));
  assert.is(parse(backup.take(0)[0]).dstMac, parse(master.take(0)[0]).dstMac, 'the call persists');
});

test('hostile sync messages are refused, counted by reason, and never half-read past a bad entry', () => {
  const t = testRouter(config('dr'));
  const d = director(t);
  const reader = { conn: (x: SyncConn) => d.importSynced(x, 0), control: () => {} };
  const b = new Uint8Array(512);
  const c = { ...newSyncConn(), protocol: 6, flags: 3, state: 1, cport: 1, vport: 80, dport: 80, timeoutS: 900, caddr: parseIpv4(CLIENT)!, vaddr: parseIpv4(VIP)!, daddr: parseIpv4('192.168.1.11')! };
  let n = SYNC_HEADER + writeConn(b, SYNC_HEADER, c);
  writeHeader(b, 0, 5, 1, n);
  assert.is(readMessage(b, 0, n - 1, 5, newSyncConn(), reader), 'size', 'a size that lies');
  assert.is(readMessage(b, 0, n, 6, newSyncConn(), reader), 'syncid', 'another syncid');
  assert.is(readMessage(b, 0, 4, 0, newSyncConn(), reader), 'short');
  b[5] = 0;
  assert.is(readMessage(b, 0, n, 5, newSyncConn(), reader), 'version', 'version 0');
  b[5] = 1;
  b[SYNC_HEADER + 3] = 200; // the entry claims more bytes than the message has
  assert.is(readMessage(b, 0, n, 5, newSyncConn(), reader), 'malformed');
  b[SYNC_HEADER + 3] = SYNC_CONN_V4;
  b[4] = 2; // two entries counted, one present
  assert.is(readMessage(b, 0, n, 5, newSyncConn(), reader), 'malformed');
  assert.is(d.table.size, 1, 'the entry before the bad one was kept');
  // An entry for a service or server we do not have is refused, not invented.
  n = SYNC_HEADER + writeConn(b, SYNC_HEADER, { ...c, daddr: parseIpv4('192.168.1.99')! });
  writeHeader(b, 0, 0, 1, n);
  let refused = 0;
  readMessage(b, 0, n, 0, newSyncConn(), { conn: (x) => (d.importSynced(x, 0) ? 0 : refused++), control: () => {} });
  assert.is(refused, 1);
  // The bulk-resync extension reads as an empty message to anyone else.
  const ops: number[] = [];
  const len = writeControl(b, 0, 0, SyncControl.TableComplete, 1234);
  assert.is(b[4], 0, 'no connections counted');
  readMessage(b, 0, len, 0, newSyncConn(), { conn: () => {}, control: (op, arg) => ops.push(op, arg) });
  assert.equal(ops, [SyncControl.TableComplete, 1234]);
});

test('the restart handoff writes the table and the next process takes it once, with the time it had left', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-handoff-'));
  const file = join(dir, 'connections.handoff');
  const master = busyMaster('nat');
  master.advance(100_000); // 100 s pass: the established connections have 800 s of 900 left
  const written = writeHandoff(director(master), file, master.router.clock);
  assert.is(written, director(master).table.size);
  const next = testRouter(config('nat'));
  const taken = readHandoff(director(next), file, next.router.clock)!;
  assert.equal(taken, { entries: written, dropped: 0, malformed: false });
  assert.not.ok(existsSync(file), 'taken once');
  assert.equal(entries(director(next)), entries(director(master)));
  const left: number[] = [];
  const c = newSyncConn();
  director(next).table.forEach((e) => (director(next).describeForSync(e, c, next.router.clock), c.state === 1 && left.push(c.timeoutS)));
  assert.ok(left.length === 2 && left.every((s) => s >= 799 && s <= 801), `time left (800 s, to the nearest second): ${left}`);
  // A truncated file gives what it held, and says so.
  writeHandoff(director(master), file, master.router.clock);
  writeFileSync(file, readFileSync(file).subarray(0, 50));
  const again = testRouter(config('nat'));
  assert.equal(readHandoff(director(again), file, 0), { entries: 0, dropped: 0, malformed: true });
});

// ---- IPv6 connections: the same protocol, the kernel's 72-byte IPv6 entry

const VIP6 = '2001:db8:1::2';
const CLIENT6 = '2001:db8:9::10';
const GW6 = '2001:db8:1::1';
const RS6 = ['2001:db8:1::11', '2001:db8:1::12'];
const config6 = (method: 'dr' | 'nat') => ({
  interfaces: [{ name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24', '2001:db8:1::10/64'] }],
  routes: [{ to: 'default', via: '192.168.1.1' }, { to: '::/0', via: GW6 }],
  services: [
    { protocol: 'tcp', vip: VIP6, port: 80, scheduler: 'rr', realServers: RS6.map((address) => ({ address, method, ...(method === 'nat' ? { port: 8080 } : {}) })) },
    { protocol: 'tcp', vip: VIP6, port: 443, scheduler: 'rr', persistence: 300, netmask: 64, realServers: RS6.map((address) => ({ address, method: 'dr' })) },
  ],
  icmp: { ratePerSecond: 1000, burst: 1000 },
});
const fromClient6 = (sport: number, flags: number, port = 80) => frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: CLIENT6, dst: VIP6, nh: NH_TCP, payload: tcp6(sport, port, flags) });

/** The gateway and both servers answer neighbour discovery, so frames to them can leave. */
function lan6(t: TestRouter): void {
  for (const [m, a] of [[GW_MAC, GW6], [mac('02:aa:00:00:00:11'), RS6[0]], [mac('02:aa:00:00:00:12'), RS6[1]]] as const) {
    t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: m, src: a, dst: '2001:db8:1::10', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, '2001:db8:1::10', m) }));
    t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: m, src: a, dst: '2001:db8:1::10', nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, a, m, 0x60) }));
  }
  t.take(0);
}

/** A master with two established IPv6 connections, one in SYN_RECV, and a persistent one with its template. */
function busyMaster6(method: 'dr' | 'nat'): TestRouter {
  const t = testRouter(config6(method));
  lan6(t);
  for (const port of [40000, 40001]) {
    t.inject(0, fromClient6(port, 0x02));
    t.inject(0, fromClient6(port, 0x10));
  }
  t.inject(0, fromClient6(40002, 0x02));
  t.inject(0, fromClient6(40003, 0x02, 443));
  t.inject(0, fromClient6(40003, 0x10, 443));
  t.take(0);
  return t;
}

/** The whole table of `d` as one sync message. */
function messageOf(d: Director, syncid: number): Uint8Array {
  const b = new Uint8Array(4096);
  let length = SYNC_HEADER;
  let count = 0;
  const c = newSyncConn();
  d.table.forEach((e) => {
    d.describeForSync(e, c, 0);
    length += writeConn(b, length, c);
    count++;
  });
  writeHeader(b, 0, syncid, count, length);
  return b.subarray(0, length);
}

test('IPv6 connections and templates sync as 72-byte entries: the backup keeps the same table and carries the connections on', () => {
  for (const method of ['dr', 'nat'] as const) {
    const master = busyMaster6(method);
    const backup = testRouter(config6(method));
    lan6(backup);
    const message = messageOf(director(master), 9);
    const count = director(master).table.size;
    assert.is(count, 5, `${method}: 3 connections on :80, 1 on :443 and its template`);
    assert.is(message.length, SYNC_HEADER + count * SYNC_CONN_V6, 'every entry is the IPv6 type');
    let kept = 0;
    assert.is(readMessage(message, 0, message.length, 9, newSyncConn(), { conn: (x) => (kept += director(backup).importSynced(x, 0) ? 1 : 0), control: () => {} }), null);
    assert.is(kept, count, `${method}: every entry kept`);
    assert.equal(entries(director(backup)), entries(director(master)), `${method}: the same table`);
    const counts = (t: TestRouter) => director(t).services.flatMap((s) => s.dests.map((d) => [d.activeConns, d.inactConns, d.persistConns]));
    assert.equal(counts(backup), counts(master), 'active, inactive and persistent counts follow');
    // Takeover: the next segment of each established connection goes where the master sent it.
    for (const [port, vport] of [[40001, 80], [40003, 443]]) {
      master.inject(0, fromClient6(port, 0x18, vport));
      backup.inject(0, fromClient6(port, 0x18, vport));
      const m = master.take(0).map(parse), k = backup.take(0).map(parse);
      assert.is(k.length, 1, `${method} :${vport}: forwarded, no RST`);
      assert.is(k[0].dstMac, m[0].dstMac, `${method} :${vport}: the same real server`);
    }
    // A new connection from the same /64 on :443 sticks to the synced template's server.
    const tpl = entries(director(backup)).find((x) => x.flags & CONN_F_TEMPLATE)!;
    assert.is(formatIpv6(tpl.caddr6), '2001:db8:9::', 'the template holds the /64');
    backup.inject(0, frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: '2001:db8:9::99', dst: VIP6, nh: NH_TCP, payload: tcp6(50000, 443, 0x02) }));
    const d = director(backup).dests[director(backup).table.dest(director(backup).table.lookupIn6(6, a6('2001:db8:9::99'), 0, 50000, a6(VIP6), 0, 443))];
    assert.is(formatIpv6(d.addr6!), formatIpv6(tpl.daddr6), 'persistence holds across the takeover');
  }
});

test("tshark's IPVS dissector reads tapvs's IPv6 entries: addresses, ports, flags and timeout", () => {
  const master = busyMaster6('nat');
  const message = messageOf(director(master), 3);
  const frame = ethernet(mac('01:00:5e:00:00:51'), LAN_MAC, 0x0800, ipv4Packet({ src: '192.168.1.10', dst: '224.0.0.81', protocol: 17, ttl: 1, payload: udpPayload('192.168.1.10', '224.0.0.81', SYNC_PORT, SYNC_PORT, message) }));
  const rows = tsharkFields([frame], ['ipvs.syncid', 'ipvs.conncount', 'ipvs.type', 'ipvs.caddr6', 'ipvs.cport', 'ipvs.vaddr6', 'ipvs.vport', 'ipvs.daddr6', 'ipvs.dport', 'ipvs.timeout', '_ws.malformed'], ['-d', `udp.port==${SYNC_PORT},ipvs`]);
  if (rows === null) return console.log('  (tshark not installed: the dissector check is skipped)');
  const [syncid, conncount, type, caddr, cport, vaddr, vport, daddr, dport, timeout, malformed] = rows[0];
  console.log(`  tshark: syncid ${syncid}, ${conncount} entries, types ${type}; caddr ${caddr}; vaddr ${vaddr}; daddr ${daddr}; dports ${dport}`);
  assert.is(syncid, '3');
  assert.is(conncount, '5');
  assert.equal(type.split(','), ['1', '1', '1', '1', '1']);
  assert.ok(caddr.split(',').every((a) => a === CLIENT6 || a === '2001:db8:9::'), caddr);
  assert.ok(vaddr.split(',').every((a) => a === VIP6), vaddr);
  assert.ok(daddr.split(',').every((a) => RS6.includes(a)), daddr);
  assert.ok(cport.split(',').includes('40000') && vport.split(',').includes('443'));
  assert.ok(dport.split(',').includes('8080'), 'NAT entries name the server port');
  assert.ok(timeout.split(',').every((x) => Number(x) > 0));
  assert.is(malformed ?? '', '', 'nothing malformed');
});

test('hostile IPv6 entries: one shorter than 72 bytes, or of an unknown type, is malformed; the entries before it were kept', () => {
  const master = busyMaster6('dr');
  const message = messageOf(director(master), 0).slice();
  const second = SYNC_HEADER + SYNC_CONN_V6;
  for (const [what, poke] of [
    ['an IPv6 entry claiming 40 bytes', (m: Uint8Array) => (m[second + 3] = 40)],
    ['type 2', (m: Uint8Array) => (m[second] = 2)],
  ] as const) {
    const m = message.slice();
    poke(m);
    const backup = testRouter(config6('dr'));
    let kept = 0;
    assert.is(readMessage(m, 0, m.length, 0, newSyncConn(), { conn: (x) => (kept += director(backup).importSynced(x, 0) ? 1 : 0), control: () => {} }), 'malformed', what);
    assert.is(kept, 1, `${what}: the entry before it kept, none after`);
  }
});

test('the restart handoff carries IPv6 connections and templates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-handoff6-'));
  const file = join(dir, 'connections.handoff');
  const master = busyMaster6('nat');
  const written = writeHandoff(director(master), file, master.router.clock);
  assert.is(written, 5);
  const next = testRouter(config6('nat'));
  assert.equal(readHandoff(director(next), file, next.router.clock), { entries: 5, dropped: 0, malformed: false });
  assert.equal(entries(director(next)), entries(director(master)));
});

test('ha.sync without VRRP: active-active directors (ECMP), each sending its connections and keeping the others\'', () => {
  const cfg = { ...config('dr'), ha: { sync: { iface: 'lan' } } };
  const t = testRouter(cfg);
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const ha = new HighAvailability(t.router, t.engine, t.router.director as Director, parseConfig(cfg).ha, quiet);
  try {
    ha.start();
    const s = ha.syncStatus()!;
    assert.equal([s.master, s.backup, s.sending, s.receiving, s.resync.state], [true, true, true, true, 'none'], 'both daemons, no VRRP to wait for');
  } finally {
    ha.stop();
    t.engine.destroy();
  }
});

test.run();
