// TCP throughput (iperf3, 1 and 4 streams) through each forwarder, beside the kernel's own
// forwarding between namespaces over veth (the anchor), in one run; with each forwarder's CPU
// seconds per GB carried. The forwarders sit where bench/run.ts puts them, between two TAPs.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface TcpRun {
  path: string;
  streams: number;
  gbps: number;
  /** The forwarder's CPU seconds (all threads) per GB carried; null for the kernel anchor. */
  cpuSecondsPerGB: number | null;
}

const ANCHOR = 'tvbk'; // namespaces tvbk-send, tvbk-fwd, tvbk-recv
const SECONDS = Number(process.env.BENCH_TCP_SECONDS ?? 6);

function sh(cmd: string[]): string {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** iperf3 from `clientNs` to `server` for SECONDS: Gbit/s and bytes received. */
export function iperf(clientNs: string, server: string, streams: number): { gbps: number; bytes: number } {
  const out = sh(['ip', 'netns', 'exec', clientNs, 'iperf3', '-c', server, '-t', String(SECONDS), '-P', String(streams), '-J', '--connect-timeout', '3000']);
  const report = JSON.parse(out) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
  return { gbps: report.end.sum_received.bits_per_second / 1e9, bytes: report.end.sum_received.bytes };
}

/** An iperf3 server in a namespace; the caller kills it. */
export function iperfServer(ns: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s'], { stdio: 'ignore' });
}

/** The anchor: sender -> kernel router -> receiver, veth pairs, ip_forward on. */
export function kernelAnchor(): { gbps1: number; gbps4: number } {
  const ns = (n: string) => `${ANCHOR}-${n}`;
  teardownAnchor();
  try {
    for (const n of ['send', 'fwd', 'recv']) sh(['ip', 'netns', 'add', ns(n)]);
    sh(['ip', 'link', 'add', 'tvbk-s', 'netns', ns('send'), 'type', 'veth', 'peer', 'name', 'tvbk-fs', 'netns', ns('fwd')]);
    sh(['ip', 'link', 'add', 'tvbk-r', 'netns', ns('recv'), 'type', 'veth', 'peer', 'name', 'tvbk-fr', 'netns', ns('fwd')]);
    const inNs = (n: string, ...cmd: string[]) => sh(['ip', '-n', ns(n), ...cmd]);
    inNs('send', 'addr', 'add', '10.91.1.2/24', 'dev', 'tvbk-s');
    inNs('fwd', 'addr', 'add', '10.91.1.1/24', 'dev', 'tvbk-fs');
    inNs('fwd', 'addr', 'add', '10.91.2.1/24', 'dev', 'tvbk-fr');
    inNs('recv', 'addr', 'add', '10.91.2.2/24', 'dev', 'tvbk-r');
    for (const [n, dev] of [['send', 'tvbk-s'], ['fwd', 'tvbk-fs'], ['fwd', 'tvbk-fr'], ['recv', 'tvbk-r']]) inNs(n, 'link', 'set', dev, 'up');
    for (const n of ['send', 'fwd', 'recv']) inNs(n, 'link', 'set', 'lo', 'up');
    inNs('send', 'route', 'add', 'default', 'via', '10.91.1.1');
    inNs('recv', 'route', 'add', 'default', 'via', '10.91.2.1');
    sh(['ip', 'netns', 'exec', ns('fwd'), 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const server = iperfServer(ns('recv'));
    try {
      spawnSync('sleep', ['0.5']);
      return { gbps1: iperf(ns('send'), '10.91.2.2', 1).gbps, gbps4: iperf(ns('send'), '10.91.2.2', 4).gbps };
    } finally {
      server.kill('SIGKILL');
    }
  } finally {
    teardownAnchor();
  }
}

function teardownAnchor(): void {
  for (const n of ['send', 'fwd', 'recv']) spawnSync('ip', ['netns', 'delete', `${ANCHOR}-${n}`]);
}
