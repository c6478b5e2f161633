// UDP services with real DNS (seed 003): dnsmasq on each real server, dig from one client
// port. One-packet scheduling spreads every query; without it queries stick to a server until
// the UDP timeout; a removed server's flow moves to a live one instead of black-holing; with
// no server left, the client hears port unreachable from the VIP at once.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket } from '../../src/lab/lab.js';
import { onHost, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('DNS through a UDP service');
const prefix = uniquePrefix('dn');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const servers: ReturnType<typeof spawnOnHost>[] = [];
const ANSWER: Record<string, string> = { '192.0.2.1': 'rs1', '192.0.2.2': 'rs2' };

const adm = (args: string[]) => {
  const r = spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });
  if (r.status !== 0) throw new Error(`tapvsadm ${args.join(' ')}: ${r.stderr}`);
};
/** Which server answered a query sent from client port 5353 ('' when none did). */
const ask = () => ANSWER[onHost(prefix, 'client', ['dig', '+short', '+tries=1', '+time=2', '-b', '10.0.0.2#5353', `@${VIP}`, 'svc.test']).stdout.trim()] ?? '';
const askMany = (n: number) => Array.from({ length: n }, ask);

test.before(async () => {
  await startLab(directorLab(prefix, 'dr'));
  ['rs1', 'rs2'].forEach((rs, i) =>
    servers.push(spawnOnHost(prefix, rs, ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '-u', 'root', '--pid-file=', `--listen-address=${VIP}`, '--bind-interfaces', `--address=/svc.test/192.0.2.${i + 1}`])),
  );
  for (const rs of ['rs1', 'rs2']) {
    for (let i = 0; i < 100 && !/:53\b/.test(onHost(prefix, rs, ['ss', '-lunH']).stdout); i++) await sleep(50);
  }
  adm(['-A', '-u', `${VIP}:53`, '-s', 'rr', '-o']);
  adm(['-a', '-u', `${VIP}:53`, '-r', '192.168.1.11', '-g']);
  adm(['-a', '-u', `${VIP}:53`, '-r', '192.168.1.12', '-g']);
});

test.after(async () => {
  for (const s of servers) await stopChild(s);
  await stopLab(prefix);
});

test('one-packet scheduling: queries from one port alternate between the servers', () => {
  assert.equal(askMany(6), ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2']);
});

test('without it, they stick to one server until the UDP timeout passes', async () => {
  adm(['-E', '-u', `${VIP}:53`, '-s', 'rr']);
  adm(['--set', '0', '0', '2']);
  const first = askMany(5);
  assert.is(new Set(first).size, 1, first.join(','));
  await sleep(3000);
  assert.is.not(ask(), first[0], 'after the timeout, rr chooses anew');
});

test("a removed server's flow moves to the live one at once", () => {
  const serving = ask();
  adm(['-d', '-u', `${VIP}:53`, '-r', serving === 'rs1' ? '192.168.1.11' : '192.168.1.12']);
  assert.equal(askMany(3), Array(3).fill(serving === 'rs1' ? 'rs2' : 'rs1'));
});

test('no server left: the client hears port unreachable from the VIP, not silence', () => {
  // Whichever server the previous test left.
  for (const rs of ['192.168.1.11', '192.168.1.12']) spawnSync(process.execPath, [TAPVSADM, '-d', '-u', `${VIP}:53`, '-r', rs], { env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });
  const started = Date.now();
  const r = onHost(prefix, 'client', ['dig', '+tries=1', '+time=3', '-b', '10.0.0.2#5353', `@${VIP}`, 'svc.test']);
  assert.match(r.stdout + r.stderr, /refused/i);
  assert.ok(Date.now() - started < 2500, 'refused, not timed out');
});

if (!skipUnlessRoot('dns.test.ts')) test.run();
