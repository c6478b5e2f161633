#include "tap.h"

#include <fcntl.h>
#include <net/if.h>  // before linux/if_tun.h, which would pull in the clashing linux/if.h
#include <netinet/in.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapvs {
namespace {

[[noreturn]] void Fail(const std::string& name, const std::string& what, int err) {
  throw std::runtime_error("TAP " + name + ": " + what + ": " + std::strerror(err));
}

// Link facts come from an ordinary socket's ioctls, as `ip link` would read them.
void ReadLinkFacts(TapInfo& info) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) Fail(info.name, "socket for link ioctls", errno);
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::strncpy(ifr.ifr_name, info.name.c_str(), IFNAMSIZ - 1);
  int err = 0;
  if (ioctl(sock, SIOCGIFHWADDR, &ifr) == 0) {
    std::memcpy(info.mac, ifr.ifr_hwaddr.sa_data, 6);
  } else {
    err = errno;
  }
  if (!err && ioctl(sock, SIOCGIFMTU, &ifr) == 0) {
    info.mtu = ifr.ifr_mtu;
  } else if (!err) {
    err = errno;
  }
  // Bring the link up: a TAP that is down drops everything the kernel would hand us.
  if (!err && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
    if (!(ifr.ifr_flags & IFF_UP)) {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) err = errno;
    }
  } else if (!err) {
    err = errno;
  }
  close(sock);
  if (err) Fail(info.name, "reading link facts", err);
  info.ifindex = static_cast<int>(if_nametoindex(info.name.c_str()));
}

// Linux 6.2's UDP segmentation offload flags (include/uapi/linux/if_tun.h), for headers older
// than the kernel: Debian 12's are 6.1, the kernels it runs on may be newer.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

// Offloads live on the device, not the file: a persistent TAP keeps the last owner's. So they
// are always set, to none without `offload` (a TSO super-frame would not fit a plain slot).
// USO (UDP segmentation) needs Linux 6.2; without it, the rest.
void SetOffloads(TapInfo& info, bool offload) {
  if (!offload) {
    if (ioctl(info.fd, TUNSETOFFLOAD, 0) != 0) Fail(info.name, "TUNSETOFFLOAD none", errno);
    return;
  }
  int size = kVnetHeaderBytes;
  if (ioctl(info.fd, TUNSETVNETHDRSZ, &size) != 0) Fail(info.name, "TUNSETVNETHDRSZ", errno);
  const unsigned tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (ioctl(info.fd, TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) == 0) {
    info.offloads = "tx-checksumming tso tso-ecn uso";
  } else if (ioctl(info.fd, TUNSETOFFLOAD, tcp) == 0) {
    info.offloads = "tx-checksumming tso tso-ecn";
  } else {
    Fail(info.name, "TUNSETOFFLOAD", errno);
  }
  info.vnet_header = kVnetHeaderBytes;
}

}  // namespace

TapInfo OpenTap(const std::string& name, TapMode mode, TapKind kind, bool offload) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw std::runtime_error("TAP name '" + name + "' must be 1 to 15 characters");
  }
  bool exists = if_nametoindex(name.c_str()) != 0;
  if (mode == TapMode::kAttach && !exists) {
    throw std::runtime_error("TAP " + name + ": no such device (create it with `ip tuntap add mode tap name " +
                             name + "`, or let tapvs create it)");
  }
  if (mode == TapMode::kCreate && exists) {
    throw std::runtime_error("TAP " + name + ": a device of that name already exists");
  }

  TapInfo info;
  info.name = name;
  info.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (info.fd < 0) Fail(name, "open /dev/net/tun", errno);

  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = (kind == TapKind::kTun ? IFF_TUN : IFF_TAP) | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(info.fd, TUNSETIFF, &ifr) != 0) {
    int err = errno;
    close(info.fd);
    Fail(name, exists ? "attach (is it a TAP, owned by this user, and not in use?)" : "create", err);
  }
  info.created = !exists;
  try {
    SetOffloads(info, offload);
    ReadLinkFacts(info);
  } catch (...) {
    close(info.fd);
    throw;
  }
  return info;
}

TapInfo OpenRawTunnel(int family) {
  TapInfo info;
  const bool six = family == 6;
  info.name = six ? "raw-ip6ip6" : "raw-ipip";
  info.fd = socket(six ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, six ? IPPROTO_IPV6 : IPPROTO_IPIP);
  if (info.fd < 0) Fail(info.name, six ? "raw IPv6 socket for next header 41 (needs root or CAP_NET_RAW)" : "raw socket for protocol 4 (needs root or CAP_NET_RAW)", errno);
  info.mtu = 65535;
  if (six) info.source_prefix = sizeof(in6_addr);
  return info;
}

}  // namespace tapvs
