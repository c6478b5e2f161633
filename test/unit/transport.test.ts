// UDP and TCP checksums against packets built and summed by scapy.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readIpv4 } from '../../src/packet/address.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/packet/ipv4.js';
import { dstPort, srcPort, transportChecksum } from '../../src/packet/udp.js';

const hex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));

test('UDP checksum of a scapy packet (10.1.0.2:4000 -> 10.2.0.2:5000 "hello tapvs") is 2ccf', () => {
  const p = hex('4500002700010000401166bf0a0100020a0200020fa0138800132ccf68656c6c6f207461707673');
  assert.is(srcPort(p, 20), 4000);
  assert.is(dstPort(p, 20), 5000);
  assert.is(transportChecksum(p, 20, p.length - 20, PROTO_UDP, readIpv4(p, 12), readIpv4(p, 16), 6), 0x2ccf);
  assert.is((p[26] << 8) | p[27], 0x2ccf);
});

test('TCP checksum of a scapy SYN (192.168.1.10:40000 -> 192.168.1.2:80) is c093', () => {
  const p = hex('45000028000100004006f772c0a8010ac0a801029c400050075bcd15000000005002faf0c0930000');
  p[36] = p[37] = 0xee; // scribble on the field: it must be recomputed, not trusted
  assert.is(transportChecksum(p, 20, p.length - 20, PROTO_TCP, readIpv4(p, 12), readIpv4(p, 16), 16), 0xc093);
});

test.run();
