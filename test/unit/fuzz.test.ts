// A million hostile frames through the whole router and director path (ARP, IPv4, ICMP, TCP,
// UDP, NAT replies, IP-in-IP services, fwmark groups): no exception escapes, no slot leaks,
// the table stays within its limit, and every frame is accounted for.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { arpPacket, ethernet, icmpEcho, ipv4Packet, mac, tcpSegment, udpPayload } from '../helpers/frames.js';
import { testRouter, type TestRouter } from '../helpers/memory-router.js';
import { Ipv4View } from '../../src/packet/ipv4.js';
import { frame6, nd, tcp6, udp6 } from '../helpers/frames6.js';

const LAN = mac('02:00:00:00:01:01');
const PRIV = mac('02:00:00:00:02:01');
const GW = mac('02:cc:00:00:00:01');
const RS = mac('02:aa:00:00:00:11');

const config = {
  interfaces: [
    { name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24'] },
    { name: 'priv', tap: 'priv', mac: '02:00:00:00:02:01', mtu: 1400, addresses: ['10.20.0.1/24'] },
  ],
  routes: [{ to: 'default', via: '192.168.1.1' }],
  services: [
    { protocol: 'tcp', vip: '192.168.1.2', port: 80, scheduler: 'wlc', persistence: 30, realServers: [{ address: '10.20.0.11', port: 8080, method: 'nat' }, { address: '192.168.1.11', method: 'dr' }] },
    { protocol: 'udp', vip: '192.168.1.2', port: 53, scheduler: 'mh', onePacket: true, realServers: [{ address: '192.168.1.12', method: 'tun' }] },
    { protocol: 'udp', vip: '192.168.1.4', port: 5060, scheduler: 'rr', persistence: 30, pe: 'sip', realServers: [{ address: '192.168.1.11' }, { address: '192.168.1.12' }] },
    { fwmark: 7, vip: '192.168.1.3', members: [{ protocol: 'udp', port: 5060 }, { protocol: 'tcp', port: 0 }], scheduler: 'sh', realServers: [{ address: '192.168.1.11' }] },
  ],
  director: { maxConnections: 4096 },
  icmp: { ratePerSecond: 100, burst: 10 },
  neighbour: { maxEntries: 256 },
};

/** Frame `i` of a fuzz run into `port`; every 256 the router catches up, every 50,000 time moves on. */
function deliver(t: TestRouter, i: number, port: number, frame: Uint8Array): void {
  if (!t.backend.inject(port, frame)) {
    t.engine.poll(); // the ring was full: let the router catch up, then deliver it
    assert.ok(t.backend.inject(port, frame), 'room after a poll');
  }
  if (i % 256 === 0) {
    t.engine.poll();
    t.take(0);
    t.take(1);
  }
  if (i % 50_000 === 0) t.advance(250);
}

/** IPv6 services of each method, the real servers on both links. */
const config6 = {
  interfaces: [
    { name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24', '2001:db8:1::10/64'] },
    { name: 'priv', tap: 'priv', mac: '02:00:00:00:02:01', mtu: 1400, addresses: ['10.20.0.1/24', '2001:db8:20::1/64'] },
  ],
  routes: [{ to: '::/0', via: '2001:db8:1::fe' }],
  services: [
    { protocol: 'tcp', vip: '2001:db8:1::2', port: 80, scheduler: 'sh', persistence: 30, netmask: 64, realServers: [{ address: '2001:db8:1::11', method: 'dr' }] },
    { protocol: 'tcp', vip: '2001:db8:1::3', port: 443, scheduler: 'wlc', realServers: [{ address: '2001:db8:20::11', port: 8443, method: 'nat' }] },
    { protocol: 'udp', vip: '2001:db8:1::3', port: 53, scheduler: 'rr', realServers: [{ address: '2001:db8:20::11', method: 'tun' }] },
  ],
  director: { maxConnections: 4096 },
  icmp: { ratePerSecond: 100, burst: 10 },
  neighbour: { maxEntries: 256 },
};

test('1,000,000 random and mutated frames: no exception, no leak, every frame counted', () => {
  const t = testRouter(config, 1024);
  for (const [port, m, a, target] of [[0, GW, '192.168.1.1', '192.168.1.10'], [1, RS, '10.20.0.11', '10.20.0.1']] as const) {
    t.inject(port, ethernet(BROADCAST_MAC, m, 0x0806, arpPacket(1, m, a, ZERO_MAC, target)));
  }
  const bases: [number, Uint8Array][] = [
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.2', dst: '192.168.1.2', protocol: 6, payload: tcpSegment('10.0.0.2', '192.168.1.2', 40000, 80, 0x02) }))],
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.2', dst: '192.168.1.2', protocol: 6, payload: tcpSegment('10.0.0.2', '192.168.1.2', 40000, 80, 0x10) }))],
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.3', dst: '192.168.1.2', protocol: 17, payload: udpPayload('10.0.0.3', '192.168.1.2', 999, 53, new Uint8Array(40)) }))],
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.4', dst: '192.168.1.3', protocol: 17, payload: udpPayload('10.0.0.4', '192.168.1.3', 5060, 5060, new Uint8Array(200)) }))],
    [1, ethernet(PRIV, RS, 0x0800, ipv4Packet({ src: '10.20.0.11', dst: '10.0.0.2', protocol: 6, payload: tcpSegment('10.20.0.11', '10.0.0.2', 8080, 40000, 0x12) }))],
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.2', dst: '192.168.1.10', protocol: 1, payload: icmpEcho(8, 1, 1, new Uint8Array(32)) }))],
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.2', dst: '192.168.1.2', protocol: 1, payload: icmpEcho(3, 3, 0, new Uint8Array(28)) }))],
    [0, ethernet(BROADCAST_MAC, GW, 0x0806, arpPacket(1, GW, '192.168.1.1', ZERO_MAC, '192.168.1.2'))],
    [0, ethernet(LAN, GW, 0x0800, ipv4Packet({ src: '10.0.0.5', dst: '192.168.1.4', protocol: 17, payload: udpPayload('10.0.0.5', '192.168.1.4', 5060, 5060, new TextEncoder().encode('INVITE sip:x@y SIP/2.0\r\nVia: a\r\ni :  folded\r\n  call@id\r\nCSeq: 1 INVITE\r\n\r\n')) }))],
    [1, ethernet(PRIV, RS, 0x0800, ipv4Packet({ src: '10.20.0.11', dst: '8.8.8.8', protocol: 17, ttl: 1, payload: udpPayload('10.20.0.11', '8.8.8.8', 1, 2, new Uint8Array(1300)) }))],
  ];
  let seed = 99;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const scratch = new Uint8Array(1600);
  const header = new Ipv4View();
  const slotsBefore = t.engine.freeSlotCount;
  const heapBefore = process.memoryUsage().heapUsed;
  const frames = 1_000_000;
  for (let i = 0; i < frames; i++) {
    const [port, base] = bases[rnd() % bases.length];
    let length: number;
    if (i % 10 === 0) {
      // Pure noise, any length from 0 to 1514.
      length = rnd() % 1515;
      for (let j = 0; j < length; j++) scratch[j] = rnd() & 255;
    } else {
      // A valid frame with varied client address and port (so new connections keep coming),
      // a few bytes changed, the IPv4 header checksum usually repaired (so lying lengths and
      // odd fields get past validation into the deeper paths), sometimes cut short or padded.
      length = base.length;
      scratch.set(base);
      scratch[29] = rnd() & 255;
      scratch[35] = rnd() & 255;
      for (let n = rnd() % 4; n > 0; n--) scratch[14 + (rnd() % (length - 14))] = rnd() & 255;
      if (scratch[12] === 0x08 && scratch[13] === 0 && rnd() % 8 !== 0) header.point(scratch, 14).updateChecksum();
      if (rnd() % 8 === 0) length = rnd() % (length + 1);
      else if (rnd() % 16 === 0) length = Math.min(1514, length + (rnd() % 64));
    }
    const frame = scratch.subarray(0, length);
    deliver(t, i, port, frame);
  }
  t.engine.poll();
  for (let k = 0; k < 12; k++) t.advance(10_000); // let ARP give up and connections expire
  t.engine.poll();
  t.engine.flush();
  t.engine.poll();
  // What the last timers sent (ICMP errors, resets) is in flight, not lost: let it complete.
  for (let k = 0; k < 4; k++) {
    t.take(0);
    t.take(1);
    t.engine.flush();
    t.engine.poll();
  }
  const c = t.router.counters;
  if (process.env.FUZZ_VERBOSE) console.log('free', t.engine.freeSlotCount);
  assert.ok(c.rx_frames >= frames, `rx_frames ${c.rx_frames}`);
  // Every slot is free or on a ring (frames the last timers sent may still be in flight).
  const census = t.engine.slotCensus();
  assert.equal([census.missing, census.duplicated], [0, 0], `slots lost or doubled: ${JSON.stringify(census)}`);
  assert.ok(t.engine.freeSlotCount >= slotsBefore - 64, `free slots ${t.engine.freeSlotCount} of ${slotsBefore}`);
  const director = t.router.director as unknown as { table: { size: number; capacity: number } };
  assert.ok(director.table.size <= director.table.capacity);
  assert.ok(c.lvs_conns_created > 1000, `only ${c.lvs_conns_created} connections`);
  for (const reason of ['ip_bad_checksum', 'eth_runt', 'lvs_no_conn', 'arp_malformed']) assert.ok((c as Record<string, number>)[reason] > 0, `no ${reason}`);
  if (process.env.FUZZ_VERBOSE) console.log(Object.entries(c).filter(([, v]) => v > 0));
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(heapGrowth < 64 * 1024 * 1024, `heap grew ${heapGrowth} bytes`);
});

test('300,000 random and mutated IPv6 frames at IPv6 services (DR, NAT, tun, ICMPv6 errors, extension headers): no exception, no leak, still forwarding', () => {
  const LAN6 = mac('02:00:00:00:01:01');
  const t = testRouter(config6, 1024);
  t.router.announce();
  t.advance(2000);
  const learn = () => {
    for (const [port, who, whoMac, ours] of [[0, '2001:db8:1::fe', GW, '2001:db8:1::10'], [1, '2001:db8:20::11', RS, '2001:db8:20::1'], [0, '2001:db8:1::11', RS, '2001:db8:1::10']] as const) {
      const routerMac = port === 0 ? LAN6 : PRIV;
      t.inject(port, frame6({ dstMac: routerMac, srcMac: whoMac, src: who, dst: ours, nh: 58, hopLimit: 255, payload: nd(135, ours, whoMac) }));
      t.inject(port, frame6({ dstMac: routerMac, srcMac: whoMac, src: who, dst: ours, nh: 58, hopLimit: 255, payload: nd(136, who, whoMac, 0x60) }));
    }
    t.take(0);
    t.take(1);
  };
  learn();
  const client = '2001:db8:9::2';
  const quoted = frame6({ dstMac: GW, srcMac: LAN6, src: '2001:db8:1::2', dst: client, nh: 6, payload: tcp6(80, 40000, 0x10) }).subarray(14);
  const ptb = new Uint8Array(8 + quoted.length);
  ptb[0] = 2;
  ptb[6] = 0x05;
  ptb.set(quoted, 8);
  const withExtension = new Uint8Array(8 + 20);
  withExtension[0] = 6; // a destination-options header, then TCP
  withExtension.set(tcp6(40001, 80, 0x02), 8);
  const fragment = new Uint8Array(8 + 20);
  fragment[0] = 6;
  fragment[3] = 1;
  fragment.set(tcp6(40002, 80, 0x02), 8);
  const bases: [number, Uint8Array][] = [
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::2', nh: 6, payload: tcp6(40000, 80, 0x02) })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::2', nh: 6, payload: tcp6(40000, 80, 0x10, new Uint8Array(1300)) })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::3', nh: 6, payload: tcp6(40000, 443, 0x02) })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::3', nh: 17, payload: udp6(5000, 53, 40) })],
    [1, frame6({ dstMac: PRIV, srcMac: RS, src: '2001:db8:20::11', dst: client, nh: 6, payload: tcp6(8443, 40000, 0x12) })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: '2001:db8:1::fe', dst: '2001:db8:1::2', nh: 58, payload: ptb })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::2', nh: 60, payload: withExtension })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::2', nh: 44, payload: fragment })],
    [0, frame6({ dstMac: LAN6, srcMac: GW, src: client, dst: '2001:db8:1::2', nh: 6, hopLimit: 1, payload: tcp6(40000, 80, 0x02) })],
  ];
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const scratch = new Uint8Array(1600);
  const slotsBefore = t.engine.freeSlotCount;
  const frames = 300_000;
  for (let i = 0; i < frames; i++) {
    const [port, base] = bases[rnd() % bases.length];
    let length = base.length;
    scratch.set(base);
    // Half the time a new client address and port (new connections keep coming), else the one
    // client the replies and errors are about; a few bytes anywhere after Ethernet changed;
    // sometimes cut short or padded.
    if (rnd() % 2 === 0) {
      scratch[14 + 8 + 15] = rnd() & 255;
      scratch[14 + 40 + 1] = rnd() & 255;
    }
    for (let n = rnd() % 4; n > 0; n--) scratch[14 + (rnd() % (length - 14))] = rnd() & 255;
    if (rnd() % 8 === 0) length = rnd() % (length + 1);
    else if (rnd() % 16 === 0) length = Math.min(1514, length + (rnd() % 64));
    const frame = scratch.subarray(0, length);
    deliver(t, i, port, frame);
  }
  t.engine.poll();
  for (let k = 0; k < 12; k++) t.advance(10_000);
  for (let k = 0; k < 4; k++) {
    t.take(0);
    t.take(1);
    t.engine.flush();
    t.engine.poll();
  }
  const c = t.router.counters as unknown as Record<string, number>;
  const census = t.engine.slotCensus();
  assert.equal([census.missing, census.duplicated], [0, 0], `slots lost or doubled: ${JSON.stringify(census)}`);
  assert.ok(t.engine.freeSlotCount >= slotsBefore - 64, `free slots ${t.engine.freeSlotCount} of ${slotsBefore}`);
  const table = (t.router.director as unknown as { table: { size6: number; capacity6: number } }).table;
  assert.ok(table.size6 <= table.capacity6, `${table.size6} IPv6 entries in room for ${table.capacity6}`);
  console.log(`  IPv6: ${c.lvs_conns_created} connections, ${c.lvs_forwarded} forwarded, ${c.lvs_nat_out} NAT replies, ${c.lvs_icmp_forwarded} ICMPv6 errors relayed, ${c.lvs_fragment} fragments and ${c.lvs_no_conn} strays refused`);
  assert.ok(c.lvs_conns_created > 300 && c.lvs_nat_out > 0 && c.lvs_icmp_forwarded > 0 && c.lvs_fragment > 0, 'every path was reached');
  t.take(0);
  // Still forwarding: the real server (forgotten in the two idle minutes) makes itself known
  // again, and a clean SYN to the DR service goes to it.
  learn();
  t.inject(0, frame6({ dstMac: LAN6, srcMac: GW, src: '2001:db8:9::77', dst: '2001:db8:1::2', nh: 6, payload: tcp6(41000, 80, 0x02) }));
  assert.equal(t.take(0).filter((f) => f[13] === 0xdd).map((f) => [f[5], f[14 + 7]]), [[0x11, 63]], 'to the DR server, one hop less');
});

test.run();
