// GSO super-frames and partial checksums (TAPs with offloads) frame by frame on the in-memory
// backend: routed whole when the segments fit, frag-needed on the segment size, NAT following a
// partial checksum, IP-in-IP cut in software with full checksums, and lying virtio-net headers
// counted and dropped while good frames carry on.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { checksumValid, fold, pseudoHeaderSum, sum16 } from '../../src/packet/checksum.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4, writeVnet } from '../../src/packet/vnet.js';
import { arpPacket, ethernet, ip, ipv4Packet, mac, parse, tcpSegment, udpPayload } from '../helpers/frames.js';
import { TWO_NETS, testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const CLIENT_MAC = mac('02:aa:00:00:00:02');
const SERVER_MAC = mac('02:bb:00:00:00:02');
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const TCP_FIN = 0x01;

/** The folded pseudo-header sum: what a partial TCP checksum field holds (tcp_v4_send_check). */
const partialSum = (src: string, dst: string, length: number) => fold(pseudoHeaderSum(ip(src), ip(dst), 6, length));

interface SuperFrame {
  frame: Uint8Array;
  vnet: Uint8Array;
  payload: Uint8Array;
}

/** A TCP super-frame as the kernel hands it over: one header, `payload` bytes, partial checksum. */
function superFrame(o: { src?: string; dst?: string; dport?: number; payload: number; mss: number; df?: boolean; flags?: number; gsoType?: number; csumStart?: number }): SuperFrame {
  const src = o.src ?? '10.1.0.2', dst = o.dst ?? '10.2.0.2';
  const payload = Uint8Array.from({ length: o.payload }, (_, i) => (i * 7 + 3) & 0xff);
  const tcp = new Uint8Array(20 + payload.length);
  tcp.set([0x9c, 0x40, (o.dport ?? 80) >> 8, (o.dport ?? 80) & 255], 0); // 40000 -> dport
  tcp.set([0, 0, 0x03, 0xe8], 4); // seq 1000
  tcp[12] = 0x50;
  tcp[13] = o.flags ?? TCP_ACK | TCP_PSH | TCP_FIN;
  tcp[14] = 0xff;
  tcp.set(payload, 20);
  const p = partialSum(src, dst, tcp.length);
  tcp[16] = p >> 8;
  tcp[17] = p & 0xff;
  const frame = ethernet(LAN_MAC, CLIENT_MAC, 0x0800, ipv4Packet({ src, dst, protocol: 6, df: o.df ?? true, payload: tcp }));
  const vnet = new Uint8Array(10);
  writeVnet(vnet, 0, { flags: VNET_F_NEEDS_CSUM, gsoType: o.gsoType ?? VNET_GSO_TCPV4, hdrLen: 54, gsoSize: o.mss, csumStart: o.csumStart ?? 34, csumOffset: 16 });
  return { frame, vnet, payload };
}

function learn(t: TestRouter): void {
  t.inject(0, ethernet(BROADCAST_MAC, CLIENT_MAC, 0x0806, arpPacket(1, CLIENT_MAC, '10.1.0.2', ZERO_MAC, '10.1.0.1')));
  t.inject(1, ethernet(BROADCAST_MAC, SERVER_MAC, 0x0806, arpPacket(1, SERVER_MAC, '10.2.0.2', ZERO_MAC, '10.2.0.1')));
  t.take(0);
  t.take(1);
}

const u16le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
/** An IPv4 packet (a tunnel's inner one) parsed as if it had an Ethernet header. */
const parseIp = (packet: Uint8Array) => parse(Uint8Array.from([...new Uint8Array(12), 0x08, 0x00, ...packet]));
const fullTcpSumOk = (f: ReturnType<typeof parse>) => checksumValid(f.ip!.payload, 0, f.ip!.payload.length, pseudoHeaderSum(ip(f.ip!.src), ip(f.ip!.dst), 6, f.ip!.payload.length));

const route = suite('routing super-frames');

route('a super-frame whose segments fit the egress MTU goes whole: TTL and MACs rewritten, the virtio-net header kept for the kernel to cut', () => {
  const t = testRouter(TWO_NETS, 256, { offload: true });
  learn(t);
  const s = superFrame({ payload: 20_000, mss: 1348 }); // segments of 1388 bytes; wan's MTU is 1400
  t.inject(0, s.frame, s.vnet);
  const [out] = t.take(1);
  const f = parse(out);
  assert.is(out.length, s.frame.length, 'one frame, the whole super-frame');
  assert.equal([f.ip!.ttl, f.dstMac, f.srcMac], [63, '02:bb:00:00:00:02', '02:00:00:00:02:01']);
  assert.ok(f.ip!.headerOk);
  assert.equal(f.ip!.payload.subarray(20), s.payload);
  assert.is(t.router.counters.gso_super_frames, 1);
  assert.is(t.router.counters.gso_segmented, 0);
});

route('the virtio-net header goes out with the frame it came with', () => {
  const t = testRouter(TWO_NETS, 256, { offload: true });
  learn(t);
  const s = superFrame({ payload: 8000, mss: 1348 });
  t.inject(0, s.frame, s.vnet);
  assert.equal(t.sentVnet[1], [s.vnet]);
  assert.equal([u16le(t.sentVnet[1][0]!, 4), u16le(t.sentVnet[1][0]!, 6)], [1348, 34], 'gso_size and csum_start');
});

route('segments too big for the egress MTU, with DF: frag-needed with that MTU, quoting the first segment as it would be on the wire', () => {
  const t = testRouter(TWO_NETS, 256, { offload: true });
  learn(t);
  const s = superFrame({ payload: 20_000, mss: 1448 }); // segments of 1488 bytes > 1400
  t.inject(0, s.frame, s.vnet);
  assert.is(t.take(1).length, 0);
  const [e] = t.take(0).map(parse);
  assert.equal([e.icmp!.type, e.icmp!.code, e.icmp!.mtu], [3, 4, 1400]);
  assert.ok(e.icmp!.checksumOk);
  const quoted = e.icmp!.quoted;
  assert.is((quoted[2] << 8) | quoted[3], 1488, "the quoted IPv4 length is the first segment's");
  assert.ok(checksumValid(quoted, 0, 20), 'and its header checksum matches it');
  assert.is(t.router.counters.frag_needed, 1);
});

route('without DF, segments too big are cut in software and fragmented: every byte arrives, each segment with a whole checksum', () => {
  const t = testRouter(TWO_NETS, 512, { offload: true });
  learn(t);
  const s = superFrame({ payload: 6000, mss: 1448, df: false });
  t.inject(0, s.frame, s.vnet);
  const out = t.take(1).map(parse);
  // Reassemble each segment's fragments (by IP ID), then check each as TCP.
  const byId = new Map<number, ReturnType<typeof parse>[]>();
  for (const f of out) byId.set(f.ip!.id, [...(byId.get(f.ip!.id) ?? []), f]);
  assert.is(byId.size, Math.ceil(6000 / 1448), 'one IP ID per segment');
  let seq = 1000;
  const data: number[] = [];
  const ids = [...byId.keys()].sort((a, b) => a - b);
  ids.forEach((id, n) => {
    const frags = byId.get(id)!.sort((a, b) => (a.ip!.flagsFragment & 0x1fff) - (b.ip!.flagsFragment & 0x1fff));
    const tcp = Uint8Array.from(frags.flatMap((f) => [...f.ip!.payload]));
    assert.ok(checksumValid(tcp, 0, tcp.length, pseudoHeaderSum(ip('10.1.0.2'), ip('10.2.0.2'), 6, tcp.length)), `segment ${n}: its checksum is whole`);
    const segSeq = ((tcp[4] << 24) | (tcp[5] << 16) | (tcp[6] << 8) | tcp[7]) >>> 0;
    assert.is(segSeq, seq, `segment ${n}: sequence number`);
    const last = n === ids.length - 1;
    assert.is(tcp[13] & (TCP_FIN | TCP_PSH), last ? TCP_FIN | TCP_PSH : 0, `segment ${n}: FIN and PSH on the last only`);
    seq += tcp.length - 20;
    data.push(...tcp.subarray(20));
  });
  assert.equal(Uint8Array.from(data), s.payload);
  assert.is(t.router.counters.gso_segmented, 1);
  assert.is(t.router.counters.gso_segments_sent, 5);
});

route('lying virtio-net headers are counted drops, and a good frame after them is forwarded', () => {
  const t = testRouter(TWO_NETS, 256, { offload: true });
  learn(t);
  const udp = ethernet(LAN_MAC, CLIENT_MAC, 0x0800, ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.2', protocol: 17, payload: udpPayload('10.1.0.2', '10.2.0.2', 1, 2, new Uint8Array(100)) }));
  const tcpHeader = superFrame({ payload: 3000, mss: 1000 });
  const lies: [string, Uint8Array, Uint8Array][] = [
    ['TCP segmentation of a UDP packet', udp, tcpHeader.vnet],
    ['a segment size of 0', tcpHeader.frame, superFrame({ payload: 3000, mss: 0 }).vnet],
    ['TCPv6 segmentation of IPv4', tcpHeader.frame, superFrame({ payload: 3000, mss: 1000, gsoType: VNET_GSO_TCPV6 }).vnet],
    ['a checksum start past the packet', tcpHeader.frame, superFrame({ payload: 3000, mss: 1000, csumStart: 4000 }).vnet],
    ['a checksum start inside the IP header', tcpHeader.frame, superFrame({ payload: 3000, mss: 1000, csumStart: 20 }).vnet],
    ['segmentation without a partial checksum', tcpHeader.frame, Uint8Array.from([0, ...tcpHeader.vnet.subarray(1)])],
  ];
  for (const [, frame, vnet] of lies) t.inject(0, frame, vnet);
  console.log(`  ${lies.length} lying headers (${lies.map((l) => l[0]).join('; ')}): vnet_malformed ${t.router.counters.vnet_malformed}`);
  assert.is(t.router.counters.vnet_malformed, lies.length);
  assert.is(t.take(1).length, 0);
  const good = superFrame({ payload: 3000, mss: 1000 });
  t.inject(0, good.frame, good.vnet);
  assert.is(t.take(1).length, 1);
});

// ---- the director

const DIRECTOR = (method: string) => ({
  offload: true,
  interfaces: [
    { name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['10.1.0.1/24'] },
    { name: 'wan', tap: 'wan', mac: '02:00:00:00:02:01', addresses: ['10.2.0.1/24'] },
  ],
  services: [{ protocol: 'tcp', vip: '10.2.0.100', port: 80, scheduler: 'rr', realServers: [{ address: '10.2.0.2', method, ...(method === 'nat' ? { port: 8080 } : {}) }] }],
});

const lvs = suite('the director and super-frames');

/** The connection's SYN, a plain frame, so that what follows belongs to a connection. */
function connect(t: TestRouter): void {
  learn(t);
  t.inject(0, ethernet(LAN_MAC, CLIENT_MAC, 0x0800, ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.100', protocol: 6, df: true, payload: tcpSegment('10.1.0.2', '10.2.0.100', 40000, 80, 0x02) })));
  assert.is(t.take(1).length, 1, 'the SYN is forwarded');
}

lvs('NAT follows a partial checksum by the addresses alone: what leaves is the pseudo-header sum of the new addresses', () => {
  const t = testRouter(DIRECTOR('nat'), 256, { offload: true });
  connect(t);
  const s = superFrame({ dst: '10.2.0.100', payload: 20_000, mss: 1448 });
  t.inject(0, s.frame, s.vnet);
  const [out] = t.take(1);
  const f = parse(out);
  const tcp = f.ip!.payload;
  assert.equal([f.ip!.dst, (tcp[2] << 8) | tcp[3]], ['10.2.0.2', 8080]);
  assert.ok(f.ip!.headerOk);
  assert.is((tcp[16] << 8) | tcp[17], partialSum('10.1.0.2', '10.2.0.2', tcp.length), 'the partial sum, for the kernel to complete');
  // And the kernel's completion of it (from csum_start, as skb_checksum_help) is a valid checksum.
  const completed = ~fold(sum16(tcp, 0, tcp.length)) & 0xffff;
  const whole = Uint8Array.from(tcp);
  whole[16] = completed >> 8;
  whole[17] = completed & 0xff;
  assert.ok(checksumValid(whole, 0, whole.length, pseudoHeaderSum(ip('10.1.0.2'), ip('10.2.0.2'), 6, whole.length)));
});

lvs('IP-in-IP: a super-frame is cut in software, each segment wrapped with a whole inner checksum and a plain virtio-net header', () => {
  const t = testRouter(DIRECTOR('tun'), 256, { offload: true });
  connect(t);
  const s = superFrame({ dst: '10.2.0.100', payload: 5000, mss: 1400 });
  t.inject(0, s.frame, s.vnet);
  const headers = t.sentVnet[1].slice();
  const out = t.take(1).map(parse);
  assert.is(out.length, 4);
  for (const h of headers) assert.equal(h, new Uint8Array(10), 'plain frames for the kernel');
  const data: number[] = [];
  for (const f of out) {
    assert.equal([f.ip!.protocol, f.ip!.dst], [4, '10.2.0.2']);
    assert.ok(f.ip!.headerOk);
    const inner = parseIp(f.ip!.payload);
    assert.is(inner.ip!.dst, '10.2.0.100');
    assert.ok(inner.ip!.headerOk);
    assert.ok(fullTcpSumOk(inner), 'the inner checksum is whole: the real server decapsulates it as it is');
    data.push(...inner.ip!.payload.subarray(20));
  }
  assert.equal(Uint8Array.from(data), s.payload);
  assert.is(t.router.counters.gso_segments_sent, 4);
});

lvs('IP-in-IP: a plain frame with a partial checksum has it completed before it is wrapped', () => {
  const t = testRouter(DIRECTOR('tun'), 256, { offload: true });
  connect(t);
  const s = superFrame({ dst: '10.2.0.100', payload: 600, mss: 1400 });
  s.vnet[1] = 0; // no segmentation: a small segment whose checksum the kernel left to offload
  t.inject(0, s.frame, s.vnet);
  const vnet = t.sentVnet[1][0]!;
  const [f] = t.take(1).map(parse);
  const inner = parseIp(f.ip!.payload);
  assert.ok(fullTcpSumOk(inner));
  assert.equal(vnet, new Uint8Array(10), 'a plain frame for the kernel');
  assert.is(t.router.counters.checksums_completed, 1);
});

lvs('a UDP super-frame to a one-packet service is cut first: each datagram is scheduled on its own, whole', () => {
  const config = DIRECTOR('dr');
  config.services = [{ protocol: 'udp', vip: '10.2.0.100', port: 53, scheduler: 'rr', onePacket: true, realServers: [{ address: '10.2.0.2', method: 'dr' }, { address: '10.2.0.3', method: 'dr' }] } as never];
  const t = testRouter(config, 256, { offload: true });
  learn(t);
  t.inject(1, ethernet(BROADCAST_MAC, mac('02:bb:00:00:00:03'), 0x0806, arpPacket(1, mac('02:bb:00:00:00:03'), '10.2.0.3', ZERO_MAC, '10.2.0.1')));
  t.take(1);
  const datagram = 100, count = 4;
  const udp = new Uint8Array(8 + datagram * count);
  udp.set([0x9c, 0x40, 0, 53, udp.length >> 8, udp.length & 255], 0);
  for (let i = 8; i < udp.length; i++) udp[i] = i & 0xff;
  const p = fold(pseudoHeaderSum(ip('10.1.0.2'), ip('10.2.0.100'), 17, udp.length));
  udp[6] = p >> 8;
  udp[7] = p & 0xff;
  const vnet = new Uint8Array(10);
  writeVnet(vnet, 0, { flags: VNET_F_NEEDS_CSUM, gsoType: VNET_GSO_UDP_L4, hdrLen: 42, gsoSize: datagram, csumStart: 34, csumOffset: 6 });
  t.inject(0, ethernet(LAN_MAC, CLIENT_MAC, 0x0800, ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.100', protocol: 17, payload: udp })), vnet);
  const out = t.take(1).map(parse);
  assert.equal(out.map((f) => f.dstMac), ['02:bb:00:00:00:02', '02:bb:00:00:00:03', '02:bb:00:00:00:02', '02:bb:00:00:00:03'], 'round robin, datagram by datagram');
  for (const f of out) {
    assert.is(f.ip!.payload.length, 8 + datagram);
    assert.ok(checksumValid(f.ip!.payload, 0, f.ip!.payload.length, pseudoHeaderSum(ip('10.1.0.2'), ip('10.2.0.100'), 17, f.ip!.payload.length)));
  }
});

route('no slot of either class leaks: after super-frames routed, refused, cut and dropped, every slot is home', () => {
  const t = testRouter(TWO_NETS, 512, { offload: true });
  learn(t);
  const census = () => t.engine.slotCensus();
  const before = { free: t.engine.freeSlotCount, large: t.engine.freeLargeSlotCount };
  for (let i = 0; i < 200; i++) {
    const kind = i % 4;
    const s = superFrame({ payload: 6000, mss: kind === 0 ? 1348 : 1448, df: kind !== 2 });
    if (kind === 3) s.vnet[4] = s.vnet[5] = 0; // a lying header: gso_size 0
    t.inject(0, s.frame, s.vnet);
  }
  t.take(0);
  t.take(1);
  t.engine.poll();
  const c = census();
  console.log(`  200 super-frames (whole, frag-needed, cut and fragmented, lying): ${c.duplicated} slots counted twice, ${c.missing} missing; free ${t.engine.freeSlotCount}/${before.free}, large free ${t.engine.freeLargeSlotCount}/${before.large}`);
  assert.equal([c.duplicated, c.missing], [0, 0]);
  assert.is(t.router.counters.vnet_malformed, 50);
});

route.run();
lvs.run();
