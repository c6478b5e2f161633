// io/ring.ts's bulk moves of slot numbers (four per turn of their loops, then the rest): every
// count from 0 up, across the ring's wrap, against a plain model of the stack and the ring.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RING_ENTRIES_BYTE } from '../../src/io/layout.js';
import { Ring } from '../../src/io/ring.js';

const SIZE = 16;

test('putSlots and takeSlots move n slots, in stack order, for every n and across the wrap', () => {
  const words = new Uint32Array((RING_ENTRIES_BYTE >>> 2) + 2 * SIZE);
  // JavaScript is one side of a ring: a producer object and a consumer object over the same words.
  const producer = new Ring(words, 0, SIZE);
  const consumer = new Ring(words, 0, SIZE);
  const model: number[] = [];
  let next = 1;
  let moved = 0;
  for (let round = 0; round < 200; round++) {
    const n = round % (SIZE + 1);
    // Put n fresh slot numbers: putSlots pops them off the stack's top.
    const stack = Uint32Array.from({ length: n + 3 }, (_, i) => (i < 3 ? 0 : next + i - 3));
    next += n;
    const top = producer.putSlots(n, stack, stack.length);
    assert.is(top, 3, `putSlots(${n}) leaves the stack's bottom`);
    for (let i = stack.length - 1; i >= 3; i--) model.push(stack[i]);
    producer.publish();
    for (let i = 0; i < n; i++) assert.is(words[consumer.peekWord(i) + 1], 0, 'no frame: offset and length 0');

    // Take them back onto another stack, above what it holds.
    assert.is(consumer.available(), n);
    const into = new Uint32Array(n + 2).fill(7);
    assert.is(consumer.takeSlots(n, into, 2), n + 2, `takeSlots(${n}) pushes n`);
    assert.equal([...into.subarray(0, 2)], [7, 7], 'what was on the stack stays');
    assert.equal([...into.subarray(2)], model.splice(0, n), `round ${round}: the slots, in ring order`);
    moved += n;
  }
  assert.ok(moved > 10 * SIZE, 'wrapped the ring many times');
});

test.run();
