// Defences against floods (seed 002), as the kernel's sysctls: each of drop_entry, drop_packet
// and secure_tcp is 0 off, 1 automatic (on when free entries fall below amemthresh), 2
// automatic and on now, 3 always on. Low memory means few free connection entries: the
// table's fixed size is the memory budget.
//
// drop_entry covers every kind of entry, as the kernel's ip_vs_random_dropentry does for TCP
// and UDP, and beyond it templates: a spoofed-source UDP flood (one entry per datagram) or
// SIP INVITEs with random Call-IDs (one template each) must not lock TCP clients out.

import { ConnFlag, type ConnTable } from './conn-table.js';
import { TcpState } from './tcp-states.js';
import { C } from '../l3/counters.js';
import { PROTO_TCP } from '../packet/ipv4.js';

export interface Defense {
  /** Free connection entries below which memory counts as low. */
  amemthresh: number;
  dropEntry: number;
  dropPacket: number;
  secureTcp: number;
  /** drop_packet in mode 3: drop one of this many new-connection packets. */
  amDropRate: number;
}

export const DEFAULT_DEFENSE: Defense = { amemthresh: 1024, dropEntry: 0, dropPacket: 0, secureTcp: 0, amDropRate: 10 };

export class FloodDefense {
  config: Defense = { ...DEFAULT_DEFENSE };
  /** Which defences act now, and drop_packet's current rate (1 in N). */
  readonly active = { dropEntry: false, dropPacket: false, secureTcp: false, dropRate: 0 };
  /** Told when a defence turns on or off. */
  onChange: ((what: string, on: boolean, freeEntries: number) => void) | null = null;
  private dropCounter = 0;
  private sweepCursor = 0;
  private lastUpdate = -Infinity;

  constructor(
    private readonly table: ConnTable,
    private readonly stats: Float64Array,
    /** Ends a connection with the director's bookkeeping. */
    private readonly close: (e: number) => void,
  ) {}

  /** Once a second: the defence levels, and drop_entry's sweep of 1/32 of the table (as ip_vs_random_dropentry). */
  tick(now: number): void {
    if (now - this.lastUpdate < 1000) return;
    this.lastUpdate = now;
    this.update();
    if (this.active.dropEntry) this.sweep(Math.ceil(this.table.capacity / 32));
  }

  /** The kernel's update_defense_level, over free connection entries instead of free pages. */
  update(): void {
    const free = this.table.capacity - this.table.size;
    const low = free < this.config.amemthresh;
    const d = this.config;
    const a = this.active;
    const before = { ...a };
    const auto = (mode: number): [number, boolean] => (mode === 1 || mode === 2 ? (low ? [2, true] : [1, false]) : [mode, mode === 3]);
    [d.dropEntry, a.dropEntry] = auto(d.dropEntry);
    [d.secureTcp, a.secureTcp] = auto(d.secureTcp);
    [d.dropPacket, a.dropPacket] = auto(d.dropPacket);
    // Automatic drop_packet drops more the lower memory gets; always-on drops 1 in amDropRate.
    a.dropRate = d.dropPacket === 3 ? d.amDropRate : a.dropPacket ? Math.max(1, Math.ceil(d.amemthresh / Math.max(1, d.amemthresh - free))) : 0;
    for (const k of ['dropEntry', 'dropPacket', 'secureTcp'] as const) if (a[k] !== before[k]) this.onChange?.(k, a[k], free);
  }

  /** drop_packet: should this new-connection packet go? */
  dropThisPacket(): boolean {
    if (!this.active.dropPacket || ++this.dropCounter < this.active.dropRate) return false;
    this.dropCounter = 0;
    return true;
  }

  /**
   * drop_entry on a full table: among a few random entries, evict the one that proves least
   * (an embryonic TCP entry, an idle template, a UDP flow of few packets).
   */
  makeRoom(): boolean {
    if (!this.active.dropEntry || this.table.size < this.table.capacity) return false;
    let best = -1;
    let bestCost = NOT_DROPPABLE;
    for (let n = 0; n < MAKE_ROOM_SAMPLES && bestCost > 0; n++) {
      const e = Math.floor(Math.random() * this.table.capacity);
      const cost = this.dropCost(e);
      if (cost < bestCost) [best, bestCost] = [e, cost];
    }
    if (best < 0) return false;
    this.drop(best);
    return true;
  }

  /**
   * Drops, among the next `count` table slots, embryonic TCP entries and, at the kernel's
   * todrop rates, entries of few packets: one of n packets is dropped every n-th time seen.
   */
  private sweep(count: number): void {
    for (let n = 0; n < count; n++) {
      const e = this.sweepCursor;
      this.sweepCursor = (this.sweepCursor + 1) % this.table.capacity;
      const cost = this.dropCost(e);
      if (cost === 0 || (cost < NOT_DROPPABLE && this.todrop(cost))) this.drop(e);
    }
  }

  private readonly todropCounter = new Int8Array(TODROP_MAX_PACKETS + 1);

  /** The kernel's todrop_entry countdown: true every `packets`-th call for that count. */
  private todrop(packets: number): boolean {
    if (--this.todropCounter[packets] > 0) return false;
    this.todropCounter[packets] = packets;
    return true;
  }

  private drop(e: number): void {
    this.close(e);
    this.stats[C.lvs_defense_dropped_entries]++;
  }

  /**
   * How much an entry has proved, 0 (nothing: drop it first) to TODROP_MAX_PACKETS, or
   * NOT_DROPPABLE: embryonic TCP 0; a template controlling no connection 0; a UDP flow or
   * an established TCP connection by its packets (few packets: little lost).
   */
  private dropCost(e: number): number {
    const t = this.table;
    if (!t.isLive(e)) return NOT_DROPPABLE;
    if (t.flags(e) & ConnFlag.Template) return t.packets(e) === 0 ? 0 : NOT_DROPPABLE;
    const packets = t.packets(e);
    if (t.proto(e) === PROTO_TCP) {
      const s = t.state(e);
      if (s === TcpState.SynRecv || s === TcpState.SynAck) return 0;
      if (s !== TcpState.Established) return NOT_DROPPABLE;
    }
    return packets <= TODROP_MAX_PACKETS ? Math.max(1, packets) : NOT_DROPPABLE;
  }
}

/** Entries of more packets than this have proved themselves: never dropped. */
const TODROP_MAX_PACKETS = 8;
const NOT_DROPPABLE = TODROP_MAX_PACKETS + 1;
/** Random entries looked at for a victim when a new connection meets a full table. */
const MAKE_ROOM_SAMPLES = 16;
