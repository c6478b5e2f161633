// The director frame by frame on the in-memory backend: every forwarding method, NAT replies,
// persistence, TCP state accounting, and what is refused.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { checksumValid, pseudoHeaderSum, fold, sum16 } from '../../src/packet/checksum.js';
import type { Director } from '../../src/lvs/director.js';
import { Admin, CONNECTION_PAGE } from '../../src/control/admin.js';
import { arpPacket, ethernet, ip, ipv4Packet, mac, parse, tcpSegment, udpPayload } from '../helpers/frames.js';
import { formatIpv4, readIpv4 } from '../../src/packet/address.js';

const readIp = (b: Uint8Array, o: number) => formatIpv4(readIpv4(b, o));
import { testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const GW_MAC = mac('02:cc:00:00:00:01');
const RS1_MAC = mac('02:aa:00:00:00:11');
const RS2_MAC = mac('02:aa:00:00:00:12');
const VIP = '192.168.1.2';
const CLIENT = '10.10.10.10';

const config = (method: string, extra: Record<string, unknown> = {}) => ({
  interfaces: [{ name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24'] }],
  routes: [{ to: 'default', via: '192.168.1.1' }],
  services: [
    {
      protocol: 'tcp',
      vip: VIP,
      port: 80,
      scheduler: 'rr',
      realServers: [
        { address: '192.168.1.11', method, ...(method === 'nat' ? { port: 8080 } : {}) },
        { address: '192.168.1.12', method, ...(method === 'nat' ? { port: 8080 } : {}) },
      ],
      ...extra,
    },
  ],
  icmp: { ratePerSecond: 1000, burst: 1000 },
});

const fromClient = (sport: number, flags: number, ttl = 64) =>
  ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 6, ttl, payload: tcpSegment(CLIENT, VIP, sport, 80, flags) }));

function lan(t: TestRouter): void {
  for (const [m, a] of [[GW_MAC, '192.168.1.1'], [RS1_MAC, '192.168.1.11'], [RS2_MAC, '192.168.1.12']] as const) {
    t.inject(0, ethernet(BROADCAST_MAC, m, 0x0806, arpPacket(1, m, a, ZERO_MAC, '192.168.1.10')));
  }
  t.take(0);
}

const director = (t: TestRouter) => t.router.director as unknown as Director;
const tcpSumOk = (f: ReturnType<typeof parse>) => checksumValid(f.ip!.payload, 0, f.ip!.payload.length, pseudoHeaderSum(ip(f.ip!.src), ip(f.ip!.dst), f.ip!.protocol, f.ip!.payload.length));

const dr = suite('direct routing');

dr('the director answers ARP for the VIP', () => {
  const t = testRouter(config('dr'));
  t.inject(0, ethernet(BROADCAST_MAC, GW_MAC, 0x0806, arpPacket(1, GW_MAC, '192.168.1.1', ZERO_MAC, VIP)));
  const [r] = t.take(0).map(parse);
  assert.equal([r.arp!.op, r.arp!.senderIp, r.arp!.senderMac], [2, VIP, '02:00:00:00:01:01']);
});

dr('rewrites only the destination MAC (and TTL), round robin across real servers', () => {
  const t = testRouter(config('dr'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  t.inject(0, fromClient(40001, 0x02));
  const out = t.take(0).map(parse);
  assert.equal(out.map((f) => f.dstMac), ['02:aa:00:00:00:11', '02:aa:00:00:00:12']);
  for (const f of out) {
    assert.equal([f.ip!.src, f.ip!.dst, f.ip!.ttl, f.srcMac], [CLIENT, VIP, 63, '02:00:00:00:01:01']);
    assert.ok(f.ip!.headerOk);
    assert.ok(tcpSumOk(f), 'payload untouched');
  }
});

dr('later packets of a connection follow it; a non-SYN without a connection gets a RST from the VIP', () => {
  const t = testRouter(config('dr'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  t.inject(0, fromClient(40001, 0x02));
  t.inject(0, fromClient(40000, 0x10));
  t.inject(0, fromClient(40000, 0x18));
  t.inject(0, fromClient(49999, 0x10));
  const out = t.take(0).map(parse);
  assert.equal(out.slice(0, 4).map((f) => f.dstMac.slice(-2)), ['11', '12', '11', '11']);
  const rst = out[4];
  assert.equal([rst.ip!.src, rst.ip!.dst, rst.ip!.protocol, rst.ip!.payload[13] & 0x04], [VIP, CLIENT, 6, 0x04], 'a reset, from the VIP, to the client');
  assert.is(out.length, 5);
  assert.is(t.router.counters.lvs_no_conn, 1);
});

dr('sloppy TCP: a mid-stream segment of an unknown connection opens one, established, and the hash sends it where it went before', () => {
  const sh = { ...config('dr'), director: { sloppyTcp: true } };
  (sh.services[0] as { scheduler: string }).scheduler = 'sh';
  const first = testRouter(sh);
  lan(first);
  first.inject(0, fromClient(40000, 0x02));
  const before = parse(first.take(0)[0]).dstMac;
  // A new director (a restart after a crash): no SYN, just the next segment.
  const t = testRouter(sh);
  lan(t);
  t.inject(0, fromClient(40000, 0x18));
  const out = t.take(0).map(parse);
  assert.is(out.length, 1);
  assert.is(out[0].dstMac, before, 'the same real server');
  const d = director(t);
  assert.is(d.table.size, 1);
  let state = -1;
  d.table.forEach((e) => (state = d.table.state(e)));
  assert.is(state, 1, 'ESTABLISHED');
  assert.is(t.router.counters.lvs_no_conn, 0);
});

dr('TCP states: SYN is inactive, the ACK makes it active, FIN makes it inactive again', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const rs1 = director(t).dests[0];
  t.inject(0, fromClient(40000, 0x02));
  assert.equal([rs1.activeConns, rs1.inactConns], [0, 1]);
  t.inject(0, fromClient(40000, 0x10));
  assert.equal([rs1.activeConns, rs1.inactConns], [1, 0]);
  t.inject(0, fromClient(40000, 0x11));
  assert.equal([rs1.activeConns, rs1.inactConns], [0, 1]);
});

dr('connections expire after their state timeout, and the counters follow', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const rs1 = director(t).dests[0];
  t.inject(0, fromClient(40000, 0x02)); // SYN_RECV: 60 s
  t.advance(59_000);
  assert.is(director(t).table.size, 1);
  t.advance(2_000);
  assert.is(director(t).table.size, 0);
  assert.equal([rs1.activeConns, rs1.inactConns], [0, 0]);
});

dr('TTL 1 at the VIP: time exceeded, not forwarded', () => {
  const t = testRouter(config('dr'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02, 1));
  const out = t.take(0).map(parse);
  assert.is(out.length, 1);
  assert.equal([out[0].icmp!.type, out[0].ip!.dst], [11, CLIENT]);
});

dr("two masters of one VIP, each the other's real server (seed 000's active/active): the packet dies by TTL, not in a loop", () => {
  const A_MAC = '02:00:00:00:0a:0a', B_MAC = '02:00:00:00:0b:0b';
  const pairConfig = (me: string, mine: string, other: string) => ({
    interfaces: [{ name: 'lan', tap: 'lan', mac: mine, addresses: [`${me}/24`] }],
    routes: [{ to: 'default', via: '192.168.1.1' }],
    services: [{ protocol: 'tcp', vip: VIP, port: 80, scheduler: 'rr', realServers: [{ address: other, method: 'dr' }] }],
  });
  const a = testRouter(pairConfig('192.168.1.10', A_MAC, '192.168.1.9'));
  const b = testRouter(pairConfig('192.168.1.9', B_MAC, '192.168.1.10'));
  for (const [t, m, ip, target] of [[a, B_MAC, '192.168.1.9', '192.168.1.10'], [b, A_MAC, '192.168.1.10', '192.168.1.9'], [a, '02:cc:00:00:00:01', '192.168.1.1', '192.168.1.10'], [b, '02:cc:00:00:00:01', '192.168.1.1', '192.168.1.9']] as const) {
    t.inject(0, ethernet(BROADCAST_MAC, mac(m), 0x0806, arpPacket(1, mac(m), ip, ZERO_MAC, target)));
    t.take(0);
  }
  let frame = ethernet(mac(A_MAC), GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 6, ttl: 64, payload: tcpSegment(CLIENT, VIP, 40000, 80, 0x02) }));
  let hops = 0;
  let last: ReturnType<typeof parse> | undefined;
  for (let at = a, other = b; hops < 1000; [at, other] = [other, at]) {
    at.inject(0, frame);
    const out = at.take(0);
    last = parse(out[0]);
    if (last.ip!.protocol !== 6) break; // time exceeded instead of the SYN
    frame = out[0];
    hops++;
  }
  assert.is(hops, 63, 'one hop per TTL');
  assert.equal([last!.icmp!.type, last!.ip!.dst], [11, CLIENT], 'time exceeded to the client');
});

dr('a routed VIP (on no connected network) is served, and never answered in ARP', () => {
  const cfg = config('dr');
  (cfg.services[0] as Record<string, unknown>).vip = '10.99.0.1';
  const t = testRouter(cfg);
  lan(t);
  t.inject(0, ethernet(BROADCAST_MAC, GW_MAC, 0x0806, arpPacket(1, GW_MAC, '192.168.1.1', ZERO_MAC, '10.99.0.1')));
  assert.equal(t.take(0), [], 'no ARP reply for the routed VIP');
  t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: '10.99.0.1', protocol: 6, payload: tcpSegment(CLIENT, '10.99.0.1', 40000, 80, 0x02) })));
  const [f] = t.take(0).map(parse);
  assert.equal([f.dstMac, f.ip!.dst, f.ip!.ttl], ['02:aa:00:00:00:11', '10.99.0.1', 63], 'DR to the real server');
  assert.is(director(t).table.size, 1);
});

dr('weight 0 quiesces: new connections go elsewhere; with every weight 0, a RST', () => {
  const t = testRouter(config('dr'));
  lan(t);
  director(t).dests[0].weight = 0;
  for (let p = 0; p < 4; p++) t.inject(0, fromClient(41000 + p, 0x02));
  assert.ok(t.take(0).every((f) => parse(f).dstMac === '02:aa:00:00:00:12'));
  director(t).dests[1].weight = 0;
  t.inject(0, fromClient(42000, 0x02));
  const out = t.take(0).map(parse);
  assert.equal(out.map((f) => [f.ip!.src, f.ip!.payload[13]]), [[VIP, 0x14]], 'only a RST back to the client');
  assert.is(t.router.counters.lvs_no_dest, 1);
});

dr('persistence keeps a client on one server across connections', () => {
  const t = testRouter(config('dr', { persistence: 300 }));
  lan(t);
  for (let p = 0; p < 6; p++) t.inject(0, fromClient(43000 + p, 0x02));
  assert.is(new Set(t.take(0).map((f) => parse(f).dstMac)).size, 1);
  assert.is(director(t).dests.reduce((n, d) => n + d.persistConns, 0), 1);
});

dr.run();

const nat = suite('NAT');

nat('rewrites destination address and port with valid checksums, and the reply back to the VIP', () => {
  const t = testRouter(config('nat'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  const [toRs] = t.take(0).map(parse);
  assert.equal([toRs.ip!.src, toRs.ip!.dst, toRs.ip!.ttl, toRs.dstMac], [CLIENT, '192.168.1.11', 63, '02:aa:00:00:00:11']);
  assert.is((toRs.ip!.payload[2] << 8) | toRs.ip!.payload[3], 8080);
  assert.ok(toRs.ip!.headerOk);
  assert.ok(tcpSumOk(toRs));
  // The real server answers the client through the director (its default gateway).
  const reply = ethernet(LAN_MAC, RS1_MAC, 0x0800, ipv4Packet({ src: '192.168.1.11', dst: CLIENT, protocol: 6, payload: tcpSegment('192.168.1.11', CLIENT, 8080, 40000, 0x12) }));
  t.inject(0, reply);
  const [toClient] = t.take(0).map(parse);
  assert.equal([toClient.ip!.src, toClient.ip!.dst, toClient.dstMac], [VIP, CLIENT, '02:cc:00:00:00:01']);
  assert.is((toClient.ip!.payload[0] << 8) | toClient.ip!.payload[1], 80);
  assert.ok(toClient.ip!.headerOk);
  assert.ok(tcpSumOk(toClient));
  assert.is(t.router.counters.lvs_nat_out, 1);
});

nat('UDP through NAT keeps a valid checksum', () => {
  const cfg = config('nat');
  (cfg.services[0] as Record<string, unknown>).protocol = 'udp';
  const t = testRouter(cfg);
  lan(t);
  t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 17, payload: udpPayload(CLIENT, VIP, 5353, 80, new Uint8Array([1, 2, 3])) })));
  const [f] = t.take(0).map(parse);
  assert.is(f.ip!.dst, '192.168.1.11');
  assert.ok(tcpSumOk(f));
});

nat.run();

const tun = suite('IP-in-IP');

tun('encapsulates toward the real server from the director address, inner TTL decremented', () => {
  const t = testRouter(config('tun'));
  lan(t);
  const frame = fromClient(40000, 0x02);
  t.inject(0, frame);
  const [f] = t.take(0).map(parse);
  assert.equal([f.ip!.src, f.ip!.dst, f.ip!.protocol, f.dstMac], ['192.168.1.10', '192.168.1.11', 4, '02:aa:00:00:00:11']);
  assert.ok(f.ip!.headerOk);
  const inner = f.ip!.payload;
  assert.is(inner[8], 63, 'inner TTL');
  assert.ok(checksumValid(inner, 0, 20));
  assert.equal([...inner.subarray(20)], [...frame.subarray(34)], 'inner payload unchanged');
});

tun('a DF packet too big for the tunnel gets frag-needed with the MTU less 20', () => {
  const t = testRouter(config('tun'));
  lan(t);
  const big = ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 6, df: true, payload: tcpSegment(CLIENT, VIP, 40000, 80, 0x02, new Uint8Array(1460)) }));
  t.inject(0, big);
  const [e] = t.take(0).map(parse);
  assert.equal([e.icmp!.type, e.icmp!.code, e.icmp!.mtu, e.ip!.dst], [3, 4, 1480, CLIENT]);
});

tun.run();

const more = suite('services and limits');

more('a firewall-mark service groups SIP and RTP of one VIP, and persistence keeps a client on one server for both', () => {
  const t = testRouter({
    interfaces: [{ name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24'] }],
    routes: [{ to: 'default', via: '192.168.1.1' }],
    services: [
      {
        fwmark: 1,
        vip: VIP,
        members: [{ protocol: 'udp', port: 5060 }, { protocol: 'udp', port: 10000 }],
        scheduler: 'rr',
        persistence: 60,
        netmask: '255.255.255.0',
        realServers: [{ address: '192.168.1.11' }, { address: '192.168.1.12' }],
      },
    ],
  });
  lan(t);
  const udp = (src: string, sport: number, dport: number) => ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src, dst: VIP, protocol: 17, payload: udpPayload(src, VIP, sport, dport, new Uint8Array(8)) }));
  t.inject(0, udp(CLIENT, 5060, 5060));
  t.inject(0, udp(CLIENT, 20000, 10000));
  t.inject(0, udp('10.10.10.77', 5060, 5060)); // same /24: the same template
  t.inject(0, udp(CLIENT, 5060, 5061)); // not a member port: not the service
  const out = t.take(0).map(parse);
  assert.equal(out.filter((f) => f.ip!.protocol === 17).map((f) => f.dstMac), ['02:aa:00:00:00:11', '02:aa:00:00:00:11', '02:aa:00:00:00:11']);
  assert.ok(out.some((f) => f.icmp?.type === 3 && f.icmp.code === 3), 'port 5061 is answered as a local port: unreachable');
});

more('a full connection table refuses new connections (counted) while existing ones keep flowing', () => {
  const t = testRouter({ ...config('dr'), director: { maxConnections: 64 } });
  lan(t);
  const d = director(t);
  for (let p = 0; p < d.table.capacity + 5; p++) t.inject(0, fromClient(30000 + p, 0x02));
  t.take(0);
  assert.is(t.router.counters.lvs_table_full, 5);
  t.inject(0, fromClient(30000, 0x10));
  assert.is(t.take(0).length, 1, 'an established connection still forwards');
});

more('a connection keeps the method it began with when its server is switched to another', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const d = director(t);
  t.inject(0, fromClient(40000, 0x02));
  d.editRealServer(d.services[0]!, d.dests[0], 1, 1 /* NAT */, 0, 0);
  t.inject(0, fromClient(40000, 0x10));
  t.inject(0, fromClient(40002, 0x02)); // rr: to rs2, still DR
  t.inject(0, fromClient(40004, 0x02)); // rr: to rs1, now NAT
  const out = t.take(0).map(parse);
  assert.equal(out.map((f) => [f.dstMac.slice(-2), f.ip!.dst]), [
    ['11', VIP],
    ['11', VIP],
    ['12', VIP],
    ['11', '192.168.1.11'],
  ]);
});

more.run();

const failures = suite('when real servers are gone');

const udpTo = (sport: number, dport = 80) => ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: VIP, protocol: 17, payload: udpPayload(CLIENT, VIP, sport, dport, new Uint8Array(4)) }));
const udpConfig = (extra: Record<string, unknown> = {}) => {
  const cfg = config('dr', extra);
  (cfg.services[0] as Record<string, unknown>).protocol = 'udp';
  return cfg;
};

failures('no usable server: UDP gets port unreachable from the VIP, TCP a RST from the VIP', () => {
  const t = testRouter(config('dr'));
  lan(t);
  for (const d of director(t).dests) d.weight = 0;
  t.inject(0, fromClient(40000, 0x02));
  const [rst] = t.take(0).map(parse);
  assert.equal([rst.ip!.src, rst.ip!.dst, rst.ip!.protocol], [VIP, CLIENT, 6]);
  const seg = rst.ip!.payload;
  assert.equal([(seg[0] << 8) | seg[1], (seg[2] << 8) | seg[3], seg[13]], [80, 40000, 0x14]);
  assert.is(((seg[8] << 24) | (seg[9] << 16) | (seg[10] << 8) | seg[11]) >>> 0, 1, 'acks the SYN (seq 0 + 1)');
  assert.ok(tcpSumOk(rst));
  const u = testRouter(udpConfig());
  lan(u);
  for (const d of director(u).dests) d.weight = 0;
  u.inject(0, udpTo(5000));
  const [icmp] = u.take(0).map(parse);
  assert.equal([icmp.ip!.src, icmp.icmp!.type, icmp.icmp!.code], [VIP, 3, 3]);
});

failures('a SYN reusing the ports of a closing connection is scheduled anew, not dropped', () => {
  const t = testRouter(config('dr'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  t.inject(0, fromClient(40000, 0x10));
  t.inject(0, fromClient(40000, 0x11)); // FIN: FIN_WAIT
  t.inject(0, fromClient(40000, 0x02)); // the port again
  const out = t.take(0).map((f) => parse(f).dstMac.slice(-2));
  assert.equal(out, ['11', '11', '11', '12'], 'rr moves on: a new connection');
  assert.is(t.router.counters.lvs_conn_reused, 1);
  assert.is(director(t).table.size, 1);
});

failures("a removed server's UDP flow moves to a live server; its TCP clients get a RST", () => {
  const u = testRouter(udpConfig());
  lan(u);
  u.inject(0, udpTo(5000));
  const d = director(u);
  d.deleteRealServer(d.services[0]!, d.dests[0]);
  u.inject(0, udpTo(5000));
  assert.equal(u.take(0).map((f) => parse(f).dstMac.slice(-2)), ['11', '12']);
  assert.is(u.router.counters.lvs_nodest_expired, 1);

  const t = testRouter(config('dr'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  t.inject(0, fromClient(40000, 0x10));
  const td = director(t);
  td.deleteRealServer(td.services[0]!, td.dests[0]);
  t.take(0);
  t.inject(0, fromClient(40000, 0x18));
  const [rst] = t.take(0).map(parse);
  assert.equal([rst.ip!.src, rst.ip!.dst, rst.ip!.payload[13]], [VIP, CLIENT, 0x04]);
  assert.is(td.dests[0].activeConns + td.dests[0].inactConns, 0, 'its counts went with it');
});

failures('one-packet scheduling: every datagram scheduled alone, no entry kept', () => {
  const t = testRouter(udpConfig({ onePacket: true }));
  lan(t);
  for (let i = 0; i < 4; i++) t.inject(0, udpTo(5353));
  assert.equal(t.take(0).map((f) => parse(f).dstMac.slice(-2)), ['11', '12', '11', '12']);
  assert.is(director(t).table.size, 0);
});

failures('health "remove": the server leaves the service and comes back with its weight', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const d = director(t);
  const svc = d.services[0]!;
  const rs1 = d.dests[0];
  d.setHealth(svc, rs1, false, 'remove');
  assert.equal(svc.dests.map((x) => x.id), [1]);
  d.setHealth(svc, rs1, true, 'remove');
  assert.equal([svc.dests.length, rs1.weight, rs1.removed], [2, 1, false]);
  d.deleteRealServer(svc, rs1);
  d.setHealth(svc, rs1, true, 'remove');
  assert.is(svc.dests.length, 1, 'a server an administrator removed stays removed');
});

failures('a quiesced server loses its persistence templates: the client is scheduled anew', () => {
  const t = testRouter(config('dr', { persistence: 300 }));
  lan(t);
  t.inject(0, fromClient(43000, 0x02));
  const first = parse(t.take(0)[0]).dstMac;
  const d = director(t);
  d.dests.find((x) => first.endsWith(x.id === 0 ? '11' : '12'))!.weight = 0;
  t.inject(0, fromClient(43001, 0x02));
  assert.is.not(parse(t.take(0)[0]).dstMac, first);
});

failures('a per-service UDP timeout overrides the global one', () => {
  const t = testRouter(udpConfig({ udpTimeout: 5 }));
  lan(t);
  t.inject(0, udpTo(5000));
  t.advance(4_000);
  assert.is(director(t).table.size, 1);
  t.advance(2_000);
  assert.is(director(t).table.size, 0);
});

failures.run();

const icmpSuite = suite('ICMP about virtual-service traffic');

/** An ICMP error from `from` to `to`, quoting `quotedPacket` (IP header + 8 bytes or more). */
function icmpError(from: string, to: string, type: number, code: number, quotedPacket: Uint8Array, mtu = 0): Uint8Array {
  const m = new Uint8Array(8 + quotedPacket.length);
  m[0] = type;
  m[1] = code;
  m[6] = mtu >> 8;
  m[7] = mtu & 255;
  m.set(quotedPacket, 8);
  const c = ~fold(sum16(m, 0, m.length)) & 0xffff;
  m[2] = c >> 8;
  m[3] = c & 255;
  return ipv4Packet({ src: from, dst: to, protocol: 1, payload: m });
}

icmpSuite('frag-needed for a DR reply reaches the real server of that connection, unchanged', () => {
  const t = testRouter(config('dr'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  t.inject(0, fromClient(40001, 0x02)); // rs2
  t.take(0);
  // rs2 answered from the VIP; a router toward the client says the reply was too big.
  const reply = ipv4Packet({ src: VIP, dst: CLIENT, protocol: 6, payload: tcpSegment(VIP, CLIENT, 80, 40001, 0x10, new Uint8Array(8)) });
  const err = icmpError('10.99.0.1', VIP, 3, 4, reply.subarray(0, 28), 1400);
  t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, err));
  const [f] = t.take(0).map(parse);
  assert.equal([f.dstMac, f.ip!.dst, f.icmp!.type, f.icmp!.code, f.icmp!.mtu], ['02:aa:00:00:00:12', VIP, 3, 4, 1400]);
  assert.is(t.router.counters.lvs_icmp_forwarded, 1);
});

icmpSuite('for NAT, the error is translated to the real server address and port, checksums valid', () => {
  const t = testRouter(config('nat'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  t.take(0);
  const reply = ipv4Packet({ src: VIP, dst: CLIENT, protocol: 6, payload: tcpSegment(VIP, CLIENT, 80, 40000, 0x10) });
  t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, icmpError('10.99.0.1', VIP, 3, 4, reply.subarray(0, 28), 1400)));
  const [f] = t.take(0).map(parse);
  assert.equal([f.ip!.dst, f.dstMac], ['192.168.1.11', '02:aa:00:00:00:11']);
  assert.ok(f.ip!.headerOk);
  assert.ok(f.icmp!.checksumOk);
  const quoted = f.icmp!.quoted;
  assert.ok(checksumValid(quoted, 0, 20), 'quoted header checksum redone');
  assert.equal([readIp(quoted, 12), (quoted[20] << 8) | quoted[21]], ['192.168.1.11', 8080]);
});

icmpSuite("an error from a NAT real server reaches the client showing the VIP", () => {
  const t = testRouter(config('nat'));
  lan(t);
  t.inject(0, fromClient(40000, 0x02));
  const [toRs] = t.take(0);
  // The real server refuses the (translated) segment with port unreachable.
  const err = icmpError('192.168.1.11', CLIENT, 3, 3, toRs.subarray(14, 14 + 28));
  t.inject(0, ethernet(LAN_MAC, RS1_MAC, 0x0800, err));
  const [f] = t.take(0).map(parse);
  assert.equal([f.ip!.src, f.ip!.dst, f.icmp!.type, f.icmp!.code], [VIP, CLIENT, 3, 3]);
  assert.ok(f.ip!.headerOk && f.icmp!.checksumOk);
  assert.equal([readIp(f.icmp!.quoted, 16), (f.icmp!.quoted[22] << 8) | f.icmp!.quoted[23]], [VIP, 80]);
});

icmpSuite('an error quoting no known connection is dropped and counted', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const stray = ipv4Packet({ src: VIP, dst: CLIENT, protocol: 17, payload: udpPayload(VIP, CLIENT, 80, 1234, new Uint8Array(0)) });
  t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, icmpError('10.99.0.1', VIP, 3, 3, stray)));
  assert.is(t.take(0).length, 0);
  assert.is(t.router.counters.lvs_icmp_no_conn, 1);
});

icmpSuite.run();

const sipSuite = suite('SIP persistence engine');

const sipConfig = () => ({
  ...config('dr'),
  services: [{ protocol: 'udp', vip: VIP, port: 5060, scheduler: 'rr', persistence: 60, pe: 'sip', realServers: [{ address: '192.168.1.11' }, { address: '192.168.1.12' }] }],
});
const sipDatagram = (src: string, sport: number, text: string) =>
  ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src, dst: VIP, protocol: 17, payload: udpPayload(src, VIP, sport, 5060, new TextEncoder().encode(text)) }));
const sip = (method: string, callId: string) => `${method} sip:svc@${VIP} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\n\r\n`;

sipSuite('every message of a call goes to one server, whatever its port; calls spread by the scheduler', () => {
  const t = testRouter(sipConfig());
  lan(t);
  t.inject(0, sipDatagram(CLIENT, 5060, sip('INVITE', 'call-a@host')));
  t.inject(0, sipDatagram(CLIENT, 5060, sip('INVITE', 'call-b@host')));
  t.inject(0, sipDatagram(CLIENT, 5062, sip('ACK', 'call-a@host')));
  t.inject(0, sipDatagram('10.10.10.99', 5060, sip('BYE', 'call-b@host')));
  t.inject(0, sipDatagram(CLIENT, 5060, sip('INVITE', 'call-c@host')));
  assert.equal(t.take(0).map((f) => parse(f).dstMac.slice(-2)), ['11', '12', '11', '12', '11']);
  const d = director(t);
  assert.is(d.table.size, 3, 'three call templates, no per-port entries');
  assert.is(d.services[0]!.stats.conns, 3, 'one connection per call');
});

sipSuite('a payload that is not SIP falls back to the client persistence template', () => {
  const t = testRouter(sipConfig());
  lan(t);
  t.inject(0, sipDatagram(CLIENT, 6000, 'garbage, not SIP'));
  t.inject(0, sipDatagram(CLIENT, 6001, 'INVITE but broken'));
  t.inject(0, sipDatagram(CLIENT, 6002, sip('OPTIONS', '')));
  assert.is(new Set(t.take(0).map((f) => parse(f).dstMac)).size, 1);
});

sipSuite.run();

const defense = suite('flood defences');

const flood = (t: TestRouter, n: number, from = 0) => {
  for (let i = 0; i < n; i++) {
    const src = `10.${(from + i) >> 16 & 255}.${((from + i) >> 8) & 255}.${(from + i) & 255 || 1}`;
    t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src, dst: VIP, protocol: 6, payload: tcpSegment(src, VIP, 1024 + (i % 60000), 80, 0x02) })));
    if (i % 32 === 0) t.take(0);
  }
  t.take(0);
};

defense('drop_entry (auto): a SYN flood fills the table, then embryonic entries make room for a real client', () => {
  const t = testRouter({ ...config('dr'), director: { maxConnections: 256, defense: { amemthresh: 64, dropEntry: 1 } } });
  lan(t);
  const d = director(t);
  flood(t, 400);
  assert.is(d.table.size, 256, 'the table holds its limit');
  assert.ok(t.router.counters.lvs_table_full > 0);
  t.advance(1000); // the defence looks at memory once a second
  assert.equal([d.defense.dropEntry, d.defenseActive.dropEntry], [2, true]);
  t.inject(0, fromClient(45000, 0x02));
  assert.is(t.take(0).length, 1, 'a legitimate SYN gets in');
  assert.ok(t.router.counters.lvs_defense_dropped_entries >= 1);
  for (let i = 0; i < 40; i++) t.advance(1000);
  assert.ok(d.table.size < 256 - 64, 'the sweep and expiry free the table');
  t.advance(1000);
  assert.equal([d.defense.dropEntry, d.defenseActive.dropEntry], [1, false], 'back to automatic, off');
});

defense('drop_packet (always): one new-connection packet in amDropRate is dropped', () => {
  const t = testRouter({ ...config('dr'), director: { defense: { dropPacket: 3, amDropRate: 10 } } });
  lan(t);
  t.advance(1000);
  flood(t, 100);
  assert.is(t.router.counters.lvs_defense_dropped_packets, 10);
});

defense('secure_tcp (always): embryonic connections live 10 s, not 60', () => {
  const t = testRouter({ ...config('dr'), director: { defense: { secureTcp: 3 } } });
  lan(t);
  t.advance(1000);
  t.inject(0, fromClient(46000, 0x02));
  t.advance(9_000);
  assert.is(director(t).table.size, 1);
  t.advance(2_000);
  assert.is(director(t).table.size, 0);
});

defense.run();

const ids = suite('ids');

ids('service and server ids are reused once no entry names them: 70,000 creations never wrap onto another service', () => {
  const t = testRouter(config('dr'));
  lan(t);
  const d = director(t);
  const key = (port: number) => ({ protocol: 6, vaddr: ip(VIP), vport: port, fwmark: 0 });
  // A connection on the configured service keeps its ids in use throughout.
  t.inject(0, fromClient(40000, 0x02));
  t.take(0);
  const kept = d.services[0];
  for (let i = 0; i < 70_000; i++) {
    const svc = d.addService(key(9000), 'rr');
    d.addRealServer(svc, ip('192.168.1.12'), 9000, 1, 0);
    d.deleteService(svc);
    if (i % 1000 === 0) t.advance(250); // the director's timers recycle what no entry names
  }
  t.advance(250);
  console.log(`  70000 services created and deleted: ${d.services.length} service ids and ${d.dests.length} server ids ever allocated`);
  assert.ok(d.services.length < 100, `${d.services.length} service ids`);
  assert.ok(d.dests.length < 100, `${d.dests.length} server ids`);
  assert.is(d.services[0], kept, 'the id an entry names was never handed out again');
  // The tracked connection still finds its service and server.
  t.inject(0, fromClient(40000, 0x10));
  assert.is(t.take(0).map(parse)[0]?.dstMac, '02:aa:00:00:00:11');
});

ids('the NAT flag is a count: it falls when the last NAT server and connection are gone', () => {
  const t = testRouter(config('nat'));
  lan(t);
  const d = director(t);
  assert.ok(d.hasNat);
  t.inject(0, fromClient(40000, 0x02));
  t.take(0);
  d.deleteService(d.services[0]);
  assert.ok(d.hasNat, 'a NAT connection still needs its replies rewritten');
  t.advance(200_000); // past SYN_RECV's timeout
  assert.is(d.table.size, 0);
  assert.not.ok(d.hasNat, 'nothing left to rewrite: forwarded packets skip the NAT lookup again');
});

ids('TCP resets have a budget of their own: errors spent, a refused connection still gets its RST', () => {
  const t = testRouter({ ...config('dr', { realServers: [] }), icmp: { ratePerSecond: 5, burst: 5, perDestinationPerSecond: 1000, perDestinationBurst: 1000 } });
  lan(t);
  for (let i = 0; i < 10; i++) t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: CLIENT, dst: '192.168.1.99', protocol: 17, ttl: 1, payload: udpPayload(CLIENT, '192.168.1.99', 1, 2, new Uint8Array(8)) })));
  const errors = t.take(0).map(parse).filter((f) => f.ip?.protocol === 1).length;
  assert.is(errors, 5, 'the error budget is spent');
  for (let i = 0; i < 5; i++) t.inject(0, fromClient(41000 + i, 0x02));
  const resets = t.take(0).map(parse).filter((f) => f.ip?.protocol === 6);
  assert.is(resets.length, 5, 'every refused SYN got its RST');
  assert.is(t.router.counters.tcp_resets_rate_limited, 0);
});

ids('the connection listing comes in bounded pages that add up to the whole table', () => {
  const t = testRouter({ ...config('dr'), director: { maxConnections: 1 << 18 } });
  lan(t);
  for (let i = 0; i < 12_000; i++) {
    t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: `10.${(i >> 8) & 255}.${i & 255}.1`, dst: VIP, protocol: 6, payload: tcpSegment(`10.${(i >> 8) & 255}.${i & 255}.1`, VIP, 40000, 80, 0x02) })));
    if (i % 500 === 0) t.take(0);
  }
  t.take(0);
  const admin = new Admin(director(t), t.router);
  const sizes: number[] = [];
  let seen = 0;
  for (let after: number | null = 0; after !== null; ) {
    const page = admin.connections(after);
    sizes.push(page.entries.length);
    seen += page.entries.length;
    after = page.next;
  }
  console.log(`  12000 connections listed in ${sizes.length} pages of at most ${Math.max(...sizes)}`);
  assert.is(seen, 12_000);
  assert.ok(Math.max(...sizes) <= CONNECTION_PAGE);
});

ids.run();
