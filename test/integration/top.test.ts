// `tapvs top` in an 80x24 terminal (tmux): the DR lab's service and real servers with their
// rates, the table, drops by reason as they happen; `q` quits.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket } from '../../src/lab/lab.js';
import { BUNDLE } from '../helpers/cli.js';
import { onHost, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const prefix = uniquePrefix('tp');
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', prefix, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', prefix).stdout.replace(/\n+$/, '').split('\n');

test.before(async () => {
  await startLab(directorLab(prefix, 'dr'));
});
test.after(async () => {
  tmux('kill-server');
  await stopLab(prefix);
});

test('fits 80x24, shows the service, its servers and their rates, drops by reason as they happen; q quits', async () => {
  for (let i = 0; i < 6; i++) onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]);
  const started = tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', prefix, `${process.execPath} ${BUNDLE} top --interval 1 --socket ${controlSocket(prefix, 'director')}`);
  assert.is(started.status, 0, started.stderr);
  await sleep(2500);
  let lines = screen();
  console.log(lines.map((l) => `  | ${l}`).join('\n'));
  assert.ok(lines.length <= 24 && lines.every((l) => l.length <= 80), `${lines.length} lines, widest ${Math.max(...lines.map((l) => l.length))}`);
  assert.match(lines[0], /^tapvs top  \d\d:\d\d:\d\d  table \d+\/1\.0M/);
  assert.ok(lines.some((l) => /^TCP  192\.168\.1\.2:80 +rr/.test(l)), 'the service');
  for (const rs of ['192.168.1.11', '192.168.1.12']) assert.ok(lines.some((l) => l.startsWith(`  -> ${rs}:80 Route w1`)), rs);
  assert.match(lines.at(-1)!, /q quits/);
  // Segments of no connection: drops by reason, counted per second.
  const acks = spawnOnHost(prefix, 'client', ['hping3', '-q', '-c', '200', '-A', '-p', '80', '-i', 'u20000', VIP]);
  await sleep(2500); // two refreshes while they arrive
  lines = screen();
  await stopChild(acks);
  assert.match(lines.at(-2)!, /^drops\/s: .*lvs_no_conn \d+/, lines.at(-2));
  tmux('send-keys', '-t', prefix, 'q');
  await sleep(800);
  assert.is(tmux('has-session', '-t', prefix).status, 1, 'top exited on q (its session ended)');
});

if (!skipUnlessRoot('top.test.ts')) test.run();
