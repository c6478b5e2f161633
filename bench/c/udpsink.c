// udpsink PORT SECONDS
// Counts UDP datagrams on PORT until SECONDS pass or 1 s passes with nothing after the first.
// Prints JSON: datagrams, payload bytes, and the time between the first and the last.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: udpsink PORT SECONDS\n");
    return 2;
  }
  double seconds = atof(argv[2]);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int rcvbuf = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("udpsink: bind");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  static char bufs[BATCH][9216];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long count = 0, bytes = 0;
  double start = now(), first = 0, last = 0;
  for (;;) {
    double t = now();
    if (t - start > seconds || (count && t - last > 1.0)) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) continue;
    t = now();
    if (!count) first = t;
    last = t;
    count += n;
    for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
  }
  printf("{\"received\": %llu, \"bytes\": %llu, \"seconds\": %.3f}\n", count, bytes, count > 1 ? last - first : 0.0);
  return 0;
}
