// Scheduler names, as ipvsadm -s takes them.

import { LeastConnection, NeverQueue, RoundRobin, ShortestExpectedDelay, TwoRandomChoices, WeightedFailover, WeightedLeastConnection, WeightedOverflow, WeightedRoundRobin } from './basic.js';
import { LocalityLeastConnection, LocalityLeastConnectionReplicated, MaglevHashing, destinationHashing, sourceHashing } from './hashing.js';
import type { Scheduler } from './scheduler.js';

const FACTORIES: Record<string, () => Scheduler> = {
  rr: () => new RoundRobin(),
  wrr: () => new WeightedRoundRobin(),
  lc: () => new LeastConnection(),
  wlc: () => new WeightedLeastConnection(),
  sed: () => new ShortestExpectedDelay(),
  nq: () => new NeverQueue(),
  sh: sourceHashing,
  dh: destinationHashing,
  lblc: () => new LocalityLeastConnection(),
  lblcr: () => new LocalityLeastConnectionReplicated(),
  mh: () => new MaglevHashing(),
  fo: () => new WeightedFailover(),
  ovf: () => new WeightedOverflow(),
  twos: () => new TwoRandomChoices(),
};

export const SCHEDULER_NAMES = Object.keys(FACTORIES);
export const SCHEDULER_FLAGS = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'];

export function createScheduler(name: string): Scheduler {
  const make = FACTORIES[name];
  if (!make) throw new Error(`unknown scheduler '${name}' (known: ${SCHEDULER_NAMES.join(', ')})`);
  return make();
}

export type { Scheduler, SchedulingKey } from './scheduler.js';
