// Turns a validated config into a running router on a packet engine.

import { ConfigError, type Config } from './control/config.js';
import { formatIpv4 } from './packet/address.js';
import { Interface } from './l2/interface.js';
import { RouteTable } from './l3/routes.js';
import type { PacketEngine } from './io/engine.js';
import { Router, type Log } from './router.js';

/** Interfaces take ports 0..n-1 in config order. */
export function buildRouter(config: Config, engine: PacketEngine, log: Log, now: () => number = () => performance.now()): Router {
  const interfaces = config.interfaces.map(
    (c, port) => new Interface(c.name, port, c.mac, c.mtu, c.addresses.map((a) => ({ ...a, role: 'primary' as const }))),
  );
  const routes = new RouteTable();
  for (const iface of interfaces) {
    for (const a of iface.addresses) routes.add({ network: a.address, length: a.length, via: 0, iface, kind: 'connected' });
  }
  config.routes.forEach((r, i) => {
    const iface = r.dev !== null ? interfaces.find((x) => x.name === r.dev)! : routes.lookup(r.via)?.iface;
    if (!iface) throw new ConfigError(`$.routes[${i}].via`, `gateway ${formatIpv4(r.via)} is not on any connected network (add 'dev', or an address on its subnet)`);
    routes.add({ network: r.network, length: r.length, via: r.via, iface, kind: 'static' });
  });
  const router = new Router(engine, interfaces, routes, {
    icmpRatePerSecond: config.icmp.ratePerSecond,
    icmpBurst: config.icmp.burst,
    neighbour: config.neighbour,
    ttl: config.ttl,
    now,
    log,
  });
  engine.handler = router;
  return router;
}
