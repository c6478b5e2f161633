// udpgen DST_IP PORT PAYLOAD_BYTES SECONDS
// Sends UDP datagrams as fast as sendmmsg() allows, for a bounded time. Prints JSON.
#define _GNU_SOURCE
#include <arpa/inet.h>
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
  if (argc != 5) {
    fprintf(stderr, "usage: udpgen DST_IP PORT PAYLOAD_BYTES SECONDS\n");
    return 2;
  }
  int size = atoi(argv[3]);
  double seconds = atof(argv[4]);
  if (size < 1 || size > 9000 || seconds <= 0 || seconds > 120) {
    fprintf(stderr, "udpgen: payload 1..9000 bytes, 0..120 seconds\n");
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
    fprintf(stderr, "udpgen: bad address %s\n", argv[1]);
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
    perror("udpgen: connect");
    return 1;
  }
  char *payload = calloc(1, size);
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = size;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long sent = 0, errors = 0;
  double start = now(), end = start + seconds, t = start;
  while (t < end) {
    int n = sendmmsg(fd, msgs, BATCH, 0);
    if (n > 0) sent += n;
    else errors++;
    if ((sent & 1023) < BATCH) t = now();
  }
  printf("{\"sent\": %llu, \"errors\": %llu, \"seconds\": %.3f}\n", sent, errors, now() - start);
  return 0;
}
