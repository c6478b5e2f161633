// A router on the in-memory backend with a fake clock: what each port sent is captured.

import { parseConfig } from '../../src/control/config.js';
import { buildRouter } from '../../src/build.js';
import { PacketEngine } from '../../src/io/engine.js';
import { MemoryBackend } from '../../src/io/memory.js';
import type { Log, Router } from '../../src/router.js';

export interface LogLine {
  level: string;
  obj: object;
  msg: string;
}

export interface TestRouter {
  engine: PacketEngine;
  backend: MemoryBackend;
  router: Router;
  clock: { now: number };
  sent: Uint8Array[][];
  /** With offloads: the virtio-net header each sent frame carried, beside `sent`. */
  sentVnet: (Uint8Array | null)[][];
  logs: LogLine[];
  /** Delivers a frame (after its virtio-net header, with offloads) on a port and runs one batch. */
  inject(port: number, frame: Uint8Array, vnet?: Uint8Array): void;
  /** Takes (and clears) what a port sent. */
  take(port: number): Uint8Array[];
  advance(ms: number): void;
}

/** With `offload`, the ports are TAPs with virtio-net headers and the engine has large slots; `headroom` is the engine's (frames start that far into their slots). */
export function testRouter(config: unknown, slotCount = 256, { offload = false, headroom = 128 } = {}): TestRouter {
  const clock = { now: 1_000 };
  const logs: LogLine[] = [];
  const log: Log = {
    debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
  };
  let backend!: MemoryBackend;
  const engine = new PacketEngine(
    (onWake) => (backend = new MemoryBackend({ slotCount, slotSize: 4096, headroom, ringSize: 64, maxPorts: 4, largeSlots: offload ? 16 : 0 }, onWake)), // room for the 3000-byte frames some tests send
    { receive: () => undefined },
  );
  const parsed = parseConfig(config);
  const router = buildRouter(parsed, engine, log, () => clock.now);
  const sent: Uint8Array[][] = parsed.interfaces.map(() => []);
  const sentVnet: (Uint8Array | null)[][] = parsed.interfaces.map(() => []);
  parsed.interfaces.forEach((c, port) => {
    engine.openTap(port, c.tap, 'auto', 'tap', offload);
    backend.listen(port, (f, vnet) => {
      sent[port].push(f);
      sentVnet[port].push(vnet);
    });
  });
  return {
    engine,
    backend,
    router,
    clock,
    sent,
    sentVnet,
    logs,
    inject(port, frame, vnet) {
      if (!backend.inject(port, frame, vnet)) throw new Error('memory port had no free slot');
      engine.poll();
    },
    take(port) {
      sentVnet[port].splice(0);
      return sent[port].splice(0);
    },
    advance(ms) {
      clock.now += ms;
      router.tick(clock.now);
    },
  };
}

/** Two interfaces: lan 10.1.0.1/24 (port 0) and wan 10.2.0.1/24 (port 1). */
export const TWO_NETS = {
  interfaces: [
    { name: 'lan', tap: 'lan', mac: '02:00:00:00:01:01', addresses: ['10.1.0.1/24'] },
    { name: 'wan', tap: 'wan', mac: '02:00:00:00:02:01', mtu: 1400, addresses: ['10.2.0.1/24', '10.20.0.1/16'] },
  ],
  routes: [{ to: '10.9.0.0/16', via: '10.2.0.254' }],
  icmp: { ratePerSecond: 1000, burst: 1000 },
};
