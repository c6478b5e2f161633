// The counting schedulers: rr, wrr, lc, wlc, sed, nq, fo, ovf, twos.

import type { RealServer } from '../service.js';
import { gcd, leastWeighted, overhead, type Scheduler, type SchedulingKey } from './scheduler.js';

/** Round robin: each available server in turn. */
export class RoundRobin implements Scheduler {
  readonly name = 'rr';
  private last = -1;
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    for (let i = 1; i <= dests.length; i++) {
      const d = dests[(this.last + i) % dests.length];
      if (d.available) {
        this.last = (this.last + i) % dests.length;
        return d;
      }
    }
    return null;
  }
}

/** Weighted round robin, interleaved: a server of weight 3 gets 3 of every sum-of-weights picks. */
export class WeightedRoundRobin implements Scheduler {
  readonly name = 'wrr';
  private index = -1;
  private current = 0;
  private step = 1;
  private max = 0;
  update(dests: readonly RealServer[]): void {
    this.max = dests.reduce((m, d) => Math.max(m, d.weight), 0);
    this.step = dests.reduce((g, d) => (d.weight > 0 ? gcd(g, d.weight) : g), 0) || 1;
    this.index = -1;
    this.current = 0;
  }
  pick(dests: readonly RealServer[]): RealServer | null {
    if (this.max === 0 || dests.length === 0) return null;
    // At most one full sweep of every weight level.
    for (let n = 0; n <= dests.length * (this.max / this.step + 1); n++) {
      this.index = (this.index + 1) % dests.length;
      if (this.index === 0) {
        this.current -= this.step;
        if (this.current <= 0) this.current = this.max;
      }
      const d = dests[this.index];
      if (d.available && d.weight >= this.current) return d;
    }
    return null;
  }
}

/** Least connections (weights only decide eligibility). */
export class LeastConnection implements Scheduler {
  readonly name = 'lc';
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    let best: RealServer | null = null;
    for (const d of dests) if (d.available && (best === null || overhead(d) < overhead(best))) best = d;
    return best;
  }
}

/** Weighted least connections: overhead / weight. */
export class WeightedLeastConnection implements Scheduler {
  readonly name = 'wlc';
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    return leastWeighted(dests, overhead);
  }
}

/** Shortest expected delay: (active + 1) / weight. */
export class ShortestExpectedDelay implements Scheduler {
  readonly name = 'sed';
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    return leastWeighted(dests, (d) => d.activeConns + 1);
  }
}

/** Never queue: an idle server if there is one, else shortest expected delay. */
export class NeverQueue implements Scheduler {
  readonly name = 'nq';
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    for (const d of dests) if (d.available && d.activeConns === 0) return d;
    return leastWeighted(dests, (d) => d.activeConns + 1);
  }
}

/** Weighted failover: the available server of highest weight. */
export class WeightedFailover implements Scheduler {
  readonly name = 'fo';
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    let best: RealServer | null = null;
    for (const d of dests) if (d.available && (best === null || d.weight > best.weight)) best = d;
    return best;
  }
}

/** Weighted overflow: the highest-weight server until its active connections reach its weight. */
export class WeightedOverflow implements Scheduler {
  readonly name = 'ovf';
  update(): void {}
  pick(dests: readonly RealServer[]): RealServer | null {
    let best: RealServer | null = null;
    for (const d of dests) {
      if (d.available && d.activeConns < d.weight && (best === null || d.weight > best.weight)) best = d;
    }
    return best;
  }
}

/** Power of two choices: two servers drawn by weight, the less loaded (per weight) wins. */
export class TwoRandomChoices implements Scheduler {
  readonly name = 'twos';
  constructor(private readonly random: () => number = Math.random) {}
  update(): void {}
  private draw(dests: readonly RealServer[], total: number): RealServer | null {
    let r = this.random() * total;
    for (const d of dests) {
      if (!d.available) continue;
      r -= d.weight;
      if (r < 0) return d;
    }
    return null;
  }
  pick(dests: readonly RealServer[], _key: SchedulingKey): RealServer | null {
    let total = 0;
    for (const d of dests) if (d.available) total += d.weight;
    if (total === 0) return null;
    const a = this.draw(dests, total)!;
    const b = this.draw(dests, total)!;
    return overhead(a) * b.weight <= overhead(b) * a.weight ? a : b;
  }
}
