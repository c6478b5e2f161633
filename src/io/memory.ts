// An in-memory backend with the native engine's contract, for tests that run without root.
// Each port is a software wire: inject() plays a frame arriving from the wire, and frames the
// engine transmits are handed to the port's listener (or to a connected port) when kicked.

import type { Backend, TapInfo, TapKind, TapMode } from './backend.js';
import { DEFAULT_LAYOUT, Descriptor, PortWord, RING_COUNT, VNET_HEADER_BYTES, RingId, computeLayout, writeHeader, type Layout, type LayoutOptions } from './layout.js';
import { Ring } from './ring.js';

export type WireListener = (frame: Uint8Array, vnet: Uint8Array | null) => void;

export class MemoryBackend implements Backend {
  readonly layout: Layout;
  private readonly region: ArrayBuffer;
  private readonly words: Uint32Array;
  private readonly bytes: Uint8Array;
  private readonly rings: Ring[][] = [];
  private readonly names: (string | null)[];
  private readonly listeners: (WireListener | null)[];
  private readonly links: number[];
  private readonly vnet: number[];
  private readonly onWake: () => void;

  constructor(options: LayoutOptions, onWake: () => void) {
    this.layout = computeLayout({ ...DEFAULT_LAYOUT, slotCount: 1024, ...options });
    this.region = new ArrayBuffer(this.layout.totalBytes);
    writeHeader(this.region, this.layout);
    this.words = new Uint32Array(this.region, 0, this.layout.slotsOffset >>> 2);
    this.bytes = new Uint8Array(this.region);
    const l = this.layout;
    for (let p = 0; p < l.maxPorts; p++) {
      const base = l.portsOffset + p * l.portStride;
      this.rings.push(Array.from({ length: RING_COUNT }, (_, r) => new Ring(this.words, base + r * l.ringStride, l.ringSize)));
    }
    this.names = new Array(l.maxPorts).fill(null);
    this.listeners = new Array(l.maxPorts).fill(null);
    this.links = new Array(l.maxPorts).fill(-1);
    this.vnet = new Array(l.maxPorts).fill(0);
    this.onWake = onWake;
  }

  buffer(): ArrayBuffer {
    return this.region;
  }

  openTap(port: number, name: string, _mode: TapMode, _kind?: TapKind, offload = false): TapInfo {
    if (this.names[port] !== null) throw new Error(`port ${port} is already open`);
    this.names[port] = name;
    this.vnet[port] = offload ? VNET_HEADER_BYTES : 0;
    for (const ring of this.rings[port]) ring.resync(); // the engine reset them before opening
    // Always "asleep", so the engine kicks after every batch and we deliver synchronously.
    const controlWord = (this.layout.portsOffset + port * this.layout.portStride + this.layout.portControlOffset) >>> 2;
    this.words[controlWord + PortWord.Sleeping] = 1;
    return { name, ifindex: 1000 + port, mtu: 1500, mac: new Uint8Array([0x02, 0, 0, 0, 0xee, port]), created: true, vnetHeader: this.vnet[port], offloads: offload ? 'tx-checksumming tso tso-ecn' : '' };
  }

  openRawTunnel(port: number, family: 4 | 6): TapInfo {
    return this.openTap(port, family === 6 ? 'raw-ip6ip6' : 'raw-ipip', 'create');
  }

  start(_port: number): void {}

  closePort(port: number): void {
    this.names[port] = null;
  }

  /** Frames transmitted on `port` go to `listener`, with their virtio-net header when the port has one. */
  listen(port: number, listener: WireListener | null): void {
    this.listeners[port] = listener;
  }

  /** A cable between two ports (of this backend): what one sends, the other receives. */
  connect(a: number, b: number): void {
    this.links[a] = b;
    this.links[b] = a;
  }

  /**
   * A frame arrives on the port's wire, after `vnet` (its virtio-net header; zeros when not
   * given) on a port with offloads. A frame too big for a slot takes a large one, as the port
   * thread does. Returns false when there is no slot for it (a drop).
   */
  inject(port: number, frame: Uint8Array, vnet: Uint8Array | null = null): boolean {
    const l = this.layout;
    const large = frame.length > l.slotSize - l.headroom;
    const fill = this.rings[port][large ? RingId.FillLarge : RingId.Fill];
    const rx = this.rings[port][RingId.Rx];
    if (this.names[port] === null || fill.available() === 0 || rx.free() === 0) return false;
    if (large && (this.vnet[port] === 0 || frame.length > l.largeSlotSpan * l.slotSize - l.headroom)) return false;
    const slot = this.words[fill.peekWord(0)];
    fill.consume(1);
    const at = l.slotsOffset + slot * l.slotSize + l.headroom;
    this.bytes.set(frame, at);
    if (this.vnet[port]) {
      this.bytes.fill(0, at - this.vnet[port], at);
      if (vnet) this.bytes.set(vnet.subarray(0, this.vnet[port]), at - this.vnet[port]);
    }
    rx.put(slot, l.headroom, frame.length);
    rx.publish();
    return true;
  }

  /**
   * While set, a kick only marks the port: its "thread" sends and completes when
   * releaseTransmits() says. A benchmark times the JavaScript side alone this way, since in
   * the daemon that work is the port thread's (native code), not JavaScript's.
   */
  holdTransmits = false;
  private readonly kicked: boolean[] = [];

  releaseTransmits(): void {
    for (let p = 0; p < this.kicked.length; p++) {
      if (!this.kicked[p]) continue;
      this.kicked[p] = false;
      this.send(p);
    }
  }

  kick(port: number): void {
    if (this.holdTransmits) {
      this.kicked[port] = true;
      return;
    }
    this.send(port);
  }

  /** The port thread's TX work: each frame to its peer, listener or nowhere, then completed. */
  private send(port: number): void {
    const tx = this.rings[port][RingId.Tx];
    const comp = this.rings[port][RingId.Comp];
    const n = Math.min(tx.available(), comp.free());
    for (let i = 0; i < n; i++) {
      const w = tx.peekWord(i);
      const slot = this.words[w];
      const offset = this.words[w + 1] & Descriptor.OffsetMask;
      const length = this.words[w + 1] >>> Descriptor.OffsetBits;
      comp.put(slot, 0, 0);
      const peer = this.links[port];
      const listener = this.listeners[port];
      if (peer < 0 && !listener) continue; // a sink: nothing to copy (benchmarks)
      const at = this.layout.slotsOffset + slot * this.layout.slotSize + offset;
      const frame = this.bytes.slice(at, at + length);
      const vnet = this.vnet[port] ? this.bytes.slice(at - this.vnet[port], at) : null;
      if (peer >= 0) this.inject(peer, frame, vnet);
      else listener!(frame, vnet);
    }
    tx.consume(n);
    comp.publish();
    if (n && this.links[port] >= 0) queueMicrotask(this.onWake);
  }

  setPeers(_a: number, _b: number): void {
    throw new Error('the in-memory backend has no native forwarder');
  }

  destroy(): void {
    this.names.fill(null);
  }
}
