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
  // With offloads: every frame read or written is preceded by a struct virtio_net_hdr of
  // this many bytes (0 without), and the kernel hands over and takes GSO super-frames.
  uint32_t vnet_header = 0;
  std::string offloads;  // what TUNSETOFFLOAD took, as ethtool names them
  // A raw IPv6 socket's reads start with the sender's address, this many bytes (0 otherwise).
  uint32_t source_prefix = 0;
};

// The virtio_net_hdr tapvs uses (no num_buffers): flags, gso_type, hdr_len, gso_size,
// csum_start, csum_offset.
constexpr uint32_t kVnetHeaderBytes = 10;
// Throws std::runtime_error with a message that names the device and the cause. With
// `offload`, the TAP carries virtio-net headers and checksum, TSO and USO offloads.
TapInfo OpenTap(const std::string& name, TapMode mode, TapKind kind = TapKind::kTap, bool offload = false);

// A raw socket for tunnelled packets. family 4: IPv4, protocol 4 (IP-in-IP); reads whole
// packets, outer header included. family 6: IPv6, next header 41 (IPv6-in-IPv6); the kernel
// hands over only what follows the outer header, so each read is prefixed with the outer
// source address (source_prefix bytes). While it is open the kernel answers no "protocol
// unreachable" (or parameter problem) for tunnelled packets.
TapInfo OpenRawTunnel(int family);

}  // namespace tapvs
