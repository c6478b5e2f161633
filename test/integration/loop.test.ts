// Two tapvs routers pointed at each other for one prefix: the routing loop of seed 000.
// Each hop decrements TTL, so a looping packet dies, and the lab keeps working.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { LabSpec, LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerAlive, routerCounters, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('routing loop between two routers');
const prefix = uniquePrefix('lp');
const spec: LabSpec = {
  prefix,
  segments: ['clients', 'transit'],
  hosts: [{ name: 'client', segment: 'clients', address: '10.1.0.2/24', gateway: '10.1.0.1' }],
  routers: [
    {
      name: 'a',
      interfaces: [
        { name: 'clients', segment: 'clients', addresses: ['10.1.0.1/24'] },
        { name: 'transit', segment: 'transit', addresses: ['10.3.0.1/24'] },
      ],
      routes: [{ to: '10.9.0.0/24', via: '10.3.0.2' }],
    },
    {
      name: 'b',
      interfaces: [{ name: 'transit', segment: 'transit', addresses: ['10.3.0.2/24'] }],
      routes: [
        { to: '10.9.0.0/24', via: '10.3.0.1' },
        { to: '10.1.0.0/24', via: '10.3.0.1' },
      ],
    },
  ],
};
let state: LabState;

test.before(async () => {
  state = await startLab(spec);
});

test.after(async () => {
  await stopLab(prefix);
});

test('the lab works before the loop: client reaches router b across transit', () => {
  const r = onHost(prefix, 'client', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.3.0.2']);
  assert.is(r.status, 0, r.stdout);
});

test('a packet into the loop dies by TTL, and the sender hears time exceeded', async () => {
  const capture = await Capture.start(prefix, 'br-transit', 'icmp');
  const r = onHost(prefix, 'client', ['ping', '-c', '1', '-t', '16', '-W', '3', '10.9.0.5']);
  assert.match(r.stdout, /Time to live exceeded/);
  // TTL 16: a forwards with 15 left, then each crossing of transit costs one. The echo
  // crosses transit a bounded number of times, not forever.
  const echoes = await capture.fields('icmp.type == 8 && ip.dst == 10.9.0.5', ['ip.ttl']);
  assert.ok(echoes.length >= 14 && echoes.length <= 16, `echo crossed transit ${echoes.length} times`);
  const ttls = echoes.map(([t]) => Number(t));
  assert.equal(ttls, [...ttls].sort((x, y) => y - x), 'TTL falls on every hop');
});

test('a burst of looping packets does not take the lab down', async () => {
  const burst = onHost(prefix, 'client', ['ping', '-c', '200', '-i', '0.002', '-W', '1', '-q', '10.9.0.5']);
  assert.match(burst.stdout, /200 packets transmitted/);
  const after = onHost(prefix, 'client', ['ping', '-c', '5', '-i', '0.1', '-W', '2', '10.3.0.2']);
  assert.is(after.status, 0, after.stdout);
  assert.match(after.stdout, / 0% packet loss/);
  const a = await routerCounters(state, 'a');
  const b = await routerCounters(state, 'b');
  assert.ok(a.router.ttl_expired + b.router.ttl_expired >= 201, 'every looping packet expired somewhere');
  assert.ok(routerAlive(state, 'a') && routerAlive(state, 'b'));
});

if (!skipUnlessRoot('loop.test.ts')) test.run();
