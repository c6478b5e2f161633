// `tapvs save`, "write memory": what tapvsadm changed survives a restart once saved; the rest of
// the file stays as it was (the health check included); a file it cannot read is left alone.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, VIP6, directorLab } from '../../src/lab/director.js';
import { controlSocket, readState, startLabRouter, stopLabRouter } from '../../src/lab/lab.js';
import { tapvs } from '../helpers/cli.js';
import { skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const prefix = uniquePrefix('sv');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const adm = (...args: string[]) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });
const configFile = () => readState(prefix)!.routers[0].config;
const check = { type: 'tcp', interval: 2, timeout: 1, rise: 1, fall: 2 };

test.before(async () => {
  await startLab(directorLab(prefix, 'dr', { healthCheck: check }));
});
test.after(() => stopLab(prefix));

test('tapvsadm changes, saved, survive a restart; the file keeps the rest, health check included', async () => {
  for (const args of [['-A', '-t', `${VIP}:8080`, '-s', 'wlc', '-p', '120'], ['-a', '-t', `${VIP}:8080`, '-r', '192.168.1.11', '-g', '-w', '3'], ['-e', '-t', `${VIP}:80`, '-r', '192.168.1.12', '-w', '5']]) {
    const r = adm(...args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const before = adm('-L', '-n').stdout;
  const saved = tapvs(['save', '--socket', controlSocket(prefix, 'director')]);
  assert.is(saved.status, 0, saved.stderr);
  assert.match(saved.stdout, /^saved 3 services to .*director\.json$/m);
  const file = JSON.parse(readFileSync(configFile(), 'utf8'));
  assert.equal(file.services[0].healthCheck, check, 'the health check, as written');
  assert.equal(file.services[0].realServers.map((r: { weight: number }) => r.weight), [1, 5]);
  assert.equal(file.services[1], { protocol: 'tcp', vip: VIP6, port: 80, scheduler: 'rr', iface: 'lan', realServers: ['2001:db8:1::b', '2001:db8:1::c'].map((address) => ({ address, port: 80, weight: 1, method: 'dr' })) }, 'the lab\'s IPv6 service, as the config reads it');
  assert.equal(file.services[2], { protocol: 'tcp', vip: VIP, port: 8080, scheduler: 'wlc', persistence: 120, realServers: [{ address: '192.168.1.11', port: 8080, weight: 3, method: 'dr' }] });
  assert.ok(file.interfaces && file.control, 'the rest of the file is still there');
  await stopLabRouter(prefix, 'director', 'SIGTERM');
  await startLabRouter(prefix, 'director');
  const after = adm('-L', '-n').stdout;
  assert.is(after.replace(/\d+\s+\d+$/gm, ''), before.replace(/\d+\s+\d+$/gm, ''), 'the same services after the restart (connection counts aside)');
});

test('a config file that cannot be read back is left alone, and the save says why', () => {
  writeFileSync(configFile(), '{ "interfaces": [');
  const r = tapvs(['save', '--socket', controlSocket(prefix, 'director')]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /cannot read .*director\.json to save into it/);
  assert.is(readFileSync(configFile(), 'utf8'), '{ "interfaces": [', 'untouched');
});

if (!skipUnlessRoot('save.test.ts')) test.run();
