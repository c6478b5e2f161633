// `tapvs agent run`: the agent's long-running side. For the tun method it decapsulates (IP-in-IP,
// and IPv6-in-IPv6 when the host has an IPv6 VIP); for
// both methods it serves the health endpoint a director can probe: 200 when every doctor
// check passes, 503 with the failing ones otherwise.

import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createLogger } from '../control/log.js';
import { PacketEngine } from '../io/engine.js';
import { loadNative } from '../io/native.js';
import { parseIpv4 } from '../packet/address.js';
import { isIpv6Text, parseIpv6, type Ipv6 } from '../packet/address6.js';
import { AgentError, AgentExit, doctor, type AgentState } from './agent.js';
import { Decapsulator, RAW6_PORT, RAW_PORT, TUN_PORT } from './decap.js';

export interface RunOptions {
  stateFile: string;
  healthPort: number | null;
  directors: string[];
  logLevel: string;
}

export async function runAgent(o: RunOptions): Promise<void> {
  const log = createLogger(o.logLevel);
  let state: AgentState;
  try {
    state = JSON.parse(readFileSync(o.stateFile, 'utf8')) as AgentState;
  } catch {
    throw new AgentError(AgentExit.Failed, `agent: no state in ${o.stateFile}: run tapvs agent setup first`);
  }
  const directors = new Set<number>();
  const directors6: Ipv6[] = [];
  for (const d of o.directors) {
    const a = isIpv6Text(d) ? parseIpv6(d) : parseIpv4(d);
    if (a === null) throw new AgentError(AgentExit.Usage, `agent: --director '${d}' is not an IPv4 or IPv6 address`);
    if (typeof a === 'number') directors.add(a);
    else directors6.push(a);
  }

  let engine: PacketEngine | null = null;
  let decap: Decapsulator | null = null;
  if (state.method === 'tun') {
    const native = loadNative();
    const vips6 = state.vips.filter(isIpv6Text).map((v) => parseIpv6(v)!);
    engine = new PacketEngine((w) => new native.Engine({ maxPorts: 3, slotCount: 4096, slotSize: 2048 }, w), { receive: () => undefined });
    decap = new Decapsulator(engine, directors, new Set(state.vips.filter((v) => !isIpv6Text(v)).map((v) => parseIpv4(v)!)), { directors: directors6, vips: vips6 });
    engine.handler = decap;
    try {
      engine.openRawTunnel(RAW_PORT, 4);
      if (vips6.length > 0) engine.openRawTunnel(RAW6_PORT, 6);
      engine.openTap(TUN_PORT, state.device, 'attach', 'tun');
    } catch (e) {
      engine.destroy();
      throw new AgentError(AgentExit.Failed, `agent: ${(e as Error).message}`);
    }
  }

  let server: Server | null = null;
  if (o.healthPort !== null) {
    server = createServer((req, res) => {
      if (req.url !== '/health') {
        res.writeHead(404).end();
        return;
      }
      const checks = doctor(o.stateFile);
      const healthy = checks.every((c) => c.ok);
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ healthy, checks, decap: decap?.counters ?? null })}\n`);
    });
    await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(o.healthPort!, resolve));
  }
  log.info({ method: state.method, device: state.device, vips: state.vips, health: o.healthPort, directors: o.directors }, 'ready');
  process.on('SIGUSR1', () => log.info({ decap: decap?.counters ?? null }, 'counters'));
  const stop = () => {
    log.info({ decap: decap?.counters ?? null }, 'stopping');
    server?.close();
    engine?.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (!engine && !server) setInterval(() => undefined, 1 << 30); // nothing to serve: stay up for the unit
}
