// tapvs as an LVS director between real Linux hosts: DR and NAT, real HTTP servers, curl and
// wrk as clients, and what the gateway's ARP cache and the wire say about the VIP.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { AGENT_HEALTH_PORT, VIP, VIP6, directorLab } from '../../src/lab/director.js';
import { labRouterMac, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

/** wrk with 200 connections for 3 s: no errors, and a rr spread within 40-60%. */
async function wrkSpread(prefix: string, state: LabState): Promise<void> {
  const before = [requestsServed(state, 'rs1'), requestsServed(state, 'rs2')];
  const r = onHost(prefix, 'client', ['wrk', '-t', '2', '-c', '200', '-d', '3s', '--timeout', '5s', `http://${VIP}/`], 60_000);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, /Socket errors|Non-2xx/, r.stdout);
  const total = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  assert.ok(total > 200, r.stdout);
  await new Promise((res) => setTimeout(res, 300));
  const served = [requestsServed(state, 'rs1') - before[0], requestsServed(state, 'rs2') - before[1]];
  const share = served[0] / (served[0] + served[1]);
  assert.ok(share > 0.4 && share < 0.6, `rs1 served ${served[0]}, rs2 ${served[1]}`);
}

const requestsServed = (state: LabState, host: string) => readFileSync(state.daemons!.find((d) => d.host === host)!.log, 'utf8').split('\n').filter((l) => l.includes('"GET ')).length;
const curl = (prefix: string, path = '/') => onHost(prefix, 'client', ['curl', '-s', '--max-time', '5', `http://${VIP}${path}`]);

// ---- direct routing

const dr = suite('director: direct routing');
const drPrefix = uniquePrefix('dr');
let drState: LabState;
let lanArp: Capture;

dr.before(async () => {
  drState = await startLab(directorLab(drPrefix, 'dr'));
  lanArp = await Capture.start(drPrefix, 'br-lan', 'arp');
});
dr.after(async () => {
  await stopLab(drPrefix);
});

dr('round robin: sequential requests alternate between the real servers', () => {
  const names = Array.from({ length: 10 }, () => curl(drPrefix).stdout.trim());
  assert.equal(names, ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2']);
});

dr('a download through DR arrives intact (the reply goes straight from the real server)', () => {
  const want = onHost(drPrefix, 'rs1', ['sha256sum', `/tmp/${drPrefix}-rs1-www/blob`]).stdout.split(' ')[0];
  const want2 = onHost(drPrefix, 'rs2', ['sha256sum', `/tmp/${drPrefix}-rs2-www/blob`]).stdout.split(' ')[0];
  const got = onHost(drPrefix, 'client', ['sh', '-c', `curl -s --max-time 20 http://${VIP}/blob | sha256sum`]).stdout.split(' ')[0];
  assert.ok(got === want || got === want2, 'the blob of one of the servers');
});

dr('wrk with 200 concurrent connections: no errors, and the load is spread evenly', async () => {
  await wrkSpread(drPrefix, drState);
  const c = await routerCounters(drState, 'director');
  assert.ok(c.router.lvs_conns_created >= 200);
  assert.is(c.router.lvs_table_full, 0);
});

dr("the gateway's ARP cache maps the VIP to the director's MAC, and no real server ever claims it", async () => {
  const directorMac = labRouterMac(drPrefix, 'director', 'lan');
  const neigh = onHost(drPrefix, 'gateway', ['ip', 'neigh', 'show', VIP]).stdout;
  assert.match(neigh, new RegExp(`${VIP} dev eth1 lladdr ${directorMac}`));
  const replies = await lanArp.fields(`arp.opcode == 2 && arp.src.proto_ipv4 == ${VIP}`, ['eth.src']);
  assert.ok(replies.length >= 1, 'the director answered');
  for (const [mac] of replies) assert.is(mac, directorMac, 'only the director answers for the VIP');
  // Ask again after traffic: still the director.
  onHost(drPrefix, 'gateway', ['ip', 'neigh', 'flush', VIP]);
  curl(drPrefix);
  assert.match(onHost(drPrefix, 'gateway', ['ip', 'neigh', 'show', VIP]).stdout, new RegExp(directorMac));
});

if (!skipUnlessRoot('director.test.ts (dr)')) dr.run();

// ---- NAT, with persistence

const nat = suite('director: NAT with persistence');
const natPrefix = uniquePrefix('nt');
const natSpec = directorLab(natPrefix, 'nat', { persistence: 60 });

let natState: LabState;

nat.before(async () => {
  natState = await startLab(natSpec);
});
nat.after(async () => {
  await stopLab(natPrefix);
});

nat('persistence keeps the client on one real server', () => {
  const names = new Set(Array.from({ length: 8 }, () => curl(natPrefix).stdout.trim()));
  assert.is(names.size, 1, [...names].join(','));
  assert.match([...names][0], /^rs[12]$/);
});

nat('wrk with 200 concurrent connections through NAT: no errors, and persistence keeps them on one server', () => {
  const r = onHost(natPrefix, 'client', ['wrk', '-t', '2', '-c', '200', '-d', '3s', '--timeout', '5s', `http://${VIP}/`], 60_000);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, /Socket errors|Non-2xx/, r.stdout);
  const served = [requestsServed(natState, 'rs1'), requestsServed(natState, 'rs2')];
  assert.ok(Math.min(...served) <= 2 && Math.max(...served) > 200, `rs1 ${served[0]}, rs2 ${served[1]}`);
});

nat('a download through NAT arrives intact, replies rewritten to the VIP', () => {
  const server = curl(natPrefix).stdout.trim();
  const want = onHost(natPrefix, server, ['sha256sum', `/tmp/${natPrefix}-${server}-www/blob`]).stdout.split(' ')[0];
  const got = onHost(natPrefix, 'client', ['sh', '-c', `curl -s --max-time 20 http://${VIP}/blob | sha256sum`]).stdout.split(' ')[0];
  assert.is(got, want);
});

if (!skipUnlessRoot('director.test.ts (nat)')) nat.run();

// ---- IP-in-IP, decapsulated in user space on the real servers by tapvs agent

const tun = suite('director: IP-in-IP');
const tunPrefix = uniquePrefix('tu');
let tunState: LabState;

tun.before(async () => {
  tunState = await startLab(directorLab(tunPrefix, 'tun'));
});
tun.after(async () => {
  await stopLab(tunPrefix);
});

tun('requests reach the real servers in IP-in-IP from the director, and are answered from the VIP', async () => {
  const lan = await Capture.start(tunPrefix, 'br-lan', 'ip proto 4');
  const names = Array.from({ length: 4 }, () => curl(tunPrefix).stdout.trim());
  assert.equal(names, ['rs1', 'rs2', 'rs1', 'rs2']);
  // tshark lists outer then inner header values: "outer,inner".
  const tunnelled = await lan.fields('ip.proto == 4', ['ip.src', 'ip.dst']);
  assert.ok(tunnelled.length >= 8, `saw ${tunnelled.length} tunnelled packets`);
  for (const [src, dst] of tunnelled) {
    assert.equal(src.split(','), ['192.168.1.10', '10.0.0.2'], 'outer source the director, inner the client');
    assert.match(dst, /^192\.168\.1\.1[12],192\.168\.1\.2$/);
  }
});

tun('a download through the tunnel arrives intact', () => {
  const want = new Set(['rs1', 'rs2'].map((h) => onHost(tunPrefix, h, ['sha256sum', `/tmp/${tunPrefix}-${h}-www/blob`]).stdout.split(' ')[0]));
  const got = onHost(tunPrefix, 'client', ['sh', '-c', `curl -s --max-time 20 http://${VIP}/blob | sha256sum`]).stdout.split(' ')[0];
  assert.ok(want.has(got));
});

tun('IPv6-in-IPv6: curl -6 alternates between the servers, the director is the outer source, a download arrives intact', async () => {
  const lan = await Capture.start(tunPrefix, 'br-lan', 'ip6 proto 41');
  const names = Array.from({ length: 4 }, () => onHost(tunPrefix, 'client', ['curl', '-6', '-g', '-s', '--max-time', '3', `http://[${VIP6}]/`]).stdout.trim());
  assert.equal(names, ['rs1', 'rs2', 'rs1', 'rs2']);
  const tunnelled = await lan.fields('ipv6.nxt == 41', ['ipv6.src', 'ipv6.dst']);
  console.log(`  ${tunnelled.length} IPv6-in-IPv6 packets on the LAN; e.g. ${tunnelled[0]?.join(' -> ')}`);
  assert.ok(tunnelled.length >= 8, `saw ${tunnelled.length} tunnelled packets`);
  for (const [src, dst] of tunnelled) {
    assert.equal(src.split(','), ['2001:db8:1::a', '2001:db8:10::2'], 'outer source the director, inner the client');
    assert.match(dst, /^2001:db8:1::(b|c),2001:db8:1::2$/);
  }
  const want = new Set(['rs1', 'rs2'].map((h) => onHost(tunPrefix, h, ['sha256sum', `/tmp/${tunPrefix}-${h}-www/blob`]).stdout.split(' ')[0]));
  const got = onHost(tunPrefix, 'client', ['sh', '-c', `curl -6 -g -s --max-time 20 http://[${VIP6}]/blob | sha256sum`]).stdout.split(' ')[0];
  assert.ok(want.has(got), 'the blob, intact');
});

tun("the agent on each real server decapsulates, and its health endpoint says it is healthy", () => {
  for (const [i, rs] of ['rs1', 'rs2'].entries()) {
    const r = onHost(tunPrefix, 'client', ['curl', '-s', '-w', '\n%{http_code}', '--max-time', '3', `http://192.168.1.1${i + 1}:${AGENT_HEALTH_PORT}/health`]);
    const lines = r.stdout.trim().split('\n');
    const [body, code] = [lines[0], lines[lines.length - 1]];
    assert.is(code, '200', `${rs}: ${r.stdout}`);
    const health = JSON.parse(body) as { healthy: boolean; decap: { decapsulated: number; foreign_director: number } };
    assert.ok(health.healthy);
    assert.ok(health.decap.decapsulated > 0, `${rs} decapsulated nothing`);
    assert.is(health.decap.foreign_director, 0);
  }
});

tun('a DF packet too big for the tunnel gets frag-needed with the usable MTU (1480)', async () => {
  const wire = await Capture.start(tunPrefix, 'br-wan', 'icmp');
  onHost(tunPrefix, 'client', ['hping3', '-q', '-c', '1', '-S', '-p', '80', '-d', '1460', '-y', VIP]);
  const errors = await wire.fields('icmp.type == 3 && icmp.code == 4', ['ip.src', 'ip.dst', 'icmp.mtu']);
  assert.ok(errors.length >= 1, 'no frag-needed seen');
  assert.equal(errors[0].map((f) => f.split(',')[0]), ['192.168.1.10', '10.0.0.2', '1480']);
});

tun('wrk with 200 concurrent connections through the tunnel: no errors, an even spread', async () => {
  await wrkSpread(tunPrefix, tunState);
});

if (!skipUnlessRoot('director.test.ts (tun)')) tun.run();
