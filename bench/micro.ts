// JavaScript work per forwarded frame: the router and the ring code over the in-memory port,
// no syscalls. Frames are copied into the RX ring, and the port "thread" sends and completes
// them, outside the timed region (in the daemon both are native code); the timed region is
// engine.poll(): ring reads, validation, route lookup, TTL, neighbour lookup, MAC rewrite, TX
// enqueue and publish, and taking completed slots back into the pool and refilling.

import { parseConfig } from '../src/control/config.js';
import { buildRouter } from '../src/build.js';
import { PacketEngine } from '../src/io/engine.js';
import { MemoryBackend } from '../src/io/memory.js';
import type { Log } from '../src/router.js';
import type { Director } from '../src/lvs/director.js';
import { SyncDaemon } from '../src/ha/sync.js';
import { Ipv4View } from '../src/packet/ipv4.js';
import { BROADCAST_MAC, ZERO_MAC } from '../src/packet/address.js';
import { arpPacket, ethernet, ipv4Packet, mac, udpPayload } from '../test/helpers/frames.js';

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} };

export interface MicroResult {
  /** Median over rounds of 512 frames: robust to the scheduler noise of a shared machine. */
  nsPerFrame: number;
  meanNsPerFrame: number;
  frames: number;
  heapGrowthBytesPerFrame: number;
}

export function microbench(payloadBytes = 64, frames = 2_000_000): MicroResult {
  let backend!: MemoryBackend;
  const ring = 1024;
  const engine = new PacketEngine((w) => (backend = new MemoryBackend({ slotCount: 4 * ring, ringSize: ring, maxPorts: 2 }, w)), { receive: () => undefined });
  const config = parseConfig({
    interfaces: [
      { name: 'in', tap: 'in', mac: '02:00:00:00:01:01', addresses: ['10.1.0.1/24'] },
      { name: 'out', tap: 'out', mac: '02:00:00:00:02:01', addresses: ['10.2.0.1/24'] },
    ],
  });
  buildRouter(config, engine, quiet);
  engine.openTap(0, 'in');
  engine.openTap(1, 'out');
  const client = mac('02:aa:00:00:00:02');
  const server = mac('02:bb:00:00:00:02');
  backend.inject(1, ethernet(BROADCAST_MAC, server, 0x0806, arpPacket(1, server, '10.2.0.2', ZERO_MAC, '10.2.0.1')));
  engine.poll();
  const frame = ethernet(mac('02:00:00:00:01:01'), client, 0x0800, ipv4Packet({ src: '10.1.0.2', dst: '10.2.0.2', protocol: 17, payload: udpPayload('10.1.0.2', '10.2.0.2', 1000, 2000, new Uint8Array(payloadBytes)) }));

  const batch = ring / 2;
  backend.holdTransmits = true;
  const round = () => {
    for (let i = 0; i < batch; i++) backend.inject(0, frame);
    const t0 = process.hrtime.bigint();
    engine.poll();
    const ns = Number(process.hrtime.bigint() - t0);
    backend.releaseTransmits();
    return ns;
  };
  for (let i = 0; i < 2000; i++) round(); // warm up the JIT
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let ns = 0;
  const rounds = Math.ceil(frames / batch);
  const perRound = new Float64Array(rounds);
  for (let i = 0; i < rounds; i++) ns += perRound[i] = round();
  perRound.sort();
  gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  engine.destroy();
  return { nsPerFrame: perRound[rounds >> 1] / batch, meanNsPerFrame: ns / (rounds * batch), frames: rounds * batch, heapGrowthBytesPerFrame: (heapAfter - heapBefore) / (rounds * batch) };
}

// Run alone (tsx bench/micro.ts, or the bundle bench/run.ts makes): `micro PAYLOAD [frame-only]`.
const self = process.argv[1] ?? '';
if (self.endsWith('micro.ts') || self.endsWith('micro.mjs')) {
  console.log(JSON.stringify(microbench(Number(process.argv[2] ?? 64))));
  if (process.argv[3] !== 'frame-only') printConnectionBenches();
}

function printConnectionBenches(): void {
  console.log(JSON.stringify(newConnectionBench()));
  console.log(JSON.stringify({ syncOff: newConnectionBench(200_000, { establish: true }), syncOn: newConnectionBench(200_000, { establish: true, sync: true }) }));
}

/** New connections per second the director schedules and enters: SYNs with fresh ports to a DR service. */
export function newConnectionBench(count = 500_000, opts: { establish?: boolean; sync?: boolean } = {}): { nsPerConnection: number; connectionsPerSecond: number; syncMessages: number } {
  let backend!: MemoryBackend;
  const ring = 1024;
  const engine = new PacketEngine((w) => (backend = new MemoryBackend({ slotCount: 4 * ring, ringSize: ring, maxPorts: 2 }, w)), { receive: () => undefined });
  const config = parseConfig({
    interfaces: [{ name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['192.168.1.10/24'] }],
    routes: [{ to: 'default', via: '192.168.1.1' }],
    services: [{ protocol: 'tcp', vip: '192.168.1.2', port: 80, scheduler: 'wlc', realServers: [{ address: '192.168.1.11' }, { address: '192.168.1.12' }, { address: '192.168.1.13' }] }],
    director: { maxConnections: count + 1024 },
  });
  const router = buildRouter(config, engine, quiet);
  engine.openTap(0, 'lan');
  for (const [m, a] of [['02:aa:00:00:00:11', '192.168.1.11'], ['02:aa:00:00:00:12', '192.168.1.12'], ['02:aa:00:00:00:13', '192.168.1.13']] as const) {
    backend.inject(0, ethernet(BROADCAST_MAC, mac(m), 0x0806, arpPacket(1, mac(m), a, ZERO_MAC, '192.168.1.10')));
  }
  engine.poll();
  // With sync, the master's daemon on the LAN (its messages go to the memory port's sink).
  const sync = opts.sync ? new SyncDaemon(router, engine, router.director as Director, { iface: router.interfaces[0], syncid: 0, peer: null }, quiet) : null;
  if (sync) sync.sending = true;
  // One SYN frame, its source address and port rewritten per connection (the IPv4 header
  // checksum redone; the TCP checksum is not checked on this path).
  const syn = new Uint8Array(20);
  syn[12] = 0x50;
  syn[13] = 0x02;
  syn[3] = 80;
  const frame = ethernet(mac('02:00:00:00:01:01'), mac('02:cc:00:00:00:01'), 0x0800, ipv4Packet({ src: '10.0.0.1', dst: '192.168.1.2', protocol: 6, payload: syn }));
  const header = new Ipv4View().point(frame, 14);
  const batch = opts.establish ? ring / 4 : ring / 2; // frames per connection: 1 or 2, within a ring
  let ns = 0;
  let made = 0;
  for (let n = 0; n < count; n += batch) {
    for (let i = 0; i < batch; i++) {
      const id = n + i;
      frame[26] = 10; // source address 10.x.y.z
      frame[27] = (id >>> 16) & 255;
      frame[28] = (id >>> 8) & 255;
      frame[29] = 1 + (id & 127);
      frame[34] = 4 + ((id >>> 7) & 0x7f);
      frame[35] = id & 255;
      header.updateChecksum();
      frame[47] = 0x02; // SYN
      backend.inject(0, frame);
      if (opts.establish) {
        frame[47] = 0x10; // and its ACK: ESTABLISHED, which sync tells the backup about
        backend.inject(0, frame);
      }
    }
    const t0 = process.hrtime.bigint();
    engine.poll();
    sync?.tick();
    ns += Number(process.hrtime.bigint() - t0);
    made += batch;
  }
  const created = router.counters.lvs_conns_created;
  const syncMessages = router.counters.sync_messages_sent;
  engine.destroy();
  if (created < made * 0.99) throw new Error(`new-connection bench: only ${created} of ${made} SYNs made a connection`);
  if (opts.sync && router.counters.sync_entries_sent < made * 0.99) throw new Error(`new-connection bench: only ${router.counters.sync_entries_sent} of ${made} connections synced`);
  return { nsPerConnection: ns / made, connectionsPerSecond: (made * 1e9) / ns, syncMessages };
}
