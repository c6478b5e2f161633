#include "port.h"

#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "engine.h"

namespace tapvs {
namespace {
// Frames moved per ring publish. Large enough to amortise the publish and the wake-up,
// small enough that the other side starts on the batch while we read the next one.
constexpr uint32_t kBatch = 64;
// poll() backstop: a missed kick costs at most this much latency, never a hang.
constexpr int kPollBackstopMs = 100;
}  // namespace

Port::Port(Engine& engine, uint32_t index) : engine_(engine), index_(index) {
  const Layout& l = engine.layout();
  uint8_t* base = engine.base() + l.ports_offset + size_t(index) * l.port_stride;
  for (uint32_t r = 0; r < kRingCount; r++) rings_[r] = Ring(base + r * l.ring_stride, l.ring_size);
  words_ = reinterpret_cast<uint32_t*>(base + l.port_control_offset);
  counters_ = reinterpret_cast<double*>(base + l.port_control_offset + kPortWords * 4);
}

Port::~Port() { Close(); }

void Port::Attach(TapInfo tap) {
  if (open()) {
    close(tap.fd);
    throw std::runtime_error("port " + std::to_string(index_) + " is already open");
  }
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    int err = errno;
    close(tap.fd);
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(err));
  }
  tap_ = std::move(tap);
  std::memset(counters_, 0, kCtrCount * sizeof(double));
}

void Port::Start() {
  if (!open()) throw std::runtime_error("port " + std::to_string(index_) + " is not open");
  if (thread_.joinable()) return;
  stop_ = false;
  __atomic_store_n(&Word(kPortState), 1, __ATOMIC_SEQ_CST);
  thread_ = std::thread([this] { Run(); });
}

void Port::Close() {
  if (thread_.joinable()) {
    stop_ = true;
    Kick();
    thread_.join();
  }
  __atomic_store_n(&Word(kPortState), 0, __ATOMIC_SEQ_CST);
  if (tap_.fd >= 0) close(tap_.fd);
  if (event_fd_ >= 0) close(event_fd_);
  tap_ = TapInfo();
  event_fd_ = -1;
  peer_ = nullptr;
}

void Port::Kick() {
  if (event_fd_ < 0) return;
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the thread will wake anyway.
  ssize_t ignored = write(event_fd_, &one, sizeof one);
  (void)ignored;
}

void Port::KickIfSleeping() {
  if (__atomic_load_n(&Word(kPortSleeping), __ATOMIC_SEQ_CST)) Kick();
}

void Port::NotifyConsumerOf(Ring& ring) {
  // Rings leading to JavaScript are ours; rings leading to the peer are the peer's.
  if (peer_ && (&ring == &peer_->ring(kRingTx) || &ring == &peer_->ring(kRingFill) || &ring == &peer_->ring(kRingFillLarge))) {
    peer_->KickIfSleeping();
  } else {
    if (engine_.WakeJavaScript()) Counter(kCtrWakeups)++;
  }
}

bool Port::Transmit(bool& would_block) {
  Ring& tx = rings_[kRingTx];
  // Sent slots go home: to JavaScript's completion ring, or (native forwarding) straight back
  // to the peer's fill rings, a large slot to its large one.
  Ring& done_out = peer_ ? peer_->ring(kRingFill) : rings_[kRingComp];
  Ring& done_large = peer_ ? peer_->ring(kRingFillLarge) : rings_[kRingComp];
  const bool split = peer_ != nullptr;
  // Each sent slot needs room in the ring it goes home to: the two are counted apart, since
  // a peer's full fill ring must not hold up its large slots (or the other way round).
  const uint32_t room_small = done_out.Free();
  const uint32_t room_large = split ? done_large.Free() : room_small;
  uint32_t todo = std::min(tx.Available(), kBatch * 4);
  uint8_t* slots = engine_.slots();
  const uint32_t slot_size = engine_.layout().slot_size;
  const uint32_t small_slots = engine_.layout().slot_count;
  uint32_t done = 0, done_small = 0, done_big = 0;
  while (done < todo) {
    Descriptor d = tx.Peek(done);
    const bool goes_large = split && d.slot >= small_slots;
    if (goes_large ? done_big >= room_large : done_small >= room_small) break;
    // The virtio-net header, when the TAP has one, sits just before the frame.
    const uint32_t vnet = tap_.vnet_header;
    ssize_t n = write(tap_.fd, slots + size_t(d.slot) * slot_size + d.offset - vnet, d.length + vnet);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      would_block = errno == EAGAIN;
      break;
    }
    if (n < 0) {
      Counter(kCtrTxErrors)++;
    } else {
      Counter(kCtrTxFrames)++;
      Counter(kCtrTxBytes) += double(n - vnet);
    }
    if (goes_large) {
      done_large.Put(done_big++, d.slot, 0, 0);
    } else {
      done_out.Put(done_small++, d.slot, 0, 0);
    }
    done++;
  }
  if (!done) return false;
  tx.Consume(done);
  done_out.Publish(done_small);
  NotifyConsumerOf(done_out);
  if (done_big) {
    done_large.Publish(done_big);
    NotifyConsumerOf(done_large);
  }
  return true;
}

// A raw IPv6 socket gives no outer header: its sender's address goes in front of the packet,
// read into the same slot by the same one syscall (recvmsg in place of readv).
ssize_t Port::ReadWithSource(uint8_t* at, uint32_t room) {
  const uint32_t prefix = tap_.source_prefix;
  struct sockaddr_in6 from;
  struct iovec iov = {at + prefix, room - prefix};
  struct msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n = recvmsg(tap_.fd, &msg, 0);
  if (n < 0) return n;
  std::memcpy(at, &from.sin6_addr, prefix);
  return n + prefix;
}

bool Port::Receive(bool& drained) {
  Ring& fill = rings_[kRingFill];
  Ring& fill_large = rings_[kRingFillLarge];
  Ring& rx_out = peer_ ? peer_->ring(kRingTx) : rings_[kRingRx];
  // With offloads any frame may be a super-frame: no read without a large slot to spill into
  // (the kernel keeps the frame queued), rather than a read that must cut one short.
  const uint32_t vnet = tap_.vnet_header;
  const uint32_t large_free = vnet ? fill_large.Available() : 0;
  uint32_t todo = std::min({fill.Available(), rx_out.Free(), kBatch});
  if (vnet && large_free == 0) todo = 0;
  if (todo == 0) {
    if (!stalled_) {
      Counter(kCtrRxStalls)++;
      __atomic_store_n(&Word(kPortRxStalled), 1, __ATOMIC_SEQ_CST);
    }
    stalled_ = true;
    return false;
  }
  if (stalled_) __atomic_store_n(&Word(kPortRxStalled), 0, __ATOMIC_SEQ_CST);
  stalled_ = false;
  uint8_t* slots = engine_.slots();
  const Layout& l = engine_.layout();
  // The frame starts at the headroom either way; a virtio-net header goes just before it.
  // With offloads, one readv() fills a slot and runs on into a large slot's tail: a
  // super-frame's head is then copied across (one slot's worth), a small frame leaves the
  // large slot for the next read.
  const uint32_t room = l.slot_size - l.headroom + vnet;
  const uint32_t large_room = l.large_span * l.slot_size - l.headroom + vnet;
  uint32_t got = 0, used = 0, large_used = 0;
  while (used < todo && got < todo && (!vnet || large_used < large_free)) {
    uint32_t slot = fill.Peek(used).slot;
    uint8_t* at = slots + size_t(slot) * l.slot_size + l.headroom - vnet;
    struct iovec iov[2] = {{at, room}, {nullptr, 0}};
    uint32_t large = 0, capacity = room;
    if (large_used < large_free) {
      large = fill_large.Peek(large_used).slot;
      iov[1] = {slots + size_t(large) * l.slot_size + l.headroom - vnet + room, large_room - room};
      capacity = large_room;
    }
    ssize_t n = tap_.source_prefix ? ReadWithSource(at, room) : readv(tap_.fd, iov, capacity == room ? 1 : 2);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) Counter(kCtrReadErrors)++;
      drained = true;
      break;
    }
    // A frame that filled the space exactly may have been cut short by the kernel.
    if (uint32_t(n) >= capacity || uint32_t(n) < vnet) {
      Counter(kCtrTruncated)++;
      continue;
    }
    if (uint32_t(n) > room) {
      std::memcpy(slots + size_t(large) * l.slot_size + l.headroom - vnet, at, room);
      rx_out.Put(got, large, l.headroom, uint32_t(n) - vnet);
      large_used++;
    } else {
      rx_out.Put(got, slot, l.headroom, uint32_t(n) - vnet);
      used++;
    }
    Counter(kCtrRxFrames)++;
    Counter(kCtrRxBytes) += double(n - vnet);
    got++;
  }
  if (!got) return false;
  fill.Consume(used);
  if (large_used) fill_large.Consume(large_used);
  rx_out.Publish(got);
  NotifyConsumerOf(rx_out);
  return true;
}

void Port::SleepUntilWork(bool would_block) {
  Ring& tx = rings_[kRingTx];
  Ring& fill = rings_[kRingFill];
  Ring& rx_out = peer_ ? peer_->ring(kRingTx) : rings_[kRingRx];
  Ring& done_out = peer_ ? peer_->ring(kRingFill) : rings_[kRingComp];

  __atomic_store_n(&Word(kPortSleeping), 1, __ATOMIC_SEQ_CST);
  // Re-check after announcing sleep: work queued before the flag was visible gets no kick.
  bool can_send = tx.Available() > 0 && (done_out.Free() > 0 || (peer_ && peer_->ring(kRingFillLarge).Free() > 0));
  bool can_read = fill.Available() > 0 && rx_out.Free() > 0 && (!tap_.vnet_header || rings_[kRingFillLarge].Available() > 0);
  if (!(can_send && !would_block) && !stop_) {
    struct pollfd fds[2];
    fds[0].fd = tap_.fd;
    fds[0].events = short((can_read ? POLLIN : 0) | (would_block ? POLLOUT : 0));
    fds[1].fd = event_fd_;
    fds[1].events = POLLIN;
    int rc = poll(fds, 2, kPollBackstopMs);
    if (rc > 0 && (fds[1].revents & POLLIN)) {
      uint64_t count;
      ssize_t ignored = read(event_fd_, &count, sizeof count);
      (void)ignored;
    }
  }
  __atomic_store_n(&Word(kPortSleeping), 0, __ATOMIC_SEQ_CST);
}

void Port::Run() {
  // Named, so ps -L, top -H and the leak tests can tell the port threads from the runtime's.
  pthread_setname_np(pthread_self(), "tapvs-io");
  while (!stop_.load(std::memory_order_relaxed)) {
    bool would_block = false, drained = false;
    bool sent = Transmit(would_block);
    bool received = Receive(drained);
    if (!sent && !received) SleepUntilWork(would_block);
  }
}

}  // namespace tapvs
