// Opening TAP devices (IFF_TAP | IFF_NO_PI, non-blocking) and reading their link facts.
#pragma once
#include <cstdint>
#include <string>

namespace tapvs {

enum class TapMode { kAttach, kCreate, kAuto };
/** kTap: Ethernet frames. kTun: bare IP packets (no link layer, hence never ARP). */
enum class TapKind { kTap, kTun };

struct TapInfo {
  int fd = -1;
  std::string name;
  int ifindex = 0;
  int mtu = 0;
  uint8_t mac[6] = {0};
  bool created = false;  // we made it: it disappears when the fd closes (unless persistent)
};

// Throws std::runtime_error with a message that names the device and the cause.
TapInfo OpenTap(const std::string& name, TapMode mode, TapKind kind = TapKind::kTap);

// A raw IPv4 socket for IP-in-IP (protocol 4): reads whole packets, outer header included.
// While it is open the kernel answers no "protocol unreachable" for tunnelled packets.
TapInfo OpenRawIpip();

}  // namespace tapvs
