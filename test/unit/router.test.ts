// The router on the in-memory backend: every decision, frame by frame, with a fake clock.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { arpPacket, ethernet, icmpEcho, ip, ipv4Packet, mac, parse, udpPayload } from '../helpers/frames.js';
import { TWO_NETS, testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const WAN_MAC = mac('02:00:00:00:02:01');
const CLIENT_MAC = mac('02:aa:00:00:00:02');
const SERVER_MAC = mac('02:bb:00:00:00:02');
const GATEWAY_MAC = mac('02:cc:00:00:00:fe');

function udpFrame(opts: { src?: string; dst?: string; ttl?: number; df?: boolean; size?: number; dstMac?: Uint8Array } = {}): Uint8Array {
  const src = opts.src ?? '10.1.0.2';
  const dst = opts.dst ?? '10.2.0.2';
  const payload = udpPayload(src, dst, 4000, 5000, new Uint8Array(opts.size ?? 32).fill(7));
  return ethernet(opts.dstMac ?? LAN_MAC, CLIENT_MAC, 0x0800, ipv4Packet({ src, dst, protocol: 17, payload, ttl: opts.ttl, df: opts.df }));
}

/** Teach the router where the client and server are, as their own ARP requests would. */
function learnNeighbours(t: TestRouter): void {
  t.inject(0, ethernet(BROADCAST_MAC, CLIENT_MAC, 0x0806, arpPacket(1, CLIENT_MAC, '10.1.0.2', ZERO_MAC, '10.1.0.1')));
  t.inject(1, ethernet(BROADCAST_MAC, SERVER_MAC, 0x0806, arpPacket(1, SERVER_MAC, '10.2.0.2', ZERO_MAC, '10.2.0.1')));
  t.take(0);
  t.take(1);
}

const arp = suite('ARP');

arp('answers a request for an address of the receiving interface, from that interface', () => {
  const t = testRouter(TWO_NETS);
  t.inject(0, ethernet(BROADCAST_MAC, CLIENT_MAC, 0x0806, arpPacket(1, CLIENT_MAC, '10.1.0.2', ZERO_MAC, '10.1.0.1')));
  const [reply] = t.take(0);
  const p = parse(reply);
  assert.is(p.dstMac, '02:aa:00:00:00:02');
  assert.is(p.srcMac, '02:00:00:00:01:01');
  assert.equal(p.arp, { op: 2, senderMac: '02:00:00:00:01:01', senderIp: '10.1.0.1', targetMac: '02:aa:00:00:00:02', targetIp: '10.1.0.2' });
  assert.is(t.router.counters.arp_requests_answered, 1);
});

arp('does not answer for an address that lives on another interface', () => {
  const t = testRouter(TWO_NETS);
  t.inject(0, ethernet(BROADCAST_MAC, CLIENT_MAC, 0x0806, arpPacket(1, CLIENT_MAC, '10.1.0.2', ZERO_MAC, '10.2.0.1')));
  assert.is(t.take(0).length, 0);
  assert.is(t.router.counters.arp_not_for_us, 1);
});

arp('a request for a neighbour carries the egress interface address on its subnet, never the packet source', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  // 10.20.5.5 is on wan's second subnet: the request must say "tell 10.20.0.1".
  t.inject(0, udpFrame({ dst: '10.20.5.5' }));
  t.inject(0, udpFrame({ dst: '10.2.0.99' }));
  const requests = t.take(1).map(parse);
  assert.is(requests.length, 2);
  assert.equal(requests.map((r) => [r.arp!.senderIp, r.arp!.targetIp, r.dstMac]), [
    ['10.20.0.1', '10.20.5.5', 'ff:ff:ff:ff:ff:ff'],
    ['10.2.0.1', '10.2.0.99', 'ff:ff:ff:ff:ff:ff'],
  ]);
  for (const r of requests) assert.is.not(r.arp!.senderIp, '10.1.0.2');
});

arp('a request for a gateway off every subnet falls back to the first primary address', () => {
  const t = testRouter({ ...TWO_NETS, routes: [{ to: '10.9.0.0/16', via: '192.0.2.1', dev: 'wan' }] });
  t.inject(0, udpFrame({ dst: '10.9.1.1' }));
  const [req] = t.take(1).map(parse);
  assert.is(req.arp!.senderIp, '10.2.0.1');
  assert.is(req.arp!.targetIp, '192.0.2.1');
});

arp('frames wait for resolution and leave when the reply comes', () => {
  const t = testRouter(TWO_NETS);
  t.inject(0, udpFrame());
  t.inject(0, udpFrame());
  assert.is(t.take(1).length, 1, 'one ARP request, not one per packet');
  t.inject(1, ethernet(WAN_MAC, SERVER_MAC, 0x0806, arpPacket(2, SERVER_MAC, '10.2.0.2', WAN_MAC, '10.2.0.1')));
  const out = t.take(1).map(parse);
  assert.is(out.length, 2);
  for (const f of out) {
    assert.is(f.dstMac, '02:bb:00:00:00:02');
    assert.is(f.srcMac, '02:00:00:00:02:01');
    assert.is(f.ip!.ttl, 63);
  }
});

arp('the pending queue is bounded and drops the oldest', () => {
  const t = testRouter({ ...TWO_NETS, neighbour: { queuePerNeighbour: 3 } });
  for (let i = 0; i < 10; i++) t.inject(0, udpFrame());
  assert.is(t.router.counters.arp_queue_full, 7);
});

arp('a new neighbour is learnt only from a request to us, from its own link', () => {
  const t = testRouter(TWO_NETS);
  // A reply nobody asked for, and a request from an address off the link: neither creates an entry.
  t.inject(1, ethernet(WAN_MAC, SERVER_MAC, 0x0806, arpPacket(2, SERVER_MAC, '10.2.0.2', WAN_MAC, '10.2.0.1')));
  t.inject(1, ethernet(BROADCAST_MAC, SERVER_MAC, 0x0806, arpPacket(1, SERVER_MAC, '172.16.9.9', ZERO_MAC, '10.2.0.1')));
  t.take(1);
  t.inject(0, udpFrame());
  const out = t.take(1).map(parse);
  assert.is(out.length, 1);
  assert.is(out[0].arp?.op, 1, 'still unknown: the router asks');
});

arp('frames parked on resolution are capped together, the oldest dropped first', () => {
  const t = testRouter(TWO_NETS); // 256 slots: an eighth may wait
  const cap = t.router.parking.cap;
  for (let i = 0; i < 100; i++) t.inject(0, udpFrame({ dst: `10.2.0.${10 + i}` }));
  assert.is(t.router.parking.count, cap);
  assert.is(t.router.counters.arp_parked_over_cap, 100 - cap);
  // Without the cap, 100 parked frames would leave the pool below the router's own reserve.
  assert.ok(t.engine.freeSlotCount >= 64, `${t.engine.freeSlotCount} slots free`);
});

arp('a full neighbour table evicts, unresolved entries before confirmed ones', () => {
  const t = testRouter({ ...TWO_NETS, neighbour: { maxEntries: 4 } });
  learnNeighbours(t);
  for (let i = 0; i < 10; i++) t.inject(0, udpFrame({ dst: `10.2.0.${10 + i}` }));
  t.take(1);
  assert.ok(t.router.counters.neighbour_evicted >= 7, `${t.router.counters.neighbour_evicted} evicted`);
  // The confirmed server is still known: its frame leaves at once, no ARP.
  t.inject(0, udpFrame());
  const out = t.take(1).map(parse);
  assert.is(out.length, 1);
  assert.is(out[0].dstMac, '02:bb:00:00:00:02');
});

arp('unanswered resolution retries, then answers the waiting packets with host unreachable', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  t.inject(0, udpFrame({ dst: '10.2.0.77' }));
  assert.is(t.take(1).length, 1);
  t.advance(1000);
  t.advance(1000);
  assert.is(t.take(1).length, 2, 'two retransmissions');
  assert.is(t.take(0).length, 0);
  t.advance(1000);
  const [unreach] = t.take(0).map(parse);
  assert.is(unreach.icmp!.type, 3);
  assert.is(unreach.icmp!.code, 1);
  assert.is(unreach.ip!.dst, '10.1.0.2');
  assert.is(t.router.counters.arp_resolution_failed, 1);
  assert.is(t.router.neighbours(t.router.interfaces[1]).get(0x0a02004d), undefined);
});

arp('another MAC claiming our address is logged once and the address is defended', () => {
  const t = testRouter(TWO_NETS);
  const impostor = mac('02:66:66:66:66:66');
  for (let i = 0; i < 3; i++) t.inject(0, ethernet(BROADCAST_MAC, impostor, 0x0806, arpPacket(1, impostor, '10.1.0.1', ZERO_MAC, '10.1.0.1')));
  const warns = t.logs.filter((l) => l.level === 'warn');
  assert.is(warns.length, 1);
  assert.match(warns[0].msg, /address conflict/);
  assert.is((warns[0].obj as { claimedBy: string }).claimedBy, '02:66:66:66:66:66');
  const [defence] = t.take(0).map(parse);
  assert.equal([defence.arp!.senderIp, defence.arp!.targetIp, defence.arp!.senderMac], ['10.1.0.1', '10.1.0.1', '02:00:00:00:01:01']);
  assert.is(t.router.counters.arp_conflict, 3);
});

arp('announce() sends a gratuitous ARP for every address', () => {
  const t = testRouter(TWO_NETS);
  t.router.announce();
  const wan = t.take(1).map(parse);
  assert.equal(wan.map((f) => [f.arp!.senderIp, f.arp!.targetIp]), [
    ['10.2.0.1', '10.2.0.1'],
    ['10.20.0.1', '10.20.0.1'],
  ]);
});

arp.run();

const fwd = suite('forwarding');

fwd('decrements TTL, patches the checksum, rewrites both MACs', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  t.inject(0, udpFrame({ ttl: 10 }));
  const [f] = t.take(1).map(parse);
  assert.is(f.ip!.ttl, 9);
  assert.ok(f.ip!.headerOk);
  assert.is(f.dstMac, '02:bb:00:00:00:02');
  assert.is(f.srcMac, '02:00:00:00:02:01');
  assert.is(t.router.counters.forwarded, 1);
});

fwd('TTL 1 dies here with time exceeded from the ingress address, quoting the packet', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  const frame = udpFrame({ ttl: 1 });
  t.inject(0, frame);
  assert.is(t.take(1).length, 0);
  const [e] = t.take(0).map(parse);
  assert.equal([e.icmp!.type, e.icmp!.code, e.ip!.src, e.ip!.dst], [11, 0, '10.1.0.1', '10.1.0.2']);
  assert.ok(e.icmp!.checksumOk);
  assert.equal([...e.icmp!.quoted.subarray(0, 28)], [...frame.subarray(14, 42)]);
  assert.is(t.router.counters.ttl_expired, 1);
});

fwd('no route: network unreachable', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  t.inject(0, udpFrame({ dst: '192.0.2.9' }));
  const [e] = t.take(0).map(parse);
  assert.equal([e.icmp!.type, e.icmp!.code], [3, 0]);
  assert.is(t.router.counters.no_route, 1);
});

fwd('DF and too big for the egress MTU: fragmentation needed with the next-hop MTU', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  t.inject(0, udpFrame({ df: true, size: 1450 }));
  assert.is(t.take(1).length, 0);
  const [e] = t.take(0).map(parse);
  assert.equal([e.icmp!.type, e.icmp!.code, e.icmp!.mtu], [3, 4, 1400]);
  assert.is(t.router.counters.frag_needed, 1);
});

fwd('without DF a big packet is fragmented on 8-byte boundaries and reassembles to the original', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  const frame = udpFrame({ size: 3000 });
  t.inject(0, frame);
  const frags = t.take(1).map(parse);
  assert.is(frags.length, 3);
  const payload: number[] = [];
  frags.forEach((f, i) => {
    assert.ok(f.ip!.totalLength <= 1400);
    assert.ok(f.ip!.headerOk);
    assert.is(f.ip!.ttl, 63);
    const offset = (f.ip!.flagsFragment & 0x1fff) * 8;
    assert.is(offset, payload.length);
    assert.is((f.ip!.flagsFragment & 0x2000) !== 0, i < 2, 'MF on all but the last');
    payload.push(...f.ip!.payload);
  });
  assert.equal(payload, [...frame.subarray(34)]);
});

fwd('bad headers are counted drops, each under its own reason', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  const good = udpFrame();
  const cases: [string, (f: Uint8Array) => Uint8Array][] = [
    ['ip_bad_version', (f) => ((f[14] = 0x65), f)],
    ['ip_bad_header_length', (f) => ((f[14] = 0x44), f)],
    ['ip_bad_total_length', (f) => ((f[16] = 0xff), f)],
    ['ip_bad_checksum', (f) => ((f[24] ^= 0xff), f)],
    ['ip_runt', (f) => f.subarray(0, 30)],
    ['eth_runt', (f) => f.subarray(0, 10)],
    ['ip6_disabled', (f) => ((f[12] = 0x86), (f[13] = 0xdd), f)],
  ];
  for (const [reason, mutate] of cases) {
    t.inject(0, mutate(good.slice()));
    assert.is(t.router.counters[reason as 'ip_runt'], 1, reason);
  }
  assert.is(t.take(1).length, 0);
  assert.is(t.take(0).length, 0, 'no ICMP about malformed packets');
});

fwd('frames for another MAC, or sent as link broadcast, are not forwarded', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  t.inject(0, udpFrame({ dstMac: mac('02:12:34:56:78:9a') }));
  t.inject(0, udpFrame({ dstMac: BROADCAST_MAC }));
  assert.is(t.take(1).length, 0);
  assert.is(t.router.counters.eth_other_host, 1);
  assert.is(t.router.counters.ip_broadcast, 1);
});

fwd('a directed broadcast to another of our networks is not forwarded, nor its address learnt as a neighbour (RFC 2644)', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  // A host asking for us from the wan's broadcast address: answered, not learnt.
  const liar = mac('02:66:00:00:00:01');
  t.inject(1, ethernet(BROADCAST_MAC, liar, 0x0806, arpPacket(1, liar, '10.2.0.255', ZERO_MAC, '10.2.0.1')));
  t.take(1);
  assert.is(t.router.neighbours(t.router.interfaces[1]).get(ip('10.2.0.255')), undefined, 'no neighbour for a broadcast address');
  t.inject(0, udpFrame({ dst: '10.2.0.255' }));
  assert.is(t.take(1).length, 0, 'nothing sent onto the wan, not even an ARP request');
  assert.is(t.router.counters.ip_broadcast, 1);
});

fwd('a packet that leaves by the interface it came in on gets no ICMP redirect', () => {
  const t = testRouter({ ...TWO_NETS, routes: [{ to: '10.9.0.0/16', via: '10.1.0.254' }] });
  learnNeighbours(t);
  t.inject(0, ethernet(BROADCAST_MAC, GATEWAY_MAC, 0x0806, arpPacket(1, GATEWAY_MAC, '10.1.0.254', ZERO_MAC, '10.1.0.1')));
  t.take(0);
  t.inject(0, udpFrame({ dst: '10.9.0.1' }));
  const out = t.take(0).map(parse);
  assert.is(out.length, 1);
  assert.is(out[0].ip!.protocol, 17, 'the packet itself, no ICMP type 5');
  assert.is(out[0].dstMac, '02:cc:00:00:00:fe');
});

fwd.run();

const icmp = suite('ICMP');

icmp('echo requests to our addresses are answered in place', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  const req = ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.1', protocol: 1, payload: icmpEcho(8, 77, 3, new Uint8Array(56).fill(9)) });
  t.inject(0, ethernet(LAN_MAC, CLIENT_MAC, 0x0800, req));
  const [r] = t.take(0).map(parse);
  assert.equal([r.ip!.src, r.ip!.dst, r.icmp!.type, r.icmp!.code], ['10.2.0.1', '10.1.0.2', 0, 0]);
  assert.ok(r.icmp!.checksumOk);
  assert.ok(r.ip!.headerOk);
  assert.is(r.ip!.payload.length, 64);
});

icmp('UDP to the router: port unreachable', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  t.inject(0, udpFrame({ dst: '10.1.0.1' }));
  const [e] = t.take(0).map(parse);
  assert.equal([e.icmp!.type, e.icmp!.code], [3, 3]);
});

icmp('never an error about an ICMP error, a later fragment or a broadcast source', () => {
  const t = testRouter(TWO_NETS);
  learnNeighbours(t);
  const err = ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.2', protocol: 1, ttl: 1, payload: icmpEcho(3, 0, 0, new Uint8Array(28)) });
  t.inject(0, ethernet(LAN_MAC, CLIENT_MAC, 0x0800, err));
  const frag = ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.2', protocol: 17, ttl: 1, flagsFragment: 100, payload: new Uint8Array(16) });
  t.inject(0, ethernet(LAN_MAC, CLIENT_MAC, 0x0800, frag));
  assert.is(t.take(0).length, 0);
  assert.is(t.router.counters.icmp_error_suppressed, 2);
  assert.is(t.router.counters.ttl_expired, 2);
});

icmp('errors are rate-limited by a token bucket', () => {
  const t = testRouter({ ...TWO_NETS, icmp: { ratePerSecond: 10, burst: 5 } });
  learnNeighbours(t);
  for (let i = 0; i < 20; i++) t.inject(0, udpFrame({ ttl: 1 }));
  assert.is(t.take(0).length, 5);
  assert.is(t.router.counters.icmp_rate_limited, 15);
  t.advance(500);
  for (let i = 0; i < 20; i++) t.inject(0, udpFrame({ ttl: 1 }));
  assert.is(t.take(0).length, 5, 'refilled at 10/s for 0.5 s');
});

icmp('attack: one host sending TTL=1 packets takes its own share, and frag-needed is never starved', () => {
  const t = testRouter({ ...TWO_NETS, icmp: { ratePerSecond: 100, burst: 50, perDestinationPerSecond: 10, perDestinationBurst: 10 } });
  learnNeighbours(t);
  // Another client on the LAN side, learnt the same way.
  const OTHER_MAC = mac('02:aa:00:00:00:03');
  t.inject(0, ethernet(BROADCAST_MAC, OTHER_MAC, 0x0806, arpPacket(1, OTHER_MAC, '10.1.0.3', ZERO_MAC, '10.1.0.1')));
  t.take(0);
  for (let i = 0; i < 100; i++) t.inject(0, udpFrame({ ttl: 1 }));
  const toFlooder = t.take(0).length;
  // The flooder got its share; another host still gets time exceeded and frag-needed.
  t.inject(0, udpFrame({ src: '10.1.0.3', ttl: 1, dstMac: LAN_MAC }));
  t.inject(0, udpFrame({ src: '10.1.0.3', df: true, size: 1450 }));
  const other = t.take(0).map(parse);
  // And the flooder itself still learns its path MTU: frag-needed has a budget of its own.
  t.inject(0, udpFrame({ df: true, size: 1450 }));
  const pmtu = t.take(0).map(parse);
  console.log(`  100 TTL=1 packets from one host: ${toFlooder} errors to it (its share), then ${other.length} errors to another host and ${pmtu.length} frag-needed to the flooder`);
  assert.is(toFlooder, 10);
  assert.equal(other.map((e) => [e.icmp!.type, e.icmp!.code]), [[11, 0], [3, 4]]);
  assert.equal(pmtu.map((e) => [e.icmp!.type, e.icmp!.code]), [[3, 4]]);
});

icmp('frag-needed keeps going when the error budget is spent', () => {
  const t = testRouter({ ...TWO_NETS, icmp: { ratePerSecond: 5, burst: 5, perDestinationPerSecond: 1000, perDestinationBurst: 1000 } });
  learnNeighbours(t);
  for (let i = 0; i < 20; i++) t.inject(0, udpFrame({ ttl: 1 }));
  assert.is(t.take(0).length, 5);
  for (let i = 0; i < 20; i++) t.inject(0, udpFrame({ df: true, size: 1450 }));
  assert.is(t.take(0).length, 20, 'ten times the error budget');
});

icmp.run();

const slots = suite('slots');

slots('no slot leaks: after heavy mixed traffic every slot is free again', () => {
  const t = testRouter(TWO_NETS, 256);
  learnNeighbours(t);
  const before = t.engine.freeSlotCount;
  for (let i = 0; i < 5000; i++) {
    const kind = i % 5;
    t.inject(0, kind === 0 ? udpFrame({ ttl: 1 }) : kind === 1 ? udpFrame({ size: 3000 }) : kind === 2 ? udpFrame({ dst: '10.2.0.200' }) : udpFrame());
  }
  for (let i = 0; i < 5; i++) t.advance(1000);
  t.engine.poll();
  t.engine.flush();
  t.engine.poll();
  assert.is(t.engine.freeSlotCount, before);
});

slots.run();
