// A million hostile frames through the whole router and director path (ARP, IPv4, ICMP, TCP,
// UDP, NAT replies, IP-in-IP services, fwmark groups): no exception escapes, no slot leaks,
// the table stays within its limit, and every frame is accounted for.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { arpPacket, ethernet, icmpEcho, ipv4Packet, mac, tcpSegment, udpPayload } from '../helpers/frames.js';
import { testRouter } from '../helpers/memory-router.js';
import { Ipv4View } from '../../src/packet/ipv4.js';

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

test.run();
