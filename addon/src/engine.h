// The engine: the shared region (header, per-port rings, slot pool), the ports, and the
// single wake-up path into JavaScript.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "layout.h"
#include "port.h"

namespace tapvs {

// The mapped memory. Shared by the engine and the ArrayBuffer JavaScript holds, so
// neither can free it under the other.
struct Region {
  uint8_t* base = nullptr;
  size_t size = 0;
  explicit Region(size_t bytes);
  ~Region();
};

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  explicit Engine(const Napi::CallbackInfo& info);
  ~Engine();

  const Layout& layout() const { return layout_; }
  uint8_t* base() const { return region_->base; }
  uint8_t* slots() const { return region_->base + layout_.slots_offset; }
  // Called from port threads. Returns true when it actually woke a sleeping JavaScript.
  bool WakeJavaScript();

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value OpenTap(const Napi::CallbackInfo& info);
  Napi::Value OpenRawTunnel(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info, Port& port, TapInfo tap);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value ClosePort(const Napi::CallbackInfo& info);
  Napi::Value Kick(const Napi::CallbackInfo& info);
  Napi::Value SetPeers(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);

  Port& PortAt(const Napi::CallbackInfo& info, size_t arg);
  void Shutdown();

  Layout layout_;
  std::shared_ptr<Region> region_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  std::vector<std::unique_ptr<Port>> ports_;
  Napi::ThreadSafeFunction wake_;
  uint32_t* js_sleeping_;
  bool destroyed_ = false;
};

}  // namespace tapvs
