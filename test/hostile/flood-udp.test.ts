// Floods that fill the connection table with entries that are not SYN_RECV: spoofed-source
// UDP (one entry per datagram, 300 s each) and SIP INVITEs with fresh Call-IDs (one template
// per call). Measured before: a 12 s UDP flood at VIP:53 with an 8192-entry table let 0 of 10
// TCP connections to VIP:80 through during the flood, and 0 of 10 after it. drop_entry now
// covers every kind of entry.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket, type LabState } from '../../src/lab/lab.js';
import { onHost, routerAlive, routerCounters, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('floods of UDP entries and templates');
const prefix = uniquePrefix('fu');
const CAPACITY = 8192;
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
let state: LabState;

const adm = (...args: string[]) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });
const curlOk = () => /^rs[12]$/.test(onHost(prefix, 'client', ['curl', '-s', '--max-time', '2', `http://${VIP}/`]).stdout.trim());

test.before(async () => {
  state = await startLab(directorLab(prefix, 'dr', { director: { maxConnections: CAPACITY, defense: { dropEntry: 1 } } }));
  for (const args of [
    ['-A', '-u', `${VIP}:53`, '-s', 'rr'],
    ['-a', '-u', `${VIP}:53`, '-r', '192.168.1.11', '-g'],
    ['-A', '-u', `${VIP}:5060`, '-s', 'rr', '-p', '300', '--pe', 'sip'],
    ['-a', '-u', `${VIP}:5060`, '-r', '192.168.1.12', '-g'],
  ]) assert.is(adm(...args).status, 0, args.join(' '));
});
test.after(async () => {
  await stopLab(prefix);
});

/** Runs `flood` on the client (SIP first: the table starts empty); from 3 s in, tries 10 TCP connections during it, then 10 after. */
async function tcpThrough(flood: string[], seconds: number): Promise<{ during: number; after: number; counters: Awaited<ReturnType<typeof routerCounters>> }> {
  const child = spawnOnHost(prefix, 'client', flood);
  await sleep(3000);
  let during = 0;
  for (let i = 0; i < 10; i++) if (curlOk()) during++;
  const left = seconds * 1000 - 3000 - 10 * 50;
  if (left > 0) await Promise.race([new Promise((r) => child.on('exit', r)), sleep(left + 5000)]);
  await stopChild(child);
  const counters = await routerCounters(state, 'director');
  let after = 0;
  for (let i = 0; i < 10; i++) if (curlOk()) after++;
  return { during, after, counters };
}

test('attack: SIP INVITEs with fresh Call-IDs (a template each) do not lock TCP clients out', async () => {
  const r = await tcpThrough(['sipp', '-sn', 'uac', '-m', '20000', '-r', '2000', '-nr', '-timeout', '14s', '-timeout_error', '-recv_timeout', '100', '-trace_err', '-error_file', '/dev/null', `${VIP}:5060`], 12);
  const d = r.counters as unknown as { director: { connections: number }; router: Record<string, number> };
  console.log(`  SIP flood: TCP through ${r.during}/10 during, ${r.after}/10 after; table ${d.director.connections}/${CAPACITY}, entries dropped ${d.router.lvs_defense_dropped_entries}`);
  assert.ok(routerAlive(state, 'director'));
  assert.ok(r.during >= 9, `${r.during}/10 during the flood`);
  assert.is(r.after, 10);
  assert.ok(d.router.lvs_defense_dropped_entries > 0, 'the templates filled the table, and drop_entry made room');
});

test('attack: a spoofed-source UDP flood at VIP:53 does not lock TCP clients out of VIP:80', async () => {
  const r = await tcpThrough(['hping3', '-q', '--udp', '-p', '53', '--rand-source', '-i', 'u100', '-c', '100000', VIP], 12);
  const d = r.counters as unknown as { director: { connections: number }; router: Record<string, number> };
  console.log(`  UDP flood: TCP through ${r.during}/10 during, ${r.after}/10 after; table ${d.director.connections}/${CAPACITY}, entries dropped by drop_entry ${d.router.lvs_defense_dropped_entries}, refused ${d.router.lvs_table_full}`);
  assert.ok(routerAlive(state, 'director'));
  assert.ok(r.during >= 9, `${r.during}/10 during the flood`);
  assert.is(r.after, 10);
  assert.ok(d.router.lvs_defense_dropped_entries > 0);
});

if (!skipUnlessRoot('hostile/flood-udp')) test.run();
