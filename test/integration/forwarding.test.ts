// tapvs routing between two real networks of Linux hosts: ping, HTTP, TTL, unreachables, PMTU,
// and what its ARP requests say on the wire.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLab } from '../../src/lab/default.js';
import { labRouterMac, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerAlive, routerCounters, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('forwarding through tapvs');
const prefix = uniquePrefix('fw');
const spec = defaultLab(prefix);
spec.routers[0].interfaces[1].mtu = 1400; // the server side is narrower: PMTU and fragmentation
let state: LabState;
let arpCapture: Capture;
let http: ReturnType<typeof spawnOnHost>;

test.before(async () => {
  state = await startLab(spec);
  arpCapture = await Capture.start(prefix, 'br-servers', 'arp');
  // A 4 MiB file behind a real HTTP server on the server host.
  onHost(prefix, 'server', ['sh', '-c', `mkdir -p /tmp/${prefix}-www && head -c 4194304 /dev/urandom > /tmp/${prefix}-www/blob`]);
  http = spawnOnHost(prefix, 'server', ['python3', '-m', 'http.server', '8080', '--bind', '10.2.0.2', '--directory', `/tmp/${prefix}-www`]);
  for (let i = 0; i < 100 && onHost(prefix, 'server', ['sh', '-c', 'ss -ltn | grep -q :8080']).status !== 0; i++) await sleep(50);
});

test.after(async () => {
  await arpCapture?.stop().catch(() => undefined);
  if (http) await stopChild(http);
  onHost(prefix, 'server', ['rm', '-rf', `/tmp/${prefix}-www`]);
  await stopLab(prefix);
});

test('ping crosses the router, which decrements TTL once', () => {
  const r = onHost(prefix, 'client', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.2.0.2']);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /3 received/);
  assert.match(r.stdout, /ttl=63/);
});

test('the router answers pings to its own addresses', () => {
  for (const addr of ['10.1.0.1', '10.2.0.1']) {
    const r = onHost(prefix, 'client', ['ping', '-c', '2', '-i', '0.2', '-W', '2', addr]);
    assert.is(r.status, 0, `${addr}: ${r.stdout}`);
    assert.match(r.stdout, /ttl=64/);
  }
});

test('a real HTTP download through tapvs arrives intact', () => {
  const want = onHost(prefix, 'server', ['sha256sum', `/tmp/${prefix}-www/blob`]).stdout.split(' ')[0];
  const r = onHost(prefix, 'client', ['sh', '-c', 'curl -sS --max-time 30 http://10.2.0.2:8080/blob | sha256sum']);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.split(' ')[0], want);
});

test('a TTL=1 probe gets time exceeded from the router (traceroute shows it as hop 1)', () => {
  const r = onHost(prefix, 'client', ['traceroute', '-n', '-q', '1', '-w', '2', '-m', '4', '10.2.0.2']);
  assert.is(r.status, 0, r.stderr);
  const hops = r.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]);
  assert.equal(hops, ['10.1.0.1', '10.2.0.2']);
});

test('an unrouted network gets ICMP network unreachable from the router', () => {
  const r = onHost(prefix, 'client', ['ping', '-c', '1', '-W', '2', '10.99.0.1']);
  assert.is.not(r.status, 0);
  assert.match(r.stdout, /From 10\.1\.0\.1 icmp_seq=1 Destination Net Unreachable/);
});

test('without DF, a packet over the egress MTU is fragmented by tapvs and answered', () => {
  // Runs before the DF test: once the client learns PMTU 1400 it would fragment by itself.
  const r = onHost(prefix, 'client', ['ping', '-c', '1', '-W', '2', '-M', 'dont', '-s', '1450', '10.2.0.2']);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, /1458 bytes from 10\.2\.0\.2/);
});

test('DF over the egress MTU gets fragmentation needed with mtu 1400', () => {
  const r = onHost(prefix, 'client', ['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '1450', '10.2.0.2']);
  assert.is.not(r.status, 0);
  assert.match(r.stdout, /From 10\.1\.0\.1 icmp_seq=1 Frag needed and DF set \(mtu = 1400\)/);
});

test('a neighbour that never answers ARP: host unreachable, after retries', () => {
  const r = onHost(prefix, 'client', ['ping', '-c', '1', '-W', '6', '10.2.0.77']);
  assert.is.not(r.status, 0);
  assert.match(r.stdout, /From 10\.1\.0\.1 icmp_seq=1 Destination Host Unreachable/);
});

test('on the wire, every ARP request tapvs sent carries its own interface address as sender', async () => {
  const routerMac = labRouterMac(prefix, 'tapvs', 'servers');
  const rows = await arpCapture.fields(`arp.opcode == 1 && eth.src == ${routerMac}`, ['arp.src.proto_ipv4', 'arp.dst.proto_ipv4']);
  assert.ok(rows.length >= 3, `expected 3 requests for 10.2.0.77, saw ${JSON.stringify(rows)}`);
  for (const [sender] of rows) assert.is(sender, '10.2.0.1', 'never the forwarded packet source 10.1.0.2');
  assert.ok(rows.some(([, target]) => target === '10.2.0.77'));
});

test('counters name what happened, and the router is still up', async () => {
  const c = await routerCounters(state, 'tapvs');
  assert.ok(c.router.forwarded > 100);
  assert.ok(c.router.ttl_expired >= 1);
  assert.ok(c.router.no_route >= 1);
  assert.ok(c.router.frag_needed >= 1);
  assert.ok(c.router.fragmented >= 1);
  assert.ok(c.router.arp_resolution_failed >= 1);
  assert.ok(routerAlive(state, 'tapvs'));
});

if (!skipUnlessRoot('forwarding.test.ts')) test.run();
