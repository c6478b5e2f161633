// `tapvs run`: the router on real TAPs, until SIGTERM.

import { chmodSync, chownSync, existsSync, readFileSync } from 'node:fs';
import { parseConfig, parseConfigText, type Config } from './control/config.js';
import { createLogger, droppedLogLines, type LogFile, type Logger } from './control/log.js';
import { LOCAL_RESERVE, PacketEngine } from './io/engine.js';
import { loadNative } from './io/native.js';
import { formatIpv4, formatMac } from './packet/address.js';
import { addressPort, foldIpv6, formatIpv6 } from './packet/address6.js';
import { buildRouter } from './build.js';
import { PARKED_SHARE, type Router } from './router.js';
import { Admin, AdminError } from './control/admin.js';
import { reloadServices, scratchOf, type ReloadReport } from './control/reload.js';
import { checkConfig, checkHost } from './control/check.js';
import { withLiveServices, writeAtomically } from './control/save.js';
import { spawnSync } from 'node:child_process';
import { Stream, claimSocketPath, startControlServer, type ControlServer } from './control/socket.js';
import { groupId } from './util/group.js';
import { releaseEarlySignals } from './early-signals.js';
import { PacketTracer, parseTraceFilter } from './control/trace.js';
import type { Director } from './lvs/director.js';
import type { RealServer, VirtualService } from './lvs/service.js';
import { HealthChecker } from './control/health.js';
import { joinBridge, setUpManagement, takeOverNic, waitForCarrier } from './io/nic.js';
import { startMetricsServer, type MetricsSnapshot } from './control/metrics.js';
import { HighAvailability } from './ha/ha.js';
import { BfdResponder } from './ha/bfd.js';
import { VipAnnouncer, servedVips, servedVips6 } from './control/announce.js';
import { readHandoff, writeHandoff } from './ha/handoff.js';
import type { DaemonView } from './control/ipvsadm-format.js';
import type { DaemonSpec } from './control/ipvsadm-args.js';

/** How long start-up waits for a taken-over NIC's link before it carries on without. */
const CARRIER_WAIT_MS = 10_000;

/** Descriptors per ring. */
const RING_SIZE = 1024;
/**
 * Super-frame slots per port with offloads (67.5 KiB each): its fill ring's 32 and as many in
 * flight on the way out. A burst beyond that waits in the kernel's queue, not in ours.
 */
const LARGE_SLOTS_PER_PORT = 64;

/**
 * Slots for `ports` ports: each port's fill ring and a ring's worth in flight on RX and TX
 * (three rings), plus the share frames waiting for ARP may hold (PARKED_SHARE) and the
 * engine's own reserve, rounded up to a power of two. No use of the pool can then take the
 * slots another port needs to receive.
 */
export function poolSize(ports: number): number {
  const needed = Math.ceil((ports * RING_SIZE * 3) / (1 - PARKED_SHARE)) + LOCAL_RESERVE;
  return 2 ** Math.ceil(Math.log2(needed));
}

/** How often the served VIPs are compared with what BIRD announces. */
const ANNOUNCE_INTERVAL_MS = 500;

/** How often neighbour timers run. */
const TICK_MS = 200;

export interface RunningRouter {
  engine: PacketEngine;
  router: Router;
  director: Director;
  admin: Admin;
  ha: HighAvailability;
  /** BFD for the BGP speaker's routes (bgp.bfd), or null. */
  bfd: BfdResponder | null;
  /** Graceful: VRRP steps down, BFD says AdminDown, the connection table is written for the next process. */
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
  const ports = Math.max(2, config.interfaces.length);
  const largeSlots = config.offload ? LARGE_SLOTS_PER_PORT * ports : 0;
  const engine = new PacketEngine((onWake) => new native.Engine({ maxPorts: ports, ringSize: RING_SIZE, slotCount: poolSize(ports), largeSlots }, onWake), {
    receive: () => {
      throw new Error('router not attached');
    },
  });
  let router: Router;
  try {
    if (config.management) {
      const m = config.management;
      const cidrs = m.addresses.map((a) => `${formatIpv4(a.address)}/${a.length}`);
      const nic = setUpManagement(m.nic, cidrs, m.gateway === null ? null : formatIpv4(m.gateway));
      log.info({ nic, nicMac: m.nic, addresses: cidrs, gateway: m.gateway === null ? null : formatIpv4(m.gateway) }, 'management up: the kernel\'s own addresses');
    }
    router = buildRouter(config, engine, log);
    // Before any packet: the table a gracefully stopped predecessor left.
    // A handoff that cannot be read costs its connections, never the start.
    const handoff = config.director.handoffFile;
    try {
      const taken = handoff ? readHandoff(router.director as Director, handoff, router.clock) : null;
      if (taken) log[taken.malformed ? 'warn' : 'info']({ file: handoff, ...taken }, taken.malformed ? 'connection handoff: file truncated; took what it held' : 'connection handoff: took the previous process\'s connections');
    } catch (e) {
      log.warn({ file: handoff, err: (e as Error).message }, 'connection handoff: cannot read the file; starting with an empty table');
    }
    const takenNics: { iface: string; nic: string }[] = [];
    config.interfaces.forEach((c, port) => {
      const taken = c.nic ? takeOverNic(c.nic, c.tap) : null;
      if (taken) takenNics.push({ iface: c.name, nic: taken.nic });
      const tap = engine.openTap(port, c.tap, c.tapMode, 'tap', config.offload);
      if (taken) joinBridge(tap.name, taken.bridge);
      log.info(
        {
          iface: c.name,
          tap: tap.name,
          created: tap.created,
          ...(taken ? { nic: taken.nic, nicMac: c.nic, bridge: taken.bridge } : {}),
          mac: formatMac(c.mac),
          mtu: c.mtu,
          ...(config.offload ? { offloads: tap.offloads } : {}),
          addresses: c.addresses.map((a) => `${formatIpv4(a.address)}/${a.length}`),
        },
        'interface up',
      );
    });
    // Announce only once the NICs have link, or what the router says first is lost.
    for (const { iface, nic } of takenNics) {
      if (!waitForCarrier(nic, CARRIER_WAIT_MS)) log.warn({ iface, nic }, `no link on ${nic} after ${CARRIER_WAIT_MS / 1000} s; carrying on without it`);
    }
  } catch (e) {
    engine.destroy();
    throw e;
  }
  const director = router.director as Director;
  // Before the announcement: a VRRP backup must not announce the addresses its master holds.
  const ha = new HighAvailability(router, engine, director, config.ha, log);
  router.announce();
  const timer = setInterval(() => router.tick(), TICK_MS);
  ha.start();
  const bfd = config.bgp?.bfd ? new BfdResponder(router, engine, config.bgp.bfd, log) : null;
  bfd?.start();
  return {
    engine,
    router,
    director,
    admin: new Admin(director, router),
    ha,
    bfd,
    stop() {
      clearInterval(timer);
      ha.stop();
      bfd?.stop();
      const file = config.director.handoffFile;
      if (file) {
        try {
          const entries = writeHandoff(director, file, router.clock);
          log.info({ file, entries }, 'connection handoff: table written for the next process');
        } catch (e) {
          log.error({ file, err: (e as Error).message }, 'connection handoff: could not write the table; the next process starts empty');
        }
      }
      engine.destroy();
    },
  };
}

/** Frames the kernel dropped at the TAP queue while our reader was stalled (the TAP's own TX side). */
function kernelTapDrops(tap: string): number | null {
  const file = `/sys/class/net/${tap}/statistics/tx_dropped`;
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : null;
}

/** Control-socket counters of every socket, summed. */
function controlCounters(servers: ControlServer[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const s of servers) for (const [k, v] of Object.entries(s.counters)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

export function counterSnapshot(r: RunningRouter, config: Config, servers: ControlServer[] = []): Record<string, unknown> {
  const ports = r.router.interfaces.map((i) => ({ iface: i.name, ...r.engine.portCounters(i.port), kernel_queue_drops: kernelTapDrops(config.interfaces[i.port].tap) }));
  // Started with --expose-gc (the benchmark does), heap figures are taken after a full GC.
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const director = { connections: r.director.table.size, capacity: r.director.table.capacity, defense: { ...r.director.defense }, defenseActive: { ...r.director.defenseActive } };
  return {
    router: { ...r.router.counters, ...r.engine.counters },
    ports,
    director,
    control: controlCounters(servers),
    process: { heapUsedBytes: mem.heapUsed, rssBytes: mem.rss, logLinesDropped: droppedLogLines() },
  };
}

function metricsSnapshot(r: RunningRouter): MetricsSnapshot {
  const defense = r.director.defenseActive;
  return {
    router: { ...r.router.counters },
    engine: { ...r.engine.counters },
    ports: r.router.interfaces.map((i) => ({ iface: i.name, counters: r.engine.portCounters(i.port) })),
    ipvs: r.admin.list(),
    table: { entries: r.director.table.size, capacity: r.director.table.capacity },
    defenseActive: { drop_entry: defense.dropEntry, drop_packet: defense.dropPacket, secure_tcp: defense.secureTcp },
    ha: { vrrp: r.ha.vrrpStatus(), resync: r.ha.syncStatus()?.resync ?? null },
  };
}

/**
 * The health checkers: one per real server of every service whose config asks for checks.
 * A reload keeps a checker whose server and check are unchanged (and so its verdict), starts
 * a changed one from the server's present state, and stops the rest; a server no check holds
 * out any more goes back into service.
 */
class HealthCheckers {
  private readonly byKey = new Map<string, { checker: HealthChecker; check: string; svc: VirtualService; dest: RealServer }>();

  constructor(
    private readonly director: Director,
    private readonly log: Logger,
  ) {}

  sync(config: Config): void {
    const wanted = new Set<string>();
    for (const s of config.services) {
      const check = s.healthCheck;
      if (!check) continue;
      const svc = this.director.findService({ protocol: s.protocol, vaddr: s.vip6 ? foldIpv6(s.vip6) : s.vip, vaddr6: s.vip6, vport: s.port, fwmark: s.fwmark });
      if (!svc) continue;
      const checkJson = JSON.stringify(check);
      for (const d of [...svc.dests, ...svc.failedOut]) {
        const addr = d.addr6 ? formatIpv6(d.addr6) : formatIpv4(d.addr);
        const name = `${addressPort(s.vip6 ? formatIpv6(s.vip6) : formatIpv4(s.vip), s.port)} -> ${addressPort(addr, d.port)}`;
        wanted.add(name);
        const had = this.byKey.get(name);
        if (had && had.dest === d && had.svc === svc && had.check === checkJson) continue;
        had?.checker.stop();
        const checker = new HealthChecker(
          { name, addr, port: d.port || s.port, check, healthy: !d.failed, setHealthy: (ok) => this.director.setHealth(svc, d, ok, check.onFail) },
          this.log,
        );
        checker.start();
        this.byKey.set(name, { checker, check: checkJson, svc, dest: d });
      }
    }
    for (const [name, c] of this.byKey) {
      if (wanted.has(name)) continue;
      c.checker.stop();
      this.byKey.delete(name);
      if (c.dest.failed) this.director.setHealth(c.svc, c.dest, true, 'inhibit');
    }
  }

  stop(): void {
    for (const c of this.byKey.values()) c.checker.stop();
    this.byKey.clear();
  }
}

/** Operations the read-only socket serves: looking, never changing. */
const READ_ONLY_OPS: ReadonlySet<string> = new Set(['list', 'connections', 'get-timeouts', 'counters', 'trace', 'daemon']);

export async function runDaemon(configFile: string, logFile: LogFile | null = null, persist: string | null = null): Promise<void> {
  let config = loadConfig(configFile);
  const log = createLogger(config.log.level, 1, logFile);
  checkHost(config);
  // Before any TAP is touched: a second tapvs on the same socket stops here, harmlessly.
  for (const path of [config.control.socket, config.control.readOnly?.socket]) if (path) await claimSocketPath(path);
  const running = startRouter(config, log);
  const checkers = new HealthCheckers(running.director, log);
  checkers.sync(config);
  const announcer = config.bgp ? new VipAnnouncer(config.bgp, log) : null; // announcing starts once ready
  running.director.onDefenseChange = (what, on, free) =>
    log.warn({ defense: what, freeEntries: free, amemthresh: running.director.defense.amemthresh }, on ? `defense ${what} on: connection table low` : `defense ${what} off`);

  /** All or nothing: any error (in the file, or applying it) leaves everything as it was. */
  const reload = (): ReloadReport => {
    const next = loadConfig(configFile); // throws, naming the field
    checkHost(next);
    const report = reloadServices(running.admin, config, next); // tried on a scratch copy first
    running.router.configure({ icmpRatePerSecond: next.icmp.ratePerSecond, icmpBurst: next.icmp.burst, icmpPerDestinationPerSecond: next.icmp.perDestinationPerSecond, icmpPerDestinationBurst: next.icmp.perDestinationBurst, neighbour: next.neighbour, ttl: next.ttl });
    running.director.defense = { ...next.director.defense };
    running.director.sloppyTcp = next.director.sloppyTcp;
    log.level = next.log.level;
    // The services are in by now: a socket that cannot take its mode (deleted under us) is
    // said, not thrown, so the reload is not reported refused after it took effect.
    try {
      setSocketModes(next);
    } catch (e) {
      log.warn({ err: (e as Error).message }, "reloaded, but the control sockets' modes could not be set");
    }
    config = next;
    checkers.sync(config);
    log.info(report, report.needsRestart.length ? `reloaded; restart to apply ${report.needsRestart.join(', ')}` : 'reloaded');
    return report;
  };
  /** tapvsadm -R: every command, or none (tried on a scratch copy first). */
  const batch = (commands: unknown): null => {
    if (!Array.isArray(commands) || commands.some((c) => typeof c !== 'object' || c === null || typeof (c as { op?: unknown }).op !== 'string')) {
      throw new AdminError("'commands' must be a list of {op, ...args}");
    }
    const list = commands as ({ op: string } & Args)[];
    const scratch = scratchOf(config, running.admin.list());
    list.forEach((c, i) => inBatch(i, c, () => adminOp(scratch, c.op, c)));
    list.forEach((c, i) => inBatch(i, c, () => adminOp(running.admin, c.op, c)));
    return null;
  };
  /** tapvs save: the live services into the config file, validated first, atomically; then the persist hook. */
  const save = (): { file: string; services: number; persisted: string | null } => {
    let fileJson: Record<string, unknown>;
    try {
      fileJson = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new AdminError(`cannot read ${configFile} to save into it: ${(e as Error).message}`);
    }
    const json = withLiveServices(fileJson, running.admin.list());
    const next = parseConfig(json); // throws, naming the field: nothing is written
    checkConfig(next, configFile, false);
    writeAtomically(configFile, `${JSON.stringify(json, null, 2)}\n`);
    config = next;
    log.info({ file: configFile, services: next.services.length }, 'saved the live services to the config file');
    if (persist === null) return { file: configFile, services: next.services.length, persisted: null };
    const r = spawnSync(persist, [configFile], { encoding: 'utf8', timeout: 30_000 });
    const said = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    if (r.status !== 0) throw new AdminError(`saved to ${configFile}, but ${persist} failed (${r.error?.message ?? `exit ${r.status}`}): ${said}`);
    return { file: configFile, services: next.services.length, persisted: said || `kept by ${persist}` };
  };
  const servers: ControlServer[] = [];
  const setSocketModes = (next: Config) => {
    chmodSync(next.control.socket, next.control.mode);
    const ro = next.control.readOnly;
    if (ro) {
      chmodSync(ro.socket, ro.mode);
      if (ro.group !== null) chownSync(ro.socket, -1, groupId(ro.group));
    }
  };
  /** tapvs drain: BIRD withdraws every VIP; forwarding carries on for the flows already here. */
  const drain = (on: boolean): { draining: boolean; vips: string[] } => {
    if (!announcer) throw new AdminError('no bgp section in the config: this director announces nothing to withdraw');
    announcer.draining = on;
    announcer.update(running.director.liveServices());
    log.warn({ draining: on }, on ? 'drain: routes withdrawn; existing flows carry on' : 'drain cancelled: announcing again');
    return { draining: on, vips: [...servedVips(running.director.liveServices()).map(formatIpv4), ...servedVips6(running.director.liveServices())] };
  };
  const handler = (op: string, args: Args) => controlOp(running, config, servers, { reload, batch, save, drain }, op, args);
  const c = config.control;
  let metrics: Awaited<ReturnType<typeof startMetricsServer>> | null = null;
  try {
    servers.push(await startControlServer({ path: c.socket, mode: c.mode, maxClients: c.maxClients, handler, log }));
    if (c.readOnly) {
      const gid = c.readOnly.group === null ? null : groupId(c.readOnly.group);
      servers.push(await startControlServer({ path: c.readOnly.socket, mode: c.readOnly.mode, gid, allow: READ_ONLY_OPS, maxClients: c.maxClients, handler, log }));
    }
    if (c.metrics) metrics = await startMetricsServer(c.metrics, () => metricsSnapshot(running));
  } catch (e) {
    // Nothing half-started stays behind: the TAPs close, the checkers stop.
    for (const s of servers) s.close();
    checkers.stop();
    running.stop();
    throw e;
  }
  log.info(
    { interfaces: config.interfaces.length, routes: running.router.routes.list().length, services: config.services.length, control: config.control.socket, readOnlyControl: c.readOnly?.socket ?? null, metrics: config.control.metrics },
    'ready',
  );
  // BGP (issue 14): the served VIPs to BIRD, from now on, and all withdrawn before we stop.
  const announceTimer = announcer ? setInterval(() => announcer.update(running.director.liveServices()), ANNOUNCE_INTERVAL_MS) : null;
  announcer?.update(running.director.liveServices());
  process.on('SIGUSR1', () => log.info(counterSnapshot(running, config, servers), 'counters'));
  process.on('SIGHUP', () => {
    try {
      reload();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'reload refused; the running config is unchanged');
    }
  });
  releaseEarlySignals();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Still forwarding while BIRD withdraws: traffic leaves this director before it does.
    if (announceTimer) clearInterval(announceTimer);
    if (announcer) await announcer.withdrawAll();
    checkers.stop();
    log.info({ signal, ...counterSnapshot(running, config, servers) }, 'stopping');
    for (const s of servers) s.close();
    metrics?.close();
    running.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

type Args = Record<string, unknown>;

/** `tapvsadm -L --daemon`: the sync daemons and VRRP instances. */
function daemonView(r: RunningRouter): DaemonView {
  const s = r.ha.syncStatus();
  const iface = s ? r.router.interfaceByName(s.iface) : undefined;
  return { sync: s ? { ...s, maxlen: (iface?.mtu ?? 1500) - 28 } : null, vrrp: r.ha.vrrpStatus() };
}

/** ipvsadm's --start-daemon and --stop-daemon. */
function syncDaemonOp(r: RunningRouter, op: string, spec: unknown): null {
  const d = spec as Partial<DaemonSpec> | undefined;
  if (!d || (d.state !== 'master' && d.state !== 'backup')) throw new AdminError("'daemon.state' must be master or backup");
  if (op === 'stop-daemon') {
    r.ha.stopSync(d.state);
    return null;
  }
  const iface = typeof d.iface === 'string' ? r.router.interfaceByName(d.iface) : undefined;
  if (!iface) throw new AdminError(`no interface named '${String(d.iface)}' (tapvs interfaces: ${r.router.interfaces.map((i) => i.name).join(', ')})`);
  if (iface.sourceFor(0) === null) throw new AdminError(`interface '${iface.name}' has no address to send sync from`);
  const syncid = d.syncid ?? 0;
  if (!Number.isInteger(syncid) || syncid < 0 || syncid > 255) throw new AdminError('syncid must be 0..255');
  try {
    r.ha.startSync({ iface, syncid, peer: null }, d.state);
  } catch (e) {
    throw new AdminError((e as Error).message);
  }
  return null;
}

/** Attaches a tracer while anyone watches, and takes it away with the last watcher. */
function traceStream(router: Router, filter: ReturnType<typeof parseTraceFilter>): Stream {
  return new Stream((send) => {
    const tracer = router.tracer ?? new PacketTracer();
    router.tracer = tracer;
    const unwatch = tracer.watch(filter, send);
    return () => {
      unwatch();
      if (!tracer.watching && router.tracer === tracer) router.tracer = null;
    };
  });
}

/** Runs one step of a batch, saying which failed: its input line when the client gave one. */
function inBatch(i: number, c: { op: string; line?: unknown }, step: () => unknown): void {
  try {
    step();
  } catch (e) {
    const where = typeof c.line === 'number' ? `line ${c.line}` : `command ${i + 1}`;
    throw new AdminError(`${where} (${c.op}): ${(e as Error).message}; nothing was changed`);
  }
}

/** The operations that change or read services: the same on the live director and on a scratch copy. */
function adminOp(admin: Admin, op: string, a: Args): unknown {
  const svc = a.service as Parameters<Admin['deleteService']>[0];
  const dest = a.dest as Parameters<Admin['addDest']>[1];
  switch (op) {
    case 'list':
      return admin.list();
    case 'add-service':
      return admin.addService(a.service as Parameters<Admin['addService']>[0]);
    case 'edit-service':
      return admin.editService(a.service as Parameters<Admin['editService']>[0]);
    case 'delete-service':
      return admin.deleteService(svc);
    case 'add-dest':
      return admin.addDest(svc, dest);
    case 'edit-dest':
      return admin.editDest(svc, dest);
    case 'delete-dest':
      return admin.deleteDest(svc, dest);
    case 'clear':
      return admin.clear();
    case 'zero':
      return admin.zero(a.service ? svc : undefined);
    case 'get-timeouts':
      return admin.getTimeouts();
    case 'set-timeouts':
      return admin.setTimeouts(a.timeouts as Parameters<Admin['setTimeouts']>[0]);
    default:
      throw new Error(`unknown operation '${op}'`);
  }
}

/** The control socket's operations (tapvsadm speaks these). */
function controlOp(r: RunningRouter, config: Config, servers: ControlServer[], ops: { reload: () => unknown; batch: (commands: unknown) => unknown; save: () => unknown; drain: (on: boolean) => unknown }, op: string, a: Args): unknown {
  switch (op) {
    case 'drain':
      return ops.drain(a.cancel !== true);
    case 'connections':
      return r.admin.connections(typeof a.after === 'number' ? a.after : 0, typeof a.limit === 'number' ? a.limit : undefined);
    case 'counters':
      return counterSnapshot(r, config, servers);
    case 'reload':
      return ops.reload();
    case 'save':
      return ops.save();
    case 'batch':
      return ops.batch(a.commands);
    case 'trace':
      return traceStream(r.router, parseTraceFilter(typeof a.match === 'string' ? a.match : undefined));
    case 'daemon':
      return daemonView(r);
    case 'start-daemon':
    case 'stop-daemon':
      return syncDaemonOp(r, op, a.daemon);
    default:
      return adminOp(r.admin, op, a);
  }
}
