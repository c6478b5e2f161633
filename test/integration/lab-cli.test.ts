// `tapvs lab` as a newcomer and a script use it: up (twice), --json, status, exec, down.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { BUNDLE, tapvs } from '../helpers/cli.js';
import { skipUnlessRoot, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('tapvs lab');
const prefix = uniquePrefix('cl');
const namespaces = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${prefix}-`));

test.after(async () => {
  await stopLab(prefix); // in case a step failed before `lab down`
});

test('lab up --json describes hosts, namespaces and the router, and up twice changes nothing', () => {
  const first = tapvs(['lab', 'up', '--prefix', prefix, '--json']);
  assert.is(first.status, 0, first.stderr);
  const lab = JSON.parse(first.stdout);
  assert.equal(lab.hosts.map((h: { name: string; namespace: string; address: string }) => [h.name, h.namespace, h.address]), [
    ['client', `${prefix}-client`, '10.1.0.2/24'],
    ['server', `${prefix}-server`, '10.2.0.2/24'],
  ]);
  assert.ok(lab.hosts.every((h: { address6: string | null; gateway6: string | null }) => /^2001:db8:/.test(h.address6 ?? '') && /^2001:db8:/.test(h.gateway6 ?? '')), `dual stack: ${JSON.stringify(lab.hosts.map((h: { address6: string }) => h.address6))}`);
  const router = lab.routers[0];
  assert.ok(router.running);
  assert.equal(router.interfaces.map((i: { addresses: string[] }) => i.addresses[0]), ['10.1.0.1/24', '10.2.0.1/24']);
  assert.ok(router.interfaces.every((i: { addresses: string[] }) => i.addresses.some((a) => a.includes(':'))), 'and the router has an IPv6 address on each');
  assert.match(router.interfaces[0].mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  const again = JSON.parse(tapvs(['lab', 'up', '--prefix', prefix, '--json']).stdout);
  assert.is(again.routers[0].pid, router.pid, 'the running router was kept');
  assert.is(namespaces().length, 3);
});

test('lab status and lab exec', () => {
  const status = tapvs(['lab', 'status', '--prefix', prefix, '--json']);
  assert.is(status.status, 0);
  assert.is(JSON.parse(status.stdout).up, true);
  const ping = tapvs(['lab', 'exec', 'client', '--prefix', prefix, '--', 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.2.0.2']);
  assert.is(ping.status, 0, ping.stderr);
  assert.match(ping.stdout, /2 received/);
  const bad = tapvs(['lab', 'exec', 'nosuch', '--prefix', prefix, '--', 'true']);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /has no host 'nosuch' \(hosts: client, server, sw\)/);
});

test('lab down removes every namespace under the prefix, and status then says not up', () => {
  assert.is(tapvs(['lab', 'down', '--prefix', prefix]).status, 0);
  assert.equal(namespaces(), []);
  const status = tapvs(['lab', 'status', '--prefix', prefix]);
  assert.is(status.status, 3);
  assert.match(status.stdout, /is not up/);
  assert.is(tapvs(['lab', 'down', '--prefix', prefix]).status, 0, 'down twice is fine');
});

const pair = suite('tapvs lab --ha');
const haPrefix = uniquePrefix('cp');
pair.after(() => stopLab(haPrefix));

pair('lab up --topology dr --ha: two directors on the LAN, both listed with their sockets; one becomes master', async () => {
  const bad = tapvs(['lab', 'up', '--prefix', haPrefix, '--topology', 'dr', '--ha', 'carp']);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /--ha takes nothing, tapvs or keepalived/);
  const up = tapvs(['lab', 'up', '--prefix', haPrefix, '--topology', 'dr', '--ha', '--json']);
  assert.is(up.status, 0, up.stderr);
  const d = JSON.parse(up.stdout) as { routers: { name: string; socket: string; running: boolean; interfaces: { addresses: string[] }[] }[] };
  assert.equal(d.routers.map((r) => [r.name, r.running, r.interfaces[0].addresses[0]]), [['director1', true, '192.168.1.10/24'], ['director2', true, '192.168.1.9/24']]);
  let out = '';
  for (let i = 0; i < 50 && !/MASTER/.test(out); i++) {
    await new Promise((r) => setTimeout(r, 200));
    out = spawnSync(process.execPath, [BUNDLE.replace(/tapvs\.js$/, 'tapvsadm.js'), '-L', '--daemon', '--socket', d.routers[0].socket], { encoding: 'utf8' }).stdout;
  }
  assert.match(out, /vrrp instance VI_1 \(lan, vrid 51, priority 150\): MASTER/);
});

if (!skipUnlessRoot('lab-cli.test.ts')) {
  test.run();
  pair.run();
}
