// The addon against the real kernel: TAP lifecycle without leaks, and the native forwarder.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabSpec } from '../../src/lab/lab.js';
import { onHost, skipUnlessRoot, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('addon');
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures');
const prefix = uniquePrefix('ad');
// Two hosts on one subnet, on two segments that only the native forwarder joins.
const spec: LabSpec = {
  prefix,
  segments: ['a', 'b'],
  hosts: [
    { name: 'ha', segment: 'a', address: '10.5.0.1/24' },
    { name: 'hb', segment: 'b', address: '10.5.0.2/24' },
  ],
  routers: [],
};

test.before(async () => {
  await startLab(spec);
});

test.after(async () => {
  await stopLab(prefix);
});

const tsx = ['node', '--import', 'tsx'];

test('1000 TAP open/close cycles and 100 engines leak no fd or thread, and never crash', () => {
  for (const tap of ['tq0', 'tq1']) onHost(prefix, 'sw', ['ip', 'tuntap', 'add', 'mode', 'tap', 'name', tap]);
  const r = onHost(prefix, 'sw', [...tsx, join(fixtures, 'open-close.ts'), 'tq', '1000'], 120_000);
  assert.is(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const detail = `fds/threads before ${JSON.stringify(m.base)} after ${JSON.stringify(m.after)}`;
  assert.ok(m.after.fds <= m.base.fds, detail);
  assert.is(m.after.ioThreads, 0, `no port thread outlives its port: ${detail}`);
  assert.ok(m.after.threads <= m.base.threads + 4, `no thread leaked beyond the runtime's own few: ${detail}`);
  assert.is(m.peakThreads, 2, 'one I/O thread per open port (counted by name: tapvs-io)');
  assert.match(m.destroyedError, /engine is destroyed/);
  assert.ok(m.rssMiB < 400, `rss ${m.rssMiB} MiB`);
  assert.is.not(onHost(prefix, 'sw', ['ip', 'link', 'show', 'tqc']).status, 0, 'a TAP we created goes away with its fd');
  assert.is(onHost(prefix, 'sw', ['ip', 'link', 'show', 'tq0']).status, 0, 'a persistent TAP we attached to stays');
});

test('attaching to a missing TAP is a clear error', () => {
  const r = onHost(prefix, 'sw', [...tsx, '-e', "import('" + join(dirname(fileURLToPath(import.meta.url)), '../../src/io/native.ts') + "').then(({loadNative}) => { const e = new (loadNative().Engine)({}, () => {}); try { e.openTap(0, 'nosuchtap', 'attach') } catch (x) { console.log(x.message) } e.destroy() })"]);
  assert.match(r.stdout, /TAP nosuchtap: no such device \(create it with `ip tuntap add mode tap name nosuchtap`/);
});

test('the native forwarder joins two segments: ping and a bulk transfer cross it', async () => {
  for (const [tap, seg] of [['nfa', 'a'], ['nfb', 'b']]) {
    onHost(prefix, 'sw', ['ip', 'tuntap', 'add', 'mode', 'tap', 'name', tap]);
    onHost(prefix, 'sw', ['ip', 'link', 'set', tap, 'master', `br-${seg}`, 'up']);
  }
  const fwd = spawnOnHost(prefix, 'sw', [...tsx, join(fixtures, '../../bench/native-forward.ts'), 'nfa', 'nfb']);
  let out = '';
  fwd.stdout!.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 25));
  try {
    const r = onHost(prefix, 'ha', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.5.0.2']);
    assert.is(r.status, 0, r.stdout);
    const flood = onHost(prefix, 'ha', ['ping', '-f', '-c', '2000', '-W', '1', '10.5.0.2']);
    const loss = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(flood.stdout)?.[1] ?? 100);
    assert.ok(loss < 1, flood.stdout);
  } finally {
    await stopChild(fwd);
  }
  const counters = JSON.parse(out.trim().split('\n').pop()!);
  assert.ok(counters.a.rx_frames >= 2003 && counters.b.tx_frames >= 2003, JSON.stringify(counters));
});

if (!skipUnlessRoot('addon.test.ts')) test.run();
