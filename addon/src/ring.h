// Native side of one single-producer/single-consumer descriptor ring (see layout.h).
#pragma once
#include <cstdint>

#include "layout.h"

namespace tapvs {

struct Descriptor {
  uint32_t slot;
  uint32_t offset;
  uint32_t length;
};

class Ring {
 public:
  Ring() = default;
  Ring(uint8_t* base, uint32_t size)
      : producer_(reinterpret_cast<uint32_t*>(base + kRingProducerByte)),
        consumer_(reinterpret_cast<uint32_t*>(base + kRingConsumerByte)),
        entries_(reinterpret_cast<uint32_t*>(base + kRingEntriesByte)),
        mask_(size - 1) {}

  // Consumer side.
  uint32_t Available() const { return Load(producer_) - Load(consumer_); }
  Descriptor Peek(uint32_t ahead = 0) const {
    uint32_t i = ((Load(consumer_) + ahead) & mask_) * 2;
    uint32_t packed = entries_[i + 1];
    return Descriptor{entries_[i], packed & kOffsetMask, packed >> kOffsetBits};
  }
  void Consume(uint32_t n) { Store(consumer_, Load(consumer_) + n); }

  // Producer side: Put() stages entries past the producer index, Publish() makes them visible.
  uint32_t Free() const { return mask_ + 1 - (Load(producer_) - Load(consumer_)); }
  void Put(uint32_t ahead, uint32_t slot, uint32_t offset, uint32_t length) {
    uint32_t i = ((Load(producer_) + ahead) & mask_) * 2;
    entries_[i] = slot;
    entries_[i + 1] = (length << kOffsetBits) | offset;
  }
  void Publish(uint32_t n) { Store(producer_, Load(producer_) + n); }

 private:
  // Sequentially consistent on purpose: a producer's index store must not pass its later
  // load of the peer's sleeping flag (the lost-wake-up race), and x86 reorders store->load.
  static uint32_t Load(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
  static void Store(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

  uint32_t* producer_ = nullptr;
  uint32_t* consumer_ = nullptr;
  uint32_t* entries_ = nullptr;
  uint32_t mask_ = 0;
};

}  // namespace tapvs
