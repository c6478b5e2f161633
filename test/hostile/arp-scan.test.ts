// A scan of unused on-link addresses: every packet parks a frame on an ARP resolution that
// will never finish. It used to leave the slot pool empty (ping through tapvs lost 70%, RTTs
// up to 2.7 s). Now parked frames are capped at a share of the pool and the neighbour table
// evicts instead of refusing: a ping to a live host through the scan must lose under 1%.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLab } from '../../src/lab/default.js';
import { controlSocket, type LabState } from '../../src/lab/lab.js';
import { controlRequest } from '../../src/control/socket.js';
import { onHost, routerAlive, skipUnlessRoot, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('ARP scan');
const prefix = uniquePrefix('as');
const spec = defaultLab(prefix);
// A small neighbour table, so the scan also overflows it.
spec.routers[0].extra = { neighbour: { maxEntries: 128 } };
let state: LabState;

test.before(async () => {
  state = await startLab(spec);
});
test.after(async () => {
  await stopLab(prefix);
});

test('attack: a 12k packets/s scan of unused on-link addresses; a ping to a live host loses under 1%', async () => {
  // Warm the live host's ARP entry, as any real traffic would have.
  assert.is(onHost(prefix, 'client', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.2.0.2']).status, 0);
  const scan = spawnOnHost(prefix, 'client', ['hping3', '--udp', '-p', '9', '-i', 'u80', '-c', '90000', '-I', 'eth0', '--rand-dest', '10.2.0.x', '-q']);
  const started = Date.now();
  const ping = onHost(prefix, 'client', ['ping', '-q', '-c', '600', '-i', '0.01', '-W', '1', '10.2.0.2'], 60_000);
  const seconds = (Date.now() - started) / 1000;
  await stopChild(scan);
  const loss = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(ping.stdout)?.[1] ?? 100);
  const rtt = /= [\d.]+\/([\d.]+)\/([\d.]+)/.exec(ping.stdout);
  const c = (await controlRequest(controlSocket(prefix, 'tapvs'), 'counters')) as { router: Record<string, number> };
  const r = c.router;
  console.log(
    `  scan for ${seconds.toFixed(1)} s: ping loss ${loss}%, rtt avg ${rtt?.[1]} max ${rtt?.[2]} ms; ` +
      `parked over cap ${r.arp_parked_over_cap}, queue full ${r.arp_queue_full}, neighbours evicted ${r.neighbour_evicted}, arp requests ${r.arp_requests_sent}, no free slot ${r.no_free_slot}`,
  );
  assert.ok(routerAlive(state, 'tapvs'));
  assert.ok(loss < 1, `ping lost ${loss}%`);
  assert.ok(r.neighbour_evicted > 0, 'the scan filled the neighbour table, which evicted');
  assert.is(r.no_free_slot, 0, 'the pool never ran dry');
});

if (!skipUnlessRoot('hostile/arp-scan')) test.run();
