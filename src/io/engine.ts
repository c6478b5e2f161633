// The JavaScript half of the packet rings. It owns the slot pool (a stack of free slot
// numbers), hands each received frame to the frame handler, stages transmissions, and
// publishes every ring once per batch. Nothing here allocates per frame or calls into
// native code per frame: the only native calls are kicks of sleeping port threads.

import type { Backend, TapInfo, TapKind, TapMode } from './backend.js';
import { Descriptor, JS_SLEEPING_BYTE, PORT_COUNTERS, RING_COUNT, VNET_HEADER_BYTES, PORT_WORDS, PortWord, RingId, readLayout, type Layout, type PortCounterName } from './layout.js';
import { Ring } from './ring.js';

export interface FrameHandler {
  /** Called once before each round of frames: per-batch work (reading the clock) goes here. */
  beginBatch?(): void;
  /** The handler now owns `slot`: it must transmit() it, release() it, or keep it for later. */
  receive(port: number, slot: number, offset: number, length: number): void;
  /**
   * A port's whole run of received frames, in order, instead of a receive() call each: a loop
   * over them keeps its tables in locals, where a call per frame must load them all again. The
   * handler owns every frame of the burst, as with receive().
   */
  receiveBurst?(burst: RxBurst): void;
}

/**
 * The frames one port received, read in place from its RX ring: frame i is in slot(i), at
 * offset(i), length(i) bytes. A per-frame loop reads the descriptor words itself (words at
 * descriptor(i), see layout.ts), one index computation for all three; a loop that holds the
 * ring's geometry in locals computes descriptor(i) itself from base, first and mask. One object
 * per engine, re-pointed at each port's run; valid only during receiveBurst().
 */
export class RxBurst {
  port = 0;
  count = 0;
  /** The RX ring's entries (set by point(), read-only to handlers): its descriptor words, its consumer index and its size - 1. */
  base = 0;
  first = 0;
  mask = 0;

  constructor(readonly words: Uint32Array) {}

  point(port: number, ring: Ring, count: number): void {
    this.port = port;
    this.count = count;
    this.base = ring.entryWord;
    this.first = ring.consumerIndex;
    this.mask = ring.size - 1;
  }

  slot(i: number): number {
    return this.words[this.descriptor(i)];
  }
  offset(i: number): number {
    return this.words[this.descriptor(i) + 1] & Descriptor.OffsetMask;
  }
  length(i: number): number {
    return this.words[this.descriptor(i) + 1] >>> Descriptor.OffsetBits;
  }

  /** Frame i's descriptor, in words: its slot, then length << Descriptor.OffsetBits | offset. */
  descriptor(i: number): number {
    return this.base + (((this.first + i) & this.mask) << 1);
  }
}

/** Slots kept back from the fill rings so the router can always build an ARP or ICMP frame. */
export const LOCAL_RESERVE = 64;
/** Frames handled before the engine yields to the event loop (timers, control socket). */
const FRAMES_PER_TURN = 8192;
/** Large slots a port with offloads holds ready to receive into; the rest wait in flight or free. */
const LARGE_FILL_PER_PORT = 32;
/**
 * A port's state: closed; open, its frames ours; or open and handed to the native forwarder.
 * A const enum, so transmit() compares with a literal: V8 (node 20) loads a module-level const
 * from its context at every use.
 */
export const enum PortState {
  Closed = 0,
  Served = 1,
  Native = 2,
}

export interface EngineCounters {
  tx_ring_full: number;
  no_free_slot: number;
}

export class PacketEngine {
  readonly layout: Layout;
  /** The whole shared region as bytes; frames live at slotOffset(slot) + offset. */
  readonly bytes: Uint8Array;
  readonly counters: EngineCounters = { tx_ring_full: 0, no_free_slot: 0 };
  handler: FrameHandler;

  private readonly backend: Backend;
  private readonly words: Uint32Array;
  private readonly portCounterViews: Float64Array[] = [];
  private readonly rings: Ring[][] = [];
  /** rings[p][RingId.Tx], flat: transmit() runs once per frame. Read-only outside (the fast path's transmit, written out). */
  readonly txRings: Ring[] = [];
  private readonly slotsOffset: number;
  private readonly slotSize: number;
  private readonly portWordBase: number[] = [];
  private readonly freeSlots: Uint32Array;
  private freeTop = 0;
  /** Large slots are numbered from here (layout.ts); they have a free stack of their own. */
  private readonly firstLarge: number;
  private readonly freeLarge: Uint32Array;
  private largeTop = 0;
  /** Bytes of virtio-net header before each frame of a port (0 without offloads). */
  private readonly vnet: Uint8Array;
  /** Per port, a PortState. Read-only outside. */
  readonly state: Uint8Array;
  /** Frames taken off a port's RX ring since its last flush: room its stalled thread can use. */
  private readonly rxTaken: Uint8Array;
  /** Completions taken back this batch: a port that stopped sending for want of completion-ring room may go on. */
  private readonly compFreed: Uint8Array;
  private readonly jsSleepingWord = JS_SLEEPING_BYTE >>> 2;
  private readonly burst: RxBurst;
  private destroyed = false;
  private turnScheduled = false;

  constructor(makeBackend: (onWake: () => void) => Backend, handler: FrameHandler) {
    this.backend = makeBackend(() => this.onWake());
    const buffer = this.backend.buffer();
    this.layout = readLayout(buffer);
    this.bytes = new Uint8Array(buffer);
    this.words = new Uint32Array(buffer, 0, this.layout.slotsOffset >>> 2);
    this.burst = new RxBurst(this.words);
    this.handler = handler;
    const l = this.layout;
    this.slotsOffset = l.slotsOffset;
    this.slotSize = l.slotSize;
    for (let p = 0; p < l.maxPorts; p++) {
      const base = l.portsOffset + p * l.portStride;
      this.rings.push(Array.from({ length: RING_COUNT }, (_, r) => new Ring(this.words, base + r * l.ringStride, l.ringSize)));
      this.txRings.push(this.rings[p][RingId.Tx]);
      this.portWordBase.push((base + l.portControlOffset) >>> 2);
      this.portCounterViews.push(new Float64Array(buffer, base + l.portControlOffset + PORT_WORDS * 4, PORT_COUNTERS.length));
    }
    this.state = new Uint8Array(l.maxPorts);
    this.rxTaken = new Uint8Array(l.maxPorts);
    this.compFreed = new Uint8Array(l.maxPorts);
    this.freeSlots = new Uint32Array(l.slotCount);
    for (let s = l.slotCount - 1; s >= 0; s--) this.freeSlots[this.freeTop++] = s;
    this.firstLarge = l.slotCount;
    this.freeLarge = new Uint32Array(l.largeSlotCount);
    for (let k = l.largeSlotCount - 1; k >= 0; k--) this.freeLarge[this.largeTop++] = l.slotCount + k * l.largeSlotSpan;
    this.vnet = new Uint8Array(l.maxPorts);
    Atomics.store(this.words, this.jsSleepingWord, 1);
  }

  get maxPorts(): number {
    return this.layout.maxPorts;
  }
  get freeSlotCount(): number {
    return this.freeTop;
  }
  slotOffset(slot: number): number {
    return this.slotsOffset + slot * this.slotSize;
  }

  /**
   * Opens a TAP (or TUN) on a port and starts its thread. With `offload` (a TAP, and an engine
   * with large slots), the kernel hands over and takes GSO super-frames, each with its
   * virtio-net header just before the frame (vnetHeaderOf).
   */
  openTap(port: number, name: string, mode: TapMode = 'auto', kind: TapKind = 'tap', offload = false): TapInfo {
    if (offload && (kind !== 'tap' || this.layout.largeSlotCount === 0)) throw new Error(`${name}: offloads need a TAP and an engine with large slots`);
    return this.openPort(port, () => this.backend.openTap(port, name, mode, kind, offload));
  }

  /** Bytes of virtio-net header before each frame on `port`: 0, or VNET_HEADER_BYTES with offloads. */
  vnetHeaderOf(port: number): number {
    return this.vnet[port];
  }

  get freeLargeSlotCount(): number {
    return this.largeTop;
  }

  /** A raw tunnel socket on a port (the agent's decapsulation): IP-in-IP, or IPv6-in-IPv6. */
  openRawTunnel(port: number, family: 4 | 6): TapInfo {
    return this.openPort(port, () => this.backend.openRawTunnel(port, family));
  }

  private openPort(port: number, open: () => TapInfo): TapInfo {
    this.checkPort(port);
    if (this.state[port] !== PortState.Closed) throw new Error(`port ${port} is already open`);
    for (const ring of this.rings[port]) ring.reset();
    const info = open();
    this.state[port] = PortState.Served;
    this.vnet[port] = info.vnetHeader;
    this.refill(port);
    this.rings[port][RingId.Fill].publish();
    this.rings[port][RingId.FillLarge].publish();
    this.backend.start(port);
    return info;
  }

  closePort(port: number): void {
    this.checkPort(port);
    if (this.state[port] === PortState.Closed) return;
    this.backend.closePort(port);
    this.state[port] = PortState.Closed;
    this.vnet[port] = 0;
    // The thread is gone: every slot still queued on this port's rings comes home.
    for (const ring of this.rings[port]) {
      ring.publish();
      ring.resync(); // for the rings we produce, our consumer mirror is not the thread's
      const n = ring.available();
      for (let i = 0; i < n; i++) this.release(this.words[ring.peekWord(i)]);
      ring.reset();
    }
  }

  /**
   * Hands two open ports to the native forwarder: frames cross between them without
   * JavaScript. Used by the benchmark as the reference limit.
   */
  forwardNatively(a: number, b: number, tapA: string, tapB: string, offload = false): void {
    this.closePort(a);
    this.closePort(b);
    for (const p of [a, b]) for (const ring of this.rings[p]) ring.reset();
    this.vnet[a] = this.backend.openTap(a, tapA, 'attach', 'tap', offload).vnetHeader;
    this.vnet[b] = this.backend.openTap(b, tapB, 'attach', 'tap', offload).vnetHeader;
    for (const p of [a, b]) {
      this.state[p] = PortState.Native;
      this.refill(p);
      this.rings[p][RingId.Fill].publish();
      this.rings[p][RingId.FillLarge].publish();
    }
    this.backend.setPeers(a, b);
    this.backend.start(a);
    this.backend.start(b);
  }

  // ---- the slot pool

  /**
   * Where every slot is: free, or on some port's ring (receive, fill, transmit, completion).
   * Slots counted twice, or nowhere, are a bug; a test's leak check, never the fast path.
   */
  slotCensus(): { free: number; onRings: number; duplicated: number; missing: number } {
    const l = this.layout;
    const seen = new Uint8Array(l.slotCount + l.largeSlotCount * l.largeSlotSpan);
    let duplicated = 0;
    const mark = (s: number) => (seen[s]++ ? duplicated++ : 0);
    for (let i = 0; i < this.freeTop; i++) mark(this.freeSlots[i]);
    for (let i = 0; i < this.largeTop; i++) mark(this.freeLarge[i]);
    // Only a large slot's first number is ever used: its others count as present.
    for (let k = 0; k < l.largeSlotCount; k++) seen.fill(1, l.slotCount + k * l.largeSlotSpan + 1, l.slotCount + (k + 1) * l.largeSlotSpan);
    let onRings = 0;
    for (let p = 0; p < this.state.length; p++) {
      if (this.state[p] === PortState.Closed) continue;
      for (const ring of this.rings[p]) ring.forEachSlot((s) => (onRings++, mark(s)));
    }
    const missing = seen.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
    return { free: this.freeTop, onRings, duplicated, missing };
  }

  /**
   * A free slot for a frame the router builds, or -1 (counted) when the pool is empty. Its
   * virtio-net header is zeroed: a built frame is a plain one (no GSO, checksums complete).
   */
  allocate(): number {
    if (this.freeTop === 0) {
      this.counters.no_free_slot++;
      return -1;
    }
    const slot = this.freeSlots[--this.freeTop];
    if (this.layout.largeSlotCount > 0) {
      const at = this.slotsOffset + slot * this.slotSize + this.layout.headroom;
      this.bytes.fill(0, at - VNET_HEADER_BYTES, at);
    }
    return slot;
  }

  release(slot: number): void {
    if (slot >= this.firstLarge) this.freeLarge[this.largeTop++] = slot;
    else this.freeSlots[this.freeTop++] = slot;
  }

  /** Queues a frame for transmission; the slot is the port's until it completes. */
  transmit(port: number, slot: number, offset: number, length: number): boolean {
    if (this.state[port] !== PortState.Closed && this.txRings[port].tryPut(slot, offset, length)) return true;
    return this.refuseTransmit(slot);
  }
  /** A frame that transmit() could not queue (its port closed, or its TX ring full): counted, and its slot back in the pool. */
  refuseTransmit(slot: number): false {
    this.counters.tx_ring_full++;
    this.release(slot);
    return false;
  }

  // ---- batches

  /**
   * Handles every frame that is waiting; returns how many. Tests call it directly.
   *
   * Back-pressure: a round takes no more frames than the fullest TX ring has room for. What
   * cannot go out stays in its RX ring, so the port thread stops reading and the kernel drops
   * at the TAP queue, instead of our reading a frame only to drop it (the native forwarder
   * behaves the same way). Completions wake us when TX rings drain.
   */
  poll(limit = FRAMES_PER_TURN): number {
    let handled = 0;
    for (let round = 0; handled < limit; round++) {
      let thisRound = 0;
      this.handler.beginBatch?.();
      for (let p = 0; p < this.state.length; p++) if (this.state[p] === PortState.Served) this.reclaimCompleted(p);
      let budget = this.txBudget();
      for (let p = 0; p < this.state.length && budget > 0; p++) {
        if (this.state[p] !== PortState.Served) continue;
        const rx = this.rings[p][RingId.Rx];
        const n = Math.min(rx.available(), budget);
        budget -= n;
        if (n === 0) continue;
        const handler = this.handler;
        if (handler.receiveBurst !== undefined) {
          this.burst.point(p, rx, n);
          handler.receiveBurst(this.burst);
        } else {
          for (let i = 0; i < n; i++) {
            const w = rx.peekWord(i);
            const packed = this.words[w + 1];
            handler.receive(p, this.words[w], packed & Descriptor.OffsetMask, packed >>> Descriptor.OffsetBits);
          }
        }
        rx.consume(n);
        this.rxTaken[p] = 1;
        thisRound += n;
      }
      handled += thisRound;
      this.flush();
      if (thisRound === 0) break;
    }
    return handled;
  }

  /** Room in the fullest TX ring: how many frames this round may take. */
  private txBudget(): number {
    let budget = this.layout.ringSize;
    for (let p = 0; p < this.state.length; p++) {
      if (this.state[p] === PortState.Served) budget = Math.min(budget, this.txRings[p].freeNow());
    }
    return budget;
  }

  /**
   * Publishes staged transmissions and refills, and kicks a sleeping port thread only when it
   * has something new to do: frames to send, or, after it stalled, slots to read into or RX
   * ring room (without the kick it would sleep until its poll() backstop).
   */
  flush(): void {
    for (let p = 0; p < this.state.length; p++) {
      if (this.state[p] !== PortState.Served) continue;
      const sent = this.txRings[p].publish();
      this.refill(p);
      const filled = this.rings[p][RingId.Fill].publish() + this.rings[p][RingId.FillLarge].publish();
      const roomMade = filled || this.rxTaken[p];
      this.rxTaken[p] = 0;
      // Frames still waiting in TX after completions were taken: the port stopped on a full
      // completion ring and has nothing new to wake it (with TX full, poll() takes no more RX).
      const unstuck = this.compFreed[p] !== 0 && this.txRings[p].freeNow() < this.layout.ringSize;
      this.compFreed[p] = 0;
      const w = this.portWordBase[p];
      if (!(sent || roomMade || unstuck) || !Atomics.load(this.words, w + PortWord.Sleeping)) continue;
      if (sent || unstuck || Atomics.load(this.words, w + PortWord.RxStalled)) this.backend.kick(p);
    }
  }

  private reclaimCompleted(port: number): void {
    const comp = this.rings[port][RingId.Comp];
    const n = comp.available();
    if (n === 0) return;
    // release() for each, in bulk: this runs once per frame sent.
    const from = this.freeTop;
    let top = comp.takeSlots(n, this.freeSlots, from);
    if (this.freeLarge.length > 0) {
      // A super-frame's large slot goes to its own stack.
      const freeSlots = this.freeSlots, firstLarge = this.firstLarge;
      for (let i = from; i < top; ) {
        if (freeSlots[i] < firstLarge) i++;
        else {
          this.freeLarge[this.largeTop++] = freeSlots[i];
          freeSlots[i] = freeSlots[--top];
        }
      }
    }
    this.freeTop = top;
    this.compFreed[port] = 1;
  }

  /**
   * Gives a port free slots to read into. When slots are scarce, no port takes more than an
   * equal share of what is left, so one busy port cannot starve the others' receive rings.
   */
  private refill(port: number): void {
    const fill = this.rings[port][RingId.Fill];
    const spare = this.freeTop - LOCAL_RESERVE;
    if (spare <= 0) return;
    let n = fill.free();
    if (n * this.openPorts > spare) n = Math.min(n, Math.ceil(spare / this.openPorts));
    if (n > 0) this.freeTop = fill.putSlots(n, this.freeSlots, this.freeTop);
    if (this.vnet[port] === 0) return;
    const large = this.rings[port][RingId.FillLarge];
    let m = Math.min(this.largeTop, LARGE_FILL_PER_PORT - (this.layout.ringSize - large.freeNow()));
    while (m-- > 0) large.put(this.freeLarge[--this.largeTop], 0, 0);
  }

  private get openPorts(): number {
    let n = 0;
    for (let p = 0; p < this.state.length; p++) if (this.state[p] === PortState.Served) n++;
    return n;
  }

  /** Work that is ours now: completions, or frames we have TX room for. */
  private pending(): boolean {
    const canSend = this.txBudget() > 0;
    for (let p = 0; p < this.state.length; p++) {
      if (this.state[p] !== PortState.Served) continue;
      if (this.rings[p][RingId.Comp].available() || (canSend && this.rings[p][RingId.Rx].available())) return true;
    }
    return false;
  }

  /** Runs when a port thread wakes us: drain, then sleep, re-checking to close the race. */
  private onWake(): void {
    this.turnScheduled = false;
    if (this.destroyed) return;
    if (this.poll() >= FRAMES_PER_TURN) {
      // Still busy: yield to timers and I/O, and come straight back.
      this.scheduleTurn();
      return;
    }
    Atomics.store(this.words, this.jsSleepingWord, 1);
    if (this.pending() && Atomics.exchange(this.words, this.jsSleepingWord, 0) === 1) this.scheduleTurn();
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => this.onWake());
  }

  portCounters(port: number): Record<PortCounterName, number> {
    const view = this.portCounterViews[port];
    const out = {} as Record<PortCounterName, number>;
    PORT_COUNTERS.forEach((name, i) => (out[name] = view[i]));
    return out;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (let p = 0; p < this.state.length; p++) if (this.state[p] !== PortState.Closed) this.closePort(p);
    this.backend.destroy();
  }

  private checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.layout.maxPorts) {
      throw new RangeError(`port ${port} is out of range 0..${this.layout.maxPorts - 1}`);
    }
  }
}
