// A SYN flood from spoofed sources (hping3, bounded) at a DR service while a real client
// downloads over an established connection: the download completes, the table holds its
// limit, memory stays bounded, and new clients get in once the flood stops.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VIP, directorLab } from '../../src/lab/director.js';
import { labRouterMac, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, sleep, slowDownload, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('SYN flood');
const prefix = uniquePrefix('fl');
const CAPACITY = 4096;
let state: LabState;

test.before(async () => {
  state = await startLab(directorLab(prefix, 'dr', { director: { maxConnections: CAPACITY, defense: { amemthresh: 512, dropEntry: 1, secureTcp: 1 } } }));
});
test.after(async () => {
  await stopLab(prefix);
});

const collect = (child: ReturnType<typeof spawnOnHost>) =>
  new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('exit', () => resolve(out));
  });

test('a download survives 40,000 spoofed SYNs; the table holds; new clients get in after', async () => {
  const want = new Set(['rs1', 'rs2'].map((h) => onHost(prefix, h, ['sha256sum', `/tmp/${prefix}-${h}-www/blob`]).stdout.split(' ')[0]));
  const download = slowDownload(prefix, 'client', VIP, '/blob', 150_000); // ~14 s: it spans the flood
  await sleep(500);
  const before = await routerCounters(state, 'director');
  const started = Date.now();
  const flood = spawnOnHost(prefix, 'client', ['hping3', '-q', '-S', '-p', '80', '--rand-source', '-i', 'u100', '-c', '40000', VIP]);
  const floodDone = collect(flood);
  await Promise.race([floodDone, sleep(30_000)]);
  await stopChild(flood);
  const seconds = (Date.now() - started) / 1000;
  const during = (await routerCounters(state, 'director')) as unknown as { router: Record<string, number>; director: { connections: number; capacity: number; defenseActive: Record<string, boolean> }; process: { rssBytes: number } };
  const created = during.router.lvs_conns_created - before.router.lvs_conns_created;
  console.log(`    flood: ${Math.round(created / seconds)} connections/s entered, table at ${during.director.connections}/${during.director.capacity}, ${during.router.lvs_defense_dropped_entries} embryonic entries dropped, ${during.router.lvs_table_full} refused when full, RSS ${Math.round(during.process.rssBytes / 2 ** 20)} MiB`);
  assert.ok(during.director.connections <= CAPACITY);
  assert.ok(during.process.rssBytes < 400 * 2 ** 20, 'memory bounded');
  assert.ok(during.router.lvs_conns_created - before.router.lvs_conns_created > 4000, 'the flood reached the table');

  const r = await download;
  assert.is(r.error, null);
  assert.ok(r.seconds > seconds, `the download (${r.seconds} s) outlasted the flood (${seconds.toFixed(1)} s)`);
  assert.ok(want.has(r.sha256), 'the established download completed intact');

  // The flood is over: a new client is served (drop_entry makes room if the table is still full).
  const fresh = onHost(prefix, 'client', ['curl', '-s', '--max-time', '5', `http://${VIP}/`]);
  assert.match(fresh.stdout.trim(), /^rs[12]$/);
});

test("a client reusing the ports of a closing connection: its SYN is scheduled anew, not dropped", async () => {
  const wire = await Capture.start(prefix, 'br-lan', 'tcp port 80 and tcp[tcpflags] & tcp-syn != 0');
  const before = await routerCounters(state, 'director');
  const hping = (flags: string[]) => onHost(prefix, 'client', ['hping3', '-q', '-c', '1', '-s', '41000', '-k', '-p', '80', ...flags, VIP]);
  hping(['-S']); // SYN
  hping(['-A']); // ACK: established
  hping(['-F', '-A']); // FIN: closing
  hping(['-S']); // the same ports again
  // SYNs leaving the director (each also crosses the LAN once on its way in, from the gateway).
  const syns = await wire.fields(`tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.srcport == 41000 && eth.src == ${labRouterMac(prefix, 'director', 'lan')}`, ['eth.dst']);
  const after = await routerCounters(state, 'director');
  assert.is(syns.length, 2, 'both SYNs were forwarded to a real server');
  assert.is(after.router.lvs_conn_reused - before.router.lvs_conn_reused, 1);
});

if (!skipUnlessRoot('flood.test.ts')) test.run();
