// The router's per-frame work in C, over the same in-memory frames the JavaScript
// microbenchmark (bench/micro.ts) forwards: the reference that makes its figure a ratio.
// Per frame, as src/router.ts does for a routed packet: read the RX descriptor, check the
// destination MAC and EtherType, validate the IPv4 header (version, lengths, checksum), refuse a
// martian source, probe the local-address map, look the route up (one open-addressed map per
// prefix length, longest first, Fibonacci-hashed as util/u32map.ts), check TTL and MTU,
// decrement TTL with the incremental checksum, look the next hop up in the neighbour map
// (keyed hash), write the Ethernet header, write the TX descriptor. Rounds of 512 frames;
// prints the median ns per frame.
//
//   perframe PAYLOAD_BYTES FRAMES
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOT 2048
#define HEADROOM 64
#define RING 1024
#define BATCH 512
#define EMPTY 0xffffffffu

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/** Open addressing over u32 keys, as util/u32map.ts (16 slots, linear probing). */
typedef struct {
  uint32_t keys[16];
  int32_t values[16];
  uint32_t seed; /* 0: Fibonacci, else keyed (the neighbour table) */
} u32map;

static inline uint32_t home(const u32map *m, uint32_t key) {
  uint32_t h = m->seed ? (key ^ m->seed) * 0xcc9e2d51u : key * 0x9e3779b1u;
  if (m->seed) h ^= h >> 15, h *= 0x1b873593u;
  return h >> 28;
}
static void map_set(u32map *m, uint32_t key, int32_t v) {
  for (uint32_t i = home(m, key);; i = (i + 1) & 15)
    if (m->values[i] < 0 || m->keys[i] == key) {
      m->keys[i] = key;
      m->values[i] = v;
      return;
    }
}
static inline int32_t map_get(const u32map *m, uint32_t key) {
  for (uint32_t i = home(m, key);; i = (i + 1) & 15) {
    if (m->values[i] < 0) return -1;
    if (m->keys[i] == key) return m->values[i];
  }
}
static void map_init(u32map *m, uint32_t seed) {
  memset(m->keys, 0, sizeof m->keys);
  for (int i = 0; i < 16; i++) m->values[i] = -1;
  m->seed = seed;
}

static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static int header_ok(const uint8_t *ip, int ihl) {
  uint32_t s = 0;
  for (int i = 0; i < ihl; i += 2) s += (uint32_t)ip[i] << 8 | ip[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return s == 0xffff;
}

static void put_checksum(uint8_t *ip) {
  ip[10] = ip[11] = 0;
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)ip[i] << 8 | ip[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  s = ~s & 0xffff;
  ip[10] = s >> 8, ip[11] = s & 0xff;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: perframe PAYLOAD_BYTES FRAMES\n");
    return 2;
  }
  int payload = atoi(argv[1]);
  long frames = atol(argv[2]);
  static const uint8_t in_mac[6] = {2, 0, 0, 0, 1, 1}, out_mac[6] = {2, 0, 0, 0, 2, 1}, client[6] = {2, 0xaa, 0, 0, 0, 2}, server[6] = {2, 0xbb, 0, 0, 0, 2};
  const uint32_t dst = 0x0a020002, src = 0x0a010002;
  int length = 14 + 20 + 8 + payload;
  uint8_t frame[1600] = {0};
  memcpy(frame, in_mac, 6), memcpy(frame + 6, client, 6), frame[12] = 8;
  uint8_t *ip = frame + 14;
  ip[0] = 0x45, ip[2] = (20 + 8 + payload) >> 8, ip[3] = (20 + 8 + payload) & 0xff, ip[8] = 64, ip[9] = 17;
  for (int i = 0; i < 4; i++) ip[12 + i] = src >> (24 - 8 * i), ip[16 + i] = dst >> (24 - 8 * i);
  put_checksum(ip);

  uint8_t *slots = aligned_alloc(64, (size_t)2 * RING * SLOT);
  uint32_t rx[RING * 2], tx[RING * 2]; /* descriptors: slot, length << 11 | offset (src/io/layout.ts) */
  u32map local, routes24, neighbours;
  map_init(&local, 0), map_init(&routes24, 0), map_init(&neighbours, 0x5bd1e995u);
  map_set(&local, 0x0a010001, 0), map_set(&local, 0x0a020001, 1);
  map_set(&routes24, 0x0a010000, 0), map_set(&routes24, 0x0a020000, 1);
  map_set(&neighbours, dst, 0);
  const uint8_t *neighbour_mac[1] = {server};
  const int mtu = 1500;

  long rounds = frames / BATCH;
  double *per_round = malloc(sizeof(double) * (rounds + 2000));
  long dropped = 0;
  double stats[2] = {0, 0}; /* counters, as the router's Float64Array */
  for (long r = -2000; r < rounds; r++) {
    for (int i = 0; i < BATCH; i++) { /* the backend's copy: outside the timed region */
      memcpy(slots + (size_t)i * SLOT + HEADROOM, frame, length);
      rx[2 * i] = i, rx[2 * i + 1] = (uint32_t)length << 11 | HEADROOM;
    }
    double t0 = now_ns();
    int sent = 0;
    for (int i = 0; i < BATCH; i++) {
      uint32_t slot = rx[2 * i], len = rx[2 * i + 1] >> 11, off = rx[2 * i + 1] & 0x7ff;
      stats[0]++; /* rx_frames */
      uint8_t *f = slots + (size_t)slot * SLOT + off;
      if (len < 14 || memcmp(f, in_mac, 6) != 0 || f[12] != 8 || f[13] != 0) { dropped++; continue; }
      uint8_t *h = f + 14;
      int ihl = (h[0] & 15) * 4, total = h[2] << 8 | h[3];
      if ((h[0] >> 4) != 4 || ihl < 20 || total < ihl || total > (int)len - 14 || !header_ok(h, ihl)) { dropped++; continue; }
      uint32_t s = rd32(h + 12), d = rd32(h + 16);
      if ((s >> 24) == 0 || (s >> 24) == 127 || (s >> 28) >= 0xe) { dropped++; continue; }
      if (map_get(&local, d) >= 0) { dropped++; continue; }
      if (d >> 28 == 0xe) { dropped++; continue; }
      int port = map_get(&routes24, d & 0xffffff00u);
      if (port < 0 || h[8] <= 1 || total > mtu) { dropped++; continue; }
      h[8]--;
      uint32_t c = ((uint32_t)h[10] << 8 | h[11]) + 0x0100;
      if (c >= 0xffff) c -= 0xffff;
      h[10] = c >> 8, h[11] = c & 0xff;
      int n = map_get(&neighbours, d);
      if (n < 0) { dropped++; continue; }
      memcpy(f, neighbour_mac[n], 6), memcpy(f + 6, out_mac, 6);
      tx[2 * sent] = slot, tx[2 * sent + 1] = (uint32_t)(14 + total) << 11 | off;
      stats[1]++; /* forwarded */
      sent++;
    }
    double ns = now_ns() - t0;
    if (r >= 0) per_round[r] = ns;
    if (sent != BATCH) { fprintf(stderr, "perframe: %d of %d forwarded\n", sent, BATCH); return 1; }
  }
  /* median */
  for (long i = 1; i < rounds; i++) {
    double v = per_round[i];
    long j = i - 1;
    while (j >= 0 && per_round[j] > v) per_round[j + 1] = per_round[j], j--;
    per_round[j + 1] = v;
  }
  volatile uint32_t keep = tx[1] + (uint32_t)stats[1];
  (void)keep;
  printf("{\"nsPerFrame\":%.2f,\"frames\":%ld,\"dropped\":%ld}\n", per_round[rounds / 2] / BATCH, rounds * BATCH, dropped);
  return 0;
}
