// One TAP port: its file descriptor, its rings in the shared region, and the I/O thread
// that moves frames between the two.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>

#include "layout.h"
#include "ring.h"
#include "tap.h"

namespace tapvs {

class Engine;

class Port {
 public:
  Port(Engine& engine, uint32_t index);
  ~Port();
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  void Attach(TapInfo tap);  // takes ownership of tap.fd
  void Start();
  void Close();              // joins the thread and closes the fd; safe to call twice
  void Kick();               // wake the thread if it sleeps in poll()
  void KickIfSleeping();
  // Native forwarding: frames this port receives go straight to the peer's TX ring, and
  // slots the peer has sent come back to this port's fill ring. No JavaScript involved.
  void SetPeer(Port* peer) { peer_ = peer; }

  bool open() const { return tap_.fd >= 0; }
  const TapInfo& tap() const { return tap_; }
  Ring& ring(RingId id) { return rings_[id]; }

 private:
  void Run();
  bool Transmit(bool& would_block);
  bool Receive(bool& drained);
  ssize_t ReadWithSource(uint8_t* at, uint32_t room);
  void SleepUntilWork(bool would_block);
  void NotifyConsumerOf(Ring& ring);
  uint32_t& Word(PortWord w) { return words_[w]; }
  double& Counter(PortCounter c) { return counters_[c]; }

  Engine& engine_;
  uint32_t index_;
  TapInfo tap_;
  int event_fd_ = -1;
  Port* peer_ = nullptr;
  Ring rings_[kRingCount];
  uint32_t* words_;
  double* counters_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool stalled_ = false;
};

}  // namespace tapvs
