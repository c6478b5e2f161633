// The JavaScript per-frame work in C, over the same in-memory frames the JavaScript
// microbenchmark (bench/micro.ts) forwards: the reference that makes its figure a ratio. It
// does what the timed JavaScript does (engine.poll() with the router's fast path), step for step,
// so that the ratio says what JavaScript costs, not what a cheaper algorithm saves:
//
// - per round, as PacketEngine.poll: read the clock; take the TX completions back into the
//   free-slot stack; read each TX ring's consumer index for the round's budget;
// - per frame, as l3/fast-path.ts: read the RX descriptor; check for a virtio-net header (none
//   here, as in the JavaScript's in-memory port); read the headers as 32-bit words in network
//   order (as its DataView does), the Ethernet addresses as host-order words (as its Int32Array
//   does); check the destination MAC, and the EtherType with the version and IHL in one word;
//   validate the IPv4 header (lengths, TTL, checksum); refuse martian sources,
//   multicast, and any subnet broadcast of ours (the AND of them all first); probe the
//   local-address map; look the route up (one open-addressed map per prefix length, longest
//   first, Fibonacci-hashed as util/u32map.ts); check the egress MTU;
//   look the next hop up in the neighbour map (keyed with the secret, as util/hash.ts) and check
//   its state; decrement TTL with the incremental checksum; stamp the neighbour's use;
//   write the Ethernet addresses in three words; stage the TX descriptor (ring room checked);
// - per run of frames (here the round's): count them;
// - per round: publish the RX consumer and the TX producer (sequentially consistent stores, as
//   Atomics.store), refill the fill ring from the free stack, and publish it.
//
// What the JavaScript reads from memory, the C reads from memory: the ring and slot sizes, the
// interfaces, routes, neighbours and broadcasts are built at run time, and the counters live in
// the router's state (the compiler may neither fold the configuration into the code nor drop
// two counters that nothing in this program reads). What the JavaScript holds in locals for a
// run of frames (the ring's geometry, the slots', the local map's arrays, the current egress's
// neighbour map, TX ring and state, the neighbour entry last found), so does the C.
//
// The port "thread" (frames into slots, TX into completions) runs outside the timed region, as
// the in-memory backend's does in the JavaScript benchmark. Rounds of 512 frames; prints the
// median ns per frame.
//
//   perframe PAYLOAD_BYTES FRAMES
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define LOCAL_RESERVE 64 /* io/engine.ts */
#define OFFSET_BITS 11
#define OFFSET_MASK ((1u << OFFSET_BITS) - 1)

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/*
 * ---- the layout, read at run time as the engine reads it (io/layout.ts): a ring's size and a
 * slot's size are the addon's options, so neither is a constant the compiler may fold
 */
typedef struct {
  uint32_t ring_size, slot_size, headroom, max_ports;
} layout;
layout region_layout;

/* ---- a single-producer/single-consumer descriptor ring, as io/ring.ts */
typedef struct {
  _Atomic uint32_t producer;
  char pad1[60];
  _Atomic uint32_t consumer;
  char pad2[60];
  /* the JavaScript Ring's fields: its entries (slot, length << OFFSET_BITS | offset), their
     count - 1 and count, its own index mirrored, entries staged, and the other side's index */
  uint32_t *entries;
  uint32_t mask, size;
  uint32_t mine, staged, seen;
} ring;

static void ring_init(ring *r, uint32_t size) {
  memset(r, 0, sizeof *r);
  r->entries = aligned_alloc(64, 2 * size * sizeof *r->entries);
  r->mask = size - 1, r->size = size;
}
static inline uint32_t ring_available(ring *r) {
  r->seen = atomic_load(&r->producer);
  return r->seen - r->mine;
}
static inline uint32_t *ring_peek(ring *r, uint32_t ahead) { return &r->entries[((r->mine + ahead) & r->mask) << 1]; }
static inline void ring_consume(ring *r, uint32_t n) {
  r->mine += n;
  atomic_store(&r->consumer, r->mine);
}
static inline uint32_t ring_free_now(ring *r) {
  r->seen = atomic_load(&r->consumer);
  return r->size - (r->mine + r->staged - r->seen);
}
/** Free space by the consumer index last read, read afresh only when that says full. */
static inline uint32_t ring_free(ring *r) {
  uint32_t free = r->size - (r->mine + r->staged - r->seen);
  return free ? free : ring_free_now(r);
}
static inline void ring_put(ring *r, uint32_t slot, uint32_t offset, uint32_t length) {
  uint32_t *e = &r->entries[((r->mine + r->staged) & r->mask) << 1];
  e[0] = slot, e[1] = length << OFFSET_BITS | offset;
  r->staged++;
}
static inline uint32_t ring_publish(ring *r) {
  uint32_t n = r->staged;
  if (n == 0) return 0;
  r->staged = 0;
  r->mine += n;
  atomic_store(&r->producer, r->mine);
  return n;
}

/* ---- the hashes of util/hash.ts and util/u32map.ts */
static uint32_t secret_mul, secret_add;

/** keyedBucket1: avalanche(keyed(a)) >> shift, murmur3's final mix of the word with the secret in it (times one secret, XOR the other). */
static inline uint32_t keyed_bucket(uint32_t a, int shift) {
  uint32_t h = a * secret_mul ^ secret_add;
  h = (h ^ h >> 16) * 0x85ebca6bu;
  h = (h ^ h >> 13) * 0xc2b2ae35u;
  return (h ^ h >> 16) >> shift;
}

/**
 * U32Map and KeyedU32Map: open addressing, linear probing, sized at run time as the JavaScript
 * maps are (an initial capacity of 16 keys makes 32 buckets), so the table, its mask and its
 * shift are read through the map as there.
 */
typedef struct {
  uint32_t *keys;
  int32_t *values;
  uint32_t mask;
  int shift;
} u32map;

static void map_init(u32map *m, int capacity) {
  uint32_t buckets = 16;
  while (buckets < 2u * capacity) buckets *= 2;
  m->keys = calloc(buckets, sizeof *m->keys);
  m->values = malloc(buckets * sizeof *m->values);
  for (uint32_t i = 0; i < buckets; i++) m->values[i] = -1;
  m->mask = buckets - 1;
  m->shift = 32 - __builtin_ctz(buckets);
}
static inline uint32_t fibonacci_bucket(const u32map *m, uint32_t key) { return (key * 0x9e3779b1u) >> m->shift; }
static inline int32_t map_find(const u32map *m, uint32_t key, uint32_t i) {
  for (;; i = (i + 1) & m->mask) {
    if (m->values[i] < 0) return -1;
    if (m->keys[i] == key) return m->values[i];
  }
}
static inline int32_t map_get(const u32map *m, uint32_t key) { return map_find(m, key, fibonacci_bucket(m, key)); }
static inline int32_t keyed_map_get(const u32map *m, uint32_t key) { return map_find(m, key, keyed_bucket(key, m->shift)); }
static void map_set(u32map *m, uint32_t key, int32_t v, int keyed) {
  for (uint32_t i = keyed ? keyed_bucket(key, m->shift) : fibonacci_bucket(m, key);; i = (i + 1) & m->mask)
    if (m->values[i] < 0 || m->keys[i] == key) {
      m->keys[i] = key, m->values[i] = v;
      return;
    }
}

/* ---- the router's tables, as the fast path reads them */
/* as FastPath's port rows: its MAC as a frame's first three words hold it (little-endian, as an
   Int32Array reads them), to this port (word 0, word 1's low half) and from it (word 1's high
   half, word 2) */
typedef struct {
  uint32_t destination_head, destination_tail, source_head, source_tail;
  int port, mtu;
} iface;
typedef struct {
  uint32_t network_mask;
  u32map routes; /* network -> route */
} prefix;
typedef struct {
  uint32_t via;
  int egress;
} route;
enum { INCOMPLETE, REACHABLE, STALE };
typedef struct {
  int state, probes;
  uint32_t mac_head; /* the MAC's first four bytes, then its last two, little-endian (Neighbour.macHead, macTail) */
  uint32_t mac_tail;
  double used_at;
} neighbour;

/* every interface's subnet broadcasts, and their bitwise AND (FastPath.broadcasts, broadcastBits) */
typedef struct {
  uint32_t list[8];
  int count;
  uint32_t bits;
} broadcast_set;
static inline int either_is_broadcast(const broadcast_set *b, uint32_t x, uint32_t y) {
  if ((x & b->bits) != b->bits && (y & b->bits) != b->bits) return 0;
  for (int k = 0; k < b->count; k++)
    if (b->list[k] == x || b->list[k] == y) return 1;
  return 0;
}
/* the DataView's getInt32 and setInt32 in network order: a load or store and a byte swap;
   and the Int32Array's load and store: the host's own order */
static inline uint32_t get32(const uint8_t *p) {
  uint32_t x;
  memcpy(&x, p, 4);
  return __builtin_bswap32(x);
}
static inline void set32(uint8_t *p, uint32_t v) {
  v = __builtin_bswap32(v);
  memcpy(p, &v, 4);
}
static inline uint32_t load32(const uint8_t *p) {
  uint32_t x;
  memcpy(&x, p, 4);
  return x;
}
static inline void store32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint32_t le32(const uint8_t *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }
static inline uint32_t le16(const uint8_t *b) { return b[0] | b[1] << 8; }

enum { RX_FRAMES, FORWARDED, FAST_PATH, STAT_COUNT };
#define VNET_F_NEEDS_CSUM 1
#define MAX_PORTS 2

/*
 * The router's state, built at run time from its configuration as the JavaScript's is: the
 * compiler may not fold an interface's MAC, the number of prefix lengths or the broadcast
 * list into the code, nor keep the counters in registers (in the daemon they are memory that
 * the metrics read).
 */
struct router {
  iface ifaces[MAX_PORTS];
  int open[MAX_PORTS];
  broadcast_set broadcasts;
  u32map local;
  prefix prefixes[33];
  int prefix_count;
  route routes[16];
  u32map neighbour_index[MAX_PORTS];
  neighbour neighbours[16];
  double stats[STAT_COUNT];
  /* offloads: none on the in-memory port (the JavaScript's layout has no large slots) */
  int large_slot_count;
} router;

/* The two interfaces of bench/micro.ts, a route for each, and the server's neighbour entry. */
static iface interface(const uint8_t mac[6], int port, int mtu) {
  return (iface){le32(mac), le16(mac + 4), le16(mac) << 16, le32(mac + 2), port, mtu};
}
static void configure(void) {
  struct router *r = &router;
  static const uint8_t in_mac[6] = {2, 0, 0, 0, 1, 1}, out_mac[6] = {2, 0, 0, 0, 2, 1}, server[6] = {2, 0xbb, 0, 0, 0, 2};
  r->ifaces[0] = interface(in_mac, 0, 1500);
  r->ifaces[1] = interface(out_mac, 1, 1500);
  r->open[0] = r->open[1] = 1;
  r->broadcasts = (broadcast_set){{0x0a0100ff, 0x0a0200ff}, 2, 0x0a0100ff & 0x0a0200ff};
  map_init(&r->local, 16);
  map_set(&r->local, 0x0a010001, 0, 0), map_set(&r->local, 0x0a020001, 1, 0);
  r->prefix_count = 1;
  r->prefixes[0].network_mask = 0xffffff00u;
  map_init(&r->prefixes[0].routes, 16);
  r->routes[0] = (route){0, 0}, r->routes[1] = (route){0, 1};
  map_set(&r->prefixes[0].routes, 0x0a010000, 0, 0), map_set(&r->prefixes[0].routes, 0x0a020000, 1, 0);
  map_init(&r->neighbour_index[0], 16), map_init(&r->neighbour_index[1], 16);
  r->neighbours[0] = (neighbour){REACHABLE, 0, le32(server), le16(server + 4), 0};
  map_set(&r->neighbour_index[1], 0x0a020002, 0, 1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: perframe PAYLOAD_BYTES FRAMES\n");
    return 2;
  }
  int payload = atoi(argv[1]);
  long frames = atol(argv[2]);
  if (getrandom(&secret_mul, 4, 0) != 4 || getrandom(&secret_add, 4, 0) != 4) return 1;
  secret_mul |= 1;
  region_layout = (layout){.ring_size = 1024, .slot_size = 2048, .headroom = 64, .max_ports = MAX_PORTS}; /* bench/micro.ts's */
  const uint32_t ring_size = region_layout.ring_size, slot_count = 4 * ring_size, batch = ring_size / 2;
  configure();

  /* the frame: 02:00:00:00:01:01 <- client, 10.1.0.2 -> 10.2.0.2, UDP */
  static const uint8_t in_mac[6] = {2, 0, 0, 0, 1, 1}, client[6] = {2, 0xaa, 0, 0, 0, 2};
  int length = 14 + 20 + 8 + payload;
  uint8_t frame[1600] = {0};
  memcpy(frame, in_mac, 6), memcpy(frame + 6, client, 6), frame[12] = 8;
  uint8_t *ip = frame + 14;
  ip[0] = 0x45, ip[2] = (20 + 8 + payload) >> 8, ip[3] = (20 + 8 + payload) & 0xff, ip[8] = 64, ip[9] = 17;
  const uint8_t addrs[8] = {10, 1, 0, 2, 10, 2, 0, 2};
  memcpy(ip + 12, addrs, 8);
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)ip[i] << 8 | ip[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  s = ~s & 0xffff, ip[10] = s >> 8, ip[11] = s & 0xff;

  /* the region: slots, and each port's fill, RX, TX and completion rings */
  uint8_t *slots = aligned_alloc(64, (size_t)slot_count * region_layout.slot_size);
  ring *rings = aligned_alloc(64, MAX_PORTS * 4 * sizeof(ring));
  for (int k = 0; k < MAX_PORTS * 4; k++) ring_init(&rings[k], ring_size);
  enum { FILL, RX, TX, COMP };
#define R(port, id) (&rings[(port) * 4 + (id)])
  uint32_t *free_slots = malloc(slot_count * sizeof *free_slots), free_top = 0;
  for (int k = slot_count - 1; k >= 0; k--) free_slots[free_top++] = k;
  for (int p = 0; p < MAX_PORTS; p++) { /* openTap: each port's fill ring full */
    while (ring_free(R(p, FILL)) > 0) ring_put(R(p, FILL), free_slots[--free_top], 0, 0);
    ring_publish(R(p, FILL));
  }
  void *director = NULL; /* none: the JavaScript reads router.director and finds null */

  long rounds = frames / batch;
  double *per_round = malloc(sizeof(double) * rounds);
  for (long r = -2000; r < rounds; r++) {
    /* the port threads, outside the timed region: port 1 completes what it was given to send,
       port 0 receives a batch of frames into slots from its fill ring */
    ring *tx1 = R(1, TX), *comp1 = R(1, COMP), *fill0 = R(0, FILL), *rx0 = R(0, RX);
    for (uint32_t c = atomic_load(&tx1->consumer), p = atomic_load(&tx1->producer); c != p; c++) {
      uint32_t cp = atomic_load(&comp1->producer);
      comp1->entries[(cp & comp1->mask) << 1] = tx1->entries[(c & tx1->mask) << 1];
      atomic_store(&comp1->producer, cp + 1);
      atomic_store(&tx1->consumer, c + 1);
    }
    for (uint32_t i = 0; i < batch; i++) {
      uint32_t fc = atomic_load(&fill0->consumer), rp = atomic_load(&rx0->producer);
      if (fc == atomic_load(&fill0->producer)) { fprintf(stderr, "perframe: fill ring empty\n"); return 1; }
      uint32_t slot = fill0->entries[(fc & fill0->mask) << 1];
      atomic_store(&fill0->consumer, fc + 1);
      memcpy(slots + (size_t)slot * region_layout.slot_size + region_layout.headroom, frame, length);
      uint32_t *e = &rx0->entries[(rp & rx0->mask) << 1];
      e[0] = slot, e[1] = (uint32_t)length << OFFSET_BITS | region_layout.headroom;
      atomic_store(&rx0->producer, rp + 1);
    }

    double t0 = now_ns();
    /* PacketEngine.poll, one round (the next finds nothing, as in the JavaScript) */
    for (int round = 0;; round++) {
      double now = now_ns() / 1e6; /* beginBatch: the clock, once per batch */
      for (uint32_t p = 0; p < region_layout.max_ports; p++) { /* reclaimCompleted */
        ring *comp = R(p, COMP);
        uint32_t n = ring_available(comp);
        for (uint32_t i = 0; i < n; i++) free_slots[free_top++] = ring_peek(comp, i)[0];
        if (n) ring_consume(comp, n);
      }
      uint32_t budget = region_layout.ring_size; /* txBudget */
      for (uint32_t p = 0; p < region_layout.max_ports; p++) {
        uint32_t f = ring_free_now(R(p, TX));
        if (f < budget) budget = f;
      }
      uint32_t this_round = 0;
      for (uint32_t p = 0; p < region_layout.max_ports && budget > 0; p++) {
        ring *rx = R(p, RX);
        uint32_t n = ring_available(rx);
        if (n > budget) n = budget;
        budget -= n;
        /* what FastPath.forwardRun holds in locals for a run: the ring's geometry, the slots',
           the port's MAC, the local map's arrays */
        const uint32_t *rx_entries = rx->entries, rx_first = rx->mine, rx_mask = rx->mask;
        uint8_t *const slot_base = slots;
        const uint32_t slot_size = region_layout.slot_size;
        const uint32_t in_head = router.ifaces[p].destination_head, in_tail = router.ifaces[p].destination_tail;
        const uint32_t *local_keys = router.local.keys, local_mask = router.local.mask;
        const int32_t *local_values = router.local.values;
        const int local_shift = router.local.shift;
        const int has_vnet = router.large_slot_count > 0;
        double *stats = router.stats;
        /* the current egress's neighbour map, TX ring and state, taken again when it changes */
        int egress_now = -1, egress_open = 0;
        const u32map *egress_neighbours = NULL;
        ring *egress_ring = NULL;
        int32_t neighbour_id = -1;
        neighbour *nb = NULL; /* the entry last found, kept while frames go to the same one */
        for (uint32_t i = 0; i < n; i++) {
          const uint32_t *d = &rx_entries[((rx_first + i) & rx_mask) << 1];
          uint32_t slot = d[0], offset = d[1] & OFFSET_MASK, len = d[1] >> OFFSET_BITS;
          /* FastPath.forwardRun */
          uint8_t *f = slot_base + (size_t)slot * slot_size + offset;
          if (len < 34) goto slow;
          /* the virtio-net header, with offloads: a super-frame, or a partial checksum inside the transport header */
          uint8_t vnet_flags = has_vnet ? f[-10] : 0;
          if (has_vnet && f[-9] != 0) goto slow;
          if (((uintptr_t)f & 3) != 0 || load32(f) != in_head || (load32(f + 4) & 0xffff) != in_tail) goto slow;
          if ((load32(f + 12) & 0xffffff) != 0x450008) goto slow; /* EtherType IPv4, version 4, IHL 5 */
          uint8_t *ip = f + 14;
          uint32_t w0 = get32(ip), w1 = get32(ip + 4), w2 = get32(ip + 8), src = get32(ip + 12), dst = get32(ip + 16);
          uint32_t total = w0 & 0xffff;
          if (total < 20 || total > len - 14 || w2 >> 24 <= 1) goto slow;
          if (vnet_flags & VNET_F_NEEDS_CSUM) {
            uint32_t start = f[-4] | f[-3] << 8;
            if (start < 34 || start + (f[-2] | f[-1] << 8) + 2 > 14 + total) goto slow;
          }
          uint32_t sum = (w0 >> 16) + total + (w1 >> 16) + (w1 & 0xffff) + (w2 >> 16) + (w2 & 0xffff) + (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
          sum = (sum & 0xffff) + (sum >> 16);
          if ((sum & 0xffff) + (sum >> 16) != 0xffff) goto slow;
          uint32_t top = src >> 24;
          if (top >= 224 || top == 0 || top == 127 || dst >> 28 >= 0xe || either_is_broadcast(&router.broadcasts, src, dst)) goto slow;
          for (uint32_t k = (dst * 0x9e3779b1u) >> local_shift; local_values[k] >= 0; k = (k + 1) & local_mask)
            if (local_keys[k] == dst) goto slow;
          const route *rt = NULL;
          for (int k = 0; k < router.prefix_count; k++) {
            int32_t id = map_get(&router.prefixes[k].routes, dst & router.prefixes[k].network_mask);
            if (id >= 0) { rt = &router.routes[id]; break; }
          }
          if (rt == NULL) goto slow;
          const iface *out = &router.ifaces[rt->egress];
          if (total > (uint32_t)out->mtu) goto slow;
          const int egress_changed = out->port != egress_now;
          if (egress_changed) {
            egress_now = out->port;
            egress_neighbours = &router.neighbour_index[egress_now];
            egress_ring = R(egress_now, TX);
            egress_open = router.open[egress_now];
          }
          int32_t nid = keyed_map_get(egress_neighbours, rt->via ? rt->via : dst);
          if (nid < 0) goto slow;
          if (nid != neighbour_id || egress_changed) neighbour_id = nid, nb = &router.neighbours[nid];
          if (nb->state == INCOMPLETE || (nb->state == STALE && nb->probes == 0)) goto slow;
          if (director != NULL) goto slow;
          uint32_t ttl = get32(ip + 8), c = (ttl & 0xffff) + 0x100;
          if (c >= 0xffff) c -= 0xffff;
          set32(ip + 8, ((ttl >> 16) - 0x100) << 16 | c);
          nb->used_at = now;
          store32(f, nb->mac_head);
          store32(f + 4, nb->mac_tail | out->source_head);
          store32(f + 8, out->source_tail);
          /* PacketEngine.transmit */
          if (!egress_open || ring_free(egress_ring) == 0) { free_slots[free_top++] = slot; continue; }
          ring_put(egress_ring, slot, offset, 14 + total);
          continue;
        slow:
          fprintf(stderr, "perframe: a frame left the fast path\n");
          return 1;
        }
        stats[RX_FRAMES] += n, stats[FORWARDED] += n, stats[FAST_PATH] += n; /* the run's counts, once */
        if (n) ring_consume(rx, n);
        this_round += n;
      }
      for (uint32_t p = 0; p < region_layout.max_ports; p++) { /* flush: publish TX, refill and publish the fill ring */
        ring_publish(R(p, TX));
        ring *fill = R(p, FILL);
        int spare = (int)free_top - LOCAL_RESERVE;
        if (spare > 0) {
          uint32_t n = ring_free(fill), open_ports = 0;
          for (uint32_t q = 0; q < region_layout.max_ports; q++) open_ports += router.open[q];
          if (n * open_ports > (uint32_t)spare) n = (spare + open_ports - 1) / open_ports;
          while (n-- > 0) ring_put(fill, free_slots[--free_top], 0, 0);
        }
        ring_publish(fill);
      }
      if (this_round == 0) break;
    }
    double ns = now_ns() - t0;
    if (r >= 0) per_round[r] = ns;
  }
  /* median */
  for (long i = 1; i < rounds; i++) {
    double v = per_round[i];
    long j = i - 1;
    while (j >= 0 && per_round[j] > v) per_round[j + 1] = per_round[j], j--;
    per_round[j + 1] = v;
  }
  const double sent = (double)(rounds + 2000) * batch, *stats = router.stats;
  if (stats[RX_FRAMES] != sent || stats[FORWARDED] != sent || stats[FAST_PATH] != sent) {
    fprintf(stderr, "perframe: %.0f received, %.0f forwarded, %.0f on the fast path of %.0f\n", stats[RX_FRAMES], stats[FORWARDED], stats[FAST_PATH], sent);
    return 1;
  }
  printf("{\"nsPerFrame\":%.2f,\"frames\":%ld,\"dropped\":0}\n", per_round[rounds / 2] / batch, rounds * batch);
  return 0;
}
