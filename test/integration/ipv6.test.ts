// IPv6 routing through tapvs (issue 15's first part) on the default lab, dual stack: real Linux
// hosts pinging, downloading, and running wrk and iperf3 over IPv6, the hop limit and Packet Too Big as the kernel's ping
// reports them, and tshark checking every neighbour solicitation tapvs sent: its source is an
// address of the interface it left by, its target the neighbour asked for.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { defaultLab } from '../../src/lab/default.js';
import { labRouterMac } from '../../src/lab/lab.js';
import { formatIpv6, linkLocalFromMac } from '../../src/packet/address6.js';
import { parseMac } from '../../src/packet/address.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';
import type { LabState } from '../../src/lab/lab.js';

const test = suite('ipv6: routing through tapvs, dual stack');
const prefix = uniquePrefix('v6');
const www = `/tmp/${prefix}-v6www`;
let state: LabState;
let capture: Capture;
const children: ChildProcess[] = [];

test.before(async () => {
  const spec = defaultLab(prefix);
  spec.routers[0].interfaces[1].mtu = 1400; // the servers' side: Packet Too Big toward the clients
  spec.hosts[1].setup = [['sh', '-c', `mkdir -p ${www} && head -c 20000000 /dev/urandom > ${www}/blob`]];
  state = await startLab(spec);
  capture = await Capture.start(prefix, 'br-servers', 'icmp6');
  children.push(spawnOnHost(prefix, 'server', ['python3', '-m', 'http.server', '8080', '--bind', '::', '--directory', www]));
  for (let i = 0; i < 100 && !onHost(prefix, 'server', ['ss', '-ltnH']).stdout.includes(':8080'); i++) await new Promise((r) => setTimeout(r, 50));
});
test.after(async () => {
  await capture?.stop();
  for (const c of children) await stopChild(c);
  await stopLab(prefix);
  onHost(prefix, 'sw', ['rm', '-rf', www]);
});

test('ping -6 through tapvs and to each of its addresses, no loss', () => {
  for (const dst of ['2001:db8:2::2', '2001:db8:1::1', '2001:db8:2::1']) {
    const r = onHost(prefix, 'client', ['ping', '-6', '-c', '5', '-i', '0.2', '-W', '2', dst]);
    const loss = /(\d+)% packet loss/.exec(r.stdout)?.[1];
    console.log(`  client -> ${dst}: ${loss}% loss, ${/ttl=(\d+)/.exec(r.stdout)?.[0]}`);
    assert.is(loss, '0', r.stdout);
  }
  const through = onHost(prefix, 'client', ['ping', '-6', '-c', '1', '2001:db8:2::2']).stdout;
  assert.match(through, /ttl=63/, 'the hop limit one lower through the router');
});

test('a 20 MB download over IPv6 (TCP, super-frames with offloads) arrives intact', () => {
  const r = onHost(prefix, 'client', ['sh', '-c', `curl -s -g -o /tmp/${prefix}-dl http://[2001:db8:2::2]:8080/blob -w '%{speed_download}\n' && sha256sum /tmp/${prefix}-dl ${www}/blob | cut -d' ' -f1 | uniq | wc -l; rm -f /tmp/${prefix}-dl`]);
  const [speed, distinct] = r.stdout.trim().split('\n');
  console.log(`  20 MB at ${((Number(speed) * 8) / 1e9).toFixed(2)} Gbit/s; sha256 ${distinct === '1' ? 'matches' : 'DIFFERS'}`);
  assert.is(distinct, '1', r.stdout + r.stderr);
});

test('wrk -6 and iperf3 -6 through tapvs routing: no socket errors, TCP at Gbit/s', async () => {
  const w = onHost(prefix, 'client', ['wrk', '-t', '2', '-c', '50', '-d', '3s', '--timeout', '5s', 'http://[2001:db8:2::2]:8080/'], 60_000);
  assert.is(w.status, 0, w.stderr);
  assert.not.match(w.stdout, /Socket errors|Non-2xx/, w.stdout);
  const requests = Number(/(\d+) requests in/.exec(w.stdout)?.[1]);
  const server = spawnOnHost(prefix, 'server', ['iperf3', '-s', '-1', '-p', '5201']);
  try {
    for (let i = 0; i < 100 && !onHost(prefix, 'server', ['ss', '-ltnH']).stdout.includes(':5201'); i++) await new Promise((r) => setTimeout(r, 50));
    const r = onHost(prefix, 'client', ['iperf3', '-6', '-c', '2001:db8:2::2', '-p', '5201', '-t', '3', '-J'], 30_000);
    assert.is(r.status, 0, r.stdout + r.stderr);
    const gbps = JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9;
    console.log(`  wrk -6: ${requests} requests in 3 s, no errors; iperf3 -6: ${gbps.toFixed(2)} Gbit/s`);
    assert.ok(requests > 100, w.stdout);
    assert.ok(gbps > 0.1, `${gbps} Gbit/s`);
  } finally {
    await stopChild(server);
  }
});

test('hop limit 1: Time exceeded from the router; too big for the 1400-byte egress: Packet Too Big with mtu=1400', async () => {
  const exceeded = onHost(prefix, 'client', ['ping', '-6', '-c', '1', '-t', '1', '-W', '2', '2001:db8:2::2']).stdout;
  assert.match(exceeded, /From 2001:db8:1::1 icmp_seq=1 Time exceeded: Hop limit/);
  const big = onHost(prefix, 'client', ['ping', '-6', '-c', '1', '-s', '1400', '-M', 'do', '-W', '2', '2001:db8:2::2']);
  const said = `${big.stdout}${big.stderr}`;
  console.log(`  ping -t 1: "${/From .*/.exec(exceeded)?.[0]}"; ping -s 1400 -M do: "${/(From .*|.*mtu.*)/i.exec(said)?.[0]}"`);
  assert.match(said, /Packet too big: mtu=1400|mtu=1400|message too long, mtu: 1400/i);
  // The client learnt the path MTU: the same size now goes, fragmented by the client itself.
  const after = onHost(prefix, 'client', ['ping', '-6', '-c', '2', '-s', '1400', '-W', '2', '2001:db8:2::2']).stdout;
  assert.match(after, /0% packet loss/, after);
  const c = (await routerCounters(state, 'tapvs')).router;
  assert.ok(c.ip6_too_big >= 1 && c.ip6_hop_limit >= 1 && c.icmp6_errors_sent >= 2);
});

test("tshark: every neighbour solicitation tapvs sent on the servers' link came from an address of that interface, for the server", async () => {
  const rows = await capture.fields('icmpv6.type == 135', ['eth.src', 'ipv6.src', 'ipv6.dst', 'icmpv6.nd.ns.target_address', 'icmpv6.checksum.status']);
  const mac = labRouterMac(prefix, 'tapvs', 'servers');
  const own = new Set(['2001:db8:2::1', formatIpv6(linkLocalFromMac(parseMac(mac)!))]);
  const ours = rows.filter((r) => r[0] === mac);
  console.log(`  ${rows.length} solicitations on the servers' link, ${ours.length} from tapvs: ${[...new Set(ours.map((r) => `${r[1]} -> ${r[2]} for ${r[3]}`))].join('; ')}`);
  assert.ok(ours.length >= 1, 'tapvs solicited the server');
  for (const r of ours) {
    assert.ok(own.has(r[1]), `source ${r[1]} is an address of the egress interface`);
    assert.is(r[3], '2001:db8:2::2', 'asked only for the neighbour it sends to');
    assert.is(r[4], '1', 'a good checksum');
  }
});

if (!skipUnlessRoot('ipv6.test.ts')) test.run();
