// JavaScript work per forwarded frame: the router and the ring code over the in-memory port,
// no syscalls. Frames are copied into the RX ring outside the timed region; the timed region
// is engine.poll(): ring reads, validation, route lookup, TTL, neighbour lookup, MAC rewrite,
// TX enqueue and publish.

import { parseConfig } from '../src/control/config.js';
import { buildRouter } from '../src/build.js';
import { PacketEngine } from '../src/io/engine.js';
import { MemoryBackend } from '../src/io/memory.js';
import type { Log } from '../src/router.js';
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
  const round = () => {
    for (let i = 0; i < batch; i++) backend.inject(0, frame);
    const t0 = process.hrtime.bigint();
    engine.poll();
    return Number(process.hrtime.bigint() - t0);
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

if (process.argv[1]?.endsWith('micro.ts')) {
  const r = microbench(Number(process.argv[2] ?? 64));
  console.log(JSON.stringify(r));
}
