// Integration-test helpers: a lab per test file under a unique prefix, torn down even on
// failure; commands on lab hosts; router counters on demand; tshark captures.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { labDown, labUp, hostNs, readState, switchNs, type LabSpec, type LabState } from '../../src/lab/lab.js';

export function canRunLabs(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'list']).status === 0;
}

/** Prints why a suite is skipped; uvu has no skip-with-reason of its own. */
export function skipUnlessRoot(file: string): boolean {
  if (canRunLabs()) return false;
  console.log(`  skipped ${file}: integration tests need root and ip netns`);
  return true;
}

export function uniquePrefix(tag: string): string {
  return `t${tag}${randomBytes(2).toString('hex')}`.slice(0, 8);
}

const live = new Set<string>();
let hooked = false;
function cleanupOnExit(): void {
  if (hooked) return;
  hooked = true;
  const sweep = () => {
    for (const prefix of live) {
      // Routers (tapvs or QEMU) and daemons run detached: they would outlive the namespaces.
      const state = readState(prefix);
      for (const { pid } of [...(state?.routers ?? []), ...(state?.daemons ?? [])]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      for (const ns of spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n')) {
        const name = ns.split(' ')[0];
        if (name.startsWith(`${prefix}-`)) spawnSync('ip', ['netns', 'delete', name]);
      }
    }
  };
  process.on('exit', sweep);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
}

export async function startLab(spec: LabSpec): Promise<LabState> {
  cleanupOnExit();
  live.add(spec.prefix);
  return labUp(spec);
}

/** Captures still running: a failed assertion must not leave tshark holding the test process open. */
const captures = new Set<Capture>();

export async function stopLab(prefix: string): Promise<void> {
  for (const c of captures) await c.stop();
  await labDown(prefix);
  live.delete(prefix);
}

export interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command on a lab host and waits (bounded by timeoutMs). */
export function onHost(prefix: string, host: string, cmd: string[], timeoutMs = 30_000): Result {
  const ns = host === 'sw' ? switchNs(prefix) : hostNs(prefix, host);
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Starts a long-running command on a lab host; the caller kills it. */
export function spawnOnHost(prefix: string, host: string, cmd: string[]): ChildProcess {
  const ns = host === 'sw' ? switchNs(prefix) : hostNs(prefix, host);
  return spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asks a lab router for its counters (SIGUSR1) and reads them from its log. */
export async function routerCounters(state: LabState, router: string): Promise<{ router: Record<string, number>; ports: Record<string, number | string>[] }> {
  const r = state.routers.find((x) => x.name === router);
  if (!r) throw new Error(`no router ${router}`);
  const before = readFileSync(r.log, 'utf8').length;
  process.kill(r.pid, 'SIGUSR1');
  for (let i = 0; i < 100; i++) {
    await sleep(30);
    const tail = readFileSync(r.log, 'utf8').slice(before);
    const line = tail.split('\n').find((l) => l.includes('"msg":"counters"'));
    if (line) return JSON.parse(line);
  }
  throw new Error(`router ${router} did not report counters`);
}

export function routerAlive(state: LabState, router: string): boolean {
  const r = state.routers.find((x) => x.name === router)!;
  try {
    process.kill(r.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A tshark capture in the switch namespace, on one bridge or device, to a pcap file. */
export class Capture {
  private child: ChildProcess;
  readonly file: string;
  private constructor(prefix: string, iface: string, filter: string, count: number) {
    this.file = `/tmp/${prefix}-${iface}.pcapng`;
    rmSync(this.file, { force: true });
    this.child = spawn('ip', ['netns', 'exec', switchNs(prefix), 'tshark', '-q', '-n', '-i', iface, '-f', filter, ...(count ? ['-c', String(count)] : []), '-w', this.file], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  /** Captures until fields() or stop(); `count` > 0 stops after that many frames. */
  static async start(prefix: string, iface: string, filter = '', count = 0): Promise<Capture> {
    const c = new Capture(prefix, iface, filter, count);
    captures.add(c);
    let err = '';
    c.child.stderr!.on('data', (d) => (err += d));
    for (let i = 0; i < 200; i++) {
      if (err.includes('Capturing on')) {
        await sleep(300); // dumpcap says so a moment before its socket is live
        return c;
      }
      if (c.child.exitCode !== null) throw new Error(`tshark failed: ${err}`);
      await sleep(25);
    }
    throw new Error(`tshark did not start: ${err}`);
  }
  /** Stops capturing and returns tshark's field output for a display filter. */
  async fields(displayFilter: string, fields: string[]): Promise<string[][]> {
    await sleep(300); // let the last frames reach the file
    await stopChild(this.child);
    captures.delete(this);
    if (!existsSync(this.file)) return [];
    const args = ['-n', '-r', this.file, '-Y', displayFilter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
    const r = spawnSync('tshark', args, { encoding: 'utf8' });
    rmSync(this.file, { force: true });
    if (r.status !== 0) throw new Error(`tshark -r: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
  }
  async stop(): Promise<void> {
    captures.delete(this);
    await stopChild(this.child);
    rmSync(this.file, { force: true });
  }
}

/** A slow HTTP download on a lab host (test/fixtures/slow-get.py): resolves with its JSON report. */
export function slowDownload(prefix: string, host: string, addr: string, path: string, bytesPerSecond: number): Promise<{ bytes: number; sha256: string; seconds: number; error: string | null }> {
  const script = new URL('../fixtures/slow-get.py', import.meta.url).pathname;
  const child = spawnOnHost(prefix, host, ['python3', script, addr, path, String(bytesPerSecond)]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', () => resolve(JSON.parse(out.trim().split('\n').pop() || '{"bytes":0,"sha256":"","seconds":0,"error":"no output"}'))));
}
