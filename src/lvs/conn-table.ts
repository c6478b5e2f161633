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
// Layout: what a lookup and a forwarded packet touch lives in one 32-byte record per entry
// (two to a cache line): client and virtual address, both ports, protocol/flags/state/method,
// the in-chain link, the real server, the expiry and the packet count. A lookup that hits
// costs the bucket head and that record: two cache misses at most, however large the table.
// Cold fields (the real server's address and port for NAT, the service, the out-chain and
// wheel links) are arrays of their own. Per entry: 32 + 20 + 8 of hash buckets = 60 bytes,
// plus the fixed 64 KiB wheel.
//
// IPv6 entries are the same records, flagged: their client and virtual address words hold a
// keyed 32-bit fold of the address (so chains, hashes and expiry need nothing new), and their
// three full addresses live in an IPv6 store of its own size (48 bytes a record, made when the
// first IPv6 service is), which the entry's daddr word indexes. A lookup compares the folds in
// the hot record first and the full addresses only on a match. IPv4 entries cost what they did.

import { SECRET_SEED, finish, keyed, keyedHash6, mixWord } from '../util/hash.js';

export const enum ConnFlag {
  /** A persistence template: cport is 0, caddr is masked, dest is the sticky server. */
  Template = 1,
  /** DR and TUN: the director sees only the client's direction (IPVS's INPUT-ONLY table). */
  InputOnly = 2,
  /** Not ESTABLISHED: counted in InActConn. */
  Inactive = 4,
  /** Hashed in the out index (NAT). */
  HashedOut = 8,
  /** A template keyed by persistence-engine data (a SIP Call-ID hash) instead of a client. */
  PeData = 16,
  /** An IPv6 connection: addresses in the IPv6 store, folds in the record. */
  Ipv6 = 32,
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

// Record words.
const REC = 8;
const W_CADDR = 0;
const W_VADDR = 1;
const W_PORTS = 2; // cport << 16 | vport
const W_META = 3; // proto | flags << 8 | state << 16 | method << 24
const W_IN_NEXT = 4;
const W_DEST = 5;
const W_EXPIRES = 6;
const W_PACKETS = 7;
const TEMPLATE_BIT = ConnFlag.Template << 8;
const PE_BIT = ConnFlag.PeData << 8;
const V6_BIT = ConnFlag.Ipv6 << 8;
/** The meta bits a lookup matches: protocol, and whether a template, a PE template, IPv6. */
const KEY_META = 0xff | TEMPLATE_BIT | PE_BIT | V6_BIT;
// IPv6 store words: client, virtual, real server address, 4 words each.
const REC6 = 12;
const S_CADDR = 0;
const S_VADDR = 4;
const S_DADDR = 8;

/** An IPv6 entry's three addresses, each 16 bytes at an offset of its array. */
export interface Addresses6 {
  c: Uint8Array;
  cAt: number;
  v: Uint8Array;
  vAt: number;
  d: Uint8Array;
  dAt: number;
}

export class ConnTable {
  readonly capacity: number;
  /** The hot record of each entry (see the layout above); read it through the accessors. */
  private readonly rec: Uint32Array;
  private readonly recI: Int32Array;
  // cold fields
  readonly daddr: Uint32Array;
  readonly dport: Uint16Array;
  readonly service: Uint16Array;
  // links
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
  /** The IPv6 store (see the layout above): empty until enableIpv6(). */
  private store6 = new Uint32Array(0);
  private store6Next = new Int32Array(0);
  private store6Free = NONE;
  private used6 = 0;
  /** The words of the IPv6 key being looked up or inserted: client, virtual, real server. */
  private readonly key6 = new Uint32Array(REC6);
  private readonly scratch6 = new Uint8Array(16);

  constructor(capacity: number, nowMs: number, seed = SECRET_SEED) {
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 1 << 26) throw new RangeError('connection table capacity must be 16..67108864');
    this.capacity = capacity;
    this.rec = new Uint32Array(capacity * REC);
    this.recI = new Int32Array(this.rec.buffer);
    this.daddr = new Uint32Array(capacity);
    this.dport = new Uint16Array(capacity);
    this.service = new Uint16Array(capacity);
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

  /** Room for IPv6 entries (made once, with the first IPv6 service; later calls keep it). */
  enableIpv6(capacity6: number): void {
    if (this.store6Next.length > 0) return;
    if (!Number.isInteger(capacity6) || capacity6 < 16 || capacity6 > 1 << 24) throw new RangeError('IPv6 connection table capacity must be 16..16777216');
    this.store6 = new Uint32Array(capacity6 * REC6);
    this.store6Next = new Int32Array(capacity6);
    for (let i = 0; i < capacity6; i++) this.store6Next[i] = i + 1 < capacity6 ? i + 1 : NONE;
    this.store6Free = 0;
  }

  get capacity6(): number {
    return this.store6Next.length;
  }

  get size6(): number {
    return this.used6;
  }

  /** Bytes per IPv6 entry: its record and cold fields as any entry's, and its IPv6 store record. */
  get bytesPerEntry6(): number {
    return this.bytesPerEntry + REC6 * 4 + 4;
  }

  isIpv6(e: number): boolean {
    return (this.rec[e * REC + W_META] & V6_BIT) !== 0;
  }

  /** An IPv6 entry's client (S_CADDR), virtual (S_VADDR) or real server (S_DADDR) address, into `out[o..]`. */
  private address6(e: number, word: number, out: Uint8Array, o: number): Uint8Array {
    const base = this.daddr[e] * REC6 + word;
    for (let i = 0; i < 4; i++) {
      const w = this.store6[base + i];
      out[o + 4 * i] = w >>> 24;
      out[o + 4 * i + 1] = (w >>> 16) & 0xff;
      out[o + 4 * i + 2] = (w >>> 8) & 0xff;
      out[o + 4 * i + 3] = w & 0xff;
    }
    return out;
  }
  caddr6(e: number, out: Uint8Array = new Uint8Array(16), o = 0): Uint8Array {
    return this.address6(e, S_CADDR, out, o);
  }
  vaddr6(e: number, out: Uint8Array = new Uint8Array(16), o = 0): Uint8Array {
    return this.address6(e, S_VADDR, out, o);
  }
  daddr6(e: number, out: Uint8Array = new Uint8Array(16), o = 0): Uint8Array {
    return this.address6(e, S_DADDR, out, o);
  }

  // ---- fields of an entry

  caddr(e: number): number {
    return this.rec[e * REC + W_CADDR];
  }
  vaddr(e: number): number {
    return this.rec[e * REC + W_VADDR];
  }
  cport(e: number): number {
    return this.rec[e * REC + W_PORTS] >>> 16;
  }
  vport(e: number): number {
    return this.rec[e * REC + W_PORTS] & 0xffff;
  }
  proto(e: number): number {
    return this.rec[e * REC + W_META] & 0xff;
  }
  flags(e: number): number {
    return (this.rec[e * REC + W_META] >>> 8) & 0xff;
  }
  setFlags(e: number, flags: number): void {
    const o = e * REC + W_META;
    this.rec[o] = (this.rec[o] & ~0xff00) | ((flags & 0xff) << 8);
  }
  state(e: number): number {
    return (this.rec[e * REC + W_META] >>> 16) & 0xff;
  }
  setState(e: number, state: number): void {
    const o = e * REC + W_META;
    this.rec[o] = (this.rec[o] & ~0xff0000) | ((state & 0xff) << 16);
  }
  method(e: number): number {
    return this.rec[e * REC + W_META] >>> 24;
  }
  /** In use (a free entry's record is zeroed). */
  isLive(e: number): boolean {
    return this.rec[e * REC + W_META] !== 0;
  }
  dest(e: number): number {
    return this.recI[e * REC + W_DEST];
  }
  /** Expiry in ticks (see tick()). */
  expiresAt(e: number): number {
    return this.rec[e * REC + W_EXPIRES];
  }
  packets(e: number): number {
    return this.rec[e * REC + W_PACKETS];
  }
  addPackets(e: number, n: number): void {
    this.rec[e * REC + W_PACKETS] += n;
  }

  /** Bytes of typed-array memory per entry, including its share of the hash buckets. */
  get bytesPerEntry(): number {
    const arrays = [this.daddr, this.dport, this.service, this.outNext, this.wheelNext, this.wheelPrev];
    const perEntry = REC * 4 + arrays.reduce((n, a) => n + a.BYTES_PER_ELEMENT, 0);
    return perEntry + ((this.inHeads.byteLength + this.outHeads.byteLength) / this.capacity);
  }

  tick(nowMs: number): number {
    return Math.max(0, Math.floor((nowMs - this.epoch) / TICK_MS));
  }

  /** Keyed with the process secret in every word (util/hash.ts): no client can aim at a bucket. */
  private hash(proto: number, a: number, ap: number, b: number, bp: number): number {
    let h = mixWord(this.seed, keyed(a));
    h = mixWord(h, keyed(b));
    h = mixWord(h, keyed((ap << 16) | bp));
    h = mixWord(h, keyed(proto));
    return finish(h) & this.bucketMask;
  }

  // ---- lookups

  /** A connection (not a template) by the client's view of it, or NONE. */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    const rec = this.rec;
    const ports = ((cport << 16) | vport) >>> 0;
    for (let e = this.inHeads[this.hash(proto, caddr, cport, vaddr, vport)]; e !== NONE; e = this.recI[e * REC + W_IN_NEXT]) {
      const o = e * REC;
      if (rec[o] === caddr && rec[o + W_PORTS] === ports && rec[o + W_VADDR] === vaddr && (rec[o + W_META] & KEY_META) === proto) return e;
    }
    return NONE;
  }

  /** A NAT connection by the real server's reply: <proto, daddr, dport, caddr, cport>. */
  lookupOut(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    for (let e = this.outHeads[this.hash(proto, daddr, dport, caddr, cport)]; e !== NONE; e = this.outNext[e]) {
      if (this.daddr[e] === daddr && this.dport[e] === dport && this.caddr(e) === caddr && this.cport(e) === cport && (this.rec[e * REC + W_META] & (0xff | V6_BIT)) === proto) return e;
    }
    return NONE;
  }

  /**
   * A persistence template: client (masked) and service address; port 0 for port-less. With
   * `pe`, `caddr` is the persistence engine's key (a Call-ID hash), never a client address.
   */
  lookupTemplate(proto: number, caddr: number, vaddr: number, vport: number, pe = false): number {
    const rec = this.rec;
    const meta = proto | TEMPLATE_BIT | (pe ? PE_BIT : 0);
    for (let e = this.inHeads[this.hash(proto, caddr, 0, vaddr, vport)]; e !== NONE; e = this.recI[e * REC + W_IN_NEXT]) {
      const o = e * REC;
      if (rec[o] === caddr && rec[o + W_PORTS] === vport && rec[o + W_VADDR] === vaddr && (rec[o + W_META] & KEY_META) === meta) return e;
    }
    return NONE;
  }

  // ---- IPv6 lookups: the folds find candidates, the IPv6 store confirms them

  /** Loads an address into the key's words from `word` on (S_CADDR, S_VADDR or S_DADDR). */
  private loadKey6(word: number, b: Uint8Array, o: number): void {
    const k = this.key6;
    for (let i = 0; i < 4; i++) k[word + i] = ((b[o + 4 * i] << 24) | (b[o + 4 * i + 1] << 16) | (b[o + 4 * i + 2] << 8) | b[o + 4 * i + 3]) >>> 0;
  }

  /** Whether entry `e`'s store words `from`..`to` match the key's. */
  private storeMatches(e: number, from: number, to: number): boolean {
    const base = this.daddr[e] * REC6;
    const k = this.key6;
    for (let i = from; i < to; i++) if (this.store6[base + i] !== k[i]) return false;
    return true;
  }

  /** lookupIn for IPv6: the client address at `cb[cAt..]`, the VIP at `vb[vAt..]`. */
  lookupIn6(proto: number, cb: Uint8Array, cAt: number, cport: number, vb: Uint8Array, vAt: number, vport: number): number {
    return this.walkIn6(proto, proto | V6_BIT, cb, cAt, cport, vb, vAt, vport);
  }

  /** lookupOut for IPv6: a NAT reply from the real server at `db[dAt..]` to the client at `cb[cAt..]`. */
  lookupOut6(proto: number, db: Uint8Array, dAt: number, dport: number, cb: Uint8Array, cAt: number, cport: number): number {
    if (this.used6 === 0) return NONE;
    const fd = keyedHash6(db, dAt), fc = keyedHash6(cb, cAt);
    this.loadKey6(S_CADDR, cb, cAt);
    this.loadKey6(S_DADDR, db, dAt);
    for (let e = this.outHeads[this.hash(proto, fd, dport, fc, cport)]; e !== NONE; e = this.outNext[e]) {
      if (this.dport[e] === dport && this.caddr(e) === fc && this.cport(e) === cport && (this.rec[e * REC + W_META] & (0xff | V6_BIT)) === (proto | V6_BIT) && this.storeMatches(e, S_DADDR, REC6) && this.storeMatches(e, S_CADDR, S_VADDR)) return e;
    }
    return NONE;
  }

  /** lookupTemplate for IPv6: the masked client (or, with `pe`, the engine's key in its first word) at `cb[cAt..]`. */
  lookupTemplate6(proto: number, cb: Uint8Array, cAt: number, vb: Uint8Array, vAt: number, vport: number, pe = false): number {
    return this.walkIn6(proto, proto | TEMPLATE_BIT | V6_BIT | (pe ? PE_BIT : 0), cb, cAt, 0, vb, vAt, vport);
  }

  /** The IPv6 entry on the in-chain with these key words and meta bits (a template's cport is 0). */
  private walkIn6(proto: number, meta: number, cb: Uint8Array, cAt: number, cport: number, vb: Uint8Array, vAt: number, vport: number): number {
    if (this.used6 === 0) return NONE;
    const fc = keyedHash6(cb, cAt), fv = keyedHash6(vb, vAt);
    this.loadKey6(S_CADDR, cb, cAt);
    this.loadKey6(S_VADDR, vb, vAt);
    const rec = this.rec;
    const ports = ((cport << 16) | vport) >>> 0;
    for (let e = this.inHeads[this.hash(proto, fc, cport, fv, vport)]; e !== NONE; e = this.recI[e * REC + W_IN_NEXT]) {
      const o = e * REC;
      if (rec[o] === fc && rec[o + W_PORTS] === ports && rec[o + W_VADDR] === fv && (rec[o + W_META] & KEY_META) === meta && this.storeMatches(e, S_CADDR, S_DADDR)) return e;
    }
    return NONE;
  }

  // ---- changes

  /** A new entry, or NONE when the table is full or a chain is at its bound. */
  insert(c: NewConn, nowMs: number): number {
    return this.link(c, c.caddr, c.vaddr, c.daddr, c.daddr, c.flags & ~ConnFlag.Ipv6, nowMs);
  }

  /**
   * A new IPv6 entry (c's address fields are ignored: `a` has them), or NONE when the table
   * or the IPv6 store is full, or a chain is at its bound.
   */
  insert6(c: NewConn, a: Addresses6, nowMs: number): number {
    const s = this.store6Free;
    if (s === NONE) return NONE;
    const e = this.link(c, keyedHash6(a.c, a.cAt), keyedHash6(a.v, a.vAt), s, keyedHash6(a.d, a.dAt), c.flags | ConnFlag.Ipv6, nowMs);
    if (e === NONE) return NONE;
    this.store6Free = this.store6Next[s];
    this.loadKey6(S_CADDR, a.c, a.cAt);
    this.loadKey6(S_VADDR, a.v, a.vAt);
    this.loadKey6(S_DADDR, a.d, a.dAt);
    this.store6.set(this.key6, s * REC6);
    this.used6++;
    return e;
  }

  /**
   * Files an entry under its hot-record words: `daddrWord` is stored, `daddrHash` (the same
   * for IPv4, an IPv6 address's fold) keys the out chain.
   */
  private link(c: NewConn, caddr: number, vaddr: number, daddrWord: number, daddrHash: number, flags: number, nowMs: number): number {
    const e = this.freeHead;
    if (e === NONE) return NONE;
    const cport = flags & ConnFlag.Template ? 0 : c.cport;
    const inBucket = this.hash(c.proto, caddr, cport, vaddr, c.vport);
    const outBucket = flags & ConnFlag.HashedOut ? this.hash(c.proto, daddrHash, c.dport, caddr, cport) : -1;
    if (this.inChainLength(this.inHeads[inBucket]) >= MAX_CHAIN || (outBucket >= 0 && this.outChainLength(this.outHeads[outBucket]) >= MAX_CHAIN)) {
      this.chainFull++;
      return NONE;
    }
    this.freeHead = this.wheelNext[e];
    const o = e * REC;
    const rec = this.rec;
    rec[o + W_CADDR] = caddr;
    rec[o + W_VADDR] = vaddr;
    rec[o + W_PORTS] = ((cport << 16) | c.vport) >>> 0;
    rec[o + W_META] = (c.proto & 0xff) | ((flags & 0xff) << 8) | ((c.state & 0xff) << 16) | ((c.method & 0xff) << 24);
    this.recI[o + W_DEST] = c.dest;
    rec[o + W_PACKETS] = 0;
    this.daddr[e] = daddrWord;
    this.dport[e] = c.dport;
    this.service[e] = c.service;
    this.recI[o + W_IN_NEXT] = this.inHeads[inBucket];
    this.inHeads[inBucket] = e;
    if (outBucket >= 0) {
      this.outNext[e] = this.outHeads[outBucket];
      this.outHeads[outBucket] = e;
    }
    rec[o + W_EXPIRES] = this.tick(nowMs) + Math.ceil(c.timeoutMs / TICK_MS);
    this.wheelLink(e);
    this.used++;
    return e;
  }

  /** Restarts an entry's timer. Extending is free; shortening re-files it on the wheel. */
  setTimeout(e: number, timeoutMs: number, nowMs: number): void {
    const expires = this.tick(nowMs) + Math.ceil(timeoutMs / TICK_MS);
    const old = this.rec[e * REC + W_EXPIRES];
    this.rec[e * REC + W_EXPIRES] = expires;
    if (expires < old) {
      this.wheelUnlink(e);
      this.wheelLink(e);
    }
  }

  /** Pushes an entry's expiry later without touching the wheel (safe inside onExpire). */
  extend(e: number, timeoutMs: number, nowMs: number): void {
    const o = e * REC + W_EXPIRES;
    this.rec[o] = Math.max(this.rec[o], this.tick(nowMs) + Math.ceil(timeoutMs / TICK_MS));
  }

  remove(e: number): void {
    this.wheelUnlink(e);
    this.removeUnlinked(e);
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
        const expires = this.rec[e * REC + W_EXPIRES];
        if (expires <= this.cursor && onExpire(e)) {
          this.removeUnlinked(e);
          expired++;
        } else {
          this.wheelLinkAt(e, Math.max(this.rec[e * REC + W_EXPIRES], this.cursor + 1));
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

  /**
   * Visits live entries with ids from `from` on: at most `count` of them, over at most
   * `scan` ids. Returns the id a next page starts from, or NONE when the table is done. A
   * listing in pages keeps each step's cost bounded however big the table is.
   */
  page(from: number, count: number, scan: number, fn: (e: number) => void): number {
    const end = Math.min(this.capacity, from + scan);
    let e = Math.max(0, from);
    for (; e < end && count > 0; e++) {
      if (!this.isLive(e)) continue;
      fn(e);
      count--;
    }
    return e < this.capacity ? e : NONE;
  }

  // ---- internals

  private inChainLength(head: number): number {
    let n = 0;
    for (let e = head; e !== NONE && n < MAX_CHAIN; e = this.recI[e * REC + W_IN_NEXT]) n++;
    return n;
  }

  private outChainLength(head: number): number {
    let n = 0;
    for (let e = head; e !== NONE && n < MAX_CHAIN; e = this.outNext[e]) n++;
    return n;
  }

  private unchainIn(bucket: number, e: number): void {
    const recI = this.recI;
    if (this.inHeads[bucket] === e) {
      this.inHeads[bucket] = recI[e * REC + W_IN_NEXT];
      return;
    }
    for (let p = this.inHeads[bucket]; p !== NONE; p = recI[p * REC + W_IN_NEXT]) {
      if (recI[p * REC + W_IN_NEXT] === e) {
        recI[p * REC + W_IN_NEXT] = recI[e * REC + W_IN_NEXT];
        return;
      }
    }
  }

  private unchainOut(bucket: number, e: number): void {
    if (this.outHeads[bucket] === e) {
      this.outHeads[bucket] = this.outNext[e];
      return;
    }
    for (let p = this.outHeads[bucket]; p !== NONE; p = this.outNext[p]) {
      if (this.outNext[p] === e) {
        this.outNext[p] = this.outNext[e];
        return;
      }
    }
  }

  private wheelLink(e: number): void {
    this.wheelLinkAt(e, Math.max(this.rec[e * REC + W_EXPIRES], this.cursor));
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

  /** Off both hash chains and onto the free list (the caller has taken it off the wheel). */
  private removeUnlinked(e: number): void {
    const cport = this.cport(e);
    const v6 = this.isIpv6(e);
    this.unchainIn(this.hash(this.proto(e), this.caddr(e), cport, this.vaddr(e), this.vport(e)), e);
    if (this.flags(e) & ConnFlag.HashedOut) {
      const daddrHash = v6 ? keyedHash6(this.daddr6(e, this.scratch6), 0) : this.daddr[e];
      this.unchainOut(this.hash(this.proto(e), daddrHash, this.dport[e], this.caddr(e), cport), e);
    }
    if (v6) {
      const s = this.daddr[e];
      this.store6Next[s] = this.store6Free;
      this.store6Free = s;
      this.used6--;
    }
    this.rec[e * REC + W_META] = 0;
    this.wheelNext[e] = this.freeHead;
    this.freeHead = e;
    this.used--;
  }
}
