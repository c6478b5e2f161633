// BFD (RFC 5880/5881): the session's state machine on its own, then tapvs answering a peer on
// the in-memory port: what it sends back, and every hostile packet counted and refused.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BfdSession, type BfdReceived } from '../../src/ha/bfd-session.js';
import { BfdResponder } from '../../src/ha/bfd.js';
import { BFD_LENGTH, BFD_PORT, BfdDiag, BfdState, BfdView, type BfdFields } from '../../src/packet/bfd.js';
import { parseIpv4 } from '../../src/packet/address.js';
import { checksum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { parseConfig } from '../../src/control/config.js';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { arpPacket, ethernet, ipv4Packet, mac, udpPayload } from '../helpers/frames.js';
import { testRouter } from '../helpers/memory-router.js';
import { a6, frame6, isIpv6Frame, nd, seen6, udp6 } from '../helpers/frames6.js';
import { NH_ICMPV6, NH_UDP } from '../../src/packet/ipv6.js';

const TIMERS = { desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: 3 };
const PEER_DISCR = 0x1234_5678;

function session() {
  const sent: BfdFields[] = [];
  const changes: string[] = [];
  const s = new BfdSession(0xabcd, TIMERS, { send: (_s, f) => sent.push(f), transition: (_s, from, to) => changes.push(`${from}>${to}`) }, () => 0.5);
  return { s, sent, changes };
}

const from = (state: BfdState, more: Partial<BfdReceived> = {}): BfdReceived => ({ state, poll: false, final: false, demand: false, detectMult: 5, myDiscr: PEER_DISCR, yourDiscr: 0, desiredMinTxUs: 100_000, requiredMinRxUs: 10_000, ...more });

test('three-way handshake: Down -> Init -> Up, answering at once with our discriminator and its', () => {
  const { s, sent, changes } = session();
  s.receive(0, from(BfdState.Down));
  assert.is(s.state, BfdState.Init);
  assert.is(sent.length, 1, 'passive: the first packet goes when the peer first speaks');
  assert.is(sent[0].state, BfdState.Init);
  assert.is(sent[0].yourDiscr, PEER_DISCR);
  assert.is(sent[0].myDiscr, 0xabcd);
  assert.ok(sent[0].desiredMinTxUs >= 1_000_000, 'RFC 5880 6.8.3: no faster than 1/s while not Up');
  s.receive(10, from(BfdState.Up, { yourDiscr: 0xabcd }));
  assert.is(s.state, BfdState.Up);
  assert.equal(changes, ['1>2', '2>3']);
  const up = sent.at(-1)!;
  assert.is(up.state, BfdState.Up);
  assert.is(up.desiredMinTxUs, 100_000, 'Up: the configured rate...');
  assert.ok(up.poll, '...announced in a Poll Sequence');
});

test('a Poll is answered at once with Final; Final ends our Poll Sequence; periodic packets at the negotiated rate with jitter', () => {
  const { s, sent } = session();
  s.receive(0, from(BfdState.Down));
  s.receive(10, from(BfdState.Up, { yourDiscr: 0xabcd }));
  const before = sent.length;
  s.receive(20, from(BfdState.Up, { yourDiscr: 0xabcd, poll: true }));
  assert.is(sent.length, before + 1);
  assert.ok(sent.at(-1)!.final && !sent.at(-1)!.poll, 'Final, Poll clear');
  s.receive(30, from(BfdState.Up, { yourDiscr: 0xabcd, final: true }));
  // max(our 100 ms, its 10 ms) less jitter (0.5 of 25%): 87.5 ms.
  s.tick(10 + 87.4);
  const n = sent.length;
  s.tick(10 + 87.5);
  assert.is(sent.length, n + 1);
  assert.ok(!sent.at(-1)!.poll, 'the Poll Sequence is over');
});

test('detection time: the peer multiplier times the slower of our RX and its TX; expiry is Down with diag 1, and the passive side falls silent', () => {
  const { s, sent } = session();
  s.receive(0, from(BfdState.Down));
  s.receive(10, from(BfdState.Up, { yourDiscr: 0xabcd, desiredMinTxUs: 200_000 }));
  assert.is(s.detectionTimeMs, 5 * 200);
  s.tick(10 + 999);
  assert.is(s.state, BfdState.Up);
  s.tick(10 + 1000);
  assert.is(s.state, BfdState.Down);
  assert.is(s.diag, BfdDiag.DetectionTimeExpired);
  assert.is(s.remoteDiscr, 0);
  const n = sent.length;
  s.tick(60_000);
  assert.is(sent.length, n, 'nothing sent to a peer that went away');
});

test('the peer saying Down or AdminDown brings the session down (diag 3)', () => {
  for (const said of [BfdState.Down, BfdState.AdminDown]) {
    const { s } = session();
    s.receive(0, from(BfdState.Down));
    s.receive(10, from(BfdState.Up, { yourDiscr: 0xabcd }));
    s.receive(20, from(said, { yourDiscr: 0xabcd }));
    assert.is(s.state, BfdState.Down);
    assert.is(s.diag, BfdDiag.NeighborSignaledDown);
    s.receive(30, from(BfdState.Down, { yourDiscr: 0xabcd }));
    assert.is(s.state, BfdState.Init, 'and the next Down starts the handshake over');
  }
});

test('adminDown tells a live peer AdminDown (diag 7) once, then the session is silent', () => {
  const { s, sent } = session();
  s.receive(0, from(BfdState.Down));
  s.receive(10, from(BfdState.Up, { yourDiscr: 0xabcd }));
  s.adminDown();
  assert.is(sent.at(-1)!.state, BfdState.AdminDown);
  assert.is(sent.at(-1)!.diag, BfdDiag.AdministrativelyDown);
  const n = sent.length;
  s.receive(20, from(BfdState.Up, { yourDiscr: 0xabcd }));
  s.tick(10_000);
  assert.is(sent.length, n);
});

// ---- on the router

const ROUTER_MAC = '02:00:00:00:01:01';
const PEER_MAC = mac('02:aa:00:00:00:fb');
const config = {
  interfaces: [{ name: 'lan', tap: 'lan', mac: ROUTER_MAC, addresses: ['192.168.1.21/24'] }],
  bgp: { birdSocket: '/nonexistent', routesFile: '/nonexistent', nextHop: '192.168.1.21', bfd: { peers: ['192.168.1.251'], intervalMs: 100, multiplier: 3 } },
};

function bfdPacket(f: Partial<BfdFields> & { flags?: number; length?: number } = {}): Uint8Array {
  const p = new Uint8Array(BFD_LENGTH);
  new BfdView().point(p, 0).write({ diag: 0, state: BfdState.Down, poll: false, final: false, detectMult: 3, myDiscr: PEER_DISCR, yourDiscr: 0, desiredMinTxUs: 1_000_000, requiredMinRxUs: 100_000, ...f });
  if (f.flags) p[1] |= f.flags;
  if (f.length !== undefined) p[3] = f.length;
  return p;
}

function frameFrom(src: string, payload: Uint8Array, ttl = 255, sport = 49200): Uint8Array {
  return ethernet(mac(ROUTER_MAC), PEER_MAC, 0x0800, ipv4Packet({ src, dst: '192.168.1.21', protocol: 17, ttl, payload: udpPayload(src, '192.168.1.21', sport, BFD_PORT, payload) }));
}

function withResponder() {
  const t = testRouter(config);
  const parsed = parseConfig(config);
  const r = new BfdResponder(t.router, t.engine, parsed.bgp!.bfd!, { debug() {}, info() {}, warn() {}, error() {} }, () => t.clock.now);
  r.start();
  t.inject(0, ethernet(BROADCAST_MAC, PEER_MAC, 0x0806, arpPacket(1, PEER_MAC, '192.168.1.251', ZERO_MAC, '192.168.1.21')));
  t.take(0);
  return { t, r };
}

test('on the router: a Down from the configured peer is answered Init from the address it reached, TTL 255, a source port >= 49152, a good UDP checksum', () => {
  const { t, r } = withResponder();
  try {
    t.inject(0, frameFrom('192.168.1.251', bfdPacket()));
    const out = t.take(0);
    assert.is(out.length, 1);
    const f = out[0];
    const ip = 14;
    assert.is(f[ip + 8], 255, 'TTL 255 (RFC 5881 5)');
    assert.is([...f.subarray(ip + 12, ip + 16)].join('.'), '192.168.1.21');
    assert.is([...f.subarray(ip + 16, ip + 20)].join('.'), '192.168.1.251');
    const udp = ip + 20;
    assert.ok(((f[udp] << 8) | f[udp + 1]) >= 49152);
    assert.is((f[udp + 2] << 8) | f[udp + 3], BFD_PORT);
    const udpLength = (f[udp + 4] << 8) | f[udp + 5];
    assert.is(checksum(f, udp, udpLength, pseudoHeaderSum(parseIpv4('192.168.1.21')!, parseIpv4('192.168.1.251')!, 17, udpLength)), 0);
    const v = new BfdView().point(f, udp + 8);
    assert.is(v.state, BfdState.Init);
    assert.is(v.yourDiscr, PEER_DISCR);
    assert.is(r.status()[0].state, 'Init');
    t.inject(0, frameFrom('192.168.1.251', bfdPacket({ state: BfdState.Up, yourDiscr: v.myDiscr })));
    assert.is(r.status()[0].state, 'Up');
    assert.is(t.router.counters.bfd_received, 2);
    assert.is(t.router.counters.bfd_dropped, 0);
    r.stop();
    const bye = new BfdView().point(t.take(0).at(-1)!, udp + 8);
    assert.is(bye.state, BfdState.AdminDown, 'a graceful stop says AdminDown');
  } finally {
    r.stop();
    t.engine.destroy();
  }
});

test('hostile BFD: off-link TTL, a stranger, a discriminator never given, auth, multipoint, lying lengths, zero multiplier or discriminator: each a counted drop, no session, nothing sent', () => {
  const { t, r } = withResponder();
  try {
    const cases: [string, Uint8Array][] = [
      ['TTL 254', frameFrom('192.168.1.251', bfdPacket(), 254)],
      ['a peer not configured', frameFrom('192.168.1.99', bfdPacket())],
      ['your discriminator never given', frameFrom('192.168.1.251', bfdPacket({ yourDiscr: 77 }))],
      ['Up without your discriminator', frameFrom('192.168.1.251', bfdPacket({ state: BfdState.Up }))],
      ['authentication bit', frameFrom('192.168.1.251', bfdPacket({ flags: 0x04 }))],
      ['multipoint bit', frameFrom('192.168.1.251', bfdPacket({ flags: 0x01 }))],
      ['length beyond the datagram', frameFrom('192.168.1.251', bfdPacket({ length: 60 }))],
      ['length under 24', frameFrom('192.168.1.251', bfdPacket({ length: 20 }))],
      ['detect multiplier 0', frameFrom('192.168.1.251', bfdPacket({ detectMult: 0 }))],
      ['my discriminator 0', frameFrom('192.168.1.251', bfdPacket({ myDiscr: 0 }))],
      ['version 0', frameFrom('192.168.1.251', (() => { const p = bfdPacket(); p[0] &= 0x1f; return p; })())],
      ['a runt', frameFrom('192.168.1.251', new Uint8Array(10))],
    ];
    for (const [what, frame] of cases) {
      const dropped = t.router.counters.bfd_dropped;
      t.inject(0, frame);
      assert.is(t.router.counters.bfd_dropped, dropped + 1, what);
      assert.is(t.take(0).length, 0, `${what}: nothing sent`);
    }
    assert.is(r.status()[0].state, 'Down');
    console.log(`  ${cases.length} kinds of hostile BFD packet: bfd_dropped ${t.router.counters.bfd_dropped}, sessions up 0`);
    // And the real one still works afterwards.
    t.inject(0, frameFrom('192.168.1.251', bfdPacket()));
    assert.is(r.status()[0].state, 'Init');
  } finally {
    r.stop();
    t.engine.destroy();
  }
});

// ---- over IPv6: BIRD keeps a session to the next hop of each IPv6 VIP route

const OURS6 = '2001:db8:1::15';
const PEER6 = '2001:db8:1::fb';
const config6 = {
  interfaces: [{ name: 'lan', tap: 'lan', mac: ROUTER_MAC, addresses: ['192.168.1.21/24', `${OURS6}/64`] }],
  bgp: { birdSocket: '/nonexistent', routesFile: '/nonexistent', routesFile6: '/nonexistent', bfd: { peers: ['192.168.1.251', PEER6], intervalMs: 100, multiplier: 3 } },
};

function frameFrom6(src: string, payload: Uint8Array, hopLimit = 255): Uint8Array {
  const udp = udp6(49200, BFD_PORT, payload.length);
  udp.set(payload, 8);
  return frame6({ dstMac: mac(ROUTER_MAC), srcMac: PEER_MAC, src, dst: OURS6, nh: NH_UDP, hopLimit, payload: udp });
}

test('over IPv6: the configured peer gets a session from the address it reached, hop limit 255, a good checksum; hostile ones are counted drops', () => {
  const t = testRouter(config6);
  const r = new BfdResponder(t.router, t.engine, parseConfig(config6).bgp!.bfd!, { debug() {}, info() {}, warn() {}, error() {} }, () => t.clock.now);
  r.start();
  try {
    // The peer is a known neighbour, so the answer leaves at once.
    t.inject(0, frame6({ dstMac: mac(ROUTER_MAC), srcMac: PEER_MAC, src: PEER6, dst: OURS6, nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, OURS6, PEER_MAC) }));
    t.inject(0, frame6({ dstMac: mac(ROUTER_MAC), srcMac: PEER_MAC, src: PEER6, dst: OURS6, nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, PEER6, PEER_MAC, 0x60) }));
    t.take(0);
    t.inject(0, frameFrom6(PEER6, bfdPacket()));
    const out = t.take(0).filter(isIpv6Frame);
    assert.is(out.length, 1, 'answered');
    const f = seen6(out[0]);
    assert.equal([f.src, f.dst, f.hopLimit, f.nh, f.dport, f.checksumOk], [OURS6, PEER6, 255, NH_UDP, BFD_PORT, true]);
    assert.ok(f.sport >= 49152);
    assert.is(((out[0][14] & 0x0f) << 4) | (out[0][15] >> 4), 0xc0, 'traffic class: network control');
    const v = new BfdView().point(out[0], 14 + 40 + 8);
    assert.is(v.state, BfdState.Init);
    t.inject(0, frameFrom6(PEER6, bfdPacket({ state: BfdState.Up, yourDiscr: v.myDiscr })));
    const poll = t.take(0).filter(isIpv6Frame);
    assert.is(poll.length, 1, 'Up: a poll for the configured rate (RFC 5880 6.8.3)');
    assert.is(new BfdView().point(poll[0], 14 + 40 + 8).poll, true);
    const status = r.status().find((x) => x.peer === PEER6)!;
    assert.equal([status.state, status.local, status.iface], ['Up', OURS6, 'lan']);
    assert.is(r.status().find((x) => x.peer === '192.168.1.251')!.state, 'Down', 'the IPv4 peer has its own session');
    // Hostile: off-link, a stranger, a zero checksum, a flipped bit.
    const zeroSum = frameFrom6(PEER6, bfdPacket());
    zeroSum[14 + 40 + 6] = zeroSum[14 + 40 + 7] = 0;
    const flipped = frameFrom6(PEER6, bfdPacket());
    flipped[14 + 40 + 8 + 10] ^= 1;
    const before = t.router.counters.bfd_dropped;
    for (const frame of [frameFrom6(PEER6, bfdPacket(), 254), frameFrom6('2001:db8:1::99', bfdPacket()), zeroSum, flipped]) t.inject(0, frame);
    assert.is(t.router.counters.bfd_dropped - before, 4);
    const answered = t.take(0).filter(isIpv6Frame).map(seen6);
    assert.is(answered.length, 0, `nothing answered: ${JSON.stringify(answered)}`);
    assert.is(r.status().find((x) => x.peer === PEER6)!.state, 'Up', 'the session stands');
    console.log(`  IPv6 session Up from ${status.local}; 4 hostile packets: bfd_dropped ${t.router.counters.bfd_dropped - before}`);
  } finally {
    r.stop();
    t.engine.destroy();
  }
});

test.run();
