// How many ICMP errors and TCP resets tapvs may send, split so that no kind starves another:
//
// - errors (time exceeded, unreachables): the configured global rate (RFC 1812 4.3.2.8);
// - frag-needed: a budget of its own, ten times larger, since path-MTU discovery breaks
//   connections when it is starved (Linux exempts it from icmp_ratelimit altogether);
// - TCP resets: a budget of their own, so refusing connections cannot silence ICMP;
// and every kind is also limited per destination (a fixed table of buckets, keyed hash), so
// one host sending 100 TTL=1 packets a second takes only its own share.

import { TokenBucket } from './ratelimit.js';
import { keyedBucket1 } from '../util/hash.js';

export const enum IcmpKind {
  Error = 0,
  FragNeeded = 1,
  Reset = 2,
}

export interface IcmpBudgetConfig {
  ratePerSecond: number;
  burst: number;
  /** Per destination and kind. */
  perDestinationPerSecond: number;
  perDestinationBurst: number;
}

/** Per-destination buckets: collisions share one, memory stays fixed. */
const DEST_BUCKETS = 1024;
/** keyedBucket1's shift for DEST_BUCKETS buckets. */
const DEST_BUCKET_SHIFT = 32 - Math.log2(DEST_BUCKETS);
/** frag-needed's global budget, as a multiple of the errors' one. */
const FRAG_NEEDED_FACTOR = 10;

export class IcmpBudget {
  private readonly global: TokenBucket[];
  private readonly tokens = new Float64Array(DEST_BUCKETS);
  private readonly last = new Float64Array(DEST_BUCKETS);
  private readonly rate: number;
  private readonly burst: number;

  constructor(c: IcmpBudgetConfig, now: number) {
    this.global = [
      new TokenBucket(c.ratePerSecond, c.burst, now),
      new TokenBucket(c.ratePerSecond * FRAG_NEEDED_FACTOR, c.burst * FRAG_NEEDED_FACTOR, now),
      new TokenBucket(c.ratePerSecond, c.burst, now),
    ];
    this.rate = c.perDestinationPerSecond;
    this.burst = c.perDestinationBurst;
    this.tokens.fill(this.burst);
    this.last.fill(now);
  }

  /** May one more of `kind` go to `dst` now? Takes a token from both budgets when it may. */
  take(kind: IcmpKind, dst: number, now: number): boolean {
    const i = keyedBucket1(dst ^ Math.imul(kind + 1, 0x9e3779b9), DEST_BUCKET_SHIFT);
    let t = this.tokens[i];
    if (now > this.last[i]) {
      t = Math.min(this.burst, t + ((now - this.last[i]) * this.rate) / 1000);
      this.last[i] = now;
    }
    if (t < 1) {
      this.tokens[i] = t;
      return false;
    }
    if (!this.global[kind].take(now)) {
      this.tokens[i] = t;
      return false;
    }
    this.tokens[i] = t - 1;
    return true;
  }
}
