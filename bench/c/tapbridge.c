// tapbridge TAP_A TAP_B [offload]
// The baseline a straightforward userspace forwarder gets: one poll(), one read() and one
// write() per frame between two existing TAPs. With "offload", the TAPs carry virtio-net
// headers with checksum and TSO offloads, as tapvs's do, and frames are super-frames passed
// through whole (header included). Runs until SIGTERM; prints "ready".
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int open_tap(const char *name, int offload) {
  int fd = open("/dev/net/tun", O_RDWR);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
    perror(name);
    return -1;
  }
  int size = 10;  // struct virtio_net_hdr, as tapvs uses it
  unsigned flags = offload ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN : 0;
  if ((offload && ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) || ioctl(fd, TUNSETOFFLOAD, flags) != 0) {
    perror(name);
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "offload") == 0)) {
    fprintf(stderr, "usage: tapbridge TAP_A TAP_B [offload]\n");
    return 2;
  }
  int offload = argc == 4;
  int fds[2] = {open_tap(argv[1], offload), open_tap(argv[2], offload)};
  if (fds[0] < 0 || fds[1] < 0) return 1;
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  printf("ready\n");
  fflush(stdout);
  static char frame[65536 + 64];
  unsigned long long moved = 0;
  while (!stop) {
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    if (poll(p, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      ssize_t n = read(fds[i], frame, sizeof frame);
      if (n > 0 && write(fds[1 - i], frame, n) == n) moved++;
    }
  }
  printf("{\"moved\": %llu}\n", moved);
  return 0;
}
