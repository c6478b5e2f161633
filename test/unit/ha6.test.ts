// IPv6 addresses in a VRRP instance, frame by frame. Riding with IPv4 ones (keepalived's
// virtual_ipaddress_excluded): a backup keeps them silent (no neighbour advertisement, nothing
// served), a new master announces them with unsolicited advertisements and serves them, and
// stepping down silences them again. An IPv6 instance (its addresses all IPv6): version 3
// advertisements from the link-local address to ff02::12, judged by tshark's VRRP dissector,
// the election by 128-bit address, hostile advertisements counted.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HighAvailability } from '../../src/ha/ha.js';
import { parseConfig } from '../../src/control/config.js';
import { C } from '../../src/l3/counters.js';
import type { Director } from '../../src/lvs/director.js';
import { NH_ICMPV6, NH_TCP } from '../../src/packet/ipv6.js';
import { PROTO_VRRP, VRRP_GROUP, VrrpView } from '../../src/packet/vrrp.js';
import { parseIpv4 } from '../../src/packet/address.js';
import { ethernet, ipv4Packet, mac } from '../helpers/frames.js';
import { a6, frame6, isIpv6Frame, nd, seen6, tcp6 } from '../helpers/frames6.js';
import { tsharkFields } from '../helpers/tshark-frames.js';
import { VRRP_GROUP6 } from '../../src/packet/vrrp.js';
import { formatIpv6, linkLocalFromMac } from '../../src/packet/address6.js';
import { testRouter, type TestRouter } from '../helpers/memory-router.js';

const LAN_MAC = mac('02:00:00:00:01:01');
const GW_MAC = mac('02:cc:00:00:00:01');
const PEER_MAC = mac('02:00:00:00:01:09');
const RS_MAC = mac('02:aa:00:00:00:11');
const OURS6 = '2001:db8:1::10';
const VIP6 = '2001:db8:1::2';
const GW6 = '2001:db8:1::1';
const RS6 = '2001:db8:1::11';
const CLIENT6 = '2001:db8:9::10';

const config = {
  interfaces: [{ name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24', `${OURS6}/64`] }],
  routes: [{ to: 'default', via: '192.168.1.1' }, { to: '::/0', via: GW6 }],
  services: [
    { protocol: 'tcp', vip: '192.168.1.2', port: 80, iface: 'lan', realServers: [{ address: '192.168.1.11', method: 'dr' }] },
    { protocol: 'tcp', vip: VIP6, port: 80, iface: 'lan', realServers: [{ address: RS6, method: 'dr' }] },
  ],
  ha: { vrrp: [{ iface: 'lan', vrid: 51, priority: 150, advertIntervalMs: 1000, addresses: ['192.168.1.2', VIP6] }] },
};

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A neighbour solicitation for the VIP from the gateway, and what answered it. */
function solicitVip(t: TestRouter): ReturnType<typeof seen6>[] {
  t.inject(0, frame6({ dstMac: mac('33:33:ff:00:00:02'), srcMac: GW_MAC, src: GW6, dst: 'ff02::1:ff00:2', nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, VIP6, GW_MAC) }));
  return t.take(0).filter(isIpv6Frame).map(seen6);
}

const syn = (sport: number) => frame6({ dstMac: LAN_MAC, srcMac: GW_MAC, src: CLIENT6, dst: VIP6, nh: NH_TCP, payload: tcp6(sport, 80, 0x02) });

/** A VRRPv3 advertisement from the peer (192.168.1.9) at `priority`. */
function advert(priority: number): Uint8Array {
  const b = new Uint8Array(64);
  const length = new VrrpView().point(b, 0).write(3, 51, priority, 100, [parseIpv4('192.168.1.2')!], parseIpv4('192.168.1.9')!, VRRP_GROUP);
  return ethernet(mac('01:00:5e:00:00:12'), PEER_MAC, 0x0800, ipv4Packet({ src: '192.168.1.9', dst: '224.0.0.18', protocol: PROTO_VRRP, ttl: 255, payload: b.subarray(0, length) }));
}

test('IPv6 addresses move with the VRRP instance: silent while backup, announced and served as master, silent again after stepping down', () => {
  const t = testRouter(config);
  const clock = { now: 0 };
  const ha = new HighAvailability(t.router, t.engine, t.router.director as Director, parseConfig(config).ha, quiet, () => clock.now);
  try {
    // The server and the gateway are known neighbours, so a forwarded SYN can leave at once.
    for (const [m, a] of [[RS_MAC, RS6], [GW_MAC, GW6]] as const) {
      t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: m, src: a, dst: OURS6, nh: NH_ICMPV6, hopLimit: 255, payload: nd(135, OURS6, m) }));
      t.inject(0, frame6({ dstMac: LAN_MAC, srcMac: m, src: a, dst: OURS6, nh: NH_ICMPV6, hopLimit: 255, payload: nd(136, a, m, 0x60) }));
    }
    t.router.announce();
    ha.start();
    t.advance(2000); // past DAD: the interface's own addresses are announced, never the VIP
    const boot = t.take(0).filter(isIpv6Frame).map(seen6);
    assert.not.ok(boot.some((f) => f.target === VIP6), `a backup neither checks nor announces the VIP: ${boot.map((f) => f.target)}`);
    const stats = t.router.stats;
    assert.equal(solicitVip(t), [], 'a backup does not answer for the VIP');
    const before = stats[C.ha_backup_dropped];
    t.inject(0, syn(40000));
    assert.equal(t.take(0).filter(isIpv6Frame), [], 'nor serves it');
    assert.is(stats[C.ha_backup_dropped] - before, 1, 'a counted drop');

    // No master heard: it takes over, and says so to all nodes with the override flag.
    clock.now = 4000;
    ha.tick();
    assert.is(ha.vrrpStatus()[0].state, 'MASTER');
    const announced = t.take(0).filter(isIpv6Frame).map(seen6).filter((f) => f.type === 136);
    assert.ok(announced.length === 1 && announced[0].target === VIP6 && announced[0].dst === 'ff02::1', `an unsolicited advertisement: ${JSON.stringify(announced)}`);
    assert.is(announced[0].word >>> 24, 0xa0, 'router and override set, solicited clear');
    assert.is(announced[0].src, VIP6);
    clock.now = 5000;
    ha.tick();
    assert.is(t.take(0).filter(isIpv6Frame).map(seen6).filter((f) => f.type === 136 && f.target === VIP6).length, 1, 'and again with the next advertisement (one may be missed)');
    const answer = solicitVip(t);
    assert.is(answer.length, 1, 'the master answers for the VIP');
    assert.is(answer[0].target, VIP6);
    t.inject(0, syn(40001));
    const served = t.take(0).filter(isIpv6Frame).map(seen6);
    assert.ok(served.length === 1 && served[0].dstMac === '02:aa:00:00:00:11' && served[0].dst === VIP6, 'and serves it (DR to the real server)');

    // A higher priority master appears: this one steps down, and the VIP goes quiet.
    t.inject(0, advert(200));
    assert.is(ha.vrrpStatus()[0].state, 'BACKUP');
    t.take(0);
    assert.equal(solicitVip(t), [], 'silent again as backup');
    t.inject(0, syn(40002));
    assert.equal(t.take(0).filter(isIpv6Frame), []);
    console.log(`  backup: NS unanswered, SYN dropped (ha_backup_dropped ${stats[C.ha_backup_dropped]}); master: ${announced.length + 1} unsolicited NAs, NS answered, SYN forwarded`);
  } finally {
    ha.stop();
    t.engine.destroy();
  }
});

test('the config says what is wrong with an IPv6 VRRP address', () => {
  const bad = (addresses: unknown[], why: RegExp) => assert.throws(() => parseConfig({ ...config, ha: { vrrp: [{ iface: 'lan', vrid: 51, addresses }] } }), why);
  bad([], /needs 1 to 20 IPv4 addresses/);
  bad(['192.168.1.2', OURS6], /is an address of interface 'lan'/);
  bad(['192.168.1.2', 'fe80::1'], /link-local or multicast/);
  const noV6 = { ...config, interfaces: [{ ...config.interfaces[0], addresses: ['192.168.1.10/24'] }], routes: [config.routes[0]], services: [config.services[0]] };
  assert.throws(() => parseConfig({ ...noV6, ha: { vrrp: [{ iface: 'lan', vrid: 51, addresses: ['192.168.1.2', VIP6] }] } }), /has no IPv6 address/);
  const twice = { ...config, ha: { vrrp: [config.ha.vrrp[0], { iface: 'lan', vrid: 52, addresses: ['192.168.1.3', VIP6] }] } };
  assert.throws(() => parseConfig(twice), /is already moved by \$\.ha\.vrrp\[0\]/);
});

// ---- an IPv6 instance

const config6 = { ...config, ha: { vrrp: [{ iface: 'lan', vrid: 52, priority: 150, advertIntervalMs: 1000, addresses: [VIP6] }] } };
const OUR_LINK_LOCAL = formatIpv6(linkLocalFromMac(LAN_MAC));

/** A version 3 advertisement over IPv6 for VRID 52, from `src`, its checksum right unless spoiled. */
function advert6(priority: number, { src = 'fe80::9', hopLimit = 255, spoil = false } = {}): Uint8Array {
  const body = new Uint8Array(8 + 16);
  const f = frame6({ dstMac: mac('33:33:00:00:00:12'), srcMac: PEER_MAC, src, dst: 'ff02::12', nh: PROTO_VRRP, hopLimit, payload: body });
  const length = new VrrpView().point(f, 54).write6(52, priority, 100, [a6(VIP6)], 14);
  if (spoil) f[54 + 7] ^= 1;
  return f.subarray(0, 54 + length);
}

test('an IPv6 instance: version 3 from the link-local address to ff02::12, tshark agrees; it yields to a higher priority and counts hostile advertisements', () => {
  const t = testRouter(config6);
  const clock = { now: 0 };
  const ha = new HighAvailability(t.router, t.engine, t.router.director as Director, parseConfig(config6).ha, quiet, () => clock.now);
  try {
    t.router.announce();
    ha.start();
    t.take(0);
    clock.now = 4000;
    ha.tick();
    assert.is(ha.vrrpStatus()[0].state, 'MASTER');
    const out = t.take(0).filter(isIpv6Frame);
    const advert = out.find((f) => seen6(f).nh === PROTO_VRRP)!;
    assert.ok(advert, 'an advertisement');
    const a = seen6(advert);
    assert.equal([a.dstMac, a.src, a.dst, a.hopLimit], ['33:33:00:00:00:12', OUR_LINK_LOCAL, 'ff02::12', 255]);
    assert.ok(out.some((f) => seen6(f).type === 136 && seen6(f).target === VIP6), 'the VIP announced with it');
    const rows = tsharkFields([advert], ['vrrp.version', 'vrrp.virt_rtr_id', 'vrrp.prio', 'vrrp.addr_count', 'vrrp.short_adver_int', 'vrrp.ipv6_addr', 'vrrp.checksum.status', '_ws.malformed']);
    if (rows) {
      console.log(`  tshark: ${rows[0].join(' ')}`);
      assert.equal(rows[0].slice(0, 7), ['3', '52', '150', '1', '100', VIP6, '1'], 'version 3, VRID 52, priority 150, one address, 1 s, the VIP; checksum good (1)');
      assert.is(rows[0][7] ?? '', '');
    }
    // Hostile: off-link hop limit, a global source, a spoilt checksum, another VRID.
    const stats = t.router.stats;
    const bad = stats[C.vrrp_bad_adverts];
    t.inject(0, advert6(200, { hopLimit: 254 }));
    t.inject(0, advert6(200, { src: '2001:db8:1::9' }));
    t.inject(0, advert6(200, { spoil: true }));
    assert.is(stats[C.vrrp_bad_adverts] - bad, 3, 'each counted');
    assert.is(ha.vrrpStatus()[0].state, 'MASTER', 'and none obeyed');
    // A real one of higher priority: it steps down, and knows who the master is.
    t.inject(0, advert6(200));
    const status = ha.vrrpStatus()[0];
    assert.equal([status.state, status.master], ['BACKUP', 'fe80::9']);
    t.take(0);
    assert.equal(solicitVip(t), [], 'silent as backup');
    // Equal priority: the higher address wins (fe80::9 is below our EUI-64 address).
    clock.now = 20_000;
    ha.tick();
    assert.is(ha.vrrpStatus()[0].state, 'MASTER', 'master again once fe80::9 goes quiet');
    t.inject(0, advert6(150));
    assert.is(ha.vrrpStatus()[0].state, 'MASTER', 'an equal priority from a lower address does not take over');
    t.inject(0, advert6(150, { src: 'fe80::ffff:ffff:ffff:ffff' }));
    assert.is(ha.vrrpStatus()[0].state, 'BACKUP', 'one from a higher address does');
    console.log(`  hostile IPv6 advertisements: vrrp_bad_adverts ${stats[C.vrrp_bad_adverts] - bad}; master now ${ha.vrrpStatus()[0].master}`);
  } finally {
    ha.stop();
    t.engine.destroy();
  }
});

test('an IPv6 instance speaks version 3, from an interface with IPv6; sync follows an IPv4 instance', () => {
  const vrrp = (extra: Record<string, unknown>) => ({ ...config, ha: { vrrp: [{ iface: 'lan', vrid: 52, addresses: [VIP6], ...extra }] } });
  assert.is(parseConfig(vrrp({})).ha.vrrp[0].family, 6);
  assert.throws(() => parseConfig(vrrp({ version: 2, advertIntervalMs: 1000 })), /speaks VRRP version 3/);
  assert.throws(() => parseConfig({ ...config, ha: { vrrp: [{ iface: 'lan', vrid: 52, addresses: [VIP6] }], sync: { iface: 'lan' } } }), /put an IPv4 instance first/);
  assert.is(a6(formatIpv6(VRRP_GROUP6)).length, 16);
});

test.run();
