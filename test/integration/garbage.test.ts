// Thousands of malformed frames per second at tapvs for several seconds, while a real ping
// runs through it: no crash, every drop counted, forwarding continues.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLab } from '../../src/lab/default.js';
import { labRouterMac, type LabState } from '../../src/lab/lab.js';
import { ROUTER_COUNTERS } from '../../src/l3/counters.js';
import { onHost, routerAlive, routerCounters, skipUnlessRoot, spawnOnHost, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('garbage input');
const prefix = uniquePrefix('gb');
const garbage = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/garbage.py');
const RATE = 4000;
const SECONDS = 6;
let state: LabState;

test.before(async () => {
  state = await startLab(defaultLab(prefix));
});

test.after(async () => {
  await stopLab(prefix);
});

function collect(child: ReturnType<typeof spawnOnHost>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const notDrops = new Set(['rx_frames', 'forwarded', 'delivered_local', 'arp_requests_answered', 'arp_requests_sent', 'icmp_echo_replied', 'icmp_errors_sent', 'fragments_sent', 'fragmented']);

test(`${RATE} garbage frames/s for ${SECONDS} s: no crash, counted drops, ping keeps flowing`, async () => {
  const before = await routerCounters(state, 'tapvs');
  const flood = collect(spawnOnHost(prefix, 'client', ['python3', garbage, 'eth0', labRouterMac(prefix, 'tapvs', 'clients'), '10.1.0.1', '10.2.0.2', String(RATE), String(SECONDS), '7']));
  const ping = collect(spawnOnHost(prefix, 'client', ['ping', '-c', String(SECONDS * 10), '-i', '0.1', '-W', '2', '10.2.0.2']));
  const [f, p] = await Promise.all([flood, ping]);
  assert.is(f.code, 0, f.out);
  const sent = JSON.parse(f.out.trim().split('\n').pop()!) as { total: number; kinds: Record<string, number> };
  assert.ok(sent.total >= RATE * SECONDS * 0.9, `sent ${sent.total}`);

  assert.ok(routerAlive(state, 'tapvs'), 'tapvs survived');
  const loss = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(p.out)?.[1] ?? 100);
  assert.ok(loss <= 5, `ping loss ${loss}% during the flood:\n${p.out}`);

  const after = await routerCounters(state, 'tapvs');
  const delta = (k: string) => after.router[k] - before.router[k];
  const dropped = ROUTER_COUNTERS.filter((k) => !notDrops.has(k)).reduce((sum, k) => sum + delta(k), 0);
  // The bridge itself drops the random frames whose source MAC is multicast (about 1 in 24).
  assert.ok(delta('rx_frames') >= sent.total * 0.9, `router saw ${delta('rx_frames')} of ${sent.total}`);
  assert.ok(dropped >= sent.total * 0.5, `only ${dropped} counted drops for ${sent.total} garbage frames`);
  for (const reason of ['ip_bad_version', 'ip_bad_header_length', 'ip_bad_total_length', 'ip_bad_checksum', 'ip_runt', 'arp_malformed', 'ip_martian_source', 'ttl_expired']) {
    assert.ok(delta(reason) > 0, `no drops counted as ${reason}`);
  }
  assert.ok(delta('icmp_rate_limited') > 0, 'ICMP errors about the flood were rate-limited');
});

test('after the flood, a clean ping and the router itself answer', () => {
  const r = onHost(prefix, 'client', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.2.0.2']);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, / 0% packet loss/);
  assert.is(onHost(prefix, 'client', ['ping', '-c', '1', '-W', '2', '10.1.0.1']).status, 0);
});

if (!skipUnlessRoot('garbage.test.ts')) test.run();
