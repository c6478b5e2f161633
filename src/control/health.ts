// Health checks for real servers, as keepalived does them: a probe every `interval`, each
// bounded by `timeout`; `fall` failures in a row take a server out (weight 0, "inhibit", or
// removed from the service), `rise` successes in a row bring it back with its configured
// weight. Probes run from the kernel's sockets, so they need the director's management
// address to reach the real servers (the data NICs belong to tapvs alone).

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { connect } from 'node:net';

export type CheckType = 'tcp' | 'http' | 'udp' | 'command';

export interface HealthCheckConfig {
  type: CheckType;
  /** Port to probe; the real server's port when absent. */
  port: number | null;
  /** http: the path to GET and the status that means healthy. */
  path: string;
  expectStatus: number;
  /** udp: bytes to send (hex), and whether any answer at all is required. */
  sendHex: string;
  /** command: run with the real server's address and port as arguments; exit 0 is healthy. */
  command: string[];
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  onFail: 'inhibit' | 'remove';
}

export const DEFAULT_HEALTH: Omit<HealthCheckConfig, 'type'> = {
  port: null,
  path: '/',
  expectStatus: 200,
  sendHex: '',
  command: [],
  intervalMs: 2000,
  timeoutMs: 1000,
  rise: 2,
  fall: 2,
  onFail: 'inhibit',
};

/** Probes running at once across the process: many servers with short intervals cannot fork-storm the box. */
export const MAX_CONCURRENT_PROBES = 16;

/**
 * One probe: resolves true (healthy) or false, never rejects, never outlives the timeout by
 * much. A setting the probe cannot use (a bad path, port or argument) is a failed probe.
 */
export function probe(c: HealthCheckConfig, addr: string, port: number): Promise<boolean> {
  const p = c.port ?? port;
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        cleanup();
      } catch {
        // already gone
      }
      resolve(ok);
    };
    let cleanup = () => {};
    const timer = setTimeout(() => done(false), c.timeoutMs);
    try {
      cleanup = startProbe(c, addr, p, done);
    } catch {
      done(false);
    }
  });
}

/** Starts one probe; returns how to abandon it. May throw on settings Node refuses. */
function startProbe(c: HealthCheckConfig, addr: string, p: number, done: (ok: boolean) => void): () => void {
  switch (c.type) {
    case 'tcp': {
      const s = connect({ host: addr, port: p }, () => done(true));
      s.on('error', () => done(false));
      return () => s.destroy();
    }
    case 'http': {
      const req = request({ host: addr, port: p, path: c.path, method: 'GET', headers: { 'user-agent': 'tapvs-health' } }, (res) => {
        res.resume();
        done(res.statusCode === c.expectStatus);
      });
      req.on('error', () => done(false));
      req.end();
      return () => req.destroy();
    }
    case 'udp': {
      // Healthy when the server answers; an ICMP port unreachable surfaces as an error.
      const s = createSocket('udp4');
      s.on('message', () => done(true));
      s.on('error', () => done(false));
      s.connect(p, addr, () => s.send(Buffer.from(c.sendHex, 'hex')));
      return () => s.close();
    }
    case 'command': {
      // Its own process group, so a timeout kills what it started too, not only the shell.
      const child = spawn(c.command[0], [...c.command.slice(1), addr, String(p)], { stdio: 'ignore', detached: true });
      child.on('exit', (code) => done(code === 0));
      child.on('error', () => done(false));
      return () => {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // the group is gone
          }
        }
      };
    }
  }
}

/** At most `max` probes at once; the rest wait their turn (one per checker at most). */
export class ProbeLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most that ran at once (tests and metrics). */
  peak = 0;

  constructor(readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

export const sharedProbeLimiter = new ProbeLimiter(MAX_CONCURRENT_PROBES);

export interface Checked {
  /** A label for logs: "TCP 192.168.1.2:80 -> 192.168.1.11:80". */
  name: string;
  addr: string;
  port: number;
  check: HealthCheckConfig;
  /** Take the server out of service (fall), or put it back (rise). */
  setHealthy(healthy: boolean): void;
  /** What the server is believed to be at the start (a reload carries a verdict over); healthy if absent. */
  healthy?: boolean;
}

export interface HealthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Runs the checks of one real server until stopped; reports only transitions. */
export class HealthChecker {
  private healthy: boolean;
  private streak = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly target: Checked,
    private readonly log: HealthLog,
    private readonly limiter: ProbeLimiter = sharedProbeLimiter,
  ) {
    this.healthy = target.healthy ?? true;
  }

  get isHealthy(): boolean {
    return this.healthy;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      const ok = await this.limiter.run(() => probe(this.target.check, this.target.addr, this.target.port));
      if (this.stopped) return;
      this.observe(ok);
      this.timer = setTimeout(tick, this.target.check.intervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Counts a probe result toward rise or fall. */
  observe(ok: boolean): void {
    const c = this.target.check;
    if (ok === this.healthy) {
      this.streak = 0;
      return;
    }
    this.streak++;
    if (this.streak < (ok ? c.rise : c.fall)) return;
    this.streak = 0;
    this.healthy = ok;
    this.target.setHealthy(ok);
    const msg = ok ? 'real server healthy again: back in service' : `real server failed ${c.fall} checks: ${c.onFail === 'remove' ? 'removed' : 'inhibited (weight 0)'}`;
    (ok ? this.log.info : this.log.warn).call(this.log, { server: this.target.name, check: c.type }, msg);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
