// The tapvs command's refusals: clear message on stderr, non-zero exit (no root needed).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUNDLE, tapvs } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-cli-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

test('run with an unknown config field names it and exits 1', () => {
  const file = write('unknown.json', JSON.stringify({ interfaces: [{ name: 'lan', tap: 't0', addresses: ['10.0.0.1/24'], speed: 10 }] }));
  const r = tapvs(['run', '--config', file]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /^tapvs: config: \$\.interfaces\[0\]\.speed: unknown field/);
});

test('run with a bad address names the field and exits 1', () => {
  const file = write('bad.json', JSON.stringify({ interfaces: [{ name: 'lan', tap: 't0', addresses: ['10.0.0.256/24'] }] }));
  const r = tapvs(['run', '--config', file]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /\$\.interfaces\[0\]\.addresses\[0\]: '10\.0\.0\.256\/24' is not an IPv4 address/);
});

test('run with a gateway off every connected network says so', () => {
  const file = write('gw.json', JSON.stringify({ interfaces: [{ name: 'lan', tap: 't0', addresses: ['10.0.0.1/24'] }], routes: [{ to: 'default', via: '192.0.2.1' }] }));
  const r = tapvs(['run', '--config', file]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /\$\.routes\[0\]\.via: gateway 192\.0\.2\.1 is not on any connected network/);
});

test('run with a missing or malformed file says which', () => {
  assert.match(tapvs(['run', '--config', join(dir, 'nope.json')]).stderr, /cannot read .*nope\.json: ENOENT/);
  assert.match(tapvs(['run', '--config', write('syntax.json', '{"interfaces": [')]).stderr, /syntax\.json: not valid JSON/);
});

test('an unknown command is refused', () => {
  const r = tapvs(['frobnicate']);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /Unknown argument: frobnicate/);
});

test('agent setup refuses bad input before touching anything, with its exit codes', () => {
  const state = join(dir, 'agent.json');
  const badVip = tapvs(['agent', 'setup', '--vip', '1.2.3.999', '--iface', 'lo', '--state', state]);
  assert.is(badVip.status, 2);
  assert.match(badVip.stderr, /'1\.2\.3\.999' is not an IPv4 or IPv6 address/);
  const tunOnLo = tapvs(['agent', 'setup', '--vip', '1.2.3.4', '--iface', 'lo', '--method', 'tun', '--device', 'lo', '--state', state]);
  assert.is(tunOnLo.status, 2);
  assert.match(tunOnLo.stderr, /the tun method needs the agent's own device/);
  if (process.getuid?.() === 0) {
    // As an ordinary user (root can become one to show it).
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BUNDLE, 'agent', 'setup', '--vip', '1.2.3.4', '--iface', 'lo', '--state', state], { encoding: 'utf8' });
    assert.is(r.status, 4);
    assert.match(r.stderr, /must run as root/);
  }
});

test('the systemd unit calls the agent with options it has', () => {
  const unit = readFileSync(join(BUNDLE, '../../systemd/tapvs-agent.service'), 'utf8');
  const defaults = readFileSync(join(BUNDLE, '../../systemd/tapvs-agent.default'), 'utf8');
  for (const [cmd, line] of [['setup', /^ExecStartPre=.* agent setup (.*)$/m], ['run', /^ExecStart=.* agent run (.*)$/m]] as const) {
    const args = line.exec(unit)![1];
    const help = tapvs(['agent', cmd, '--help']).stdout;
    for (const flag of args.match(/--[a-z-]+/g)!) assert.ok(help.includes(flag), `agent ${cmd} has no ${flag}`);
    for (const v of args.match(/\$\{?([A-Z_]+)\}?/g)!) assert.match(defaults, new RegExp(`^${v.replace(/[${}]/g, '')}=`, 'm'));
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
