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
