// The director for IPv6 between real Linux hosts (issue 15): the dual-stack dr, nat and tun labs,
// curl -6, wrk and iperf3 over IPv6 through each method, tapvsadm adding an IPv6 service to the
// running director, the agent giving real servers their IPv6 VIP, and tshark checking every
// neighbour solicitation and advertisement on the LAN: only the director claims the VIP, and
// nobody solicits from it.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, VIP6, directorLab, twin6 } from '../../src/lab/director.js';
import { controlSocket, labRouterMac, stateDir, tapvsBundle, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const URL6 = `http://[${VIP6}]`;

const curl6 = (prefix: string, path = '/') => onHost(prefix, 'client', ['curl', '-6', '-g', '-s', '--max-time', '5', `${URL6}${path}`]);
const requestsServed = (state: LabState, host: string) => readFileSync(state.daemons!.find((d) => d.host === host && d.name === 'http')!.log, 'utf8').split('\n').filter((l) => l.includes('"GET ')).length;

function tapvsadm(prefix: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') }, timeout: 20_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The blob one of the real servers holds, fetched over IPv6: its sha256 matches a server's copy. */
function downloadMatches(prefix: string): boolean {
  const want = ['rs1', 'rs2'].map((h) => onHost(prefix, h, ['sha256sum', `/tmp/${prefix}-${h}-www/blob`]).stdout.split(' ')[0]);
  const got = onHost(prefix, 'client', ['sh', '-c', `curl -6 -g -s --max-time 20 ${URL6}/blob | sha256sum`]).stdout.split(' ')[0];
  return want.includes(got);
}

/** wrk over IPv6 with 200 connections for 3 s: no errors, and round robin's even spread. */
async function wrkSpread(prefix: string, state: LabState): Promise<void> {
  const before = [requestsServed(state, 'rs1'), requestsServed(state, 'rs2')];
  const r = onHost(prefix, 'client', ['wrk', '-t', '2', '-c', '200', '-d', '3s', '--timeout', '5s', `${URL6}/`], 60_000);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, /Socket errors|Non-2xx/, r.stdout);
  const total = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  await sleep(300);
  const served = [requestsServed(state, 'rs1') - before[0], requestsServed(state, 'rs2') - before[1]];
  const share = served[0] / (served[0] + served[1]);
  console.log(`  wrk -6: ${total} requests, rs1 ${served[0]}, rs2 ${served[1]} (${(share * 100).toFixed(0)}%)`);
  assert.ok(total > 200, r.stdout);
  assert.ok(share > 0.4 && share < 0.6, `rs1 served ${served[0]}, rs2 ${served[1]}`);
}

/** iperf3 -6 for 3 s to rs1 through a service on port 5201 (added with tapvsadm): Gbit/s. */
async function iperf6(prefix: string, method: '-g' | '-m' | '-i'): Promise<number> {
  const service = `[${VIP6}]:5201`;
  assert.is(tapvsadm(prefix, ['-A', '-t', service, '-s', 'rr']).status, 0);
  const add = tapvsadm(prefix, ['-a', '-t', service, '-r', `[${onHost(prefix, 'rs1', ['sh', '-c', "ip -6 -o addr show dev eth0 scope global | awk '{print $4}' | cut -d/ -f1"]).stdout.trim()}]:5201`, method]);
  assert.is(add.status, 0, add.stderr);
  const server: ChildProcess = spawnOnHost(prefix, 'rs1', ['iperf3', '-s', '-1', '-p', '5201']);
  try {
    for (let i = 0; i < 100 && !onHost(prefix, 'rs1', ['ss', '-ltnH']).stdout.includes(':5201'); i++) await sleep(50);
    const r = onHost(prefix, 'client', ['iperf3', '-6', '-c', VIP6, '-p', '5201', '-t', '3', '-J'], 30_000);
    assert.is(r.status, 0, r.stdout + r.stderr);
    const end = JSON.parse(r.stdout).end;
    return end.sum_received.bits_per_second / 1e9;
  } finally {
    await stopChild(server);
    tapvsadm(prefix, ['-D', '-t', service]);
  }
}

// ---- direct routing, the real servers' IPv6 VIP from the agent

const dr = suite('director6: direct routing, dual stack');
const drPrefix = uniquePrefix('d6');
let drState: LabState;
let nd: Capture;

dr.before(async () => {
  drState = await startLab(directorLab(drPrefix, 'dr', { agent: true }));
  nd = await Capture.start(drPrefix, 'br-lan', 'icmp6');
  // Every host must look its neighbours up again, on the capture.
  for (const h of ['gateway', 'rs1', 'rs2']) onHost(drPrefix, h, ['ip', '-6', 'neigh', 'flush', 'all']);
});
dr.after(async () => {
  await nd?.stop();
  await stopLab(drPrefix);
});

dr('the agent put the IPv6 VIP on its device, off the LAN interface; its doctor passes', () => {
  const stateFile = join(stateDir(drPrefix), 'rs1-agent.json');
  const r = onHost(drPrefix, 'rs1', [process.execPath, tapvsBundle(), 'agent', 'doctor', '--state', stateFile, '--json'], 60_000);
  const checks = (JSON.parse(r.stdout) as { checks: { ok: boolean; what: string; detail: string }[] }).checks;
  const failed = checks.filter((c) => !c.ok);
  assert.equal(failed, [], JSON.stringify(failed));
  assert.ok(checks.some((c) => c.what === 'nd' && c.detail.includes(VIP6)), 'the neighbour discovery check ran for the IPv6 VIP');
  assert.match(onHost(drPrefix, 'rs1', ['ip', '-6', 'addr', 'show', 'dev', 'tapvs-vip']).stdout, new RegExp(`${VIP6}/128`));
});

dr('round robin over IPv6: sequential curl -6 alternates; the IPv4 service beside it too', () => {
  const names = Array.from({ length: 6 }, () => curl6(drPrefix).stdout.trim());
  assert.equal(names, ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2']);
  const four = onHost(drPrefix, 'client', ['curl', '-s', '--max-time', '5', `http://${VIP}/`]).stdout.trim();
  assert.ok(['rs1', 'rs2'].includes(four));
});

dr('ping -6 to the VIP is answered by the director', () => {
  const r = onHost(drPrefix, 'client', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', VIP6]);
  assert.match(r.stdout, / 0% packet loss/, r.stdout);
});

dr('a 2 MB download over IPv6 DR arrives intact (the reply goes straight from the real server)', () => {
  assert.ok(downloadMatches(drPrefix));
});

dr('wrk over IPv6 with 200 connections: no errors, evenly spread', async () => {
  await wrkSpread(drPrefix, drState);
  const c = await routerCounters(drState, 'director');
  assert.is(c.router.lvs_table_full, 0);
});

dr('iperf3 -6 through a DR service tapvsadm added', async () => {
  const gbps = await iperf6(drPrefix, '-g');
  console.log(`  iperf3 -6 through DR: ${gbps.toFixed(2)} Gbit/s (client to server; replies bypass the director)`);
  assert.ok(gbps > 0.05, `${gbps} Gbit/s`);
});

dr('tapvsadm lists the IPv6 service and its connections as ipvsadm does', () => {
  const list = tapvsadm(drPrefix, ['-L', '-n']).stdout;
  assert.match(list, new RegExp(`TCP  \\[${VIP6}\\]:80 rr\\n  -> \\[2001:db8:1::b\\]:80 +Route +1 `));
  curl6(drPrefix);
  const conns = tapvsadm(drPrefix, ['-L', '-n', '-c']).stdout;
  assert.match(conns, new RegExp(`TCP .* \\[${twin6('10.0.0.2')}\\]:\\d+ +\\[${VIP6}\\]:80 +\\[2001:db8:1::[bc]\\]:80`), conns);
});

dr('tshark: only the director advertises the VIP; every solicitation on the LAN comes from its sender\'s own address, never the VIP', async () => {
  const directorMac = labRouterMac(drPrefix, 'director', 'lan');
  const neigh = onHost(drPrefix, 'gateway', ['ip', '-6', 'neigh', 'show', VIP6]).stdout;
  assert.match(neigh, new RegExp(`${VIP6} dev eth1 lladdr ${directorMac}`), neigh);
  const rows = await nd.fields('icmpv6.type == 135 || icmpv6.type == 136', ['icmpv6.type', 'eth.src', 'ipv6.src', 'icmpv6.nd.ns.target_address', 'icmpv6.nd.na.target_address']);
  const solicits = rows.filter((r) => r[0] === '135');
  const adverts = rows.filter((r) => r[0] === '136');
  console.log(`  ${solicits.length} solicitations and ${adverts.length} advertisements on the LAN`);
  assert.ok(solicits.length >= 1 && adverts.length >= 1, 'the capture saw neighbour discovery');
  for (const [, mac, src] of solicits) assert.is.not(src, VIP6, `${mac} solicited from the VIP`);
  const forVip = adverts.filter((r) => r[4] === VIP6);
  assert.ok(forVip.length >= 1, 'the director answered for the VIP');
  for (const [, mac] of forVip) assert.is(mac, directorMac, 'only the director advertises the VIP');
});

if (!skipUnlessRoot('director6.test.ts (dr)')) dr.run();

// ---- NAT

const nat = suite('director6: NAT, dual stack');
const natPrefix = uniquePrefix('n6');
let natState: LabState;

nat.before(async () => {
  natState = await startLab(directorLab(natPrefix, 'nat'));
});
nat.after(async () => {
  await stopLab(natPrefix);
});

nat('curl -6 through NAT alternates between the private servers, and they see the client\'s own address', () => {
  const names = Array.from({ length: 4 }, () => curl6(natPrefix).stdout.trim());
  assert.equal(names, ['rs1', 'rs2', 'rs1', 'rs2']);
  const log = readFileSync(natState.daemons!.find((d) => d.host === 'rs1' && d.name === 'http')!.log, 'utf8');
  assert.match(log, new RegExp(`${twin6('10.0.0.2')} - - `), 'no source NAT: the server logs the client');
});

nat('a 2 MB download through IPv6 NAT arrives intact', () => {
  assert.ok(downloadMatches(natPrefix));
});

nat('wrk over IPv6 NAT with 200 connections: no errors, evenly spread', async () => {
  await wrkSpread(natPrefix, natState);
  const c = await routerCounters(natState, 'director');
  console.log(`  NAT replies rewritten: ${c.router.lvs_nat_out}`);
  assert.ok(c.router.lvs_nat_out > 200);
});

nat('iperf3 -6 through a NAT service tapvsadm added', async () => {
  const gbps = await iperf6(natPrefix, '-m');
  console.log(`  iperf3 -6 through NAT: ${gbps.toFixed(2)} Gbit/s`);
  assert.ok(gbps > 0.05, `${gbps} Gbit/s`);
});

if (!skipUnlessRoot('director6.test.ts (nat)')) nat.run();

// ---- IPv6-in-IPv6, decapsulated by the agent on the real servers

const tun = suite('director6: IPv6-in-IPv6, dual stack');
const tunPrefix = uniquePrefix('t6');
let tunState: LabState;

tun.before(async () => {
  tunState = await startLab(directorLab(tunPrefix, 'tun'));
});
tun.after(async () => {
  await stopLab(tunPrefix);
});

tun('wrk over IPv6-in-IPv6 with 200 connections: no errors, evenly spread', async () => {
  await wrkSpread(tunPrefix, tunState);
});

tun('iperf3 -6 through a tunnel service tapvsadm added; the agent counts what it decapsulated', async () => {
  const gbps = await iperf6(tunPrefix, '-i');
  const health = JSON.parse(onHost(tunPrefix, 'client', ['curl', '-s', '--max-time', '3', 'http://192.168.1.11:9100/health']).stdout) as { decap: { decapsulated: number; malformed: number } };
  console.log(`  iperf3 -6 through IPv6-in-IPv6: ${gbps.toFixed(2)} Gbit/s; rs1 decapsulated ${health.decap.decapsulated}, malformed ${health.decap.malformed}`);
  assert.ok(gbps > 0.05, `${gbps} Gbit/s`);
  assert.is(health.decap.malformed, 0);
});

if (!skipUnlessRoot('director6.test.ts (tun)')) tun.run();
