// The shared region's layout, read from the header the native engine wrote (addon/src/layout.h
// is the one place that computes it). Word and counter indices mirror that header.

export const MAGIC = 0x31535654; // "TVS1"
export const LAYOUT_VERSION = 2;
/**
 * A descriptor's second word is length << Descriptor.OffsetBits | offset: offsets below 2048,
 * lengths to 2 MiB. A const enum, so per-frame code has literals: V8 (node 20) loads a
 * module-level const from its context at every use.
 */
export const enum Descriptor {
  OffsetBits = 11,
  OffsetMask = (1 << 11) - 1,
}
/** struct virtio_net_hdr, before every frame of a TAP opened with offloads (addon/src/tap.h). */
export const VNET_HEADER_BYTES = 10;

const enum Hdr {
  Magic = 0,
  Version,
  SlotCount,
  SlotSize,
  Headroom,
  MaxPorts,
  RingSize,
  PortsOffset,
  PortStride,
  SlotsOffset,
  RingStride,
  PortControlOffset,
  LargeSlotCount,
  LargeSlotSpan,
}
export const HEADER_BYTES = 128;
const HEADER_WORDS = 14;
export const JS_SLEEPING_BYTE = 64;
export const RING_PRODUCER_BYTE = 0;
export const RING_CONSUMER_BYTE = 64;
export const RING_ENTRIES_BYTE = 128;

export const enum RingId {
  Fill = 0,
  Rx = 1,
  Tx = 2,
  Comp = 3,
  /** Free large slots (GSO super-frames), for ports with offloads. */
  FillLarge = 4,
}
export const RING_COUNT = 5;
/** The largest frame a large slot takes: a 65535-byte IPv4 packet, Ethernet and a VLAN tag. */
export const MAX_SUPER_FRAME = 65535 + 18;

export const enum PortWord {
  State = 0,
  Sleeping = 1,
  RxStalled = 2,
}
export const PORT_WORDS = 16;

/** Native per-port counters, in the order of addon/src/layout.h. */
export const PORT_COUNTERS = [
  'rx_frames',
  'rx_bytes',
  'tx_frames',
  'tx_bytes',
  'rx_stalls',
  'tx_errors',
  'read_errors',
  'rx_truncated',
  'js_wakeups',
] as const;
export type PortCounterName = (typeof PORT_COUNTERS)[number];

export interface Layout {
  slotCount: number;
  slotSize: number;
  headroom: number;
  maxPorts: number;
  ringSize: number;
  portsOffset: number;
  portStride: number;
  slotsOffset: number;
  ringStride: number;
  portControlOffset: number;
  /** Large slots follow the ordinary ones; each spans largeSlotSpan slots and is numbered by the first. */
  largeSlotCount: number;
  largeSlotSpan: number;
  totalBytes: number;
}

export interface LayoutOptions {
  slotCount?: number;
  slotSize?: number;
  headroom?: number;
  maxPorts?: number;
  ringSize?: number;
  largeSlots?: number;
}

export function readLayout(buffer: ArrayBuffer): Layout {
  const h = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
  if (h[Hdr.Magic] !== MAGIC || h[Hdr.Version] !== LAYOUT_VERSION) {
    throw new Error(`shared region: bad magic/version ${h[Hdr.Magic].toString(16)}/${h[Hdr.Version]} (addon and JavaScript out of step? rebuild)`);
  }
  return {
    slotCount: h[Hdr.SlotCount],
    slotSize: h[Hdr.SlotSize],
    headroom: h[Hdr.Headroom],
    maxPorts: h[Hdr.MaxPorts],
    ringSize: h[Hdr.RingSize],
    portsOffset: h[Hdr.PortsOffset],
    portStride: h[Hdr.PortStride],
    slotsOffset: h[Hdr.SlotsOffset],
    ringStride: h[Hdr.RingStride],
    portControlOffset: h[Hdr.PortControlOffset],
    largeSlotCount: h[Hdr.LargeSlotCount],
    largeSlotSpan: h[Hdr.LargeSlotSpan],
    totalBytes: buffer.byteLength,
  };
}

/** The same arithmetic as addon/src/layout.h, for the in-memory backend that has no addon. */
export function computeLayout(o: Required<LayoutOptions>): Layout {
  const up = (n: number, to: number) => Math.ceil(n / to) * to;
  const ringStride = up(RING_ENTRIES_BYTE + o.ringSize * 8, 64);
  const portControlOffset = RING_COUNT * ringStride;
  const portStride = up(portControlOffset + PORT_WORDS * 4 + PORT_COUNTERS.length * 8, 64);
  const portsOffset = HEADER_BYTES;
  const slotsOffset = up(portsOffset + o.maxPorts * portStride, 4096);
  const largeSlotSpan = o.largeSlots ? up(o.headroom + MAX_SUPER_FRAME, o.slotSize) / o.slotSize : 0;
  return {
    slotCount: o.slotCount,
    slotSize: o.slotSize,
    headroom: o.headroom,
    maxPorts: o.maxPorts,
    ringSize: o.ringSize,
    portsOffset,
    portStride,
    slotsOffset,
    ringStride,
    portControlOffset,
    largeSlotCount: o.largeSlots,
    largeSlotSpan,
    totalBytes: slotsOffset + (o.slotCount + o.largeSlots * largeSlotSpan) * o.slotSize,
  };
}

/** Writes the header as the native engine would, so readLayout() accepts a JS-made region. */
export function writeHeader(buffer: ArrayBuffer, l: Layout): void {
  const h = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
  h[Hdr.Magic] = MAGIC;
  h[Hdr.Version] = LAYOUT_VERSION;
  h[Hdr.SlotCount] = l.slotCount;
  h[Hdr.SlotSize] = l.slotSize;
  h[Hdr.Headroom] = l.headroom;
  h[Hdr.MaxPorts] = l.maxPorts;
  h[Hdr.RingSize] = l.ringSize;
  h[Hdr.PortsOffset] = l.portsOffset;
  h[Hdr.PortStride] = l.portStride;
  h[Hdr.SlotsOffset] = l.slotsOffset;
  h[Hdr.RingStride] = l.ringStride;
  h[Hdr.PortControlOffset] = l.portControlOffset;
  h[Hdr.LargeSlotCount] = l.largeSlotCount;
  h[Hdr.LargeSlotSpan] = l.largeSlotSpan;
}

export const DEFAULT_LAYOUT: Required<LayoutOptions> = {
  slotCount: 16384,
  slotSize: 2048,
  headroom: 128,
  maxPorts: 8,
  ringSize: 1024,
  largeSlots: 0,
};

/** The fixed offsets and indices the addon exports (addon/src/engine.cc, from layout.h). */
export interface NativeLayoutConstants {
  magic: number;
  version: number;
  headerBytes: number;
  headerWords: number;
  jsSleepingByte: number;
  ringProducerByte: number;
  ringConsumerByte: number;
  ringEntriesByte: number;
  ringCount: number;
  portWords: number;
  portWordSleeping: number;
  portWordRxStalled: number;
  portCounters: number;
  offsetBits: number;
  vnetHeaderBytes: number;
}

/**
 * Checks this file's copy of the layout against the addon's, field by field: a mismatch (an
 * addon and a JavaScript bundle from different builds) stops start-up with what differs.
 */
export function checkNativeLayout(n: NativeLayoutConstants): void {
  const ours: NativeLayoutConstants = {
    magic: MAGIC,
    version: LAYOUT_VERSION,
    headerBytes: HEADER_BYTES,
    headerWords: HEADER_WORDS,
    jsSleepingByte: JS_SLEEPING_BYTE,
    ringProducerByte: RING_PRODUCER_BYTE,
    ringConsumerByte: RING_CONSUMER_BYTE,
    ringEntriesByte: RING_ENTRIES_BYTE,
    ringCount: RING_COUNT,
    portWords: PORT_WORDS,
    portWordSleeping: PortWord.Sleeping,
    portWordRxStalled: PortWord.RxStalled,
    portCounters: PORT_COUNTERS.length,
    offsetBits: Descriptor.OffsetBits,
    vnetHeaderBytes: VNET_HEADER_BYTES,
  };
  const differ = (Object.keys(ours) as (keyof NativeLayoutConstants)[]).filter((k) => n[k] !== ours[k]);
  if (differ.length) throw new Error(`shared region: the addon and the JavaScript disagree on ${differ.map((k) => `${k} (${n[k]} vs ${ours[k]})`).join(', ')}: rebuild both (npm run build)`);
}
