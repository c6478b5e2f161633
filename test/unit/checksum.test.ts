import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checksum, checksumValid, fold, sum16, updateChecksum16 } from '../../src/packet/checksum.js';
import { Ipv4View } from '../../src/packet/ipv4.js';

test('RFC 1071 section 3 example sums to ddf2', () => {
  const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.is(fold(sum16(b, 0, b.length)), 0xddf2);
  assert.is(checksum(b, 0, b.length), 0x220d);
});

test('a known IPv4 header checksums to b861 and validates', () => {
  const h = new Uint8Array([0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]);
  assert.is(checksum(h, 0, 20), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  assert.ok(checksumValid(h, 0, 20));
  h[15] ^= 1;
  assert.not.ok(checksumValid(h, 0, 20));
});

test('odd-length data pads with a zero byte', () => {
  assert.is(checksum(new Uint8Array([0x01]), 0, 1), ~0x0100 & 0xffff);
});

test('RFC 1624 incremental update equals a full recompute for every TTL', () => {
  const h = new Uint8Array([0x45, 0, 0, 0x54, 0xab, 0xcd, 0x40, 0, 0xff, 0x01, 0, 0, 10, 1, 0, 2, 10, 2, 0, 2]);
  const v = new Ipv4View().point(h, 0);
  v.updateChecksum();
  for (let ttl = 255; ttl > 1; ttl--) {
    v.decrementTtl();
    const incremental = v.checksumField;
    v.updateChecksum();
    assert.is(incremental, v.checksumField, `ttl ${ttl - 1}`);
    assert.ok(checksumValid(h, 0, 20));
  }
});

test('RFC 1624 section 4 vector: 0xdd2f with 0x5555 -> 0x3285 gives 0x0000 (eqn. 3, not eqn. 2)', () => {
  assert.is(updateChecksum16(0xdd2f, 0x5555, 0x3285), 0x0000);
});

test.run();
