// The agent on a host with a VLAN-style interface name (eth0.100: a dot in the name, which the
// dotted sysctl form cannot say), under a concurrent setup, and with the tun method's
// rp_filter relaxed only where decapsulated packets arrive. In a namespace of its own.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tapvsBundle } from '../../src/lab/lab.js';
import { skipUnlessRoot, uniquePrefix } from '../helpers/lab.js';

const prefix = uniquePrefix('ag');
const ns = `${prefix}-ns`;
const dir = mkdtempSync(join(tmpdir(), 'tapvs-agent-'));
const state = join(dir, 'agent.json');
const IFACE = 'lan.100';

const inNs = (...cmd: string[]) => spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 30_000 });
const sysctl = (name: string) => inNs('cat', `/proc/sys/net/ipv4/conf/${name}`).stdout.trim();
const agent = (...args: string[]) => inNs(process.execPath, tapvsBundle(), 'agent', ...args, '--state', state, ...(args[0] === 'setup' || args[0] === 'undo' ? ['--sysctl-dir', join(dir, 'sysctl.d')] : []));
const setup = () => agent('setup', '--vip', '192.0.2.80', '--iface', IFACE, '--method', 'tun', '--device', `${prefix}v`);

test.before(() => {
  spawnSync('ip', ['netns', 'add', ns]);
  inNs('ip', 'link', 'add', IFACE, 'type', 'veth', 'peer', 'name', `${prefix}p`);
  inNs('ip', 'link', 'set', IFACE, 'up');
  inNs('ip', 'addr', 'add', '192.0.2.11/24', 'dev', IFACE);
  // Strict reverse-path filtering through 'all', none on the interface itself.
  inNs('sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=1', `net/ipv4/conf/${IFACE}/rp_filter=0`);
});
test.after(() => {
  spawnSync('ip', ['netns', 'delete', ns]);
  rmSync(dir, { recursive: true, force: true });
});

test('a second setup while one runs is refused; a lock left by a dead process is taken over', async () => {
  const holder = spawn('sleep', ['30']);
  writeFileSync(`${state}.lock`, String(holder.pid));
  const r = setup();
  const gone = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await gone; // reaped: no longer a live pid
  assert.is(r.status, 5, r.stderr);
  assert.match(r.stderr, new RegExp(`another agent \\(pid ${holder.pid}\\) is changing this host`));
  assert.not.ok(existsSync(state), 'nothing was done');
  const again = setup();
  assert.is(again.status, 0, again.stderr);
  assert.not.ok(existsSync(`${state}.lock`), 'the lock is released');
});

test('an interface with a dot in its name gets its sysctls, written so that sysctl can read them back', () => {
  assert.is(sysctl(`${IFACE}/arp_ignore`), '1');
  assert.is(sysctl(`${IFACE}/arp_announce`), '2');
  const conf = readFileSync(join(dir, 'sysctl.d', '90-tapvs-agent.conf'), 'utf8');
  assert.match(conf, /^net\/ipv4\/conf\/lan\.100\/arp_ignore = 1$/m);
  assert.match(conf, /^net\.ipv4\.conf\.all\.arp_ignore = 1$/m);
  // The file as written loads: sysctl -p reads each name.
  const load = inNs('sysctl', '-p', join(dir, 'sysctl.d', '90-tapvs-agent.conf'));
  assert.is(load.status, 0, load.stderr);
  const doctor = agent('doctor', '--no-probe');
  assert.match(doctor.stdout, /ok {3}sysctl  net\/ipv4\/conf\/lan\.100\/arp_announce = 2/);
});

test("tun relaxes rp_filter on 'all' and its device only: the LAN interface keeps the strictness it had", () => {
  console.log(`  after setup: all ${sysctl('all/rp_filter')}, ${prefix}v ${sysctl(`${prefix}v/rp_filter`)}, ${IFACE} ${sysctl(`${IFACE}/rp_filter`)}`);
  assert.is(sysctl('all/rp_filter'), '0');
  assert.is(sysctl(`${prefix}v/rp_filter`), '0');
  assert.is(sysctl(`${IFACE}/rp_filter`), '1', "the LAN side still filters, as 'all' made it before");
  const undo = agent('undo');
  assert.is(undo.status, 0, undo.stderr);
  assert.is(sysctl('all/rp_filter'), '1');
  assert.is(sysctl(`${IFACE}/rp_filter`), '0');
  assert.is(sysctl(`${IFACE}/arp_ignore`), '0');
});

test('a setup that fails half way leaves a record that undo puts back', () => {
  const before = [sysctl(`${IFACE}/arp_ignore`), sysctl('all/arp_announce')];
  // The sysctl.d directory cannot be made: setup fails after its live changes.
  const r = inNs(process.execPath, tapvsBundle(), 'agent', 'setup', '--vip', '192.0.2.80', '--iface', IFACE, '--device', `${prefix}v`, '--state', state, '--sysctl-dir', '/dev/null/sysctl.d');
  assert.is.not(r.status, 0);
  assert.is(sysctl(`${IFACE}/arp_ignore`), '1', 'it got that far');
  const recorded = JSON.parse(readFileSync(state, 'utf8'));
  assert.ok(recorded.createdDevice && recorded.addedVips.includes('192.0.2.80'), JSON.stringify(recorded));
  const undo = agent('undo');
  assert.is(undo.status, 0, undo.stderr);
  assert.equal([sysctl(`${IFACE}/arp_ignore`), sysctl('all/arp_announce')], before);
  assert.is.not(inNs('ip', 'link', 'show', `${prefix}v`).status, 0, 'the device it made is gone');
});

if (!skipUnlessRoot('hostile/agent')) test.run();
