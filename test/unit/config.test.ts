import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfig, parseConfigText } from '../../src/control/config.js';
import { restartOnly } from '../../src/control/reload.js';
import { systemFiles } from '../../src/control/system.js';
import { birdRoutes, birdRoutes6 } from '../../src/control/announce.js';
import { formatIpv6, parseIpv6 } from '../../src/packet/address6.js';

const base = () => ({ interfaces: [{ name: 'lan', tap: 'tap0', addresses: ['10.0.0.1/24'] }] });

function errorOf(config: unknown): string {
  try {
    parseConfig(config);
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

test('a minimal config gets defaults', () => {
  const c = parseConfig(base());
  assert.is(c.interfaces[0].mtu, 1500);
  assert.is(c.interfaces[0].tapMode, 'auto');
  assert.is(c.ttl, 64);
  assert.is(c.interfaces[0].mac[0] & 3, 2, 'locally administered unicast');
  assert.equal(parseConfig(base()).interfaces[0].mac, c.interfaces[0].mac, 'stable across runs');
});

test('a NIC is named by its MAC; the router behind it gets a MAC of its own, the same every boot', () => {
  const withNic = (nic: unknown, name = 'lan') => ({ name, tap: name, nic, addresses: ['10.0.0.1/24'] });
  const c = parseConfig({ interfaces: [withNic('52:54:00:AB:CD:01')] });
  assert.is(c.interfaces[0].nic, '52:54:00:ab:cd:01');
  assert.equal(parseConfig({ interfaces: [withNic('52:54:00:ab:cd:01')] }).interfaces[0].mac, c.interfaces[0].mac);
  assert.is.not(Buffer.from(c.interfaces[0].mac).toString('hex'), '525400abcd01');
  assert.match(errorOf({ interfaces: [withNic('eth1')] }), /\$\.interfaces\[0\]\.nic: 'eth1' is not a MAC address: name a NIC by its MAC/);
  assert.match(errorOf({ interfaces: [withNic('52:54:00:ab:cd:01'), withNic('52:54:00:AB:CD:01', 'wan')] }), /\$\.interfaces\[1\]: duplicate nic '52:54:00:ab:cd:01'/);
});

test('a management NIC: the kernel\'s own leg, never one of the data NICs', () => {
  const data = { name: 'lan', nic: '52:54:00:00:00:01', addresses: ['10.0.0.1/24'] };
  const c = parseConfig({ interfaces: [data], management: { nic: '52:54:00:00:00:02', addresses: ['10.0.0.250/24'], gateway: '10.0.0.254' } });
  assert.is(c.management?.nic, '52:54:00:00:00:02');
  assert.is(parseConfig({ interfaces: [data] }).management, null);
  assert.match(errorOf({ interfaces: [data], management: { nic: '52:54:00:00:00:01', addresses: ['10.0.0.250/24'] } }), /\$\.management\.nic: 52:54:00:00:00:01 is interface 'lan'/);
  assert.match(errorOf({ interfaces: [data], management: { nic: '52:54:00:00:00:02', addresses: [] } }), /\$\.management\.addresses: needs at least one address/);
  assert.match(errorOf({ interfaces: [data], management: { nic: '52:54:00:00:00:02', addresses: ['10.0.0.250/24'], gateway: '10.9.9.9' } }), /\$\.management\.gateway: is on none/);
});

test('control.metrics is ADDR:PORT', () => {
  assert.is(parseConfig({ ...base(), control: { metrics: '127.0.0.1:9101' } }).control.metrics, '127.0.0.1:9101');
  assert.is(parseConfig(base()).control.metrics, null);
  assert.match(errorOf({ ...base(), control: { metrics: 'localhost:9101' } }), /\$\.control\.metrics: 'localhost:9101' is not ADDR:PORT/);
  assert.match(errorOf({ ...base(), control: { metrics: '127.0.0.1:99999' } }), /is not ADDR:PORT/);
  assert.match(errorOf({ ...base(), control: { metrics: '127.0.0.1:80:1' } }), /is not ADDR:PORT/);
});

test('an unknown field is an error naming it', () => {
  const cfg = base() as Record<string, unknown>;
  (cfg.interfaces as Record<string, unknown>[])[0].adresses = [];
  assert.match(errorOf(cfg), /\$\.interfaces\[0\]\.adresses: unknown field/);
  assert.match(errorOf({ ...base(), colour: 'red' }), /\$\.colour: unknown field/);
});

test('a bad address names the field and the value', () => {
  const cfg = base();
  cfg.interfaces[0].addresses = ['10.0.0.1/24', '10.0.0.300/24'];
  assert.match(errorOf(cfg), /\$\.interfaces\[0\]\.addresses\[1\]: '10\.0\.0\.300\/24' is not an IPv4 address/);
});

test('routes need a gateway or a device, and the device must exist', () => {
  assert.match(errorOf({ ...base(), routes: [{ to: '10.9.0.0/16' }] }), /\$\.routes\[0\]: needs 'via'/);
  assert.match(errorOf({ ...base(), routes: [{ to: '10.9.0.0/16', dev: 'nope' }] }), /\$\.routes\[0\]\.dev: no interface named 'nope'/);
  assert.match(errorOf({ ...base(), routes: [{ to: '10.9.0.0/99', via: '10.0.0.2' }] }), /\$\.routes\[0\]\.to/);
});

test('out-of-range numbers and duplicate names are refused', () => {
  const cfg = base() as { interfaces: Record<string, unknown>[] };
  cfg.interfaces[0].mtu = 100;
  assert.match(errorOf(cfg), /mtu: must be an integer from 576/);
  assert.match(errorOf({ interfaces: [base().interfaces[0], base().interfaces[0]] }), /duplicate name 'lan'/);
  assert.match(errorOf({ ...base(), icmp: { ratePerSecond: -1 } }), /\$\.icmp\.ratePerSecond/);
});

test('JSON syntax errors name the file', () => {
  assert.throws(() => parseConfigText('{"interfaces": [', '/etc/tapvs.json'), /\/etc\/tapvs\.json: not valid JSON/);
});

test('the ha section: VRRP instances and sync, with defaults as keepalived has them and errors that name the field', () => {
  const vrrp = (over: Record<string, unknown> = {}) => ({ ...base(), ha: { vrrp: [{ iface: 'lan', vrid: 51, addresses: ['10.0.0.100'], ...over }] } });
  const c = parseConfig({ ...vrrp(), ha: { ...vrrp().ha, sync: { iface: 'lan' } } });
  assert.equal(c.ha.vrrp[0], { name: 'VI_51', iface: 'lan', vrid: 51, priority: 100, advertIntervalMs: 1000, preempt: true, version: 3, virtualMac: false, addresses: [{ address: 0x0a000064, iface: 'lan' }], addresses6: [], family: 4 });
  assert.equal(c.ha.sync, { iface: 'lan', syncid: 0, peer: null, resyncTimeoutMs: 10_000 });
  assert.equal(parseConfig(base()).ha, { vrrp: [], sync: null });
  assert.match(errorOf(vrrp({ vrid: 0 })), /\$\.ha\.vrrp\[0\]\.vrid: /);
  assert.match(errorOf(vrrp({ iface: 'wan' })), /\$\.ha\.vrrp\[0\]\.iface: no interface named 'wan'/);
  assert.match(errorOf(vrrp({ version: 2, advertIntervalMs: 1500 })), /advertIntervalMs: VRRP version 2 counts whole seconds/);
  assert.match(errorOf(vrrp({ addresses: ['10.0.0.1'] })), /addresses\[0\]: 10\.0\.0\.1 is an address of interface 'lan'/);
  assert.match(errorOf(vrrp({ addresses: [] })), /addresses: needs 1 to 20 IPv4 addresses/);
  assert.match(errorOf({ ...base(), ha: { vrrp: [{ iface: 'lan', vrid: 5, addresses: ['10.0.0.9'] }, { iface: 'lan', vrid: 5, addresses: ['10.0.0.8'] }] } }), /\$\.ha\.vrrp\[1\]\.vrid: VRID 5 is already used on 'lan'/);
  assert.match(errorOf({ ...vrrp(), ha: { ...vrrp().ha, sync: { iface: 'lan', syncid: 256 } } }), /\$\.ha\.sync\.syncid/);
  assert.equal(parseConfig({ ...base(), ha: { sync: { iface: 'lan' } } }).ha.vrrp, [], 'sync without VRRP: active-active directors');
  const changed = parseConfig({ ...vrrp({ priority: 200 }) });
  assert.ok(restartOnly(parseConfig(vrrp()), changed).includes('ha'), 'an ha change needs a restart, and the reload says so');
  assert.match(errorOf({ ...base(), director: { sloppyTcp: 'yes' } }), /\$\.director\.sloppyTcp: must be true or false/);
});

test('the system section: host name, time zone, NTP and SSH keys, each checked, the last two only with a management NIC', () => {
  const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzlaYwejcylP/vHFqeSdZWY4sRtxEUMcEFjnPkIx+0J ops@laptop';
  const management = { nic: '52:54:00:00:00:09', addresses: ['192.168.9.2/24'] };
  const sys = (system: Record<string, unknown>) => ({ ...base(), management, system });
  const c = parseConfig(sys({ hostname: 'lb1.example.net', timezone: 'Europe/Berlin', ntp: ['192.168.9.1'], ssh: { authorizedKeys: [KEY] } }));
  assert.equal(c.system, { hostname: 'lb1.example.net', timezone: 'Europe/Berlin', ntp: [0xc0a80901], ssh: { authorizedKeys: [KEY] } });
  assert.equal(parseConfig(base()).system, { hostname: null, timezone: null, ntp: [], ssh: null });
  assert.equal(systemFiles(c.system), new Map([['hostname', 'lb1.example.net\n'], ['timezone', 'Europe/Berlin\n'], ['ntp-servers', '192.168.9.1\n'], ['authorized_keys', `${KEY}\n`]]));
  assert.match(errorOf(sys({ hostname: 'lb_1' })), /\$\.system\.hostname: 'lb_1' is not a host name/);
  assert.match(errorOf(sys({ hostname: '-lb' })), /\$\.system\.hostname/);
  assert.match(errorOf(sys({ timezone: 'Europe/Atlantis' })), /\$\.system\.timezone: 'Europe\/Atlantis' is not a time zone/);
  assert.match(errorOf(sys({ ntp: ['pool.ntp.org'] })), /\$\.system\.ntp\[0\]/);
  assert.match(errorOf(sys({ ssh: { authorizedKeys: [`command="ls" ${KEY}`] } })), /authorizedKeys\[0\]: does not start with a key type/);
  assert.match(errorOf(sys({ ssh: { authorizedKeys: [KEY.replace('ssh-ed25519', 'ssh-rsa')] } })), /authorizedKeys\[0\]: is not a whole ssh-rsa key: its base64 part names 'ssh-ed25519'/);
  assert.match(errorOf(sys({ ssh: { authorizedKeys: [KEY.slice(0, 30)] } })), /authorizedKeys\[0\]: is not a whole ssh-ed25519 key/);
  assert.match(errorOf(sys({ ssh: { authorizedKeys: [`${KEY}\n${KEY}`] } })), /more than one line/);
  assert.match(errorOf({ ...base(), system: { ssh: { authorizedKeys: [KEY] } } }), /\$\.system\.ssh: is reached through the management NIC, and there is none/);
  assert.match(errorOf({ ...base(), system: { ntp: ['192.168.9.1'] } }), /\$\.system\.ntp: is reached through the management NIC/);
  assert.equal(parseConfig({ ...base(), system: { ssh: { authorizedKeys: [] }, hostname: 'lb1' } }).system.ssh, { authorizedKeys: [] }, 'no key: SSH stays off, and needs no management NIC');
  assert.ok(restartOnly(parseConfig(base()), parseConfig({ ...base(), system: { hostname: 'lb2' } })).some((r) => r.startsWith('system')));
});

test('bgp.bfd: the BGP speakers that may keep a BFD session, each checked; with it, every route BIRD is given is BFD-held', () => {
  const bgp = (bfd: unknown) => ({ ...base(), bgp: { birdSocket: '/run/bird.ctl', routesFile: '/run/vips.conf', bfd } });
  const c = parseConfig(bgp({ peers: ['10.0.0.251'] }));
  assert.equal(c.bgp!.bfd, { peers: [0x0a0000fb], peers6: [], desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: 3 }, 'defaults: 100 ms, 3 missed');
  assert.is(parseConfig(base()).bgp, null);
  assert.is(parseConfig({ ...base(), bgp: {} }).bgp!.bfd, null);
  assert.match(errorOf(bgp({ peers: [] })), /\$\.bgp\.bfd\.peers: lists the BGP speakers' addresses .*: 1 to 16/);
  assert.match(errorOf(bgp({ peers: ['10.0.0.251', '10.0.0.251'] })), /\$\.bgp\.bfd\.peers: lists an address twice/);
  assert.match(errorOf(bgp({ peers: ['bird.example'] })), /\$\.bgp\.bfd\.peers\[0\]/);
  assert.match(errorOf(bgp({ peers: ['10.0.0.251'], intervalMs: 5 })), /\$\.bgp\.bfd\.intervalMs/);
  assert.match(errorOf(bgp({ peers: ['10.0.0.251'], multiplier: 0 })), /\$\.bgp\.bfd\.multiplier/);
  assert.match(errorOf(bgp({ peers: ['10.0.0.251'], echo: true })), /\$\.bgp\.bfd/);
  assert.is(birdRoutes([0xc6336402], 0x0a000001, true), '# Written by tapvs: the VIPs it serves now (a /32 each, via its own address).\nroute 198.51.100.2/32 via 10.0.0.1 bfd;\n');
  // IPv6: BFD peers of that family, the next hop an IPv6 address of tapvs's, routes of /128.
  const six = (extra: Record<string, unknown>) => ({ ...base(), interfaces: [{ name: 'lan', tap: 'lan', addresses: ['10.0.0.1/24', '2001:db8:1::a/64'] }], bgp: { birdSocket: '/run/bird.ctl', ...extra } });
  const c6 = parseConfig(six({ bfd: { peers: ['10.0.0.251', '2001:db8:1::fb'] } })).bgp!;
  assert.equal([c6.bfd!.peers, c6.bfd!.peers6.map((a) => formatIpv6(a)), formatIpv6(c6.nextHop6!)], [[0x0a0000fb], ['2001:db8:1::fb'], '2001:db8:1::a'], 'the next hop defaults to the first IPv6 address');
  assert.match(errorOf(six({ nextHop6: '2001:db8:1::99' })), /\$\.bgp\.nextHop6: 2001:db8:1::99 is not an IPv6 address of a tapvs interface/);
  assert.match(errorOf(six({ bfd: { peers: ['2001:db8:1::fb', '2001:db8:1:0::fb'] } })), /lists an address twice/);
  assert.is(parseConfig(bgp({ peers: ['10.0.0.251'] })).bgp!.nextHop6, null, 'no IPv6 address: no IPv6 next hop');
  assert.is(birdRoutes6(['2001:db8:2::2'], parseIpv6('2001:db8:1::a')!, true), '# Written by tapvs: the IPv6 VIPs it serves now (a /128 each, via its own address).\nroute 2001:db8:2::2/128 via 2001:db8:1::a bfd;\n');
});

test('IPv6 in the same lists: addresses told apart by their text, routes by their prefix; each checked; a change needs a restart', () => {
  const v6 = (addresses: string[], routes: unknown[] = []) => ({ interfaces: [{ name: 'lan', tap: 'tap0', addresses }], routes });
  const c = parseConfig(v6(['10.0.0.1/24', '2001:db8::1/64'], [{ to: '::/0', via: '2001:db8::fe' }, { to: 'default', via: '10.0.0.254' }]));
  assert.is(c.interfaces[0].addresses.length, 1);
  assert.is(c.interfaces[0].addresses6.length, 1);
  assert.equal([c.routes.length, c.routes6.length, c.routes6[0].length], [1, 1, 0]);
  assert.match(errorOf(v6(['fe80::1/64'])), /\$\.interfaces\[0\]\.addresses\[0\]: fe80::1 cannot be an interface's address .*link-local/);
  assert.match(errorOf(v6(['ff02::1/64'])), /cannot be an interface's address/);
  assert.match(errorOf(v6(['2001:db8::1'])), /is not an IPv6 address with prefix/);
  assert.match(errorOf(v6(['2001:db8::1/129'])), /is not an IPv6 address with prefix/);
  assert.match(errorOf(v6(['2001:db8::1/64'], [{ to: '::/0' }])), /\$\.routes\[0\]: needs 'via'/);
  assert.match(errorOf(v6(['2001:db8::1/64'], [{ to: '::/0', via: 'fe80::1' }])), /\$\.routes\[0\]\.dev: a link-local gateway needs its interface/);
  assert.match(errorOf({ interfaces: [{ name: 'lan', tap: 'tap0', mtu: 1000, addresses: ['2001:db8::1/64'] }] }), /IPv6 needs an MTU of at least 1280/);
  const moved = parseConfig(v6(['2001:db8::1/64'], [{ to: '::/0', via: '2001:db8::fd' }]));
  assert.ok(restartOnly(parseConfig(v6(['2001:db8::1/64'], [{ to: '::/0', via: '2001:db8::fe' }])), moved).includes('routes'));
});

test.run();
