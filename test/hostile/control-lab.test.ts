// Hostile control-socket clients against a running tapvs while it forwards: a ping through it
// must not notice. Each attack's outcome (ping loss, memory, counters) is printed.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLab } from '../../src/lab/default.js';
import { controlSocket, switchNs, tapvsBundle, type LabState } from '../../src/lab/lab.js';
import { controlRequest } from '../../src/control/socket.js';
import { onHost, routerAlive, skipUnlessRoot, sleep, spawnOnHost, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('hostile control clients');
const prefix = uniquePrefix('hc');
const spec = defaultLab(prefix);
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
let state: LabState;
let admin: string;
let readOnly: string;

spec.routers[0].extra = { control: { socket: controlSocket(prefix, 'tapvs'), readOnly: { socket: `${controlSocket(prefix, 'tapvs')}.ro`, mode: '0666' }, maxClients: 8 } };

const counters = async () => (await controlRequest(admin, 'counters')) as { control: Record<string, number>; process: { rssBytes: number } };

/** A connection that writes `payload` and never reads what comes back. */
function deaf(payload: string | Buffer): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createConnection(admin);
    s.on('error', () => {});
    s.pause();
    s.on('connect', () => s.write(payload, () => resolve(s)));
  });
}

test.before(async () => {
  state = await startLab(spec);
  admin = controlSocket(prefix, 'tapvs');
  readOnly = `${admin}.ro`;
});
test.after(async () => {
  await stopLab(prefix);
});

test('a flood of hostile control clients does not disturb forwarding', async () => {
  const rssBefore = (await counters()).process.rssBytes;
  // 1500 pings at 100/s through tapvs, while the attacks run.
  const ping = spawnOnHost(prefix, 'client', ['ping', '-q', '-c', '1500', '-i', '0.01', '-W', '1', '10.2.0.2']);
  let pingOut = '';
  ping.stdout!.on('data', (d) => (pingOut += d));
  const pingDone = new Promise<void>((r) => ping.on('exit', () => r()));

  const held: Socket[] = [];
  // The request that used to kill tapvs: an id nested 6000 deep.
  const deep = await new Promise<string>((resolve) => {
    const s = createConnection(admin);
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out));
    s.write(`{"id":${'['.repeat(6000)}${']'.repeat(6000)},"op":"list"}\n`, () => setTimeout(() => s.end(), 300));
  });
  assert.match(deep, /'id' must be a number or a string/);
  // Oversized lines, one byte at a time, and clients that ask for much and read nothing.
  held.push(await deaf(Buffer.alloc((1 << 20) + 100, 0x5b)));
  held.push(await deaf(`${'{"op":"list"}\n'.repeat(3000)}`));
  held.push(await deaf('{"id":1,"op":"trace"}\n')); // a paused `tapvs trace | less`
  const drip = createConnection(admin);
  drip.on('error', () => {});
  const dripper = setInterval(() => drip.write('['), 5);
  // More clients than the cap: the rest are told to come back later.
  for (let i = 0; i < 12; i++) held.push(await deaf(''));
  // A ping flood through the paused trace: its events must be dropped, not queued.
  onHost(prefix, 'client', ['ping', '-q', '-f', '-c', '5000', '-W', '1', '10.2.0.2'], 60_000);
  await pingDone;
  clearInterval(dripper);
  drip.destroy();
  for (const s of held) s.destroy();
  await sleep(300);

  assert.ok(routerAlive(state, 'tapvs'), 'tapvs survived');
  const loss = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(pingOut)?.[1] ?? 100);
  const c = await counters();
  const grew = (c.process.rssBytes - rssBefore) / 2 ** 20;
  console.log(`  ping through tapvs during the attacks: ${loss}% loss; RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(c.process.rssBytes / 2 ** 20).toFixed(1)} MiB; clients refused ${c.control.clients_refused}, trace events dropped ${c.control.stream_events_dropped}`);
  assert.ok(loss < 1, `ping lost ${loss}%`);
  assert.ok(c.control.clients_refused > 0, 'clients beyond the cap were refused');
  assert.ok(c.control.stream_events_dropped > 0, 'the paused watcher lost events instead of queueing them');
  assert.ok(grew < 64, `RSS grew ${grew.toFixed(1)} MiB`);
});

test('the read-only socket lists and refuses changes; the admin socket is 0600', () => {
  const adm = (socket: string, args: string[]) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: socket }, timeout: 20_000 });
  const list = adm(readOnly, ['-L', '-n']);
  assert.is(list.status, 0, list.stderr);
  assert.match(list.stdout, /IP Virtual Server version/);
  const add = adm(readOnly, ['-A', '-t', '10.1.0.1:80', '-s', 'rr']);
  assert.is(add.status, 1);
  assert.match(add.stderr, /operation 'add-service' needs the admin socket: this one is read-only/);
  const mode = spawnSync('stat', ['-c', '%a', admin, readOnly], { encoding: 'utf8' }).stdout.split('\n');
  assert.equal(mode.slice(0, 2), ['600', '666']);
});

test('a second tapvs on the same socket refuses to start and leaves the first alone', () => {
  const r = spawnSync('ip', ['netns', 'exec', switchNs(prefix), process.execPath, tapvsBundle(), 'run', '--config', state.routers[0].config], { encoding: 'utf8', timeout: 20_000 });
  assert.is(r.status, 1);
  assert.match(r.stderr, /another tapvs answers on .*tapvs\.sock: refusing to start a second one/);
  assert.ok(routerAlive(state, 'tapvs'));
  assert.is(onHost(prefix, 'client', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.2.0.2']).status, 0);
});

if (!skipUnlessRoot('hostile/control-lab')) test.run();

