#include "engine.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace tapvs {

Region::Region(size_t bytes) : size(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base = static_cast<uint8_t*>(p);
}

Region::~Region() { munmap(base, size); }

namespace {

uint32_t Option(const Napi::Object& o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

bool PowerOfTwo(uint32_t v) { return v && !(v & (v - 1)); }

Layout ValidatedLayout(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "Engine(options, onWake): options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  Layout l(Option(o, "slotCount", 4096), Option(o, "slotSize", 2048), Option(o, "headroom", 128),
           Option(o, "maxPorts", 8), Option(o, "ringSize", 1024), Option(o, "largeSlots", 0));
  auto bad = [&](const std::string& m) { return Napi::RangeError::New(info.Env(), "Engine: " + m); };
  if (!PowerOfTwo(l.ring_size) || l.ring_size < 8 || l.ring_size > 65536) throw bad("ringSize must be a power of two in 8..65536");
  if (l.slot_size < 256 || l.slot_size > 65535 || l.slot_size % 64) throw bad("slotSize must be a multiple of 64 in 256..65535");
  if (l.large_count > 4096) throw bad("largeSlots must be at most 4096");
  if (l.headroom >= l.slot_size - 128 || l.headroom % 2 || l.headroom < 16 || l.headroom > 1024) throw bad("headroom must be even, in 16..1024 (a virtio-net header and encapsulation fit), and leave at least 128 bytes of the slot");
  if (l.max_ports < 1 || l.max_ports > 64) throw bad("maxPorts must be in 1..64");
  if (l.slot_count < 64 || l.slot_count > (1u << 22)) throw bad("slotCount must be in 64..4194304");
  return l;
}

}  // namespace

// The layout's fixed offsets and indices, as layout.h defines them: the JavaScript side
// (src/io/layout.ts) checks its own against these when it loads the addon, so the two can
// never drift apart silently.
static Napi::Object LayoutConstants(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("magic", kMagic);
  o.Set("version", kLayoutVersion);
  o.Set("headerBytes", uint32_t(kHeaderBytes));
  o.Set("headerWords", uint32_t(kHdrWords));
  o.Set("jsSleepingByte", uint32_t(kHdrJsSleepingByte));
  o.Set("ringProducerByte", uint32_t(kRingProducerByte));
  o.Set("ringConsumerByte", uint32_t(kRingConsumerByte));
  o.Set("ringEntriesByte", uint32_t(kRingEntriesByte));
  o.Set("ringCount", uint32_t(kRingCount));
  o.Set("portWords", uint32_t(kPortWords));
  o.Set("portWordSleeping", uint32_t(kPortSleeping));
  o.Set("portWordRxStalled", uint32_t(kPortRxStalled));
  o.Set("portCounters", uint32_t(kCtrCount));
  o.Set("offsetBits", kOffsetBits);
  o.Set("vnetHeaderBytes", uint32_t(kVnetHeaderBytes));
  return o;
}

Napi::Object Engine::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Engine",
                                    {
                                        InstanceMethod("buffer", &Engine::Buffer),
                                        InstanceMethod("openTap", &Engine::OpenTap),
                                        InstanceMethod("openRawTunnel", &Engine::OpenRawTunnel),
                                        InstanceMethod("start", &Engine::Start),
                                        InstanceMethod("closePort", &Engine::ClosePort),
                                        InstanceMethod("kick", &Engine::Kick),
                                        InstanceMethod("setPeers", &Engine::SetPeers),
                                        InstanceMethod("destroy", &Engine::Destroy),
                                    });
  exports.Set("Engine", ctor);
  exports.Set("layout", LayoutConstants(env));
  return exports;
}

Engine::Engine(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Engine>(info), layout_(ValidatedLayout(info)) {
  Napi::Env env = info.Env();
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "Engine(options, onWake): onWake must be a function");
  region_ = std::make_shared<Region>(layout_.total);

  uint32_t* hdr = reinterpret_cast<uint32_t*>(region_->base);
  hdr[kHdrMagic] = kMagic;
  hdr[kHdrVersion] = kLayoutVersion;
  hdr[kHdrSlotCount] = layout_.slot_count;
  hdr[kHdrSlotSize] = layout_.slot_size;
  hdr[kHdrHeadroom] = layout_.headroom;
  hdr[kHdrMaxPorts] = layout_.max_ports;
  hdr[kHdrRingSize] = layout_.ring_size;
  hdr[kHdrPortsOffset] = uint32_t(layout_.ports_offset);
  hdr[kHdrPortStride] = uint32_t(layout_.port_stride);
  hdr[kHdrSlotsOffset] = uint32_t(layout_.slots_offset);
  hdr[kHdrRingStride] = uint32_t(layout_.ring_stride);
  hdr[kHdrPortControlOffset] = uint32_t(layout_.port_control_offset);
  hdr[kHdrLargeSlotCount] = layout_.large_count;
  hdr[kHdrLargeSlotSpan] = layout_.large_span;
  js_sleeping_ = reinterpret_cast<uint32_t*>(region_->base + kHdrJsSleepingByte);

  auto* keep = new std::shared_ptr<Region>(region_);
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(
      env, region_->base, region_->size, [](Napi::Env, void*, std::shared_ptr<Region>* k) { delete k; }, keep);
  buffer_ = Napi::Persistent(buf);

  for (uint32_t i = 0; i < layout_.max_ports; i++) ports_.push_back(std::make_unique<Port>(*this, i));
  wake_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tapvs-wake", 0, 1);
}

Engine::~Engine() { Shutdown(); }

bool Engine::WakeJavaScript() {
  if (!__atomic_exchange_n(js_sleeping_, 0, __ATOMIC_SEQ_CST)) return false;
  return wake_.NonBlockingCall() == napi_ok;
}

void Engine::Shutdown() {
  if (destroyed_) return;
  destroyed_ = true;
  for (auto& p : ports_) p->Close();
  wake_.Release();
}

Port& Engine::PortAt(const Napi::CallbackInfo& info, size_t arg) {
  if (destroyed_) throw Napi::Error::New(info.Env(), "engine is destroyed");
  if (!info[arg].IsNumber()) throw Napi::TypeError::New(info.Env(), "port index must be a number");
  uint32_t i = info[arg].As<Napi::Number>().Uint32Value();
  if (i >= ports_.size()) throw Napi::RangeError::New(info.Env(), "port index " + std::to_string(i) + " out of range");
  return *ports_[i];
}

Napi::Value Engine::Buffer(const Napi::CallbackInfo& info) { return buffer_.Value(); }

Napi::Value Engine::OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& port = PortAt(info, 0);
  if (!info[1].IsString()) throw Napi::TypeError::New(env, "openTap(port, name, mode, kind): name must be a string");
  std::string mode_name = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "auto";
  TapMode mode = mode_name == "attach" ? TapMode::kAttach : mode_name == "create" ? TapMode::kCreate : TapMode::kAuto;
  if (mode == TapMode::kAuto && mode_name != "auto") throw Napi::TypeError::New(env, "mode must be attach, create or auto");
  std::string kind_name = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "tap";
  if (kind_name != "tap" && kind_name != "tun") throw Napi::TypeError::New(env, "kind must be tap or tun");
  TapInfo tap;
  try {
    bool offload = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
    tap = tapvs::OpenTap(info[1].As<Napi::String>().Utf8Value(), mode, kind_name == "tun" ? TapKind::kTun : TapKind::kTap, offload);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return Attach(info, port, tap);
}

Napi::Value Engine::OpenRawTunnel(const Napi::CallbackInfo& info) {
  Port& port = PortAt(info, 0);
  TapInfo raw;
  try {
    raw = tapvs::OpenRawTunnel(info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 4);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return Attach(info, port, raw);
}

Napi::Value Engine::Attach(const Napi::CallbackInfo& info, Port& port, TapInfo tap) {
  Napi::Env env = info.Env();
  try {
    port.Attach(tap);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", tap.name);
  out.Set("ifindex", tap.ifindex);
  out.Set("mtu", tap.mtu);
  out.Set("created", tap.created);
  out.Set("vnetHeader", tap.vnet_header);
  out.Set("offloads", tap.offloads);
  out.Set("mac", Napi::Buffer<uint8_t>::Copy(env, tap.mac, 6));
  return out;
}

Napi::Value Engine::Start(const Napi::CallbackInfo& info) {
  try {
    PortAt(info, 0).Start();
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value Engine::ClosePort(const Napi::CallbackInfo& info) {
  PortAt(info, 0).Close();
  return info.Env().Undefined();
}

Napi::Value Engine::Kick(const Napi::CallbackInfo& info) {
  PortAt(info, 0).Kick();
  return info.Env().Undefined();
}

Napi::Value Engine::SetPeers(const Napi::CallbackInfo& info) {
  Port& a = PortAt(info, 0);
  Port& b = PortAt(info, 1);
  if (&a == &b) throw Napi::RangeError::New(info.Env(), "setPeers needs two different ports");
  a.SetPeer(&b);
  b.SetPeer(&a);
  return info.Env().Undefined();
}

Napi::Value Engine::Destroy(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

}  // namespace tapvs
