import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keyedBucket1 } from '../../src/util/hash.js';
import { KeyedU32Map, U32Map } from '../../src/util/u32map.js';

for (const [name, make] of [['U32Map', () => new U32Map(4)], ['KeyedU32Map', () => new KeyedU32Map(4)]] as const) test(`${name} behaves like Map under random inserts, overwrites and deletes (high keys included)`, () => {
  const m = make();
  const ref = new Map<number, number>();
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 200_000; i++) {
    const key = rnd() % 5000 === 0 ? 0xffffffff : (rnd() % 3000) * 0x10001 + 0xc0000000;
    const op = rnd() % 3;
    if (op === 0) {
      m.delete(key);
      ref.delete(key >>> 0);
    } else {
      const v = rnd() % 1000;
      m.set(key >>> 0, v);
      ref.set(key >>> 0, v);
    }
    if (i % 997 === 0) assert.is(m.size, ref.size);
  }
  for (const [k, v] of ref) assert.is(m.get(k), v);
  let seen = 0;
  m.forEach((k, v) => {
    assert.is(ref.get(k), v);
    seen++;
  });
  assert.is(seen, ref.size);
  assert.is(m.get(0x12345678), -1);
  assert.ok(m.has(ref.keys().next().value!), 'has() a key it holds');
});

test('a keyed map homes each key where the process secret puts it (util/hash.ts keyedBucket1)', () => {
  class Probe extends KeyedU32Map {
    homeOf(key: number): [number, number] {
      return [this.home(key), this.shift];
    }
  }
  const m = new Probe(100);
  for (const key of [0, 1, 0x0a000001, 0xc0a80101, 0xffffffff]) {
    const [home, shift] = m.homeOf(key | 0);
    assert.is(home, keyedBucket1(key, shift), `key ${key}`);
  }
});

test('negative values are refused', () => {
  assert.throws(() => new U32Map().set(1, -1), /values must be >= 0/);
  assert.throws(() => new KeyedU32Map().set(1, -1), /values must be >= 0/);
});

test.run();
