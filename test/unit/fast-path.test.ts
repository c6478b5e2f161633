// The forwarding fast path (src/l3/fast-path.ts) against the full path: two routers with the
// same config, one with the fast path and one without, take the same frames, plain and hostile.
// Frame for frame they must send the same bytes on every port and count the same (but for
// fast_path), and the fast path must have taken exactly the plain routed frames.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketTracer, parseTraceFilter, type TraceRecord } from '../../src/control/trace.js';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_GSO_UDP_L4, writeVnet } from '../../src/packet/vnet.js';
import { arpPacket, ethernet, ipv4Packet, mac, tcpSegment, udpPayload } from '../helpers/frames.js';
import { testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const WAN_MAC = mac('02:00:00:00:02:01');
const CLIENT_MAC = mac('02:aa:00:00:00:02');
const HOSTS: [string, string, number][] = [
  ['02:aa:00:00:00:02', '10.1.0.2', 0],
  ['02:bb:00:00:00:02', '192.168.2.2', 1], // above 2^31: int32 keys in every map on the way
  ['02:bb:00:00:00:fe', '192.168.2.254', 1], // the gateway to 172.16.0.0/12
  ['02:bb:00:00:00:0a', '192.168.2.10', 1], // a NAT real server
];

const CONFIG = {
  interfaces: [
    { name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['10.1.0.1/24'] },
    { name: 'wan', tap: 'wan', mac: '02:00:00:00:02:01', mtu: 1400, addresses: ['192.168.2.1/24'] },
  ],
  routes: [{ to: '172.16.0.0/12', via: '192.168.2.254' }],
  services: [{ protocol: 'tcp', vip: '10.1.0.100', port: 80, scheduler: 'rr', realServers: [{ address: '192.168.2.10', method: 'nat' }] }],
  icmp: { ratePerSecond: 1000, burst: 1000 },
};

const udp = (o: { src?: string; dst: string; ttl?: number; bytes?: number; df?: boolean; to?: Uint8Array; from?: Uint8Array }) => {
  const src = o.src ?? '10.1.0.2';
  return ethernet(o.to ?? LAN_MAC, o.from ?? CLIENT_MAC, 0x0800, ipv4Packet({ src, dst: o.dst, protocol: 17, ttl: o.ttl, df: o.df, payload: udpPayload(src, o.dst, 1000, 2000, new Uint8Array(o.bytes ?? 64)) }));
};
const edit = (frame: Uint8Array, fn: (f: Uint8Array) => void) => {
  const f = frame.slice();
  fn(f);
  return f;
};

interface Case {
  name: string;
  port: number;
  frame: Uint8Array;
  /** Whether the fast path should take it. */
  fast: boolean;
  vnet?: Uint8Array;
  /** Milliseconds to let pass before it. */
  after?: number;
}

/** A virtio-net header without GSO; a partial checksum is UDP's (at 34 + 6) unless told. */
function vnet(flags: number, csumStart = flags & VNET_F_NEEDS_CSUM ? 34 : 0): Uint8Array {
  const v = new Uint8Array(10);
  writeVnet(v, 0, { flags, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart, csumOffset: flags & VNET_F_NEEDS_CSUM ? 6 : 0 });
  return v;
}

function cases(offload: boolean): Case[] {
  const plain = udp({ dst: '192.168.2.2' });
  const list: Case[] = [
    { name: 'plain routed', port: 0, frame: plain, fast: true },
    { name: 'through the gateway', port: 0, frame: udp({ dst: '172.20.1.1' }), fast: true },
    { name: 'the other way', port: 1, frame: udp({ src: '192.168.2.2', dst: '10.1.0.2', to: WAN_MAC, from: mac(HOSTS[1][0]) }), fast: true },
    { name: 'TTL 2', port: 0, frame: udp({ dst: '192.168.2.2', ttl: 2 }), fast: true },
    { name: 'TTL 1: time exceeded', port: 0, frame: udp({ dst: '192.168.2.2', ttl: 1 }), fast: false },
    { name: 'Ethernet padding stays behind', port: 0, frame: Uint8Array.from([...plain, 0, 0, 0, 0]), fast: true },
    { name: 'bad header checksum', port: 0, frame: edit(plain, (f) => (f[24] ^= 0x55)), fast: false },
    { name: 'IP options', port: 0, frame: edit(plain, (f) => (f[14] = 0x46)), fast: false },
    { name: 'total length past the frame', port: 0, frame: edit(plain, (f) => (f[17] += 40)), fast: false },
    { name: 'runt', port: 0, frame: plain.slice(0, 30), fast: false },
    { name: 'for us', port: 0, frame: udp({ dst: '192.168.2.1' }), fast: false },
    { name: 'for the VIP', port: 0, frame: ethernet(LAN_MAC, CLIENT_MAC, 0x0800, ipv4Packet({ src: '10.1.0.2', dst: '10.1.0.100', protocol: 6, payload: tcpSegment('10.1.0.2', '10.1.0.100', 40000, 80, 0x02) })), fast: false },
    { name: 'NAT reply, rewritten on the way', port: 1, frame: ethernet(WAN_MAC, mac(HOSTS[3][0]), 0x0800, ipv4Packet({ src: '192.168.2.10', dst: '10.1.0.2', protocol: 6, payload: tcpSegment('192.168.2.10', '10.1.0.2', 80, 40000, 0x12) })), fast: true },
    { name: 'subnet broadcast', port: 0, frame: udp({ dst: '192.168.2.255' }), fast: false },
    // A host that asks for us from the broadcast address is not learnt: nothing is unicast to it.
    { name: 'an ARP request from the subnet broadcast', port: 1, frame: ethernet(BROADCAST_MAC, mac('02:66:00:00:00:01'), 0x0806, arpPacket(1, mac('02:66:00:00:00:01'), '192.168.2.255', ZERO_MAC, '192.168.2.1')), fast: false },
    { name: 'subnet broadcast after that request', port: 0, frame: udp({ dst: '192.168.2.255' }), fast: false },
    { name: 'limited broadcast', port: 0, frame: udp({ dst: '255.255.255.255' }), fast: false },
    { name: 'multicast', port: 0, frame: udp({ dst: '224.0.0.5' }), fast: false },
    { name: 'loopback source', port: 0, frame: udp({ src: '127.0.0.1', dst: '192.168.2.2' }), fast: false },
    { name: 'source is a subnet broadcast', port: 0, frame: udp({ src: '10.1.0.255', dst: '192.168.2.2' }), fast: false },
    { name: 'the ingress network\'s broadcast', port: 0, frame: udp({ dst: '10.1.0.255' }), fast: false },
    // Any subnet broadcast of ours is the full path's, from any interface: this one it forwards.
    { name: 'source is the other network\'s broadcast', port: 1, frame: udp({ src: '10.1.0.255', dst: '10.1.0.2', to: WAN_MAC, from: mac(HOSTS[1][0]) }), fast: false },
    // Ends in .255 like both broadcasts (it has every bit they share), but is none of them.
    { name: 'an address like a broadcast', port: 0, frame: udp({ dst: '172.20.1.255' }), fast: true },
    { name: 'unresolved next hop: parked, ARP asked', port: 0, frame: udp({ dst: '192.168.2.77' }), fast: false },
    { name: 'no route', port: 0, frame: udp({ dst: '8.8.8.8' }), fast: false },
    { name: 'too big with DF', port: 0, frame: udp({ dst: '192.168.2.2', bytes: 1400, df: true }), fast: false },
    { name: 'too big without DF: fragmented', port: 0, frame: udp({ dst: '192.168.2.2', bytes: 1400 }), fast: false },
    { name: 'another host\'s MAC', port: 0, frame: udp({ dst: '192.168.2.2', to: mac('02:00:00:00:99:99') }), fast: false },
    { name: 'link broadcast', port: 0, frame: udp({ dst: '192.168.2.2', to: BROADCAST_MAC }), fast: false },
    { name: 'an ARP request', port: 0, frame: ethernet(BROADCAST_MAC, CLIENT_MAC, 0x0806, arpPacket(1, CLIENT_MAC, '10.1.0.2', ZERO_MAC, '10.1.0.1')), fast: false },
    { name: 'an unknown EtherType', port: 0, frame: edit(plain, (f) => (f[12] = 0x88)), fast: false },
    // After reachable time the neighbour is stale: the full path sends it a probe; while
    // that probe is out, the fast path may send to it again.
    { name: 'stale next hop: probed', port: 0, frame: plain, fast: false, after: 31_000 },
    { name: 'stale next hop, probe out', port: 0, frame: plain, fast: true },
  ];
  if (offload) {
    list.push(
      { name: 'partial checksum', port: 0, frame: plain, vnet: vnet(VNET_F_NEEDS_CSUM), fast: true },
      { name: 'partial checksum past the packet', port: 0, frame: plain, vnet: vnet(VNET_F_NEEDS_CSUM, 100), fast: false },
      { name: 'partial checksum in the IP header', port: 0, frame: plain, vnet: vnet(VNET_F_NEEDS_CSUM, 20), fast: false },
      { name: 'a super-frame header on a small frame', port: 0, frame: plain, vnet: Uint8Array.from([VNET_F_NEEDS_CSUM, VNET_GSO_UDP_L4, 0, 0, 0, 0, 34, 0, 6, 0]), fast: false },
      { name: 'checksum verified (DATA_VALID)', port: 0, frame: plain, vnet: vnet(VNET_F_DATA_VALID), fast: true },
    );
  }
  return list;
}

function learnHosts(t: TestRouter): void {
  for (const [m, a, port] of HOSTS) t.inject(port, ethernet(BROADCAST_MAC, mac(m), 0x0806, arpPacket(1, mac(m), a, ZERO_MAC, port === 0 ? '10.1.0.1' : '192.168.2.1')));
  t.take(0);
  t.take(1);
}

const hex = (frames: Uint8Array[]) => frames.map((f) => Buffer.from(f).toString('hex'));

for (const offload of [false, true]) {
  const test = suite(`fast path${offload ? ' with offloads' : ''}`);

  test('sends the bytes and counts what the full path does, and takes exactly the plain routed frames', () => {
    const fast = testRouter(CONFIG, 256, { offload });
    const full = testRouter(CONFIG, 256, { offload });
    full.router.fastPath = false;
    assert.ok(fast.router.fastPath, 'on by default');
    for (const t of [fast, full]) {
      learnHosts(t);
      // The client's SYN makes the NAT connection the reply below belongs to.
      t.inject(0, cases(offload).find((c) => c.name === 'for the VIP')!.frame);
      t.take(0);
      t.take(1);
    }
    let tookFast = 0;
    for (const c of cases(offload)) {
      const before = fast.router.counters.fast_path;
      for (const t of [fast, full]) {
        if (c.after) t.advance(c.after);
        t.inject(c.port, c.frame, c.vnet);
      }
      const took = fast.router.counters.fast_path - before;
      assert.is(took, c.fast ? 1 : 0, `${c.name}: ${c.fast ? 'should take' : 'should decline'} the fast path`);
      tookFast += took;
      let sent = 0;
      for (const port of [0, 1]) {
        if (offload) assert.equal(hex(fast.sentVnet[port].map((v) => v!)), hex(full.sentVnet[port].map((v) => v!)), `${c.name}: the virtio-net headers port ${port} sent`);
        const sentFast = fast.take(port), sentFull = full.take(port);
        assert.equal(hex(sentFast), hex(sentFull), `${c.name}: what port ${port} sent`);
        sent += sentFast.length;
      }
      if (c.fast) assert.is(sent, 1, `${c.name}: forwarded`);
      const { fast_path: _f, ...countedFast } = fast.router.counters;
      const { fast_path: noFast, ...countedFull } = full.router.counters;
      assert.is(noFast, 0, 'the full-path router took no frame fast');
      assert.equal(countedFast, countedFull, `${c.name}: the counters`);
    }
    assert.ok(fast.router.counters.lvs_nat_out > 0, 'the NAT reply was rewritten on the fast path');
    if (offload) assert.is(fast.router.counters.vnet_malformed, 3, 'the lying virtio-net headers counted');
    console.log(`fast path${offload ? ' (offloads)' : ''}: took ${tookFast} of ${cases(offload).length} frames, the same bytes and counters as the full path`);
    fast.engine.destroy();
    full.engine.destroy();
  });

  test('a burst of plain and declined frames, taken in one poll: the same bytes, in the same order, as the full path', () => {
    const fast = testRouter(CONFIG, 256, { offload });
    const full = testRouter(CONFIG, 256, { offload });
    full.router.fastPath = false;
    // Every case that needs no clock step, each port's frames one burst: declined frames go to
    // the full path in their turn, between the fast path's.
    const burst = cases(offload).filter((c) => !c.after);
    for (const t of [fast, full]) {
      learnHosts(t);
      t.inject(0, burst.find((c) => c.name === 'for the VIP')!.frame);
      t.take(0);
      t.take(1);
      for (const c of burst) if (!t.backend.inject(c.port, c.frame, c.vnet)) throw new Error(`${c.name}: no slot`);
      t.engine.poll();
    }
    const plain = burst.filter((c) => c.fast).length;
    assert.is(fast.router.counters.fast_path, plain, `the ${plain} plain routed frames of ${burst.length} took the fast path`);
    for (const port of [0, 1]) {
      if (offload) assert.equal(hex(fast.sentVnet[port].map((v) => v!)), hex(full.sentVnet[port].map((v) => v!)), `the virtio-net headers port ${port} sent`);
      assert.equal(hex(fast.take(port)), hex(full.take(port)), `what port ${port} sent, in order`);
    }
    const { fast_path: _f, ...countedFast } = fast.router.counters;
    const { fast_path: _n, ...countedFull } = full.router.counters;
    assert.equal(countedFast, countedFull, 'the counters');
    assert.equal(fast.engine.slotCensus(), full.engine.slotCensus(), 'every slot accounted for, as on the full path');
    fast.engine.destroy();
    full.engine.destroy();
  });

  test('gives way to the full path while a trace runs, so traced frames show every decision', () => {
    const t = testRouter(CONFIG, 256, { offload });
    learnHosts(t);
    const tracer = new PacketTracer();
    t.router.tracer = tracer;
    const records: TraceRecord[] = [];
    tracer.watch(parseTraceFilter('192.168.2.2'), (r) => records.push(r));
    t.inject(0, udp({ dst: '192.168.2.2' }));
    assert.is(t.take(1).length, 1, 'forwarded');
    assert.is(t.router.counters.fast_path, 0, 'not by the fast path');
    assert.is(records.length, 1);
    assert.ok(records[0].decisions.some((d) => d.startsWith('route 192.168.2.0/24')), records[0].decisions.join(' | '));
    assert.ok(records[0].decisions.some((d) => d.startsWith('send wan to 192.168.2.2')), records[0].decisions.join(' | '));
    t.router.tracer = null;
    t.inject(0, udp({ dst: '192.168.2.2' }));
    assert.is(t.router.counters.fast_path, 1, 'the fast path again once the trace ends');
    t.engine.destroy();
  });

  test('a run that goes to the same neighbour number on another port (each port numbers its own) sends each frame to its own neighbour', () => {
    const fast = testRouter(CONFIG, 256, { offload });
    const full = testRouter(CONFIG, 256, { offload });
    full.router.fastPath = false;
    // 192.168.2.2 and 10.1.0.2 are each the first neighbour learnt on their port; the second
    // frame goes back out of the port it came in on (no redirect, as the full path).
    const burst = [udp({ dst: '192.168.2.2' }), udp({ src: '10.1.0.5', dst: '10.1.0.2' }), udp({ dst: '192.168.2.2' })];
    for (const t of [fast, full]) {
      learnHosts(t);
      for (const f of burst) if (!t.backend.inject(0, f)) throw new Error('no slot');
      t.engine.poll();
    }
    assert.is(fast.router.counters.fast_path, 3, 'one run');
    for (const port of [0, 1]) assert.equal(hex(fast.take(port)), hex(full.take(port)), `what port ${port} sent`);
    fast.engine.destroy();
    full.engine.destroy();
  });

  test('a frame that does not start on a word (headroom 130, which the addon allows) takes the full path', () => {
    // A MAC that starts 00:00 (VRRP's), and the two zero bytes of headroom before each frame:
    // read a word early, a frame to 5e:00:01:01:.. would pass for one to this port.
    const vrrpMac = '00:00:5e:00:01:01';
    const config = { ...CONFIG, interfaces: [{ ...CONFIG.interfaces[0], mac: vrrpMac }, CONFIG.interfaces[1]] };
    const odd = testRouter(config, 256, { offload, headroom: 130 });
    const full = testRouter(config, 256, { offload, headroom: 130 });
    full.router.fastPath = false;
    for (const t of [odd, full]) {
      learnHosts(t);
      t.inject(0, udp({ dst: '192.168.2.2', to: mac(vrrpMac) }));
      t.inject(0, udp({ dst: '192.168.2.2', to: mac('5e:00:01:01:00:00') }));
    }
    assert.is(odd.router.counters.fast_path, 0, 'declined: the Ethernet words are read and written whole');
    const sent = odd.take(1);
    assert.is(sent.length, 1, 'the frame to this port forwarded by the full path, the other not');
    assert.equal(hex(sent), hex(full.take(1)), 'the same bytes');
    assert.equal(odd.router.counters, full.router.counters, 'the same counters');
    odd.engine.destroy();
    full.engine.destroy();
  });

  test('turns off and on', () => {
    const t = testRouter(CONFIG, 256, { offload });
    learnHosts(t);
    t.router.fastPath = false;
    t.inject(0, udp({ dst: '192.168.2.2' }));
    assert.is(t.take(1).length, 1);
    assert.is(t.router.counters.fast_path, 0);
    t.router.fastPath = true;
    t.inject(0, udp({ dst: '192.168.2.2' }));
    assert.is(t.take(1).length, 1);
    assert.is(t.router.counters.fast_path, 1);
    t.engine.destroy();
  });

  test.run();
}
