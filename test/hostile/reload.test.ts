// Reload and restore are all or nothing, and a reload never revives a dead server. On the
// dr lab with HTTP health checks: rs1's HTTP dies and is inhibited; an unchanged reload must
// leave it out (it used to come back at weight 1, and half the requests failed). Reloads and
// restores with an error part way are refused whole.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket, tapvsBundle, type LabState } from '../../src/lab/lab.js';
import { onHost, skipUnlessRoot, sleep, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';
import { controlRequest } from '../../src/control/socket.js';

const test = suite('reload and restore, all or nothing');
const prefix = uniquePrefix('rl');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
let state: LabState;
let original = '';

const env = () => ({ ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') });
const adm = (args: string[], input?: string) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', input, env: env(), timeout: 20_000 });
const listing = () => adm(['-Ln']).stdout;
const reload = () => spawnSync(process.execPath, [tapvsBundle(), 'reload', '--socket', controlSocket(prefix, 'director')], { encoding: 'utf8', timeout: 20_000 });
const curls = (n: number) => Array.from({ length: n }, () => onHost(prefix, 'client', ['curl', '-s', '--max-time', '2', `http://${VIP}/`]).stdout.trim());
const writeConfig = (edit: (c: Record<string, any>) => void) => {
  const c = JSON.parse(original);
  edit(c);
  writeFileSync(state.routers[0].config, JSON.stringify(c, null, 2));
};

async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !pred(); await sleep(200)) if (Date.now() > end) throw new Error(`timed out: ${what}\n${listing()}`);
}

test.before(async () => {
  state = await startLab(directorLab(prefix, 'dr', { healthCheck: { type: 'http', path: '/', expectStatus: 200, interval: 1, timeout: 1, rise: 2, fall: 2 } }));
  original = readFileSync(state.routers[0].config, 'utf8');
});
test.after(async () => {
  await stopLab(prefix);
});

test('a reload does not revive a server its health check holds out', async () => {
  const http = state.daemons!.find((d) => d.host === 'rs1' && d.name === 'http')!;
  process.kill(http.pid, 'SIGTERM');
  await until('rs1 inhibited', () => /192\.168\.1\.11:80 +Route +0 /.test(listing()));
  const r = reload();
  assert.is(r.status, 0, r.stderr);
  await sleep(2500); // two check intervals: a fresh checker would have said "healthy" by now
  assert.match(listing(), /192\.168\.1\.11:80 +Route +0 /);
  const names = curls(10);
  const failed = names.filter((n) => n !== 'rs2').length;
  console.log(`  after an unchanged reload with rs1 dead: rs1 at weight ${/192\.168\.1\.11:80 +Route +(\d+)/.exec(listing())?.[1]}, ${failed} of 10 requests failed`);
  assert.is(failed, 0);
  // A new weight in the config is the one it will come back with, not one it gets now.
  writeConfig((c) => (c.services[0].realServers[0].weight = 3));
  assert.is(reload().status, 0);
  await sleep(1200);
  assert.match(listing(), /192\.168\.1\.11:80 +Route +0 /);
});

test('a reload with an error part way changes nothing', () => {
  const before = listing();
  // A new service (fine) and, in the existing one, a DR server behind the gateway.
  writeConfig((c) => {
    c.services.push({ protocol: 'tcp', vip: VIP, port: 8080, scheduler: 'rr', realServers: [{ address: '192.168.1.12', port: 8080 }] });
    c.services[0].realServers.push({ address: '10.99.0.5' });
  });
  const r = reload();
  assert.is(r.status, 1);
  console.log(`  refused: ${r.stderr.trim()}`);
  assert.match(r.stderr + r.stdout, /\$\.services\[0\]\.realServers\[2\]\.address: direct routing needs 10\.99\.0\.5 on a directly connected network \(it is behind 192\.168\.1\.1\)/);
  assert.is(listing(), before);
  // Something only the live router shows: the new on-link route needs a restart, so a DR
  // server on it is still behind the gateway for the running director (the file alone passes).
  writeConfig((c) => {
    c.routes = [...(c.routes ?? []), { to: '10.98.0.0/24', dev: c.interfaces[0].name }];
    c.services[0].realServers.push({ address: '10.98.0.5' });
  });
  const r2 = reload();
  assert.is(r2.status, 1);
  assert.match(r2.stderr, /direct routing needs 10\.98\.0\.5 on a directly connected network/);
  assert.is(listing(), before);
  writeConfig(() => {});
});

test('settings that can change live do, and the reload says which', async () => {
  writeConfig((c) => {
    c.ttl = 33;
    c.log = { level: 'warn' };
    c.icmp = { ratePerSecond: 50, burst: 10 };
    c.control.mode = '0660';
  });
  const r = reload();
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /changed live: icmp, ttl, log\.level, control modes/);
  assert.is(spawnSync('stat', ['-c', '%a', controlSocket(prefix, 'director')], { encoding: 'utf8' }).stdout.trim(), '660');
  // The director's own echo reply leaves with TTL 33; the gateway takes one off.
  const ping = onHost(prefix, 'client', ['ping', '-c', '1', '-W', '2', '192.168.1.10']);
  assert.match(ping.stdout, /ttl=32/);
  writeConfig(() => {});
  assert.is(reload().status, 0);
  // A firewall-mark service's members change live: a port joins the group.
  writeConfig((c) => c.services.push({ fwmark: 7, vip: VIP, members: [{ protocol: 'tcp', port: 8088 }], scheduler: 'rr', realServers: [{ address: '192.168.1.12' }] }));
  assert.is(reload().status, 0);
  writeConfig((c) => c.services.push({ fwmark: 7, vip: VIP, members: [{ protocol: 'tcp', port: 8088 }, { protocol: 'tcp', port: 8089 }], scheduler: 'rr', realServers: [{ address: '192.168.1.12' }] }));
  const m = reload();
  assert.is(m.status, 0, m.stderr);
  assert.match(m.stdout, /\nchanged: FWM 7\n/, m.stdout);
  const view = (await controlRequest(controlSocket(prefix, 'director'), 'list')) as { services: { fwmark: number; members: unknown[] }[] };
  assert.equal(view.services.find((v) => v.fwmark === 7)?.members, [{ protocol: 'tcp', port: 8088 }, { protocol: 'tcp', port: 8089 }]);
  writeConfig(() => {});
  assert.is(reload().status, 0);
});

test('tapvsadm -R applies every line or none', () => {
  const before = listing();
  const rules = [`-A -t ${VIP}:9090 -s rr`, `-a -t ${VIP}:9090 -r 192.168.1.11 -g`, `-a -t ${VIP}:9090 -r 10.99.0.5 -g`, ''].join('\n');
  const r = adm(['-R'], rules);
  assert.is(r.status, 1);
  assert.match(r.stderr, /line 3 \(add-dest\): Direct routing needs 10\.99\.0\.5 on a directly connected network \(it is behind 192\.168\.1\.1\); nothing was changed/);
  assert.is(listing(), before);
  // A syntax error anywhere: nothing is even sent.
  const bad = adm(['-R'], `-A -t ${VIP}:9091 -s rr\n-a -t ${VIP}:9091 -r 192.168.1.11 -w banana\n`);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /line 2 .*nothing was changed/);
  assert.is(listing(), before);
  // And a good one applies whole.
  assert.is(adm(['-R'], rules.split('\n').slice(0, 2).join('\n')).status, 0);
  assert.match(listing(), /TCP {2}192\.168\.1\.2:9090 rr\n {2}-> 192\.168\.1\.11:9090/);
});

if (!skipUnlessRoot('hostile/reload')) test.run();
