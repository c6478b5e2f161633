// `tapvs check` is a dry run of `tapvs run`: each operator mistake below is refused by check
// with the very message run gives (run is tried too, in a namespace of its own, where it must
// stop before it opens a TAP).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tapvsBundle } from '../../src/lab/lab.js';
import { canRunLabs, uniquePrefix } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-check-'));
const prefix = uniquePrefix('ck');
const ns = `${prefix}-ns`;
const root = canRunLabs();

const base = (): any => ({
  interfaces: [
    { name: 'wan', tap: `${prefix}w`, tapMode: 'create', addresses: ['10.0.0.10/24'] },
    { name: 'lan', tap: `${prefix}l`, tapMode: 'create', addresses: ['192.168.1.10/24'] },
  ],
  routes: [{ to: 'default', via: '10.0.0.1' }],
  control: { socket: join(dir, 'tapvs.sock') },
  services: [{ protocol: 'tcp', vip: '192.168.1.2', port: 80, realServers: [{ address: '192.168.1.11' }] }],
});

const MISTAKES: [string, (c: any) => void, RegExp][] = [
  ['a duplicate real server', (c) => c.services[0].realServers.push({ address: '192.168.1.11' }), /\$\.services\[0\]\.realServers\[1\]: 192\.168\.1\.11:80 is already a real server of this service/],
  ['a DR server behind a gateway', (c) => c.services[0].realServers.push({ address: '172.16.0.5' }), /\$\.services\[0\]\.realServers\[1\]\.address: direct routing needs 172\.16\.0\.5 on a directly connected network \(it is behind 10\.0\.0\.1\)/],
  ['an unroutable server', (c) => ((c.routes = []), c.services[0].realServers.push({ address: '172.16.0.5', method: 'nat' })), /\$\.services\[0\]\.realServers\[1\]\.address: 172\.16\.0\.5 is not reachable by any route/],
  ['a gateway off every connected network', (c) => (c.routes = [{ to: 'default', via: '10.9.9.1' }]), /\$\.routes\[0\]\.via: gateway 10\.9\.9\.1 is not on any connected network/],
  ['a metrics address the host does not own', (c) => (c.control.metrics = '198.51.100.77:9101'), /\$\.control\.metrics: 198\.51\.100\.77 is not an address of this host/],
  ['a static route equal to a connected one', (c) => c.routes.push({ to: '192.168.1.0/24', via: '10.0.0.1' }), /\$\.routes\[1\]\.to: route 192\.168\.1\.0\/24 is already a connected network of lan/],
];

test.before(() => void (root && spawnSync('ip', ['netns', 'add', ns])));
test.after(() => {
  if (root) spawnSync('ip', ['netns', 'delete', ns]);
  rmSync(dir, { recursive: true, force: true });
});

test('a good config passes check', () => {
  const file = join(dir, 'good.json');
  writeFileSync(file, JSON.stringify(base()));
  const r = spawnSync(process.execPath, [tapvsBundle(), 'check', '--config', file], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

for (const [what, edit, message] of MISTAKES) {
  test(`check refuses ${what}, with the message run gives`, () => {
    const c = base();
    edit(c);
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(c));
    const check = spawnSync(process.execPath, [tapvsBundle(), 'check', '--config', file], { encoding: 'utf8' });
    assert.is(check.status, 1);
    assert.match(check.stderr, message);
    if (!root) return;
    // In its own namespace: a run that got past the checks would create its TAPs there.
    const run = spawnSync('ip', ['netns', 'exec', ns, process.execPath, tapvsBundle(), 'run', '--config', file], { encoding: 'utf8', timeout: 20_000 });
    assert.is(run.status, 1);
    assert.is(run.stderr.trim(), check.stderr.trim());
  });
}

test.run();
