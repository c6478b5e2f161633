// Health checks against real HTTP servers: a server whose HTTP dies is inhibited after `fall`
// failed checks, traffic goes to the others, and, the keepalived complaint, it comes back
// when healthy again.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket, type LabState } from '../../src/lab/lab.js';
import { onHost, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('health checks');
const prefix = uniquePrefix('hc');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
let state: LabState;
let revived: ReturnType<typeof spawnOnHost> | null = null;

const listing = () => spawnSync(process.execPath, [TAPVSADM, '-Ln'], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } }).stdout;
const curlNames = (n: number) => Array.from({ length: n }, () => onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]).stdout.trim());

async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}\n${listing()}`);
    await sleep(200);
  }
}

test.before(async () => {
  state = await startLab(directorLab(prefix, 'dr', { healthCheck: { type: 'http', path: '/', expectStatus: 200, interval: 1, timeout: 1, rise: 2, fall: 2 } }));
});
test.after(async () => {
  if (revived) await stopChild(revived);
  await stopLab(prefix);
});

test('both servers healthy: both in service', async () => {
  await sleep(1500);
  assert.match(listing(), /192\.168\.1\.11:80 +Route +1 /);
  assert.equal(new Set(curlNames(4)), new Set(['rs1', 'rs2']));
});

test("rs1's HTTP server dies: inhibited (weight 0) after two failed checks, traffic goes to rs2", async () => {
  const http = state.daemons!.find((d) => d.host === 'rs1' && d.name === 'http')!;
  process.kill(http.pid, 'SIGTERM');
  await until('rs1 inhibited', () => /192\.168\.1\.11:80 +Route +0 /.test(listing()));
  assert.equal(new Set(curlNames(4)), new Set(['rs2']));
  assert.match(readLog(), /real server failed 2 checks: inhibited \(weight 0\)/);
});

test('rs1 healthy again: back with its weight, and taking traffic', async () => {
  revived = spawnOnHost(prefix, 'rs1', ['python3', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', `/tmp/${prefix}-rs1-www`]);
  await until('rs1 back', () => /192\.168\.1\.11:80 +Route +1 /.test(listing()));
  assert.equal(new Set(curlNames(4)), new Set(['rs1', 'rs2']));
  assert.match(readLog(), /real server healthy again: back in service/);
});

function readLog(): string {
  return spawnSync('cat', [state.routers[0].log], { encoding: 'utf8' }).stdout;
}

if (!skipUnlessRoot('health.test.ts')) test.run();
