// JavaScript side of one single-producer/single-consumer descriptor ring in the shared region.
// Indices are free-running u32 counters; a descriptor is [slot, length << 16 | offset].
// Producer indices are stored with Atomics (a sequentially consistent store) so the store
// cannot pass the following load of the native thread's sleeping flag.

import { RING_CONSUMER_BYTE, RING_ENTRIES_BYTE, RING_PRODUCER_BYTE } from './layout.js';

export class Ring {
  private readonly words: Uint32Array;
  private readonly prodWord: number;
  private readonly consWord: number;
  private readonly entryWord: number;
  private readonly mask: number;
  readonly size: number;
  /** Entries staged by put() but not yet published. */
  private staged = 0;

  constructor(words: Uint32Array, ringByte: number, size: number) {
    this.words = words;
    this.prodWord = (ringByte + RING_PRODUCER_BYTE) >>> 2;
    this.consWord = (ringByte + RING_CONSUMER_BYTE) >>> 2;
    this.entryWord = (ringByte + RING_ENTRIES_BYTE) >>> 2;
    this.mask = size - 1;
    this.size = size;
  }

  // ---- consumer side
  available(): number {
    return (Atomics.load(this.words, this.prodWord) - this.words[this.consWord]) >>> 0;
  }
  /** Word index of the descriptor `ahead` entries past the consumer index. */
  peekWord(ahead: number): number {
    return this.entryWord + (((this.words[this.consWord] + ahead) & this.mask) << 1);
  }
  consume(n: number): void {
    Atomics.store(this.words, this.consWord, (this.words[this.consWord] + n) >>> 0);
  }

  // ---- producer side
  free(): number {
    return this.size - ((this.words[this.prodWord] + this.staged - Atomics.load(this.words, this.consWord)) >>> 0);
  }
  put(slot: number, offset: number, length: number): void {
    const w = this.entryWord + (((this.words[this.prodWord] + this.staged) & this.mask) << 1);
    this.words[w] = slot;
    this.words[w + 1] = ((length << 16) | offset) >>> 0;
    this.staged++;
  }
  /** Makes staged entries visible; returns how many were published. */
  publish(): number {
    const n = this.staged;
    if (n === 0) return 0;
    this.staged = 0;
    Atomics.store(this.words, this.prodWord, (this.words[this.prodWord] + n) >>> 0);
    return n;
  }

  /** Resets both indices; only while no thread is attached to the port. */
  reset(): void {
    this.staged = 0;
    this.words[this.prodWord] = 0;
    this.words[this.consWord] = 0;
  }
}
