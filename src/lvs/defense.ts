// Defences against floods (seed 002), as the kernel's sysctls: each of drop_entry, drop_packet
// and secure_tcp is 0 off, 1 automatic (on when free entries fall below amemthresh), 2
// automatic and on now, 3 always on. Low memory means few free connection entries: the
// table's fixed size is the memory budget.

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

  /** drop_entry on a full table: evict one embryonic entry, if a few random slots hold one. */
  makeRoom(): boolean {
    if (!this.active.dropEntry || this.table.size < this.table.capacity) return false;
    for (let n = 0; n < 8; n++) {
      const e = Math.floor(Math.random() * this.table.capacity);
      if (this.isEmbryonic(e)) {
        this.drop(e);
        return true;
      }
    }
    return false;
  }

  /** Drops embryonic TCP entries among the next `count` table slots. */
  private sweep(count: number): void {
    for (let n = 0; n < count; n++) {
      const e = this.sweepCursor;
      this.sweepCursor = (this.sweepCursor + 1) % this.table.capacity;
      if (this.isEmbryonic(e)) this.drop(e);
    }
  }

  private drop(e: number): void {
    this.close(e);
    this.stats[C.lvs_defense_dropped_entries]++;
  }

  /** SYN_RECV or SYNACK: a connection the client has not yet proved. */
  private isEmbryonic(e: number): boolean {
    const t = this.table;
    if (!t.isLive(e) || t.proto(e) !== PROTO_TCP || t.flags(e) & ConnFlag.Template) return false;
    const s = t.state(e);
    return s === TcpState.SynRecv || s === TcpState.SynAck;
  }
}
