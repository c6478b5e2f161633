import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIpv4, formatMac, inSubnet, isMartian, parseCidr, parseIpv4, parseMac, prefixMask } from '../../src/packet/address.js';

test('dotted quads parse and format', () => {
  assert.is(parseIpv4('192.168.1.2'), 0xc0a80102);
  assert.is(formatIpv4(0xc0a80102), '192.168.1.2');
  assert.is(parseIpv4('255.255.255.255'), 0xffffffff);
});

test('malformed addresses are refused', () => {
  for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '', ' 1.2.3.4']) assert.is(parseIpv4(bad), null, bad);
});

test('CIDR prefixes parse, bare addresses are /32', () => {
  assert.equal(parseCidr('10.0.0.1/24'), { address: 0x0a000001, length: 24 });
  assert.equal(parseCidr('10.0.0.1'), { address: 0x0a000001, length: 32 });
  assert.is(parseCidr('10.0.0.1/33'), null);
  assert.is(parseCidr('10.0.0.1/2/3'), null);
});

test('subnet membership and masks', () => {
  assert.is(prefixMask(0), 0);
  assert.is(prefixMask(24), 0xffffff00);
  assert.is(prefixMask(32), 0xffffffff);
  assert.ok(inSubnet(parseIpv4('10.1.0.77')!, parseIpv4('10.1.0.1')!, 24));
  assert.not.ok(inSubnet(parseIpv4('10.1.1.77')!, parseIpv4('10.1.0.1')!, 24));
  assert.ok(inSubnet(parseIpv4('1.2.3.4')!, 0, 0));
});

test('martians: multicast, broadcast, zero and loopback networks', () => {
  for (const a of ['224.0.0.1', '255.255.255.255', '0.0.0.0', '127.0.0.1']) assert.ok(isMartian(parseIpv4(a)!), a);
  assert.not.ok(isMartian(parseIpv4('10.0.0.1')!));
});

test('MAC addresses parse and format', () => {
  const m = parseMac('02:AB:00:00:00:01')!;
  assert.is(formatMac(m), '02:ab:00:00:00:01');
  assert.is(parseMac('02:ab:00:00:00'), null);
});

test.run();
