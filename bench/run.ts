// npm run bench: UDP from a sender namespace to a receiver namespace through three forwarders,
// measured in one run on this machine, plus the JavaScript per-frame microbenchmark.
//
//   (a) native  the addon's reference forwarder: same rings and threads, no JavaScript
//   (b) tapvs   the router: ARP-resolved next hop, TTL, checksum, MAC rewrite
//   (c) cbridge one poll(), read() and write() per frame (bench/c/tapbridge.c)
//
// All three sit between the same two TAPs, in the same lab; the generator and the sink are
// small C programs (bench/c), bounded in time.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labDown, labUp, tapvsBundle, switchNs, hostNs, type LabSpec } from '../src/lab/lab.js';
import { newConnectionBench, type MicroResult } from './micro.js';
import { build } from 'esbuild';
import { failoverBench } from './failover.js';
import { iperf, iperfServer, kernelAnchor, type TcpRun } from './tcp.js';
import { tableBench } from './conn-table.js';
import { quietVipSetup } from '../src/lab/director.js';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, 'bin');
const PREFIX = 'tvbench';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const HEAP_FLOOD_SECONDS = 10;
const PORT = 9000;
const IPERF_PORT = 5201;

/** tapvs6: the same router and DR service over IPv6. */
type Path = 'native' | 'tapvs' | 'cbridge' | 'tapvs-dr' | 'tapvs-nat' | 'tapvs6' | 'tapvs6-dr';
/** A forwarder; "+gso": its TAPs with virtio-net headers and TSO/checksum offloads (super-frames). */
type Forwarder = Path | `${Path}+gso`;

/** The UDP virtual service the director runs read in the DR and NAT runs. */
const BENCH_VIP = '10.1.0.100';
const BENCH_VIP6 = '2001:db8:91:1::100';
/** The receiver's IPv6 address: what IPv6 routing is measured to. */
const RECEIVER6 = '2001:db8:91:2::2';

interface HeapProbe {
  before: number;
  after: number;
  framesPerWakeup: number;
}

interface Run {
  forwarder: Forwarder;
  payload: number;
  sentPps: number;
  receivedPps: number;
  loss: number;
  gbps: number;
  /** The forwarder's CPU time (all threads) over the frames it delivered: what a frame costs it, whoever saturates first. */
  cpuNsPerFrame: number;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * The JavaScript per-frame figure comes from an esbuild bundle, as tapvs runs (dist/tapvs.js),
 * each trial in a fresh process: under tsx every imported constant is a module getter, which
 * the bundle does not have and the daemon never pays.
 */
async function buildMicro(): Promise<string> {
  const out = join(bin, 'micro.mjs');
  await build({ entryPoints: [join(here, 'micro.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' });
  return out;
}

function buildTools(): void {
  mkdirSync(bin, { recursive: true });
  for (const tool of ['udpgen', 'udpsink', 'tapbridge', 'memlat', 'perframe']) sh('gcc', ['-O2', '-Wall', '-o', join(bin, tool), join(here, 'c', `${tool}.c`)]);
}

const spec: LabSpec = {
  prefix: PREFIX,
  segments: ['a', 'b'],
  hosts: [
    // 10.1/10.2 are routed by tapvs; 10.5 is one subnet that the L2 forwarders join.
    { name: 'sender', segment: 'a', address: '10.1.0.2/24', extraAddresses: ['10.5.0.1/24'], gateway: '10.1.0.1', address6: '2001:db8:91:1::2/64', gateway6: '2001:db8:91:1::1' },
    // The receiver is also the real server: for DR it holds the VIPs, quietly, on lo.
    { name: 'receiver', segment: 'b', address: '10.2.0.2/24', extraAddresses: ['10.5.0.2/24'], gateway: '10.2.0.1', address6: `${RECEIVER6}/64`, gateway6: '2001:db8:91:2::1', setup: quietVipSetup(BENCH_VIP, BENCH_VIP6) },
  ],
  routers: [],
};

function inNs(ns: string, cmd: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function output(child: ChildProcess): { text: () => string; done: Promise<void> } {
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  return { text: () => text, done: new Promise((r) => child.on('exit', () => r())) };
}

async function waitFor(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A process's CPU time so far (all its threads, user + system), in nanoseconds. */
function cpuNs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) "
  return (Number(fields[11]) + Number(fields[12])) * (1e9 / CLOCK_TICKS); // utime, stime
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function lastJson(text: string): Record<string, number> {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON in: ${text}`);
  return JSON.parse(line);
}

async function stop(child: ChildProcess, done: Promise<void>): Promise<void> {
  child.kill('SIGTERM');
  await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
  child.kill('SIGKILL');
}

const tapvsConfig = join('/tmp', `${PREFIX}-tapvs.json`);

const pathOf = (kind: Forwarder): Path => kind.replace('+gso', '') as Path;

function startForwarder(kind: Forwarder): ChildProcess {
  const sw = switchNs(PREFIX);
  const offload = kind.endsWith('+gso');
  const path = pathOf(kind);
  if (path === 'native') return inNs(sw, [process.execPath, '--import', 'tsx', join(here, 'native-forward.ts'), 'fa', 'fb', ...(offload ? ['--offload'] : [])]);
  if (path === 'cbridge') return inNs(sw, [join(bin, 'tapbridge'), 'fa', 'fb', ...(offload ? ['offload'] : [])]);
  const method = path === 'tapvs-dr' || path === 'tapvs6-dr' ? 'dr' : path === 'tapvs-nat' ? 'nat' : null;
  writeFileSync(
    tapvsConfig,
    JSON.stringify({
      offload,
      interfaces: [
        { name: 'a', tap: 'fa', tapMode: 'attach', addresses: ['10.1.0.1/24', '2001:db8:91:1::1/64'] },
        { name: 'b', tap: 'fb', tapMode: 'attach', addresses: ['10.2.0.1/24', '2001:db8:91:2::1/64'] },
      ],
      services: method
        ? [
            { protocol: 'udp', vip: BENCH_VIP, port: PORT, scheduler: 'rr', realServers: [{ address: '10.2.0.2', method }] },
            { protocol: 'tcp', vip: BENCH_VIP, port: IPERF_PORT, scheduler: 'rr', realServers: [{ address: '10.2.0.2', method }] },
            ...(method === 'dr' ? [{ protocol: 'tcp', vip: BENCH_VIP6, port: IPERF_PORT, scheduler: 'rr', realServers: [{ address: RECEIVER6, method }] }] : []),
          ]
        : [],
      control: { socket: `/tmp/${PREFIX}-tapvs.sock` },
      log: { level: 'info' },
    }),
  );
  return inNs(sw, [process.execPath, '--expose-gc', tapvsBundle(), 'run', '--config', tapvsConfig]);
}

/** tapvs's counters (and heap after a full GC), asked for with SIGUSR1. */
interface Snapshot {
  process: { heapUsedBytes: number };
  ports: { rx_frames: number; js_wakeups: number }[];
}

async function tapvsSnapshot(child: ChildProcess, out: { text: () => string }): Promise<Snapshot> {
  const before = out.text().length;
  child.kill('SIGUSR1');
  let line: string | undefined;
  await waitFor(() => !!(line = out.text().slice(before).split('\n').find((l) => l.includes('"msg":"counters"'))), 'counters');
  return JSON.parse(line!);
}

async function measure(kind: Forwarder, payload: number, seconds: number, heap?: HeapProbe): Promise<Run> {
  const fwd = startForwarder(kind);
  const fwdOut = output(fwd);
  try {
    await waitFor(() => fwdOut.text().includes('ready'), `${kind} ready`);
    const path = pathOf(kind);
    const target = path === 'tapvs' ? '10.2.0.2' : path.startsWith('tapvs-') ? BENCH_VIP : '10.5.0.2';
    // Warm-up: neighbours resolved on every hop before the clock starts.
    sh('ip', ['netns', 'exec', hostNs(PREFIX, 'sender'), 'ping', '-c', '3', '-i', '0.2', '-W', '2', path.startsWith('tapvs-') ? '10.2.0.2' : target]);
    if (heap) heap.before = (await tapvsSnapshot(fwd, fwdOut)).process.heapUsedBytes;
    const sink = inNs(hostNs(PREFIX, 'receiver'), [join(bin, 'udpsink'), String(PORT), String(seconds + 5)]);
    const sinkOut = output(sink);
    await waitFor(() => sinkOut.text().includes('ready'), 'udpsink ready');
    const cpuBefore = cpuNs(fwd.pid!);
    const gen = inNs(hostNs(PREFIX, 'sender'), [join(bin, 'udpgen'), target, String(PORT), String(payload), String(seconds)]);
    const genOut = output(gen);
    await genOut.done;
    const cpu = cpuNs(fwd.pid!) - cpuBefore;
    await sinkOut.done;
    const g = lastJson(genOut.text());
    const s = lastJson(sinkOut.text());
    if (heap) {
      await new Promise((r) => setTimeout(r, 1000));
      const snap = await tapvsSnapshot(fwd, fwdOut);
      heap.after = snap.process.heapUsedBytes;
      const rx = snap.ports.reduce((n, p) => n + p.rx_frames, 0);
      const wakes = snap.ports.reduce((n, p) => n + p.js_wakeups, 0);
      heap.framesPerWakeup = rx / Math.max(1, wakes);
    }
    const sentPps = g.sent / g.seconds;
    const receivedPps = s.seconds > 0 ? s.received / s.seconds : 0;
    const frameBits = (payload + 8 + 20 + 14) * 8;
    return { forwarder: kind, payload, sentPps, receivedPps, loss: 1 - s.received / Math.max(1, g.sent), gbps: (receivedPps * frameBits) / 1e9, cpuNsPerFrame: cpu / Math.max(1, s.received) };
  } finally {
    await stop(fwd, fwdOut.done);
  }
}

/** iperf3 with 1 and 4 streams through a forwarder, and its CPU time per GB carried. */
async function tcpThrough(kind: Forwarder): Promise<TcpRun[]> {
  const fwd = startForwarder(kind);
  const fwdOut = output(fwd);
  try {
    await waitFor(() => fwdOut.text().includes('ready'), `${kind} ready`);
    const path = pathOf(kind);
    const target = { tapvs: '10.2.0.2', 'tapvs-dr': BENCH_VIP, 'tapvs-nat': BENCH_VIP, tapvs6: RECEIVER6, 'tapvs6-dr': BENCH_VIP6, native: '10.5.0.2', cbridge: '10.5.0.2' }[path];
    // Neighbours learnt before the clock starts (the real server's address, not the VIP).
    const six = path.startsWith('tapvs6');
    sh('ip', ['netns', 'exec', hostNs(PREFIX, 'sender'), 'ping', ...(six ? ['-6'] : []), '-c', '2', '-i', '0.2', '-W', '2', six ? RECEIVER6 : path.startsWith('tapvs-') ? '10.2.0.2' : target]);
    const out: TcpRun[] = [];
    for (const streams of [1, 4]) {
      process.stdout.write(`run: iperf3 ${streams} stream${streams > 1 ? 's' : ''} through ${kind} ... `);
      const before = cpuNs(fwd.pid!);
      const r = iperf(hostNs(PREFIX, 'sender'), target, streams);
      const cpu = (cpuNs(fwd.pid!) - before) / 1e9;
      console.log(`${fmt(r.gbps, 2)} Gbit/s`);
      out.push({ path: kind, streams, gbps: r.gbps, cpuSecondsPerGB: cpu / (r.bytes / 1e9) });
    }
    return out;
  } finally {
    await stop(fwd, fwdOut.done);
  }
}

/** The TCP forwarders: each without offloads (one frame per syscall) and with them (super-frames). */
const TCP_FORWARDERS: Forwarder[] = ['native', 'native+gso', 'cbridge+gso', 'tapvs', 'tapvs+gso', 'tapvs-dr+gso', 'tapvs-nat', 'tapvs-nat+gso', 'tapvs6+gso', 'tapvs6-dr+gso'];

async function tcpRunsThroughEach(): Promise<TcpRun[]> {
  console.log('tcp: iperf3 through each forwarder ...');
  const server = iperfServer(hostNs(PREFIX, 'receiver'));
  const runs: TcpRun[] = [];
  try {
    await new Promise((r) => setTimeout(r, 500));
    for (const kind of TCP_FORWARDERS) runs.push(...(await tcpThrough(kind)));
  } finally {
    server.kill('SIGKILL');
  }
  return runs;
}

function printTcp(anchor: { gbps1: number; gbps4: number }, tcpRuns: TcpRun[], ratios: Record<string, number>): void {
  console.log('\nTCP (iperf3)        streams   Gbit/s   x kernel   CPU s/GB');
  console.log(`${'kernel over veth'.padEnd(19)} ${'1'.padStart(7)} ${fmt(anchor.gbps1, 2).padStart(8)} ${'1.00'.padStart(10)}`);
  console.log(`${'kernel over veth'.padEnd(19)} ${'4'.padStart(7)} ${fmt(anchor.gbps4, 2).padStart(8)} ${'1.00'.padStart(10)}`);
  for (const t of tcpRuns) {
    const k = t.streams === 1 ? anchor.gbps1 : anchor.gbps4;
    ratios[`tcp ${t.path} ${t.streams}`] = t.gbps / k;
    console.log(`${t.path.padEnd(19)} ${String(t.streams).padStart(7)} ${fmt(t.gbps, 2).padStart(8)} ${fmt(t.gbps / k, 2).padStart(10)} ${fmt(t.cpuSecondsPerGB ?? 0, 2).padStart(10)}`);
  }
  console.log(`TCP targets: tapvs routing >= 0.5x the kernel, NAT >= 0.4x (1 stream, with offloads: ${fmt(ratios['tcp tapvs+gso 1'], 2)}x and ${fmt(ratios['tcp tapvs-nat+gso 1'], 2)}x)`);
  const oneStream = (path: string) => tcpRuns.find((t) => t.path === path && t.streams === 1)?.gbps ?? NaN;
  ratios['tcp ipv6/ipv4 routing'] = oneStream('tapvs6+gso') / oneStream('tapvs+gso');
  ratios['tcp ipv6/ipv4 dr'] = oneStream('tapvs6-dr+gso') / oneStream('tapvs-dr+gso');
  console.log(`IPv6 beside IPv4 (1 stream, offloads): routing ${fmt(ratios['tcp ipv6/ipv4 routing'], 2)}x, a DR service ${fmt(ratios['tcp ipv6/ipv4 dr'], 2)}x the IPv4 figure (x kernel above is against the IPv4 anchor)`);
}

/** A JavaScript trial of the per-frame work, and the same work in C, run on the same CPU one after the other. */
interface PerFramePair {
  cpu: number;
  js: MicroResult;
  cNsPerFrame: number;
}

/** Pairs of trials for the per-frame comparison; the CPUs take turns. */
const PER_FRAME_PAIRS = 6;

/**
 * The JavaScript per-frame figure beside the same work in C (bench/c/perframe.c), as pairs of
 * trials pinned to one CPU each. The two CPUs of a shared machine are not equally fast, and not
 * equally fast from minute to minute (the same C trial took 21 ns on one and 33-36 on the other,
 * minutes apart): a ratio is only worth something between trials that ran on the same CPU at
 * about the same time.
 */
async function perFrameAgainstC(): Promise<PerFramePair[]> {
  console.log(`micro: JavaScript work per frame over the in-memory port, beside the same work in C ...`);
  const micro = await buildMicro();
  const cpus = Math.max(1, Math.min(2, availableParallelism()));
  return Array.from({ length: PER_FRAME_PAIRS }, (_, k) => {
    const cpu = k % cpus;
    const c = () => lastJson(sh('taskset', ['-c', String(cpu), join(bin, 'perframe'), '64', '2000000'])).nsPerFrame;
    // C before and after: a C trial lasts a tenth of a second, and the faster of the two is the
    // less disturbed (which errs against JavaScript, not for it).
    const before = c();
    const js = JSON.parse(sh('taskset', ['-c', String(cpu), process.execPath, '--expose-gc', micro, '64', 'frame-only']).trim().split('\n')[0]) as MicroResult;
    return { cpu, js, cNsPerFrame: Math.min(before, c()) };
  });
}

/** Prints the per-frame comparison (`BENCH_ONLY=micro npm run bench` prints only this); returns JavaScript/C, the median over the pairs. */
function printPerFrame(pairs: PerFramePair[]): number {
  const ratios = pairs.map((p) => p.js.nsPerFrame / p.cNsPerFrame).sort((a, b) => a - b);
  const ratio = ratios[ratios.length >> 1];
  for (const p of pairs) console.log(`  CPU ${p.cpu}: JavaScript ${fmt(p.js.nsPerFrame, 1)} ns, C ${fmt(p.cNsPerFrame, 1)} ns, JavaScript/C ${fmt(p.js.nsPerFrame / p.cNsPerFrame, 2)}; heap growth ${fmt(p.js.heapGrowthBytesPerFrame, 3)} bytes/frame`);
  console.log(`JavaScript per frame (median of 512-frame rounds) against the same work in C, in ${pairs.length} pairs: JavaScript/C = ${fmt(ratio, 2)}, the median pair (target <= 2.0)`);
  return ratio;
}

/** `BENCH_ONLY=tcp npm run bench`: the TCP table alone, for work on that path. */
async function tcpOnly(): Promise<void> {
  await labDown(PREFIX);
  await labUp(spec);
  addForwarderTaps();
  let runs: TcpRun[];
  try {
    runs = await tcpRunsThroughEach();
  } finally {
    await labDown(PREFIX);
  }
  console.log('tcp: the kernel forwarding over veth (the anchor) ...');
  printTcp(kernelAnchor(), runs, {});
}

function addForwarderTaps(): void {
  const sw = switchNs(PREFIX);
  for (const [tap, seg] of [['fa', 'a'], ['fb', 'b']]) {
    sh('ip', ['netns', 'exec', sw, 'ip', 'tuntap', 'add', 'mode', 'tap', 'name', tap]);
    sh('ip', ['-n', sw, 'link', 'set', tap, 'master', `br-${seg}`, 'up']);
  }
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark builds namespaces and TAPs: run it as root');
  buildTools();
  if (process.env.BENCH_ONLY === 'tcp') return tcpOnly();
  const perFrame = await perFrameAgainstC();
  if (process.env.BENCH_ONLY === 'micro') {
    printPerFrame(perFrame);
    return;
  }
  console.log('connection table: 100k, 1M and 4M entries ...');
  const tables = [100_000, 1_000_000, 4_000_000].map((n) => tableBench(n, join(bin, 'memlat')));
  console.log('new connections through the director (in-memory port) ...');
  const newConns = newConnectionBench();
  console.log('connection sync: established connections per second with sync off, then on ...');
  const syncOff = newConnectionBench(200_000, { establish: true });
  const syncOn = newConnectionBench(200_000, { establish: true, sync: true });
  console.log('failover: a tapvs pair, the master killed under a stream of SYNs ...');
  const failover = await failoverBench();
  await labDown(PREFIX);
  await labUp(spec);
  addForwarderTaps();
  const runs: Run[] = [];
  const tcpRuns: TcpRun[] = [];
  const heap: HeapProbe = { before: 0, after: 0, framesPerWakeup: 0 };
  try {
    for (const payload of [64, 1400]) {
      const kinds: Forwarder[] = payload === 64 ? ['native', 'tapvs', 'cbridge', 'tapvs-dr', 'tapvs-nat'] : ['native', 'tapvs', 'cbridge'];
      for (const kind of kinds) {
        const heapRun = kind === 'tapvs' && payload === 64;
        process.stdout.write(`run: ${kind} ${payload} B for ${heapRun ? HEAP_FLOOD_SECONDS : SECONDS} s ... `);
        const r = await measure(kind, payload, heapRun ? HEAP_FLOOD_SECONDS : SECONDS, heapRun ? heap : undefined);
        console.log(`${fmt(r.receivedPps)} pps`);
        runs.push(r);
      }
    }
    tcpRuns.push(...(await tcpRunsThroughEach()));
  } finally {
    await labDown(PREFIX);
  }
  console.log('tcp: the kernel forwarding over veth (the anchor) ...');
  const anchor = kernelAnchor();

  console.log('\nforwarder  payload      sent pps  received pps    loss   Gbit/s   CPU ns/frame');
  for (const r of runs) {
    console.log(`${r.forwarder.padEnd(9)} ${String(r.payload).padStart(6)} B ${fmt(r.sentPps).padStart(12)} ${fmt(r.receivedPps).padStart(13)} ${fmt(r.loss * 100, 1).padStart(6)}% ${fmt(r.gbps, 3).padStart(8)} ${fmt(r.cpuNsPerFrame).padStart(14)}`);
  }
  const cpu = (k: Forwarder, p: number) => runs.find((r) => r.forwarder === k && r.payload === p)!.cpuNsPerFrame;
  const pps = (k: Forwarder, p: number) => runs.find((r) => r.forwarder === k && r.payload === p)!.receivedPps;
  const ratios: Record<string, number> = {};
  console.log('');
  for (const p of [64, 1400]) {
    ratios[`b/a ${p}`] = pps('tapvs', p) / pps('native', p);
    ratios[`b/c ${p}`] = pps('tapvs', p) / pps('cbridge', p);
    console.log(`${p} B: tapvs/native = ${fmt(ratios[`b/a ${p}`], 2)} (target >= 0.8 at 64 B)   tapvs/cbridge = ${fmt(ratios[`b/c ${p}`], 2)} (target >= 1.0 at 64 B)`);
    ratios[`cpu b/a ${p}`] = cpu('tapvs', p) / cpu('native', p);
    ratios[`cpu c/a ${p}`] = cpu('cbridge', p) / cpu('native', p);
    console.log(`${p} B: CPU per forwarded frame, tapvs/native = ${fmt(ratios[`cpu b/a ${p}`], 2)} (target <= 1.3)   cbridge/native = ${fmt(ratios[`cpu c/a ${p}`], 2)}`);
  }
  ratios['js/c per frame'] = printPerFrame(perFrame);
  const heapChange = (heap.after - heap.before) / heap.before;
  console.log(`tapvs heap before/after a ${HEAP_FLOOD_SECONDS} s flood: ${fmt(heap.before / 2 ** 20, 2)} / ${fmt(heap.after / 2 ** 20, 2)} MiB (${fmt(heapChange * 100, 1)}%, target within 5%)`);
  console.log(`tapvs frames per JavaScript wake-up during that flood: ${fmt(heap.framesPerWakeup, 1)}`);
  for (const m of ['dr', 'nat'] as const) {
    ratios[`${m}/native 64`] = pps(`tapvs-${m}`, 64) / pps('native', 64);
    console.log(`64 B through a ${m.toUpperCase()} service: ${fmt(pps(`tapvs-${m}`, 64))} pps = ${fmt(ratios[`${m}/native 64`], 2)}x the native forwarder (target >= 0.7)`);
  }
  console.log('\nconnection table  bytes/entry  inserts/s   ns/lookup  ns/read  lookup/read   ns/dep.lookup  ns/dep.read  lookup/read');
  console.log('                                          (independent: unrelated keys)   (dependent: each key waits for the last)');
  for (const t of tables) {
    const read = t.nsPerMemoryRead ?? NaN, dep = t.nsPerDependentRead ?? NaN;
    console.log(
      `${fmt(t.entries).padStart(16)} ${fmt(t.bytesPerEntry, 1).padStart(12)} ${fmt(t.insertsPerSecond).padStart(10)} ${fmt(t.nsPerLookup, 1).padStart(11)} ${fmt(read, 1).padStart(8)} ${fmt(t.nsPerLookup / read, 2).padStart(12)} ${fmt(t.nsPerDependentLookup, 1).padStart(15)} ${fmt(dep, 1).padStart(12)} ${fmt(t.nsPerDependentLookup / dep, 2).padStart(12)}`,
    );
  }
  console.log('bytes per entry target <= 64; a lookup is about two memory reads (bucket head, then record), so lookup/read near 2 is the table doing no more than it must');
  printTcp(anchor, tcpRuns, ratios);
  console.log(`new connections scheduled and entered: ${fmt(newConns.connectionsPerSecond)} per second (${fmt(newConns.nsPerConnection, 0)} ns each, JavaScript, in-memory port)`);
  console.log(
    `connection sync (established connections, SYN + ACK each): ${fmt(syncOff.connectionsPerSecond)}/s off, ${fmt(syncOn.connectionsPerSecond)}/s on = ${fmt(syncOn.connectionsPerSecond / syncOff.connectionsPerSecond, 2)}x (${fmt(syncOn.nsPerConnection - syncOff.nsPerConnection, 0)} ns per synced connection, ${fmt(syncOn.syncMessages)} messages)`,
  );
  console.log(`failover: master killed -> first packet forwarded by the backup ${fmt(failover.failoverMs)} ms = ${fmt(failover.failoverMs / failover.masterDownMs, 2)}x its Master_Down_Interval (${fmt(failover.masterDownMs)} ms; the last advertisement came up to 1 s before the kill)`);
  writeFileSync(join(here, 'last-run.json'), JSON.stringify({ date: new Date().toISOString(), runs, tcp: { anchor, runs: tcpRuns }, ratios, perFrame, heap, tables, newConns, sync: { off: syncOff, on: syncOn }, failover }, null, 2));
}

main().catch(async (e) => {
  console.error(`bench: ${(e as Error).message}`);
  await labDown(PREFIX).catch(() => undefined);
  process.exit(1);
});
