// The shared region: one ArrayBuffer that JavaScript and the port threads both see.
//
// [ header | port 0 | port 1 | ... | slots | large slots ]
//
// A large slot holds a GSO super-frame (64 KiB and its virtio-net header): it spans
// largeSlotSpan ordinary slots and is numbered by the first, so a slot's bytes are always at
// slots + slot * slotSize, whatever its class. Only TAPs with offloads receive into them.
//
// Every port owns five single-producer/single-consumer rings, in the AF_XDP style:
//   fill  JS -> thread   free slots the thread may read frames into
//   fill-large JS -> thread  free large slots, for a frame that does not fit a slot
//   rx    thread -> JS   slots holding received frames
//   tx    JS -> thread   slots holding frames to write (may belong to another port's RX)
//   comp  thread -> JS   slots the thread has written and hands back
// Producer and consumer indices are free-running u32 counters, each on its own cache
// line. A descriptor is two u32: the slot number and (length << kOffsetBits | offset in
// slot): offsets stay below 2048 (the headroom and what encapsulation moves), lengths reach
// 2 MiB, room for a 64 KiB GSO super-frame and its virtio-net header.
//
// The layout numbers are written into the header by the engine, so the TypeScript side
// reads them instead of repeating this arithmetic.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tapvs {

constexpr uint32_t kMagic = 0x31535654;  // "TVS1"
constexpr uint32_t kLayoutVersion = 2;
constexpr uint32_t kOffsetBits = 11;
constexpr uint32_t kOffsetMask = (1u << kOffsetBits) - 1;
constexpr size_t kCacheLine = 64;

// Header words (u32 index).
enum HeaderWord : uint32_t {
  kHdrMagic = 0,
  kHdrVersion,
  kHdrSlotCount,
  kHdrSlotSize,
  kHdrHeadroom,
  kHdrMaxPorts,
  kHdrRingSize,
  kHdrPortsOffset,
  kHdrPortStride,
  kHdrSlotsOffset,
  kHdrRingStride,
  kHdrPortControlOffset,
  kHdrLargeSlotCount,
  kHdrLargeSlotSpan,
  kHdrWords,
};
// Written by JS (1 = asleep, wake me); exchanged to 0 by the thread that wakes it.
constexpr size_t kHdrJsSleepingByte = kCacheLine;
constexpr size_t kHeaderBytes = 2 * kCacheLine;

// Ring: producer index line, consumer index line, then ringSize descriptors of 8 bytes.
constexpr size_t kRingProducerByte = 0;
constexpr size_t kRingConsumerByte = kCacheLine;
constexpr size_t kRingEntriesByte = 2 * kCacheLine;
enum RingId : uint32_t { kRingFill = 0, kRingRx = 1, kRingTx = 2, kRingComp = 3, kRingFillLarge = 4, kRingCount = 5 };

// Port control block, after the four rings: u32 words then f64 counters.
enum PortWord : uint32_t {
  kPortState = 0,     // 0 closed, 1 running
  kPortSleeping = 1,  // thread is (about to be) blocked in poll(); JS must kick it
  kPortRxStalled = 2, // reading stopped for want of free slots or RX ring space
  kPortWords = 16,
};
// Counters (f64 index after the u32 words), written only by the port thread.
enum PortCounter : uint32_t {
  kCtrRxFrames = 0,
  kCtrRxBytes,
  kCtrTxFrames,
  kCtrTxBytes,
  kCtrRxStalls,     // times reading stopped because no free slot or the rx ring was full
  kCtrTxErrors,     // write() failed for a reason other than EAGAIN: frame dropped
  kCtrReadErrors,   // read() failed for a reason other than EAGAIN
  kCtrTruncated,    // frame longer than a slot: dropped
  kCtrWakeups,      // times the thread woke JavaScript
  kCtrCount,
};
constexpr size_t kPortControlBytes = kPortWords * 4 + kCtrCount * 8;

inline size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// The largest frame a large slot takes: an IPv4 packet of 65535 bytes, Ethernet and a VLAN tag.
constexpr uint32_t kMaxSuperFrame = 65535 + 18;

struct Layout {
  uint32_t slot_count, slot_size, headroom, max_ports, ring_size, large_count, large_span;
  size_t ring_stride, port_control_offset, port_stride, ports_offset, slots_offset, total;

  Layout(uint32_t slots, uint32_t slot_bytes, uint32_t head, uint32_t ports, uint32_t ring, uint32_t large)
      : slot_count(slots), slot_size(slot_bytes), headroom(head), max_ports(ports), ring_size(ring), large_count(large) {
    ring_stride = RoundUp(kRingEntriesByte + size_t(ring) * 8, kCacheLine);
    port_control_offset = kRingCount * ring_stride;
    port_stride = RoundUp(port_control_offset + kPortControlBytes, kCacheLine);
    ports_offset = kHeaderBytes;
    slots_offset = RoundUp(ports_offset + size_t(ports) * port_stride, 4096);
    large_span = large ? uint32_t(RoundUp(head + kMaxSuperFrame, slot_bytes) / slot_bytes) : 0;
    total = slots_offset + (size_t(slots) + size_t(large) * large_span) * slot_bytes;
  }
};

}  // namespace tapvs
