// The director for IPv6 services, frame by frame (issue 15): DR, NAT both ways, IPv6-in-IPv6,
// persistence with a prefix length, the hash schedulers, RSTs and port unreachables from the
// VIP, neighbour discovery for the VIP, Packet Too Big before any rewrite, ICMPv6 errors
// relayed to the real server and translated for NAT, and IPv4 services beside them unchanged.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Director } from '../../src/lvs/director.js';
import { SCHEDULER_NAMES } from '../../src/lvs/schedulers/index.js';
import { Admin } from '../../src/control/admin.js';
import { dryRun } from '../../src/build.js';
import { PacketTracer, parseTraceFilter, type TraceRecord } from '../../src/control/trace.js';
import { parseConfig } from '../../src/control/config.js';
import { applyServices } from '../../src/control/reload.js';
import { withLiveServices } from '../../src/control/save.js';
import { formatIpv6 } from '../../src/packet/address6.js';
import { IPV6_HEADER, NH_FRAGMENT, NH_ICMPV6, NH_IPV6, NH_TCP, NH_UDP } from '../../src/packet/ipv6.js';
import { ethernet, ipv4Packet, mac, parse, tcpSegment, arpPacket } from '../helpers/frames.js';
import { a6, frame6, isIpv6Frame, nd, seen6, tcp6, udp6, type Seen6 } from '../helpers/frames6.js';
import { BROADCAST_MAC, ZERO_MAC } from '../../src/packet/address.js';
import { testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const SRV_MAC = mac('02:00:00:00:02:01');
const GW_MAC = mac('02:cc:00:00:00:01');
const RS1_MAC = mac('02:aa:00:00:00:11');
const RS2_MAC = mac('02:aa:00:00:00:12');
const VIP = '2001:db8:1::100';
const GW = '2001:db8:1::fe';
const RS1 = '2001:db8:2::11';
const RS2 = '2001:db8:2::12';
const CLIENT = '2001:db8:9:1::10';

interface ServiceSpec {
  method: string;
  scheduler?: string;
  protocol?: string;
  extra?: Record<string, unknown>;
  servers?: string[];
}

/** Clients behind a gateway on lan; the real servers on srv (MTU 1400), which also carries the IPv4 service. */
const config = ({ method, scheduler = 'rr', protocol = 'tcp', extra = {}, servers = [RS1, RS2] }: ServiceSpec) => ({
  interfaces: [
    { name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.1/24', '2001:db8:1::1/64'] },
    { name: 'srv', tap: 'srv', mac: '02:00:00:00:02:01', mtu: 1400, addresses: ['192.168.2.1/24', '2001:db8:2::1/64'] },
  ],
  routes: [{ to: '::/0', via: GW }, { to: 'default', via: '192.168.1.254' }],
  services: [
    {
      protocol,
      vip: VIP,
      port: 80,
      scheduler,
      realServers: servers.map((address) => ({ address, method, ...(method === 'nat' ? { port: 8080 } : {}) })),
      ...extra,
    },
    { protocol: 'tcp', vip: '192.168.1.100', port: 80, scheduler: 'rr', realServers: [{ address: '192.168.2.11', method: 'dr' }] },
  ],
  icmp: { ratePerSecond: 1000, burst: 1000, perDestinationPerSecond: 1000, perDestinationBurst: 1000 },
});

const SYN = 0x02;
const ACK = 0x10;

const fromClient = (sport: number, flags: number, { client = CLIENT, hopLimit = 64, size = 0 } = {}) =>
  frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: client, dst: VIP, nh: NH_TCP, hopLimit, payload: tcp6(sport, 80, flags, new Uint8Array(size)) });

/** `who` makes itself known on `port` by a solicitation for our address and a solicited advertisement. */
function learn(t: TestRouter, port: number, who: string, whoMac: Uint8Array): void {
  const ours = port === 0 ? '2001:db8:1::1' : '2001:db8:2::1';
  const routerMac = port === 0 ? LAN_MAC : SRV_MAC;
  t.inject(port, frame6({ dstMac: routerMac, srcMac: whoMac, src: who, dst: ours, nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, ours, whoMac) }));
  t.inject(port, frame6({ dstMac: routerMac, srcMac: whoMac, src: who, dst: ours, nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, who, whoMac, 0x60) }));
  t.take(port);
}

function director6(spec: ServiceSpec): TestRouter {
  const t = testRouter(config(spec));
  t.router.announce();
  t.advance(2000);
  learn(t, 0, GW, GW_MAC);
  learn(t, 1, RS1, RS1_MAC);
  learn(t, 1, RS2, RS2_MAC);
  t.take(0);
  t.take(1);
  return t;
}

const out6 = (t: TestRouter, port: number): Seen6[] => t.take(port).filter(isIpv6Frame).map(seen6);
const director = (t: TestRouter) => t.router.director as unknown as Director;

const nd6 = suite('IPv6 VIPs: neighbour discovery');

nd6('a solicitation for the VIP is answered on its link, with our MAC, from the VIP; not on the other link', () => {
  const t = director6({ method: 'dr' });
  const ns = nd(135, VIP, GW_MAC);
  t.inject(0, frame6({ dstMac: mac('33:33:ff:00:01:00'), srcMac: GW_MAC, src: GW, dst: 'ff02::1:ff00:100', nh: NH_ICMPV6, hopLimit: 255, payload: ns }));
  const [na] = out6(t, 0);
  assert.equal([na.type, na.src, na.dst, na.target, na.word >>> 24, na.checksumOk], [136, VIP, GW, VIP, 0xe0, true], 'router (the node is one, whichever address), solicited, override');
  assert.equal(na.srcMac, '02:00:00:00:01:01');
  t.inject(1, frame6({ dstMac: mac('33:33:ff:00:01:00'), srcMac: RS1_MAC, src: RS1, dst: 'ff02::1:ff00:100', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, VIP, RS1_MAC) }));
  assert.equal(out6(t, 1), [], 'the real servers hold the VIP themselves: never claimed on their link');
});

nd6('the VIP is announced when the director starts: DAD, then an unsolicited advertisement', () => {
  const t = testRouter(config({ method: 'dr' }));
  t.router.announce();
  const dad = out6(t, 0).filter((s) => s.target === VIP);
  assert.equal(dad.map((s) => [s.type, s.src]), [[135, '::']]);
  t.advance(1100);
  const na = out6(t, 0).filter((s) => s.target === VIP);
  assert.equal(na.map((s) => [s.type, s.dst, s.src]), [[136, 'ff02::1', VIP]]);
});

const dr = suite('IPv6 direct routing');

dr('rewrites only the destination MAC and the hop limit, round robin; later segments follow their connection', () => {
  const t = director6({ method: 'dr' });
  t.inject(0, fromClient(40000, SYN));
  t.inject(0, fromClient(40001, SYN));
  t.inject(0, fromClient(40000, ACK));
  const out = out6(t, 1);
  assert.equal(out.map((s) => s.dstMac), ['02:aa:00:00:00:11', '02:aa:00:00:00:12', '02:aa:00:00:00:11']);
  for (const s of out) {
    assert.equal([s.src, s.dst, s.hopLimit, s.srcMac, s.sport, s.dport], [CLIENT, VIP, 63, '02:00:00:00:02:01', s.sport, 80]);
    assert.ok(s.checksumOk, 'payload untouched');
  }
  const d = director(t);
  assert.is(d.table.size6, 2);
  assert.is(d.dests[0].stats.conns, 1);
});

dr('a mid-stream segment without a connection gets a RST from the VIP, counted', () => {
  const t = director6({ method: 'dr' });
  t.inject(0, fromClient(49999, 0x18, { size: 10 }));
  assert.equal(out6(t, 1), []);
  const [rst] = out6(t, 0);
  assert.equal([rst.nh, rst.src, rst.dst, rst.dstMac, rst.sport, rst.dport, rst.checksumOk], [NH_TCP, VIP, CLIENT, '02:cc:00:00:00:01', 80, 49999, true]);
  assert.is(rst.frame[14 + IPV6_HEADER + 13] & 0x04, 0x04, 'RST');
  assert.is(t.router.counters.lvs_no_conn, 1);
});

dr('a packet whose hop limit runs out dies with time exceeded, not at the real server', () => {
  const t = director6({ method: 'dr' });
  t.inject(0, fromClient(40000, SYN, { hopLimit: 1 }));
  assert.equal(out6(t, 1), []);
  const [te] = out6(t, 0);
  assert.equal([te.type, te.code, te.dst], [3, 0, CLIENT]);
});

dr('a fragment for the VIP is refused and counted: no ports to schedule by', () => {
  const t = director6({ method: 'dr' });
  const frag = new Uint8Array(8 + 28);
  frag[0] = NH_TCP;
  frag[3] = 0x01; // offset 0, more fragments
  frag.set(tcp6(40000, 80, SYN), 8);
  t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: CLIENT, dst: VIP, nh: NH_FRAGMENT, payload: frag }));
  assert.equal(out6(t, 1), []);
  assert.is(t.router.counters.lvs_fragment, 1);
});

dr('too big for the real servers\' link: Packet Too Big with that MTU, from an address of ours, before any rewrite', () => {
  const t = director6({ method: 'dr' });
  t.inject(0, fromClient(40000, SYN));
  t.take(1);
  t.inject(0, fromClient(40000, ACK, { size: 1400 }));
  const [ptb] = out6(t, 0);
  assert.equal([ptb.type, ptb.code, ptb.word, ptb.dst, ptb.checksumOk], [2, 0, 1400, CLIENT, true]);
  assert.is(formatIpv6(ptb.frame, 14 + IPV6_HEADER + 8 + 24), VIP, 'the quote is the packet as the client sent it');
  assert.equal(out6(t, 1), []);
});

dr('an IPv4 service beside the IPv6 one is served as before', () => {
  const t = director6({ method: 'dr' });
  t.inject(1, ethernet(BROADCAST_MAC, RS1_MAC, 0x0806, arpPacket(1, RS1_MAC, '192.168.2.11', ZERO_MAC, '192.168.2.1')));
  t.take(1);
  t.inject(0, ethernet(LAN_MAC, GW_MAC, 0x0800, ipv4Packet({ src: '10.0.0.1', dst: '192.168.1.100', protocol: 6, payload: tcpSegment('10.0.0.1', '192.168.1.100', 40000, 80, SYN) })));
  const [f] = t.take(1).map(parse);
  assert.equal([f.dstMac, f.ip!.dst, f.ip!.ttl], ['02:aa:00:00:00:11', '192.168.1.100', 63]);
  assert.equal([director(t).table.size, director(t).table.size6], [1, 0]);
});

const nat = suite('IPv6 NAT');

nat('the request goes to the real server\'s address and port; its reply leaves from the VIP; checksums hold both ways', () => {
  const t = director6({ method: 'nat' });
  t.inject(0, fromClient(40000, SYN));
  const [req] = out6(t, 1);
  assert.equal([req.dstMac, req.src, req.dst, req.sport, req.dport, req.hopLimit, req.checksumOk], ['02:aa:00:00:00:11', CLIENT, RS1, 40000, 8080, 63, true]);
  t.inject(1, frame6({ dstMac: SRV_MAC, srcMac: RS1_MAC, src: RS1, dst: CLIENT, nh: NH_TCP, payload: tcp6(8080, 40000, 0x12) }));
  const [reply] = out6(t, 0);
  assert.equal([reply.dstMac, reply.src, reply.dst, reply.sport, reply.dport, reply.hopLimit, reply.checksumOk], ['02:cc:00:00:00:01', VIP, CLIENT, 80, 40000, 63, true]);
  assert.is(t.router.counters.lvs_nat_out, 1);
});

nat('UDP too, and a UDP service with no usable server answers port unreachable from the VIP', () => {
  const t = director6({ method: 'nat', protocol: 'udp' });
  t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: CLIENT, dst: VIP, nh: NH_UDP, payload: udp6(5000, 80, 20) }));
  const [req] = out6(t, 1);
  assert.equal([req.dst, req.dport, req.checksumOk], [RS1, 8080, true]);
  const none = director6({ method: 'nat', protocol: 'udp', servers: [] });
  none.inject(0, frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: CLIENT, dst: VIP, nh: NH_UDP, payload: udp6(5000, 80, 20) }));
  const [unreach] = out6(none, 0);
  assert.equal([unreach.type, unreach.code, unreach.src, unreach.dst, unreach.checksumOk], [1, 4, VIP, CLIENT, true]);
  assert.is(none.router.counters.lvs_no_dest, 1);
});

nat('a Packet Too Big from a client-side router about a reply goes to the NAT server, naming its own address and port', () => {
  const t = director6({ method: 'nat' });
  t.inject(0, fromClient(40000, SYN));
  t.take(1);
  // The reply, as it left the director: VIP:80 -> client:40000.
  const quoted = frame6({ dstMac: GW_MAC, srcMac: LAN_MAC, src: VIP, dst: CLIENT, nh: NH_TCP, payload: tcp6(80, 40000, 0x10, new Uint8Array(32)) }).subarray(14);
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 2;
  icmp.set([0, 0, 0x05, 0x00], 4); // MTU 1280
  icmp.set(quoted, 8);
  t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: GW, dst: VIP, nh: NH_ICMPV6, payload: icmp }));
  const [relayed] = out6(t, 1);
  assert.ok(relayed, 'relayed');
  const q = 14 + IPV6_HEADER + 8;
  assert.equal([relayed.type, relayed.dst, relayed.dstMac, relayed.word, relayed.checksumOk], [2, RS1, '02:aa:00:00:00:11', 1280, true]);
  assert.equal([formatIpv6(relayed.frame, q + 8), (relayed.frame[q + 40] << 8) | relayed.frame[q + 41]], [RS1, 8080], 'the quote names the server');
  assert.is(t.router.counters.lvs_icmp_forwarded, 1);
});

nat('a Packet Too Big from the NAT server about the client\'s packet reaches the client naming the VIP', () => {
  const t = director6({ method: 'nat' });
  t.inject(0, fromClient(40000, SYN));
  t.take(1);
  // The request, as the server got it: client:40000 -> RS1:8080.
  const quoted = frame6({ dstMac: RS1_MAC, srcMac: SRV_MAC, src: CLIENT, dst: RS1, nh: NH_TCP, payload: tcp6(40000, 8080, 0x10) }).subarray(14);
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 2;
  icmp.set([0, 0, 0x05, 0x00], 4);
  icmp.set(quoted, 8);
  t.inject(1, frame6({ dstMac: SRV_MAC, srcMac: RS1_MAC, src: RS1, dst: CLIENT, nh: NH_ICMPV6, payload: icmp }));
  const [err] = out6(t, 0);
  const q = 14 + IPV6_HEADER + 8;
  assert.equal([err.type, err.src, err.dst, err.checksumOk], [2, VIP, CLIENT, true]);
  assert.equal([formatIpv6(err.frame, q + 24), (err.frame[q + 42] << 8) | err.frame[q + 43]], [VIP, 80], 'the quote names the VIP');
  // The quoted TCP checksum was fixed with it.
  assert.ok(seen6(new Uint8Array([...new Uint8Array(14), ...err.frame.subarray(q)])).checksumOk);
});

const tun = suite('IPv6-in-IPv6');

tun('an outer header from the egress address to the real server; the inner packet as it came, one hop less', () => {
  const t = director6({ method: 'tun' });
  const sent = fromClient(40000, SYN);
  t.inject(0, sent);
  const [outer] = out6(t, 1);
  assert.equal([outer.nh, outer.src, outer.dst, outer.dstMac, outer.hopLimit], [NH_IPV6, '2001:db8:2::1', RS1, '02:aa:00:00:00:11', 63]);
  const inner = new Uint8Array([...new Uint8Array(14), ...outer.frame.subarray(14 + IPV6_HEADER)]);
  const s = seen6(inner);
  assert.equal([s.src, s.dst, s.hopLimit, s.dport, s.checksumOk], [CLIENT, VIP, 63, 80, true]);
  assert.is(outer.frame.length, sent.length + IPV6_HEADER);
});

tun('the tunnel\'s overhead counts: a packet that fits the link but not the tunnel gets Packet Too Big 1360', () => {
  const t = director6({ method: 'tun' });
  t.inject(0, fromClient(40000, SYN));
  t.take(1);
  t.inject(0, fromClient(40000, ACK, { size: 1380 - 60 }));
  const [ptb] = out6(t, 0);
  assert.equal([ptb.type, ptb.word], [2, 1360]);
});

const sched = suite('IPv6 persistence and schedulers');

sched('persistence with -M 64: one /64 sticks to one server, another /64 is scheduled on its own', () => {
  const t = director6({ method: 'dr', extra: { persistence: 300, netmask: 64 } });
  t.inject(0, fromClient(40000, SYN, { client: '2001:db8:9:1::10' }));
  t.inject(0, fromClient(40000, SYN, { client: '2001:db8:9:1::20' }));
  t.inject(0, fromClient(40001, SYN, { client: '2001:db8:9:1::30' }));
  t.inject(0, fromClient(40000, SYN, { client: '2001:db8:9:2::10' }));
  assert.equal(out6(t, 1).map((s) => s.dstMac.slice(-2)), ['11', '11', '11', '12']);
  assert.is(director(t).table.size6, 4 + 2, 'four connections and a template for each /64');
});

for (const scheduler of ['sh', 'mh']) {
  sched(`${scheduler}: one client always reaches the same server, and clients spread over both`, () => {
    const t = director6({ method: 'dr', scheduler });
    const picks = new Map<string, string>();
    for (let i = 0; i < 64; i++) {
      const client = `2001:db8:9:${i.toString(16)}::${(i * 7 + 1).toString(16)}`;
      t.inject(0, fromClient(40000, SYN, { client }));
      t.inject(0, fromClient(40001, SYN, { client }));
      const [a, b] = out6(t, 1);
      assert.is(a.dstMac, b.dstMac, `${client}: both connections on one server`);
      picks.set(client, a.dstMac);
    }
    const counts = [...picks.values()].reduce((m, v) => m.set(v, (m.get(v) ?? 0) + 1), new Map<string, number>());
    assert.is(counts.size, 2, 'both servers chosen');
    for (const n of counts.values()) assert.ok(n >= 16, `each server has at least a quarter (${[...counts.values()]})`);
  });
}

for (const scheduler of SCHEDULER_NAMES.filter((n) => n !== 'sh' && n !== 'mh')) {
  sched(`${scheduler} schedules IPv6 connections`, () => {
    const t = director6({ method: 'dr', scheduler });
    t.inject(0, fromClient(40000, SYN));
    const [s] = out6(t, 1);
    assert.ok(s && ['02:aa:00:00:00:11', '02:aa:00:00:00:12'].includes(s.dstMac), scheduler);
  });
}

const admin = suite('IPv6 through the admin (tapvsadm)');

admin('a service added by hand: announced on its link, listed with brackets, its connections shown as ipvsadm shows them', () => {
  const t = director6({ method: 'dr', servers: [] });
  const a = new Admin(director(t), t.router);
  const ref = { protocol: 'tcp' as const, vip: '2001:db8:1::200', port: 443, fwmark: 0 };
  a.addService({ ...ref, scheduler: 'rr', persistence: 60, netmask: '64' });
  a.addDest(ref, { address: RS2, port: 443, method: 'nat' as const });
  const svc = a.list().services.find((s) => s.port === 443)!;
  assert.equal([svc.vip, svc.netmask, svc.iface, svc.dests.map((d) => [d.address, d.forward])], ['2001:db8:1::200', '64', 'lan', [[RS2, 'Masq']]]);
  const na = out6(t, 0).filter((s) => s.target === '2001:db8:1::200');
  assert.equal(na.map((s) => [s.type, s.src]), [[135, '::']], 'duplicate address detection first');
  t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: CLIENT, dst: '2001:db8:1::200', nh: NH_TCP, payload: tcp6(40000, 443, SYN) }));
  assert.equal(out6(t, 1).map((s) => [s.dst, s.dport]), [[RS2, 443]]);
  const rows = a.connections().entries.map((c) => [c.protocol, c.client, c.virtual, c.destination, c.template]);
  assert.equal(rows.sort(), [
    ['TCP', `[${CLIENT}]:40000`, '[2001:db8:1::200]:443', `[${RS2}]:443`, false],
    ['TCP', '[2001:db8:9:1::]:0', '[2001:db8:1::200]:443', `[${RS2}]:443`, true],
  ].sort(), 'the template keyed by the client\'s /64');
  a.deleteService(ref);
  assert.is(director(t).isVip6(a6('2001:db8:1::200'), 0), false);
});

admin('mistakes get clear errors and change nothing', () => {
  const t = director6({ method: 'dr' });
  const a = new Admin(director(t), t.router);
  const ref = { protocol: 'tcp' as const, vip: VIP, port: 80, fwmark: 0 };
  const before = JSON.stringify(a.list());
  assert.throws(() => a.addDest(ref, { address: '192.168.2.11', port: 80 }), /is IPv4, the service IPv6: they must be the same family/);
  assert.throws(() => a.addDest(ref, { address: '2001:db8:77::1', port: 80, method: 'dr' }), /directly connected network \(it is behind 2001:db8:1::fe\)/);
  assert.throws(() => a.addService({ protocol: 'tcp', vip: '2001:db8:1::300', port: 80, fwmark: 0, persistence: 60, netmask: '255.255.255.0' }), /not a prefix length/);
  assert.throws(() => a.addService({ protocol: 'tcp', vip: '2001:db8::zz', port: 80, fwmark: 0 }), /is not an IPv6 address/);
  assert.throws(() => a.addService(ref), /Service already exists/);
  assert.is(JSON.stringify(a.list()), before);
});

nd6.run();
dr.run();
nat.run();
tun.run();
sched.run();
admin.run();

const reload = suite('IPv6 services in a reload and in tapvs save');

reload('a reload edits an IPv6 service in place (servers, persistence); save writes it back as the config reads it', () => {
  const first = config({ method: 'dr' });
  const { admin: a } = dryRun(parseConfig(first));
  const next = config({ method: 'dr', servers: [RS2, '2001:db8:2::13'], extra: { persistence: 120, netmask: 56 } });
  // The file spells the VIP its own way: still the same service.
  next.services[0].vip = '2001:DB8:1:0::100';
  const report = applyServices(a, parseConfig(next));
  assert.equal([report.added, report.removed, report.changed], [[], [], [`TCP [${VIP}]:80`]]);
  const svc = a.list().services.find((s) => s.vip === VIP)!;
  assert.equal([svc.persistence, svc.netmask, svc.dests.map((d) => d.address)], [120, '56', [RS2, '2001:db8:2::13']]);
  const saved = withLiveServices(next as unknown as Record<string, unknown>, a.list());
  const again = parseConfig(saved);
  const s6 = again.services.find((s) => s.vip6 !== null)!;
  assert.equal([formatIpv6(s6.vip6!), s6.netmask, s6.persistence, s6.realServers.map((r) => formatIpv6(r.address6!))], [VIP, 56, 120, [RS2, '2001:db8:2::13']]);
});

reload.run();

const trace = suite('tracing IPv6 packets');

trace('an IPv6 filter traces the IPv6 packets it names, with the director\'s decisions; an IPv4 filter does not see them', () => {
  const t = director6({ method: 'nat' });
  const tracer = new PacketTracer();
  t.router.tracer = tracer;
  const v6: TraceRecord[] = [];
  const v4: TraceRecord[] = [];
  tracer.watch(parseTraceFilter('[2001:db8:9::/48]:40000'), (r) => v6.push(r));
  tracer.watch(parseTraceFilter('10.0.0.0/8'), (r) => v4.push(r));
  t.inject(0, fromClient(40000, SYN));
  t.inject(0, fromClient(40001, SYN));
  assert.is(v6.length, 1, 'only port 40000');
  assert.is(v6[0].packet, `TCP [${CLIENT}]:40000 > [${VIP}]:80 [S] hlim 64 len 60`);
  assert.ok(v6[0].decisions.some((d) => d === `Masq to [${RS1}]:8080`), v6[0].decisions.join(' | '));
  assert.is(v4.length, 0);
  assert.throws(() => parseTraceFilter('[2001:db8::/200]:80'), /is not ADDR/);
  assert.equal([parseTraceFilter('10.0.0.2:5555').family, parseTraceFilter('10.0.0.2:5555').port], [4, 5555], 'IPv4 with a port is not a bare IPv6 address');
  assert.equal(parseTraceFilter('2001:db8::/64').family, 6);
});

trace.run();
