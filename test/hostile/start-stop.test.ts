// Signals that reach tapvs while it starts: here it waits for the link of a NIC whose cable
// is out (a veth with its peer down), and SIGHUP and SIGUSR1 arrive during the wait. Neither
// may kill it, and SIGUSR1 must never open Node's inspector (127.0.0.1:9229).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tapvsBundle } from '../../src/lab/lab.js';
import { skipUnlessRoot, sleep, uniquePrefix } from '../helpers/lab.js';
import { controlRequest } from '../../src/control/socket.js';

const prefix = uniquePrefix('ss');
const ns = `${prefix}-ns`;
const dir = mkdtempSync(join(tmpdir(), 'tapvs-ss-'));
let child: ChildProcess | null = null;
let out = '';
let err = '';

const inNs = (...cmd: string[]) => spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });
const waitFor = async (what: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (what()) return true;
  return false;
};

test.before(() => {
  spawnSync('ip', ['netns', 'add', ns]);
  inNs('ip', 'link', 'add', `${prefix}a`, 'type', 'veth', 'peer', 'name', `${prefix}b`);
  const mac = inNs('cat', `/sys/class/net/${prefix}a/address`).stdout.trim();
  // The peer stays down: the NIC has no carrier, so tapvs waits for it at start.
  const config = {
    interfaces: [{ name: 'lan', tap: `${prefix}t`, nic: mac, addresses: ['10.77.0.1/24'] }],
    control: { socket: join(dir, 'tapvs.sock') },
  };
  writeFileSync(join(dir, 'tapvs.json'), JSON.stringify(config));
});

test.after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await sleep(100);
  }
  spawnSync('ip', ['netns', 'delete', ns]);
  rmSync(dir, { recursive: true, force: true });
});

test('SIGHUP and SIGUSR1 during start-up neither kill tapvs nor open the inspector', async () => {
  child = spawn('ip', ['netns', 'exec', ns, process.execPath, tapvsBundle(), 'run', '--config', join(dir, 'tapvs.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  assert.ok(await waitFor(() => out.includes('"msg":"interface up"'), 10_000), `tapvs did not start: ${out}${err}`);
  // Now it waits (up to 10 s) for the NIC's link.
  const pid = Number(inNs('pgrep', '-f', `tapvs.js run --config ${join(dir, 'tapvs.json')}`).stdout.trim().split('\n')[0]);
  for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGHUP', 'SIGUSR1'] as const) process.kill(pid, sig);
  assert.ok(await waitFor(() => out.includes('"msg":"ready"'), 20_000), `not ready: ${out}${err}`);
  await sleep(300);
  assert.is(child.exitCode, null, 'tapvs is alive');
  assert.match(out, /no link on .* carrying on without it/);
  const listening = inNs('ss', '-ltnH').stdout;
  console.log(`  listeners in the namespace after the signals: ${listening.trim() || 'none'}`);
  assert.not.match(listening, /:9229/);
  // Once ready, the signals do their jobs (signals queued during the wait may be served too).
  const seen = (msg: string) => out.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;
  const [counters, reloads] = [seen('counters'), seen('reloaded')];
  process.kill(pid, 'SIGUSR1');
  assert.ok(await waitFor(() => seen('counters') > counters, 5000));
  process.kill(pid, 'SIGHUP');
  assert.ok(await waitFor(() => seen('reloaded') > reloads, 5000), out);
  process.kill(pid, 'SIGTERM');
  assert.ok(await waitFor(() => child!.exitCode !== null, 5000));
  assert.is(child.exitCode, 0);
  assert.match(out, /"msg":"stopping"/);
});

test('a log reader that stops reading (a slow console) costs log lines, never the event loop', async () => {
  // stdout is a pipe nobody reads: 64 kB of pipe and 1 MiB of buffer, then lines are dropped.
  const quiet = spawn('ip', ['netns', 'exec', ns, process.execPath, tapvsBundle(), 'run', '--config', join(dir, 'tapvs.json')], { stdio: ['ignore', 'pipe', 'ignore'] });
  child = quiet;
  let head = '';
  const onData = (d: Buffer) => (head += d);
  quiet.stdout!.on('data', onData);
  assert.ok(await waitFor(() => head.includes('"msg":"ready"'), 20_000), head);
  quiet.stdout!.off('data', onData);
  quiet.stdout!.pause();
  const pid = Number(inNs('pgrep', '-f', `tapvs.js run --config ${join(dir, 'tapvs.json')}`).stdout.trim().split('\n')[0]);
  // Each SIGUSR1 logs every counter: about 3 kB a line, 3000 of them.
  // Spaced, or the kernel merges pending signals into one.
  for (let i = 0; i < 3000; i++) {
    process.kill(pid, 'SIGUSR1');
    await sleep(1);
  }
  await sleep(500);
  const started = Date.now();
  const c = (await controlRequest(join(dir, 'tapvs.sock'), 'counters', {}, 5000)) as { process: { logLinesDropped: number; rssBytes: number } };
  const took = Date.now() - started;
  console.log(`  3000 counter lines into an unread pipe: ${c.process.logLinesDropped} dropped, control answered in ${took} ms, RSS ${Math.round(c.process.rssBytes / 2 ** 20)} MiB`);
  assert.ok(c.process.logLinesDropped > 0, 'lines were dropped, not queued');
  assert.ok(took < 1000, `the control socket took ${took} ms`);
  assert.ok(c.process.rssBytes < 300 * 2 ** 20);
  quiet.kill('SIGKILL');
});

test('a handoff file of garbage, or a directory where it should be, costs its connections and never the start', async () => {
  inNs('ip', 'link', 'set', `${prefix}b`, 'up'); // link: no wait at start
  const handoff = join(dir, 'connections.handoff'); // next to the socket, by default
  for (const [what, plant, expect] of [
    ['garbage', () => writeFileSync(handoff, Buffer.from('\x00\x07\xff\xff not a sync message at all')), /connection handoff: file truncated; took what it held/],
    ['a directory', () => (rmSync(handoff, { force: true }), mkdirSync(handoff)), /connection handoff: cannot read the file; starting with an empty table/],
  ] as const) {
    plant();
    let log = '';
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, tapvsBundle(), 'run', '--config', join(dir, 'tapvs.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (d) => (log += d));
    const ready = await waitFor(() => log.includes('"msg":"ready"'), 15_000);
    c.kill('SIGKILL');
    await new Promise((r) => c.on('exit', r));
    console.log(`  a handoff file that is ${what}: ${ready ? 'started' : 'did not start'}`);
    assert.ok(ready, `${what}: ${log}`);
    assert.match(log, expect);
  }
  rmSync(handoff, { recursive: true, force: true });
});

if (!skipUnlessRoot('hostile/start-stop')) test.run();
