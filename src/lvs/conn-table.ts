// The connection table: every tracked connection and persistence template, in typed arrays.
//
// Each entry is a number (its index). Two hash indexes find it:
//   in:  <proto, client addr, client port, virtual addr, virtual port>  (packets from clients)
//   out: <proto, real server addr, real server port, client addr, client port>  (NAT replies)
// Both are chained through Int32Arrays with a keyed hash (a random seed, so a client cannot
// aim its ports at one chain) and a chain-length bound that refuses inserts past it.
// Expiry runs on a hashed timer wheel: entries sit on the slot of their expiry tick in a
// doubly linked list; extending a timeout leaves them where they are (they are re-filed when
// their old slot comes round), shortening one moves them at once.
//
// Memory per entry: 12 bytes of addresses, 6 of ports, 4 of proto/state/flags/method, 4 dest,
// 2 service, 4 expiry, 4 packets, 16 of list links, and 8 of hash buckets (one per entry per
// index, for a power-of-two capacity): 60 bytes, plus the fixed 64 KiB wheel.

import { randomInt } from 'node:crypto';

export const enum ConnFlag {
  /** A persistence template: cport is 0, caddr is masked, dest is the sticky server. */
  Template = 1,
  /** DR and TUN: the director sees only the client's direction (IPVS's INPUT-ONLY table). */
  InputOnly = 2,
  /** Not ESTABLISHED: counted in InActConn. */
  Inactive = 4,
  /** Hashed in the out index (NAT). */
  HashedOut = 8,
}

export const NONE = -1;
/** Timer resolution: expiry is kept in 64 ms ticks (a u32 lasts 8.7 years). */
export const TICK_MS = 64;
const WHEEL_BITS = 14; // 16384 slots x 64 ms: a 17.5 minute horizon, over ESTABLISHED's 15
const WHEEL_SIZE = 1 << WHEEL_BITS;
/** Entries examined per hash chain before an insert is refused (and counted). */
export const MAX_CHAIN = 32;

export interface NewConn {
  proto: number;
  caddr: number;
  cport: number;
  vaddr: number;
  vport: number;
  daddr: number;
  dport: number;
  dest: number;
  service: number;
  method: number;
  flags: number;
  state: number;
  timeoutMs: number;
}

export class ConnTable {
  readonly capacity: number;
  // entry fields
  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly method: Uint8Array;
  readonly caddr: Uint32Array;
  readonly vaddr: Uint32Array;
  readonly daddr: Uint32Array;
  readonly cport: Uint16Array;
  readonly vport: Uint16Array;
  readonly dport: Uint16Array;
  readonly dest: Int32Array;
  readonly service: Uint16Array;
  readonly expires: Uint32Array;
  readonly packets: Uint32Array;
  // links
  private readonly inNext: Int32Array;
  private readonly outNext: Int32Array;
  private readonly wheelNext: Int32Array; // also the free list
  private readonly wheelPrev: Int32Array;
  private readonly inHeads: Int32Array;
  private readonly outHeads: Int32Array;
  private readonly wheel: Int32Array;
  private readonly bucketMask: number;
  private readonly seed: number;
  private freeHead: number;
  private used = 0;
  private readonly epoch: number;
  private cursor: number; // next wheel tick to process
  /** Inserts refused because a chain was too long: a hash flood, or a table too small. */
  chainFull = 0;

  constructor(capacity: number, nowMs: number, seed = randomInt(0, 2 ** 31)) {
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 1 << 26) throw new RangeError('connection table capacity must be 16..67108864');
    this.capacity = capacity;
    this.proto = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.method = new Uint8Array(capacity);
    this.caddr = new Uint32Array(capacity);
    this.vaddr = new Uint32Array(capacity);
    this.daddr = new Uint32Array(capacity);
    this.cport = new Uint16Array(capacity);
    this.vport = new Uint16Array(capacity);
    this.dport = new Uint16Array(capacity);
    this.dest = new Int32Array(capacity);
    this.service = new Uint16Array(capacity);
    this.expires = new Uint32Array(capacity);
    this.packets = new Uint32Array(capacity);
    this.inNext = new Int32Array(capacity);
    this.outNext = new Int32Array(capacity);
    this.wheelNext = new Int32Array(capacity);
    this.wheelPrev = new Int32Array(capacity);
    let buckets = 16;
    while (buckets < capacity) buckets *= 2;
    this.inHeads = new Int32Array(buckets).fill(NONE);
    this.outHeads = new Int32Array(buckets).fill(NONE);
    this.bucketMask = buckets - 1;
    this.wheel = new Int32Array(WHEEL_SIZE).fill(NONE);
    this.seed = seed | 0;
    for (let i = 0; i < capacity; i++) this.wheelNext[i] = i + 1 < capacity ? i + 1 : NONE;
    this.freeHead = 0;
    this.epoch = nowMs;
    this.cursor = 0;
  }

  get size(): number {
    return this.used;
  }

  /** Bytes of typed-array memory per entry, including its share of the hash buckets. */
  get bytesPerEntry(): number {
    const arrays = [this.proto, this.state, this.flags, this.method, this.caddr, this.vaddr, this.daddr, this.cport, this.vport, this.dport, this.dest, this.service, this.expires, this.packets, this.inNext, this.outNext, this.wheelNext, this.wheelPrev];
    const perEntry = arrays.reduce((n, a) => n + a.BYTES_PER_ELEMENT, 0);
    return perEntry + ((this.inHeads.byteLength + this.outHeads.byteLength) / this.capacity);
  }

  tick(nowMs: number): number {
    return Math.max(0, Math.floor((nowMs - this.epoch) / TICK_MS));
  }

  private hash(proto: number, a: number, ap: number, b: number, bp: number): number {
    let h = Math.imul(a ^ this.seed, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ b, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ ((ap << 16) | bp), 0xc2b2ae35);
    h ^= proto;
    return (h ^ (h >>> 16)) & this.bucketMask;
  }

  // ---- lookups

  /** A connection (not a template) by the client's view of it, or NONE. */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    for (let e = this.inHeads[this.hash(proto, caddr, cport, vaddr, vport)]; e !== NONE; e = this.inNext[e]) {
      if (this.caddr[e] === caddr && this.cport[e] === cport && this.vaddr[e] === vaddr && this.vport[e] === vport && this.proto[e] === proto && !(this.flags[e] & ConnFlag.Template)) return e;
    }
    return NONE;
  }

  /** A NAT connection by the real server's reply: <proto, daddr, dport, caddr, cport>. */
  lookupOut(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    for (let e = this.outHeads[this.hash(proto, daddr, dport, caddr, cport)]; e !== NONE; e = this.outNext[e]) {
      if (this.daddr[e] === daddr && this.dport[e] === dport && this.caddr[e] === caddr && this.cport[e] === cport && this.proto[e] === proto) return e;
    }
    return NONE;
  }

  /** A persistence template: client (masked) and service address; port 0 for port-less. */
  lookupTemplate(proto: number, caddr: number, vaddr: number, vport: number): number {
    for (let e = this.inHeads[this.hash(proto, caddr, 0, vaddr, vport)]; e !== NONE; e = this.inNext[e]) {
      if (this.caddr[e] === caddr && this.vaddr[e] === vaddr && this.vport[e] === vport && this.proto[e] === proto && this.flags[e] & ConnFlag.Template) return e;
    }
    return NONE;
  }

  // ---- changes

  /** A new entry, or NONE when the table is full or a chain is at its bound. */
  insert(c: NewConn, nowMs: number): number {
    const e = this.freeHead;
    if (e === NONE) return NONE;
    const cport = c.flags & ConnFlag.Template ? 0 : c.cport;
    const inBucket = this.hash(c.proto, c.caddr, cport, c.vaddr, c.vport);
    const outBucket = c.flags & ConnFlag.HashedOut ? this.hash(c.proto, c.daddr, c.dport, c.caddr, cport) : -1;
    if (this.chainLength(this.inHeads[inBucket], this.inNext) >= MAX_CHAIN || (outBucket >= 0 && this.chainLength(this.outHeads[outBucket], this.outNext) >= MAX_CHAIN)) {
      this.chainFull++;
      return NONE;
    }
    this.freeHead = this.wheelNext[e];
    this.proto[e] = c.proto;
    this.caddr[e] = c.caddr;
    this.cport[e] = cport;
    this.vaddr[e] = c.vaddr;
    this.vport[e] = c.vport;
    this.daddr[e] = c.daddr;
    this.dport[e] = c.dport;
    this.dest[e] = c.dest;
    this.service[e] = c.service;
    this.method[e] = c.method;
    this.flags[e] = c.flags;
    this.state[e] = c.state;
    this.packets[e] = 0;
    this.inNext[e] = this.inHeads[inBucket];
    this.inHeads[inBucket] = e;
    if (outBucket >= 0) {
      this.outNext[e] = this.outHeads[outBucket];
      this.outHeads[outBucket] = e;
    }
    this.expires[e] = this.tick(nowMs) + Math.ceil(c.timeoutMs / TICK_MS);
    this.wheelLink(e);
    this.used++;
    return e;
  }

  /** Restarts an entry's timer. Extending is free; shortening re-files it on the wheel. */
  setTimeout(e: number, timeoutMs: number, nowMs: number): void {
    const expires = this.tick(nowMs) + Math.ceil(timeoutMs / TICK_MS);
    const old = this.expires[e];
    this.expires[e] = expires;
    if (expires < old) {
      this.wheelUnlink(e);
      this.wheelLink(e);
    }
  }

  /** Pushes an entry's expiry later without touching the wheel (safe inside onExpire). */
  extend(e: number, timeoutMs: number, nowMs: number): void {
    this.expires[e] = Math.max(this.expires[e], this.tick(nowMs) + Math.ceil(timeoutMs / TICK_MS));
  }

  remove(e: number): void {
    const cport = this.cport[e];
    this.unchain(this.inHeads, this.inNext, this.hash(this.proto[e], this.caddr[e], cport, this.vaddr[e], this.vport[e]), e);
    if (this.flags[e] & ConnFlag.HashedOut) this.unchain(this.outHeads, this.outNext, this.hash(this.proto[e], this.daddr[e], this.dport[e], this.caddr[e], cport), e);
    this.wheelUnlink(e);
    this.flags[e] = 0;
    this.wheelNext[e] = this.freeHead;
    this.freeHead = e;
    this.used--;
  }

  /**
   * Runs the wheel up to `nowMs`, calling `onExpire(e)` for each entry whose time has come:
   * true removes it; to keep it (a template still in use), call extend() and return false.
   * Examines at most `budget` entries per call, so one call has a bounded cost; returns how
   * many were removed.
   */
  expire(nowMs: number, onExpire: (e: number) => boolean, budget = 100_000): number {
    const now = this.tick(nowMs);
    let expired = 0;
    while (this.cursor <= now) {
      const slot = this.cursor & (WHEEL_SIZE - 1);
      let e = this.wheel[slot];
      this.wheel[slot] = NONE;
      while (e !== NONE) {
        if (budget === 0) {
          this.reattach(slot, e); // the rest waits for the next call; the cursor stays here
          return expired;
        }
        const next = this.wheelNext[e];
        budget--;
        if (this.expires[e] <= this.cursor && onExpire(e)) {
          this.removeUnlinked(e);
          expired++;
        } else {
          this.wheelLinkAt(e, Math.max(this.expires[e], this.cursor + 1));
        }
        e = next;
      }
      this.cursor++;
    }
    return expired;
  }

  /** Every live entry (for listings and tests: allocates nothing, but walks the whole table). */
  forEach(fn: (e: number) => void): void {
    for (let s = 0; s < WHEEL_SIZE; s++) for (let e = this.wheel[s]; e !== NONE; e = this.wheelNext[e]) fn(e);
  }

  // ---- internals

  private chainLength(head: number, next: Int32Array): number {
    let n = 0;
    for (let e = head; e !== NONE && n < MAX_CHAIN; e = next[e]) n++;
    return n;
  }

  private unchain(heads: Int32Array, next: Int32Array, bucket: number, e: number): void {
    if (heads[bucket] === e) {
      heads[bucket] = next[e];
      return;
    }
    for (let p = heads[bucket]; p !== NONE; p = next[p]) {
      if (next[p] === e) {
        next[p] = next[e];
        return;
      }
    }
  }

  private wheelLink(e: number): void {
    this.wheelLinkAt(e, Math.max(this.expires[e], this.cursor));
  }

  // A list head's prev link holds -2 - slot, so any entry can be unlinked in O(1).
  private wheelLinkAt(e: number, atTick: number): void {
    const slot = atTick & (WHEEL_SIZE - 1);
    const head = this.wheel[slot];
    this.wheelPrev[e] = -2 - slot;
    this.wheelNext[e] = head;
    if (head !== NONE) this.wheelPrev[head] = e;
    this.wheel[slot] = e;
  }

  private wheelUnlink(e: number): void {
    const prev = this.wheelPrev[e], next = this.wheelNext[e];
    if (prev >= 0) this.wheelNext[prev] = next;
    else this.wheel[-2 - prev] = next;
    if (next !== NONE) this.wheelPrev[next] = prev;
  }

  /** Puts a detached list back at the head of a slot (whose list may have grown meanwhile). */
  private reattach(slot: number, head: number): void {
    let tail = head;
    const existing = this.wheel[slot];
    if (existing !== NONE) {
      while (this.wheelNext[tail] !== NONE) tail = this.wheelNext[tail];
      this.wheelNext[tail] = existing;
      this.wheelPrev[existing] = tail;
    }
    this.wheelPrev[head] = -2 - slot;
    this.wheel[slot] = head;
  }

  private removeUnlinked(e: number): void {
    const cport = this.cport[e];
    this.unchain(this.inHeads, this.inNext, this.hash(this.proto[e], this.caddr[e], cport, this.vaddr[e], this.vport[e]), e);
    if (this.flags[e] & ConnFlag.HashedOut) this.unchain(this.outHeads, this.outNext, this.hash(this.proto[e], this.daddr[e], this.dport[e], this.caddr[e], cport), e);
    this.flags[e] = 0;
    this.wheelNext[e] = this.freeHead;
    this.freeHead = e;
    this.used--;
  }
}
