// The one hash mixer: keyed per process where attackers fill tables, stable where directors
// must agree.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { keyedHash1, stableHash2 } from '../../src/util/hash.js';

const inChild = (expr: string) =>
  execFileSync(process.execPath, ['--import', 'tsx', '-e', `import('${new URL('../../src/util/hash.ts', import.meta.url).pathname}').then((h) => console.log(String(${expr})))`], { encoding: 'utf8' }).trim();

test('keyed hashes differ between processes; stable ones do not', () => {
  const a = inChild('[1, 2, 0x0a000001].map(h.keyedHash1).join()');
  const b = inChild('[1, 2, 0x0a000001].map(h.keyedHash1).join()');
  assert.is.not(a, b, 'a new process, a new secret');
  assert.is(inChild('h.stableHash2(0x0a000001, 80)'), String(stableHash2(0x0a000001, 80)));
});

test('keyed hashes of a sequential address scan spread over buckets', () => {
  const buckets = new Uint32Array(256);
  for (let i = 0; i < 65536; i++) buckets[keyedHash1((0x0a000000 + i) >>> 0) >>> 24]++;
  const max = Math.max(...buckets);
  assert.ok(max < 256 * 1.4, `fullest bucket ${max} of an average 256`);
});

test.run();
