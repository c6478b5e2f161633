import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Interface } from '../../src/l2/interface.js';
import { RouteTable } from '../../src/l3/routes.js';
import { ip } from '../helpers/frames.js';

const a = new Interface('a', 0, new Uint8Array(6), 1500, [{ address: ip('10.0.0.1'), length: 24, role: 'primary' }]);
const b = new Interface('b', 1, new Uint8Array(6), 1500, [{ address: ip('10.1.0.1'), length: 24, role: 'primary' }]);

test('the longest prefix wins, whatever the order routes were added in', () => {
  const t = new RouteTable();
  t.add({ network: 0, length: 0, via: ip('10.0.0.254'), iface: a, kind: 'static' });
  t.add({ network: ip('10.9.9.0'), length: 24, via: ip('10.1.0.9'), iface: b, kind: 'static' });
  t.add({ network: ip('10.9.0.0'), length: 16, via: ip('10.0.0.9'), iface: a, kind: 'static' });
  t.add({ network: ip('10.9.9.9'), length: 32, via: ip('10.1.0.1'), iface: b, kind: 'static' });
  assert.is(t.lookup(ip('10.9.9.9'))!.length, 32);
  assert.is(t.lookup(ip('10.9.9.8'))!.length, 24);
  assert.is(t.lookup(ip('10.9.8.1'))!.length, 16);
  assert.is(t.lookup(ip('8.8.8.8'))!.length, 0);
});

test('host bits of a route network are ignored; no default means no route', () => {
  const t = new RouteTable();
  t.add({ network: ip('10.0.0.77'), length: 24, via: 0, iface: a, kind: 'connected' });
  assert.is(t.lookup(ip('10.0.0.200'))!.network, ip('10.0.0.0'));
  assert.is(t.lookup(ip('10.0.1.1')), undefined);
});

test("the fast path's form of a lookup (route id, egress port, next hop) agrees with lookup(), past the arrays' first growth and after a route is replaced", () => {
  const t = new RouteTable();
  t.add({ network: ip('10.0.0.0'), length: 24, via: 0, iface: a, kind: 'connected' });
  t.add({ network: ip('10.1.0.0'), length: 24, via: 0, iface: b, kind: 'connected' });
  for (let i = 0; i < 40; i++) t.add({ network: ip(`172.16.${i}.0`), length: 24, via: ip(i % 2 ? '10.1.0.9' : '10.0.0.9'), iface: i % 2 ? b : a, kind: 'static' });
  t.add({ network: ip('172.16.7.0'), length: 24, via: ip('10.0.0.77'), iface: a, kind: 'static' }); // replaces the one to 10.1.0.9
  for (const dst of ['10.0.0.5', '10.1.0.5', '172.16.0.1', '172.16.7.1', '172.16.39.200', '8.8.8.8']) {
    const route = t.lookup(ip(dst));
    const id = t.lookupId(ip(dst) | 0);
    if (route === undefined) {
      assert.is(id, -1, dst);
      continue;
    }
    // The flat tables the fast path reads itself.
    assert.is(t.prefixMaps.length, t.prefixMasks.length);
    assert.is(t.egressPorts[id], route.iface.port, `${dst}: egress port`);
    assert.is(t.nextHops[id] >>> 0, route.via, `${dst}: next hop`);
  }
  assert.is(t.nextHops[t.lookupId(ip('172.16.7.1') | 0)] >>> 0, ip('10.0.0.77'), 'the replacement, not the first');
});

test('a static route cannot replace a connected network', () => {
  const t = new RouteTable();
  t.add({ network: ip('10.0.0.0'), length: 24, via: 0, iface: a, kind: 'connected' });
  assert.throws(() => t.add({ network: ip('10.0.0.0'), length: 24, via: ip('10.1.0.5'), iface: b, kind: 'static' }), /already a connected network/);
});

test('ARP/ICMP source selection: the address on the peer subnet, never a VIP', () => {
  const multi = new Interface('m', 2, new Uint8Array(6), 1500, [
    { address: ip('192.168.1.2'), length: 32, role: 'vip' },
    { address: ip('192.168.1.10'), length: 24, role: 'primary' },
    { address: ip('172.16.0.1'), length: 16, role: 'primary' },
  ]);
  assert.is(multi.sourceFor(ip('192.168.1.1')), ip('192.168.1.10'));
  assert.is(multi.sourceFor(ip('172.16.5.5')), ip('172.16.0.1'));
  assert.is(multi.sourceFor(ip('8.8.8.8')), ip('192.168.1.10'), 'first primary, not the VIP listed before it');
  const vipOnly = new Interface('v', 3, new Uint8Array(6), 1500, [{ address: ip('192.168.1.2'), length: 32, role: 'vip' }]);
  assert.is(vipOnly.sourceFor(ip('192.168.1.1')), null);
});

test.run();
