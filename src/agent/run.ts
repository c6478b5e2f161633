// `tapvs agent run`: the agent's long-running side. For the tun method it decapsulates; for
// both methods it serves the health endpoint a director can probe: 200 when every doctor
// check passes, 503 with the failing ones otherwise.

import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createLogger } from '../control/log.js';
import { PacketEngine } from '../io/engine.js';
import { loadNative } from '../io/native.js';
import { parseIpv4 } from '../packet/address.js';
import { AgentError, AgentExit, doctor, type AgentState } from './agent.js';
import { Decapsulator, RAW_PORT, TUN_PORT } from './decap.js';

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
  const directors = new Set(
    o.directors.map((d) => {
      const a = parseIpv4(d);
      if (a === null) throw new AgentError(AgentExit.Usage, `agent: --director '${d}' is not an IPv4 address`);
      return a;
    }),
  );

  let engine: PacketEngine | null = null;
  let decap: Decapsulator | null = null;
  if (state.method === 'tun') {
    const native = loadNative();
    engine = new PacketEngine((w) => new native.Engine({ maxPorts: 2, slotCount: 4096, slotSize: 2048 }, w), { receive: () => undefined });
    decap = new Decapsulator(engine, directors, new Set(state.vips.map((v) => parseIpv4(v)!)));
    engine.handler = decap;
    try {
      engine.openRawIpip(RAW_PORT);
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
