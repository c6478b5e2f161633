// Every scheduler against ipvsadm's semantics, on plain RealServer objects.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createScheduler, SCHEDULER_NAMES, type SchedulingKey } from '../../src/lvs/schedulers/index.js';
import { MaglevHashing } from '../../src/lvs/schedulers/hashing.js';
import { TwoRandomChoices } from '../../src/lvs/schedulers/basic.js';
import { Method, RealServer } from '../../src/lvs/service.js';

const servers = (...weights: number[]) => weights.map((w, i) => new RealServer(i, 0x0a000001 + i, 80, w, Method.Dr));
const key = (caddr = 0x0b000001, cport = 1000, daddr = 0xc0a80102): SchedulingKey => ({ caddr, cport, daddr });
const names = (picks: (RealServer | null)[]) => picks.map((d) => (d ? d.id : '-')).join('');

function run(name: string, dests: RealServer[], n: number, k: (i: number) => SchedulingKey = () => key(), flags: string[] = []): (RealServer | null)[] {
  const s = createScheduler(name);
  s.update(dests, flags);
  return Array.from({ length: n }, (_, i) => s.pick(dests, k(i)));
}

test('every ipvsadm scheduler name exists, and unknown names are refused with the list', () => {
  assert.equal([...SCHEDULER_NAMES].sort(), ['dh', 'fo', 'lblc', 'lblcr', 'lc', 'mh', 'nq', 'ovf', 'rr', 'sed', 'sh', 'twos', 'wlc', 'wrr']);
  assert.throws(() => createScheduler('random'), /unknown scheduler 'random' \(known: rr, wrr/);
});

test('rr: in turn, skipping weight 0 (quiesced)', () => {
  assert.is(names(run('rr', servers(1, 1, 1), 6)), '012012');
  assert.is(names(run('rr', servers(1, 0, 1), 4)), '0202');
  assert.is(names(run('rr', servers(0, 0), 2)), '--');
});

test('wrr: interleaved in proportion to weight', () => {
  const picks = names(run('wrr', servers(4, 3, 2), 9));
  assert.is(picks, '001012012');
  const many = names(run('wrr', servers(5, 1), 60));
  assert.is([...many].filter((c) => c === '0').length, 50);
});

test('lc and wlc: fewest connections, active weighing 256 inactive; wlc per weight', () => {
  const d = servers(1, 1, 3);
  d[0].activeConns = 2;
  d[1].activeConns = 1;
  d[1].inactConns = 300;
  d[2].activeConns = 3;
  assert.is(run('lc', d, 1)[0]!.id, 0, 'lc: 2*256 < 1*256+300 < 3*256');
  assert.is(run('wlc', d, 1)[0]!.id, 2, 'wlc: 768/3 < 512/1');
});

test('sed and nq: expected delay (active+1)/weight; nq takes an idle server first', () => {
  const d = servers(1, 4);
  d[0].activeConns = 0;
  d[1].activeConns = 2;
  assert.is(run('sed', d, 1)[0]!.id, 1, 'sed: 3/4 < 1/1');
  assert.is(run('nq', d, 1)[0]!.id, 0, 'nq: server 0 is idle');
});

test('fo and ovf: highest weight first; ovf spills when active reaches weight', () => {
  const d = servers(1, 5, 3);
  assert.is(run('fo', d, 1)[0]!.id, 1);
  d[1].activeConns = 5;
  assert.is(run('ovf', d, 1)[0]!.id, 2);
  d[1].weight = 0;
  assert.is(run('fo', d, 1)[0]!.id, 2, 'quiesced server fails over');
});

test('sh: one client always to one server, clients spread by weight; fallback only with the flag', () => {
  const d = servers(1, 1, 2);
  const byClient = run('sh', d, 4000, (i) => key(0x0b000000 + (i >> 1)));
  for (let i = 0; i < byClient.length; i += 2) assert.is(byClient[i], byClient[i + 1]);
  const count = [0, 0, 0];
  for (const p of byClient) count[p!.id]++;
  assert.ok(count[2] > count[0] * 1.5 && count[2] > count[1] * 1.5, `weights 1:1:2 gave ${count}`);
  d[2].overloaded = true;
  assert.ok(run('sh', d, 200, (i) => key(0x0b000000 + i)).some((p) => p === null), 'no fallback: its clients get nothing');
  assert.ok(run('sh', d, 200, (i) => key(0x0b000000 + i), ['sh-fallback']).every((p) => p !== null && p.id !== 2));
  d[2].overloaded = false;
  d[2].weight = 0;
  assert.ok(run('sh', d, 200, (i) => key(0x0b000000 + i)).every((p) => p !== null && p.id !== 2), 'weight 0 leaves the table');
});

test('sh-port: the client port joins the hash', () => {
  const picks = run('sh', servers(1, 1, 1, 1), 200, (i) => key(0x0b000001, 1000 + i), ['sh-port']);
  assert.ok(new Set(picks.map((p) => p!.id)).size > 1);
  const noPort = run('sh', servers(1, 1, 1, 1), 200, (i) => key(0x0b000001, 1000 + i));
  assert.is(new Set(noPort.map((p) => p!.id)).size, 1);
});

test('dh: by the packet destination address', () => {
  const picks = run('dh', servers(1, 1, 1), 100, (i) => key(0x0b000000 + i, 1000, 0xc0a80002));
  assert.is(new Set(picks.map((p) => p!.id)).size, 1, 'many clients, one destination: one server');
});

test('mh: weights respected, and removing a server moves almost nothing else (Maglev minimal disruption)', () => {
  const d = servers(1, 1, 1, 1, 2);
  const mh = new MaglevHashing();
  mh.update(d, []);
  const before = mh.snapshot();
  const share = [0, 0, 0, 0, 0];
  for (const i of before) share[i]++;
  assert.ok(share[4] > share[0] * 1.8 && share[4] < share[0] * 2.2, `shares ${share}`);
  d[1].removed = true;
  mh.update(d, []);
  const after = mh.snapshot();
  const remaining = [0, 2, 3, 4]; // old index -> new index after server 1 left
  const toNew = new Map(remaining.map((old, i) => [old, i]));
  let kept = 0, others = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === 1) continue;
    others++;
    if (after[i] === toNew.get(before[i])) kept++;
  }
  assert.ok(kept / others > 0.9, `only ${((100 * kept) / others).toFixed(1)}% of other servers' entries stayed`);
});

test('mh: two directors (two processes) with the same servers, listed in different orders, build the same table entry for entry', () => {
  const fixture = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/maglev-table.ts');
  const table = (...specs: string[]) => spawnSync(process.execPath, ['--import', 'tsx', fixture, ...specs], { encoding: 'utf8' }).stdout.trim();
  const a = table('10.0.0.11:80:1', '10.0.0.12:80:2', '10.0.0.13:8080:1');
  const b = table('10.0.0.13:8080:1', '10.0.0.11:80:1', '10.0.0.12:80:2');
  const other = table('10.0.0.11:80:1', '10.0.0.12:80:1', '10.0.0.13:8080:1');
  console.log(`  tables: ${a.slice(0, 16)} and ${b.slice(0, 16)}; with another weight ${other.slice(0, 16)}`);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.is(b, a, 'the order servers were listed in does not matter');
  assert.is.not(other, a, 'a different weight is a different table');
});

test('mh: same client, same server; fallback only with mh-fallback', () => {
  const d = servers(1, 1, 1);
  const picks = run('mh', d, 10, () => key(0x0b0000aa));
  assert.is(new Set(picks.map((p) => p!.id)).size, 1);
  const chosen = picks[0]!.id;
  d[chosen].overloaded = true;
  assert.is(run('mh', d, 1, () => key(0x0b0000aa))[0], null);
  assert.is.not(run('mh', d, 1, () => key(0x0b0000aa), ['mh-fallback'])[0]!.id, chosen);
});

test('lblc: a destination address sticks to its server until that server is overloaded', () => {
  const d = servers(2, 2);
  const s = createScheduler('lblc');
  s.update(d, []);
  const first = s.pick(d, key(1, 1, 0xc0a80009))!;
  first.activeConns = 1;
  assert.is(s.pick(d, key(2, 2, 0xc0a80009)), first, 'still under its weight');
  first.activeConns = 5;
  assert.is.not(s.pick(d, key(3, 3, 0xc0a80009)), first, 'overloaded while the other idles');
});

test('lblcr: grows the set for a busy destination, serving from its least loaded member', () => {
  const d = servers(2, 2, 2);
  const s = createScheduler('lblcr');
  s.update(d, []);
  const a = s.pick(d, key(1, 1, 0xc0a80009))!;
  a.activeConns = 5;
  const b = s.pick(d, key(2, 2, 0xc0a80009))!;
  assert.is.not(b, a);
  assert.is(s.pick(d, key(3, 3, 0xc0a80009)), b);
});

test('twos: the less loaded of two weighted draws', () => {
  const d = servers(1, 1);
  d[0].activeConns = 10;
  const draws = [0.1, 0.9];
  let i = 0;
  const s = new TwoRandomChoices(() => draws[i++ % 2]);
  assert.is(s.pick(d, key())!.id, 1);
});

test('thresholds: a server over its upper threshold is not chosen until below the lower', () => {
  const d = servers(1, 1);
  d[0].upperThreshold = 2;
  d[0].lowerThreshold = 1;
  d[0].activeConns = 2;
  d[0].updateOverload();
  assert.is(names(run('rr', d, 2)), '11');
  d[0].activeConns = 1;
  d[0].updateOverload();
  assert.not.ok(d[0].overloaded);
});

test.run();
