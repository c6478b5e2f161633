// The one hash mixer: keyed per process where attackers fill tables, stable where directors
// must agree.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { avalanche, keyed, keyedBucket1, stableHash2 } from '../../src/util/hash.js';

const inChild = (expr: string) =>
  execFileSync(process.execPath, ['--import', 'tsx', '-e', `import('${new URL('../../src/util/hash.ts', import.meta.url).pathname}').then((h) => console.log(String(${expr})))`], { encoding: 'utf8' }).trim();

test('keyed hashes differ between processes; stable ones do not', () => {
  const a = inChild('[1, 2, 0x0a000001].map((x) => h.keyedBucket1(x, 0)).join()');
  const b = inChild('[1, 2, 0x0a000001].map((x) => h.keyedBucket1(x, 0)).join()');
  assert.is.not(a, b, 'a new process, a new secret');
  assert.is(inChild('h.stableHash2(0x0a000001, 80)'), String(stableHash2(0x0a000001, 80)));
});

test('keyed hashes of a sequential address scan spread over buckets', () => {
  const buckets = new Uint32Array(256);
  for (let i = 0; i < 65536; i++) buckets[keyedBucket1(0x0a000000 + i, 24)]++;
  const max = Math.max(...buckets);
  assert.ok(max < 256 * 1.4, `fullest bucket ${max} of an average 256`);
});

test('a keyed bucket is the top bits of the mixed, keyed word, whatever the table size', () => {
  for (const a of [0, 1, 0x0a000001, 0xc0a80201 | 0, -1, 0x7fffffff]) {
    const whole = avalanche(keyed(a)) >>> 0;
    assert.is(keyedBucket1(a, 0), whole, `address ${a >>> 0}`);
    for (const shift of [16, 22, 28]) assert.is(keyedBucket1(a, shift), whole >>> shift, `address ${a >>> 0}, shift ${shift}`);
  }
});

test.run();
