// Failover time of a tapvs pair: from the master's death (kill -9) to the first packet the
// backup forwards. A steady stream of SYNs (hping3, 200/s) from the client to the VIP keeps
// something to forward at every moment; tshark on the LAN bridge timestamps the first frame
// from the backup's MAC to a real server after the kill.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { VIP, directorLab } from '../src/lab/director.js';
import { controlSocket, hostNs, labDown, labRouterMac, labUp, readState, stopLabRouter, switchNs } from '../src/lab/lab.js';
import { controlRequest } from '../src/control/socket.js';
import type { DaemonView } from '../src/control/ipvsadm-format.js';

const PREFIX = 'tvbenha';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function vrrpState(router: string): Promise<string> {
  try {
    return ((await controlRequest(controlSocket(PREFIX, router), 'daemon')) as DaemonView).vrrp[0].state;
  } catch {
    return 'DOWN';
  }
}

export interface FailoverResult {
  /** From the kill to the backup's first forwarded packet. */
  failoverMs: number;
  /** RFC 5798's Master_Down_Interval for the backup (priority 100, 1 s adverts): what VRRP alone allows. */
  masterDownMs: number;
}

export async function failoverBench(): Promise<FailoverResult> {
  await labDown(PREFIX);
  await labUp(directorLab(PREFIX, 'dr', { ha: 'tapvs' }));
  const pcap = `/tmp/${PREFIX}-failover.pcap`;
  try {
    for (let i = 0; i < 100 && (await vrrpState('director1')) !== 'MASTER'; i++) await sleep(100);
    const backupMac = labRouterMac(PREFIX, 'director2', 'lan');
    const capture = spawn('ip', ['netns', 'exec', switchNs(PREFIX), 'tshark', '-q', '-n', '-i', 'br-lan', '-f', `ether src ${backupMac} and tcp dst port 80`, '-w', pcap], { stdio: 'ignore' });
    const syns = spawn('ip', ['netns', 'exec', hostNs(PREFIX, 'client'), 'hping3', '-q', '-S', '-p', '80', '-i', 'u5000', VIP], { stdio: 'ignore' });
    await sleep(2500);
    const killedAt = Date.now() / 1000;
    await stopLabRouter(PREFIX, 'director1', 'SIGKILL');
    await sleep(6000);
    syns.kill('SIGKILL');
    capture.kill('SIGINT');
    await new Promise((r) => capture.on('exit', r));
    const times = spawnSync('tshark', ['-n', '-r', pcap, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    const first = times.find((t) => t > killedAt);
    if (first === undefined) throw new Error(`failover bench: the backup forwarded nothing in 6 s (its log: ${readFileSync(readState(PREFIX)!.routers.find((r) => r.name === 'director2')!.log, 'utf8').slice(-600)})`);
    return { failoverMs: (first - killedAt) * 1000, masterDownMs: 3000 + ((256 - 100) * 1000) / 256 };
  } finally {
    rmSync(pcap, { force: true });
    await labDown(PREFIX);
  }
}
