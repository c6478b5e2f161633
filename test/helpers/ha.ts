// Helpers for the high-availability labs: a director's VRRP state over its control socket,
// the gateway's ARP entry for the VIP, and waiting for either to change.

import { spawnSync } from 'node:child_process';
import { controlRequest } from '../../src/control/socket.js';
import { controlSocket, hostNs } from '../../src/lab/lab.js';
import type { DaemonView } from '../../src/control/ipvsadm-format.js';
import { onHost, sleep } from './lab.js';

export async function daemonView(prefix: string, router: string): Promise<DaemonView> {
  return (await controlRequest(controlSocket(prefix, router), 'daemon')) as DaemonView;
}

export async function vrrpState(prefix: string, router: string): Promise<string> {
  try {
    return (await daemonView(prefix, router)).vrrp[0].state;
  } catch {
    return 'DOWN';
  }
}

/** Polls `probe` every 20 ms until it returns true; resolves with the ms it took, or throws. */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await probe()) return performance.now() - start;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The MAC the gateway's ARP cache holds for `ip` on its LAN leg, or null. */
export function gatewayMacFor(prefix: string, ip: string): string | null {
  const out = onHost(prefix, 'gateway', ['ip', 'neigh', 'show', ip, 'dev', 'eth1']).stdout;
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1] ?? null;
}

/** The MAC of a lab host's eth0. */
export function hostMac(prefix: string, host: string): string {
  const out = spawnSync('ip', ['-n', hostNs(prefix, host), 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout;
  return /link\/ether ([0-9a-f:]{17})/.exec(out)![1];
}

/** SIGKILLs every process in a host's namespace (keepalived and its VRRP child). */
export function killHost(prefix: string, host: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', hostNs(prefix, host)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** RFC 5798's Master_Down_Interval for a priority and an advertisement interval. */
export const masterDownMs = (priority: number, intervalMs = 1000) => 3 * intervalMs + ((256 - priority) * intervalMs) / 256;
