// IPv6 on the router, frame by frame (issue 15): neighbour discovery (answers only for our own
// addresses, solicitations from an address of the outgoing interface, DAD and announcements),
// echo, forwarding with the hop limit, ICMPv6 errors (time exceeded, no route, Packet Too Big
// with the egress MTU), link-local scope, and hostile IPv6 counted and refused.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIpv6, linkLocalFromMac, parseIpv6, solicitedNode } from '../../src/packet/address6.js';
import { formatMac } from '../../src/packet/address.js';
import { icmp6ChecksumValid, putIcmp6Checksum } from '../../src/packet/icmp6.js';
import { IPV6_HEADER, Ipv6View, NH_ICMPV6, NH_UDP } from '../../src/packet/ipv6.js';
import { checksum } from '../../src/packet/checksum.js';
import { pseudoHeaderSum6 } from '../../src/packet/ipv6.js';
import { mac } from '../helpers/frames.js';
import { a6, frame6, isIpv6Frame, nd, seen6 } from '../helpers/frames6.js';
import { DEFAULT_NEIGHBOUR_TIMERS } from '../../src/l2/neighbours.js';
import { testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = '02:00:00:00:01:01';
const WAN_MAC = '02:00:00:00:02:01';
const CLIENT_MAC = mac('02:aa:00:00:00:02');
const SERVER_MAC = mac('02:bb:00:00:00:02');
const config = {
  interfaces: [
    { name: 'lan', tap: 'lan', mac: LAN_MAC, addresses: ['10.1.0.1/24', '2001:db8:1::1/64'] },
    { name: 'wan', tap: 'wan', mac: WAN_MAC, mtu: 1400, addresses: ['10.2.0.1/24', '2001:db8:2::1/64'] },
  ],
  routes: [{ to: '2001:db8:9::/48', via: '2001:db8:2::fe' }],
  icmp: { ratePerSecond: 1000, burst: 1000, perDestinationPerSecond: 1000, perDestinationBurst: 1000 },
};

const echoRequest = (size = 16) => {
  const p = new Uint8Array(8 + size);
  p[0] = 128;
  p[5] = 7;
  return p;
};
const udp = (size: number) => {
  const p = new Uint8Array(8 + size);
  p[1] = 53;
  p[3] = 53;
  p[4] = (8 + size) >>> 8;
  p[5] = (8 + size) & 0xff;
  return p;
};

const v6frames = (t: TestRouter, port: number) => t.take(port).filter(isIpv6Frame).map(seen6);

/** A router whose neighbours (client on lan, server and gateway on wan) are learnt by ND. */
function router6(): TestRouter {
  const t = testRouter(config);
  t.router.announce();
  t.take(0);
  t.take(1);
  return t;
}

function learn(t: TestRouter, port: number, who: string, whoMac: Uint8Array): void {
  const ours = port === 0 ? '2001:db8:1::1' : '2001:db8:2::1';
  const routerMac = mac(port === 0 ? LAN_MAC : WAN_MAC);
  t.inject(port, frame6({ dstMac: routerMac, srcMac: whoMac, src: who, dst: ours, nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, ours, whoMac) }));
  // Its solicitation leaves it stale; its solicited advertisement makes it reachable (no probe on first use).
  t.inject(port, frame6({ dstMac: routerMac, srcMac: whoMac, src: who, dst: ours, nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, who, whoMac, 0x60) }));
  t.take(port);
}

test('DAD when addresses come up: a solicitation from :: to each solicited-node group, then unsolicited advertisements to all nodes', () => {
  const t = testRouter(config);
  t.router.announce();
  const lan = v6frames(t, 0);
  const lanLinkLocal = formatIpv6(linkLocalFromMac(mac(LAN_MAC)));
  const group = new Uint8Array(16);
  solicitedNode(linkLocalFromMac(mac(LAN_MAC)), 0, group);
  assert.equal(lan.map((s) => [s.type, s.src, s.dst, s.target, s.hopLimit]), [
    [135, '::', formatIpv6(group), lanLinkLocal, 255],
    [135, '::', 'ff02::1:ff00:1', '2001:db8:1::1', 255],
  ]);
  assert.ok(lan.every((s) => s.checksumOk && s.frame.length === 14 + 40 + 24), 'no source link-layer option from ::');
  assert.is(lan[1].dstMac, '33:33:ff:00:00:01');
  t.advance(1100);
  const na = v6frames(t, 0);
  assert.equal(na.map((s) => [s.type, s.dst, s.target, s.word >>> 24]), [
    [136, 'ff02::1', lanLinkLocal, 0xa0],
    [136, 'ff02::1', '2001:db8:1::1', 0xa0],
  ], 'router and override, not solicited');
});

test('a solicitation for our address is answered: solicited, router, override, our MAC, from the target; the solicitor is learnt', () => {
  const t = router6();
  t.inject(0, frame6({ dstMac: mac('33:33:ff:00:00:01'), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: 'ff02::1:ff00:1', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, '2001:db8:1::1', CLIENT_MAC) }));
  const [na] = v6frames(t, 0);
  assert.equal([na.type, na.src, na.dst, na.dstMac, na.hopLimit, na.word >>> 24, na.target, na.checksumOk], [136, '2001:db8:1::1', '2001:db8:1::2', formatMac(CLIENT_MAC), 255, 0xe0, '2001:db8:1::1', true]);
  assert.is(formatMac(na.frame, 14 + 40 + 26), LAN_MAC, 'target link-layer address: ours');
  // Learnt: an echo request from it is answered straight away.
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:1::1', nh: NH_ICMPV6, payload: echoRequest() }));
  const [reply] = v6frames(t, 0);
  assert.equal([reply.type, reply.src, reply.dst, reply.dstMac, reply.checksumOk], [129, '2001:db8:1::1', '2001:db8:1::2', formatMac(CLIENT_MAC), true]);
  assert.is(t.router.counters.icmp6_echo_replied, 1);
});

test('a reload reaches IPv6 too: the hop limit we originate with, and the neighbour timers', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  const neighbour = { ...DEFAULT_NEIGHBOUR_TIMERS, retransmitMs: 250 };
  t.router.configure({ icmpRatePerSecond: 1000, icmpBurst: 1000, icmpPerDestinationPerSecond: 1000, icmpPerDestinationBurst: 1000, neighbour, ttl: 99 });
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:1::1', nh: NH_ICMPV6, payload: echoRequest() }));
  assert.is(v6frames(t, 0)[0].hopLimit, 99);
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:2::77', nh: NH_UDP, payload: udp(10) }));
  t.advance(300);
  assert.is(v6frames(t, 1).filter((s) => s.type === 135).length, 2, 'the second solicitation after 250 ms, not 1 s');
});

test('never an answer for an address we do not own, a VIP-like neighbour, or the other interface\'s link-local address', () => {
  const t = router6();
  for (const target of ['2001:db8:1::99', formatIpv6(linkLocalFromMac(mac(WAN_MAC)))]) {
    t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:1::1', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, target, CLIENT_MAC) }));
  }
  assert.is(v6frames(t, 0).length, 0);
  assert.is(t.router.counters.nd_not_for_us, 2);
});

test('forwarding: the next hop solicited from our address on its prefix, the packet parked, then sent with the hop limit one lower', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:2::2', nh: NH_UDP, payload: udp(100) }));
  const [ns] = v6frames(t, 1);
  assert.equal([ns.type, ns.src, ns.dst, ns.dstMac, ns.target, ns.hopLimit, ns.checksumOk], [135, '2001:db8:2::1', 'ff02::1:ff00:2', '33:33:ff:00:00:02', '2001:db8:2::2', 255, true]);
  assert.is(formatMac(ns.frame, 14 + 40 + 26), WAN_MAC, 'source link-layer address: the egress MAC');
  t.inject(1, frame6({ dstMac: mac(WAN_MAC), srcMac: SERVER_MAC, src: '2001:db8:2::2', dst: '2001:db8:2::1', nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, '2001:db8:2::2', SERVER_MAC, 0x60) }));
  const [out] = v6frames(t, 1);
  assert.equal([out.src, out.dst, out.dstMac, out.hopLimit, formatMac(out.frame, 6)], ['2001:db8:1::2', '2001:db8:2::2', formatMac(SERVER_MAC), 63, WAN_MAC]);
  assert.is(t.router.counters.ip6_forwarded, 1);
  // Via a gateway: the route's next hop is solicited, not the destination.
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:9:1::5', nh: NH_UDP, payload: udp(10) }));
  assert.is(v6frames(t, 1)[0].target, '2001:db8:2::fe');
});

test('ICMPv6 errors: time exceeded at hop limit 1, no route, Packet Too Big with the egress MTU, from the ingress address, quoting the packet', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  learn(t, 1, '2001:db8:2::2', SERVER_MAC);
  const send = (dst: string, size: number, hopLimit = 64) => t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst, nh: NH_UDP, payload: udp(size), hopLimit }));
  send('2001:db8:2::2', 100, 1);
  send('2001:db8:77::1', 100);
  send('2001:db8:2::2', 1400 - 40 - 8 + 1); // one byte over wan's 1400
  send('2001:db8:2::2', 1400 - 40 - 8); // fits exactly
  const errors = v6frames(t, 0);
  assert.equal(errors.map((e) => [e.type, e.code, e.word, e.src, e.dst, e.checksumOk]), [
    [3, 0, 0, '2001:db8:1::1', '2001:db8:1::2', true],
    [1, 0, 0, '2001:db8:1::1', '2001:db8:1::2', true],
    [2, 0, 1400, '2001:db8:1::1', '2001:db8:1::2', true],
  ]);
  assert.ok(errors.every((e) => e.frame.length <= 14 + 1280), 'an error fits in the minimum MTU');
  assert.is(formatIpv6(errors[2].frame, 14 + 48 + 24), '2001:db8:2::2', 'the quote starts with the offending header');
  assert.is(v6frames(t, 1).length, 1, 'the one that fits went on');
  assert.equal([t.router.counters.ip6_hop_limit, t.router.counters.ip6_no_route, t.router.counters.ip6_too_big], [1, 1, 1]);
});

test('link-local packets never cross the router; UDP to us gets port unreachable; multicast is not routed', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: 'fe80::2', dst: '2001:db8:2::2', nh: NH_UDP, payload: udp(10) }));
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: 'fe80::99', nh: NH_UDP, payload: udp(10) }));
  t.inject(0, frame6({ dstMac: mac('33:33:00:00:01:01'), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: 'ff0e::101', nh: NH_UDP, payload: udp(10) }));
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:2::1', nh: NH_UDP, payload: udp(10) }));
  assert.is(v6frames(t, 1).length, 0, 'nothing forwarded');
  const back = v6frames(t, 0);
  // Beyond scope goes to the link-local source on its own link, so it waits on ND; then port unreachable.
  assert.equal(back.map((e) => [e.type, e.code, e.type === 135 ? e.target : '']), [[135, 0, 'fe80::2'], [1, 4, '']]);
  assert.equal([t.router.counters.ip6_link_local, t.router.counters.ip6_multicast], [2, 1]);
});

test('an unknown upper layer to us: Parameter Problem (unrecognized next header) pointing at the field that named it', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  const base = { dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:1::1' };
  t.inject(0, frame6({ ...base, nh: 253, payload: new Uint8Array(16) }));
  const opts = new Uint8Array(16);
  opts[0] = 253; // a Destination Options header, then the unknown protocol
  t.inject(0, frame6({ ...base, nh: 60, payload: opts }));
  assert.equal(v6frames(t, 0).map((e) => [e.type, e.code, e.word]), [[4, 1, 6], [4, 1, 40]]);
});

test('another node claiming our address (its advertisement, or DAD for it) is a counted conflict and a warning; we defend with an advertisement', () => {
  const t = router6();
  t.inject(0, frame6({ dstMac: mac('33:33:00:00:00:01'), srcMac: CLIENT_MAC, src: 'fe80::2', dst: 'ff02::1', nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, '2001:db8:1::1', CLIENT_MAC, 0x20) }));
  t.inject(0, frame6({ dstMac: mac('33:33:ff:00:00:01'), srcMac: CLIENT_MAC, src: '::', dst: 'ff02::1:ff00:1', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, '2001:db8:1::1', null) }));
  const defended = v6frames(t, 0);
  assert.equal(defended.map((s) => [s.type, s.dst, s.target]), [[136, 'ff02::1', '2001:db8:1::1']]);
  assert.is(t.router.counters.nd_conflict, 2);
  assert.ok(t.logs.some((l) => l.level === 'warn' && /address conflict/.test(l.msg)));
});

test('hostile IPv6: lying lengths, a broken extension chain, ND off-link or malformed, advertisements nobody asked for: each a counted drop, and forwarding carries on', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  learn(t, 1, '2001:db8:2::2', SERVER_MAC);
  const base = { dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:1::1' };
  const cases: [string, Uint8Array][] = [];
  const long = frame6({ ...base, nh: NH_UDP, payload: udp(10) });
  long[18] = 0x7f; // payload length far past the frame
  cases.push(['ip6_malformed', long]);
  cases.push(['ip6_malformed', frame6({ ...base, nh: NH_UDP, payload: udp(10) }).subarray(0, 14 + 30)]);
  const v5 = frame6({ ...base, nh: NH_UDP, payload: udp(10) });
  v5[14] = 0x50;
  cases.push(['ip6_malformed', v5]);
  const hbh = new Uint8Array(16);
  hbh[0] = 0; // Hop-by-Hop after Destination Options: a parameter problem
  const badChain = frame6({ ...base, nh: 60, payload: hbh });
  cases.push(['ip6_bad_chain', badChain]);
  cases.push(['nd_malformed', frame6({ ...base, nh: NH_ICMPV6, hopLimit: 254, payload: nd(135, '2001:db8:1::1', CLIENT_MAC) })]);
  const zeroOption = nd(135, '2001:db8:1::1', CLIENT_MAC);
  zeroOption[25] = 0;
  cases.push(['nd_malformed', frame6({ ...base, nh: NH_ICMPV6, hopLimit: 255, payload: zeroOption })]);
  cases.push(['nd_malformed', frame6({ ...base, src: '::', dst: 'ff02::1:ff00:1', dstMac: mac('33:33:ff:00:00:01'), nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, '2001:db8:1::1', CLIENT_MAC) })]);
  cases.push(['nd_malformed', frame6({ ...base, nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, 'ff02::1', CLIENT_MAC) })]);
  cases.push(['nd_ignored', frame6({ ...base, nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, '2001:db8:1::77', CLIENT_MAC, 0x60) })]);
  cases.push(['nd_ignored', frame6({ ...base, nh: NH_ICMPV6, hopLimit: 255, payload: (() => { const p = new Uint8Array(16); p[0] = 134; return p; })() })]);
  const badSum = frame6({ ...base, nh: NH_ICMPV6, payload: echoRequest() });
  badSum[14 + 40 + 9] ^= 1;
  cases.push(['icmp6_malformed', badSum]);
  cases.push(['ip6_bad_source', frame6({ ...base, src: 'ff02::1', nh: NH_UDP, payload: udp(10) })]);
  for (const [counter, f] of cases) {
    const before = (t.router.counters as unknown as Record<string, number>)[counter];
    t.inject(0, f);
    assert.is((t.router.counters as unknown as Record<string, number>)[counter], before + 1, counter);
  }
  const junk = v6frames(t, 0).filter((s) => s.type !== 4); // a parameter problem for the bad chain is allowed
  assert.is(junk.length, 0, 'nothing else answered');
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:2::2', nh: NH_UDP, payload: udp(100) }));
  assert.is(v6frames(t, 1).length, 1, 'and a good packet is still forwarded');
  console.log(`  ${cases.length} hostile IPv6 frames, each counted by reason; forwarding carried on`);
});

test('a stale neighbour is used at once and probed only after the 5 s delay, by a unicast solicitation to its MAC', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  // Only its solicitation: cached stale (RFC 4861 7.2.3).
  t.inject(1, frame6({ dstMac: mac(WAN_MAC), srcMac: SERVER_MAC, src: '2001:db8:2::2', dst: '2001:db8:2::1', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, '2001:db8:2::1', SERVER_MAC) }));
  t.take(1);
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:2::2', nh: NH_UDP, payload: udp(10) }));
  assert.equal(v6frames(t, 1).map((s) => s.nh), [NH_UDP], 'sent at once, no solicitation');
  t.advance(4000);
  assert.is(v6frames(t, 1).filter((s) => s.type === 135).length, 0, 'not within the delay');
  t.advance(1200);
  const probes = v6frames(t, 1).filter((s) => s.type === 135);
  assert.equal(probes.map((p) => [p.dst, p.dstMac, p.src, p.target]), [['2001:db8:2::2', formatMac(SERVER_MAC), '2001:db8:2::1', '2001:db8:2::2']]);
});

test('neighbour resolution that fails: three solicitations a second apart, then address unreachable for what waited', () => {
  const t = router6();
  learn(t, 0, '2001:db8:1::2', CLIENT_MAC);
  t.inject(0, frame6({ dstMac: mac(LAN_MAC), srcMac: CLIENT_MAC, src: '2001:db8:1::2', dst: '2001:db8:2::66', nh: NH_UDP, payload: udp(10) }));
  for (let i = 0; i < 4; i++) t.advance(1000);
  assert.is(v6frames(t, 1).filter((s) => s.type === 135).length, 3);
  const errors = v6frames(t, 0).filter((s) => s.type === 1);
  assert.equal(errors.map((e) => [e.type, e.code]), [[1, 3]]);
  assert.is(t.router.counters.nd_resolution_failed, 1);
  assert.is(t.router.parking.count, 0, 'nothing left parked');
});

test.run();
