// The memory system's own cost at a given working set, the reference for the connection
// table's lookup figures, over BYTES of memory in RECORD-byte records, in two kinds that match
// the table benchmark's two kinds of lookup:
//   dependent    a pointer chase: each address comes from the last read (lookups whose next
//                key depends on the last result: misses cannot overlap)
//   independent  random addresses computed from a counter (lookups of unrelated keys, as a
//                burst of packets from many clients: the CPU overlaps their misses)
// Prints nanoseconds per read.
//
//   memlat BYTES RECORD [dependent|independent]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: memlat BYTES RECORD [dependent|independent]\n");
    return 2;
  }
  int independent = argc == 4 && strcmp(argv[3], "independent") == 0;
  size_t record = strtoul(argv[2], NULL, 10) / sizeof(uint32_t);
  size_t n = strtoul(argv[1], NULL, 10) / (record * sizeof(uint32_t));
  if (record == 0 || n < 2) return 2;
  uint32_t *mem = calloc(n * record, sizeof(uint32_t));
  uint32_t *order = malloc(n * sizeof(uint32_t));
  if (!mem || !order) return 1;
  // One random cycle through every record (Sattolo), so the chase visits each once per lap.
  for (size_t i = 0; i < n; i++) order[i] = i;
  uint64_t x = 88172645463325252ull;
  for (size_t i = n - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t j = x % i;
    uint32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n; i++) mem[order[i] * record] = order[(i + 1) % n];
  const size_t reads = 2000000;
  double best = 1e18;
  uint32_t at = 0;
  for (int trial = 0; trial < 3; trial++) {
    double t0 = now_ns();
    if (independent) {
      // A multiplicative scatter of the counter: the next address never waits for a read.
      uint64_t step = 2654435761u % n | 1;
      size_t i = 0;
      for (size_t k = 0; k < reads; k++, i = (i + step) % n) at += mem[i * record];
    } else {
      for (size_t k = 0; k < reads; k++) at = mem[(size_t)at * record];
    }
    double ns = (now_ns() - t0) / reads;
    if (ns < best) best = ns;
  }
  volatile uint32_t keep = at; // the chase must happen
  (void)keep;
  printf("%.2f\n", best);
  return 0;
}
