// Hash maps from unsigned 32-bit keys (IPv4 addresses) to non-negative int32 values, in
// typed arrays: open addressing, linear probing, backward-shift deletion (no tombstones).
// JavaScript's Map boxes keys above 2^30 and hashes them as doubles; these do neither. A map
// whose keys come off the wire (the neighbour table) is a KeyedU32Map, keyed with the process
// secret (util/hash.ts); one whose keys only the operator sets (routes, local addresses, VIPs)
// is a U32Map, with a one-multiply Fibonacci hash, since it is probed several times for every
// frame. Two classes, not a flag: each lookup site then inlines one hash, and the per-frame
// loop stays inside V8's inlining budget. Keys are held and compared as int32: an address
// above 2^31 as a uint32 is a double to V8, which slows every comparison and boxes it wherever
// it crosses a call.

import { keyedBucket1 } from './hash.js';

// Numbers the lookups use are const enums, which the bundle writes as literals: V8 (node 20)
// reads a module-level const from its context at each use, as a double if it is not a small
// integer, and converts it back for Math.imul.
export const enum Slot {
  Empty = -1,
}
/** 2^32 / golden ratio, odd: Fibonacci hashing for the maps whose keys only the operator sets (U32Map.home). */
export const enum Fibonacci {
  Multiplier = 0x9e3779b1 | 0,
}

/** The table; a subclass says where each key's probe run starts (home). */
abstract class OpenMap {
  protected keys: Int32Array;
  protected values: Int32Array;
  protected mask: number;
  protected shift: number;
  private count = 0;

  constructor(initialCapacity = 16) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.keys = new Int32Array(cap);
    this.values = new Int32Array(cap).fill(Slot.Empty);
    this.mask = cap - 1;
    this.shift = (32 - Math.log2(cap)) | 0;
  }

  get size(): number {
    return this.count;
  }

  /** The bucket a key (an int32) hashes to: the hash's top bits. */
  protected abstract home(key: number): number;

  /** The value for `key`, or -1. */
  abstract get(key: number): number;

  /** get(), probing from `start`, the key's home: each class's get() passes its own, so a caller inlines one hash. */
  protected find(key: number, start: number): number {
    const keys = this.keys, values = this.values, mask = this.mask;
    for (let i = start; ; i = (i + 1) & mask) {
      const v = values[i];
      if (v === Slot.Empty) return Slot.Empty;
      if (keys[i] === key) return v;
    }
  }

  // The table as it stands, for a loop that holds it in locals and probes it as find() does
  // (the fast path, once per run of frames): valid until the next set() or delete(), which may
  // replace the arrays.
  get keyTable(): Int32Array {
    return this.keys;
  }
  get valueTable(): Int32Array {
    return this.values;
  }
  get tableMask(): number {
    return this.mask;
  }
  get tableShift(): number {
    return this.shift;
  }

  has(key: number): boolean {
    return this.get(key) !== Slot.Empty;
  }

  set(key: number, value: number): void {
    if (value < 0) throw new RangeError('U32Map values must be >= 0');
    key |= 0;
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys, values = this.values, mask = this.mask;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      if (values[i] === Slot.Empty) {
        keys[i] = key;
        values[i] = value;
        this.count++;
        return;
      }
      if (keys[i] === key) {
        values[i] = value;
        return;
      }
    }
  }

  delete(key: number): boolean {
    key |= 0;
    const keys = this.keys, values = this.values, mask = this.mask;
    let i = this.home(key);
    while (values[i] !== Slot.Empty && keys[i] !== key) i = (i + 1) & mask;
    if (values[i] === Slot.Empty) return false;
    // Backward shift: pull later members of the probe run into the hole if their home allows.
    let hole = i;
    for (let j = (i + 1) & mask; values[j] !== Slot.Empty; j = (j + 1) & mask) {
      const h = this.home(keys[j]);
      if (((j - h) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j];
        values[hole] = values[j];
        hole = j;
      }
    }
    values[hole] = Slot.Empty;
    this.count--;
    return true;
  }

  forEach(fn: (key: number, value: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) if (this.values[i] !== Slot.Empty) fn(this.keys[i] >>> 0, this.values[i]);
  }

  private grow(): void {
    const oldKeys = this.keys, oldValues = this.values;
    const cap = oldKeys.length * 2;
    this.keys = new Int32Array(cap);
    this.values = new Int32Array(cap).fill(Slot.Empty);
    this.mask = cap - 1;
    this.shift = (32 - Math.log2(cap)) | 0;
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldValues[i] !== Slot.Empty) this.set(oldKeys[i], oldValues[i]);
  }
}

/** Keys only the operator sets: Fibonacci hashing. */
export class U32Map extends OpenMap {
  protected home(key: number): number {
    return Math.imul(key, Fibonacci.Multiplier) >>> this.shift;
  }

  get(key: number): number {
    key |= 0;
    return this.find(key, this.home(key));
  }
}

/**
 * Keys that come from packets, so an outsider must not be able to aim at one run: the key
 * word with the process secret in it, then murmur's final mix (util/hash.ts's keyedBucket1).
 */
export class KeyedU32Map extends OpenMap {
  protected home(key: number): number {
    return keyedBucket1(key, this.shift);
  }

  get(key: number): number {
    key |= 0;
    return this.find(key, this.home(key));
  }
}
