// IPv6 addresses in a VRRP instance (keepalived's virtual_ipaddress_excluded), frame by frame:
// a backup keeps them silent (no neighbour advertisement, nothing served), a new master
// announces them with unsolicited advertisements and serves them, and stepping down silences
// them again. The election itself is IPv4's (test/unit/vrrp.test.ts).

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
import { frame6, isIpv6Frame, nd, seen6, tcp6 } from '../helpers/frames6.js';
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
  bad([VIP6], /needs 1 to 20 IPv4 addresses/);
  bad(['192.168.1.2', OURS6], /is an address of interface 'lan'/);
  bad(['192.168.1.2', 'fe80::1'], /link-local or multicast/);
  const noV6 = { ...config, interfaces: [{ ...config.interfaces[0], addresses: ['192.168.1.10/24'] }], routes: [config.routes[0]], services: [config.services[0]] };
  assert.throws(() => parseConfig({ ...noV6, ha: { vrrp: [{ iface: 'lan', vrid: 51, addresses: ['192.168.1.2', VIP6] }] } }), /has no IPv6 address/);
  const twice = { ...config, ha: { vrrp: [config.ha.vrrp[0], { iface: 'lan', vrid: 52, addresses: ['192.168.1.3', VIP6] }] } };
  assert.throws(() => parseConfig(twice), /is already moved by \$\.ha\.vrrp\[0\]/);
});

test.run();
