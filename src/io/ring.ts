// JavaScript side of one single-producer/single-consumer descriptor ring in the shared region.
// Indices are free-running u32 counters; a descriptor is [slot, length << Descriptor.OffsetBits | offset].
//
// JavaScript is only ever one side of a ring, so it keeps its own index in a field and reads
// the other side's index from shared memory only when its cached copy says the ring is
// empty (consumer) or full (producer). Index stores use Atomics (sequentially consistent) so
// a producer's store cannot pass its following load of the native thread's sleeping flag.

import { Descriptor, RING_CONSUMER_BYTE, RING_ENTRIES_BYTE, RING_PRODUCER_BYTE } from './layout.js';

export class Ring {
  private readonly words: Uint32Array;
  private readonly prodWord: number;
  private readonly consWord: number;
  /** Where the descriptors start, in words: entry i (modulo size) is at entryWord + 2i. */
  readonly entryWord: number;
  private readonly mask: number;
  readonly size: number;
  /** Our own index (consumer or producer, whichever side we are), mirrored from memory. */
  private consumer = 0;
  private producer = 0;
  /** The other side's index as last read. */
  private seenProducer = 0;
  private seenConsumer = 0;
  /** Entries staged by put() but not yet published. */
  private staged = 0;

  constructor(words: Uint32Array, ringByte: number, size: number) {
    this.words = words;
    this.prodWord = (ringByte + RING_PRODUCER_BYTE) >>> 2;
    this.consWord = (ringByte + RING_CONSUMER_BYTE) >>> 2;
    this.entryWord = (ringByte + RING_ENTRIES_BYTE) >>> 2;
    this.mask = size - 1;
    this.size = size;
    this.reset();
  }

  // ---- consumer side
  /** The consumer index (free-running): the next entry to take is at (consumerIndex & size - 1). */
  get consumerIndex(): number {
    return this.consumer;
  }
  available(): number {
    this.seenProducer = Atomics.load(this.words, this.prodWord);
    return (this.seenProducer - this.consumer) >>> 0;
  }
  /** Word index of the descriptor `ahead` entries past the consumer index. */
  peekWord(ahead: number): number {
    return this.entryWord + (((this.consumer + ahead) & this.mask) << 1);
  }
  // takeSlots and putSlots move one slot number per frame. They do four per turn of their loop:
  // at every turn V8 checks both typed arrays again and reloads where their data is, which costs
  // more than the copy itself.

  /** Takes n entries' slots (all of them available) onto `stack` from `top`; returns the new top. For completions. */
  takeSlots(n: number, stack: Uint32Array, top: number): number {
    const words = this.words, base = this.entryWord, mask = this.mask, first = this.consumer;
    let i = 0;
    for (; i + 4 <= n; i += 4, top += 4) {
      stack[top] = words[base + (((first + i) & mask) << 1)];
      stack[top + 1] = words[base + (((first + i + 1) & mask) << 1)];
      stack[top + 2] = words[base + (((first + i + 2) & mask) << 1)];
      stack[top + 3] = words[base + (((first + i + 3) & mask) << 1)];
    }
    for (; i < n; i++) stack[top++] = words[base + (((first + i) & mask) << 1)];
    this.consume(n);
    return top;
  }
  consume(n: number): void {
    this.consumer = (this.consumer + n) >>> 0;
    Atomics.store(this.words, this.consWord, this.consumer);
  }

  // ---- producer side
  /** Free space by the consumer index last read; read afresh (freeNow) only when that says full. Small: it inlines into per-frame loops. */
  free(): number {
    const free = this.size - ((this.producer + this.staged - this.seenConsumer) >>> 0);
    return free !== 0 ? free : this.freeNow();
  }
  /** Free space with the consumer index read afresh (once per batch, not per frame). */
  freeNow(): number {
    this.seenConsumer = Atomics.load(this.words, this.consWord);
    return this.size - ((this.producer + this.staged - this.seenConsumer) >>> 0);
  }
  /**
   * put() if there is room (free() !== 0), in one step: the engine's per-frame transmit, whose
   * code V8 inlines into the fast path's loop within its inlining budget.
   */
  tryPut(slot: number, offset: number, length: number): boolean {
    const at = this.producer + this.staged;
    if (((at - this.seenConsumer) >>> 0) === this.size && this.freeNow() === 0) return false;
    const w = this.entryWord + ((at & this.mask) << 1);
    this.words[w] = slot;
    this.words[w + 1] = ((length << Descriptor.OffsetBits) | offset) >>> 0;
    this.staged++;
    return true;
  }
  put(slot: number, offset: number, length: number): void {
    const w = this.entryWord + (((this.producer + this.staged) & this.mask) << 1);
    this.words[w] = slot;
    this.words[w + 1] = ((length << Descriptor.OffsetBits) | offset) >>> 0;
    this.staged++;
  }
  /** Stages n slots (with no frame: offset and length 0) popped off `stack` from `top`; returns the new top. For fill rings. */
  putSlots(n: number, stack: Uint32Array, top: number): number {
    const words = this.words, base = this.entryWord, mask = this.mask, at = this.producer + this.staged;
    let i = 0;
    for (; i + 4 <= n; i += 4, top -= 4) {
      const w0 = base + (((at + i) & mask) << 1), w1 = base + (((at + i + 1) & mask) << 1);
      const w2 = base + (((at + i + 2) & mask) << 1), w3 = base + (((at + i + 3) & mask) << 1);
      words[w0] = stack[top - 1];
      words[w0 + 1] = 0;
      words[w1] = stack[top - 2];
      words[w1 + 1] = 0;
      words[w2] = stack[top - 3];
      words[w2 + 1] = 0;
      words[w3] = stack[top - 4];
      words[w3 + 1] = 0;
    }
    for (; i < n; i++) {
      const w = base + (((at + i) & mask) << 1);
      words[w] = stack[--top];
      words[w + 1] = 0;
    }
    this.staged += n;
    return top;
  }
  /** Makes staged entries visible; returns how many were published. */
  publish(): number {
    const n = this.staged;
    if (n === 0) return 0;
    this.staged = 0;
    this.producer = (this.producer + n) >>> 0;
    Atomics.store(this.words, this.prodWord, this.producer);
    return n;
  }

  /** Calls `fn` with the slot of every entry between the consumer and the producer (staged included): diagnostics, never per frame. */
  forEachSlot(fn: (slot: number) => void): void {
    const end = (Atomics.load(this.words, this.prodWord) + this.staged) >>> 0;
    for (let i = Atomics.load(this.words, this.consWord); i !== end; i = (i + 1) >>> 0) fn(this.words[this.entryWord + ((i & this.mask) << 1)]);
  }

  /** Re-reads both indices from memory, after the other side reset the ring. */
  resync(): void {
    this.staged = 0;
    this.consumer = this.seenConsumer = this.words[this.consWord];
    this.producer = this.seenProducer = this.words[this.prodWord];
  }

  /** Resets both indices; only while no thread is attached to the port. */
  reset(): void {
    this.staged = 0;
    this.consumer = this.producer = this.seenProducer = this.seenConsumer = 0;
    this.words[this.prodWord] = 0;
    this.words[this.consWord] = 0;
  }
}
