// `tapvs run`: the router on real TAPs, until SIGTERM.

import { existsSync, readFileSync } from 'node:fs';
import { parseConfigText, type Config } from './control/config.js';
import { createLogger, type Logger } from './control/log.js';
import { PacketEngine } from './io/engine.js';
import { loadNative } from './io/native.js';
import { formatIpv4, formatMac } from './packet/address.js';
import { buildRouter } from './build.js';
import type { Router } from './router.js';

/** How often neighbour timers run. */
const TICK_MS = 200;

export interface RunningRouter {
  engine: PacketEngine;
  router: Router;
  stop(): void;
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`config: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseConfigText(text, file);
}

export function startRouter(config: Config, log: Logger): RunningRouter {
  const native = loadNative();
  const engine = new PacketEngine((onWake) => new native.Engine({ maxPorts: Math.max(2, config.interfaces.length) }, onWake), {
    receive: () => {
      throw new Error('router not attached');
    },
  });
  let router: Router;
  try {
    router = buildRouter(config, engine, log);
    config.interfaces.forEach((c, port) => {
      const tap = engine.openTap(port, c.tap, c.tapMode);
      log.info(
        { iface: c.name, tap: tap.name, created: tap.created, mac: formatMac(c.mac), mtu: c.mtu, addresses: c.addresses.map((a) => `${formatIpv4(a.address)}/${a.length}`) },
        'interface up',
      );
    });
  } catch (e) {
    engine.destroy();
    throw e;
  }
  router.announce();
  const timer = setInterval(() => router.tick(), TICK_MS);
  return {
    engine,
    router,
    stop() {
      clearInterval(timer);
      engine.destroy();
    },
  };
}

/** Frames the kernel dropped at the TAP queue while our reader was stalled (the TAP's own TX side). */
function kernelTapDrops(tap: string): number | null {
  const file = `/sys/class/net/${tap}/statistics/tx_dropped`;
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : null;
}

export function counterSnapshot(r: RunningRouter, config: Config): Record<string, unknown> {
  const ports = r.router.interfaces.map((i) => ({ iface: i.name, ...r.engine.portCounters(i.port), kernel_queue_drops: kernelTapDrops(config.interfaces[i.port].tap) }));
  // Started with --expose-gc (the benchmark does), heap figures are taken after a full GC.
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  return { router: { ...r.router.counters, ...r.engine.counters }, ports, process: { heapUsedBytes: mem.heapUsed, rssBytes: mem.rss } };
}

export function runDaemon(configFile: string): void {
  const config = loadConfig(configFile);
  const log = createLogger(config.log.level);
  const running = startRouter(config, log);
  log.info({ interfaces: config.interfaces.length, routes: running.router.routes.list().length }, 'ready');
  process.on('SIGUSR1', () => log.info(counterSnapshot(running, config), 'counters'));
  const shutdown = (signal: string) => {
    log.info({ signal, ...counterSnapshot(running, config) }, 'stopping');
    running.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
