// The JavaScript ring side over the in-memory backend: wrap-around, back-pressure, slot accounting.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketEngine } from '../../src/io/engine.js';
import { MemoryBackend } from '../../src/io/memory.js';

function echoEngine(ringSize = 16, slotCount = 128) {
  let backend!: MemoryBackend;
  const seen: number[] = [];
  const engine: PacketEngine = new PacketEngine((w) => (backend = new MemoryBackend({ ringSize, slotCount, maxPorts: 2 }, w)), {
    receive(port, slot, offset, length) {
      seen.push(engine.bytes[engine.slotOffset(slot) + offset]);
      engine.transmit(1 - port, slot, offset, length); // bounce to the other port, zero-copy
    },
  });
  engine.openTap(0, 'a');
  engine.openTap(1, 'b');
  const out: Uint8Array[] = [];
  backend.listen(1, (f) => out.push(f));
  return { engine, backend, seen, out };
}

test('frames cross the rings in order across many wrap-arounds', () => {
  const { engine, backend, seen, out } = echoEngine();
  for (let i = 0; i < 1000; i++) {
    assert.ok(backend.inject(0, new Uint8Array([i & 255, 1, 2, 3])));
    if (i % 7 === 0) engine.poll();
  }
  engine.poll();
  assert.is(seen.length, 1000);
  assert.equal(out.map((f) => f[0]), seen);
  assert.equal(seen.slice(0, 3), [0, 1, 2]);
});

test('a full RX ring refuses frames (the native reader would stop reading) and recovers', () => {
  const { engine, backend } = echoEngine(16);
  let accepted = 0;
  for (let i = 0; i < 40; i++) if (backend.inject(0, new Uint8Array(60))) accepted++;
  assert.is(accepted, 16);
  engine.poll();
  assert.ok(backend.inject(0, new Uint8Array(60)));
});

test('the slot pool balances: allocate, transmit, complete, reclaim', () => {
  const { engine } = echoEngine();
  const before = engine.freeSlotCount;
  const slot = engine.allocate();
  assert.is(engine.freeSlotCount, before - 1);
  assert.ok(engine.transmit(1, slot, 128, 60));
  engine.flush();
  engine.poll();
  assert.is(engine.freeSlotCount, before);
});

test('a full TX ring is a counted drop that returns the slot, and takes frames again once the thread drains it', () => {
  const { engine, backend, out } = echoEngine(16);
  backend.holdTransmits = true;
  for (let i = 0; i < 16; i++) assert.ok(engine.transmit(1, engine.allocate(), 128, 60), `frame ${i} fits`);
  engine.flush(); // published; the "thread" has not sent yet
  const before = engine.freeSlotCount;
  assert.not.ok(engine.transmit(1, engine.allocate(), 128, 60));
  assert.is(engine.counters.tx_ring_full, 1);
  assert.is(engine.freeSlotCount, before);
  backend.releaseTransmits(); // sent and completed: the consumer index moved on
  assert.ok(engine.transmit(1, engine.allocate(), 128, 60));
  engine.poll(); // takes the 16 completions back, publishes the 17th
  backend.releaseTransmits();
  assert.is(out.length, 17);
  assert.is(engine.counters.tx_ring_full, 1);
});

test('transmit on a closed port is a counted drop that returns the slot', () => {
  const { engine } = echoEngine();
  engine.closePort(1);
  const before = engine.freeSlotCount;
  assert.not.ok(engine.transmit(1, engine.allocate(), 128, 60));
  assert.is(engine.freeSlotCount, before);
  assert.is(engine.counters.tx_ring_full, 1);
});

test('closing a port returns every slot queued on its rings', () => {
  const { engine, backend } = echoEngine();
  const total = engine.layout.slotCount;
  for (let i = 0; i < 10; i++) backend.inject(0, new Uint8Array(60));
  engine.closePort(0);
  engine.closePort(1);
  assert.is(engine.freeSlotCount, total);
});

test('an in-memory port pair: what one port sends, the other receives', () => {
  let backend!: MemoryBackend;
  const got: [number, number][] = [];
  const engine: PacketEngine = new PacketEngine((w) => (backend = new MemoryBackend({ ringSize: 16, slotCount: 128, maxPorts: 2 }, w)), {
    receive(port, slot, offset) {
      got.push([port, engine.bytes[engine.slotOffset(slot) + offset]]);
      engine.release(slot);
    },
  });
  engine.openTap(0, 'left');
  engine.openTap(1, 'right');
  backend.connect(0, 1);
  for (const [port, tag] of [[0, 7], [1, 9]]) {
    const slot = engine.allocate();
    engine.bytes[engine.slotOffset(slot) + 128] = tag;
    engine.transmit(port, slot, 128, 60);
  }
  engine.flush();
  engine.poll();
  assert.equal(got, [[0, 9], [1, 7]]);
});

test('an out-of-range port is a RangeError, not a crash', () => {
  const { engine } = echoEngine();
  assert.throws(() => engine.openTap(9, 'x'), /out of range/);
});

test('a port thread stalled on a full RX ring is kicked as soon as the ring has room', () => {
  let backend!: MemoryBackend;
  const kept: number[] = [];
  // 96 slots: the two fill rings (16 each) and the router's reserve of 64 take them all.
  const engine = new PacketEngine((w) => (backend = new MemoryBackend({ ringSize: 16, slotCount: 96, maxPorts: 2 }, w)), { receive: (_p, slot) => kept.push(slot) });
  engine.openTap(0, 'a');
  engine.openTap(1, 'b');
  for (let i = 0; i < 16; i++) assert.ok(backend.inject(0, new Uint8Array(60)));
  const l = backend.layout;
  const control = new Uint32Array(backend.buffer(), 0, l.slotsOffset >>> 2);
  const word = (l.portsOffset + l.portControlOffset) >>> 2;
  control[word + 2] = 1; // RxStalled: the thread stopped reading, the RX ring being full
  const kicks: number[] = [];
  const kick = backend.kick.bind(backend);
  backend.kick = (p: number) => (kicks.push(p), kick(p));
  engine.poll();
  assert.is(kept.length, 16);
  assert.ok(kicks.includes(0), 'port 0 was told its RX ring has room (it used to wait for its 100 ms poll backstop)');
});

test.run();
